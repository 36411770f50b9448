"""Where each joint quantity and point lives in a task file's observation vector.

:class:`ObsLayout` is built once at load from the parsed ``joints``, ``points`` and
``observation`` sections. Critics and success conditions resolve their references through it
at load (a reference to a joint quantity that is not observed fails then, naming the key);
at cost time :class:`Features` reads the quantities from ``next_obs`` ``(B, O)`` and computes
points that are not observed with the torch kinematics, lazily and once per call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mbrl_control.tasks.kinematics import FK_MODELS
from mbrl_control.tasks.schema import TaskFileError

if TYPE_CHECKING:
    import torch

JOINT_TYPES = ("prismatic", "revolute", "continuous")


@dataclass(frozen=True)
class JointSpec:
    name: str
    type: str
    """``prismatic`` (m), ``revolute`` (rad, bounded) or ``continuous`` (rad, unbounded)."""
    position_range: tuple[float, float]
    """Physical range (low, high); ±inf where unbounded."""
    velocity_limit: float
    """Physical speed limit (m/s or rad/s); inf when none."""

    @property
    def angular(self) -> bool:
        return self.type != "prismatic"

    @property
    def encoded(self) -> bool:
        """Observed as (cos, sin): a continuous joint, or a revolute joint without a range."""
        return self.angular and not np.isfinite(self.position_range).all()


@dataclass(frozen=True)
class PointSpec:
    """A named point: a named FK model (``fk``, ``params``) or a URDF link (``chain``)."""

    name: str
    fk: str
    """A :data:`~mbrl_control.tasks.kinematics.FK_MODELS` name, or ``urdf`` with ``chain``."""
    joints: tuple[str, ...]
    params: Mapping[str, float]
    kinds: tuple[str, ...] = ()
    """``prismatic`` or ``revolute`` per joint: what the point reads of each."""
    chain: Any = None
    """A :class:`~mbrl_control.tasks.urdf_kinematics.UrdfChain` for a link point."""
    base: Any = None
    """(4, 4) ``robot.base_pose`` of a link point (None: identity)."""

    def numpy_point(self, q: np.ndarray) -> np.ndarray:
        """The point (3,) for positions ``q`` of :attr:`joints` (in that order)."""
        if self.chain is not None:
            return self.chain.numpy_point(dict(zip(self.joints, q)), self.base)
        return FK_MODELS[self.fk].numpy_fn(q, self.params)

    def torch_point(self, joints: list[Any]) -> torch.Tensor:
        """The points ``(..., 3)`` for lazy joint tensors of :attr:`joints` (in that order)."""
        if self.chain is not None:
            return self.chain.torch_point(dict(zip(self.joints, joints)), self.base)
        return FK_MODELS[self.fk].torch_fn(joints, self.params)


@dataclass
class ObsLayout:
    """Observation indices by joint quantity and point; see the module docstring."""

    joints: dict[str, JointSpec]
    points: dict[str, PointSpec]
    names: list[str] = field(default_factory=list)
    pos: dict[str, int] = field(default_factory=dict)
    cos: dict[str, int] = field(default_factory=dict)
    sin: dict[str, int] = field(default_factory=dict)
    vel: dict[str, int] = field(default_factory=dict)
    point_at: dict[str, int] = field(default_factory=dict)
    """First of the three obs indices of an observed point."""
    history_at: int | None = None
    """First obs index of the ``last_actions`` block (None: not observed)."""
    history_steps: int = 0
    """k of the ``last_actions`` block (0: not observed)."""
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    """``("pos", joint)``, ``("vel", joint)`` or ``("point", name)`` in obs order."""

    def add(self, kind: str, key: str, names: list[str], where: str) -> None:
        """Append one observation block and record its indices."""
        i = len(self.names)
        if kind == "pos":
            seen = self.cos if self.joints[key].encoded else self.pos
            if key in seen:
                raise TaskFileError(f"{where}: joint {key!r} position is already observed")
            if self.joints[key].encoded:
                self.cos[key], self.sin[key] = i, i + 1
            else:
                self.pos[key] = i
        elif kind == "vel":
            if key in self.vel:
                raise TaskFileError(f"{where}: joint {key!r} velocity is already observed")
            self.vel[key] = i
        else:
            if key in self.point_at:
                raise TaskFileError(f"{where}: point {key!r} is already observed")
            self.point_at[key] = i
        self.names.extend(names)
        self.blocks.append((kind, key))

    # ---- numpy readers (no torch: the controller's plan view) ---------------------------
    def observed_joints(self) -> list[str]:
        """Joints whose position the observation holds (raw or as cos/sin), in joint order."""
        return [j for j in self.joints if j in self.pos or j in self.cos]

    def numpy_joint_positions(self, obs: np.ndarray) -> np.ndarray:
        """Positions ``(..., J)`` of :meth:`observed_joints` from observations ``(..., O)``
        (m or rad; a cos/sin-observed angle as ``atan2(sin, cos)`` in (-pi, pi])."""
        x = np.asarray(obs, np.float64)
        cols = [
            x[..., self.pos[j]]
            if j in self.pos
            else np.arctan2(x[..., self.sin[j]], x[..., self.cos[j]])
            for j in self.observed_joints()
        ]
        return np.stack(cols, axis=-1) if cols else np.zeros((*x.shape[:-1], 0))

    def numpy_points(self, name: str, obs: np.ndarray) -> np.ndarray:
        """Point ``name`` ``(N, 3)`` (m, the robot's base frame) of observations ``(N, O)``:
        sliced when observed, else by its numpy kinematics (one row at a time). ``KeyError``
        for an unknown point; ``ValueError`` when a joint it needs is not observed."""
        x = np.asarray(obs, np.float64).reshape(-1, np.shape(obs)[-1])
        if name in self.point_at:
            i = self.point_at[name]
            return x[:, i : i + 3].copy()
        point = self.points[name]
        names = self.observed_joints()
        missing = [j for j in point.joints if j not in names]
        if missing:
            raise ValueError(f"point {name!r}: joints {missing} are not observed")
        q = self.numpy_joint_positions(x)[:, [names.index(j) for j in point.joints]]
        return np.array([point.numpy_point(row) for row in q]).reshape(-1, 3)

    # ---- load-time references (raise naming the key) ------------------------------------
    def joint(self, name: Any, where: str) -> JointSpec:
        if name not in self.joints:
            raise TaskFileError(f"{where}={name!r}; allowed (joints): {list(self.joints)}")
        return self.joints[name]

    def need_pos(self, name: Any, where: str) -> int:
        """Obs index of a raw joint position (prismatic or bounded revolute)."""
        j = self.joint(name, where)
        if j.encoded:
            raise TaskFileError(f"{where}: joint {name!r} is {j.type}, observed only as cos/sin")
        if name not in self.pos:
            raise TaskFileError(
                f"{where}: joint {name!r} position is not observed; add it to observation"
            )
        return self.pos[name]

    def need_angle(self, name: Any, where: str) -> None:
        """Check that cos/sin of an angular joint can be read from the observation."""
        j = self.joint(name, where)
        if not j.angular:
            raise TaskFileError(f"{where}: joint {name!r} is prismatic, need an angular joint")
        if name not in self.pos and name not in self.cos:
            raise TaskFileError(
                f"{where}: joint {name!r} position is not observed; add it to observation"
            )

    def need_vel(self, name: Any, where: str) -> int:
        self.joint(name, where)
        if name not in self.vel:
            raise TaskFileError(
                f"{where}: joint {name!r} velocity is not observed; add it to observation"
            )
        return self.vel[name]

    def need_history(self, where: str) -> int:
        """Obs index of the newest past action (the ``last_actions`` block's start)."""
        if self.history_at is None:
            raise TaskFileError(
                f"{where}: needs the previous action; add "
                "{feature: last_actions, steps: 1} to observation"
            )
        return self.history_at

    def need_point(self, name: Any, where: str) -> None:
        """Check that a point is observed or computable from observed joints."""
        if name not in self.points:
            raise TaskFileError(f"{where}={name!r}; allowed (points): {sorted(self.points)}")
        if name in self.point_at:
            return
        point = self.points[name]
        for j, kind in zip(point.joints, point.kinds):
            if kind == "prismatic":
                self.need_pos(j, f"{where} (point {name!r})")
            else:
                self.need_angle(j, f"{where} (point {name!r})")


class _Joint:
    """Lazy ``pos``/``cos``/``sin`` of one joint from an observation batch ``(B, O)``."""

    def __init__(self, obs: torch.Tensor, layout: ObsLayout, name: str) -> None:
        self._obs, self._layout, self._name = obs, layout, name

    @property
    def pos(self) -> torch.Tensor:
        return self._obs[..., self._layout.pos[self._name]]

    @property
    def cos(self) -> torch.Tensor:
        i = self._layout.cos.get(self._name)
        return self.pos.cos() if i is None else self._obs[..., i]

    @property
    def sin(self) -> torch.Tensor:
        i = self._layout.sin.get(self._name)
        return self.pos.sin() if i is None else self._obs[..., i]

    @property
    def angle(self) -> torch.Tensor:
        """The raw position when observed, else ``atan2(sin, cos)`` (in (-pi, pi])."""
        if self._name in self._layout.pos:
            return self.pos
        import torch

        return torch.atan2(self.sin, self.cos)


class Features(Mapping[str, "torch.Tensor"]):
    """What critics read: ``obs``, ``action``, ``next_obs``, ``goal`` and ``point:<name>``
    ``(B, 3)`` of ``next_obs`` (an observed point is sliced from it, any other is computed by
    its torch kinematics on first use and cached)."""

    def __init__(self, layout: ObsLayout, **tensors: torch.Tensor) -> None:
        self._layout = layout
        self._data: dict[str, torch.Tensor] = dict(tensors)

    @property
    def layout(self) -> ObsLayout:
        """Where each quantity lives in the observation (derivative routing)."""
        return self._layout

    def joint(self, name: str) -> _Joint:
        """Lazy quantities of ``name`` in ``next_obs``."""
        return _Joint(self._data["next_obs"], self._layout, name)

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self._data and key.startswith("point:"):
            name = key[len("point:") :]
            obs = self._data["next_obs"]
            if name in self._layout.point_at:
                i = self._layout.point_at[name]
                self._data[key] = obs[..., i : i + 3]
            else:
                p = self._layout.points[name]
                self._data[key] = p.torch_point([self.joint(j) for j in p.joints])
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)
