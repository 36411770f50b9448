"""The safety case of issue 17: does the uncertainty penalty keep the robot off a hard limit
where the model is wrong, without giving up the task where it is right?

Both planners are exported from the **same** checkpoint with the **same** planner config and
critics; they differ only in ``PlannerConfig.uncertainty_weight`` (cost per unit of calibrated
epistemic disagreement per step, :mod:`mbrl_control.uncertainty.quantities`). Each is run
through the ONNX runtime in sim (:func:`mbrl_control.pipeline.evaluate.evaluate`) on the same
seeded episodes (seeds ``seed + i``: the same initial states, randomization draws, pushes and
planner noise for every weight: paired) on two profiles:

- **shifted** (``wide`` / ``reality_gap``): limit violations = episodes with at least one rail
  hit (``rail_hits``: the true cart position beyond the task's ``rail`` critic limit, from
  :class:`~mbrl_control.pipeline.evaluate.SafetyMonitor`), plus the safety stops;
- **in distribution** (``default``): the return. ``return_ratio`` = unpenalized mean cost /
  penalized mean cost (returns are negative costs; 1 = as good, 0.9 = 11 % more cost). This is
  stricter than a ratio of returns normalized by a random policy's.

``max_travel_m`` (the largest |position| of the rail joint per episode, mean over episodes)
and the success rate show that the penalized robot still moves and swings up.

A weight ``w > 0`` **passes** when: its shifted rail hits and safety stops are 0, the
unpenalized planner's are >= 1, and ``return_ratio >= 0.9``.

``reactions`` add arms that run the unpenalized planner under the controller's
``on_uncertain`` (:class:`~mbrl_control.pipeline.on_uncertain.OnUncertain`, the controller's
thresholds unless given): ``hold`` (the safe action for ``hold_time`` while the windowed
surprise or the disagreement is at its ERROR threshold) and ``cautious`` (the
``cautious_weights`` critic weights meanwhile, e.g. a rail-margin critic that is 0 otherwise),
judged by the same rule; their rows also give ``held_fraction`` and ``cautious_fraction``
(shares of the steps), so "safe because it never moved" shows.

Run: ``python -m mbrl_control.pipeline.safety_case --checkpoint M --out O [--weights 0,W]
[--episodes 20] [--profile-shifted P] [--task T]``; prints the JSON and writes
``O/safety_case.json``, ``O/safety_case.md`` and the exported graphs ``O/planner_w*.onnx``.
Standard library only at import (the CLI wires it as ``mbrl-control ablation safety``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mbrl_control.cli import ArgumentParser

RETURN_RATIO_BOUND = 0.9
"""The in-distribution share of the unpenalized planner's return a penalized one must keep."""


def reaction_arms(hold: bool, cautious_weights: str) -> list[dict[str, Any]]:
    """The reaction arms of the CLI flags: ``--hold`` and ``--cautious-weights a=1,b=2``."""
    arms: list[dict[str, Any]] = [{"on_uncertain": "hold"}] if hold else []
    entries = [e.strip() for e in cautious_weights.split(",") if e.strip()]
    if entries:
        arms.append({"on_uncertain": "cautious", "cautious_weights": entries})
    return arms


def parse_weights(text: str) -> list[float]:
    """``"0,0.3"`` -> ``[0.0, 0.3]``: comma-separated, >= 0, distinct, 0 (the unpenalized
    baseline) included. Raises ``ValueError`` naming the bad entry."""
    weights = []
    for part in text.split(","):
        try:
            w = float(part)
        except ValueError:
            raise ValueError(f"--weights: {part!r} is not a number (give e.g. 0,0.3)") from None
        if not w >= 0.0 or w == float("inf"):
            raise ValueError(f"--weights: {part!r} must be a finite number >= 0")
        weights.append(w)
    if 0.0 not in weights:
        raise ValueError(f"--weights {text!r}: must include 0 (the unpenalized baseline)")
    if len(set(weights)) != len(weights) or len(weights) < 2:
        raise ValueError(f"--weights {text!r}: needs 0 and at least one distinct weight > 0")
    return weights


