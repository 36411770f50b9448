"""Small tensor helpers the optimizers share: warm-start shift, bounds, elites, best-so-far."""

from __future__ import annotations

import torch

Carry = dict[str, torch.Tensor]
"""State carried between planning steps: ``plan (H, A)`` (+ iCEM ``elites (k, H, A)``)."""
Noise = dict[str, torch.Tensor]
"""Standard-normal inputs of one step (see :func:`mbrl_control.planning.noise.noise_shapes`)."""


def shift(plan: torch.Tensor) -> torch.Tensor:
    """Warm start: drop the executed step, repeat the last. ``(..., H, A) -> (..., H, A)``."""
    return torch.cat([plan[..., 1:, :], plan[..., -1:, :]], dim=-2)


def clip(actions: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Clamp ``(..., A)`` actions into ``[low, high]`` ``(A,)``."""
    return torch.minimum(torch.maximum(actions, low), high)


def with_prior(
    samples: torch.Tensor,
    prior: torch.Tensor | None,
    noise: torch.Tensor,
    count: int,
    std: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
) -> torch.Tensor:
    """Policy prior: the first ``count`` candidates become the policy's plan (row 0) and
    samples ``prior + std * noise`` around it, clipped into the bounds.

    Args: samples ``(N, H, A)``, prior ``(H, A)`` (None: samples unchanged), noise
    ``(>= count, H, A)`` standard normal, std ``(A,)``, low/high ``(A,)``.
    """
    if prior is None or count == 0:
        return samples
    spread = (torch.arange(count) > 0).to(noise.dtype)[:, None, None]  # (count, 1, 1)
    around = clip(prior + std * spread * noise[:count], low, high)  # (count, H, A)
    return torch.cat([around, samples[count:]])


def elites_of(
    samples: torch.Tensor, cost: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k lowest-cost candidates, best first: samples ``(N, H, A)``, cost ``(N,)`` ->
    elites ``(k, H, A)``, elite cost ``(k,)``."""
    elite_cost, index = torch.topk(cost, k, largest=False, sorted=True)
    return samples[index], elite_cost


def keep_best(
    best: tuple[torch.Tensor, torch.Tensor], plan: torch.Tensor, cost: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best-so-far ``(plan (H, A), cost ())`` updated with a candidate ``plan``, ``cost ()``."""
    better = cost < best[1]
    return torch.where(better, plan, best[0]), torch.minimum(cost, best[1])


def state_noise_at(noise: Noise, i: int) -> torch.Tensor | None:
    """Iteration i's ``state_noise (H, P·N, O)``, or None without aleatoric sampling."""
    return noise["state_noise"][i] if "state_noise" in noise else None
