"""Ablation: planning horizon H x {no value, value, value + policy prior}, in one run.

Every cell exports the preset's planner with horizon H (the value variants discount by the
agent's gamma, so the terminal value enters with gamma**H) and runs the same seeded episodes
through the ONNX runtime in sim: mean return and planning latency p50/p99 per cell, plus a
policy-only row (the actor alone, no planning).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

VARIANTS = ("no value", "value", "value+prior")


def run_value_ablation(
    task_name: str,
    checkpoint: str | Path,
    agent_path: str | Path,
    out: str | Path,
    *,
    preset: str | None = None,
    horizons: tuple[int, ...] = (3, 5, 10, 15),
    episodes: int = 10,
    prior_frac: float = 0.25,
    profile: str = "default",
    seed: int = 1000,
    quiet: bool = True,
) -> dict[str, Any]:
    """Export and evaluate every cell; returns ``{"rows": [...], "config": {...}}``."""
    from tqdm import tqdm

    from mbrl_control.agents.checkpoint import load_agent
    from mbrl_control.agents.value import PolicyMean, planner_parts
    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.export.policy_export import export_policy
    from mbrl_control.models.checkpoint import load_checkpoint
    from mbrl_control.pipeline.evaluate import evaluate
    from mbrl_control.pipeline.train_value import evaluate_policy
    from mbrl_control.planning.presets import planner_setup
    from mbrl_control.tasks import get_task

    task, out = get_task(task_name), Path(out)
    model, _ = load_checkpoint(checkpoint)
    agent, _ = load_agent(agent_path, task)
    preset, _, base = planner_setup(task, preset)
    rows: list[dict[str, Any]] = []
    cells = [(h, v) for h in horizons for v in VARIANTS]
    for h, variant in tqdm(cells, desc="ablation", disable=quiet):
        cfg, value, policy = replace(base, horizon=h), None, None
        if variant != "no value":
            frac = prior_frac if variant == "value+prior" else 0.0
            cfg, value, policy = planner_parts(cfg, agent, frac)
        name = f"h{h}_{variant.replace(' ', '_').replace('+', '_')}.onnx"
        path = export_planner(model, task, cfg, out / name, value_fn=value, policy=policy)
        summary = evaluate(path, task_name, profile, episodes, seed=seed, threads=1)
        rows.append(_row(f"H={h}", variant, summary))
    policy_path = export_policy(PolicyMean(agent.actor), task, out / "policy.onnx")
    rows.append(_row("-", "policy only", evaluate_policy(policy_path, task_name, profile,
                                                          episodes, seed=seed)))  # fmt: skip
    config = {"task": task.name, "preset": preset, "profile": profile, "episodes": episodes,
              "prior_frac": prior_frac, "gamma": agent.cfg.gamma, "seed": seed,
              "checkpoint": str(checkpoint), "agent": str(agent_path)}  # fmt: skip
    return {"rows": rows, "config": config}


def _row(horizon: str, variant: str, summary: dict[str, Any]) -> dict[str, Any]:
    lat = summary["latency_ms"]
    return {
        "horizon": horizon,
        "variant": variant,
        "mean_return": summary["mean_return"],
        "std_return": summary["std_return"],
        "success_rate": summary["success_rate"],
        "latency_p50_ms": lat["p50"],
        "latency_p99_ms": lat["p99"],
    }


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| H | variant | mean return | success | latency p50 (ms) | latency p99 (ms) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['horizon']} | {r['variant']} | {r['mean_return']:.1f} ± {r['std_return']:.1f} "
        f"| {r['success_rate']:.0%} | {r['latency_p50_ms']:.2f} | {r['latency_p99_ms']:.2f} |"
        for r in rows
    ]
    return "\n".join(lines)
