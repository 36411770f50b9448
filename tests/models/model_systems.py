"""Known nonlinear systems that generate episodes of transitions for the model tests, and the
small model sizes the tests share (here, not in conftest.py: `from conftest import` is
ambiguous when several test folders each have a conftest).

Shape letters: N rows, O obs dim, A action dim.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mbrl_control.models.config import EnsembleConfig, TrainConfig
from mbrl_control.models.ensemble import Ensemble


@dataclass(frozen=True)
class Episodes:
    """Transitions ``obs (N, O)``, ``action (N, A)``, ``next_obs (N, O)``, ``episode_id (N,)``,
    ``cost (N,)``."""

    obs: np.ndarray
    action: np.ndarray
    next_obs: np.ndarray
    episode_id: np.ndarray
    cost: np.ndarray


def pendulum(
    episodes: int,
    steps: int,
    rng: np.random.Generator,
    *,
    noise_std: float = 0.0,
    speed_range: float = 2.0,
    gravity: float = 9.81,
    length: float = 1.0,
    torque: float = 2.0,
    first_episode: int = 0,
) -> Episodes:
    """Damped torque-driven pendulum, obs ``(cos θ, sin θ, θ̇)`` (rad/s), action torque (N·m).

    ``θ̈ = -(g/l) sin θ - 0.1 θ̇ + u`` (unit mass), semi-implicit Euler, dt = 0.05 s, under
    uniform random torques in ``±torque``. Initial angle uniform, initial speed uniform in
    ``±speed_range``. ``noise_std`` adds i.i.d. Gaussian noise to every next-obs coordinate.
    Cost is ``θ² + 0.1 θ̇² + 0.001 u²`` with θ wrapped to [-π, π].
    """
    dt = 0.05
    theta = rng.uniform(-np.pi, np.pi, episodes)
    omega = rng.uniform(-speed_range, speed_range, episodes)
    u = rng.uniform(-torque, torque, (steps, episodes))
    obs, nxt, cost = [], [], []
    for t in range(steps):  # loop over time only; all episodes advance together
        o = np.stack([np.cos(theta), np.sin(theta), omega], axis=1)
        wrapped = (theta + np.pi) % (2 * np.pi) - np.pi
        cost.append(wrapped**2 + 0.1 * omega**2 + 0.001 * u[t] ** 2)
        omega = omega + dt * (-(gravity / length) * np.sin(theta) - 0.1 * omega + u[t])
        theta = theta + dt * omega
        n = np.stack([np.cos(theta), np.sin(theta), omega], axis=1)
        obs.append(o)
        nxt.append(n + noise_std * rng.standard_normal(n.shape))

    # (steps, episodes, ·) -> episode-major rows
    def rows(x: list[np.ndarray]) -> np.ndarray:
        a = np.stack(x, axis=1)
        return a.reshape(episodes * steps, *a.shape[2:]).astype(np.float32)

    ep = np.repeat(np.arange(first_episode, first_episode + episodes), steps)
    return Episodes(rows(obs), rows(list(u[:, :, None])), rows(nxt), ep, rows(cost))


SMALL = {"members": 5, "hidden": 64, "layers": 2}
FAST = TrainConfig(batch_size=64, max_epochs=80, patience=8)


def make_model(seed: int = 0, **kwargs: object) -> Ensemble:
    """A fresh ensemble for the 3-D pendulum, initialized from ``seed`` (``EnsembleConfig.seed``;
    the global RNG is not touched)."""
    return Ensemble(EnsembleConfig(obs_dim=3, act_dim=1, seed=seed, **{**SMALL, **kwargs}))
