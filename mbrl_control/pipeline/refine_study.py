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


def objective_drop(
    model: Any,
    task: Any,
    cfg: Any,
    observations: np.ndarray,
    goals: np.ndarray,
    seed: int = 0,
    value_fn: Any = None,
) -> dict[str, float]:
    """How much ``cfg.refine_steps`` gradient steps lower the planner's own objective.

    For each observation ``(S, O)`` (with its goal ``(S, G)``): the plain planner's plan
    (torch reference, seeded), then the refiner; the objective is the refiner's trial cost
    (one deterministic trajectory per member, :mod:`mbrl_control.planning.refine`). Returns
    the mean and median relative drop ``(J_plain - J_refined) / |J_plain|`` (>= 0: a step
    never raises it) and the share of states where no step was taken. This separates "the
    optimizer finds a better plan for the model" from "the better plan for the model is a
    better plan for the robot" (the closed-loop cells).
    """
    import torch

    from mbrl_control.planning.planner import build_planner
    from mbrl_control.planning.refine import GradientRefiner

    plain = build_planner(model, task, replace(cfg, refine_steps=0), value_fn, seed=seed)
    refiner = GradientRefiner(model, task, cfg, value_fn)
    weights = torch.as_tensor(task.default_weights)
    drops = []
    with torch.no_grad():
        for obs, goal in zip(observations, goals):
            plain.reset(seed=seed)
            previous = plain.carry["plan"][0]
            plain.act(obs, goal)
            plan = plain.carry["plan"]
            args = (torch.as_tensor(obs, dtype=torch.float32), torch.as_tensor(goal), weights,
                    previous)  # fmt: skip
            before = float(refiner.trial(*args, plan[None])[0][0])
            after = float(refiner.trial(*args, refiner(*args, plan)[None])[0][0])
            drops.append((before - after) / max(abs(before), 1e-12))
    drops_a = np.asarray(drops)
    return {
        "states": len(drops),
        "mean_drop": float(drops_a.mean()),
        "median_drop": float(np.median(drops_a)),
        "no_step_share": float(np.mean(drops_a <= 0.0)),
    }


def study_states(task: Any, data: str | Path | None, count: int, seed: int) -> tuple:
    """``(observations (S, O), goals (S, G))`` for :func:`objective_drop`: ``count`` states
    spread over the store ``data`` (its recorded goals), or drawn from the task's initial
    states and goals without one."""
    rng = np.random.default_rng(seed)
    if data is not None:
        from mbrl_control.data.store import TransitionStore

        t = TransitionStore(data).load()
        if len(t.obs):
            pick = np.linspace(0, len(t.obs) - 1, min(count, len(t.obs))).astype(int)
            goals = t.goal[pick] if t.goal.shape[-1] == task.goal_dim else None
            if goals is not None:
                return t.obs[pick], goals
    obs, goals = [], []
    for _ in range(count):
        q, qd = task.sample_initial_state(rng)
        obs.append(task.obs_from_joints(q, qd))
        goals.append(task.sample_goal(rng))
    return np.asarray(obs, np.float32), np.asarray(goals, np.float32)


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
    step_size: float | None = None,
    data: str | Path | None = None,
    drop_states: int = 40,
    agent_path: str | Path | None = None,
    horizon: int | None = None,
    quiet: bool = True,
) -> dict[str, Any]:
    """Export and evaluate every cell; returns ``{"rows": [...], "config": {...}}``; each
    refinement row also carries :func:`objective_drop` on ``drop_states`` states of ``data``
    (or initial states). ``step_size``: the refinement step (default: the config's);
    ``agent_path``: an agent from ``train-value`` whose terminal value every cell adds at the
    horizon (discounted by its gamma; refinement differentiates through it too);
    ``horizon``: replaces the preset's.
    Raises ``ValueError`` when the task or model declares no derivative (refinement)."""
    from tqdm import tqdm

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.checkpoint import load_checkpoint
    from mbrl_control.pipeline.evaluate import evaluate
    from mbrl_control.planning.presets import planner_setup
    from mbrl_control.tasks import get_task

    task, out = get_task(task_name), Path(out)
    model, _ = load_checkpoint(checkpoint)
    if (model.cfg.obs_dim, model.cfg.act_dim) != (task.obs_dim, task.act_dim):
        raise ValueError(
            f"--checkpoint {checkpoint} is obs {model.cfg.obs_dim} / act {model.cfg.act_dim}, "
            f"task {task.name} needs {task.obs_dim} / {task.act_dim}"
        )
    preset, _, base = planner_setup(task, preset)
    if step_size is not None:
        base = replace(base, refine_step_size=step_size)
    if horizon is not None:
        base = replace(base, horizon=horizon)
    value = None
    if agent_path is not None:
        from mbrl_control.agents.checkpoint import load_agent
        from mbrl_control.agents.value import planner_parts

        base, value, _ = planner_parts(base, load_agent(agent_path, task)[0], 0.0)
    states = study_states(task, data, drop_states, seed)
    rows: list[dict[str, Any]] = []
    baseline: list[float] | None = None
    for i, (name, cfg) in enumerate(tqdm(study_cells(base, refine_steps, iterations),
                                         desc="refine study", disable=quiet)):  # fmt: skip
        path = export_planner(model, task, cfg, out / f"cell_{i}.onnx", value_fn=value)
        summary = evaluate(path, task_name, profile, episodes, seed=seed, threads=1)
        baseline = summary["returns"] if baseline is None else baseline
        rows.append(_row(name, cfg, summary, baseline))
        if cfg.refine_steps:
            rows[-1]["objective_drop"] = objective_drop(
                model, task, cfg, *states, seed=seed, value_fn=value
            )
    config = {"task": task.name, "preset": preset, "profile": profile, "episodes": episodes,
              "seed": seed, "checkpoint": str(checkpoint), "horizon": base.horizon,
              "population": base.population, "refine_step_size": base.refine_step_size,
              "drop_states": "initial states" if data is None else "the data's states",
              "agent": None if agent_path is None else str(agent_path)}  # fmt: skip
    return {"rows": rows, "config": config}


