"""A fixed-capacity FIFO of transitions (real or imagined), sampled uniformly.

Fields are preallocated tensors ``(capacity, ·)``; writes wrap around, overwriting the oldest
rows. Sampling takes an injected ``np.random.Generator``.
"""

from __future__ import annotations

import numpy as np
import torch

from mbrl_control.agents.sac import Batch


class ReplayBuffer:
    """Rows of ``obs (O,)``, ``action (A,)``, ``reward ()``, ``next_obs (O,)`` (for MBPO
    ``obs`` is the agent's row: the state with the goal appended, ``O+G`` wide)."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int) -> None:
        self.capacity = capacity
        self.data: Batch = {
            "obs": torch.zeros(capacity, obs_dim),
            "action": torch.zeros(capacity, act_dim),
            "reward": torch.zeros(capacity),
            "next_obs": torch.zeros(capacity, obs_dim),
        }
        self.size, self._next = 0, 0

    def __len__(self) -> int:
        return self.size

    def add(self, rows: Batch) -> None:
        """Append rows ``(B, ·)`` (same keys as the buffer); the oldest rows make room."""
        n = rows["obs"].shape[0]
        if n > self.capacity:  # only the newest rows fit
            rows = {k: v[-self.capacity :] for k, v in rows.items()}
            n = self.capacity
        index = (self._next + torch.arange(n)) % self.capacity
        for key, field in self.data.items():
            field[index] = rows[key].to(field.dtype).reshape(n, *field.shape[1:])
        self._next = (self._next + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, rows: int, rng: np.random.Generator) -> Batch:
        """``rows`` uniform draws with replacement ``(rows, ·)``."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty buffer")
        index = torch.from_numpy(rng.integers(0, self.size, size=rows))
        return {k: v[index] for k, v in self.data.items()}

    def all(self) -> Batch:
        """Every stored row ``(size, ·)`` (views, in storage order)."""
        return {k: v[: self.size] for k, v in self.data.items()}
