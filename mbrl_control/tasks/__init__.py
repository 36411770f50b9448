"""Tasks: each robot's observation layout, action bounds, cost critics and ROS mapping.

A task is defined once here and used by the simulator (``mbrl_sim``), the planner (its
torch cost is exported inside the planner graph) and the ROS nodes (JointState -> obs,
action -> command). This module imports numpy only; ``Task.score`` takes torch tensors but
torch is imported lazily by the caller that has them.
"""

from __future__ import annotations

from mbrl_control.data.joint_state_merge import BadJointState
from mbrl_control.tasks.base import Critic, Task
from mbrl_control.tasks.cartpole import CartpoleSwingup
from mbrl_control.tasks.panda import PandaReach

TASKS: dict[str, type[Task]] = {
    CartpoleSwingup.name: CartpoleSwingup,
    PandaReach.name: PandaReach,
}


def get_task(name: str) -> Task:
    """Return a fresh task instance by name; unknown names list the allowed ones."""
    try:
        return TASKS[name]()
    except KeyError:
        raise ValueError(f"unknown task {name!r}; allowed: {sorted(TASKS)}") from None


__all__ = ["TASKS", "BadJointState", "CartpoleSwingup", "Critic", "PandaReach", "Task", "get_task"]
