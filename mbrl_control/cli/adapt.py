"""`mbrl-control adapt`: calibrate → re-pretrain → finetune → gate, from robot data.

The loop a lab runs once it has recorded a minute or more on its robot (with the current
planner plus bounded exploration noise, e.g. `finetune_node`'s recorder; or imported logs):
calibrate the simulator to the recording, re-pretrain a copy of the pretraining run warm in
the calibrated simulator, finetune that on the real data, gate on the newest real episodes,
and say which planner to deploy (or to keep the current one). Prints one line per step and a
summary; --json prints OUT/adapt.json. See mbrl_control/pipeline/adapt.py.
"""

from __future__ import annotations

import argparse
import json

from mbrl_control.cli.checks import (
    existing_dir,
    existing_file,
    fraction,
    int_at_least,
    nonneg_int,
    out_dir,
    positive_int,
    sim_task_name,
)
from mbrl_control.cli.task_defaults import TASK_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=sim_task_name, required=True, help=TASK_HELP)
    parser.add_argument(
        "--run", type=existing_dir, required=True,
        help="pretraining run folder (mbrl-control pretrain --out RUN): model.pt, planner.onnx, "
        "data/, rounds.json",
    )  # fmt: skip
    parser.add_argument(
        "--data", type=existing_dir, required=True, help="transition store of real robot data"
    )
    parser.add_argument("--out", type=out_dir, required=True, help="output folder")
    parser.add_argument(
        "--rounds", type=nonneg_int, default=2, help="planner rounds of re-pretraining"
    )
    parser.add_argument(
        "--episodes-per-round", type=positive_int, default=5, help="episodes per planner round"
    )
    parser.add_argument("--workers", type=positive_int, default=2, help="simulator processes")
    parser.add_argument(
        "--evaluations", type=int_at_least(8), default=400, help="CMA-ES evaluations (>= 32)"
    )
    parser.add_argument(
        "--holdout-episodes", type=positive_int, default=1, help="newest real episodes gated on"
    )
    parser.add_argument(
        "--real-ratio", type=fraction, default=0.9, help="real share of a finetuning batch"
    )
    parser.add_argument("--max-epochs", type=positive_int, default=50, help="training epochs cap")
    parser.add_argument(
        "--current", type=existing_file,
        help="checkpoint of the model the robot runs now, which the result must beat on the "
        "held-out real episodes (default: RUN/model.pt)",
    )  # fmt: skip
    parser.add_argument("--seed", type=nonneg_int, default=0, help="seed of every step")
    parser.add_argument("--json", action="store_true", help="print OUT/adapt.json")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from mbrl_sim.calibration import CalibrationConfig

    from mbrl_control.cli.calibrate import check_evaluations
    from mbrl_control.pipeline.adapt import adapt

    check_evaluations(CalibrationConfig(evaluations=args.evaluations, seed=args.seed))
    result = adapt(
        args.task, args.run, args.data, args.out, rounds=args.rounds,
        episodes_per_round=args.episodes_per_round, workers=args.workers,
        evaluations=args.evaluations, holdout_episodes=args.holdout_episodes,
        real_ratio=args.real_ratio, max_epochs=args.max_epochs, seed=args.seed,
        current=args.current, quiet=args.quiet,
    )  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2, default=float))
        return 0
    cal = result["calibration"]
    fitted = ", ".join(f"{k} {v:.3g}" for k, v in (cal["fitted"] or {}).items())
    print(f"calibrated: {cal['profile']} ({fitted})")
    err = cal.get("replay_error") or {}
    held = err.get("holdout") or err.get("fit")
    if held:
        print(f"  {err['horizon']}-step replay error {held['before']:.3f} -> {held['after']:.3f}")
    for pair in cal.get("identifiable_only_together") or []:
        print(f"  identifiable only together: {pair['combination']} = {pair['value']:.4g}")
    print(f"re-pretrained: {result['repretrain_rounds']} rounds in the calibrated simulator")
    print(f"finetune gate (one-step error, the live model's units): {result['gate']['reason']}")
    head = f"deploy {result['planner']}: " if result["deploy"] else ""
    print(f"{head}{result['reason']} (one-step error on the held-out real episodes)")
    print(f"({result['total_s']:.0f} s; {args.out}/adapt.json)")
    return 0
