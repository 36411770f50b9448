"""The controller's goal: where it comes from and which goals it takes, by the task's goal kind.

One rule per ``goal.kind`` of the task (docs/task_files.md, "goal"):

| kind | at start | a goal on the ``goal`` topic |
|---|---|---|
| ``none`` | no goal (G = 0) | not subscribed |
| ``fixed`` | the task's ``value``: plans at once | refused: part of the task (see ``topic``) |
| ``box`` | none: waits for the topic | any finite G values (the box is where training drew goals) |
| ``topic`` | none: waits for the topic | finite G values inside ``[low, high]``, else refused |

The topic's message type depends on G only (:mod:`mbrl_control.data.goal_messages`, shared
with the bag importer): ``geometry_msgs/msg/PointStamped`` for a 3-d goal,
``std_msgs/msg/Float64MultiArray`` for any other G.
Every refusal is one line naming what was wrong (the values, the size, the box or the kind).
No rclpy and no torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mbrl_control.data.goal_messages import (  # noqa: F401  (re-exported)
    ARRAY_TYPE,
    GOAL_TOPIC,
    POINT_TYPE,
    goal_msg_type,
    goal_values,
)


def _fmt(values: Any) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" for v in np.asarray(values).reshape(-1)) + "]"


@dataclass(frozen=True)
class GoalRule:
    """How the controller of ``task`` gets its goal ``(G,)`` (see module docstring).

    ``kind`` one of none/fixed/box/topic; ``fixed (G,)`` for ``fixed``; ``box`` ``(low (G,),
    high (G,))`` float64 for ``box``/``topic`` (only ``topic`` limits the robot's goals by it).
    """

    task: str
    kind: str
    dim: int
    fixed: np.ndarray | None = None
    box: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def of(cls, task: Any) -> GoalRule:
        """The rule of a task: a task file's ``goal_kind``/``goal_fixed``/``goal_box``; a task
        without them (a Python task) takes any finite goal from the topic (``box``)."""
        dim = int(task.goal_dim)
        kind = getattr(task, "goal_kind", None) or ("box" if dim else "none")
        if dim == 0:
            kind = "none"
        fixed = getattr(task, "goal_fixed", None)
        box = getattr(task, "goal_box", None)
        if kind == "fixed" and fixed is None:
            raise ValueError(f"task {task.name!r}: goal kind fixed without a goal value")
        if kind == "topic" and box is None:
            raise ValueError(f"task {task.name!r}: goal kind topic without a goal box")
        return cls(
            task=str(task.name),
            kind=kind,
            dim=dim,
            fixed=None if fixed is None else np.asarray(fixed, np.float32).copy(),
            box=None if box is None else tuple(np.asarray(b, np.float64) for b in box),
        )

    @property
    def msg_type(self) -> str:
        """The ``goal`` topic's ROS type (meaningful when :attr:`subscribes`)."""
        return goal_msg_type(self.dim)

    @property
    def subscribes(self) -> bool:
        """Whether the controller listens on ``goal`` (every goal task: a ``fixed`` one to say
        why a published goal is not used)."""
        return self.dim > 0

    def initial(self) -> np.ndarray | None:
        """The goal ``(G,)`` float32 before any message: empty (none), the value (fixed), or
        None (box, topic: wait for the topic)."""
        if self.kind == "none":
            return np.zeros(0, np.float32)
        if self.kind == "fixed":
            return self.fixed.copy()
        return None

    def check(self, values: Any) -> tuple[np.ndarray | None, str | None]:
        """``(goal (G,) float32, None)`` for an accepted goal, ``(None, why)`` for a refused one
        (wrong size, non-finite, outside the ``topic`` box, or a ``fixed``/``none`` task)."""
        try:
            g = np.asarray(values, np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            return None, f"unreadable goal ({type(exc).__name__}: {exc})"
        if self.kind == "none":
            return None, f"task {self.task!r} has no goal (goal.kind none)"
        if self.kind == "fixed":
            return None, (
                f"task {self.task!r} has the fixed goal {_fmt(self.fixed)} (goal.kind fixed): "
                f"{_fmt(g)} not used; a task file with goal.kind topic takes goals from the topic"
            )
        if g.shape != (self.dim,):
            return None, (
                f"{len(g)} values {_fmt(g)}; task {self.task!r} needs {self.dim} ({self.msg_type})"
            )
        if not np.all(np.isfinite(g)):
            return None, f"non-finite value in {_fmt(g)}"
        if self.kind == "topic":
            low, high = self.box
            if np.any(g < low) or np.any(g > high):
                return None, (
                    f"{_fmt(g)} outside the task's goal box low {_fmt(low)} high {_fmt(high)} "
                    f"(goal.kind topic)"
                )
        return g.astype(np.float32), None

    def waiting(self) -> str:
        """The status while no goal is set."""
        where = f"topic '{GOAL_TOPIC}', {self.msg_type}, {self.dim} values"
        if self.kind == "topic":
            low, high = self.box
            where += f" in low {_fmt(low)} high {_fmt(high)}"
        return f"waiting for a goal ({where})"
