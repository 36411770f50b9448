"""``mbrl-control dyna``: Dyna-Q (tabular Q-learning + a tabular model + n planning updates
per real step) on Sutton & Barto's Dyna maze and gymnasium's FrozenLake, averaged over seeds.

For each environment: steps per episode and the exact value of the greedy policy vs episode
for every n (on the stochastic ones also with a model that keeps only the last outcome);
prints a JSON summary and writes ``OUT/dyna_<env>.json`` (all curves, per seed) and
``OUT/dyna_<env>.png``. See docs/dyna.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mbrl_control.cli.checks import Bad, nonneg_int, out_dir, positive_int

ENVS = ("maze", "maze-slip", "frozenlake")  # mbrl_control.tabular.study.ENVS (numpy-free here)
DEFAULT_EPISODES = {"maze": 50, "maze-slip": 50, "frozenlake": 300}


def planning_steps(text: str) -> tuple[int, ...]:
    """Comma-separated distinct integers >= 0, e.g. ``0,5,50``."""
    values = tuple(nonneg_int(x.strip()) for x in text.split(",") if x.strip())
    if not values or len(set(values)) != len(values):
        raise Bad(f"must be distinct integers >= 0, comma separated (e.g. 0,5,50); got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", choices=[*ENVS, "all"], default="maze",
        help="environment: maze (S&B Fig. 8.2), maze-slip (20 %% random moves), frozenlake "
        "(slippery 4x4), or all",
    )  # fmt: skip
    parser.add_argument("--n", type=planning_steps, default="0,5,50", help="planning steps n")
    parser.add_argument("--seeds", type=positive_int, default=10, help="seeds per curve")
    parser.add_argument(
        "--episodes", type=positive_int,
        help="episodes per run (default: 50 on the mazes, 300 on frozenlake)",
    )  # fmt: skip
    parser.add_argument(
        "--by-episode", type=positive_int, default=5, help="episode the summary reports at"
    )
    parser.add_argument("--seed", type=nonneg_int, default=0, help="seed of the first run")
    parser.add_argument("--out", type=out_dir, default="runs/dyna", help="output folder")


def run(args: argparse.Namespace) -> int:
    from mbrl_control.tabular.plot import plot_study
    from mbrl_control.tabular.study import run_study

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    printed = {}
    for env in ENVS if args.env == "all" else (args.env,):
        result = run_study(
            env, ns=args.n, seeds=args.seeds, episodes=args.episodes or DEFAULT_EPISODES[env],
            base_seed=args.seed, by_episode=args.by_episode,
        )  # fmt: skip
        (out / f"dyna_{env}.json").write_text(json.dumps(result, indent=1) + "\n")
        png = plot_study(result, out / f"dyna_{env}.png")
        printed[env] = {
            "config": result["config"],
            "summary": result["summary"],
            "steps_mean": {k: r["steps_mean"] for k, r in result["runs"].items()},
            "files": [str(out / f"dyna_{env}.json"), str(png)],
        }
    print(json.dumps(printed, indent=1))
    return 0
