"""``mbrl-control pretrain``: collect randomized sim data in rounds, train, export planner.onnx."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default="cartpole_swingup")
    parser.add_argument("--profile", default="default", help="domain-randomization profile")
    parser.add_argument("--out", required=True, help="output folder (rerun to resume)")
    parser.add_argument("--preset", default="cartpole-rt", help="planner preset to export")
    parser.add_argument("--seed-episodes", type=int, default=10, help="random-policy episodes")
    parser.add_argument("--rounds", type=int, default=4, help="planner-driven rounds")
    parser.add_argument("--episodes-per-round", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the rounds as JSON")
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from mbrl_control.pipeline.pretrain import PretrainConfig, pretrain

    cfg = PretrainConfig(
        task=args.task,
        profile=args.profile,
        preset=args.preset,
        seed_episodes=args.seed_episodes,
        rounds=args.rounds,
        episodes_per_round=args.episodes_per_round,
        workers=args.workers,
        seed=args.seed,
        max_epochs=args.max_epochs,
    )
    result = pretrain(cfg, args.out, quiet=args.quiet)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0
