"""``mbrl-control bench import``: CSV import speed, printed as JSON.

Writes a synthetic cart-pole CSV log (``--rows`` rows at ``--rate`` x the control rate,
jittered stamps, a gap every ``--gap-every`` rows, a few NaN rows), then times
``mbrl-control import --csv`` on it (``import_csv`` into a fresh store: read, check,
segment, write) and its parts. The one segmentation rule is timed both ways on the first
``--reference-rows`` rows: row by row (``segment_rows``, the Segmenter fed one row at a
time) and on whole arrays (``segment_arrays``), with a check that both give the same
segments. Timings are ratios within one run (DESIGN.md section 4), never asserted in tests.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import nonneg_int, positive_float, positive_int

    parser.add_argument("--rows", type=positive_int, default=400_000, help="rows in the log")
    parser.add_argument(
        "--rate", type=positive_float, default=4.0, help="rows per control period (default 4)"
    )
    parser.add_argument(
        "--gap-every", type=positive_int, default=20_000, help="a 3-period gap every N rows"
    )
    parser.add_argument(
        "--reference-rows",
        type=nonneg_int,
        default=20_000,
        help="rows segmented row by row too, to compare (0: skip)",
    )
    parser.add_argument("--json", action="store_true", help="accepted for symmetry; always JSON")


def synthetic_log(task, rows: int, rate: float, gap_every: int, seed: int = 0) -> dict:
    """Columns of a cart-pole log: a smooth swing, jittered stamps, gaps, NaN rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sub = task.dt / rate
    t = np.arange(rows) * sub + rng.uniform(-0.1, 0.1, rows) * sub
    t += (np.arange(rows) // gap_every) * 3 * task.dt  # a gap every gap_every rows
    x = 0.8 * np.sin(0.3 * t)
    theta = np.angle(np.exp(1j * (3.0 + 1.5 * np.sin(0.7 * t))))
    cols = {
        "time": t,
        "slider_to_cart_pos": x,
        "cart_to_pole_pos": theta,
        "slider_to_cart_vel": 0.24 * np.cos(0.3 * t),
        "cart_to_pole_vel": 1.05 * np.cos(0.7 * t),
        "slider_to_cart_cmd": np.round(rng.uniform(-8, 8, rows), 3),
    }
    bad = rng.choice(rows, max(1, rows // 5000), replace=False)
    cols["slider_to_cart_pos"][bad] = np.nan
    return cols


def run(args: argparse.Namespace) -> int:
    import tempfile
    import time
    from pathlib import Path

    import numpy as np

    from mbrl_control.data.csv_import import import_csv, read_table
    from mbrl_control.data.segments import segment_arrays, segment_rows
    from mbrl_control.tasks import get_task
    from mbrl_control.tasks.csv_log_section import CsvLogSpec

    task = get_task("cartpole_swingup")
    cols = synthetic_log(task, args.rows, args.rate, args.gap_every)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.csv"
        data = np.column_stack(list(cols.values()))
        np.savetxt(path, data, delimiter=",", header=",".join(cols), comments="", fmt="%.9g")
        size = path.stat().st_size

        t0 = time.perf_counter()
        read_table(path, CsvLogSpec(), task)
        read_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        report = import_csv([path], task, Path(tmp) / "store", max_length=task.episode_steps,
                            quiet=True)  # fmt: skip
        import_s = time.perf_counter() - t0

        ref = _reference(task, cols, args.reference_rows, segment_rows, segment_arrays)
    out = {
        "bench": "import",
        "task": task.name,
        "rows": args.rows,
        "rows_per_control_period": args.rate,
        "file_mb": round(size / 1e6, 2),
        "transitions": report.transitions,
        "episodes": len(report.episode_ids),
        "summary": report.line(),
        "read_s": round(read_s, 3),
        "import_s": round(import_s, 3),
        "import_us_per_row": round(1e6 * import_s / args.rows, 2),
        **ref,
    }
    if ref:
        row_s = ref["segment_rows_us_per_row"] * 1e-6 * args.rows
        out["import_s_if_segmented_row_by_row"] = round(import_s - _arrays_s(ref, args) + row_s, 1)
    print(json.dumps(out, indent=2))
    return 0


def _arrays_s(ref: dict, args: argparse.Namespace) -> float:
    return ref["segment_arrays_us_per_row"] * 1e-6 * args.rows


def _reference(task, cols: dict, rows: int, segment_rows, segment_arrays) -> dict:
    """Both ways of the rule on the first ``rows`` rows (as the import feeds them)."""
    import time

    import numpy as np

    if not rows:
        return {}
    n = min(rows, len(cols["time"]))
    t = cols["time"][:n]
    pos = np.column_stack([cols["slider_to_cart_pos"][:n], cols["cart_to_pole_pos"][:n]])
    vel = np.column_stack([cols["slider_to_cart_vel"][:n], cols["cart_to_pole_vel"][:n]])
    cmd = cols["slider_to_cart_cmd"][:n, None]
    nxt = np.concatenate([t[1:], t[-1:] + task.dt])
    cmd_t = t + np.maximum(0.0, nxt - t) / 2
    kw = {"has_state": np.isfinite(pos).all(1), "max_length": task.episode_steps}
    times, results = {}, {}
    for name, fn in (("segment_rows", segment_rows), ("segment_arrays", segment_arrays)):
        t0 = time.perf_counter()
        results[name] = fn(task, t, pos, vel, cmd, cmd_t, **kw)
        times[name] = time.perf_counter() - t0
    (a, sa), (b, sb) = results["segment_rows"], results["segment_arrays"]
    same = sa.as_dict() == sb.as_dict() and all(
        np.array_equal(x.obs, y.obs) and np.array_equal(x.action, y.action)
        for x, y in zip(a, b, strict=True)
    )
    return {
        "reference_rows": n,
        "segment_rows_us_per_row": round(1e6 * times["segment_rows"] / n, 2),
        "segment_arrays_us_per_row": round(1e6 * times["segment_arrays"] / n, 2),
        "speedup": round(times["segment_rows"] / times["segment_arrays"], 1),
        "identical": bool(same and len(a) == len(b)),
    }
