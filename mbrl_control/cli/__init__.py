"""``mbrl-control``: the command-line entry point.

Each subcommand lives in its own module ``mbrl_control.cli.<name>`` exposing
``add_arguments(parser)`` and ``run(args) -> int``. Those modules import only the standard
library at import time (heavy imports happen inside ``run``), so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mbrl_control import __version__

# subcommand -> (module, one-line help). Order is the order in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("mbrl_control.cli.demo", "cart-pole sim-to-real demo on embedded defaults (~3 min)"),
    "collect": ("mbrl_control.cli.collect", "collect domain-randomized transitions in sim"),
    "train": ("mbrl_control.cli.train", "train an ensemble dynamics model on a transition store"),
    "export": ("mbrl_control.cli.export", "compile a checkpoint + planner config to planner.onnx"),
    "evaluate": ("mbrl_control.cli.evaluate", "closed-loop episodes of a planner in sim"),
    "train-value": ("mbrl_control.cli.train_value", "learn a value + policy for a model (MBPO)"),
    "pretrain": ("mbrl_control.cli.pretrain", "collect, train and export in rounds (resumable)"),
    "finetune": ("mbrl_control.cli.finetune", "finetune a checkpoint on recorded robot data"),
    "experiment": ("mbrl_control.cli.experiment", "run a cited experiment (sim2real)"),
    "ablation": ("mbrl_control.cli.ablation", "studies: value (H x value), rollout-length"),
    "bench": ("mbrl_control.cli.bench", "benchmarks that print JSON (planner, sim, train, ...)"),
    "launch": ("mbrl_control.cli.launch", "run a ROS 2 YAML launch file without ros2 launch"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mbrl-control",
        description="Model-based RL control for ROS 2: ensemble models + ONNX MPC planners.",
    )
    parser.add_argument("--version", action="version", version=f"mbrl_control {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
