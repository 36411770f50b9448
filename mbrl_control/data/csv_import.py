"""Import the CSV logs many labs keep (time, joint positions, velocities, efforts) into a
transition store.

One row is one joint state of the task's joints at its time, plus the action in effect from
that row until the next (zero-order hold: the value of the action column(s) of a row drove
the motion to the next row; it may be the commanded or the measured effort/velocity, the
user chooses the column). Columns are mapped by the task file's ``csv_log`` section
(:mod:`mbrl_control.tasks.csv_log_section`, defaults that fit common logs) or by
command-line flags; docs/csv_logs.md lists them.

Each file (and each run of equal values of the ``episode_column``) is its own recording on
its own time axis and goes through the one segmentation rule of
:mod:`mbrl_control.data.segments` — the same code that cuts bags and the live recorder: rows
are validated by the shared JointState rules (:mod:`mbrl_control.data.joint_state_merge`:
non-finite values, out of the task's physical ranges), resampled onto the control grid by
linear interpolation (logs faster than the control rate), and split where two rows are more
than 1.5 control periods apart or a joint moves farther than physically possible. A row's
action is placed halfway to the next row, so transition ``k`` takes the action of the last
row before grid state ``k + 1`` (robust to timestamp jitter up to half a row period).

A joint without a velocity column gets its velocities by central finite differences of
its positions (neighbouring usable rows at most 1.5 control periods apart; continuous joints
along the shorter arc); joints with one keep the logged values.

The rule runs on whole columns (:func:`~mbrl_control.data.segments.segment_arrays`, the
same result as feeding the rows one by one; ``mbrl-control bench import`` measures both).
The summary line and its words are :mod:`mbrl_control.data.import_report`'s, shared with the
bag import; refused rows are counted by :attr:`BadJointState.kind`.

Every file is read whole (and kept) before anything is written: a file that cannot be used (missing
column, not text, no rows, a time unit that cannot be right) raises :class:`CsvLogError`
naming the file and column, and nothing of it is written. Each episode records the file's
SHA-256 (``sha256``) and its index among the file's episodes, so importing the same file
into the same store again is detected and skipped (:func:`imported_episodes`), and an import
cut short by a crash is completed by writing only the missing episodes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.data.import_report import (
    REFUSALS,
    FileReport,
    count_drops,
    summary_line,
)
from mbrl_control.data.joint_state_merge import JointStateMerge
from mbrl_control.data.segments import GAP_FACTOR, Segment, SegmentStats, segment_arrays
from mbrl_control.data.store import EPISODE_GLOB, EPISODE_NAME, TransitionStore
from mbrl_control.tasks.csv_log_section import (
    TIME_COLUMNS,
    TIME_UNITS,
    ColumnMap,
    CsvLogSpec,
    default_actions,
)

log = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t", "|")
"""Guessed from the header line (the most frequent); else whitespace-separated."""
MAX_ROWS_PER_PERIOD = 1000
"""A log more than this many rows per control period has a wrong time unit (refused)."""
PROGRESS_ROWS = 50_000
"""Files with more rows than this show a progress bar."""
_SHOWN_COLUMNS = 30


class CsvLogError(ValueError):
    """A CSV log that cannot be imported; one line naming the file (and column)."""


# ---- columns ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Columns:
    """Column indices of one file's header, resolved from a :class:`CsvLogSpec`."""

    header: tuple[str, ...]
    time: int
    positions: tuple[int, ...]
    """``(J,)`` in ``task.joint_names`` order."""
    velocities: tuple[int | None, ...]
    """``(J,)``; ``None`` for a joint without a velocity column: derived by finite
    differences (every joint's with ``velocities: derive``)."""
    actions: tuple[int, ...]
    """``(A,)`` in ``task.action_names`` order."""
    goal: tuple[int, ...]
    episode: int | None

    def names(self) -> dict[str, Any]:
        """The mapping used, as column names (episode metadata)."""
        h = self.header
        return {
            "time": h[self.time],
            "positions": [h[i] for i in self.positions],
            "velocities": (
                "derived"
                if all(i is None for i in self.velocities)
                else ["derived" if i is None else h[i] for i in self.velocities]
            ),
            "actions": [h[i] for i in self.actions],
            "goal": [h[i] for i in self.goal],
            "episode": None if self.episode is None else h[self.episode],
        }

    def derived(self, joint_names: Sequence[str]) -> tuple[str, ...]:
        """The joints whose velocities are derived by finite differences."""
        return tuple(j for j, i in zip(joint_names, self.velocities) if i is None)


