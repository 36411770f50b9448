"""Latent CEM (PlaNet, Hafner et al. 2019): plan actions over the RSSM's prior with its reward head
(and, when the model has one, a terminal value: :mod:`mbrl_control.latent.value`).

A pure tensor function of explicit standard-normal noise, like the state planners of
:mod:`mbrl_control.planning` (same warm start, elites and noise conventions): the same noise
gives the same plan in torch and in the exported ONNX graph.

Actions here are **normalized**: ``[-1, 1]`` per dimension, the world model's action units
(:class:`ActionScale` maps task units both ways). Imagination uses the prior *mean* (no
sampled latent), so a step's only randomness is its action noise.

Shape letters: I iterations, N population, H horizon, A action, D deterministic, S stochastic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from mbrl_control.latent.rssm import LatentState
from mbrl_control.latent.world_model import WorldModel
from mbrl_control.planning.sampling import elites_of, shift


@dataclass(frozen=True)
class LatentPlannerConfig:
    """Latent CEM settings (PlaNet used H 12, I 10, N 1000, k 100 on a GPU; these fit a CPU
    tick). Raises ``ValueError`` for a non-positive size or ``elites > population``."""

    horizon: int = 12
    """H, steps imagined ahead."""
    iterations: int = 4
    """I, refits per tick."""
    population: int = 64
    """N, candidate action sequences per iteration."""
    elites: int = 8
    """k, best candidates the Gaussian is refitted to."""
    init_std: float = 0.8
    """Initial std of each action, normalized units (the range is [-1, 1])."""
    momentum: float = 0.0
    """Share of the old mean/std kept at each refit."""
    seed: int = 0
    """Seed of the noise stream (:class:`~mbrl_control.planning.noise.NoiseStream`)."""

    def __post_init__(self) -> None:
        for name in ("horizon", "iterations", "population", "elites"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"latent planner {name}={value!r}; allowed: an integer >= 1")
        if self.elites > self.population:
            raise ValueError(f"latent planner elites={self.elites} > population={self.population}")
        if not 0.0 < self.init_std <= 2.0:
            raise ValueError(f"latent planner init_std={self.init_std}; allowed: (0, 2]")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"latent planner momentum={self.momentum}; allowed: [0, 1)")

    def noise_shapes(self, act_dim: int) -> dict[str, tuple[int, ...]]:
        """One tick's standard-normal inputs: ``action_noise (I, N, H, A)``."""
        return {"action_noise": (self.iterations, self.population, self.horizon, act_dim)}

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class ActionScale:
    """Task units <-> normalized ``[-1, 1]`` for bounds ``low, high (A,)`` (finite, low < high;
    ``ValueError`` otherwise)."""

    def __init__(self, low: list[float], high: list[float]) -> None:
        lo = torch.as_tensor(low, dtype=torch.float32)
        hi = torch.as_tensor(high, dtype=torch.float32)
        ok = lo.shape == hi.shape and lo.ndim == 1
        if not ok or not bool(
            torch.isfinite(lo).all() & torch.isfinite(hi).all() & (lo < hi).all()
        ):
            raise ValueError(
                f"action bounds need finite (A,) vectors low < high, got {low}, {high}"
            )
        self.low, self.high = lo, hi
        self.mid, self.half = (hi + lo) / 2, (hi - lo) / 2  # (A,)

    def normalize(self, action: torch.Tensor) -> torch.Tensor:
        """``(..., A)`` task units -> ``[-1, 1]`` (clipped)."""
        return ((action - self.mid) / self.half).clamp(-1.0, 1.0)

    def task_units(self, action: torch.Tensor) -> torch.Tensor:
        """``(..., A)`` normalized -> task units."""
        return self.mid + self.half * action


def imagined_return(model: WorldModel, start: LatentState, actions: torch.Tensor) -> torch.Tensor:
    """Predicted return of ``actions (N, H, A)`` (normalized) from ``start`` (batch 1:
    ``h (1, D)``, ``sample (1, S)``), imagined with the prior mean: ``(N,)``, reward units.

    Without a value head, the sum of the H predicted rewards (PlaNet). With one
    (``model.value``, :class:`~mbrl_control.latent.value.ValueHead`, discount gamma per
    step, weight w), the discounted sum plus the terminal value of the last imagined state,
    ``sum_h gamma^h r_h + w gamma^H V(s_H)`` (TD-MPC, Hansen et al. 2022): the score sees
    past the horizon; with its ``plan_discount`` off, ``sum_h r_h + w V(s_H)``."""
    n = actions.shape[0]
    h, z = start.h.expand(n, -1), start.sample.expand(n, -1)  # (N, D), (N, S)
    state = LatentState(h, z, torch.ones_like(z), z)
    value = getattr(model, "value", None)
    discounted = value is not None and value.config.plan_discount
    gamma = value.config.discount if discounted else 1.0
    total, disc = actions.new_zeros(n), 1.0  # disc: gamma^t
    for t in range(actions.shape[1]):
        state = model.rssm.img_step(state, actions[:, t], sample=False)  # after a_t
        total = total + disc * model.reward(state.features).squeeze(-1)  # (N,)
        disc *= gamma
    if value is not None:
        total = total + value.config.weight * disc * value(state.features)  # (N,) gamma^H V
    return total


def latent_cem_plan(
    start: LatentState,
    plan: torch.Tensor,
    action_noise: torch.Tensor,
    *,
    model: WorldModel,
    cfg: LatentPlannerConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One latent CEM tick from the filtered state ``start`` (batch 1).

    Args: ``plan (H, A)`` last tick's plan (its first row was applied; the midpoint, zeros,
    after a reset), ``action_noise (I, N, H, A)`` standard normal; all normalized units.
    Returns: action ``(A,)`` and next plan ``(H, A)`` (normalized), and the predicted return
    ``()`` of the final elites (mean; reward units summed over H steps, or, with a value
    head, discounted plus the terminal value: :func:`imagined_return`).
    """
    mean = shift(plan)  # (H, A) warm start
    std = torch.full_like(mean, cfg.init_std)  # (H, A)
    for i in range(cfg.iterations):
        # sample: Gaussian around the mean, clipped into the bounds
        samples = (mean + std * action_noise[i]).clamp(-1.0, 1.0)  # (N, H, A)
        # roll out + score
        ret = imagined_return(model, start, samples)  # (N,)
        # elites (highest return = lowest cost)
        elites, elite_cost, _ = elites_of(samples, -ret, cfg.elites)  # (k, H, A), (k,)
        # refit
        mean = cfg.momentum * mean + (1 - cfg.momentum) * elites.mean(0)
        std = cfg.momentum * std + (1 - cfg.momentum) * elites.std(0, unbiased=False)
    # select: the refitted mean (PlaNet)
    return mean[0], mean, -elite_cost.mean()
