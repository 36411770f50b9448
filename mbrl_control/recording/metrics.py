"""Live training metrics: TensorBoard event files and a CSV beside them, in one folder.

``MetricsLog(folder)`` is what training, MBPO, finetuning and experiments write their
scalars through (losses, hold-out error, returns, gate decisions, latencies)::

    with MetricsLog(out / "metrics") as log:
        fit(..., callback=log.callback("train"))       # the one-line hook: (epoch, info)
        log.scalars("round", {"mean_return": r}, step=k)

    append_scalars(out / "metrics", "gate", gate_result)   # a rare event: the next step

Files in ``folder``: ``events.out.tfevents.*`` (``tensorboard --logdir folder``; a resumed run
adds a new event file, TensorBoard reads them in order) and ``metrics.csv`` (columns
``step,tag,value,wall_time``; appended to on resume, one row per scalar, flushed per batch of
rows so a crash loses at most the rows of the last call).

Metrics never stop the run they describe: when ``folder`` cannot be created or written (a
read-only mount, a full disk, a path through a file) the log warns **once**
(``RuntimeWarning`` naming the folder and the error) and drops everything after. ``folder``
``None`` is a log that records nothing (for callers whose output folder is optional).
"""

from __future__ import annotations

import csv
import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CSV_NAME = "metrics.csv"
CSV_COLUMNS = ("step", "tag", "value", "wall_time")
FLUSH_SECS = 10
"""TensorBoard's writer flushes its queue at least this often (s), and at :meth:`close`."""


def _number(value: Any) -> float | None:
    """``value`` as a float if it is a real scalar (bool, int, float, a numpy scalar or a 0-d
    array/tensor); ``None`` for anything else (lists, strings, None)."""
    if isinstance(value, (bool, int, float)):
        return float(value)
    if getattr(value, "shape", None) is not None and tuple(value.shape) == ():
        item = value.item()
        if isinstance(item, (bool, int, float)):
            return float(item)
    return None


