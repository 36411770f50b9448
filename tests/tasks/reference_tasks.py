"""The Python built-in tasks as they were before the task files (frozen reference).

The package defines cart-pole and Panda only by their task files now
(``mbrl_control/tasks/builtin``); these classes are the oracle the equivalence tests hold
the files to, so a change to a file or to the critic library that alters a built-in's costs,
observations, success or bounds fails a test. Do not edit except to follow an intended change.
"""

from __future__ import annotations

import numpy as np
import torch

from mbrl_control.tasks.base import Critic, Task
from mbrl_control.tasks.kinematics import panda_forward_kinematics as forward_kinematics

# The robot's data sheet values are shared (a test checks them against the task files); the
# task logic below is the frozen pre-task-file implementation the files are compared with.
from mbrl_control.tasks.panda import (
    GOAL_HIGH,
    GOAL_LOW,
    JOINTS,
    LIMIT_MARGIN,
    Q_HIGH,
    Q_LOW,
    SUCCESS_RADIUS,
    VELOCITY_LIMIT,
)

POLE_LENGTH = 0.6
"""Hinge-to-tip length of the pole in metres (the sim's asset matches it)."""
RAIL_LIMIT = 2.0
"""|x| beyond which the rail critic charges (m); the rail ends at ±2.4 m."""
MAX_FORCE = 10.0
"""Force bound on the cart (N)."""
GRAVITY = 9.81
"""m/s²."""
UPRIGHT_ENERGY = GRAVITY * POLE_LENGTH / 2.0
"""Pole energy per unit mass at rest upright (uniform rod about its hinge), J/kg."""


def _tip_distance(f: dict[str, torch.Tensor]) -> torch.Tensor:
    # 1 - exp(-d²/l²): 0 upright over the rail centre, saturates at 1 far away.
    return 1.0 - (-f["tip_dist_sq"] / POLE_LENGTH**2).exp()


def _cp_action(f: dict[str, torch.Tensor]) -> torch.Tensor:
    return (f["action"] / MAX_FORCE).square().sum(-1)


def _energy(f: dict[str, torch.Tensor]) -> torch.Tensor:
    # ((e - e_up) / (2 e_up))²: 0 with the upright energy, 1 hanging still.
    return ((f["energy"] - UPRIGHT_ENERGY) / (2.0 * UPRIGHT_ENERGY)).square()


def _rail(f: dict[str, torch.Tensor]) -> torch.Tensor:
    return (f["x"].abs() - RAIL_LIMIT).clamp(min=0.0).square()


class CartpoleSwingup(Task):
    name = "cartpole_swingup"
    obs_names = ("x", "cos_theta", "sin_theta", "x_dot", "theta_dot")
    action_names = ("cart_force",)
    action_units = ("N",)
    action_low = (-MAX_FORCE,)
    action_high = (MAX_FORCE,)
    control_hz = 50.0
    episode_steps = 200
    goal_dim = 0
    joint_names = ("slider_to_cart", "cart_to_pole")
    command_joints = ("slider_to_cart",)
    # The rail ends at ±2.4 m (a little slack for the end stops); the pole hinge is continuous.
    position_limits = ((-2.5, 2.5), (-np.inf, np.inf))
    velocity_limits = (20.0, 100.0)
    """m/s, rad/s: far above anything the 10 N cart reaches, far below a corrupt value."""

    @property
    def critics(self) -> tuple[Critic, ...]:
        return (
            Critic("tip_distance", _tip_distance, 1.0),
            Critic("action", _cp_action, 0.01),
            Critic("rail", _rail, 1.0),
            Critic("energy", _energy, 0.5),
        )

    def features(self, obs, action, next_obs, goal):
        """Tip position of ``next_obs`` ``(B, 5)``; see :meth:`Task.features`."""
        x, cos_t, sin_t = next_obs[..., 0], next_obs[..., 1], next_obs[..., 2]
        tip_x = x + POLE_LENGTH * sin_t
        tip_z = POLE_LENGTH * cos_t
        tip_dist_sq = tip_x.square() + (tip_z - POLE_LENGTH).square()  # (B,)
        # rod about its hinge: I/m = l²/3, centre of mass at l/2
        energy = POLE_LENGTH**2 / 6.0 * next_obs[..., 4].square() + UPRIGHT_ENERGY * cos_t
        return {"x": x, "tip_dist_sq": tip_dist_sq, "action": action, "energy": energy}

    def obs_from_joints(self, position: np.ndarray, velocity: np.ndarray) -> np.ndarray:
        x, theta = position
        x_dot, theta_dot = velocity
        return np.array([x, np.cos(theta), np.sin(theta), x_dot, theta_dot], dtype=np.float32)

    def is_success(self, obs: np.ndarray, goal: np.ndarray | None = None) -> bool:
        """Upright within ~18° with the cart within 0.5 m of the rail centre."""
        return bool(obs[1] > 0.95 and abs(obs[0]) < 0.5)


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
