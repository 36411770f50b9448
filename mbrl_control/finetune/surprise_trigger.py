"""When the controller's windowed surprise asks finetune_node to retrain early, and which
segments it stores when it records only surprising data (issue 17). Pure logic: no rclpy, no
torch; times are seconds on one monotonic clock chosen by the caller.

Source: the controller's ``/diagnostics`` status ``mpc_controller: uncertainty`` (its values
``surprise``: windowed, nats per predicted dim, '' before the window has a transition, and
``uncertainty_level``: OK/WARN/ERROR). A reading is *live* until ``stale_after`` s (2 s, two
of the controller's diagnostics periods) pass without a new one; a stale or missing source
counts as not surprised.

Retrain early (``threshold`` > 0): the surprise is *above* when a live reading has
``surprise >= threshold``. The run of above readings starts at the first of them and goes on
while every reading is above and none comes more than ``stale_after`` s after the previous
one; :meth:`SurpriseTrigger.armed` once the run has lasted ``hold_s`` s. The caller starts a
retrain when armed and enough new transitions were recorded (``min_transitions``).

Record when surprised: a segment counts as surprising if, at some time while it was
recorded, the latest live reading had ``uncertainty_level`` WARN or ERROR or (``threshold`` >
0) ``surprise >= threshold``; :meth:`SurpriseTrigger.segment_verdict` says '' (store it) or
why not (``not_surprised``: live readings, none surprising; ``no_uncertainty_status``: no
live reading at all during the segment).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

UNCERTAINTY_STATUS = "mpc_controller: uncertainty"
"""The status name the controller publishes (fixed, whatever its node name or namespace)."""
STALE_AFTER_S = 2.0
RECORD_WHEN = ("always", "surprised")
SURPRISED_LEVELS = ("WARN", "ERROR")
NOT_SURPRISED, NO_STATUS = "not_surprised", "no_uncertainty_status"
"""Why a segment was not stored under ``record_when: surprised``."""


@dataclass(frozen=True)
class Reading:
    """One uncertainty status: windowed surprise (None: not known yet), level, receive time."""

    surprise: float | None
    level: str
    at: float


def reading_of(values: Mapping[str, str], at: float) -> Reading:
    """The reading in a status's key/value strings (a missing, empty or NaN surprise: None)."""
    try:
        surprise: float | None = float(values.get("surprise", ""))
    except ValueError:
        surprise = None
    if surprise is not None and math.isnan(surprise):
        surprise = None
    return Reading(surprise, str(values.get("uncertainty_level", "")).strip().upper(), float(at))


class SurpriseTrigger:
    """See the module docstring. ``threshold`` 0 = retrain on surprise off."""

    def __init__(
        self,
        threshold: float = 0.0,
        hold_s: float = 2.0,
        min_transitions: int = 200,
        stale_after: float = STALE_AFTER_S,
    ) -> None:
        self.threshold, self.hold_s, self.min_transitions = threshold, hold_s, min_transitions
        self.stale_after = stale_after
        self.last: Reading | None = None
        self._above_since: float | None = None
        self._surprised_in_segment = False  # a surprising live reading since the last verdict
        self._live_in_segment = False  # any live reading since the last verdict

    def configure(self, threshold: float, hold_s: float, min_transitions: int) -> None:
        """New parameters: a changed threshold restarts the run (it measured another bound)."""
        if threshold != self.threshold:
            self._above_since = None
        self.threshold, self.hold_s, self.min_transitions = threshold, hold_s, min_transitions

    # ---- readings ------------------------------------------------------------------------
    def above(self, reading: Reading | None) -> bool:
        """``reading``'s surprise is at or above the (enabled) threshold."""
        return (
            self.threshold > 0
            and reading is not None
            and reading.surprise is not None
            and reading.surprise >= self.threshold
        )

    def surprising(self, reading: Reading | None) -> bool:
        """The record rule: level WARN/ERROR, or above the threshold."""
        return reading is not None and (reading.level in SURPRISED_LEVELS or self.above(reading))

    def observe(self, reading: Reading) -> None:
        """A new status received at ``reading.at``."""
        continuing = self.live(reading.at) and self._above_since is not None
        if self.above(reading):
            self._above_since = self._above_since if continuing else reading.at
        else:
            self._above_since = None
        self.last = reading
        self._live_in_segment = True
        self._surprised_in_segment |= self.surprising(reading)

    def live(self, now: float) -> bool:
        return self.last is not None and now - self.last.at <= self.stale_after

    def source(self, now: float) -> str:
        """'none' (no status yet), 'live' or 'stale' (none for more than ``stale_after`` s)."""
        if self.last is None:
            return "none"
        return "live" if self.live(now) else "stale"

    def age(self, now: float) -> float | None:
        """Seconds since the latest status (None: none yet)."""
        return None if self.last is None else max(0.0, now - self.last.at)

    # ---- retrain early -------------------------------------------------------------------
    def held_s(self, now: float) -> float:
        """How long the surprise has stayed at or above the threshold (0: it is not now)."""
        if self._above_since is None or not self.live(now) or not self.above(self.last):
            return 0.0
        return max(0.0, now - self._above_since)

    def armed(self, now: float) -> bool:
        """The surprise has stayed at or above the threshold for ``hold_s`` s (and is now)."""
        return self.threshold > 0 and self.above(self.last) and self.held_s(now) >= self.hold_s

    def due(self, now: float, since_train: int, min_transitions: int | None = None) -> bool:
        """Armed, and at least ``min_transitions`` (default: the parameter) new transitions."""
        need = self.min_transitions if min_transitions is None else min_transitions
        return self.armed(now) and since_train >= need

    # ---- record when surprised -----------------------------------------------------------
    def segment_verdict(self, now: float) -> str:
        """'' if the segment ending at ``now`` is to be stored, else why not; starts the next
        segment (carrying the latest reading while it stays live)."""
        live_now = self.live(now)
        surprised = self._surprised_in_segment or (live_now and self.surprising(self.last))
        live = self._live_in_segment or live_now
        self._live_in_segment = live_now
        self._surprised_in_segment = live_now and self.surprising(self.last)
        if surprised:
            return ""
        return NOT_SURPRISED if live else NO_STATUS