class MetricsLog:
    """Scalars to TensorBoard event files and ``metrics.csv`` in ``folder`` (see module doc).

    Files are created at the first scalar, so a run that fails before it has anything to log
    leaves no metrics files behind (the CLI removes the folders a failed run created empty).

    Args:
        folder: the output folder (created at the first scalar); ``None``: record nothing.
        flush_secs: TensorBoard writer's flush period (s).
    """

    def __init__(self, folder: str | Path | None, *, flush_secs: int = FLUSH_SECS) -> None:
        self.folder = None if folder is None else Path(folder)
        self.flush_secs = flush_secs
        self._writer: Any = None
        self._csv: Any = None
        self._rows: Any = None
        self.failed: str | None = None
        """Why writing stopped (the first error), or None."""

    def _open(self) -> None:
        """Create the folder, the CSV (header if new) and the event file writer."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / CSV_NAME
            new = not path.exists() or path.stat().st_size == 0
            self._csv = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115 (kept open)
            self._rows = csv.writer(self._csv)
            if new:
                self._rows.writerow(CSV_COLUMNS)
                self._csv.flush()
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.folder), flush_secs=self.flush_secs)
        except OSError as err:
            self._fail(err)

    @property
    def active(self) -> bool:
        """False when there is no folder or writing failed (then nothing more is written)."""
        return self.folder is not None and self.failed is None

    # ---- writing --------------------------------------------------------------------------
    def scalar(self, tag: str, value: Any, step: int) -> None:
        """One scalar ``value`` (a real number) under ``tag`` (``group/name``) at ``step``.

        Raises ``TypeError`` when ``value`` is not a real number (a list, a string, None)."""
        x = _number(value)
        if x is None:
            raise TypeError(f"metric {tag!r}: {type(value).__name__} is not a real number")
        self._write([(tag, x)], int(step))

    def scalars(self, prefix: str, values: Mapping[str, Any], step: int) -> None:
        """Every real-number entry of ``values`` as ``prefix/key`` at ``step``; other entries
        (lists, strings, None) are skipped. ``prefix`` ``""``: the keys alone."""
        rows = []
        for key, value in values.items():
            x = _number(value)
            if x is not None:
                rows.append((f"{prefix}/{key}" if prefix else str(key), x))
        self._write(rows, int(step))

    def callback(
        self, prefix: str, step_offset: int = 0
    ) -> Callable[[int, Mapping[str, Any]], None]:
        """The hook for ``callback(epoch, info)`` APIs (``models.trainer.fit``,
        ``agents.mbpo.train_mbpo``): logs ``info``'s numbers as ``prefix/key`` at step
        ``step_offset + epoch`` (an offset continues one curve over rounds)."""

        def log_epoch(epoch: int, info: Mapping[str, Any]) -> None:
            self.scalars(prefix, info, step_offset + int(epoch))

        return log_epoch

    def _write(self, rows: Iterable[tuple[str, float]], step: int) -> None:
        if not self.active:
            return
        rows = list(rows)
        if not rows:
            return
        if self._writer is None:
            self._open()
            if not self.active:
                return
        now = time.time()
        try:
            for tag, x in rows:
                self._writer.add_scalar(tag, x, step, walltime=now)
                self._rows.writerow((step, tag, repr(x), f"{now:.3f}"))
            self._csv.flush()
        except (OSError, ValueError) as err:  # ValueError: a file closed under us
            self._fail(err)

    def flush(self) -> None:
        """Write what is queued now (TensorBoard flushes on its own every ``flush_secs``)."""
        if not self.active or self._writer is None:
            return
        try:
            self._writer.flush()
            self._csv.flush()
        except (OSError, ValueError) as err:
            self._fail(err)

    def close(self) -> None:
        """Flush and close both files (safe to call twice; never raises for I/O)."""
        for handle in (self._writer, self._csv):
            if handle is None:
                continue
            try:
                handle.close()
            except (OSError, ValueError) as err:
                if self.failed is None:
                    self._fail(err)
        self._writer = self._csv = self._rows = None

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fail(self, err: BaseException) -> None:
        """Stop writing; the one warning of this log."""
        self.failed = f"{type(err).__name__}: {err}"
        warnings.warn(
            f"metrics: cannot write to {self.folder}: {self.failed}; "
            "the run continues without metrics",
            RuntimeWarning,
            stacklevel=3,
        )
        for handle in (self._writer, self._csv):
            try:
                if handle is not None:
                    handle.close()
            except Exception:
                pass
        self._writer = self._csv = self._rows = None


def append_scalars(
    folder: str | Path | None, prefix: str, values: Mapping[str, Any], step: int | None = None
) -> int:
    """One-shot: open ``folder``'s log, add ``values``' numbers as ``prefix/key`` at ``step``,
    close; returns the step used. ``step`` None: one after the last step logged under
    ``prefix/`` in the folder's ``metrics.csv`` (0 for the first), so repeated calls (one per
    gate decision, per experiment cell) make one curve, also across processes that append in
    turn. For rare events: each call adds one small event file; per-epoch logging should hold a
    :class:`MetricsLog` open instead."""
    if step is None:
        step = next_step(folder, f"{prefix}/")
    with MetricsLog(folder) as log:
        log.scalars(prefix, values, step)
    return step


def evaluation_scalars(summary: Mapping[str, Any]) -> dict[str, float]:
    """The scalars of an evaluation summary (:func:`mbrl_control.pipeline.evaluate.summarize`):
    its real-number entries (``mean_return``, ``std_return``, ``success_rate``, ``episodes``,
    ...) plus the planning latency as ``latency_p50_ms`` / ``latency_p99_ms`` (ms; from its
    ``latency_ms`` dict). Lists (per-episode values) are left out."""
    out = {k: x for k, v in summary.items() if (x := _number(v)) is not None}
    latency = summary.get("latency_ms")
    if isinstance(latency, Mapping):
        for q in ("p50", "p99"):
            if (x := _number(latency.get(q))) is not None:
                out[f"latency_{q}_ms"] = x
    return out


def next_step(folder: str | Path | None, prefix: str) -> int:
    """One after the largest step of the tags starting with ``prefix`` (e.g. ``"gate/"``) in
    ``folder``'s ``metrics.csv``; 0 when there is none (or no folder, or an unreadable CSV).
    How a curve continues over runs that each open their own log (a resume, one process per
    retrain)."""
    return 0 if folder is None else _next_step(Path(folder) / CSV_NAME, prefix)


def _next_step(path: Path, prefix: str) -> int:
    """One after the largest step of tags starting with ``prefix`` in the CSV (0 if none)."""
    try:
        series = read_metrics_csv(path)
    except (OSError, ValueError):
        return 0
    steps = [max(s.steps) for tag, s in series.items() if tag.startswith(prefix) and s.steps]
    return max(steps) + 1 if steps else 0


# ---- reading back ---------------------------------------------------------------------------
@dataclass
class Series:
    """One tag's points from ``metrics.csv``, in file order (a resumed run appends)."""

    tag: str
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


def read_metrics_csv(path: str | Path) -> dict[str, Series]:
    """``metrics.csv`` (a file, or the folder holding it) -> tag -> :class:`Series`.

    Raises ``FileNotFoundError`` when there is no such file and ``ValueError`` naming the
    file and line when a row is not ``step,tag,value,wall_time``."""
    path = Path(path)
    if path.is_dir():
        path = path / CSV_NAME
    out: dict[str, Series] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return out
        if tuple(header) != CSV_COLUMNS:
            raise ValueError(f"{path}: header {header} is not {list(CSV_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            if not row or tuple(row) == CSV_COLUMNS:  # two writers that both started the file
                continue
            try:
                step, tag, value = int(row[0]), row[1], float(row[2])
            except (IndexError, ValueError):
                msg = f"{path}:{line}: bad row {row} (need step,tag,value,wall_time)"
                raise ValueError(msg) from None
            series = out.setdefault(tag, Series(tag))
            series.steps.append(step)
            series.values.append(value if math.isfinite(value) else math.nan)
    return out