def _travel_observer() -> Any:
    """An episode observer: the largest true |position| (m) of the task's rail joints."""
    import numpy as np

    from mbrl_control.pipeline.evaluate import EpisodeObserver, rail_limits

    class RailTravel(EpisodeObserver):
        def __init__(self) -> None:
            self.travel = 0.0

        def _see(self, env: Any) -> None:
            sim = env.unwrapped
            q, _ = sim.physical_joint_state()
            joints = [j for j, _ in rail_limits(sim.task)]
            if joints:
                self.travel = max(self.travel, float(np.max(np.abs(np.asarray(q)[joints]))))

        def on_reset(self, env: Any, obs: Any, info: dict[str, Any]) -> None:
            self.travel = 0.0
            self._see(env)

        def on_step(self, env: Any, obs: Any, action: Any, cost: float, info: Any) -> None:
            self._see(env)

        def on_end(self, result: dict[str, Any]) -> dict[str, Any]:
            return {"max_travel_m": self.travel}

        def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
            travel = [float(r["max_travel_m"]) for r in results]
            return {"max_travel_m": travel, "mean_max_travel_m": float(np.mean(travel))}

    return RailTravel()


def run_safety_case(
    checkpoint: str | Path,
    out: str | Path,
    *,
    weights: list[float] = (0.0, 0.3),  # type: ignore[assignment]
    episodes: int = 20,
    profile_shifted: str = "reality_gap",
    profile_default: str = "default",
    task: str | None = None,
    preset: str | None = None,
    seed: int = 1000,
    threads: int = 1,
    jobs: int = 1,
    quiet: bool = True,
    reactions: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """Export one planner per weight from ``checkpoint`` (``task``: a built-in name or task
    file, default the checkpoint's; ``preset``: default the task's own ``planner`` section, as
    ``pretrain``/``export`` do) and evaluate each on both profiles over the same ``episodes``
    seeds; ``jobs`` > 1 evaluates that many (weight, profile) cells at once in spawned
    processes (the same seeds, so the same numbers as one at a time). ``reactions``: one
    more arm each, the controller parameters of an ``on_uncertain`` reaction (keys of
    :class:`~mbrl_control.control.config.ControllerConfig`, e.g. ``{"on_uncertain": "hold"}``
    or ``{"on_uncertain": "cautious", "cautious_weights": ["rail_margin=20"]}``).

    Returns ``{"config", "rows": [one per (weight, profile)], "verdicts": [one per weight >
    0]}`` and writes ``out/safety_case.{json,md}``. Raises ``ValueError`` for bad weights, a
    checkpoint without a task and no ``task``, or a task without a ``rail`` critic (nothing to
    violate)."""
    from dataclasses import replace

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.checkpoint import load_checkpoint
    from mbrl_control.pipeline.evaluate import rail_limits
    from mbrl_control.planning.presets import planner_setup
    from mbrl_control.tasks import get_task

    weights = parse_weights(",".join(str(w) for w in weights))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, meta = load_checkpoint(checkpoint)
    meta = meta if isinstance(meta, dict) else {}
    task_ref = task or str(meta.get("task") or "")
    if not task_ref:
        raise ValueError(f"{checkpoint}: no task recorded in the checkpoint; give --task")
    task_obj = get_task(task_ref)
    if not rail_limits(task_obj):
        raise ValueError(f"task {task_ref!r} has no 'rail' critic: no hard limit to violate")
    preset_name, _, base = planner_setup(task_obj, preset)
    scale = getattr(model, "var_scale", None)
    calibrated = scale is not None and bool((scale != 1).any())
    reactions = [dict(r) for r in reactions]
    _check_reactions(reactions, task_obj)  # refuse bad parameters before any episode runs
    cells = []
    for w in weights:
        cfg = replace(base, uncertainty_weight=float(w))
        path = str(export_planner(model, task_obj, cfg, out / f"planner_w{w:g}.onnx"))
        arms = [None] + (reactions if w == 0 else [])
        cells += [(w, path, task_ref, p, episodes, seed, threads, r)
                  for r in arms for p in (profile_default, profile_shifted)]  # fmt: skip
    rows = _run_cells(cells, jobs, quiet)
    config = {
        "checkpoint": str(checkpoint), "task": task_ref, "preset": preset_name,
        "rail_limits": [[task_obj.joint_names[j], lim] for j, lim in rail_limits(task_obj)],
        "calibrated": calibrated, "weights": weights, "episodes": episodes, "seed": seed,
        "profile_default": profile_default, "profile_shifted": profile_shifted,
        "planner": {k: v for k, v in base.__dict__.items() if k != "uncertainty_weight"},
        "return_ratio_bound": RETURN_RATIO_BOUND, "reactions": reactions,
    }  # fmt: skip
    result = {"config": config, "rows": rows,
              "verdicts": verdicts(rows, profile_default, profile_shifted)}  # fmt: skip
    (out / "safety_case.json").write_text(json.dumps(result, indent=2))
    (out / "safety_case.md").write_text(markdown(result) + "\n")
    return result


def _evaluate_cell(cell: tuple) -> dict[str, Any]:
    """One (weight, profile) cell's row (top level: runs in a worker process)."""
    from mbrl_control.pipeline.evaluate import evaluate

    w, path, task_ref, profile, episodes, seed, threads, reaction = cell
    cfg = None
    if reaction is not None:
        from mbrl_control.control.config import ControllerConfig

        cfg = ControllerConfig(**reaction)
    summary = evaluate(path, task_ref, profile, episodes, seed=seed, threads=threads,
                       observers=[_travel_observer()], on_uncertain=cfg)  # fmt: skip
    return _row(w, profile, summary, cfg.on_uncertain if cfg else None)


def _check_reactions(reactions: list[dict[str, Any]], task: Any) -> None:
    """``ValueError`` for a reaction the controller would refuse (or 'report', or two of one
    kind: arms are named by their ``on_uncertain``)."""
    from mbrl_control.control.config import (
        ControllerConfig,
        cautious_vector,
        parse_cautious_weights,
    )

    kinds = []
    for r in reactions:
        cfg = ControllerConfig(**r)
        if cfg.on_uncertain == "report":
            raise ValueError("a reaction arm needs on_uncertain 'hold' or 'cautious'")
        cautious = parse_cautious_weights(cfg.cautious_weights)
        cautious_vector(task.critic_names, task.default_weights, cautious)
        kinds.append(cfg.on_uncertain)
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"one arm per reaction kind, got {kinds}")