def _row(name: str, cfg: Any, summary: dict[str, Any], baseline: list[float]) -> dict[str, Any]:
    from scipy import stats

    from mbrl_control.pipeline.sim2real_stats import t_interval

    returns = np.asarray(summary["returns"], float)
    mean, low, high = t_interval(returns)
    diff = returns - np.asarray(baseline, float)
    d_mean, d_low, d_high = t_interval(diff)
    p = float(stats.ttest_1samp(diff, 0.0).pvalue) if np.ptp(diff) > 0 else None
    mean, low, high, d_mean, d_low, d_high = (
        None if np.isnan(x) else x for x in (mean, low, high, d_mean, d_low, d_high)
    )  # JSON has no NaN (one episode has no interval)
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
        "| cell | return (95 % CI) | success | latency p50 / p99 (ms) | vs plain (95 % CI), p "
        "| objective drop (mean / median) |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        low, high = (_num(x) for x in r["ci95"])
        d_low, d_high = (_num(x) for x in r["diff_ci95"])
        p = "-" if r["p_value"] is None else f"{r['p_value']:.2g}"
        diff = "-" if r["refine_steps"] == 0 and r is result["rows"][0] else (
            f"{_num(r['diff_vs_plain']):+.1f} [{d_low:+.1f}, {d_high:+.1f}], p = {p}"
        )  # fmt: skip
        lines.append(
            f"| {r['cell']} | {r['mean_return']:.1f} [{low:.1f}, {high:.1f}] | "
            f"{r['success_rate']:.0%} | {r['latency_p50_ms']:.2f} / {r['latency_p99_ms']:.2f} | "
            f"{diff} | {_drop(r.get('objective_drop'))} |"
        )
    c = result["config"]
    lines.append(
        f"\n{c['task']}, preset {c['preset']} (H{c['horizon']}, N{c['population']})"
        f"{' + terminal value of ' + c['agent'] if c.get('agent') else ''}, "
        f"{c['episodes']} paired episodes from seed {c['seed']}, profile {c['profile']}, "
        f"onnxruntime 1 thread; refinement step {c['refine_step_size']} of the half range; "
        f"checkpoint {c['checkpoint']}; objective drop: the planner's own objective, refined "
        f"vs sampled plan, over {c.get('drop_states', 'states of the data')}"
    )
    return "\n".join(lines)


def _num(x: float | None) -> float:
    return float("nan") if x is None else x


def _drop(drop: dict[str, float] | None) -> str:
    if not drop:
        return "-"
    return f"{drop['mean_drop']:.1%} / {drop['median_drop']:.1%}"
