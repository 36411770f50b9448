"""``mbrl-control evaluate``: closed-loop episodes of a planner ONNX file in sim (no ROS)."""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from mbrl_control.cli.checks import (
    PRESET_NAMES,
    existing_file,
    hold_expr,
    nonneg_int,
    out_file,
    positive_int,
    profile_ref,
    sim_task_name,
)
from mbrl_control.cli.errors import UsageError
from mbrl_control.cli.task_defaults import PROFILE_HELP, task_profile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--planner", type=existing_file, help="planner ONNX file")
    which.add_argument(
        "--oracle",
        metavar="PRESET",
        nargs="?",
        const="",
        choices=("", *PRESET_NAMES),
        help="plan with PRESET's optimizer on the true simulator instead of a learned model "
        f"(one of: {', '.join(PRESET_NAMES)}; no value: the task's own preset)",
    )
    parser.add_argument(
        "--task",
        type=sim_task_name,
        help="task to run: a built-in name or a task file (default: the planner file's task; "
        "with --oracle: cartpole_swingup)",
    )
    parser.add_argument("--profile", type=profile_ref, help=PROFILE_HELP)
    parser.add_argument("--episodes", type=positive_int, default=10, help="episodes to run")
    parser.add_argument(
        "--seed", type=nonneg_int, default=1000, help="seed of the first episode (then +1 each)"
    )
    parser.add_argument(
        "--threads", type=nonneg_int, default=None,
        help="onnxruntime intra-op threads, only with --planner (0 = ORT's; default 2)",
    )  # fmt: skip
    parser.add_argument(
        "--hold", type=hold_expr, action="append", metavar="NAME>=VALUE",
        help="also report how long an observation entry stays at or beyond a value (fraction "
        "of steps, longest unbroken run), e.g. --hold 'tip_z>=1.8' (quoted: > is the shell's); "
        "repeatable",
    )  # fmt: skip
    parser.add_argument("--video", type=out_file, help="also render one episode to this GIF")
    parser.add_argument(
        "--record", type=new_mcap, metavar="FILE.mcap",
        help="also record the episodes as a rosbag2-compatible MCAP file (joint states, "
        "commands, goal, step cost, diagnostics and each step's plan; opens in Foxglove and "
        "`mbrl-control import`)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the full summary as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def new_mcap(text: str) -> str:
    """A new ``.mcap`` file name: a recording never replaces another."""
    path = Path(text)
    if path.suffix != ".mcap":
        raise argparse.ArgumentTypeError(f"need a .mcap file name, got {text}")
    if path.exists():
        raise argparse.ArgumentTypeError(f"already exists (recordings are never replaced): {text}")
    if any(p.exists() and not p.is_dir() for p in path.parents):
        raise argparse.ArgumentTypeError(f"a parent of {text} is a file, not a folder")
    return text


def run(args: argparse.Namespace) -> int:
    from mbrl_control.pipeline.evaluate import HoldObserver, planner_task
    from mbrl_control.tasks import get_task

    if args.threads is not None and args.planner is None:
        raise UsageError("--threads: only with --planner (the oracle plans on the simulator)")
    args.threads = 2 if args.threads is None else args.threads
    if args.task is None:
        args.task = "cartpole_swingup" if args.planner is None else planner_task(args.planner)
    args.profile = task_profile(args.task, args.profile)
    observed = get_task(args.task).obs_names
    args.hold = args.hold or []
    for hold in args.hold:
        if hold.name not in observed:
            raise UsageError(
                f"argument --hold: {hold.name!r} is not observed by {args.task}; "
                f"observed: {list(observed)}"
            )
    observers = [HoldObserver(args.hold)] if args.hold else []
    with contextlib.ExitStack() as stack:
        if args.record:
            from mbrl_control.recording.episode_recorder import EpisodeRecorder

            observers.append(stack.enter_context(EpisodeRecorder(args.record)))
        summary = _evaluate(args, observers)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        lat = summary["latency_ms"]
        timing = f"planner p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms"
        print(
            f"{args.task} on {args.profile}: return {summary['mean_return']:.1f} ± "
            f"{summary['std_return']:.1f} over {summary['episodes']} episodes, success "
            f"{summary['success_rate']:.0%}, {timing}"
        )
        for label, h in summary.get("holds", {}).items():
            print(
                f"  hold {label}: {h['step_fraction']:.1%} of steps, longest "
                f"{h.get('longest_s_max', 0.0):.2f} s (mean of the episodes' longest "
                f"{h.get('longest_s_mean', 0.0):.2f} s)"
            )
        if args.record:
            print(f"recorded {summary['episodes']} episodes to {args.record}")
    return 0


def _evaluate(args: argparse.Namespace, observers: list) -> dict:
    """The planner's (or the oracle's) evaluation summary, with ``observers``."""
    from mbrl_control.pipeline.evaluate import evaluate, evaluate_oracle

    if args.planner is None:
        return evaluate_oracle(
            args.oracle or None,
            args.task,
            args.profile,
            args.episodes,
            seed=args.seed,
            quiet=args.quiet,
            observers=observers,
        )
    return evaluate(
        args.planner,
        args.task,
        args.profile,
        args.episodes,
        seed=args.seed,
        threads=args.threads,
        video=args.video,
        quiet=args.quiet,
        observers=observers,
    )