def _shown(header: Sequence[str]) -> str:
    cols = list(header[:_SHOWN_COLUMNS])
    more = f" ... ({len(header)} in all)" if len(header) > _SHOWN_COLUMNS else ""
    return f"{cols}{more}"


def _find(header: Sequence[str], name: str) -> int | None:
    """Index of column ``name``: exact match, else a unique case-insensitive one."""
    if name in header:
        return header.index(name)
    hits = [i for i, h in enumerate(header) if h.lower() == name.lower()]
    return hits[0] if len(hits) == 1 else None


def _lookup(
    header: Sequence[str],
    cmap: ColumnMap,
    keys: Sequence[tuple[str, dict[str, str]]],
    what: str,
    file: str,
    flag: str,
    optional: bool = False,
) -> tuple[Any, ...]:
    """One column per key. ``keys``: (label, placeholder values) with the mapping key(s) to
    try first in the values' order; an explicit column must exist; the default patterns
    must match exactly one column (``optional``: or none, giving ``None`` for that key)."""
    out = []
    for label, fill in keys:
        explicit = next((cmap.columns[v] for v in fill.values() if v in cmap.columns), None)
        if explicit is not None:
            i = _find(header, explicit)
            if i is None:
                raise CsvLogError(
                    f"{file}: no column {explicit!r} ({label} {what}); columns are {_shown(header)}"
                )
            out.append(i)
            continue
        tried = [p.format(**fill) for p in cmap.patterns]
        hits = list(dict.fromkeys(i for c in tried if (i := _find(header, c)) is not None))
        if not hits and optional:
            out.append(None)
            continue
        if not hits:
            raise CsvLogError(
                f"{file}: no column for {label} {what} (tried {tried}; map it with {flag}); "
                f"columns are {_shown(header)}"
            )
        if len(hits) > 1:
            both = [header[i] for i in hits]
            raise CsvLogError(
                f"{file}: {label} {what}: columns {both} all match; choose one with {flag}"
            )
        out.append(hits[0])
    return tuple(out)


def resolve_columns(header: Sequence[str], spec: CsvLogSpec, task: Any, file: str) -> Columns:
    """The columns of ``header`` that ``spec`` names for ``task``.

    Raises:
        CsvLogError: a missing or ambiguous column, naming the file, the joint and the header.
    """
    header = tuple(header)
    if spec.time_column is not None:
        t = _find(header, spec.time_column)
        if t is None:
            raise CsvLogError(
                f"{file}: no time column {spec.time_column!r}; columns are {_shown(header)}"
            )
    else:
        t = next((i for c in TIME_COLUMNS if (i := _find(header, c)) is not None), None)
        if t is None:
            raise CsvLogError(
                f"{file}: no time column (tried {list(TIME_COLUMNS)}; name it with "
                f"--time-column or csv_log.time_column); columns are {_shown(header)}"
            )
    joints = [(f"joint {j!r}", {"joint": j}) for j in task.joint_names]
    pos = _lookup(header, spec.positions, joints, "positions", file, "--position-columns")
    vel: tuple[int | None, ...] = (None,) * len(joints)  # derive: every joint's
    if spec.velocities is not None:  # a named column must exist; a joint without one: derived
        vel = _lookup(
            header, spec.velocities, joints, "velocities", file, "--velocity-columns", True
        )
    actions = spec.actions or default_actions(getattr(task, "command_interface", ""))
    act_keys = [
        (f"action {a!r} (joint {j!r})", {"action": a, "joint": j})
        for a, j in zip(task.action_names, task.command_joints)
    ]
    act = _lookup(header, actions, act_keys, "values", file, "--action-columns")
    goal: list[int] = []
    for c in spec.goal:
        i = _find(header, c)
        if i is None:
            raise CsvLogError(f"{file}: no goal column {c!r}; columns are {_shown(header)}")
        goal.append(i)
    if task.goal_dim and not goal and _goal_kind(task) != "fixed":
        raise CsvLogError(
            f"{file}: task {task.name!r} has a goal of {task.goal_dim} values that is not "
            "fixed: name its columns with --goal-columns or csv_log.goal"
        )
    ep = None
    if spec.episode_column is not None:
        ep = _find(header, spec.episode_column)
        if ep is None:
            raise CsvLogError(
                f"{file}: no episode column {spec.episode_column!r}; columns are {_shown(header)}"
            )
    return Columns(header, t, pos, vel, act, tuple(goal), ep)


