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


def lowest(cost: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``(k,)`` of the k lowest of ``cost (N,)``, lowest first; equal costs in index
    order. The one candidate ranking of every optimizer (elites, best candidate).

    ``torch.topk`` and ONNX ``TopK`` break ties in different ways, so with exactly equal
    costs (e.g. every critic weight 0, or every rollout at the non-finite sentinel) torch
    and onnxruntime used to pick different elites. Here the graph ranks by (cost, index)
    itself: candidate i's rank is the number of candidates j with ``c_j < c_i``, or
    ``c_j == c_i`` and ``j < i``. Ranks are distinct integers ``0..N-1``, so the final
    ``TopK`` on them has no ties, and torch and onnxruntime select identically. It costs an
    ``(N, N)`` comparison per iteration (160k for N = 400), small next to the rollout.
    ``cost`` must hold no NaN (the rollout maps non-finite costs to its sentinel).

    Near-ties are another matter: when two costs differ by a few float32 ulps, torch and
    onnxruntime (or one runtime on two CPU families, whose GEMM kernels round differently)
    may compute them in opposite order and then pick different elites, exactly as they may
    for any two candidates whose cost difference is below the arithmetic's rounding error.
    Parity is then bounded by how much those candidates differ, not by 1e-4; it is rare
    with continuous sampling noise, and a seeded run on one machine stays reproducible.
    """
    index = torch.arange(cost.shape[0], device=cost.device)
    before = (cost[None, :] < cost[:, None]) | (
        (cost[None, :] == cost[:, None]) & (index[None, :] < index[:, None])
    )  # (N, N): [i, j] = j ranks before i
    rank = before.sum(1)  # (N,) a permutation of 0..N-1
    return torch.topk(rank, k, largest=False, sorted=True)[1]


def elites_of(
    samples: torch.Tensor, cost: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k lowest-cost candidates, best first (ties in index order, see :func:`lowest`):
    samples ``(N, H, A)``, cost ``(N,)`` -> elites ``(k, H, A)``, elite cost ``(k,)`` and
    their indices ``(k,)`` (to pick the best one's predicted path)."""
    index = lowest(cost, k)
    return samples[index], cost[index], index


Best = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""Best candidate so far: ``(plan (H, A), cost (), path (H, E, P))``, the path being each
ensemble member's predicted states along the plan (:meth:`~mbrl_control.planning.rollout.
Rollout.__call__`'s ``paths`` of that candidate)."""


def keep_best(
    best: Best | None, plan: torch.Tensor, cost: torch.Tensor, path: torch.Tensor
) -> Best:
    """Best-so-far updated with a candidate ``plan (H, A)``, ``cost ()``, ``path (H, E, P)``
    (ties keep the earlier one). ``best`` None (before any candidate) takes the candidate:
    rollout costs are always finite (:data:`~mbrl_control.planning.rollout.BIG_COST`), so it
    would win against the +inf start anyway, and the graph has no comparison to do."""
    if best is None:
        return plan, cost, path
    better = cost < best[1]
    return (
        torch.where(better, plan, best[0]),
        torch.minimum(cost, best[1]),
        torch.where(better, path, best[2]),
    )


def state_noise_at(noise: Noise, i: int) -> torch.Tensor | None:
    """Iteration i's ``state_noise (H, P·N, O)``, or None without aleatoric sampling."""
    return noise["state_noise"][i] if "state_noise" in noise else None
