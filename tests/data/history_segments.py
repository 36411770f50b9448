"""The ``last_actions`` rule for recorded and imported segments, written out state by state.

A stream segmented on the task without the block (the *plain* segments, ``min_length`` 1)
predicts what the same stream gives on the task with k past actions: every segment loses its
first k states (their earlier commands were not recorded) except one that continues a
segment cut at ``max_length`` (it starts at that segment's last state); every kept state's
block is the k commands before it, newest first; segments left with fewer than
``min_length`` transitions are discarded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Seg:
    """A segment as both the segmenter and the store give it."""

    obs: np.ndarray
    action: np.ndarray
    t_start: float
    t_end: float
    reason: str


def from_store(store) -> list[Seg]:
    """The stored episodes of ``store`` (a TransitionStore) in id order."""
    out = []
    for meta in store.episode_metas():
        with np.load(store.dir / f"ep_{meta['id']:06d}.npz") as z:
            out.append(Seg(z["obs"], z["action"], meta["t_start"], meta["t_end"], meta["end"]))
    return out


def expected(plain: list[Seg], k: int, dt: float, min_length: int = 1) -> tuple[list[Seg], dict]:
    """The segments the task with k past actions must give, and its counts
    ``{transitions, history_transitions, history_discarded}``."""
    out: list[Seg] = []
    counts = {"transitions": 0, "history_transitions": 0, "history_discarded": 0}
    chain: list[np.ndarray] = []  # commands before the current segment (a max_length chain)
    prev: Seg | None = None
    for s in plain:
        if not (prev is not None and prev.reason == "max_length" and prev.t_end == s.t_start):
            chain = []
        known = chain[len(chain) - min(len(chain), k) :]
        n = len(s.action)
        lost = min(n, k - len(known))
        counts["history_transitions"] += lost
        if n - lost >= min_length:
            rows = []
            for i in range(lost, n + 1):
                past = known + list(s.action[:i])  # every command before state i, oldest first
                block = [past[-j] for j in range(1, k + 1)]  # newest first
                rows.append(np.concatenate([s.obs[i], *block]).astype(np.float32))
            out.append(
                Seg(np.stack(rows), s.action[lost:], s.t_start + lost * dt, s.t_end, s.reason)
            )
            counts["transitions"] += n - lost
        elif n >= min_length:
            counts["history_discarded"] += 1
        chain = known + list(s.action)
        prev = s
    return out, counts


def assert_same(got: list[Seg], want: list[Seg]) -> None:
    """The segments are equal bit for bit (obs, actions, start and end times, end reason)."""
    assert len(got) == len(want), (len(got), len(want))
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(g.obs, w.obs, err_msg=f"segment {i}")
        np.testing.assert_array_equal(g.action, w.action, err_msg=f"segment {i}")
        assert (g.t_start, g.t_end, g.reason) == (w.t_start, w.t_end, w.reason), i