def _goal_kind(task: Any) -> str:
    definition = getattr(task, "definition", None) or {}
    return str((definition.get("goal") or {}).get("kind", "none"))


# ---- reading ------------------------------------------------------------------------------
@dataclass
class Table:
    """The used columns of one file: ``values (N, U)`` float64 (NaN where unreadable),
    ``unreadable (N, U)`` bool, ``episode (N,)`` str or None; ``used`` the header indices of
    the U columns; ``time (N,)`` the time column in seconds (the time unit applied, or ISO
    8601 date-times such as ``2026-11-30T20:36:00.125`` read as seconds)."""

    used: tuple[int, ...]
    values: np.ndarray
    unreadable: np.ndarray
    episode: list[str] | None
    sha256: str
    delimiter: str
    time: np.ndarray

    def col(self, i: int) -> int:
        return self.used.index(i)


def _text(path: Path) -> tuple[str, str]:
    """(the file's text, its SHA-256). Raises CsvLogError for a binary or non-UTF-8 file."""
    if path.is_dir():
        raise CsvLogError(f"{path}: is a directory, not a CSV file")
    data = path.read_bytes()
    if not data.strip():
        raise CsvLogError(f"{path}: empty file (no header line)")
    nul = data.find(b"\0", 0, 65536)
    if nul >= 0 or data[:4] == b"PK\x03\x04":
        raise CsvLogError(
            f"{path}: not a text CSV file (binary data at byte {max(nul, 0)}); expected "
            "comma/semicolon/tab separated text with a header line"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise CsvLogError(f"{path}: not UTF-8 text (line {line}: {err.reason})") from None
    return text, hashlib.sha256(data).hexdigest()


def _lines(text: str) -> list[str]:
    """Non-empty lines that are not ``#`` comments."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            out.append(line)
    return out


def _sniff(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else " "


def read_header(path: str | Path, delimiter: str | None) -> tuple[list[str], str]:
    """(column names, delimiter) of a CSV file. Raises CsvLogError."""
    path = Path(path)
    text, _ = _text(path)
    lines = _lines(text)
    if not lines:
        raise CsvLogError(f"{path}: empty file (no header line)")
    return _header(lines[0], delimiter, path)


def _header(line: str, delimiter: str | None, path: Path) -> tuple[list[str], str]:
    d = delimiter or _sniff(line)
    names = [c.strip() for c in next(csv.reader([line], delimiter=d, skipinitialspace=True))]
    if len(names) < 2:
        raise CsvLogError(
            f"{path}: header {line.strip()[:80]!r} has one column with delimiter {d!r}; "
            "expected time and joint columns (set --delimiter or csv_log.delimiter)"
        )
    dup = sorted({n for n in names if names.count(n) > 1 and n})
    if dup:
        raise CsvLogError(f"{path}: column name(s) {dup} appear twice in the header")
    return names, d


def read_table(path: Path, spec: CsvLogSpec, task: Any) -> tuple[Columns, Table]:
    """Resolve the columns and read them. Raises CsvLogError (nothing usable)."""
    text, sha = _text(path)
    lines = _lines(text)
    if not lines:
        raise CsvLogError(f"{path}: empty file (no header line)")
    header, d = _header(lines[0], spec.delimiter, path)
    cols = resolve_columns(header, spec, task, str(path))
    if len(lines) < 2:
        raise CsvLogError(f"{path}: no data rows after the header")
    logged = [i for i in cols.velocities if i is not None]
    numeric = [cols.time, *cols.positions, *logged, *cols.actions, *cols.goal]
    used = tuple(dict.fromkeys(numeric))
    n, u = len(lines) - 1, len(used)
    values = np.full((n, u), np.nan)
    bad = np.zeros((n, u), bool)
    rows = list(csv.reader(lines[1:], delimiter=d, skipinitialspace=True))
    tk, iso = used.index(cols.time), 0
    for k, i in enumerate(used):
        cells = [row[i] if i < len(row) else None for row in rows]
        try:  # the whole column at once (numpy parses like float())
            values[:, k] = np.array(cells, np.float64)
            continue
        except (TypeError, ValueError):
            pass
        for r, cell in enumerate(cells):  # a bad cell somewhere: cell by cell
            try:
                values[r, k] = float(cell)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                if k == tk and (stamp := _iso_seconds(rows[r], i)) is not None:
                    values[r, k], iso = stamp, iso + 1
                else:
                    bad[r, k] = True
    episode: list[str] | None = None
    if cols.episode is not None:
        e = cols.episode
        episode = [row[e].strip() if e < len(row) else "" for row in rows]
    time = values[:, tk] * (1.0 if iso else TIME_UNITS[spec.time_unit])
    return cols, Table(used, values, bad, episode, sha, d, time)


def _iso_seconds(row: list[str], i: int) -> float | None:
    """An ISO 8601 date-time cell as seconds since the epoch (naive = local time), else None."""
    try:
        return datetime.fromisoformat(row[i].strip()).timestamp()
    except (IndexError, ValueError, OverflowError, OSError):
        return None


def check_file(path: str | Path, spec: CsvLogSpec, task: Any) -> tuple[Columns, Table]:
    """Read ``path`` and check what can be checked without segmenting it: text, header,
    columns, rows, time unit; return what was read (:func:`read_table`). Raises CsvLogError
    naming the file and column."""
    path = Path(path)
    cols, table = read_table(path, spec, task)
    k = table.col(cols.time)
    t = table.time
    ok = ~table.unreadable[:, k] & np.isfinite(t)
    _check_time(t[ok], task, cols.header[cols.time], spec.time_unit, str(path), FileReport(""))
    return cols, table


# ---- segmentation -------------------------------------------------------------------------
def _runs(table: Table, n: int) -> list[tuple[int, int]]:
    """[start, stop) row ranges of equal consecutive episode values (one run without one)."""
    if table.episode is None:
        return [(0, n)]
    out, start = [], 0
    for r in range(1, n):
        if table.episode[r] != table.episode[r - 1]:
            out.append((start, r))
            start = r
    out.append((start, n))
    return out


def _angular(task: Any) -> np.ndarray:
    """``(J,)`` bool: angular joints (revolute/continuous), from the task file."""
    definition = getattr(task, "definition", None)
    if not definition:
        raise CsvLogError(f"task {task.name!r}: angle_unit 'deg' needs a task file (joint types)")
    types = {j["name"]: j["type"] for j in definition["joints"]}
    return np.array([types[j] != "prismatic" for j in task.joint_names])


def _derive_velocities(
    t: np.ndarray, pos: np.ndarray, usable: np.ndarray, continuous: np.ndarray, max_gap: float
) -> np.ndarray:
    """Central finite differences ``(N, J)`` of positions over usable rows (one-sided at a
    break; NaN where a row has no usable neighbour within ``max_gap`` s)."""
    vel = np.full(pos.shape, np.nan)
    idx = np.flatnonzero(usable)
    if len(idx) < 2:
        return vel
    tt, pp = t[idx], pos[idx]
    dp = np.diff(pp, axis=0)  # (K-1, J)
    dp[:, continuous] = (dp[:, continuous] + np.pi) % (2 * np.pi) - np.pi
    dt = np.diff(tt)
    ok = (dt > 0) & (dt <= max_gap)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(ok[:, None], dp / np.where(ok, dt, 1.0)[:, None], np.nan)
    back = np.vstack([np.full((1, pos.shape[1]), np.nan), slope])  # slope into row k
    fwd = np.vstack([slope, np.full((1, pos.shape[1]), np.nan)])  # slope out of row k
    both = np.isfinite(back) & np.isfinite(fwd)
    w_back = np.concatenate([[0.0], np.where(ok, dt, 0.0)])
    w_fwd = np.concatenate([np.where(ok, dt, 0.0), [0.0]])
    # central difference on non-uniform steps: weight each one-sided slope by the other step
    central = (back * w_fwd[:, None] + fwd * w_back[:, None]) / np.maximum(
        (w_back + w_fwd)[:, None], 1e-300
    )
    vel[idx] = np.where(both, central, np.where(np.isfinite(back), back, fwd))
    return vel


def segment_table(
    cols: Columns,
    table: Table,
    task: Any,
    spec: CsvLogSpec,
    report: FileReport,
    *,
    gap_factor: float = GAP_FACTOR,
    max_length: int | None = None,
    quiet: bool = False,
) -> list[tuple[Segment, np.ndarray]]:
    """The file's segments with their goal ``(G,)``, by the one segmentation rule (on whole
    arrays: :func:`~mbrl_control.data.segments.segment_arrays`); fills ``report``.

    Raises CsvLogError when the time column cannot be right."""
    path = report.path
    n = len(table.values)
    report.rows = n
    v, bad = table.values, table.unreadable
    tk = table.col(cols.time)
    t = table.time
    time_ok = ~bad[:, tk] & np.isfinite(t)
    _check_time(t[time_ok], task, cols.header[cols.time], spec.time_unit, path, report)

    jp = [table.col(i) for i in cols.positions]
    pos = v[:, jp].copy()
    pos_ok = ~bad[:, jp].any(1)
    scale = np.ones(len(task.joint_names))
    if spec.angle_unit == "deg":
        scale = np.where(_angular(task), np.pi / 180.0, 1.0)
    pos *= scale
    merge = JointStateMerge.for_task(task)
    names = list(task.joint_names)
    vel, vel_ok, derivable = _velocities(cols, table, task, pos, time_ok & pos_ok, scale, merge)
    report.derived_joints = cols.derived(names)
    ja = [table.col(i) for i in cols.actions]
    act = v[:, ja].copy()
    act_ok = ~bad[:, ja].any(1)
    if spec.angle_unit == "deg" and getattr(task, "command_interface", "") != "effort":
        ang = _angular(task)
        act *= np.array(
            [np.pi / 180.0 if ang[names.index(j)] else 1.0 for j in task.command_joints]
        )
    goal_cols = [table.col(i) for i in cols.goal]

    out: list[tuple[Segment, np.ndarray]] = []
    progress = _progress(n, path, quiet)
    for start, stop in _runs(table, n):
        rows = start + np.flatnonzero(time_ok[start:stop])
        report.drop("unreadable time", stop - start - len(rows))
        tr = t[rows]
        steps = np.diff(tr)
        hold = float(np.median(steps[steps > 0])) if (steps > 0).any() else task.dt
        has_state = pos_ok[rows] & vel_ok[rows]
        for mask, why in (
            (~has_state & derivable[rows], "velocity not derivable (no neighbour row)"),
            (~has_state & ~derivable[rows], "unreadable cell"),
            (~act_ok[rows], "unreadable action cell"),
        ):
            hits = rows[mask]
            if len(hits):
                report.drop(why, len(hits), example=f"data row {hits[0] + 1}")
        # the row's action holds until the next row: placed halfway to it
        nxt = np.concatenate([tr[1:], tr[-1:] + hold])
        t_act = tr + np.maximum(0.0, nxt - tr) / 2
        segments, stats = segment_arrays(
            task,
            tr,
            pos[rows],
            vel[rows],
            act[rows],
            t_act,
            has_state=has_state,
            has_command=act_ok[rows],
            gap_factor=gap_factor,
            max_length=max_length,
        )
        _refusals(report, stats, merge, rows[has_state], pos, vel)
        _add_stats(report.stats, stats)
        progress.update(stop - start)
        for s in segments:
            goal = _goal(task, v, t, time_ok, goal_cols, rows, s.t_start)
            if np.isfinite(goal).all():
                out.append((s, goal))
            else:
                report.drop("episode without a readable goal", len(s.action))
                report.stats.transitions -= len(s.action)
    progress.close()
    report.stats.segments = len(out)
    count_drops(report, report.stats, by_kind=False)  # refused states by kind: _refusals
    return out


def _velocities(
    cols: Columns,
    table: Table,
    task: Any,
    pos: np.ndarray,
    usable: np.ndarray,
    scale: np.ndarray,
    merge: JointStateMerge,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vel (N, J), vel_ok (N,), derivable (N,))``: the logged velocity columns, and finite
    differences of the positions for the joints without one (only rows whose positions the
    shared rule accepts feed differences). ``vel_ok``: every velocity of the row readable or
    derived; ``derivable``: the row's cells are readable (a row that is not ``vel_ok`` then
    had no neighbour to take a difference with)."""
    n, n_j = pos.shape
    vel = np.zeros((n, n_j))
    vel_ok = np.ones(n, bool)
    logged = [j for j, i in enumerate(cols.velocities) if i is not None]
    if logged:
        jv = [table.col(cols.velocities[j]) for j in logged]
        vel[:, logged] = table.values[:, jv] * scale[logged]
        vel_ok &= ~table.unreadable[:, jv].any(1)
    derivable = usable & vel_ok
    missing = [j for j, i in enumerate(cols.velocities) if i is None]
    if missing:
        low, high, _ = task.joint_ranges
        continuous = np.isinf(low) & np.isinf(high)
        feed = usable.copy()
        feed[feed] = merge.check_rows(pos[feed], np.zeros((int(feed.sum()), n_j))) == ""
        diff = _derive_velocities(table.time, pos, feed, continuous, GAP_FACTOR * task.dt)
        diff = diff[:, missing]
        # rows the rule refuses are refused for their own reason in the segmentation
        vel_ok &= ~feed | np.isfinite(diff).all(1)
        vel[:, missing] = np.where(np.isfinite(diff), diff, 0.0)
    return vel, vel_ok, derivable


