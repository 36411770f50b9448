"""Study: gradient refinement against more sampling, at equal planning latency.

One trained ensemble, the task's planner preset: the plain optimizer (its ``iterations``),
the same with ``refine_steps`` gradient steps after sampling (:mod:`mbrl_control.planning
.refine`), and the same with more sampling iterations instead, the rival that spends the
same time differently. Every cell is exported and run through onnxruntime on one thread on
the same seeded episodes (paired initial states and planner noise), so a cell's return is
comparable with the plain planner's episode by episode: the table gives the mean return with
its 95 % t-interval, the success rate, planning latency p50/p99 and the paired difference to
the plain planner with its t-interval and p-value. "Return at equal latency" and "latency at
equal return" are read across rows; timings are from one run (ratios, not wall times).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np


def study_cells(
    base: Any, refine_steps: tuple[int, ...], iterations: tuple[int, ...]
) -> list[tuple[str, Any]]:
    """``(name, PlannerConfig)`` of every cell: the plain planner, each refinement count on
    it, each larger iteration count without refinement."""
    cells = [(f"plain (I={base.iterations})", replace(base, refine_steps=0))]
    cells += [(f"+ {k} gradient step(s)", replace(base, refine_steps=k)) for k in refine_steps]
    cells += [(f"I={i}, no refinement", replace(base, iterations=i, refine_steps=0))
              for i in iterations if i != base.iterations]  # fmt: skip
    return cells


def run_refine_study(
    task_name: str,
    checkpoint: str | Path,
    out: str | Path,
    *,
    preset: str | None = None,
    refine_steps: tuple[int, ...] = (1, 2),
    iterations: tuple[int, ...] = (3, 4),
    episodes: int = 10,
    profile: str = "default",
    seed: int = 1000,
    quiet: bool = True,
) -> dict[str, Any]:
    """Export and evaluate every cell; returns ``{"rows": [...], "config": {...}}``.
    Raises ``ValueError`` when the task or model declares no derivative (refinement)."""
    from tqdm import tqdm

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.checkpoint import load_checkpoint
    from mbrl_control.pipeline.evaluate import evaluate
    from mbrl_control.planning.presets import planner_setup
    from mbrl_control.tasks import get_task

    task, out = get_task(task_name), Path(out)
    model, _ = load_checkpoint(checkpoint)
    preset, _, base = planner_setup(task, preset)
    rows: list[dict[str, Any]] = []
    baseline: list[float] | None = None
    for i, (name, cfg) in enumerate(tqdm(study_cells(base, refine_steps, iterations),
                                         desc="refine study", disable=quiet)):  # fmt: skip
        path = export_planner(model, task, cfg, out / f"cell_{i}.onnx")
        summary = evaluate(path, task_name, profile, episodes, seed=seed, threads=1)
        baseline = summary["returns"] if baseline is None else baseline
        rows.append(_row(name, cfg, summary, baseline))
    config = {"task": task.name, "preset": preset, "profile": profile, "episodes": episodes,
              "seed": seed, "checkpoint": str(checkpoint), "horizon": base.horizon,
              "population": base.population, "refine_step_size": base.refine_step_size}  # fmt: skip
    return {"rows": rows, "config": config}


def _row(name: str, cfg: Any, summary: dict[str, Any], baseline: list[float]) -> dict[str, Any]:
    from scipy import stats

    from mbrl_control.pipeline.sim2real_stats import t_interval

    returns = np.asarray(summary["returns"], float)
    mean, low, high = t_interval(returns)
    diff = returns - np.asarray(baseline, float)
    d_mean, d_low, d_high = t_interval(diff)
    p = float(stats.ttest_1samp(diff, 0.0).pvalue) if np.ptp(diff) > 0 else None
    return {
        "cell": name,
        "iterations": cfg.iterations,
        "refine_steps": cfg.refine_steps,
        "mean_return": mean,
        "ci95": [low, high],
        "success_rate": summary["success_rate"],
        "latency_p50_ms": summary["latency_ms"]["p50"],
        "latency_p99_ms": summary["latency_ms"]["p99"],
        "diff_vs_plain": d_mean,
        "diff_ci95": [d_low, d_high],
        "p_value": p,
        "returns": summary["returns"],
    }


def markdown_table(result: dict[str, Any]) -> str:
    """The study's rows as a markdown table (returns, success, latency, paired difference)."""
    lines = [
        "| cell | return (95 % CI) | success | latency p50 / p99 (ms) | vs plain (95 % CI), p |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        low, high = r["ci95"]
        d_low, d_high = r["diff_ci95"]
        p = "-" if r["p_value"] is None else f"{r['p_value']:.2g}"
        diff = "-" if r["refine_steps"] == 0 and r is result["rows"][0] else (
            f"{r['diff_vs_plain']:+.1f} [{d_low:+.1f}, {d_high:+.1f}], p = {p}"
        )  # fmt: skip
        lines.append(
            f"| {r['cell']} | {r['mean_return']:.1f} [{low:.1f}, {high:.1f}] | "
            f"{r['success_rate']:.0%} | {r['latency_p50_ms']:.2f} / {r['latency_p99_ms']:.2f} | "
            f"{diff} |"
        )
    c = result["config"]
    lines.append(
        f"\n{c['task']}, preset {c['preset']} (H{c['horizon']}, N{c['population']}), "
        f"{c['episodes']} paired episodes from seed {c['seed']}, profile {c['profile']}, "
        f"onnxruntime 1 thread; checkpoint {c['checkpoint']}"
    )
    return "\n".join(lines)
