"""Row bookkeeping for training: hold-out split by episode and per-member batch indices.

Shape letters: N rows, E members, M rows in a member's pool, L rows drawn in one epoch.
Everything here is vectorized numpy driven by an injected ``np.random.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

PSEUDO_EPISODES = 50
"""Without episode ids, time-ordered rows are cut into this many contiguous pseudo-episodes."""


def episode_ids_or_blocks(episode_id: np.ndarray | None, n: int) -> np.ndarray:
    """Episode id per row ``(N,)``; without ids, contiguous block ids (see ``PSEUDO_EPISODES``)."""
    if episode_id is not None:
        ids = np.asarray(episode_id).reshape(-1)
        if ids.shape[0] != n:
            raise ValueError(f"episode_id has {ids.shape[0]} rows, expected {n}")
        return ids
    return np.arange(n) * PSEUDO_EPISODES // max(n, 1)


def holdout_split(
    episode_id: np.ndarray,
    fraction: float,
    mode: str,
    rng: np.random.Generator,
    holdout_episodes: Sequence[int] | None = None,
) -> tuple[np.ndarray, list[int]]:
    """Choose hold-out episodes and return ``(holdout_mask (N,) bool, holdout episode ids)``.

    ``holdout_episodes`` (explicit ids) wins over ``fraction``/``mode``. Otherwise
    ``ceil(fraction * n_episodes)`` episodes are held out (none when ``fraction`` is 0, and
    always at least one episode is left for training): ``random`` draws them with ``rng``,
    ``newest`` takes the episodes whose first row comes last in the arrays.
    """
    uniq, first = np.unique(episode_id, return_index=True)
    if holdout_episodes is not None:
        chosen = np.asarray(list(holdout_episodes))
        unknown = sorted(set(chosen.tolist()) - set(uniq.tolist()))
        if unknown:
            raise ValueError(f"holdout_episodes {unknown} do not occur in episode_id")
    else:
        count = min(math.ceil(fraction * len(uniq)), len(uniq) - 1) if fraction > 0 else 0
        if mode == "newest":
            chosen = uniq[np.argsort(first)[len(uniq) - count :]]
        else:
            chosen = rng.choice(uniq, size=count, replace=False)
    mask = np.isin(episode_id, chosen)
    if mask.all():
        raise ValueError("every row is held out; keep at least one episode for training")
    return mask, sorted(chosen.tolist())


def member_pools(rows: int, members: int, bootstrap: bool, rng: np.random.Generator) -> np.ndarray:
    """Rows each member trains on, ``(E, M=rows)``: a bootstrap resample or all rows."""
    if bootstrap:
        return rng.integers(0, rows, size=(members, rows))
    return np.broadcast_to(np.arange(rows), (members, rows))


def epoch_stream(pool: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``(E, L)`` row indices: each member's pool ``(E, M)`` shuffled independently.

    When ``L > M`` the pool is reshuffled and appended until ``L`` rows are drawn, so every
    row of a pool is used once before any is used twice.
    """
    members, m = pool.shape
    passes = -(-length // m)
    order = np.argsort(rng.random((members, passes, m)), axis=2)  # (E, passes, M)
    order = order.reshape(members, passes * m)[:, :length]  # (E, L) positions in the pool
    return np.take_along_axis(pool, order, axis=1)