def _refusals(
    report: FileReport,
    stats: SegmentStats,
    merge: JointStateMerge,
    rows: np.ndarray,
    pos: np.ndarray,
    vel: np.ndarray,
) -> None:
    """Count the states the shared JointState rules refused, by kind, with the first data
    row of each kind (``rows``: the data rows that were fed as states)."""
    if not stats.refused:
        return
    kinds = merge.check_rows(pos[rows], vel[rows])
    for kind, count in stats.refused.items():
        first = rows[np.flatnonzero(kinds == kind)[:1]]
        where = f"data row {first[0] + 1}: " if len(first) else ""
        example = where + stats.refused_examples.get(kind, "")
        report.drop(REFUSALS.get(kind, "invalid joint state"), count, example=example)


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(n: int, path: str, quiet: bool) -> Any:
    if quiet or n < PROGRESS_ROWS:
        return _NoProgress()  # (tqdm takes longer to import than a small file to segment)
    from tqdm import tqdm

    return tqdm(total=n, desc=Path(path).name, unit="row", file=sys.stderr, mininterval=0.5)


def _add_stats(total: SegmentStats, part: SegmentStats) -> None:
    for name in (
        "states",
        "commands",
        "grid_states",
        "transitions",
        "discarded_transitions",
        "history_transitions",
        "history_discarded",
    ):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    for k, c in part.dropped.items():
        total.drop(k, part.examples.get(k, ""), c)
    for k, c in part.breaks.items():
        total.breaks[k] = total.breaks.get(k, 0) + c
    for k, e in part.examples.items():
        total.examples.setdefault(k, e)
    for k, c in part.refused.items():
        total.refused[k] = total.refused.get(k, 0) + c
    for k, e in part.refused_examples.items():
        total.refused_examples.setdefault(k, e)


