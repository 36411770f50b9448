"""Action limits and rate limits applied after the planner."""

from __future__ import annotations

import numpy as np


class ActionFilter:
    """Clip actions ``(A,)`` to ``[low, high]`` and limit their change per control period.

    ``max_rate`` is in action units per second (``inf`` or ``<= 0`` disables the rate limit);
    ``dt`` is the control period in seconds. ``reset(action)`` sets the rate limiter's
    reference (e.g. to the safe action after a fault).
    """

    def __init__(self, low: np.ndarray, high: np.ndarray, max_rate: float, dt: float) -> None:
        self.low = np.asarray(low, np.float64)
        self.high = np.asarray(high, np.float64)
        if self.low.shape != self.high.shape or np.any(self.low > self.high):
            raise ValueError(f"action limits: need low <= high, got {self.low} and {self.high}")
        self.max_step = max_rate * dt if max_rate > 0 else np.inf
        self._last: np.ndarray | None = None

    def reset(self, action: np.ndarray | None = None) -> None:
        self._last = None if action is None else np.asarray(action, np.float64)

    def __call__(self, action: np.ndarray) -> np.ndarray:
        out = np.clip(np.asarray(action, np.float64), self.low, self.high)
        if self._last is not None and np.isfinite(self.max_step):
            out = np.clip(out, self._last - self.max_step, self._last + self.max_step)
        self._last = out
        return out
