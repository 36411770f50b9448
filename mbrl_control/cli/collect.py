"""`mbrl-control collect`: domain-randomized episodes from the simulator into a store.

Prints a JSON summary. Episodes are appended atomically as they finish, so an interrupted
run keeps every completed episode; re-running appends more episodes after them.

``--pixels`` also stores every state's camera frame beside the transitions (``OUT/images``,
one file per episode id, what ``SequenceLoader`` reads; docs/pixels.md "Collecting frames"),
from the task's ``camera`` section or the view ``--camera-view`` names (a pixel planner file's
trained view, or a camera mapping, as ``sim_node camera_view``).
"""

from __future__ import annotations

import argparse
import json

from mbrl_control.cli.checks import (
    float_in,
    nonneg_int,
    out_dir,
    policy_spec,
    positive_int,
    profile_ref,
    sim_task_name,
)
from mbrl_control.cli.errors import UsageError
from mbrl_control.cli.task_defaults import PROFILE_HELP, TASK_HELP, task_profile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=sim_task_name, required=True, help=TASK_HELP)
    parser.add_argument("--profile", type=profile_ref, help=PROFILE_HELP)
    parser.add_argument("--episodes", type=positive_int, required=True, help="episodes to collect")
    parser.add_argument(
        "--policy",
        type=policy_spec,
        default="random",
        help="'random' or 'planner:PATH' (a planner ONNX file)",
    )
    parser.add_argument(
        "--noise", type=float_in(0.0, 1.0), default=0.0,
        help="a planner policy's exploration noise: Gaussian, std = NOISE x half the action "
        "range, clipped to the bounds and withheld while a joint is at or heading for its limit "
        "(a safe excitation policy; docs/sim2real.md), e.g. 0.2",
    )  # fmt: skip
    parser.add_argument(
        "--noise-lookahead", type=float_in(0.0, 10.0), default=None, metavar="SECONDS",
        help="--noise is withheld when a joint's position + velocity x SECONDS (or its position) "
        "is beyond its position_range or rail limit (default: 0.3, "
        "mbrl_control.control.excitation.DEFAULT_LOOKAHEAD_S)",
    )  # fmt: skip
    parser.add_argument("--workers", type=positive_int, default=1, help="parallel workers")
    parser.add_argument("--out", type=out_dir, required=True, help="transition store folder")
    parser.add_argument("--seed", type=nonneg_int, default=0, help="root seed of all episodes")
    parser.add_argument(
        "--backend", choices=("local", "ray"), default="local", help="where workers run"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--pixels", action="store_true",
        help="also store each state's camera frame (OUT/images, read by SequenceLoader and "
        "objective_study; train-pixels collects its own)",
    )  # fmt: skip
    parser.add_argument(
        "--camera-view", default="", metavar="VIEW",
        help="--pixels' camera: PLANNER.onnx (a pixel planner's trained view) or a mapping, e.g. "
        "'{target: [0, 0, 0.15], distance: 1.4, pitch: 0}'; default: the task's camera section",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import logging

    if args.noise and args.policy == "random":
        raise UsageError("--noise is exploration noise on a planner policy (--policy planner:PATH)")
    camera = None
    if args.camera_view.strip():
        if not args.pixels:
            raise UsageError("--camera-view is the camera of --pixels: add --pixels")
        from mbrl_control.latent.camera_view import camera_view

        camera = camera_view(args.camera_view, "--camera-view")
    from mbrl_sim.collect import collect

    from mbrl_control.control.excitation import DEFAULT_LOOKAHEAD_S  # numpy: not at --help

    lookahead = DEFAULT_LOOKAHEAD_S if args.noise_lookahead is None else args.noise_lookahead

    logging.basicConfig(level=logging.WARNING)
    summary = collect(
        task=args.task,
        profile=task_profile(args.task, args.profile),
        episodes=args.episodes,
        policy=args.policy,
        workers=args.workers,
        out=args.out,
        seed=args.seed,
        backend=args.backend,
        quiet=args.quiet,
        noise=args.noise,
        noise_lookahead_s=lookahead,
        pixels=args.pixels,
        camera=camera,
    )
    print(json.dumps(summary, indent=2))
    return 0
