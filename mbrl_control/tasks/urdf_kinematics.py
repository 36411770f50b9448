"""Forward kinematics from the URDF: a point fixed to a link, in numpy and in torch.

A task file's ``points.<name>: {link: <urdf link>, offset: [x, y, z]}`` is a point at
``offset`` (m, in the link's frame) on ``link``. Its kinematic chain runs from the URDF's root
link to ``link``: fixed joints are constant transforms (merged into the next step), mimic
joints follow their parent (``q = multiplier * q_parent + offset``), every other movable joint
on the chain must be one the task reads (refused otherwise, naming it). ``robot.base_pose``
places the root link: the point is in the task frame (the robot base frame when the pose is
zero), like PyBullet's world frame with the robot loaded at that pose.

:meth:`UrdfChain.numpy_frames` / :meth:`UrdfChain.torch_frames` are the one forward-kinematics
loop: per step the joint's axis and origin in the task frame (what a chain Jacobian needs,
:mod:`mbrl_control.tasks.urdf_dynamics`), then the link frame; the point is read off that frame.

:class:`UrdfChain` is the chain as plain numbers (:meth:`UrdfChain.to_data` /
:meth:`UrdfChain.from_data`), written into the task's definition at load (``points.<name>
.chain``) so an exported planner file rebuilds the point without the URDF.

Torch form: only sin/cos, elementwise products and sums (no batched 3x3 MatMul: see
:func:`mat_vec`) and other elementwise ops on tensors of any leading shape
(``atan2`` for a mimic joint whose parent is observed only as cos/sin), so it exports to ONNX
inside the planner graph. A revolute step rotates by Rodrigues' formula with a constant axis k:
``R(q) = k kᵀ + cos q (I - k kᵀ) + sin q [k]ₓ``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mbrl_control.tasks import schema as s
from mbrl_control.tasks.schema import TaskFileError
from mbrl_control.tasks.urdf_model import UrdfTree, pose_matrix

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ChainStep:
    """Constant transform ``origin`` (4, 4), then the motion of one joint: rotation about
    (``revolute``) or translation along (``prismatic``) the unit ``axis`` (3,) by
    ``multiplier * q[joint] + offset`` (a mimic joint; 1 and 0 otherwise)."""

    origin: np.ndarray
    motion: str
    axis: np.ndarray
    joint: str
    """The task joint whose position drives this step."""
    urdf_joint: str
    multiplier: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class UrdfChain:
    """Root link -> link: ``steps`` then the constant ``tail`` (4, 4) and the point ``offset``
    (3,) in the link frame."""

    link: str
    steps: tuple[ChainStep, ...]
    tail: np.ndarray
    offset: np.ndarray

    @property
    def joints(self) -> tuple[str, ...]:
        """The task joints the point depends on, distinct, in chain order."""
        return tuple(dict.fromkeys(st.joint for st in self.steps))

    # ---- serialisation (the definition carries it) ---------------------------------------
    def to_data(self) -> list[dict[str, Any]]:
        """The chain as JSON-safe data: one mapping per step, then ``{tail}``."""
        out: list[dict[str, Any]] = [
            {
                "origin": _rows(st.origin),
                "motion": st.motion,
                "axis": [float(v) for v in st.axis],
                "joint": st.joint,
                "urdf_joint": st.urdf_joint,
                "multiplier": st.multiplier,
                "offset": st.offset,
            }
            for st in self.steps
        ]
        out.append({"tail": _rows(self.tail)})
        return out

    @staticmethod
    def from_data(
        value: Any, link: str, offset: Sequence[float], where: str, joints: Sequence[str]
    ) -> UrdfChain:
        """Inverse of :meth:`to_data`; raises :class:`TaskFileError` naming ``where``."""
        items = s.seq(value, where)
        if not items:
            raise TaskFileError(f"{where}: empty chain")
        steps = []
        for i, e in enumerate(items[:-1]):
            w = f"{where}[{i}]"
            m = s.keys(
                e, w, ("origin", "motion", "axis", "joint", "urdf_joint", "multiplier", "offset")
            )
            steps.append(
                ChainStep(
                    origin=_matrix(m["origin"], f"{w}.origin"),
                    motion=s.choice(m["motion"], f"{w}.motion", ("revolute", "prismatic")),
                    axis=np.asarray(s.numbers(m["axis"], f"{w}.axis", 3)),
                    joint=s.choice(m["joint"], f"{w}.joint", list(joints)),
                    urdf_joint=s.string(m["urdf_joint"], f"{w}.urdf_joint"),
                    multiplier=s.number(m["multiplier"], f"{w}.multiplier"),
                    offset=s.number(m["offset"], f"{w}.offset"),
                )
            )
        tail = s.keys(items[-1], f"{where}[{len(items) - 1}]", ("tail",))
        return UrdfChain(
            link,
            tuple(steps),
            _matrix(tail["tail"], f"{where}[{len(items) - 1}].tail"),
            np.asarray(offset, dtype=np.float64),
        )

    # ---- forward kinematics --------------------------------------------------------------
    def numpy_frames(
        self, q: Mapping[str, float], base: np.ndarray | None = None
    ) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
        """Per step the joint's axis (3,) and origin (3,) in the frame ``base`` (4, 4) places
        the root link in (identity when None), then the link frame (4, 4) (``tail`` applied),
        for task joint positions ``q`` (name -> m or rad); float64."""
        t = np.eye(4) if base is None else np.asarray(base, dtype=np.float64)
        joints = []
        for st in self.steps:
            t = t @ st.origin
            joints.append((t[:3, :3] @ st.axis, t[:3, 3].copy()))
            x = st.multiplier * float(q[st.joint]) + st.offset
            m = np.eye(4)
            if st.motion == "revolute":
                m[:3, :3] = _rodrigues(st.axis, np.cos(x), np.sin(x))
            else:
                m[:3, 3] = st.axis * x
            t = t @ m
        return joints, t @ self.tail

    def numpy_point(self, q: Mapping[str, float], base: np.ndarray | None = None) -> np.ndarray:
        """The point (3,) float64 for task joint positions ``q`` (name -> m or rad), in the
        frame ``base`` (4, 4) places the root link in (identity when None)."""
        t = self.numpy_frames(q, base)[1]
        return t[:3, :3] @ self.offset + t[:3, 3]

    def torch_frames(
        self, joints: Mapping[str, Any], base: np.ndarray | None = None
    ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor, torch.Tensor]:
        """Torch form of :meth:`numpy_frames` for per-joint tensors ``joints[name]`` with
        ``.pos`` (raw position, when observed), ``.cos``/``.sin`` (angular joints) and
        ``.angle`` (see :class:`~mbrl_control.tasks.layout.Features`); each ``(...)``.

        Returns per step the joint's axis and origin (``(3,)`` constants while no joint before
        it moved, else ``(..., 3)``), then the link frame's rotation ``(..., 3, 3)`` and
        position ``(..., 3)`` (``tail`` applied). Raises ``ValueError`` for a chain without a
        movable joint."""
        import torch

        t0 = np.eye(4) if base is None else np.asarray(base, dtype=np.float64)
        rot: Any = None  # (..., 3, 3) once a joint moved; before that the constant in `r0`
        pos: Any = None  # (..., 3)
        r0, p0 = t0[:3, :3], t0[:3, 3]
        dtype = torch.float32  # the joints' dtype, from the first joint tensor
        frames: list[tuple[torch.Tensor, torch.Tensor]] = []

        def const(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype)

        for st in self.steps:
            # constant origin: p += R o_p; R = R o_R
            if rot is None:
                p0 = p0 + r0 @ st.origin[:3, 3]
                r0 = r0 @ st.origin[:3, :3]
            else:
                pos = pos + mat_vec(rot, const(st.origin[:3, 3]))
                rot = mat_mat(rot, const(st.origin[:3, :3]))
            j = joints[st.joint]
            if st.motion == "revolute":
                c, sn = _cos_sin(j, st.multiplier, st.offset)
                dtype = c.dtype
            else:
                x = _linear(j, st.multiplier, st.offset)  # (...)
                dtype = x.dtype
            if rot is None:
                frames.append((const(r0 @ st.axis), const(p0)))
            else:
                frames.append((mat_vec(rot, const(st.axis)), pos))
            if st.motion == "revolute":
                k = st.axis
                kk = np.outer(k, k)
                cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
                m = (
                    const(kk)
                    + c[..., None, None] * const(np.eye(3) - kk)
                    + sn[..., None, None] * const(cross)
                )  # (..., 3, 3)
                if rot is None:
                    rot = mat_mat(const(r0), m)
                    pos = const(p0).expand(*m.shape[:-2], 3)
                else:
                    rot = mat_mat(rot, m)
            else:
                step = x[..., None] * const(st.axis)  # (..., 3)
                if rot is None:
                    pos = const(p0) + mat_vec(const(r0), step)
                    rot = const(r0).expand(*x.shape, 3, 3)
                else:
                    pos = pos + mat_vec(rot, step)
        if rot is None:  # no movable joint on the chain
            raise ValueError(f"link {self.link!r}: the chain has no movable joint")
        pos = pos + mat_vec(rot, const(self.tail[:3, 3]))
        return frames, mat_mat(rot, const(self.tail[:3, :3])), pos

    def torch_point(
        self, joints: Mapping[str, Any], base: np.ndarray | None = None
    ) -> torch.Tensor:
        """The points ``(..., 3)`` for per-joint tensors ``joints[name]`` (as
        :meth:`torch_frames`)."""
        import torch

        _, rot, pos = self.torch_frames(joints, base)
        return pos + mat_vec(rot, torch.as_tensor(self.offset, dtype=pos.dtype))


def mat_vec(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``m @ v`` for 3x3 matrices ``(..., 3, 3)`` and vectors ``(..., 3)`` (broadcast), as the
    sum of three column-times-entry products: exported to ONNX as elementwise Mul + Add over
    the whole batch, where a batched MatMul of thousands of 3x3 blocks runs one tiny GEMM per
    block and a ReduceSum over an inner axis strides badly (both measured several times slower
    in onnxruntime on the acrobot's planner)."""
    return m[..., :, 0] * v[..., 0:1] + m[..., :, 1] * v[..., 1:2] + m[..., :, 2] * v[..., 2:3]


