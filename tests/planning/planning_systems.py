"""Known systems wrapped as ensemble-shaped "models" (true dynamics, zero variance).

Each has the ensemble's ``forward(obs (E, B, O), action (E, B, A)) -> (next (E, B, O),
logvar (E, B, O))`` and a ``members`` int, so planners and rollouts take them unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mbrl_control.tasks.base import Critic, Task
from mbrl_control.tasks.cartpole import MAX_FORCE, POLE_LENGTH


class TrueModel(nn.Module):
    """Base: E identical copies of deterministic dynamics ``step(obs, action)``."""

    def __init__(self, members: int = 5) -> None:
        super().__init__()
        self.members = members

    def step(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, obs: torch.Tensor, action: torch.Tensor):
        nxt = self.step(obs, action)
        return nxt, torch.full_like(nxt, -20.0)


class DoubleIntegrator(TrueModel):
    """obs ``[p, v]`` (m, m/s), action force (N) on 1 kg, dt 0.1 s (exact discretization)."""

    dt = 0.1

    def step(self, obs, action):
        p, v, a = obs[..., :1], obs[..., 1:], action
        return torch.cat([p + v * self.dt + 0.5 * a * self.dt**2, v + a * self.dt], dim=-1)


class Cartpole(TrueModel):
    """Analytic cart-pole matching ``tasks/cartpole.py`` and ``sim/assets/cartpole.urdf``:
    cart 1.0 kg, uniform 0.6 m rod 0.2 kg hinged at its end, θ = 0 upright, 50 Hz control
    integrated with 10 semi-implicit Euler substeps. obs ``[x, cos θ, sin θ, ẋ, θ̇]``."""

    cart_mass, pole_mass, gravity, dt, substeps = 1.0, 0.2, 9.81, 0.02, 10

    def step(self, obs, action):
        x, theta = obs[..., 0], torch.atan2(obs[..., 2], obs[..., 1])
        x_dot, theta_dot = obs[..., 3], obs[..., 4]
        force = action[..., 0].clamp(-MAX_FORCE, MAX_FORCE)
        half, total, h = POLE_LENGTH / 2, self.cart_mass + self.pole_mass, self.dt / self.substeps
        for _ in range(self.substeps):
            sin, cos = theta.sin(), theta.cos()
            temp = (force + self.pole_mass * half * theta_dot**2 * sin) / total
            theta_acc = (self.gravity * sin - cos * temp) / (
                half * (4.0 / 3.0 - self.pole_mass * cos**2 / total)
            )
            x_acc = temp - self.pole_mass * half * theta_acc * cos / total
            x_dot, theta_dot = x_dot + h * x_acc, theta_dot + h * theta_acc
            x, theta = x + h * x_dot, theta + h * theta_dot
        return torch.stack([x, theta.cos(), theta.sin(), x_dot, theta_dot], dim=-1)


class NaNBelowZero(DoubleIntegrator):
    """Double integrator whose prediction is NaN whenever the force is negative."""

    def step(self, obs, action):
        nxt = super().step(obs, action)
        return torch.where(action < 0, torch.full_like(nxt, float("nan")), nxt)


class MemberTagged(TrueModel):
    """Member e adds e to every observation component (checks particle assignment)."""

    def forward(self, obs, action):
        tag = torch.arange(self.members, dtype=obs.dtype).reshape(-1, 1, 1)
        nxt = obs + tag
        return nxt, torch.full_like(nxt, -20.0)


class PointTask(Task):
    """1-D point mass to the origin: obs ``[p, v]`` (m, m/s), force (N) in [-1, 1]."""

    name = "point_test"
    obs_names = ("p", "v")
    action_names = ("force",)
    action_units = ("N",)
    action_low = (-1.0,)
    action_high = (1.0,)
    control_hz = 10.0
    episode_steps = 60
    joint_names = ("slider",)
    command_joints = ("slider",)

    @property
    def critics(self):
        return (
            Critic("position", lambda f: f["next"][..., 0].square(), 1.0),
            Critic("velocity", lambda f: f["next"][..., 1].square(), 0.1),
            Critic("action", lambda f: f["action"].square().sum(-1), 0.01),
        )

    def features(self, obs, action, next_obs, goal):
        return {"next": next_obs, "action": action}

    def obs_from_joints(self, position, velocity):
        return np.array([position[0], velocity[0]], np.float32)

    def is_success(self, obs, goal=None):
        return bool(abs(obs[0]) < 0.05 and abs(obs[1]) < 0.1)


class QuadraticTask(PointTask):
    """Cost depends on the action only: ``(a - 0.3)²`` per step, so the optimum is 0.3."""

    name = "quadratic_test"
    OPTIMUM = 0.3

    @property
    def critics(self):
        return (Critic("quad", lambda f: (f["action"] - self.OPTIMUM).square().sum(-1), 1.0),)