def _goal(
    task: Any,
    v: np.ndarray,
    t: np.ndarray,
    time_ok: np.ndarray,
    goal_cols: list[int],
    rows: list[int],
    t_start: float,
) -> np.ndarray:
    """The goal ``(G,)`` of a segment: its columns at the first readable row at or after its
    start (the fixed goal, or none, without columns)."""
    if not goal_cols:
        if task.goal_dim:
            return np.asarray(task.sample_goal(np.random.default_rng(0)), np.float32)
        return np.zeros(0, np.float32)
    r = np.asarray(rows)
    hits = r[(t[r] >= t_start - 1e-9) & np.isfinite(v[r][:, goal_cols]).all(1)]
    if not len(hits):
        return np.full(len(goal_cols), np.nan, np.float32)
    return v[hits[0], goal_cols].astype(np.float32)


def _check_time(
    t: np.ndarray, task: Any, column: str, unit: str, path: str, report: FileReport
) -> None:
    """Refuse a time column whose unit cannot be right (every row a gap, or more than
    :data:`MAX_ROWS_PER_PERIOD` rows per control period); note the log's rate."""
    steps = np.diff(t)
    steps = steps[steps > 0]
    if not len(steps):
        raise CsvLogError(f"{path}: column {column!r}: time never increases; need >= 2 times")
    med = float(np.median(steps))
    report.rate_hz = 1.0 / med
    limit = GAP_FACTOR * task.dt
    if med <= limit and med * MAX_ROWS_PER_PERIOD >= task.dt:
        return
    fits = [
        u
        for u, f in TIME_UNITS.items()
        if u != unit
        and med / TIME_UNITS[unit] * f <= limit
        and med / TIME_UNITS[unit] * f * MAX_ROWS_PER_PERIOD >= task.dt
    ]
    hint = f"; is it in {' or '.join(fits)}? (--time-unit / csv_log.time_unit)" if fits else ""
    what = (
        f"more than 1.5 control periods ({limit:g} s) of task {task.name!r}: every row would "
        "be its own episode"
        if med > limit
        else f"more than {MAX_ROWS_PER_PERIOD} rows per control period ({task.dt:g} s)"
    )
    raise CsvLogError(
        f"{path}: column {column!r}: rows are {med:.4g} s apart (time unit {unit!r}), {what}{hint}"
    )


