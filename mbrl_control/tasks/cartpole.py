"""Cart-pole swing-up: the pole starts hanging down and must be swung up and balanced.

Observation ``[x, cos θ, sin θ, ẋ, θ̇]`` (m, -, -, m/s, rad/s) with θ = 0 upright; one
horizontal force on the cart (N). Cost is PETS-style: the pole tip's distance to the
upright target through a saturating kernel, plus small action and rail-end terms, and a
pole-energy shaping term: pumping energy towards the upright energy is what a swing-up needs,
and it is visible within a short horizon where the tip-distance kernel alone is nearly flat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mbrl_control.tasks.base import Critic, Task

if TYPE_CHECKING:
    import torch

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


def _action(f: dict[str, torch.Tensor]) -> torch.Tensor:
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
            Critic("action", _action, 0.01),
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
