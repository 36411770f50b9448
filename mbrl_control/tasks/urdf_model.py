"""A light, checked reading of a URDF's kinematic tree: joints, links, limits, mimic, inertials.

:func:`parse_urdf_tree` reads the URDF XML (standard library only; numpy for the transforms) into
a :class:`UrdfTree` that the task file (limits as defaults), the forward kinematics and
``init-task`` use. Normalisations (the description as found in the wild):

- ``effort="0"`` / ``velocity="0"`` (common placeholders) mean "not given" (None);
- a revolute/prismatic ``<limit>`` without ``lower``/``upper``, or with ``lower >= upper``,
  has no range (None; the latter warns);
- ``continuous`` joints never have a range; ``planar``/``floating`` joints are kept but are
  not movable joints of a task (:attr:`UrdfTree.movable`).

Structural faults (no ``<robot>``, a joint without parent/child, a link named twice, a joint
whose link does not exist, a link with two parents, a cycle, several roots, a mimic of an
unknown joint) raise :class:`UrdfError`, one line naming the element.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

MOVABLE = ("revolute", "continuous", "prismatic")
JOINT_TYPES = (*MOVABLE, "fixed", "floating", "planar")


class UrdfError(ValueError):
    """A URDF that does not describe a kinematic tree (one line naming the element)."""


@dataclass(frozen=True)
class Mimic:
    joint: str
    multiplier: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class UrdfJoint:
    name: str
    type: str
    """One of :data:`JOINT_TYPES`."""
    parent: str
    child: str
    origin: np.ndarray
    """(4, 4) parent-link frame -> joint frame at q = 0."""
    axis: np.ndarray
    """(3,) unit axis in the joint frame."""
    lower: float | None = None
    upper: float | None = None
    effort: float | None = None
    """N or N·m; None when not given (absent or 0)."""
    velocity: float | None = None
    """m/s or rad/s; None when not given (absent or 0)."""
    mimic: Mimic | None = None
    damping: float | None = None
    friction: float | None = None

    @property
    def movable(self) -> bool:
        return self.type in MOVABLE

    @property
    def has_range(self) -> bool:
        return self.lower is not None and self.upper is not None


@dataclass(frozen=True)
class UrdfLink:
    name: str
    mass: float | None = None
    """kg; None without ``<inertial>``."""
    inertia: np.ndarray | None = None
    """(3, 3) about the centre of mass; None without ``<inertia>``."""


@dataclass(frozen=True)
class UrdfTree:
    name: str
    links: dict[str, UrdfLink]
    joints: dict[str, UrdfJoint]
    """In file order."""
    root: str
    parent_joint: dict[str, str] = field(default_factory=dict)
    """child link -> the joint whose child it is."""
    warnings: tuple[str, ...] = ()

    @property
    def movable(self) -> tuple[str, ...]:
        """Names of the revolute/continuous/prismatic joints, mimic joints included, in file
        order."""
        return tuple(n for n, j in self.joints.items() if j.movable)

    @property
    def independent(self) -> tuple[str, ...]:
        """Movable joints that are not mimic joints (the ones a task can read or command)."""
        return tuple(n for n in self.movable if self.joints[n].mimic is None)

    def chain(self, link: str) -> list[UrdfJoint]:
        """The joints from the root link to ``link``, root first; ``UrdfError`` naming the
        links when ``link`` is unknown."""
        if link not in self.links:
            raise UrdfError(f"no link {link!r}; links: {sorted(self.links)}")
        out: list[UrdfJoint] = []
        while link in self.parent_joint:
            j = self.joints[self.parent_joint[link]]
            out.append(j)
            link = j.parent
        return out[::-1]

    def depth(self, link: str) -> int:
        """Number of movable joints between the root and ``link``."""
        return sum(j.movable for j in self.chain(link))


def rpy_matrix(rpy: tuple[float, float, float] | np.ndarray) -> np.ndarray:
    """(3, 3) rotation of URDF ``rpy`` (fixed axes X, Y, Z: ``Rz(y) @ Ry(p) @ Rx(r)``)."""
    r, p, y = (float(v) for v in rpy)
    cr, sr, cp, sp, cy, sy = (
        math.cos(r),
        math.sin(r),
        math.cos(p),
        math.sin(p),
        math.cos(y),
        math.sin(y),
    )
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def pose_matrix(
    xyz: tuple[float, ...] | np.ndarray, rpy: tuple[float, ...] | np.ndarray
) -> np.ndarray:
    """(4, 4) homogeneous transform of a translation ``xyz`` and URDF ``rpy``."""
    t = np.eye(4)
    t[:3, :3] = rpy_matrix(rpy)
    t[:3, 3] = np.asarray(xyz, dtype=np.float64)
    return t


def _floats(text: str | None, n: int, where: str, default: tuple[float, ...]) -> np.ndarray:
    if text is None:
        return np.array(default, dtype=np.float64)
    try:
        vals = [float(v) for v in text.split()]
    except ValueError:
        raise UrdfError(f"{where}={text!r}: expected {n} numbers") from None
    if len(vals) != n or not all(math.isfinite(v) for v in vals):
        raise UrdfError(f"{where}={text!r}: expected {n} finite numbers")
    return np.array(vals, dtype=np.float64)


def _float(el: ET.Element | None, attr: str, where: str) -> float | None:
    if el is None or el.get(attr) is None:
        return None
    text = el.get(attr)
    try:
        return float(text)  # type: ignore[arg-type]
    except ValueError:
        raise UrdfError(f"{where}.{attr}={text!r}: expected a number") from None


def _origin(el: ET.Element | None, where: str) -> np.ndarray:
    if el is None:
        return np.eye(4)
    xyz = _floats(el.get("xyz"), 3, f"{where} origin xyz", (0.0, 0.0, 0.0))
    rpy = _floats(el.get("rpy"), 3, f"{where} origin rpy", (0.0, 0.0, 0.0))
    return pose_matrix(xyz, rpy)


def _positive(x: float | None) -> float | None:
    """A limit of 0 (or less) is a placeholder: not given."""
    return x if x is not None and x > 0 else None


def _joint(el: ET.Element, warnings: list[str]) -> UrdfJoint:
    name = el.get("name")
    if not name:
        raise UrdfError("a <joint> without a name")
    w = f"joint {name!r}"
    kind = el.get("type")
    if kind not in JOINT_TYPES:
        raise UrdfError(f"{w}: type={kind!r}; allowed: {list(JOINT_TYPES)}")
    parent, child = el.find("parent"), el.find("child")
    if parent is None or child is None or not parent.get("link") or not child.get("link"):
        raise UrdfError(f"{w}: needs <parent link=...> and <child link=...>")
    axis = _floats(
        None if el.find("axis") is None else el.find("axis").get("xyz"),  # type: ignore[union-attr]
        3,
        f"{w} axis xyz",
        (1.0, 0.0, 0.0),
    )
    if kind in MOVABLE:
        norm = float(np.linalg.norm(axis))
        if norm < 1e-9:
            raise UrdfError(f"{w}: axis xyz is zero")
        axis = axis / norm
    lim = el.find("limit")
    lower, upper = _float(lim, "lower", w), _float(lim, "upper", w)
    if kind != "revolute" and kind != "prismatic":
        lower = upper = None
    elif lower is not None and upper is not None and not lower < upper:
        warnings.append(
            f"joint {name!r}: limit lower={lower} >= upper={upper}; treated as no range"
        )
        lower = upper = None
    elif (lower is None) != (upper is None):
        lower = upper = None
    mimic = None
    m = el.find("mimic")
    if m is not None:
        if not m.get("joint"):
            raise UrdfError(f"{w}: <mimic> without joint=")
        mult, off = _float(m, "multiplier", f"{w} mimic"), _float(m, "offset", f"{w} mimic")
        mimic = Mimic(
            m.get("joint"),  # type: ignore[arg-type]
            1.0 if mult is None else mult,
            0.0 if off is None else off,
        )
    dyn = el.find("dynamics")
    return UrdfJoint(
        name=name,
        type=kind,
        parent=parent.get("link"),  # type: ignore[arg-type]
        child=child.get("link"),  # type: ignore[arg-type]
        origin=_origin(el.find("origin"), w),
        axis=axis,
        lower=lower,
        upper=upper,
        effort=_positive(_float(lim, "effort", w)),
        velocity=_positive(_float(lim, "velocity", w)),
        mimic=mimic,
        damping=_float(dyn, "damping", w),
        friction=_float(dyn, "friction", w),
    )


def _link(el: ET.Element) -> UrdfLink:
    name = el.get("name")
    if not name:
        raise UrdfError("a <link> without a name")
    inertial = el.find("inertial")
    if inertial is None:
        return UrdfLink(name)
    w = f"link {name!r} inertial"
    mass = _float(inertial.find("mass"), "value", f"{w} mass")
    ie = inertial.find("inertia")
    inertia = None
    if ie is not None:
        v = {
            k: _float(ie, k, f"{w} inertia") or 0.0
            for k in ("ixx", "ixy", "ixz", "iyy", "iyz", "izz")
        }
        inertia = np.array(
            [
                [v["ixx"], v["ixy"], v["ixz"]],
                [v["ixy"], v["iyy"], v["iyz"]],
                [v["ixz"], v["iyz"], v["izz"]],
            ]
        )
    return UrdfLink(name, mass, inertia)


def parse_urdf_tree(root: ET.Element) -> UrdfTree:
    """The :class:`UrdfTree` of a parsed ``<robot>`` element; see the module doc."""
    if root.tag != "robot":
        raise UrdfError(f"the root element is <{root.tag}>, expected <robot>")
    warnings: list[str] = []
    links: dict[str, UrdfLink] = {}
    for el in root.findall("link"):
        link = _link(el)
        if link.name in links:
            raise UrdfError(f"link {link.name!r} is defined twice")
        links[link.name] = link
    if not links:
        raise UrdfError("no <link> elements")
    joints: dict[str, UrdfJoint] = {}
    parent_joint: dict[str, str] = {}
    for el in root.findall("joint"):
        j = _joint(el, warnings)
        if j.name in joints:
            raise UrdfError(f"joint {j.name!r} is defined twice")
        for role, link in (("parent", j.parent), ("child", j.child)):
            if link not in links:
                raise UrdfError(f"joint {j.name!r}: {role} link {link!r} is not defined")
        if j.child in parent_joint:
            raise UrdfError(
                f"link {j.child!r} is the child of two joints: {parent_joint[j.child]!r} and "
                f"{j.name!r}"
            )
        joints[j.name] = j
        parent_joint[j.child] = j.name
    for j in joints.values():
        if j.mimic is not None:
            src = joints.get(j.mimic.joint)
            if src is None or not src.movable:
                raise UrdfError(
                    f"joint {j.name!r}: mimic joint {j.mimic.joint!r} is not a movable joint"
                )
            if src.mimic is not None:
                raise UrdfError(
                    f"joint {j.name!r}: mimics {src.name!r}, which is itself a mimic joint"
                )
    roots = [n for n in links if n not in parent_joint]
    if len(roots) != 1:
        raise UrdfError(
            f"expected one root link (a link that is no joint's child), found {len(roots)}: "
            f"{roots[:5]}"
        )
    # every link reaches the root (no cycles)
    for link in links:
        seen = {link}
        while link in parent_joint:
            link = joints[parent_joint[link]].parent
            if link in seen:
                raise UrdfError(f"the joints form a cycle through link {link!r}")
            seen.add(link)
    return UrdfTree(
        name=root.get("name", ""),
        links=links,
        joints=joints,
        root=roots[0],
        parent_joint=parent_joint,
        warnings=tuple(warnings),
    )


def inertia_warnings(tree: UrdfTree) -> list[str]:
    """One line per moving link (the child of a movable joint) whose inertial the simulator
    cannot use: missing, mass <= 0, inertia not positive definite or violating the triangle
    inequality of principal moments."""
    out = []
    for jname, j in tree.joints.items():
        if not j.movable:
            continue
        link = tree.links[j.child]
        w = f"link {link.name!r} (moved by joint {jname!r})"
        if link.mass is None:
            out.append(f"{w} has no <inertial> mass")
            continue
        if not link.mass > 0:
            out.append(f"{w} has mass {link.mass} <= 0")
        if link.inertia is None:
            out.append(f"{w} has no <inertia>")
            continue
        moments = np.linalg.eigvalsh(link.inertia)
        scale = max(float(np.abs(moments).max()), 1e-300)
        if moments.min() <= 1e-12 * scale:
            out.append(
                f"{w}: inertia is not positive definite (principal moments "
                f"{np.round(moments, 9).tolist()})"
            )
        elif moments[0] + moments[1] < moments[2] * (1 - 1e-6):
            out.append(
                f"{w}: inertia violates the triangle inequality (principal moments "
                f"{np.round(moments, 9).tolist()}: the two smaller must sum to at least the "
                "largest)"
            )
    return out