def mat_mat(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for 3x3 matrices ``(..., 3, 3)`` (broadcast); see :func:`mat_vec`."""
    return (
        a[..., :, 0:1] * b[..., 0:1, :]
        + a[..., :, 1:2] * b[..., 1:2, :]
        + a[..., :, 2:3] * b[..., 2:3, :]
    )


def _rows(t: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(t)[:3, :].reshape(-1)]


def _matrix(value: Any, where: str) -> np.ndarray:
    t = np.eye(4)
    t[:3, :] = np.asarray(s.numbers(value, where, 12)).reshape(3, 4)
    return t


def _rodrigues(k: np.ndarray, c: float, sn: float) -> np.ndarray:
    kk = np.outer(k, k)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return kk + c * (np.eye(3) - kk) + sn * cross


def _angle(j: Any) -> torch.Tensor:
    return j.angle


def _cos_sin(j: Any, multiplier: float, offset: float) -> tuple[Any, Any]:
    if multiplier == 1.0 and offset == 0.0:
        return j.cos, j.sin
    x = multiplier * _angle(j) + offset
    return x.cos(), x.sin()


def _linear(j: Any, multiplier: float, offset: float) -> torch.Tensor:
    x = _angle(j)
    return x if multiplier == 1.0 and offset == 0.0 else multiplier * x + offset


def build_chain(
    tree: UrdfTree,
    link: Any,
    offset: Sequence[float],
    task_joints: Mapping[str, Any],
    where: str,
    urdf: str | None = None,
) -> UrdfChain:
    """The chain to ``link`` with its movable joints mapped onto ``task_joints`` (names ->
    anything; a mimic joint maps to its parent). Raises :class:`TaskFileError` naming the
    link or the joints the task does not read."""
    if not isinstance(link, str) or link not in tree.links:
        raise TaskFileError(
            f"{where}.link={link!r}: the URDF {urdf} has no such link; links: {sorted(tree.links)}"
        )
    steps: list[ChainStep] = []
    pending = np.eye(4)
    unread: list[str] = []
    for j in tree.chain(link):
        pending = pending @ j.origin
        if j.type == "fixed":
            continue
        if not j.movable:
            raise TaskFileError(
                f"{where}: joint {j.name!r} on the chain to {link!r} is {j.type}; only fixed, "
                "revolute, continuous and prismatic joints are supported"
            )
        driver, mult, off = j.name, 1.0, 0.0
        if j.mimic is not None:
            driver, mult, off = j.mimic.joint, j.mimic.multiplier, j.mimic.offset
        if driver not in task_joints:
            unread.append(driver)
            continue
        motion = "prismatic" if j.type == "prismatic" else "revolute"
        steps.append(ChainStep(pending, motion, np.asarray(j.axis), driver, j.name, mult, off))
        pending = np.eye(4)
    if unread:
        raise TaskFileError(
            f"{where}: joint(s) {sorted(set(unread))} on the chain to link {link!r} are not "
            "read by the task: add them to joints (or make them fixed joints in the URDF)"
        )
    if not steps:
        raise TaskFileError(
            f"{where}: no movable joint between the root link {tree.root!r} and {link!r}"
        )
    return UrdfChain(link, tuple(steps), pending, np.asarray(offset, dtype=np.float64))


def base_matrix(base_pose: tuple[Sequence[float], Sequence[float]]) -> np.ndarray:
    """(4, 4) of ``robot.base_pose`` (``xyz``, ``rpy``)."""
    return pose_matrix(base_pose[0], base_pose[1])
