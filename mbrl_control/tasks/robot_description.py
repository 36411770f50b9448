"""A task's robot description: the URDF it names, read as found in the wild and made loadable.

:func:`load_robot_description` (for a task file with ``robot.urdf``) and :func:`load_urdf` (for
a path) return a :class:`RobotDescription`:

- ``.xacro`` files are expanded with the ``xacro`` package (``robot.xacro_args``), ``$(find
  pkg)`` resolved without ROS (:mod:`mbrl_control.tasks.urdf_resolve`);
- mesh and texture file names are made absolute: ``package://`` URIs resolved where possible,
  paths relative to the URDF's directory; a ``<visual>``/``<collision>`` whose mesh file is
  missing or whose package cannot be found is removed (one warning line naming the file), so
  PyBullet loads the rest;
- the kinematic tree is checked (:mod:`mbrl_control.tasks.urdf_model`): ``effort="0"`` /
  ``velocity="0"`` mean "not given"; continuous and mimic joints are parsed;
- moving links whose inertials a simulator cannot use (no inertial, mass <= 0, inertia not
  positive definite or breaking the triangle inequality) get a **warning** naming the link,
  not an error: the same description also serves forward kinematics, limits and init-task for
  a real robot, where inertias play no part, and published URDFs often carry such links; the
  simulator decides what it refuses.

Warnings are kept in ``RobotDescription.warnings`` and logged once per load (logger
``mbrl_control.tasks.robot_description``). Loads are cached per (path, mtime, xacro args,
package search path): the returned object is shared, do not mutate its ``model``.
"""

from __future__ import annotations

import functools
import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbrl_control.tasks.schema import TaskFileError
from mbrl_control.tasks.urdf_model import UrdfError, UrdfTree, inertia_warnings, parse_urdf_tree
from mbrl_control.tasks.urdf_resolve import LOOKED_IN, XacroError, expand_xacro, resolve_uri

if TYPE_CHECKING:
    import yourdfpy

log = logging.getLogger(__name__)
XACRO_SUFFIX = ".xacro"