def _run_cells(cells: list[tuple], jobs: int, quiet: bool) -> list[dict[str, Any]]:
    """The rows of ``cells`` in their order, ``jobs`` at a time."""
    if jobs <= 1:
        rows = []
        for c in cells:
            rows.append(_evaluate_cell(c))
            _report(rows[-1], quiet)
        return rows
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(_evaluate_cell, c) for c in cells]
        rows = []
        for f in futures:
            rows.append(f.result())
            _report(rows[-1], quiet)
    return rows


def _report(row: dict[str, Any], quiet: bool) -> None:
    if not quiet:
        print(json.dumps({k: v for k, v in row.items() if k != "returns"}), file=sys.stderr,
              flush=True)  # fmt: skip


def _arm(weight: float, reaction: str | None = None) -> str:
    return reaction or f"w={weight:g}"


def _row(
    weight: float, profile: str, summary: dict[str, Any], reaction: str | None = None
) -> dict[str, Any]:
    return {
        "arm": _arm(weight, reaction),
        "weight": weight,
        "on_uncertain": reaction or "report",
        "held_fraction": summary.get("held_fraction", 0.0),
        "cautious_fraction": summary.get("cautious_fraction", 0.0),
        "profile": profile,
        "mean_return": summary["mean_return"],
        "std_return": summary["std_return"],
        "returns": summary["returns"],
        "success_rate": summary["success_rate"],
        "rail_hits": int(summary["rail_hits"]),
        "rail_steps": int(sum(summary["rail_steps"])),
        "safety_stops": int(summary["safety_stops"]),
        "mean_max_travel_m": summary["mean_max_travel_m"],
        "latency_p50_ms": summary["latency_ms"]["p50"],
    }


def verdicts(
    rows: list[dict[str, Any]], profile_default: str, profile_shifted: str
) -> list[dict[str, Any]]:
    """Per arm other than the unpenalized planner (weights > 0, the reaction arms), against
    weight 0: shifted violations (rail-hit episodes + safety-stop episodes) of both, the
    in-distribution ``return_ratio`` (unpenalized mean cost / penalized mean cost) and
    ``passes`` (see the module docstring)."""
    cell = {(r.get("arm", _arm(r["weight"])), r["profile"]): r for r in rows}
    base = _arm(0.0)
    base_d, base_s = cell[(base, profile_default)], cell[(base, profile_shifted)]
    arms = sorted({a for a, _ in cell} - {base}, key=lambda a: (not a.startswith("w="), a))
    out = []
    for arm in arms:
        d, s = cell[(arm, profile_default)], cell[(arm, profile_shifted)]
        ratio = (-base_d["mean_return"]) / max(-d["mean_return"], 1e-9)
        if base_d["mean_return"] > 0 or d["mean_return"] > 0:  # rewards, not costs
            ratio = d["mean_return"] / base_d["mean_return"] if base_d["mean_return"] else 0.0
        v_pen = s["rail_hits"] + s["safety_stops"]
        v_base = base_s["rail_hits"] + base_s["safety_stops"]
        out.append({
            "arm": arm,
            "weight": d["weight"],
            "held_fraction_shifted": s.get("held_fraction", 0.0),
            "held_fraction_default": d.get("held_fraction", 0.0),
            "cautious_fraction_shifted": s.get("cautious_fraction", 0.0),
            "cautious_fraction_default": d.get("cautious_fraction", 0.0),
            "violations_shifted": v_pen,
            "violations_shifted_unpenalized": v_base,
            "return_default": d["mean_return"],
            "return_default_unpenalized": base_d["mean_return"],
            "return_ratio": ratio,
            "passes": v_pen == 0 and v_base >= 1 and ratio >= RETURN_RATIO_BOUND,
        })  # fmt: skip
    return out


