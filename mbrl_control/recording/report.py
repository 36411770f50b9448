"""One self-contained HTML page per run folder: what was run, its configuration, its tables,
its plots and GIFs, and its training metrics, readable offline (``mbrl-control report RUN``).

The page is built from the files the product writes, whatever command wrote them:

- **what was run**: the run's kind from its marker file (:data:`KINDS`: ``rounds.json`` is a
  ``pretrain`` run, ``sim2real.json`` an experiment, plus ``swingup.gif`` the demo, ...), and
  every planner/policy ONNX file's metadata (task, planner configuration, provenance);
- **tables**: every Markdown file's tables (``sim2real.md``, ``ablation_value.md``, ...), every
  pretraining run's rounds (``rounds.json``, an experiment's inner runs too) and every JSON
  file's values, flattened (in folds);
- **plots**: every ``.png`` and ``.gif``, embedded as ``data:`` URIs (no file beside the page
  is needed; one larger than :data:`MAX_EMBED_BYTES` is listed, not embedded);
- **metrics**: every ``metrics.csv`` (:mod:`mbrl_control.recording.metrics`) plotted with
  matplotlib, one figure per tag group (``train/*``, ``round/*``, ``mbpo/*`` ...);
- **recordings**: every ``.mcap`` file (``evaluate --record``): its topics, message counts and
  duration, and its joint positions, commands and step cost plotted
  (:mod:`mbrl_control.recording.recording_plot`);
- **files**: everything found, with sizes (transition stores counted, not listed).

Folders are searched :data:`MAX_DEPTH` levels deep (an experiment's pretraining run is
inside it). Raises ``ValueError`` naming the folder when it holds none of these files.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_DEPTH = 3
MAX_EMBED_BYTES = 20 * 2**20
MAX_JSON_ROWS = 300
SKIP_SUFFIXES = (".npz", ".part", ".tmp", ".pt", ".onnx.data")

KINDS: tuple[tuple[str, str, str], ...] = (
    ("swingup.gif", "demo", "mbrl-control demo: the cart-pole sim-to-real loop"),
    ("sim2real.json", "experiment", "mbrl-control experiment sim2real"),
    ("adapt.json", "adapt", "mbrl-control adapt: calibrate, re-pretrain, finetune, gate"),
    ("rounds.json", "pretrain", "mbrl-control pretrain: collect, train, export in rounds"),
    ("agent.pt", "train-value", "mbrl-control train-value: value + policy (MBPO)"),
    ("ablation_value.json", "ablation", "mbrl-control ablation value"),
    ("rollout_study.json", "ablation", "mbrl-control ablation rollout-length"),
    ("action_history.json", "ablation", "mbrl-control ablation action-history"),
)
"""(marker file at the run's top level, kind, what wrote it), first match wins."""


@dataclass
class RunFiles:
    """What a run folder holds, by kind of file (paths relative to the run)."""

    root: Path
    json: list[Path] = field(default_factory=list)
    markdown: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    metrics: list[Path] = field(default_factory=list)
    onnx: list[Path] = field(default_factory=list)
    recordings: list[Path] = field(default_factory=list)
    other: list[Path] = field(default_factory=list)
    stores: dict[Path, int] = field(default_factory=dict)
    """Transition-store folder -> episodes in it."""

    @property
    def reportable(self) -> bool:
        return bool(
            self.json
            or self.markdown
            or self.images
            or self.metrics
            or self.onnx
            or self.recordings
        )


def scan(root: Path, max_depth: int = MAX_DEPTH) -> RunFiles:
    """Sort the files under ``root`` (hidden ones and our own ``report.html`` skipped)."""
    found = RunFiles(root)
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        depth = len(here.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < max_depth else []
        episodes = [f for f in files if re.fullmatch(r"ep_\d+\.npz", f)]
        if episodes:
            found.stores[here.relative_to(root)] = len(episodes)
        for name in sorted(files):
            rel = (here / name).relative_to(root)
            if name.startswith(".") or name in episodes or rel == Path("report.html"):
                continue
            suffix = name.lower()
            if suffix.endswith(SKIP_SUFFIXES):
                found.other.append(rel)
            elif name == "metrics.csv":
                found.metrics.append(rel)
            elif suffix.endswith(".json"):
                found.json.append(rel)
            elif suffix.endswith(".md"):
                found.markdown.append(rel)
            elif suffix.endswith((".png", ".gif")):
                found.images.append(rel)
            elif suffix.endswith(".onnx"):
                found.onnx.append(rel)
            elif suffix.endswith(".mcap"):
                found.recordings.append(rel)
            else:
                found.other.append(rel)
    return found


def run_kind(root: Path) -> tuple[str, str]:
    """``(kind, what wrote it)`` from the marker files at ``root``'s top (:data:`KINDS`);
    ``("run", "")`` when none is there."""
    for marker, kind, what in KINDS:
        if (root / marker).exists():
            return kind, what
    return "run", ""


# ---- small HTML pieces -----------------------------------------------------------------------
def _e(x: Any) -> str:
    return html.escape(str(x))


def _table(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _figure(data: bytes, mime: str, caption: str) -> str:
    """An embedded image with its caption."""
    return (
        f'<figure><img src="{_data_uri(data, mime)}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _unreadable(rel: Path, err: BaseException) -> str:
    """The line a section shows for a file it cannot read (the page goes on)."""
    return f"<p><code>{_e(rel)}</code>: not readable ({_e(type(err).__name__)}: {_e(err)})</p>"


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _value(x: Any) -> str:
    """A JSON value for a table cell: numbers to 6 significant digits, long lists summarized."""
    if isinstance(x, float):
        return f"{x:.6g}"
    if isinstance(x, list):
        if len(x) <= 8 and all(not isinstance(v, (dict, list)) for v in x):
            return "[" + ", ".join(_value(v) for v in x) + "]"
        nums = [v for v in x if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if nums and len(nums) == len(x):
            mean = sum(nums) / len(nums)
            return f"{len(x)} values, min {min(nums):.4g}, mean {mean:.4g}, max {max(nums):.4g}"
        return f"list of {len(x)}"
    return str(x)


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted key, cell text)`` for every leaf of a JSON value (lists of dicts by index)."""
    if isinstance(obj, dict):
        rows: list[tuple[str, str]] = []
        for key, value in obj.items():
            rows += flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):
        return [row for i, v in enumerate(obj) for row in flatten(v, f"{prefix}[{i}]")]
    return [(prefix or "(value)", _value(obj))]


def markdown_html(text: str) -> str:
    """The Markdown the product writes, as HTML: pipe tables, ``#`` headings, paragraphs."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                block.append(lines[i].strip())
                i += 1
            cells = [[c.strip() for c in row.strip("|").split("|")] for row in block]
            body = [r for r in cells[1:] if not all(re.fullmatch(r":?-+:?", c) for c in r if c)]
            out.append(_table(cells[0], body))
            continue
        if m := re.match(r"(#{1,4})\s+(.*)", line):
            level = min(6, len(m[1]) + 2)
            out.append(f"<h{level}>{_e(m[2])}</h{level}>")
        elif line:
            out.append(f"<p>{_e(line)}</p>")
        i += 1
    return "\n".join(out)


# ---- sections ---------------------------------------------------------------------------------
SUMMARY_KEYS = (
    "task.task",
    "planner_config.kind",
    "planner_config.horizon",
    "planner_config.population",
    "planner_config.particles",
    "planner_config.iterations",
    "model_config.members",
    "model_config.hidden",
    "model_config.layers",
)
"""Planner-file metadata shown at the top of the page (plus every ``provenance.*`` value)."""


def onnx_metadata(path: Path) -> list[tuple[str, str]]:
    """The flattened JSON ``metadata_props`` of an ONNX file (planner or policy); raises what
    ``onnx.load`` raises for an unreadable file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    rows: list[tuple[str, str]] = []
    for prop in model.metadata_props:
        try:
            rows += flatten(json.loads(prop.value), prop.key)
        except ValueError:
            rows.append((prop.key, prop.value))
    return rows


def _summary_rows(root: Path, files: list[Path]) -> list[tuple[str, str]]:
    """Task, planner, model and provenance of the run's top-most planner file."""
    for rel in sorted(files, key=lambda r: (len(r.parts), r.name != "planner.onnx", str(r))):
        try:
            rows = onnx_metadata(root / rel)
        except Exception:  # the planner section says it is unreadable
            continue
        keep = [(k, v) for k, v in rows if k in SUMMARY_KEYS or k.startswith("provenance.")]
        return [(f"{rel}: {k}", v) for k, v in keep if len(v) < 120]
    return []


def _onnx_section(root: Path, files: list[Path]) -> str:
    parts = []
    for rel in files:
        try:
            rows = onnx_metadata(root / rel)
        except Exception as err:  # a report lists what it cannot read
            parts.append(_unreadable(rel, err))
            continue
        parts.append(f"<details><summary><code>{_e(rel)}</code> metadata ({len(rows)} values)"
                     f"</summary>{_table(['key', 'value'], rows)}</details>")  # fmt: skip
    return "\n".join(parts)


def _rounds_table(path: Path) -> str:
    rounds = json.loads(path.read_text())
    keys = [
        "round",
        "policy",
        "episodes",
        "transitions_total",
        "mean_return",
        "holdout_mse",
        "epochs",
    ]
    return _table(keys, ([_value(r.get(k, "")) for k in keys] for r in rounds))


def _json_section(root: Path, files: list[Path]) -> str:
    parts = []
    for rel in files:
        try:
            rows = flatten(json.loads((root / rel).read_text()))
        except (OSError, ValueError) as err:
            parts.append(_unreadable(rel, err))
            continue
        shown = rows[:MAX_JSON_ROWS]
        more = f" (first {MAX_JSON_ROWS} of {len(rows)})" if len(rows) > MAX_JSON_ROWS else ""
        parts.append(f"<details><summary><code>{_e(rel)}</code>: {len(rows)} values{more}"
                     f"</summary>{_table(['key', 'value'], shown)}</details>")  # fmt: skip
    return "\n".join(parts)


def _images_section(root: Path, files: list[Path]) -> str:
    parts = []
    for rel in files:
        try:
            size = (root / rel).stat().st_size
            if size > MAX_EMBED_BYTES:
                parts.append(f"<p><code>{_e(rel)}</code>: {_size(size)}, too large to embed</p>")
                continue
            data = (root / rel).read_bytes()
        except OSError as err:
            parts.append(_unreadable(rel, err))
            continue
        mime = "image/gif" if rel.suffix.lower() == ".gif" else "image/png"
        parts.append(_figure(data, mime, str(rel)))
    return "\n".join(parts)


def metrics_figures(path: Path) -> list[tuple[str, bytes]]:
    """``[(group, PNG bytes)]``: one figure per tag group of a ``metrics.csv``, a small panel
    per tag (value over step)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mbrl_control.recording.metrics import read_metrics_csv

    series = read_metrics_csv(path)
    groups: dict[str, list[str]] = {}
    for tag in sorted(series):
        groups.setdefault(tag.split("/", 1)[0] if "/" in tag else "", []).append(tag)
    out = []
    for group, tags in groups.items():
        cols = min(4, len(tags))
        rows = -(-len(tags) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
        for ax, tag in zip(axes.flat, tags):
            s = series[tag]
            ax.plot(s.steps, s.values, marker="." if len(s.steps) < 30 else None, lw=1.2)
            ax.set_title(tag.split("/", 1)[-1], fontsize=9)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(tags) :]:
            ax.axis("off")
        fig.suptitle(group or "metrics", fontsize=10)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        plt.close(fig)
        out.append((group, buf.getvalue()))
    return out


def _metrics_section(root: Path, files: list[Path]) -> str:
    from mbrl_control.recording.metrics import read_metrics_csv

    parts = []
    for rel in files:
        try:
            series = read_metrics_csv(root / rel)
            figures = metrics_figures(root / rel)
        except (OSError, ValueError) as err:
            parts.append(_unreadable(rel, err))
            continue
        parts.append(f"<h3><code>{_e(rel)}</code></h3>")
        last = [(tag, len(s.steps), s.steps[-1], _value(s.values[-1])) for tag, s in series.items()]
        parts.append(_table(["tag", "points", "last step", "last value"], sorted(last)))
        for group, png in figures:
            parts.append(_figure(png, "image/png", f"{rel}: {group or 'metrics'}"))
    return "\n".join(parts)


def _recordings_section(root: Path, files: list[Path]) -> str:
    from mbrl_control.recording.recording_plot import plot_plan_tube, plot_recording, read_recording

    parts = []
    for rel in files:
        try:
            rec = read_recording(root / rel)
            png = plot_recording(rec) if len(rec.state_t) else None
        except (OSError, ValueError) as err:
            parts.append(_unreadable(rel, err))
            continue
        parts.append(
            f"<h3><code>{_e(rel)}</code></h3><p>{len(rec.episode_starts)} episodes, "
            f"{rec.duration:.1f} s of joint states</p>"
        )
        rows = [(topic, typ, n) for topic, (typ, n) in sorted(rec.topics.items())]
        parts.append(_table(["topic", "type", "messages"], rows))
        if png is not None:
            parts.append(_figure(png, "image/png", str(rel)))
        if rec.plan_paths:
            parts.append(_figure(plot_plan_tube(rec), "image/png", f"{rel}: plans"))
    return "\n".join(parts)


def _files_section(root: Path, found: RunFiles) -> str:
    listed = sorted(
        found.json + found.markdown + found.images + found.metrics + found.onnx
        + found.recordings + found.other
    )  # fmt: skip
    rows = []
    for rel in listed:
        try:
            rows.append((str(rel), _size((root / rel).stat().st_size)))
        except OSError as err:  # e.g. a broken link
            rows.append((str(rel), f"unreadable: {err.strerror or type(err).__name__}"))
    rows += [(f"{rel}/ (transition store)", f"{n} episodes") for rel, n in found.stores.items()]
    return _table(["file", "size"], rows)


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}code{background:#f6f6f6;padding:0 .2em}
figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85em;color:#555}
details{margin:.4em 0}summary{cursor:pointer}
"""


def build_report(run: str | Path) -> str:
    """The HTML page of the run folder ``run`` (see the module doc).

    Raises ``FileNotFoundError`` / ``NotADirectoryError`` for a missing path or a file, and
    ``ValueError`` naming the folder when nothing in it is a run's output."""
    root = Path(run)
    if not root.exists():
        raise FileNotFoundError(f"no such run folder: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a run folder (a file): {root}")
    found = scan(root)
    if not found.reportable:
        raise ValueError(
            f"{root}: no run outputs here (looked {MAX_DEPTH} levels deep for .json, .md, .png, "
            ".gif, .onnx, .mcap and metrics.csv files, as pretrain, experiment, ablation, "
            "evaluate --record and demo write them)"
        )
    kind, what = run_kind(root)
    summary = _summary_rows(root, found.onnx)
    sections = [("What was run", f"<p><b>{_e(kind)}</b>{': ' + _e(what) if what else ''}</p>"
                 f"<p>folder <code>{_e(root.resolve())}</code></p>"
                 + (_table(["planner file", "value"], summary) if summary else ""))]  # fmt: skip
    if found.onnx:
        sections.append(("Planner and policy files", _onnx_section(root, found.onnx)))
    for rel in (r for r in found.json if r.name == "rounds.json"):  # an experiment's too
        try:
            table = _rounds_table(root / rel)
        except (OSError, ValueError, AttributeError) as err:
            table = _unreadable(rel, err)
        sections.append((f"Pretraining rounds: {rel}", table))
    for rel in found.markdown:
        try:
            text = markdown_html((root / rel).read_text(encoding="utf-8", errors="replace"))
        except OSError as err:
            text = _unreadable(rel, err)
        sections.append((f"Table: {rel}", text))
    if found.metrics:
        sections.append(("Metrics", _metrics_section(root, found.metrics)))
    if found.recordings:
        sections.append(("Recordings", _recordings_section(root, found.recordings)))
    if found.images:
        sections.append(("Plots and animations", _images_section(root, found.images)))
    if found.json:
        sections.append(("Results and configuration (JSON)", _json_section(root, found.json)))
    sections.append(("Files", _files_section(root, found)))
    body = "\n".join(f"<h2>{_e(title)}</h2>\n{content}" for title, content in sections)
    title = f"{kind}: {root.resolve().name}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head>\n"
        f"<body><h1>{_e(title)}</h1>\n{body}\n</body></html>\n"
    )


def write_report(run: str | Path, out: str | Path | None = None) -> Path:
    """Write :func:`build_report` of ``run`` to ``out`` (default ``RUN/report.html``),
    atomically (a temp name, then rename); returns the path."""
    page = build_report(run)
    out = Path(run) / "report.html" if out is None else Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out
