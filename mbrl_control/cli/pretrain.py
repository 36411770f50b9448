"""``mbrl-control pretrain``: collect randomized sim data in rounds, train, export planner.onnx.

Training metrics (per epoch and per round) go to OUT/metrics as TensorBoard event files and
metrics.csv; ``mbrl-control report OUT`` makes one HTML page of the run.
"""

from __future__ import annotations

import argparse
import json

from mbrl_control.cli.checks import (
    PRESET_NAMES,
    nonneg_int,
    out_dir,
    positive_int,
    profile_ref,
    sim_task_name,
)
from mbrl_control.cli.task_defaults import PRESET_HELP, PROFILE_HELP, TASK_HELP, task_profile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=sim_task_name, default="cartpole_swingup", help=TASK_HELP)
    parser.add_argument("--profile", type=profile_ref, help=PROFILE_HELP)
    parser.add_argument(
        "--out", type=out_dir, required=True, help="output folder (rerun to resume)"
    )
    parser.add_argument("--preset", choices=PRESET_NAMES, help=f"{PRESET_HELP} to train and export")
    parser.add_argument(
        "--seed-episodes", type=positive_int, default=10, help="random-policy episodes"
    )
    parser.add_argument("--rounds", type=nonneg_int, default=4, help="planner-driven rounds")
    parser.add_argument(
        "--episodes-per-round", type=positive_int, default=5, help="episodes collected per round"
    )
    parser.add_argument("--workers", type=positive_int, default=2, help="parallel sim workers")
    parser.add_argument(
        "--max-epochs", type=positive_int, default=60, help="training epochs cap per round"
    )
    parser.add_argument("--seed", type=nonneg_int, default=0, help="root seed of everything")
    parser.add_argument("--json", action="store_true", help="print the rounds as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from mbrl_control.pipeline.pretrain import PretrainConfig, check_resume, pretrain

    cfg = PretrainConfig(
        task=args.task,
        profile=task_profile(args.task, args.profile),
        preset=args.preset,
        seed_episodes=args.seed_episodes,
        rounds=args.rounds,
        episodes_per_round=args.episodes_per_round,
        workers=args.workers,
        seed=args.seed,
        max_epochs=args.max_epochs,
    )
    check_resume(cfg, args.out)  # a rerun resumes the same run, never mixes two
    result = pretrain(cfg, args.out, quiet=args.quiet)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"metrics: {args.out}/metrics (tensorboard --logdir {args.out}; or mbrl-control "
              f"report {args.out})")  # fmt: skip
    return 0