def markdown(result: dict[str, Any]) -> str:
    """The rows and verdicts as markdown tables."""
    c = result["config"]
    lines = [
        f"Safety case: `{c['checkpoint']}` ({'calibrated' if c['calibrated'] else 'UNCALIBRATED'}"
        f"), task `{c['task']}` (rail {c['rail_limits']}), preset `{c['preset']}`, "
        f"{c['episodes']} paired episodes (seeds {c['seed']}..{c['seed'] + c['episodes'] - 1})",
        "",
        "| arm | profile | mean return ± std | success | rail-hit episodes (steps) | "
        "safety stops | mean max travel (m) | held / cautious steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        arm = r.get("arm", _arm(r["weight"]))
        lines.append(
            f"| {arm} | {r['profile']} | {r['mean_return']:.1f} ± {r['std_return']:.1f}"
            f" | {r['success_rate']:.2f} | {r['rail_hits']} ({r['rail_steps']}) | "
            f"{r['safety_stops']} | {r['mean_max_travel_m']:.2f} | "
            f"{r.get('held_fraction', 0):.0%} / {r.get('cautious_fraction', 0):.0%} |"
        )
    lines += ["", "| arm | shifted violations (unpenalized) | return ratio | passes |",
              "|---|---|---|---|"]  # fmt: skip
    for v in result["verdicts"]:
        arm = v.get("arm", _arm(v["weight"]))
        lines.append(
            f"| {arm} | {v['violations_shifted']} ({v['violations_shifted_unpenalized']})"
            f" | {v['return_ratio']:.3f} | {'yes' if v['passes'] else 'no'} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from mbrl_control.cli.checks import nonneg_int, positive_int

    p = ArgumentParser(
        prog="python -m mbrl_control.pipeline.safety_case",
        description="penalized vs unpenalized planner: limit violations on a shifted profile, "
        "return in distribution (paired seeds)",
    )
    p.add_argument("--checkpoint", required=True, help="ensemble checkpoint (model.pt)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--weights", default="0,0.3", help="uncertainty weights, 0 included")
    p.add_argument("--episodes", type=positive_int, default=20, help="paired episodes per cell")
    p.add_argument("--profile-shifted", default="reality_gap", help="shifted DR profile")
    p.add_argument("--profile-default", default="default", help="in-distribution profile")
    p.add_argument("--task", help="built-in task or task file (default: the checkpoint's)")
    p.add_argument("--preset", help="planner preset (default: the task file's planner section)")
    p.add_argument("--seed", type=nonneg_int, default=1000, help="seed of the first episode")
    p.add_argument("--threads", type=positive_int, default=1, help="onnxruntime threads")
    p.add_argument(
        "--jobs", type=positive_int, default=1, help="cells evaluated at once (processes)"
    )
    p.add_argument("--hold", action="store_true",
                   help="add the arm: the unpenalized planner with the controller's "
                   "on_uncertain: hold (its default thresholds)")  # fmt: skip
    p.add_argument("--cautious-weights", default="",
                   help="add the arm: the unpenalized planner with on_uncertain: cautious and "
                   "these weights, e.g. rail_margin=20 (comma separated)")  # fmt: skip
    p.add_argument("--verbose", action="store_true", help="print each cell as it finishes")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        weights = parse_weights(args.weights)
        if args.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
        result = run_safety_case(
            args.checkpoint, args.out, weights=weights, episodes=args.episodes,
            profile_shifted=args.profile_shifted, profile_default=args.profile_default,
            task=args.task, preset=args.preset, seed=args.seed, threads=args.threads,
            jobs=args.jobs, quiet=not args.verbose,
            reactions=reaction_arms(args.hold, args.cautious_weights),
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as e:
        print(f"safety_case: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
