"""Per-reason throttling of log lines that can repeat every message or control tick.

rclpy's ``throttle_duration_sec`` throttles a call site: one reason (a joint out of range)
hides another (a second joint's velocity) for the period, and what was dropped is not said.
:class:`LogThrottle` keeps one period per *reason*, the message with its numbers replaced
(``joint 'elbow' position -2.004 outside ...`` and ``... -2.011 ...`` are one reason), and the
next line logged for a reason says how many were suppressed since the last::

    bad joint state: joint 'elbow' position -2.004 outside its physical range [-2, 2]
    (17 more like this suppressed in the last 1.0 s)

The clock is the steady (wall) clock: a paused simulator's /clock does not stop it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

# a number not inside a word ("panda_joint4", "planner_a.onnx" stay), or inf/nan
_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf|nan)(?![\w.])", re.IGNORECASE
)
MAX_REASONS = 256  # reasons kept at once; beyond, the oldest are forgotten


def reason_key(message: str) -> str:
    """``message`` with each number replaced by ``#`` (what is throttled together)."""
    return _NUMBER.sub("#", message)


class LogThrottle:
    """``throttle(message)`` returns the line to log now (with the suppressed count of its
    reason appended when there was any), or ``None`` when the reason was logged less than
    ``period`` seconds ago. Thread-safe; one instance per call site."""

    def __init__(self, period: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.period = float(period)
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, list[float]] = {}  # reason -> [time logged, suppressed since]

    def __call__(self, message: str) -> str | None:
        key = reason_key(message)
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.period:
                seen[1] += 1
                return None
            if seen is None and len(self._seen) >= MAX_REASONS:
                del self._seen[min(self._seen, key=lambda k: self._seen[k][0])]
            self._seen[key] = [now, 0]
        if seen is not None and seen[1]:
            message += (
                f" ({int(seen[1])} more like this suppressed in the last {now - seen[0]:.1f} s)"
            )
        return message
