"""Statistics of the sim-to-real grid: from per-cell results to the table's rows.

A **cell result** (one JSON file per cell under ``OUT/cells/``) is a dict::

    {"key": "default_s0", "arm": "default", "kind": "condition", "seed": 0,
     "elapsed_s": 412.0,
     "points": [{"budget_min": 0.0, "real_minutes": 0.0,
                 "returns": [R_1..R_E], "successes": [bool]*E,
                 "rail_steps": [int]*E, "safety_stop_steps": [int]*E, ...}, ...]}

``kind`` is ``condition`` (a pretraining profile, finetuned), ``real_only``, ``random``,
``oracle_model`` or ``oracle_sim``. Every point evaluates the same E episodes (episode i has
seed ``1000 + i`` in every cell: paired).

Method (stated in the outputs):

- **mean ± 95 % CI of the return**: the mean over seeds of each seed's mean episode return;
  the CI is Student's t-interval over those seed means (n seeds, n - 1 degrees of freedom).
  With a single seed the interval is the t-interval over its episodes (then it covers the
  episode spread only, not training-seed variation): ``ci_over`` says which.
- **normalized score** of a seed: ``(R - R_random) / (R_oracle - R_random)``, R the seed's
  mean return, R_random the random policy's mean return on the same episodes, R_oracle the
  better (higher mean return) of ``oracle_model`` and ``oracle_sim`` on the same episodes;
  its mean and CI as for the return (the score is affine in R).
- **success rate**: all episodes of all seeds pooled.
- **rail hits / safety stops**: episodes with at least one, all seeds pooled (from the
  simulator's ground truth: :class:`mbrl_control.pipeline.evaluate.SafetyMonitor`).
- **vs real-only**: a paired t-test of the per-episode returns against the real-data-only
  baseline at the same budget, paired by (seed, episode); episodes of one seed share a model,
  so this p-value is optimistic; the CIs are the conservative comparison.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("condition", "real_only", "random", "oracle_model", "oracle_sim")
CONFIDENCE = 0.95


def t_interval(values: Any, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """``(mean, low, high)``: Student's t-interval of the mean of ``values`` (n,); with
    n < 2 the bounds are NaN."""
    from scipy import stats

    x = np.asarray(values, float)
    mean = float(x.mean()) if x.size else math.nan
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


# ---- cell files (resume) -------------------------------------------------------------------
def cell_path(out: str | Path, key: str) -> Path:
    return Path(out) / "cells" / f"{key}.json"


def write_cell(out: str | Path, result: dict[str, Any]) -> Path:
    """Write one cell's result atomically (temp name, fsync, rename)."""
    path = cell_path(out, result["key"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(result, indent=2))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_cells(out: str | Path) -> list[dict[str, Any]]:
    """Every finished cell under ``out/cells/`` (sorted by key); unreadable files are refused
    with the file's name."""
    cells = []
    for path in sorted((Path(out) / "cells").glob("*.json")):
        try:
            cells.append(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not a cell result ({err}); delete it to rerun") from None
    return cells


# ---- aggregation ---------------------------------------------------------------------------
def _points(cells: list[dict[str, Any]], kind: str) -> list[tuple[dict, dict]]:
    return [(c, p) for c in cells if c["kind"] == kind for p in c["points"]]


def references(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """R_random and R_oracle (the better oracle, named) as means over their episodes.

    Raises ``ValueError`` when a reference is missing or the episodes differ in number."""
    refs: dict[str, Any] = {}
    for kind in ("random", "oracle_model", "oracle_sim"):
        pts = _points(cells, kind)
        if pts:
            returns = np.concatenate([p["returns"] for _, p in pts])
            refs[kind] = float(returns.mean())
    if "random" not in refs:
        raise ValueError("no 'random' cell: the normalized score needs R_random")
    oracles = {k: refs[k] for k in ("oracle_model", "oracle_sim") if k in refs}
    if not oracles:
        raise ValueError("no oracle cell ('oracle_model' or 'oracle_sim'): need R_oracle")
    best = max(oracles, key=oracles.__getitem__)
    refs.update(oracle=best, R_oracle=oracles[best], R_random=refs["random"])
    if refs["R_oracle"] <= refs["R_random"]:
        raise ValueError(
            f"R_oracle ({refs['R_oracle']:.1f}, {best}) is not above R_random "
            f"({refs['R_random']:.1f}): the normalized score is undefined"
        )
    return refs


def _row(
    arm: str, kind: str, budget: float, pts: list[tuple[dict, dict]], refs: dict[str, Any] | None
) -> dict[str, Any]:
    seeds = sorted({c["seed"] for c, _ in pts})
    per_seed = {s: np.concatenate([p["returns"] for c, p in pts if c["seed"] == s]) for s in seeds}
    all_returns = np.concatenate(list(per_seed.values()))
    if len(seeds) >= 2:
        units, over = [float(per_seed[s].mean()) for s in seeds], "seeds"
    else:
        units, over = list(map(float, all_returns)), "episodes"
    mean, lo, hi = t_interval(units)
    row: dict[str, Any] = {
        "arm": arm,
        "kind": kind,
        "budget_min": budget,
        "real_minutes": float(np.mean([p.get("real_minutes", budget) for _, p in pts])),
        "seeds": seeds,
        "episodes": int(all_returns.size),
        "mean_return": mean,
        "ci_low": lo,
        "ci_high": hi,
        "ci_over": over,
        "success_rate": float(
            sum(p["success_rate"] * p["episodes"] for _, p in pts)
            / sum(p["episodes"] for _, p in pts)
        ),
        "rail_hits": int(sum(int(n > 0) for _, p in pts for n in p.get("rail_steps") or [])),
        "safety_stops": int(
            sum(int(n > 0) for _, p in pts for n in p.get("safety_stop_steps") or [])
        ),
        "safety_counted": all(p.get("rail_steps") is not None for _, p in pts),
    }
    if refs is not None:
        span = refs["R_oracle"] - refs["R_random"]
        norm = [(u - refs["R_random"]) / span for u in units]
        n_mean, n_lo, n_hi = t_interval(norm)
        row.update(normalized=n_mean, normalized_ci_low=n_lo, normalized_ci_high=n_hi)
    row["_pairs"] = {
        (c["seed"], i): r for c, p in pts for i, r in enumerate(p["returns"])
    }  # dropped before output
    return row


def _paired_p(a: dict, b: dict) -> float | None:
    from scipy import stats

    keys = sorted(set(a) & set(b))
    if len(keys) < 2:
        return None
    diff = np.array([a[k] - b[k] for k in keys])
    if np.allclose(diff, diff[0]):
        return None
    return float(stats.ttest_rel([a[k] for k in keys], [b[k] for k in keys]).pvalue)


def aggregate(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows (one per arm and budget) and references from cell results; JSON-ready.

    Rows are ordered: conditions (in first-seen order) by budget, real-only by budget, then
    the references. Without a random or oracle cell the rows carry no normalized score and
    ``references`` says why."""
    try:
        refs: dict[str, Any] | None = references(cells)
        why = None
    except ValueError as err:
        refs, why = None, str(err)
    groups: dict[tuple[str, str, float], list[tuple[dict, dict]]] = {}
    for kind in KINDS:
        for c, p in _points(cells, kind):
            groups.setdefault((c["arm"], kind, float(p["budget_min"])), []).append((c, p))
    rows = [_row(arm, kind, b, pts, refs) for (arm, kind, b), pts in groups.items()]
    rows.sort(key=lambda r: (KINDS.index(r["kind"]), r["budget_min"]))
    real_only = {r["budget_min"]: r["_pairs"] for r in rows if r["kind"] == "real_only"}
    for r in rows:
        if r["kind"] == "condition" and r["budget_min"] in real_only:
            r["p_vs_real_only"] = _paired_p(r["_pairs"], real_only[r["budget_min"]])
            r["delta_vs_real_only"] = r["mean_return"] - float(
                np.mean(list(real_only[r["budget_min"]].values()))
            )
    for r in rows:
        del r["_pairs"]
        for k, v in r.items():  # strict JSON: an interval of one value has no bounds (null)
            if isinstance(v, float) and math.isnan(v):
                r[k] = None
    method = (
        "mean over seeds of each seed's mean return; 95% Student t-interval over seed means "
        "(over episodes when one seed); normalized = (R - R_random)/(R_oracle - R_random) "
        "per seed, same interval; p_vs_real_only: paired t-test over (seed, episode)"
    )
    return {"rows": rows, "references": refs or {"error": why}, "method": method}


# ---- table ---------------------------------------------------------------------------------
LABELS = {
    "none": "no DR (none)",
    "default": "default DR",
    "wide": "wide DR",
    "calibrated": "calibrated",
    "real_only": "real data only",
    "random": "random policy",
    "oracle_model": "oracle: model on plentiful real data",
    "oracle_sim": "oracle: true simulator as the model",
}


def _fmt(x: Any, spec: str = ".1f") -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def markdown_table(summary: dict[str, Any]) -> str:
    """The aggregated rows as a Markdown table, with the references and the method below."""
    lines = [
        "| planner | budget (min) | real min | seeds | return mean [95% CI] | success | "
        "normalized [95% CI] | rail hits | safety stops | vs real-only (Δ, p) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary["rows"]:
        ci = f"{_fmt(r['mean_return'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
        norm = "—"
        if "normalized" in r:
            norm = (
                f"{_fmt(r['normalized'], '.2f')} [{_fmt(r['normalized_ci_low'], '.2f')}, "
                f"{_fmt(r['normalized_ci_high'], '.2f')}]"
            )
        vs = "—"
        if "delta_vs_real_only" in r:
            vs = f"{r['delta_vs_real_only']:+.1f}, p={_fmt(r.get('p_vs_real_only'), '.3g')}"
        budget = "—" if r["kind"] in ("random", "oracle_sim") else f"{r['budget_min']:g}"
        safety = r["safety_counted"]
        lines.append(
            f"| {LABELS.get(r['arm'], r['arm'])} | {budget} | {r['real_minutes']:.2f} | "
            f"{len(r['seeds'])} | {ci} | {r['success_rate']:.0%} | {norm} | "
            f"{r['rail_hits'] if safety else '—'} | {r['safety_stops'] if safety else '—'} | "
            f"{vs} |"
        )
    refs = summary["references"]
    if "R_oracle" in refs:
        lines.append("")
        lines.append(
            f"R_random = {refs['R_random']:.1f}; R_oracle = {refs['R_oracle']:.1f} "
            f"({LABELS[refs['oracle']]}, the better oracle); oracle_model "
            f"{_fmt(refs.get('oracle_model'))}, oracle_sim {_fmt(refs.get('oracle_sim'))}."
        )
    else:
        lines.append("")
        lines.append(f"No normalized score: {refs.get('error')}")
    lines.append(f"Method: {summary['method']}.")
    return "\n".join(lines) + "\n"