@dataclass(frozen=True, eq=False)
class RobotDescription:
    """A robot description made loadable; see the module doc."""

    source: Path
    """The file ``robot.urdf`` named (resolved: absolute, package:// looked up)."""
    urdf_text: str
    """Xacro expanded; mesh file names absolute; elements with missing meshes removed."""
    warnings: tuple[str, ...]
    """One line each: missing/unresolvable meshes, unusable inertials, odd limits."""
    tree: UrdfTree
    """The checked kinematic tree (joints with normalised limits, mimic, links' inertials)."""

    @cached_property
    def model(self) -> yourdfpy.URDF:
        """The description parsed by yourdfpy without meshes or scene graph (joints: type,
        limits (``effort``/``velocity`` of 0 set to None), mimic, dynamics; links: inertials).
        Imported and parsed on first use (yourdfpy takes ~2 s to import)."""
        import io

        import yourdfpy

        model = yourdfpy.URDF.load(
            io.BytesIO(self.urdf_text.encode()),
            load_meshes=False,
            load_collision_meshes=False,
            build_scene_graph=False,
            build_collision_scene_graph=False,
        )
        for joint in model.robot.joints:
            if joint.limit is not None:
                if joint.limit.effort is not None and not joint.limit.effort > 0:
                    joint.limit.effort = None
                if joint.limit.velocity is not None and not joint.limit.velocity > 0:
                    joint.limit.velocity = None
        return model

    @property
    def stem(self) -> str:
        """The source file name without ``.xacro`` and ``.urdf``."""
        name = self.source.name
        for suffix in (XACRO_SUFFIX, ".urdf"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        return name or "robot"

    def write(self, directory: str | Path) -> Path:
        """Write :attr:`urdf_text` to ``directory/<stem>.urdf`` (atomically; the directory is
        created) and return that path: a file PyBullet's ``loadURDF`` reads from anywhere
        (mesh names are absolute)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        out = d / f"{self.stem}.urdf"
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        tmp.write_text(self.urdf_text)
        os.replace(tmp, out)
        return out


def load_robot_description(task: Any) -> RobotDescription:
    """The robot description of ``task`` (a :class:`~mbrl_control.tasks.task_file.FileTask`
    with ``robot.urdf`` set; ``robot.xacro_args`` for a ``.xacro`` file).

    Raises ``FileNotFoundError`` (robot.urdf unset or missing, one line) or
    :class:`TaskFileError` (a bad URDF/xacro, one line naming the file).
    """
    return load_urdf(task.urdf_path, getattr(task, "xacro_args", None) or {})


def load_urdf(path: str | Path, xacro_args: Mapping[str, Any] | None = None) -> RobotDescription:
    """The :class:`RobotDescription` of a URDF (or ``.xacro``) file; errors as
    :func:`load_robot_description`."""
    p = Path(path).resolve()
    if not p.is_file():
        raise FileNotFoundError(f"robot description not found: {p}")
    args = tuple(sorted((str(k), str(v)) for k, v in (xacro_args or {}).items()))
    env = tuple(os.environ.get(k, "") for k in ("ROS_PACKAGE_PATH", "AMENT_PREFIX_PATH"))
    return _load_cached(str(p), p.stat().st_mtime_ns, args, env)


@functools.lru_cache(maxsize=32)
def _load_cached(
    path: str, mtime_ns: int, args: tuple[tuple[str, str], ...], env: tuple[str, ...]
) -> RobotDescription:
    desc = _load(Path(path), dict(args))
    for line in desc.warnings:
        log.warning(line)
    return desc


def _load(path: Path, args: dict[str, str]) -> RobotDescription:
    if path.name.endswith(XACRO_SUFFIX):
        try:
            text = expand_xacro(path, args)
        except XacroError as e:
            raise TaskFileError(str(e)) from None
    elif args:
        raise TaskFileError(
            f"{path}: robot.xacro_args given but the description is not a .xacro file"
        )
    else:
        text = path.read_text()
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise TaskFileError(f"{path}: not valid XML: {e}") from None
    for el in root.iter():  # a default namespace (<robot xmlns="...">) is no part of URDF
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = el.tag.split("}", 1)[1]
    warnings: list[str] = []
    _fix_files(root, path, warnings)
    try:
        tree = parse_urdf_tree(root)
    except UrdfError as e:
        raise TaskFileError(f"{path}: {e}") from None
    warnings += [f"{path}: {w}" for w in (*tree.warnings, *inertia_warnings(tree))]
    urdf_text = '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode")
    return RobotDescription(path, urdf_text, tuple(warnings), tree)


def _fix_files(root: ET.Element, path: Path, warnings: list[str]) -> None:
    """Make mesh/texture file names absolute; drop elements whose file is missing."""
    base = path.parent

    def resolved(uri: str | None, what: str) -> str | None:
        if not uri:
            warnings.append(f"{path}: {what} has no filename; loading without it")
            return None
        target = resolve_uri(uri, base, near=path)
        if target is None:
            pkg = uri[len("package://") :].split("/", 1)[0]
            warnings.append(
                f"{path}: {what} {uri!r}: cannot resolve package {pkg!r} (looked in "
                f"{LOOKED_IN}); loading without it"
            )
            return None
        if not target.is_file():
            warnings.append(f"{path}: {what} {uri!r}: no such file {target}; loading without it")
            return None
        return str(target)

    for link in root.findall("link"):
        for kind in ("visual", "collision"):
            for el in list(link.findall(kind)):
                what = f"link {link.get('name')!r} {kind} mesh"
                mesh = el.find("geometry/mesh")
                if mesh is not None:
                    name = resolved(mesh.get("filename"), what)
                    if name is None:
                        link.remove(el)
                        continue
                    mesh.set("filename", name)
                for mat in el.findall("material"):
                    _fix_textures(mat, resolved, f"link {link.get('name')!r} {kind} texture")
    for mat in root.findall("material"):
        _fix_textures(mat, resolved, f"material {mat.get('name')!r} texture")


def _fix_textures(material: ET.Element, resolved: Any, what: str) -> None:
    for tex in list(material.findall("texture")):
        name = resolved(tex.get("filename"), what)
        if name is None:
            material.remove(tex)
        else:
            tex.set("filename", name)
