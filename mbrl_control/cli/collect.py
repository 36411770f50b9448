"""`mbrl-control collect`: domain-randomized episodes from the simulator into a store.

Prints a JSON summary. Episodes are appended atomically as they finish, so an interrupted
run keeps every completed episode; re-running appends more episodes after them.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task name, e.g. cartpole_swingup")
    parser.add_argument("--profile", default="default", help="DR profile name or YAML path")
    parser.add_argument("--episodes", type=int, required=True, help="episodes to collect")
    parser.add_argument(
        "--policy", default="random", help="'random' or 'planner:PATH' (a planner ONNX file)"
    )
    parser.add_argument("--workers", type=int, default=1, help="parallel workers")
    parser.add_argument("--out", required=True, help="transition store folder")
    parser.add_argument("--seed", type=int, default=0, help="root seed of all episodes")
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import logging
    import sys

    from mbrl_sim.collect import collect

    logging.basicConfig(level=logging.WARNING)
    try:
        summary = collect(
            task=args.task,
            profile=args.profile,
            episodes=args.episodes,
            policy=args.policy,
            workers=args.workers,
            out=args.out,
            seed=args.seed,
            backend=args.backend,
            quiet=args.quiet,
        )
    except ValueError as err:
        print(f"mbrl-control collect: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0
