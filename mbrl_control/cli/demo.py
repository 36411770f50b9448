"""``mbrl-control demo``: cart-pole sim-to-real on embedded defaults, with the calibrate-and-adapt
loop (3.0 min measured on 2 cores, 2026-12-01: the adaptation runs beside the finetune curve)."""

from __future__ import annotations

import argparse

from mbrl_control.cli.checks import out_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=out_dir, default="runs/demo", help="output folder")
    parser.add_argument(
        "--no-record", action="store_true",
        help="do not record the final evaluation as OUT/eval.mcap (recorded by default; an "
        "existing recording is never replaced: the demo refuses to start)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from mbrl_control.pipeline.demo import run_demo

    run_demo(args.out, quiet=args.quiet, record=not args.no_record)
    return 0
