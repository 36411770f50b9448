"""``mbrl-control experiment sim2real``: the sim-to-real experiment (table + JSON + plot)."""

from __future__ import annotations

import argparse

from mbrl_control.cli.checks import (
    increasing_floats,
    nonneg_int,
    out_dir,
    positive_int,
    sim_task_name,
)
from mbrl_control.cli.task_defaults import TASK_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=["sim2real"], help="which experiment")
    parser.add_argument("--task", type=sim_task_name, default="cartpole_swingup", help=TASK_HELP)
    parser.add_argument("--out", type=out_dir, default="runs/sim2real", help="output folder")
    parser.add_argument(
        "--budgets", type=increasing_floats, default="1,2,5",
        help="real-robot minutes, comma separated, increasing",
    )  # fmt: skip
    parser.add_argument(
        "--eval-episodes", type=positive_int, default=10, help="evaluation episodes per row"
    )
    parser.add_argument("--rounds", type=nonneg_int, default=4, help="pretraining planner rounds")
    parser.add_argument("--no-baselines", action="store_true", help="skip no-DR/real-only/upper")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from mbrl_control.pipeline.pretrain import PretrainConfig
    from mbrl_control.pipeline.sim2real import Sim2RealConfig, run_sim2real

    cfg = Sim2RealConfig(
        pretrain=PretrainConfig(task=args.task, rounds=args.rounds),
        budgets_min=args.budgets,
        eval_episodes=args.eval_episodes,
        baselines=not args.no_baselines,
    )
    result = run_sim2real(cfg, args.out, quiet=args.quiet)
    from mbrl_control.pipeline.sim2real import markdown_table

    print(markdown_table(result["rows"]))
    print(f"wrote {args.out}/sim2real.md, sim2real.json, sim2real.png")
    return 0