# ---- re-import detection ------------------------------------------------------------------
def content_sha256(path: str | Path) -> str:
    """SHA-256 of a file, or of a directory's files (relative names and contents, sorted)."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def imported_episodes(store: TransitionStore) -> dict[str, dict[str, Any]]:
    """``sha256 -> {"file", "count", "indices", "ids"}`` of every imported file in the store
    (:meth:`TransitionStore.episode_metas`: no arrays read; damaged episodes are ignored)."""
    out: dict[str, dict[str, Any]] = {}
    for meta in store.episode_metas():
        ep = meta["id"]
        sha = meta.get("sha256")
        if not sha:
            continue
        entry = out.setdefault(
            sha,
            {
                "file": meta.get("file") or meta.get("bag"),
                "count": meta.get("file_episodes"),
                "indices": set(),
                "ids": [],
            },
        )
        entry["indices"].add(meta.get("file_episode"))
        entry["ids"].append(ep)
    return out


def already_imported(entry: dict[str, Any] | None) -> bool:
    """Whether every episode of a previous import of the file is in the store."""
    if entry is None:
        return False
    count = entry.get("count")
    return not isinstance(count, int) or set(range(count)) <= entry["indices"]


def check_store_widths(store: TransitionStore, task: Any) -> None:
    """Refuse to append episodes of ``task`` to a store whose episodes have other observation
    or action widths (``TransitionStore.load`` would skip one kind as damaged): e.g. a store
    imported before the task file gained its ``last_actions`` block. Reads the first readable
    episode only (the one ``load`` measures the others by).

    Raises: ValueError naming the store, that episode, both widths and what to do.
    """
    numbered = []
    for path in store.dir.glob(EPISODE_GLOB):
        m = EPISODE_NAME.fullmatch(path.name)
        if m and path.is_file():
            numbered.append((int(m.group(1)), path))
    for _, path in sorted(numbered):
        try:
            with np.load(path, allow_pickle=False) as z:
                obs, act = z["obs"].shape, z["action"].shape
                meta = json.loads(str(z["meta_json"]))
            o, a = int(obs[1]), int(act[1])
        except Exception:  # damaged: load() skips it with a warning
            continue
        if (o, a) == (task.obs_dim, task.act_dim):
            return
        hint = ""
        k = getattr(task, "history_dim", 0)
        if k and o == task.obs_dim - k:
            hint = f" (its last_actions block adds {k})"
        old = meta.get("task") if isinstance(meta, dict) else None
        raise ValueError(
            f"store {store.root}: its episodes have {o} observation values and {a} actions "
            f"({path.name}, task {old!r}); task {task.name!r} writes {task.obs_dim} and "
            f"{task.act_dim}{hint}: import into another store"
        )


# ---- the import ---------------------------------------------------------------------------
def _velocity_source(derived: Sequence[str], task: Any) -> str:
    """Episode meta ``velocities``: ``log``, ``finite_difference`` (every joint's) or
    ``mixed`` (the joints in ``derived_velocities`` by finite differences, others logged)."""
    if not derived:
        return "log"
    return "finite_difference" if len(derived) == len(task.joint_names) else "mixed"


@dataclass
class CsvImportReport:
    """All files of one import (their :class:`FileReport` s) and the one-line summary."""

    files: list[FileReport] = field(default_factory=list)

    @property
    def transitions(self) -> int:
        return sum(f.transitions for f in self.files)

    @property
    def episode_ids(self) -> list[int]:
        return [i for f in self.files for i in f.episode_ids]

    def line(self) -> str:
        return summary_line(self.files, "file", "rows")


def import_csv(
    paths: Sequence[str | Path],
    task: Any,
    store: TransitionStore | str | Path,
    spec: CsvLogSpec | None = None,
    *,
    gap_factor: float = GAP_FACTOR,
    max_length: int | None = None,
    quiet: bool = False,
    log_skips: bool = True,
) -> CsvImportReport:
    """Append the episodes of the CSV logs at ``paths`` to ``store``.

    Args:
        paths: CSV files (read in this order).
        task: a task or its name; ``spec`` defaults to its ``csv_log`` section.
        store: where episodes are appended, or its folder (created once every file has
            passed the checks; episode meta: ``source: "csv"``, ``file``,
            ``sha256``, ``file_episode``/``file_episodes``, ``t_start``/``t_end`` (s, the
            log's time axis), ``end``, ``velocities``, ``columns``, ``goal``).
        max_length: cut episodes at this many transitions (the next starts at the last
            state: nothing is lost; ``None`` = no limit), as the live recorder does.
        quiet: no progress bar.
        log_skips: log a warning for each file skipped; ``False`` when the caller reports
            ``FileReport.skipped`` itself.
    Returns: the report; ``line()`` is the one-line summary. A file already imported into
        the store is skipped (``FileReport.skipped``, and a warning).
    Raises:
        ValueError: the store holds episodes of other widths (:func:`check_store_widths`).
        CsvLogError: a file that cannot be used (names the file and column). Every file is
            read and checked (columns, rows, time unit) before anything is written, so an
            unusable file writes nothing at all.
    """
    from mbrl_control.tasks import get_task

    task = get_task(task) if isinstance(task, str) else task
    spec = spec or getattr(task, "csv_log", None) or CsvLogSpec()
    files = [Path(p) for p in paths]
    # every file first: an unusable one writes nothing (each is read once, kept in memory)
    tables = [check_file(p, spec, task) for p in files]
    if not isinstance(store, TransitionStore):
        store = TransitionStore(store)
    check_store_widths(store, task)
    report = CsvImportReport()
    seen = imported_episodes(store)
    for p, (cols, table) in zip(files, tables):
        f = FileReport(str(p), sha256=table.sha256, columns=cols.names())
        report.files.append(f)
        entry = seen.get(table.sha256)
        if already_imported(entry):
            f.skipped = (
                f"{p}: already imported into {store.root} (same content, sha256 "
                f"{table.sha256[:12]}..., as {entry['file']}: episodes {sorted(entry['ids'])}): "
                "skipped"
            )
            if log_skips:
                log.warning("%s", f.skipped)
            f.notes.append("skipped 1 file already in the store")
            continue
        segments = segment_table(
            cols, table, task, spec, f, gap_factor=gap_factor, max_length=max_length, quiet=quiet
        )
        if f.derived_joints:
            which = (
                ""
                if len(f.derived_joints) == len(task.joint_names)
                else (f" of {list(f.derived_joints)}")
            )
            f.notes.append(f"velocities{which} derived by finite differences")
        if f.rate_hz > 1.2 * task.control_hz:
            f.notes.append(
                f"rows at ~{f.rate_hz:.3g} Hz resampled to the {task.control_hz:g} Hz control grid"
            )
        have = entry["indices"] if entry else set()
        if entry and entry.get("count") != len(segments):
            # cut short under other settings (mapping, episode length): cannot complete it
            f.skipped = (
                f"{p}: partly imported into {store.root} earlier with other settings "
                f"({entry['count']} episodes then, {len(segments)} now; episodes "
                f"{sorted(entry['ids'])}): skipped; import it into a new store"
            )
            if log_skips:
                log.warning("%s", f.skipped)
            f.stats = SegmentStats()
            f.dropped, f.breaks = {}, {}
            continue
        for i, (s, goal) in enumerate(segments):
            if i in have:
                continue  # written by an import cut short: complete it
            meta = {
                "task": task.name,
                "source": "csv",
                "file": str(p),
                "sha256": table.sha256,
                "file_episode": i,
                "file_episodes": len(segments),
                "t_start": s.t_start,
                "t_end": s.t_end,
                "end": s.reason,
                "velocities": _velocity_source(f.derived_joints, task),
                "derived_velocities": list(f.derived_joints),
                "columns": f.columns,
                "goal": goal.tolist(),
            }
            f.episode_ids.append(store.append_episode(s.obs, s.action, meta))
        if have:
            f.notes.append(f"completed an earlier, interrupted import of {p}")
    return report
