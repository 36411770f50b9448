"""Pair JointState and command messages into transitions at the control rate.

A transition is ``(obs_t, action_t, obs_t+1)`` where ``action_t`` is the latest command
received before state ``t+1`` arrived (a forward-command robot holds its last command).
Segments end at a gap (no state for ``gap_factor`` control periods, a stale command, or a bad
state); a finished segment is handed to ``on_segment`` for crash-safe storage. Out-of-order
states (header stamp not newer than the previous) are dropped. No rclpy here: the node passes
message fields and receive times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mbrl_control.tasks import BadJointState, Task

Segment = tuple[np.ndarray, np.ndarray]
"""``(obs (T+1, O), action (T, A))`` float32."""


@dataclass
class RecorderStats:
    states: int = 0
    transitions: int = 0
    """Transitions handed to ``on_segment`` (stored)."""
    segments: int = 0
    gaps: int = 0
    dropped_out_of_order: int = 0
    bad_states: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class TransitionRecorder:
    """Turns a stream of states and commands into segments (see module docstring).

    Args:
        task: the task (obs mapping, action size).
        on_segment: called with each finished segment of at least ``min_length`` steps.
        gap_factor: a state interval above ``gap_factor × period`` ends the segment.
        max_length: segments are cut at this many transitions (one stored episode each).
    """

    def __init__(
        self,
        task: Task,
        on_segment: Callable[[Segment], None],
        *,
        gap_factor: float = 2.5,
        max_length: int = 200,
        min_length: int = 2,
    ) -> None:
        self.task, self.on_segment = task, on_segment
        self.max_gap = gap_factor * task.dt
        self.max_length, self.min_length = max_length, min_length
        self.stats = RecorderStats()
        self._obs: list[np.ndarray] = []
        self._act: list[np.ndarray] = []
        self._last_state_time: float | None = None
        self._last_stamp: float | None = None
        self._command: np.ndarray | None = None
        self._command_time: float | None = None

    def on_command(self, data: Sequence[float], now: float) -> None:
        cmd = np.asarray(data, np.float32)
        if cmd.shape == (self.task.act_dim,) and np.all(np.isfinite(cmd)):
            self._command, self._command_time = cmd, now

    def on_state(
        self,
        names: Sequence[str],
        position: Sequence[float],
        velocity: Sequence[float],
        stamp: float,
        now: float,
    ) -> None:
        """One JointState: ``stamp`` from its header (s; 0 if unstamped), ``now`` its receive
        time (s). A stamp older than the last one, or a repeated non-zero stamp, is dropped."""
        last = self._last_stamp
        if last is not None and (stamp < last or stamp == last > 0.0):  # 0 = unstamped
            self.stats.dropped_out_of_order += 1
            return
        self.stats.states += 1
        try:
            obs = self.task.obs_from_joint_state(names, position, velocity)
        except BadJointState:
            self.stats.bad_states += 1
            self._break("bad_state")
            return
        interval = None if self._last_state_time is None else now - self._last_state_time
        self._last_stamp, self._last_state_time = stamp, now
        cmd_fresh = self._command_time is not None and now - self._command_time <= self.max_gap
        broken = None
        if interval is not None and interval > self.max_gap:
            broken = "state_gap"
        elif not cmd_fresh:
            broken = "stale_command"
        if broken:
            self._break(broken)
        if self._obs:  # invariant: len(_obs) == len(_act) + 1 inside a segment
            self._act.append(self._command.copy())
        self._obs.append(obs)
        if len(self._act) >= self.max_length:
            self._end_segment("max_length", keep_last=True)

    def flush(self) -> None:
        """End the current segment (e.g. at shutdown)."""
        self._end_segment("flush")

    def _break(self, reason: str) -> None:
        """The stream broke: store the segment if it has transitions, else just restart."""
        if self._act:
            self._end_segment(reason)
        else:
            self._obs = []

    def _end_segment(self, reason: str, keep_last: bool = False) -> None:
        if reason not in ("max_length", "flush"):
            self.stats.gaps += 1
        self.stats.reasons[reason] = self.stats.reasons.get(reason, 0) + 1
        if len(self._act) >= self.min_length:
            self.on_segment((np.stack(self._obs), np.stack(self._act)))
            self.stats.segments += 1
            self.stats.transitions += len(self._act)
        last = self._obs[-1:] if keep_last else []
        self._obs, self._act = last, []
