"""A rolling window of latencies with median and p99, for diagnostics."""

from __future__ import annotations

from collections import deque

import numpy as np


class LatencyWindow:
    """The last ``size`` latencies (seconds); ``summary()`` gives last/p50/p99 in ms."""

    def __init__(self, size: int = 500) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self._values.append(seconds)

    def summary(self) -> dict[str, float]:
        if not self._values:
            return {"last_ms": float("nan"), "p50_ms": float("nan"), "p99_ms": float("nan")}
        v = np.fromiter(self._values, float) * 1e3
        return {
            "last_ms": float(v[-1]),
            "p50_ms": float(np.percentile(v, 50)),
            "p99_ms": float(np.percentile(v, 99)),
        }
