"""Franka Panda reach: move the end effector to a goal point with joint-velocity commands.

Observation ``(17,)``: 7 joint positions (rad), 7 joint velocities (rad/s), end-effector
position xyz (m, robot base frame). The goal ``(3,)`` (m, base frame) is a separate input,
not part of the observation. Action: 7 joint velocity commands (rad/s) within the real
robot's limits. The end effector is the grasp point between the fingertips
(``panda_grasptarget`` in pybullet_data's URDF), 0.212 m beyond the flange along its z axis.
Cost critics: distance to goal, action size, joint-limit proximity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mbrl_control.tasks.base import Critic, Task
from mbrl_control.tasks.kinematics import panda_forward_kinematics as forward_kinematics

if TYPE_CHECKING:
    import torch

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

_Q_MID = (Q_LOW + Q_HIGH) / 2
_Q_HALF = (Q_HIGH - Q_LOW) / 2


def _goal_distance(f: dict[str, torch.Tensor]) -> torch.Tensor:
    return f["goal_dist"]


def _action(f: dict[str, torch.Tensor]) -> torch.Tensor:
    return f["action_frac"].square().mean(-1)


def _joint_limits(f: dict[str, torch.Tensor]) -> torch.Tensor:
    # 0 inside LIMIT_MARGIN of the half-range, 1 per joint at the limit.
    excess = (f["limit_frac"] - LIMIT_MARGIN).clamp(min=0.0) / (1.0 - LIMIT_MARGIN)
    return excess.square().sum(-1)


class PandaReach(Task):
    name = "panda_reach"
    obs_names = (
        tuple(f"q{i}" for i in range(1, 8))
        + tuple(f"qd{i}" for i in range(1, 8))
        + ("ee_x", "ee_y", "ee_z")
    )
    action_names = tuple(f"qd{i}_cmd" for i in range(1, 8))
    action_units = ("rad/s",) * 7
    action_low = tuple(-v for v in VELOCITY_LIMIT)
    action_high = VELOCITY_LIMIT
    control_hz = 20.0
    episode_steps = 100
    goal_dim = 3
    joint_names = JOINTS
    command_joints = JOINTS
    # Datasheet limits with slack: the simulator and real joints overshoot a little.
    position_limits = tuple((lo - 0.1, hi + 0.1) for lo, hi in zip(Q_LOW, Q_HIGH))
    velocity_limits = tuple(2.0 * v for v in VELOCITY_LIMIT)

    @property
    def critics(self) -> tuple[Critic, ...]:
        return (
            Critic("goal_distance", _goal_distance, 1.0),
            Critic("action", _action, 0.01),
            Critic("joint_limits", _joint_limits, 1.0),
        )

    def features(self, obs, action, next_obs, goal):
        """End-effector distance (m), action fractions and limit fractions; shapes ``(B, ·)``."""
        import torch

        ee = next_obs[..., 14:17]  # (B, 3)
        goal_dist = (ee - goal).square().sum(-1).clamp(min=1e-12).sqrt()  # (B,)
        high = torch.as_tensor(self.action_high, dtype=action.dtype)
        mid = torch.as_tensor(_Q_MID, dtype=next_obs.dtype)
        half = torch.as_tensor(_Q_HALF, dtype=next_obs.dtype)
        limit_frac = ((next_obs[..., :7] - mid) / half).abs()  # (B, 7)
        return {"goal_dist": goal_dist, "action_frac": action / high, "limit_frac": limit_frac}

    def obs_from_joints(self, position: np.ndarray, velocity: np.ndarray) -> np.ndarray:
        q = np.asarray(position, np.float64)
        ee = forward_kinematics(q)
        return np.concatenate([q, velocity, ee]).astype(np.float32)

    def is_success(self, obs: np.ndarray, goal: np.ndarray | None = None) -> bool:
        """End effector within :data:`SUCCESS_RADIUS` of ``goal (3,)``."""
        if goal is None:
            raise ValueError("panda_reach.is_success needs the goal (3,)")
        return bool(np.linalg.norm(np.asarray(obs[14:17]) - goal) < SUCCESS_RADIUS)

    def sample_goal(self, rng: np.random.Generator) -> np.ndarray:
        """A point ``(3,)`` (m) uniform in the box :data:`GOAL_LOW`..:data:`GOAL_HIGH`."""
        return rng.uniform(GOAL_LOW, GOAL_HIGH).astype(np.float32)
