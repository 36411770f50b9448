"""Live recording: JointState, command and reset messages into stored segments.

A thin guard around the one segmentation rule (:mod:`mbrl_control.data.segments`, which
states it: control grid, 1.5-period gap tolerance, impossible jumps, resets, command
pairing). What the recorder adds for a live node:

- ``now`` is the node's clock in seconds (its ROS clock: it follows ``/clock`` under
  ``use_sim_time`` and may start at 0). A state or reset stamped more than
  ``max_stamp_offset`` seconds from ``now`` is rejected (``stamp_far_from_clock``), never
  adopted: one state stamped a million seconds ahead cannot make later states look old.
- Commands are placed on the states' stamp axis by their receive time ``now``
  (:class:`~mbrl_control.data.segments.CommandClock`).
- For a task with the ``last_actions`` observation block the rule fills it from the recorded
  commands and drops the first k states of each unbroken stretch (their earlier commands were
  not recorded; ``stats.history_transitions``), exactly as the importers do.
- No message can stop recording: every input is validated in the stored dtype (float32,
  by the shared :class:`JointStateMerge`), every failure — including an exception from
  ``on_segment`` (the store) — is counted per reason in :attr:`TransitionRecorder.stats`
  and never raised. :meth:`TransitionRecorder.check` tells the node when to WARN.

No rclpy here: the node passes message fields and its clock time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mbrl_control.data.segments import GAP_FACTOR, Segment, Segmenter, SegmentStats
from mbrl_control.tasks import Task

RecorderSegment = tuple[np.ndarray, np.ndarray]
"""``(obs (T+1, O), action (T, A))`` float32, as handed to ``on_segment``."""
RecorderStats = SegmentStats


class TransitionRecorder:
    """Turns a live stream of states, commands and resets into stored segments.

    Args:
        task: the task (obs mapping, action size, joint limits, control period).
        on_segment: called with ``(obs, action)`` of each finished segment of at least
            ``min_length`` transitions (e.g. the store's append).
        gap_factor: jitter tolerance of the segmentation rule (a step longer than this many
            control periods splits).
        max_length: segments are cut at this many transitions (one stored episode each).
        min_length: shorter segments are discarded (counted).
        max_stamp_offset: largest allowed ``|stamp - now|`` (s) of a state or reset.
    """

    def __init__(
        self,
        task: Task,
        on_segment: Callable[[RecorderSegment], None],
        *,
        gap_factor: float = GAP_FACTOR,
        max_length: int = 200,
        min_length: int = 2,
        max_stamp_offset: float = 2.0,
    ) -> None:
        if not max_stamp_offset > 0:
            raise ValueError(f"max_stamp_offset must be > 0 s, got {max_stamp_offset}")
        self.task = task
        self._store = on_segment
        self.max_stamp_offset = float(max_stamp_offset)
        self.segmenter = Segmenter(
            task,
            self._on_segment,
            gap_factor=gap_factor,
            max_length=max_length,
            min_length=min_length,
        )
        self.last_error = ""
        """The latest failure text (store error or unexpected exception), for diagnostics."""
        self._checked = (0, 0)  # (states, dropped states) at the last :meth:`check`

    @property
    def stats(self) -> SegmentStats:
        """Counts per reason (see :class:`SegmentStats`); ``stats.as_dict()`` is JSON-ready."""
        return self.segmenter.stats

    # ---- inputs (never raise) ---------------------------------------------------------------
    def on_state(
        self,
        names: Sequence[str],
        position: Sequence[float],
        velocity: Sequence[float],
        stamp: float,
        now: float,
    ) -> str | None:
        """One JointState with header ``stamp`` (s), received at ``now`` (s, node clock).

        Returns the drop reason, or ``None`` when the state was used."""
        try:
            if not self._near_clock(stamp, now, "JointState"):
                self.stats.states += 1
                return "stamp_far_from_clock"
            return self.segmenter.state(names, position, velocity, float(stamp), received=now)
        except Exception as err:
            return self._failed("state_error", err)

    def on_command(self, data: Sequence[float], now: float) -> str | None:
        """One ``Float64MultiArray.data`` received at ``now`` (s, node clock)."""
        try:
            return self.segmenter.command(data, received=float(now))
        except Exception as err:
            return self._failed("command_error", err)

    def on_reset(self, stamp: float, now: float | None = None) -> str | None:
        """The simulator's ``episode_start``: ends the segment (reason ``reset``).

        ``stamp`` = the new episode's first state (s). With ``now``, a stamp more than
        ``max_stamp_offset`` in the future is not adopted (it would hold back every state until
        then): the segment ends at once instead. Past stamps are fine (``episode_start`` is
        transient-local: a recorder that joins late hears when the current episode began).
        """
        try:
            if now is not None and not self._near_clock(stamp, now, "episode_start", past_ok=True):
                self.segmenter.flush("reset")
                return "stamp_far_from_clock"
            self.segmenter.reset(float(stamp))
            return None
        except Exception as err:
            return self._failed("reset_error", err)

    def flush(self) -> None:
        """End the current segment (e.g. at shutdown)."""
        try:
            self.segmenter.flush("flush")
        except Exception as err:
            self._failed("flush_error", err)

    # ---- health -----------------------------------------------------------------------------
    def check(self, max_drop_fraction: float = 0.1) -> str | None:
        """A WARN text if more than ``max_drop_fraction`` of the JointStates received since
        the previous call were dropped (naming the main reasons), else ``None``."""
        s = self.stats
        dropped = sum(v for k, v in s.dropped.items() if k not in _NOT_STATES)
        states0, dropped0 = self._checked
        self._checked = (s.states, dropped)
        n, d = s.states - states0, dropped - dropped0
        if n <= 0 or d <= max_drop_fraction * n:
            return None
        top = sorted(((v, k) for k, v in s.dropped.items() if k not in _NOT_STATES), reverse=True)[
            :2
        ]
        why = "; ".join(f"{k} (total {v}): {s.examples.get(k, '')}" for v, k in top)
        return f"dropped {d} of {n} joint states since the last check: {why}"

    # ---- internals --------------------------------------------------------------------------
    def _near_clock(self, stamp: float, now: float, what: str, past_ok: bool = False) -> bool:
        off = float(stamp) - float(now)
        if np.isfinite(off) and (off if past_ok else abs(off)) <= self.max_stamp_offset:
            return True
        self.stats.drop(
            "stamp_far_from_clock",
            f"{what} stamped {float(stamp):.6f} s is {off:+.3f} s from the clock {float(now):.6f}"
            f" (allowed ±{self.max_stamp_offset:g} s; check use_sim_time)",
        )
        return False

    def _on_segment(self, seg: Segment) -> None:
        try:
            self._store((seg.obs, seg.action))
        except Exception as err:
            self._failed("store_failed", err, n=len(seg.action))

    def _failed(self, reason: str, err: Exception, n: int = 1) -> str:
        self.last_error = f"{reason}: {type(err).__name__}: {err}"
        self.stats.drop(reason, self.last_error, n)
        return reason


_NOT_STATES = frozenset(
    {"bad_command", "command_error", "reset_error", "flush_error", "store_failed", "reset"}
)
"""Drop reasons that do not count JointState messages."""
