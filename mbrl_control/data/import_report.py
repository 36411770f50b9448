"""The one summary of every importer (CSV logs, bags): what a source gave and why the rest
was dropped, as one line (``kept N transitions in E episodes from F files; dropped ...
because: ...; episodes end by: ...``) and as a JSON-ready :class:`FileReport` per source.

The segmentation rule's drop reasons (:mod:`mbrl_control.data.segments`) and the JointState
refusal kinds (:data:`~mbrl_control.data.joint_state_merge.KINDS`) are printed with the
words of :data:`REASONS` and :data:`REFUSALS`, the same for every importer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mbrl_control.data.segments import SegmentStats

REASONS = {
    "out_of_order": "time going back",
    "duplicate": "duplicate row",
    "incomplete": "incomplete state",
    "lone_state": "lone row between breaks",
    "no_command": "no action in effect",
    "stale_command": "action older than 1.5 periods",
    "bad_command": "non-finite action",
    "before_reset": "before a reset",
    "reset": "cut at a reset",
    "partial_period": "past the last full control period",
    "no_task_joints": "no task joints",
    "no_state": "no state to place it by",
}
"""A row, message or action the segmentation rule did not use, by its drop reason, as
printed (other reasons are printed as they are)."""


REFUSALS = {
    "non_finite": "non-finite value",
    "out_of_range": "position out of range",
    "over_velocity_limit": "velocity over the limit",
    "duplicate": "joint named twice",
    "length_mismatch": "names and values of unequal lengths",
    "unknown_joint": "unknown joint",
    "missing": "joint missing",
    "stale": "stale joint",
}
"""A JointState refusal's word in the summary, by :attr:`BadJointState.kind` (every
importer; others: ``invalid joint state``)."""


@dataclass
class FileReport:
    """What one file gave: rows read, rows/actions dropped per reason, episode ends, notes."""

    path: str
    rows: int = 0
    sha256: str = ""
    stats: SegmentStats = field(default_factory=SegmentStats)
    dropped: dict[str, int] = field(default_factory=dict)
    """Rows whose state was not used, per reason (plus actions refused)."""
    breaks: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rate_hz: float = 0.0
    derived_joints: tuple[str, ...] = ()
    """Joints whose velocities were derived by finite differences (no column in the log)."""
    columns: dict[str, Any] = field(default_factory=dict)
    episode_ids: list[int] = field(default_factory=list)
    skipped: str = ""
    """Why the file was not imported (already in the store), else ''."""
    examples: dict[str, str] = field(default_factory=dict)

    @property
    def transitions(self) -> int:
        return self.stats.transitions

    @property
    def derived_velocities(self) -> bool:
        return bool(self.derived_joints)

    def drop(self, reason: str, n: int = 1, example: str = "") -> None:
        if n <= 0:
            return
        self.dropped[reason] = self.dropped.get(reason, 0) + n
        if example:
            self.examples.setdefault(reason, example)


def summary_line(files: Sequence[FileReport], noun: str, unit: str) -> str:
    """``kept N transitions in E episodes from F files; dropped ... because ...``: the one
    summary line of every importer (``noun``: what a source is, ``unit``: what is dropped)."""
    dropped: dict[str, int] = {}
    breaks: dict[str, int] = {}
    for f in files:
        for k, c in f.dropped.items():
            dropped[k] = dropped.get(k, 0) + c
        for k, c in f.breaks.items():
            breaks[k] = breaks.get(k, 0) + c
    used = [f for f in files if not f.skipped]
    n_tr = sum(f.transitions for f in used)
    n_ep = sum(f.stats.segments for f in used)
    n = len(files)
    line = (
        f"kept {n_tr} transitions in {n_ep} episode{'' if n_ep == 1 else 's'} from {n} "
        f"{noun}{'' if n == 1 else 's'}"
    )
    dropped = {k: c for k, c in dropped.items() if c}
    if dropped:
        because = ", ".join(f"{k} {c}" for k, c in sorted(dropped.items(), key=lambda x: -x[1]))
        line += f"; dropped {sum(dropped.values())} {unit} because: {because}"
    else:
        line += f"; dropped no {unit}"
    if breaks:
        line += "; episodes end by: " + ", ".join(f"{k} {c}" for k, c in sorted(breaks.items()))
    short = sum(f.stats.discarded_transitions for f in used)
    if short:
        line += f"; transitions in too short episodes: {short}"
    history = SegmentStats(
        history_transitions=sum(f.stats.history_transitions for f in used),
        history_discarded=sum(f.stats.history_discarded for f in used),
    )
    if history.history_transitions:
        line += "; " + history.history_text("episode")
    notes = list(dict.fromkeys(x for f in files for x in f.notes))
    if notes:
        line += "; " + "; ".join(notes)
    if not n_tr:
        examples = {k: e for f in used for k, e in f.examples.items()}
        if examples:
            line += "; e.g. " + "; ".join(f"{k}: {e}" for k, e in list(examples.items())[:3])
    return line


def count_drops(report: FileReport, stats: SegmentStats, *, by_kind: bool = True) -> None:
    """``stats``' drops and breaks into ``report`` with the summary's words; states refused
    by the JointState rules (``bad_state``) by kind (``by_kind``; else the caller counts
    them itself, e.g. with row numbers)."""
    for key, count in stats.dropped.items():
        if key != "bad_state":
            report.drop(REASONS.get(key, key), count, stats.examples.get(key, ""))
    if by_kind:
        for kind, count in stats.refused.items():
            word = REFUSALS.get(kind, "invalid joint state")
            report.drop(word, count, stats.refused_examples.get(kind, ""))
    report.breaks = dict(stats.breaks)
