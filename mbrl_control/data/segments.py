"""The one segmentation rule: how a stream of robot states and commands becomes transitions.

Used by the live recorder (``finetune_node``) and by every importer (rosbag2 bags; any later
CSV import), so they agree on what a transition is and where a recording breaks.

**Time axis.** States are placed at their header stamps ``t`` (s). Commands
(``Float64MultiArray``) have no header: :class:`CommandClock` places a command received at
``r`` at ``t_i + (r - r_i)``, where ``(t_i, r_i)`` are the stamp and receive time of the
last state received before it (the offset between the two clocks is taken from the states
themselves, so header stamps in sim time or from the epoch and receive/log times in wall time
mix correctly, even if they drift), and never later than the stamp of the next state received
after it (received before a state = in effect at that state). Commands received before any
state are placed at the first state's stamp.

**The rule** (``T`` = the task's control period, jitter tolerance ``gap_factor = 1.5``):

- *merge*: JointState messages are merged per joint by :class:`JointStateMerge` (several
  publishers with some joints each); a message that fails its validation is dropped
  (``bad_state``); a state exists once every task joint has a value at most ``1.5 T`` old
  (else ``incomplete``).
- *order*: a message carrying a joint at a stamp older than that joint's latest is dropped
  (``out_of_order``); the same stamp with the same values is a ``duplicate``.
- *grid*: a segment starts at a state (time ``t0``) and holds states at ``t0 + k T``, each
  linearly interpolated between the two merged states around it (continuous joints — no
  position limits — along the shorter arc). States faster than the control rate are thus
  resampled onto the control grid, never dropped at random. A grid state is never
  extrapolated: the merged states after a segment's last grid state (less than one period of
  motion before a gap, jump, reset or the end of the input — with a jittered clock an episode
  of N steps may span less than N periods and keep N - 1 transitions) end no transition and
  are counted as dropped (``partial_period``).
- *gap*: two consecutive merged states more than ``1.5 T`` apart end the segment (one missing
  state at the control rate is a ``2 T`` gap: it splits, never one long transition).
- *jump*: a joint moving farther than physically possible ends the segment and the new one
  starts at the new state: ``|Δp| > 1.5 · v_max · Δt + 1e-6`` with the task's velocity limit
  ``v_max`` (equal stamps with different positions always are a jump: a simulator reset
  publishes the terminal and the reset state with the same stamp).
- *reset*: :meth:`Segmenter.reset` (the simulator's ``episode_start``, stamp = the new
  episode's first state) ends the segment at its last merged state stamped *before* the reset,
  even when the reset message arrives after the new episode's first states; later states older
  than the reset are dropped (``before_reset``). A terminal state stamped like the reset state
  (equal stamps) is thus dropped with it: the jump rule keeps it when no reset message comes.
- *action*: transition ``k`` (``g_k -> g_k+1``) takes the latest command placed at or before
  (exactly, no tolerance) the stamp of the merged state that grid state ``g_k+1`` stands for:
  the nearer of the two merged states it is interpolated between (the later one at equal
  distance) — a forward-command robot holds its last command. A command answers the state
  it was computed from, so it comes after that state (planning latency > 0; a recording must
  place it so: :mod:`mbrl_control.recording.episode_recorder`) and before the next one;
  looking it up at the state ``g_k+1`` stands for, not at ``g_k+1`` itself, keeps it out of
  transition ``k`` even when a jittered clock has drifted the grid past that state by more
  than the latency. A command placed at that state's very stamp (received just before it,
  capped by :class:`CommandClock`) was in effect during transition ``k``: it is taken. No
  command yet, or one older than ``1.5 T`` at ``g_k+1`` (measured from the grid time), ends
  the segment (``no_command`` / ``stale_command``) and the next segment starts at ``g_k+1``.
- *history*: for a task whose observation ends with the ``last_actions`` block (k past
  commands, :mod:`mbrl_control.tasks.action_history`), each finished segment's block is filled
  from its own commands (:func:`~mbrl_control.tasks.action_history.with_history`) and its
  first k states, whose earlier commands were not recorded, are dropped with their
  transitions (``history_transitions``). A segment cut at ``max_length`` is continued by the
  next one (it starts at its last state): the next one takes its history from the commands
  already seen and loses nothing. Nothing changes when k = 0.
- a segment with fewer than ``min_length`` transitions (after the history drop) is discarded
  (counted; ``history_discarded`` when only the history drop made it too short).

No rclpy, no I/O: callers pass message fields and times in seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from mbrl_control.data.joint_state_merge import BadJointState, JointStateMerge, StaleJoint
from mbrl_control.tasks.action_history import with_history

if TYPE_CHECKING:
    from mbrl_control.tasks.base import Task

GAP_FACTOR = 1.5
"""A step longer than this many control periods splits a segment (the jitter tolerance)."""
JUMP_EPS = 1e-6
"""Position change (m or rad) tolerated at equal stamps (float noise)."""
_MAX_RAW = 1024
"""Merged-state times remembered per segment (to cut it at a late reset)."""
_MAX_PENDING = 256
"""Commands kept while no state arrives to use them (the oldest are forgotten)."""


@dataclass
class Segment:
    """One unbroken stretch on the control grid.

    obs ``(T+1, O)`` and action ``(T, A)`` float32 (the ``last_actions`` block of obs, if
    the task has one, filled from the commands: module docstring); ``t_start``/``t_end``
    (s, the states' time axis) of its first and last state; ``reason`` why it ended.
    """

    obs: np.ndarray
    action: np.ndarray
    t_start: float
    t_end: float
    reason: str


@dataclass
class SegmentStats:
    """What happened to a stream, per reason (JSON-ready via :meth:`as_dict`).

    ``dropped``: messages (states, commands, resets) not used, per reason; ``breaks``: segment
    ends per reason (only segments that had transitions); ``discarded_transitions``:
    transitions in segments shorter than ``min_length``; ``history_transitions``: transitions
    dropped at segment starts because their state's ``last_actions`` block holds commands
    from before the segment (the first k of each segment; 0 without that block);
    ``history_discarded``: segments discarded only because that drop left them shorter than
    ``min_length`` (their remaining transitions are in ``discarded_transitions``);
    ``examples``: the first message text per drop reason (e.g. which joint was bad).
    """

    states: int = 0
    commands: int = 0
    grid_states: int = 0
    transitions: int = 0
    segments: int = 0
    discarded_transitions: int = 0
    history_transitions: int = 0
    history_discarded: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    breaks: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    """States dropped as ``bad_state``, per :attr:`BadJointState.kind` (``non_finite``, ...)."""
    refused_examples: dict[str, str] = field(default_factory=dict)
    """The first refusal message per kind."""

    def refuse(self, err: BadJointState, n: int = 1) -> str:
        """Count ``n`` states refused by the JointState rules as ``bad_state`` (by kind)."""
        self.refused[err.kind] = self.refused.get(err.kind, 0) + n
        self.refused_examples.setdefault(err.kind, str(err))
        return self.drop("bad_state", str(err), n)

    def drop(self, reason: str, detail: str = "", n: int = 1) -> str:
        self.dropped[reason] = self.dropped.get(reason, 0) + n
        if detail and reason not in self.examples:
            self.examples[reason] = detail
        return reason

    @property
    def gaps(self) -> int:
        """Segment ends other than by length or end of input."""
        return sum(v for k, v in self.breaks.items() if k not in ("max_length", "end", "flush"))

    @property
    def dropped_out_of_order(self) -> int:
        return self.dropped.get("out_of_order", 0)

    @property
    def bad_states(self) -> int:
        return self.dropped.get("bad_state", 0)

    def as_dict(self) -> dict:
        return {
            "states": self.states,
            "commands": self.commands,
            "grid_states": self.grid_states,
            "transitions": self.transitions,
            "segments": self.segments,
            "discarded_transitions": self.discarded_transitions,
            "history_transitions": self.history_transitions,
            "history_discarded": self.history_discarded,
            "dropped": dict(self.dropped),
            "breaks": dict(self.breaks),
            "examples": dict(self.examples),
            "refused": dict(self.refused),
            "refused_examples": dict(self.refused_examples),
        }

    def history_text(self, unit: str = "segment") -> str:
        """What the ``last_actions`` block cost: ``transitions before a known action history
        (the first states of each segment): N[, M segments shorter than the action history]``."""
        text = (
            f"transitions before a known action history (the first states of each {unit}): "
            f"{self.history_transitions}"
        )
        if self.history_discarded:
            plural = "" if self.history_discarded == 1 else "s"
            text += f", {self.history_discarded} {unit}{plural} shorter than the action history"
        return text

    def describe(self, unit: str = "segment") -> str:
        """One line: what was kept (``unit``: what a kept segment is called) and why the rest
        was not."""

        def fmt(d: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"

        plural = "" if self.segments == 1 else "s"
        line = (
            f"kept {self.transitions} transitions in {self.segments} {unit}{plural} from "
            f"{self.states} joint states and {self.commands} commands; segment breaks: "
            f"{fmt(self.breaks)}; dropped messages: {fmt(self.dropped)}; transitions in too "
            f"short segments: {self.discarded_transitions}"
        )
        if self.history_transitions:
            line += "; " + self.history_text(unit)
        if not self.transitions and self.examples:  # nothing kept: say what was wrong
            line += "; e.g. " + "; ".join(f"{k}: {v}" for k, v in sorted(self.examples.items()))
        return line


class CommandClock:
    """Places header-less messages on the states' stamp axis (module docstring).

    :meth:`place` returns a one-element list whose value is final after the next
    :meth:`state` (it may be capped then; ``None`` until a first state arrives).
    """

    def __init__(self) -> None:
        self._stamp: float | None = None
        self._received: float | None = None
        self._open: list[list[float | None]] = []

    def state(self, stamp: float, received: float) -> None:
        """A state stamped ``stamp`` was received at ``received`` (both s)."""
        cap = stamp if self._stamp is None else max(stamp, self._stamp)
        for cell in self._open:
            cell[0] = cap if cell[0] is None else min(cell[0], cap)
        self._open.clear()
        self._stamp, self._received = stamp, received

    def place(self, received: float) -> list[float | None]:
        """A cell holding the axis time (s) of a message received at ``received``."""
        if self._stamp is None:
            cell: list[float | None] = [None]
        else:
            cell = [self._stamp + (received - self._received)]
        self._open.append(cell)
        return cell


class Segmenter:
    """Turns merged states, commands and resets into :class:`Segment` s (module docstring).

    Feed it in arrival order (live) or sorted by axis time (import); both give the same
    segments. Methods never raise on bad messages: they count them in :attr:`stats` and
    return the drop reason (``None`` = used).

    Args:
        task: obs mapping, joint names and physical limits, control period.
        on_segment: called with each finished segment of at least ``min_length`` transitions.
        gap_factor: the jitter tolerance (a step longer than ``gap_factor`` periods splits).
        max_length: a segment is cut at this many transitions; the next one starts at its
            last state (``None`` = no limit).
        min_length: shorter segments are discarded (counted in ``discarded_transitions``).
    """

    def __init__(
        self,
        task: Task,
        on_segment: Callable[[Segment], None],
        *,
        gap_factor: float = GAP_FACTOR,
        max_length: int | None = None,
        min_length: int = 1,
    ) -> None:
        if gap_factor <= 1.0:
            raise ValueError(f"gap_factor must be > 1 control period, got {gap_factor}")
        self.task, self.on_segment = task, on_segment
        self.period = task.dt
        self.max_gap = gap_factor * task.dt
        self.max_length, self.min_length = max_length, max(1, min_length)
        self.merge = JointStateMerge.for_task(task)
        low, high, self.vel_limit = task.joint_ranges
        self.continuous = np.isinf(low) & np.isinf(high)
        self.clock = CommandClock()
        self.stats = SegmentStats()
        self._eps = 1e-3 * task.dt  # time comparisons on the grid (s)
        self._cmds: list[tuple[list[float | None], np.ndarray]] = []
        self._reset_at = -np.inf
        self.history = int(getattr(task, "action_history", 0) or 0)
        self._before = np.zeros((0, task.act_dim), np.float32)
        """Commands known before the current segment's first state (oldest first, at most k):
        those of the segment it continues after a ``max_length`` cut, else none."""
        self._new_segment()
        self._last: tuple[float, np.ndarray, np.ndarray] | None = None

    # ---- inputs -----------------------------------------------------------------------
    def command(
        self, data: Sequence[float], *, t: float | None = None, received: float | None = None
    ) -> str | None:
        """One command: at axis time ``t`` (import), or received at ``received`` (live, placed
        by :class:`CommandClock`)."""
        self.stats.commands += 1
        try:
            cmd = np.asarray(data, np.float64).reshape(-1)
        except (TypeError, ValueError) as err:
            return self.stats.drop("bad_command", f"command is not a number array: {err}")
        if cmd.shape != (self.task.act_dim,):
            return self.stats.drop(
                "bad_command",
                f"command has {cmd.size} values; task {self.task.name} expects "
                f"{self.task.act_dim} ({list(self.task.command_joints)})",
            )
        if not np.all(np.isfinite(cmd.astype(np.float32))):
            return self.stats.drop("bad_command", f"non-finite (as float32) command {cmd.tolist()}")
        cell = [t] if received is None else self.clock.place(received)
        self._cmds.append((cell, cmd.astype(np.float32)))
        if len(self._cmds) > _MAX_PENDING:  # no state consumed them (e.g. states rejected)
            del self._cmds[: len(self._cmds) - _MAX_PENDING]
        return None

    def state(
        self,
        names: Sequence[str],
        position: Sequence[float],
        velocity: Sequence[float],
        t: float,
        *,
        received: float | None = None,
    ) -> str | None:
        """One JointState stamped ``t`` (s); ``received`` its receive time (live only)."""
        self.stats.states += 1
        try:
            idx, pos, vel = self.merge.parse(names, position, velocity)
        except BadJointState as err:
            return self.stats.refuse(err)
        except (TypeError, ValueError) as err:
            return self.stats.drop("bad_state", f"unreadable JointState: {err}")
        if not len(idx):
            return self.stats.drop("no_task_joints", f"none of {list(self.task.joint_names)}")
        if t < self._reset_at:
            return self.stats.drop("before_reset", f"stamp {t:.6f} before reset {self._reset_at}")
        prev_t = self.merge.time[idx]
        if np.any(t < prev_t):
            return self.stats.drop("out_of_order", f"stamp {t:.6f} older than {prev_t.max():.6f}")
        prev_p = self.merge.position[idx]
        if (
            np.all(t == prev_t)
            and np.array_equal(pos, prev_p)
            and np.array_equal(vel, self.merge.velocity[idx])
        ):
            return self.stats.drop("duplicate", f"stamp {t:.6f} repeated with the same values")
        jumped = self._jump(idx, prev_t, prev_p, pos, t)
        self.merge.position[idx], self.merge.velocity[idx], self.merge.time[idx] = pos, vel, t
        if received is not None:
            self.clock.state(t, received)
        if jumped:
            self._end("jump")
            self._last = None
            self.stats.examples.setdefault("jump", jumped)
        try:
            p, v, _ = self.merge.latest(now=t, max_age=self.max_gap)
        except StaleJoint as err:
            return self.stats.drop("incomplete", str(err))
        self._on_merged(t, p, v)
        return None

    def reset(self, t: float) -> None:
        """The robot was reset; its new episode's first state is stamped ``t`` (s).

        The segment keeps only grid states up to the last merged state stamped before ``t``
        (a reset announced late never leaves a transition into, or interpolated across, the
        new episode's first state); a segment that already starts at or after ``t`` (split by
        the jump rule) is left as it is.
        """
        if self._obs and self._t0 >= t - self._eps:
            self._before = self._before[:0]  # commands from before the reset: not its history
            return
        cutoff = np.inf
        if self._obs:
            before = [r for r in self._raw if r < t - self._eps]
            cutoff = before[-1] if before else -np.inf
            keep = sum(1 for k in range(len(self._obs)) if self._grid(k) <= cutoff + self._eps)
            if keep < len(self._obs):
                self.stats.drop("reset", "grid states at or after a reset", len(self._obs) - keep)
                self._obs, self._act = self._obs[:keep], self._act[: max(0, keep - 1)]
        self._end("reset", until=cutoff)
        self._last = None
        self._reset_at = t
        self.merge.reset()

    def _grid(self, k: int) -> float:
        """Time (s) of grid state ``k`` of the current segment."""
        return self._t0 + k * self.period

    def flush(self, reason: str = "end") -> None:
        """End the current segment (end of a bag, shutdown)."""
        self._end(reason)
        self._last = None

    # ---- the rule -----------------------------------------------------------------------
    def _jump(
        self, idx: np.ndarray, prev_t: np.ndarray, prev_p: np.ndarray, pos: np.ndarray, t: float
    ) -> str:
        """A description of the first physically impossible joint move, or ''."""
        known = np.isfinite(prev_t)
        if not known.any():
            return ""
        dp = np.abs(self._delta(idx, prev_p, pos))
        dt = t - prev_t
        vmax = self.vel_limit[idx]
        reach = np.where(dt > 0, GAP_FACTOR * vmax * np.where(dt > 0, dt, 1.0), 0.0)
        bad = known & (dp > reach + JUMP_EPS)
        if not bad.any():
            return ""
        k = int(np.flatnonzero(bad)[0])
        name = self.task.joint_names[idx[k]]
        return f"joint {name!r} moved {dp[k]:.4g} in {dt[k]:.4g} s at t={t:.6f}"

    def _delta(self, idx: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
        """``p1 - p0`` per joint, along the shorter arc for continuous joints."""
        d = p1 - p0
        wrap = self.continuous[idx]
        d[wrap] = (d[wrap] + np.pi) % (2 * np.pi) - np.pi
        return d

    def _on_merged(self, t: float, pos: np.ndarray, vel: np.ndarray) -> None:
        if self._last is not None and t - self._last[0] > self.max_gap:
            self._end("gap")
            self._last = None
        if self._last is None:
            self._start(t, pos, vel)
            return
        t_prev, p_prev, v_prev = self._last
        span = t - t_prev
        all_idx = np.arange(len(pos))
        step = self._delta(all_idx, p_prev, pos)
        while True:
            g = self._t0 + len(self._obs) * self.period
            if g > t + self._eps:
                break
            frac = 1.0 if span <= 0 else min(1.0, max(0.0, (g - t_prev) / span))
            p, v = p_prev + frac * step, v_prev + frac * (vel - v_prev)
            obs = self.task.obs_from_joints(p, v)
            self.stats.grid_states += 1
            action, why = self._action_at(g, t if frac >= 0.5 else t_prev)
            if action is None:
                self._end(why, idle=why)
                self._start(g, p, v, obs)
                continue
            self._obs.append(obs)
            self._act.append(action)
            if self.max_length is not None and len(self._act) >= self.max_length:
                self._end("max_length")
                self._start(g, p, v, obs)
        if span <= 0 and abs(self._t0 + (len(self._obs) - 1) * self.period - t) <= self._eps:
            self._obs[-1] = self.task.obs_from_joints(pos, vel)  # same stamp, more joints
        self._last = (t, pos, vel)
        self._raw.append(t)

    def _action_at(self, g: float, at: float) -> tuple[np.ndarray | None, str]:
        """The latest command placed at or before ``at`` (the stamp of the merged state grid
        state ``g`` stands for) and not stale at ``g``; else (None, why)."""
        best = None
        for cell, cmd in self._cmds:
            tc = cell[0]
            if tc is not None and tc <= at and (best is None or tc >= best[0]):
                best = (tc, cmd)
        # forget commands superseded before g (keep the one in effect and later ones)
        if best is not None:
            self._cmds = [(c, a) for c, a in self._cmds if c[0] is None or c[0] >= best[0]]
        if best is None:
            return None, "no_command"
        if g - best[0] > self.max_gap:
            return None, "stale_command"
        return best[1], ""

    def _start(
        self, t: float, pos: np.ndarray, vel: np.ndarray, obs: np.ndarray | None = None
    ) -> None:
        self._new_segment()
        self._t0 = t
        if obs is None:
            obs = self.task.obs_from_joints(pos, vel)
            self.stats.grid_states += 1
        self._obs = [obs]
        self._last = (t, pos, vel)
        self._raw = deque([t], maxlen=_MAX_RAW)

    def _new_segment(self) -> None:
        self._obs: list[np.ndarray] = []
        self._act: list[np.ndarray] = []
        self._t0 = -np.inf
        self._raw: deque[float] = deque(maxlen=_MAX_RAW)  # merged-state times (s)

    def _drop_tail(self, reason: str, until: float) -> None:
        """Count the merged states stamped after the segment's last grid state (up to
        ``until``): less than a period of motion that ends no transition (``partial_period``)."""
        last = self._grid(len(self._obs) - 1)
        tail = sum(1 for r in self._raw if last + self._eps < r <= until)
        if tail:
            self.stats.drop(
                "partial_period",
                f"{tail} state(s) up to {max(r for r in self._raw if r <= until) - last:.4g} s "
                f"after the last grid state t={last:.6f} before a {reason}: less than a period",
                tail,
            )

    def _end(self, reason: str, idle: str = "", until: float = np.inf) -> None:
        """Store the current segment if long enough; count why it ended (and its states
        after the last grid state, up to ``until``: :meth:`_drop_tail`)."""
        n = len(self._act)
        if n:
            self.stats.breaks[reason] = self.stats.breaks.get(reason, 0) + 1
        elif idle and self._obs:
            self.stats.drop(idle, "a state with no command in effect")
        elif self._obs and reason in ("gap", "jump", "reset"):
            self.stats.drop("lone_state", f"a single state before a {reason} at t={self._t0:.6f}")
        if self._obs and not idle and reason != "max_length":  # else the next one continues
            self._drop_tail(reason, until)
        before = self._before
        lost = min(n, self.history - len(before)) if self.history else 0
        kept = n - lost
        self.stats.history_transitions += lost
        if n and kept >= self.min_length:
            obs, act = with_history(
                np.stack(self._obs), np.stack(self._act), self.history, before=before
            )
            seg = Segment(
                obs, act, self._t0 + lost * self.period, self._t0 + n * self.period, reason
            )
            self.stats.segments += 1
            self.stats.transitions += kept
            self.on_segment(seg)
        else:
            self.stats.discarded_transitions += kept
            if lost and n >= self.min_length:
                self.stats.history_discarded += 1
        if self.history and reason == "max_length" and n:  # the next segment continues this one
            seen = np.concatenate([before, np.stack(self._act)])
            self._before = seen[len(seen) - min(len(seen), self.history) :]
        else:
            self._before = self._before[:0]
        self._new_segment()


# ---- whole arrays ---------------------------------------------------------------------------
class _Irregular(Exception):
    """The vectorized path cannot reproduce the row-by-row result: use the row loop."""


def segment_rows(
    task: Task,
    t: np.ndarray,
    position: np.ndarray,
    velocity: np.ndarray,
    command: np.ndarray,
    command_t: np.ndarray,
    *,
    has_state: np.ndarray | None = None,
    has_command: np.ndarray | None = None,
    gap_factor: float = GAP_FACTOR,
    max_length: int | None = None,
    min_length: int = 1,
) -> tuple[list[Segment], SegmentStats]:
    """The rule on a table of rows, one :class:`Segmenter` call at a time (the reference).

    Row ``i`` feeds the complete state ``(t[i], position[i], velocity[i])`` of every task joint
    (if ``has_state[i]``), then the command ``command[i]`` placed at ``command_t[i]`` (if
    ``has_command[i]``); then :meth:`Segmenter.flush` ``("end")``.

    Args:
        t ``(N,)`` s; position, velocity ``(N, J)`` in ``task.joint_names`` order; command
        ``(N, A)``; command_t ``(N,)`` s; has_state, has_command ``(N,)`` bool (default all).
    Returns: the segments (at least ``min_length`` transitions each) and the stats.
    """
    n = len(t)
    has_state = np.ones(n, bool) if has_state is None else np.asarray(has_state, bool)
    has_command = np.ones(n, bool) if has_command is None else np.asarray(has_command, bool)
    out: list[Segment] = []
    seg = Segmenter(
        task, out.append, gap_factor=gap_factor, max_length=max_length, min_length=min_length
    )
    names = list(task.joint_names)
    for i in range(n):
        if has_state[i]:
            seg.state(names, position[i], velocity[i], float(t[i]))
        if has_command[i]:
            seg.command(command[i], t=float(command_t[i]))
    seg.flush("end")
    return out, seg.stats


def segment_arrays(
    task: Task,
    t: np.ndarray,
    position: np.ndarray,
    velocity: np.ndarray,
    command: np.ndarray,
    command_t: np.ndarray,
    *,
    has_state: np.ndarray | None = None,
    has_command: np.ndarray | None = None,
    gap_factor: float = GAP_FACTOR,
    max_length: int | None = None,
    min_length: int = 1,
) -> tuple[list[Segment], SegmentStats]:
    """:func:`segment_rows` vectorized: the same segments and stats, bit for bit, ~100x faster.

    Validation, ordering, jumps, gaps, the control grid, interpolation and the action lookup
    run on whole arrays (numpy); only the observation of each grid state is computed one at a
    time (``task.obs_from_joints``, so it is the very same function). Commands placed out of
    time order (a log whose time goes back) are looked up by time then feed order, as the
    Segmenter does. Inputs the vectorized path may not reproduce exactly — non-finite times,
    possibly more commands between two grid states than the Segmenter remembers
    (:data:`_MAX_PENDING`), time going back nearly everywhere — are segmented by
    :func:`segment_rows` instead (same arguments, same result). Same args and returns as
    :func:`segment_rows`.
    """
    args = (task, t, position, velocity, command, command_t)
    kw = dict(
        has_state=has_state,
        has_command=has_command,
        gap_factor=gap_factor,
        max_length=max_length,
        min_length=min_length,
    )
    try:
        return _segment_arrays(*args, **kw)
    except _Irregular:
        return segment_rows(*args, **kw)


def _segment_arrays(
    task: Task,
    t: np.ndarray,
    position: np.ndarray,
    velocity: np.ndarray,
    command: np.ndarray,
    command_t: np.ndarray,
    *,
    has_state: np.ndarray | None,
    has_command: np.ndarray | None,
    gap_factor: float,
    max_length: int | None,
    min_length: int,
) -> tuple[list[Segment], SegmentStats]:
    out: list[Segment] = []
    seg = Segmenter(
        task, out.append, gap_factor=gap_factor, max_length=max_length, min_length=min_length
    )
    stats = seg.stats
    n, n_j, n_a = len(t), len(task.joint_names), task.act_dim
    t = np.asarray(t, np.float64)
    pos = np.asarray(position, np.float64)
    vel = np.asarray(velocity, np.float64)
    cmd = np.asarray(command, np.float64)
    cmd_t = np.asarray(command_t, np.float64)
    if pos.shape != (n, n_j) or vel.shape != (n, n_j) or cmd.shape != (n, n_a):
        raise _Irregular
    has_state = np.ones(n, bool) if has_state is None else np.asarray(has_state, bool)
    has_command = np.ones(n, bool) if has_command is None else np.asarray(has_command, bool)

    # ---- commands: validity, then (row, time, value) of the usable ones -----------------
    crow = np.flatnonzero(has_command)
    stats.commands += len(crow)
    c_ok = np.isfinite(cmd[crow].astype(np.float32)).all(1)
    if not c_ok.all():
        bad = crow[~c_ok]
        stats.drop(
            "bad_command", f"non-finite (as float32) command {cmd[bad[0]].tolist()}", len(bad)
        )
    crow = crow[c_ok]
    tc = cmd_t[crow]
    if not np.isfinite(tc).all():
        raise _Irregular
    cval = cmd[crow].astype(np.float32)
    lookup = _CommandLookup(tc)

    # ---- states: the JointState rules, then order and duplicates ----------------------
    srow = np.flatnonzero(has_state)
    stats.states += len(srow)
    if not np.isfinite(t[srow]).all():
        raise _Irregular
    kinds = seg.merge.check_rows(pos[srow], vel[srow])
    names = list(task.joint_names)
    bad_rows = srow[kinds != ""]
    for kind in dict.fromkeys(kinds[kinds != ""]):
        first = bad_rows[kinds[kinds != ""] == kind]
        try:
            seg.merge.parse(names, pos[first[0]], vel[first[0]])
        except BadJointState as err:
            if err.kind != kind:
                raise AssertionError(f"check_rows says {kind}, parse says {err.kind}") from err
            stats.refuse(err, len(first))
        else:
            raise AssertionError(f"check_rows refuses row {first[0]}, parse accepts it")
    vrow = srow[kinds == ""]
    if not len(vrow):
        seg.flush("end")
        return out, stats
    tv = t[vrow]
    latest = np.concatenate([[-np.inf], np.maximum.accumulate(tv)[:-1]])
    ooo = tv < latest
    if ooo.any():
        k = int(np.flatnonzero(ooo)[0])
        stats.drop("out_of_order", f"stamp {tv[k]:.6f} older than {latest[k]:.6f}", int(ooo.sum()))
    idx = np.arange(len(vrow))
    last = np.maximum.accumulate(np.where(~ooo, idx, -1))
    prev = np.concatenate([[-1], last[:-1]])
    pr = vrow[np.maximum(prev, 0)]
    dup = (
        ~ooo
        & (prev >= 0)
        & (tv == t[pr])
        & (pos[vrow] == pos[pr]).all(1)
        & (vel[vrow] == vel[pr]).all(1)
    )
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        stats.drop("duplicate", f"stamp {tv[k]:.6f} repeated with the same values", int(dup.sum()))
    arow = vrow[~ooo & ~dup]  # the merged states, in order
    ta, pa, va = t[arow], pos[arow], vel[arow]
    m = len(arow)
    if not m:
        seg.flush("end")
        return out, stats

    # ---- jumps and gaps: where stretches of merged states break -----------------------
    dt = np.diff(ta)[:, None]
    dp = np.abs(_delta_rows(seg.continuous, pa[:-1], pa[1:]))
    reach = np.where(dt > 0, GAP_FACTOR * seg.vel_limit * np.where(dt > 0, dt, 1.0), 0.0)
    jumped = dp > reach + JUMP_EPS  # (M-1, J)
    jump = np.concatenate([[False], jumped.any(1)])
    if jump.any():
        i = int(np.flatnonzero(jump)[0])
        k = int(np.flatnonzero(jumped[i - 1])[0])
        stats.examples.setdefault(
            "jump",
            f"joint {names[k]!r} moved {dp[i - 1, k]:.4g} in {dt[i - 1, 0]:.4g} s at t={ta[i]:.6f}",
        )
    gap = np.concatenate([[False], np.diff(ta) > seg.max_gap]) & ~jump
    starts = np.flatnonzero(jump | gap)
    starts = np.concatenate([[0], starts[starts > 0]])
    ends = np.concatenate([starts[1:] - 1, [m - 1]])
    why = ["jump" if jump[s] else "gap" for s in starts[1:]] + ["end"]
    # usable commands fed before each merged state (a row feeds its state, then its command)
    avail = np.searchsorted(crow, arow, side="left")
    for a, b, reason in zip(starts, ends, why):
        _stretch(seg, task, a, b, ta, pa, va, lookup, cval, avail)
        seg._end(reason)
    seg._last = None
    return out, stats


class _CommandLookup:
    """What :meth:`Segmenter._action_at` finds, for many grid states at once.

    The Segmenter takes, among the commands fed so far, the one placed latest at or before
    the stamp of the merged state grid state ``g`` stands for (of equal times, the one fed
    last). Commands it prunes are never that one again (those stamps only grow), so that is
    ``argmax (time, feed index)`` over the usable commands fed before the state — unless its
    memory (:data:`_MAX_PENDING` commands) forgot the answer: :meth:`check_memory` raises
    :class:`_Irregular` when that may have happened.

    Args: tc ``(C,)`` the usable commands' times (s), in feed order (any order of times).
    """

    def __init__(self, tc: np.ndarray) -> None:
        self.tc = tc
        self.monotone = not (np.diff(tc) < 0).any()
        self.order = np.lexsort((np.arange(len(tc)), tc))  # by time, then feed order
        self.sorted = tc[self.order]
        self.cummax = np.maximum.accumulate(tc) if len(tc) else tc
        self.last = -1  # the previous lookup's answer (prunes the Segmenter's memory)
        self.walked = 0

    def latest(self, until: np.ndarray, fed: np.ndarray) -> np.ndarray:
        """``(Q,)`` feed index of the command in effect at each ``until`` among the first
        ``fed`` commands, or -1."""
        q = np.searchsorted(self.sorted, until, side="right") - 1
        if self.monotone:  # sorted order is feed order
            return np.minimum(q, fed - 1)
        j = np.where(q >= 0, self.order[np.maximum(q, 0)], -1)
        for k in np.flatnonzero(j >= fed):  # later-fed commands placed earlier: step back
            p = q[k]
            while p >= 0 and self.order[p] >= fed[k]:
                p -= 1
                self.walked += 1
            j[k] = self.order[p] if p >= 0 else -1
        if self.walked > 16 * len(self.tc) + 10_000:
            raise _Irregular  # time going back everywhere: the row loop is as fast
        return j

    def check_memory(self, j: np.ndarray, fed: np.ndarray) -> None:
        """Raise :class:`_Irregular` if the Segmenter may have forgotten an answer ``j``
        (``fed``: commands fed before each lookup, in lookup order)."""
        if not len(self.tc):
            return
        if self.monotone:
            # forgotten = _MAX_PENDING commands fed after it (its memory is in feed order)
            if ((j >= 0) & (fed - 1 - j >= _MAX_PENDING)).any():
                raise _Irregular
            return
        # memory before a lookup <= the commands fed with a time >= the last answer's
        # (the Segmenter keeps those): <= fed - (first feed index with such a time)
        answers = np.concatenate([[self.last], j])  # the last answer before lookup k: ...
        pos = np.where(answers >= 0, np.arange(len(answers)), -1)
        pos = np.maximum.accumulate(pos)[:-1]  # ... the latest >= 0 among answers[0..k]
        last = np.where(pos >= 0, answers[np.maximum(pos, 0)], -1)
        has = last >= 0
        first = np.searchsorted(self.cummax, self.tc[np.maximum(last, 0)], side="left")
        memory = np.where(has, fed - first, fed)
        if (memory > _MAX_PENDING).any():
            raise _Irregular
        found = j[j >= 0]
        if len(found):
            self.last = int(found[-1])


def _delta_rows(continuous: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """``p1 - p0`` ``(K, J)``, along the shorter arc for continuous joints (as ``_delta``)."""
    d = p1 - p0
    d[:, continuous] = (d[:, continuous] + np.pi) % (2 * np.pi) - np.pi
    return d


def _stretch(
    seg: Segmenter,
    task: Task,
    a: int,
    b: int,
    ta: np.ndarray,
    pa: np.ndarray,
    va: np.ndarray,
    lookup: _CommandLookup,
    cval: np.ndarray,
    avail: np.ndarray,
) -> None:
    """Merged states ``a..b`` (no jump, no gap between them) onto the grid of ``seg``: the
    segments it ends (``max_length``, ``no_command``, ``stale_command``) go to
    ``seg.on_segment``; the last one is left open."""
    eps, period = seg._eps, seg.period
    seg._new_segment()
    seg._t0 = float(ta[a])
    seg._obs = [task.obs_from_joints(pa[a], va[a])]
    seg._act = []
    seg.stats.grid_states += 1
    lim = ta[b] + eps
    t_eps = ta[a : b + 1] + eps
    # equal stamps: that state replaces the segment's last grid state if it is at its time
    same = np.flatnonzero(np.diff(ta[a : b + 1]) <= 0) + a + 1
    events = [(ta[i] + eps, i) for i in same]

    def replace(before: float) -> None:
        while events and events[0][0] < before:
            _, i = events.pop(0)
            k = len(seg._obs) - 1
            if abs(seg._t0 + k * period - ta[i]) <= eps:
                seg._obs[k] = task.obs_from_joints(pa[i], va[i])

    chunk = 64  # grid states per step: doubled while no segment ends, so breaks stay cheap
    while True:
        k0 = len(seg._obs)
        count = min(int((lim - seg._t0) / period) + 2 - k0, chunk)
        if seg.max_length is not None:
            count = min(count, seg.max_length - len(seg._act))
        g = seg._t0 + np.arange(k0, k0 + max(count, 0)) * period
        g = g[g <= lim]
        if not len(g):
            break
        si = np.searchsorted(t_eps, g, side="left") + a  # the state whose arrival places g
        tp, span = ta[si - 1], ta[si] - ta[si - 1]
        frac = np.where(
            span <= 0, 1.0, np.minimum(1.0, np.maximum(0.0, (g - tp) / np.where(span > 0, span, 1)))
        )[:, None]
        p = pa[si - 1] + frac * _delta_rows(seg.continuous, pa[si - 1], pa[si])
        v = va[si - 1] + frac * (va[si] - va[si - 1])
        at = np.where(frac[:, 0] >= 0.5, ta[si], tp)  # the merged state g stands for
        j = lookup.latest(at, avail[si])
        none = j < 0
        stale = ~none & (g - lookup.tc[np.maximum(j, 0)] > seg.max_gap)
        fail = none | stale
        n_ok = int(np.argmax(fail)) if fail.any() else len(g)
        done = min(n_ok + 1, len(g))  # the grid states whose command was looked up
        lookup.check_memory(j[:done], avail[si][:done])
        # replacements between grid states: before each one is placed
        for k in range(n_ok):
            replace(g[k])
            seg._obs.append(task.obs_from_joints(p[k], v[k]))
            seg._act.append(cval[j[k]])
        seg.stats.grid_states += n_ok
        if n_ok < len(g):
            f = n_ok
            replace(g[f])
            seg.stats.grid_states += 1
            obs = task.obs_from_joints(p[f], v[f])
            why = "no_command" if none[f] else "stale_command"
            seg._end(why, idle=why)
            seg._t0, seg._obs, seg._act = float(g[f]), [obs], []
            chunk = 64
            continue
        if seg.max_length is not None and len(seg._act) >= seg.max_length:
            obs = seg._obs[-1]
            seg._end("max_length")
            seg._t0, seg._obs, seg._act = float(g[-1]), [obs], []
            continue
        if len(g) < count:
            break  # every grid state up to the last merged state is placed
        chunk *= 2
    replace(np.inf)
    seg._raw.extend(ta[max(a, b + 1 - _MAX_RAW) : b + 1].tolist())  # for the tail count
