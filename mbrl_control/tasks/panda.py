"""Franka Panda reach: move the end effector to a goal point with joint-velocity commands.

The task is defined by its shipped task file ``builtin/panda_reach.task.yaml``; :func:`PandaReach`
builds it. Observation ``(17,)``: 7 joint positions (rad), 7 joint velocities (rad/s),
end-effector position xyz (m, base frame, :func:`forward_kinematics`); goal ``(3,)``; action: 7
joint velocity commands (rad/s). The constants below (datasheet limits, ready pose, goal box)
are used by the simulator scene and tests; a test holds them equal to the file.
"""

from __future__ import annotations

import numpy as np

from mbrl_control.tasks.kinematics import panda_forward_kinematics as forward_kinematics
from mbrl_control.tasks.task_file import FileTask, load_builtin

JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
VELOCITY_LIMIT = (2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61)
"""Joint velocity limits (rad/s), Franka datasheet / URDF."""
Q_LOW = np.array([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973])
Q_HIGH = np.array([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973])
"""Joint position limits (rad), Franka datasheet."""
HOME = np.array([0.0, -np.pi / 4, 0.0, -3 * np.pi / 4, 0.0, np.pi / 2, np.pi / 4])
"""The usual ready pose (rad)."""
LIMIT_MARGIN = 0.9
"""Fraction of each joint's half-range beyond which the joint-limit critic charges."""
GOAL_LOW = (0.3, -0.3, 0.15)
GOAL_HIGH = (0.6, 0.3, 0.6)
"""Goal sampling box (m, base frame): in front of the robot, well inside its reach."""
SUCCESS_RADIUS = 0.05
"""End-effector distance to goal that counts as success (m)."""


def PandaReach() -> FileTask:
    """A fresh Panda reach task from its shipped task file."""
    return load_builtin("panda_reach")


PandaReach.name = "panda_reach"  # type: ignore[attr-defined]

__all__ = [
    "GOAL_HIGH",
    "GOAL_LOW",
    "HOME",
    "JOINTS",
    "LIMIT_MARGIN",
    "Q_HIGH",
    "Q_LOW",
    "SUCCESS_RADIUS",
    "VELOCITY_LIMIT",
    "PandaReach",
    "forward_kinematics",
]
