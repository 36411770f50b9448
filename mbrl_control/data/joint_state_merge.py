"""The one per-joint ``sensor_msgs/JointState`` merge: several publishers, one robot state.

Real graphs have more than one publisher on ``joint_states`` (an arm driver, a gripper, a
pan-tilt unit), each sending only its own joints. :class:`JointStateMerge` keeps the latest
position, velocity and time **per joint** across messages, so a state is complete when every
joint the task reads has a fresh value. The controller, the live recorder and the bag/CSV
importers all use this class, so they agree on what a valid state is:

- a message whose names repeat a joint is ambiguous and refused whole (:class:`BadJointState`
  naming the joint); so is one whose ``position``/``velocity`` lengths do not match ``name``
  (an empty ``velocity`` is allowed for joints the task does not read);
- a task joint's value must be finite **as float32** (the stored dtype: 1e39 overflows) and
  inside the task's physical ranges (``Task.joint_ranges``), else the message is refused
  naming the joint;
- a refused message changes nothing (validation happens before any value is taken); a
  message with none of the task's joints changes nothing and is not an error.

No rclpy, no torch: callers pass message fields and a time in seconds on their own clock
(receive time in the nodes, header or log time in importers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mbrl_control.tasks.base import Task

_F32_MAX = float(np.finfo(np.float32).max)


KINDS = {
    "duplicate": "a joint name appears twice in one message",
    "length_mismatch": "name, position and velocity lengths differ",
    "non_finite": "a NaN/inf position or velocity (as float32)",
    "out_of_range": "a position outside the joint's physical range",
    "over_velocity_limit": "a velocity beyond the joint's physical limit",
    "unknown_joint": "a joint the task does not have (callers that refuse extra joints)",
    "missing": "a task joint never received",
    "stale": "a task joint's latest value is older than allowed",
    "invalid": "any other refusal (a caller's own reason)",
}
"""Every :attr:`BadJointState.kind`, with what it means. Sort refusals by ``kind``, never by
message text (messages are for people and may change)."""


class BadJointState(ValueError):
    """A JointState message that cannot be turned into an observation.

    ``joint`` names the offending joint (or ``None`` when the message as a whole is bad);
    ``kind`` is machine-readable, one of :data:`KINDS` (``ValueError`` if not).
    """

    def __init__(self, reason: str, joint: str | None = None, *, kind: str = "invalid") -> None:
        if kind not in KINDS:
            raise ValueError(f"BadJointState kind {kind!r}; allowed: {sorted(KINDS)}")
        super().__init__(reason)
        self.joint = joint
        self.kind = kind


class StaleJoint(BadJointState):
    """A task joint has no value yet (``kind="missing"``), or its latest value is older than
    allowed (``kind="stale"``)."""


class JointStateMerge:
    """Latest value and time per joint across JointState messages (module docstring).

    Args:
        joint_names: the joints to keep, in the order :meth:`latest` returns them ``(J,)``.
        pos_low, pos_high: physical position range per joint ``(J,)`` (m or rad); ±inf = none.
        vel_limit: physical speed limit per joint ``(J,)`` (m/s or rad/s); inf = none.
    """

    def __init__(
        self,
        joint_names: Sequence[str],
        pos_low: np.ndarray | None = None,
        pos_high: np.ndarray | None = None,
        vel_limit: np.ndarray | None = None,
    ) -> None:
        self.joint_names = tuple(joint_names)
        n = len(self.joint_names)
        self._index = {name: j for j, name in enumerate(self.joint_names)}
        self.pos_low = np.full(n, -np.inf) if pos_low is None else np.asarray(pos_low, float)
        self.pos_high = np.full(n, np.inf) if pos_high is None else np.asarray(pos_high, float)
        self.vel_limit = np.full(n, np.inf) if vel_limit is None else np.asarray(vel_limit, float)
        self.position = np.full(n, np.nan)
        self.velocity = np.full(n, np.nan)
        self.time = np.full(n, -np.inf)
        """Time (s, caller's clock) of each joint's latest value; -inf = never received."""

    @classmethod
    def for_task(cls, task: Task) -> JointStateMerge:
        """A merge over ``task.joint_names`` with the task's physical ranges."""
        return cls(task.joint_names, *task.joint_ranges)

    def reset(self) -> None:
        """Forget every joint (e.g. at a segment break)."""
        self.position[:] = np.nan
        self.velocity[:] = np.nan
        self.time[:] = -np.inf

    def update(
        self,
        names: Sequence[str],
        position: Sequence[float],
        velocity: Sequence[float],
        t: float,
    ) -> int:
        """Merge one message received at ``t`` (s); return how many task joints it updated.

        Raises:
            BadJointState: duplicate names, mismatched lengths, a non-finite (as float32) or
                out-of-range value for a task joint. Nothing is updated then.
        """
        idx, pos, vel = self.parse(names, position, velocity)
        self.position[idx], self.velocity[idx], self.time[idx] = pos, vel, t
        return len(idx)

    def parse(
        self, names: Sequence[str], position: Sequence[float], velocity: Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Validate one message without merging it (the rules of :meth:`update`).

        Returns: the task-joint indices it carries ``(K,)`` int (into ``joint_names``) and
        their positions and velocities ``(K,)`` float64; ``K = 0`` for a message with none
        of the task's joints.

        Raises:
            BadJointState: as :meth:`update`.
        """
        names = list(names)
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise BadJointState(
                    f"joint {name!r} appears twice in one JointState", name, kind="duplicate"
                )
            seen.add(name)
        hits = [(i, self._index[n]) for i, n in enumerate(names) if n in self._index]
        if not hits:
            return np.zeros(0, np.intp), np.zeros(0), np.zeros(0)
        if len(position) != len(names) or len(velocity) != len(names):
            raise BadJointState(
                f"JointState has {len(names)} names, {len(position)} positions and "
                f"{len(velocity)} velocities; they must have equal lengths",
                kind="length_mismatch",
            )
        pos = np.array([position[i] for i, _ in hits], np.float64)
        vel = np.array([velocity[i] for i, _ in hits], np.float64)
        for k, (_, j) in enumerate(hits):
            name = self.joint_names[j]
            p, v = pos[k], vel[k]
            if not (np.isfinite(p) and np.isfinite(v) and abs(p) <= _F32_MAX >= abs(v)):
                raise BadJointState(
                    f"joint {name!r} has a non-finite position/velocity "
                    f"({float(p):g}, {float(v):g}; float32 holds up to ±{_F32_MAX:.4g})",
                    name,
                    kind="non_finite",
                )
            if not self.pos_low[j] <= p <= self.pos_high[j]:
                raise BadJointState(
                    f"joint {name!r} position {p:.6g} outside its physical range "
                    f"[{self.pos_low[j]:g}, {self.pos_high[j]:g}]",
                    name,
                    kind="out_of_range",
                )
            if abs(v) > self.vel_limit[j]:
                raise BadJointState(
                    f"joint {name!r} velocity {v:.6g} beyond its physical limit "
                    f"±{self.vel_limit[j]:g}",
                    name,
                    kind="over_velocity_limit",
                )
        return np.array([j for _, j in hits], np.intp), pos, vel

    def check_rows(self, position: np.ndarray, velocity: np.ndarray) -> np.ndarray:
        """The rules of :meth:`parse` for many complete states at once (vectorized).

        Args:
            position, velocity: ``(N, J)`` values of every task joint, ``joint_names`` order.
        Returns: ``(N,)`` the refusal :attr:`BadJointState.kind` per row (``""`` = valid),
            the same kind :meth:`parse` raises for that row (the first bad joint decides).
        """
        p = np.asarray(position, np.float64)
        v = np.asarray(velocity, np.float64)
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(p) & np.isfinite(v) & (np.abs(p) <= _F32_MAX)
            finite &= np.abs(v) <= _F32_MAX
            in_range = (self.pos_low <= p) & (p <= self.pos_high)
            slow = ~(np.abs(v) > self.vel_limit)
        code = np.where(~finite, 1, np.where(~in_range, 2, np.where(~slow, 3, 0)))  # (N, J)
        first = np.where(code.any(1), code[np.arange(len(code)), (code != 0).argmax(1)], 0)
        names = np.array(["", "non_finite", "out_of_range", "over_velocity_limit"], object)
        return names[first]

    def latest(
        self, now: float | None = None, max_age: float = np.inf
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """The merged state: positions ``(J,)``, velocities ``(J,)`` and the oldest joint's
        time (s).

        Raises:
            StaleJoint: a joint was never received, or (with ``now``) its value is older than
                ``max_age`` seconds; the message names the joint.
        """
        for j, name in enumerate(self.joint_names):
            if self.time[j] == -np.inf:
                raise StaleJoint(f"joint {name!r} missing (never received)", name, kind="missing")
            if now is not None and now - self.time[j] > max_age:
                raise StaleJoint(
                    f"joint {name!r} stale: {now - self.time[j]:.3f} s old (limit {max_age} s)",
                    name,
                    kind="stale",
                )
        return self.position.copy(), self.velocity.copy(), float(self.time.min())
