"""``mbrl-control finetune``: retrain a live model on recorded robot data, gate, export.

Data come from a transition store (``--data``, e.g. written by ``finetune_node``) or from a
rosbag2 bag recorded with ``ros2 bag record joint_states commands`` (``--bag DIR|FILE``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from mbrl_control.cli.checks import (
    existing_dir,
    existing_file,
    existing_path,
    fraction,
    out_dir,
    positive_int,
    task_name,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=existing_dir, help="transition store directory of real data")
    src.add_argument(
        "--bag",
        type=existing_path,
        help="rosbag2 bag: a directory (MCAP or sqlite3 storage) or one .mcap/.db3 file with "
        "joint_states and commands (+ optional goal, episode_start)",
    )
    parser.add_argument("--namespace", help="read the bag's topics under this namespace")
    parser.add_argument(
        "--task",
        type=task_name,
        default=None,
        help="task name or task file; default: the planner's (a --task that disagrees with "
        "the planner's task is refused)",
    )
    parser.add_argument(
        "--checkpoint", type=existing_file, required=True, help="live model checkpoint (model.pt)"
    )
    parser.add_argument(
        "--planner", type=existing_file, required=True, help="live planner ONNX (config reused)"
    )
    parser.add_argument(
        "--out", type=out_dir, required=True, help="directory for model-K.pt / planner-K.onnx"
    )
    parser.add_argument(
        "--sim-data", type=existing_dir, help="sim transition store mixed in as replay"
    )
    parser.add_argument("--real-ratio", type=fraction, default=0.9, help="real share of a batch")
    parser.add_argument(
        "--holdout-episodes", type=positive_int, default=1, help="newest real episodes"
    )
    parser.add_argument("--max-epochs", type=positive_int, default=50, help="training epochs cap")
    parser.add_argument("--json", action="store_true", help="print the gate result as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from mbrl_control.data.store import TransitionStore
    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.finetune.retrain import dumps, load_real, retrain_and_gate
    from mbrl_control.models.config import TrainConfig
    from mbrl_control.tasks import get_task
    from mbrl_control.tasks.portable import disagreement, task_from_metadata

    task = task_from_metadata(OnnxPlanner(args.planner, validate=False).metadata, args.planner)
    if args.task:
        why = disagreement(get_task(args.task), task.metadata(), "--task")
        if why:
            raise ValueError(f"{args.planner}: refused: {why}")
    with tempfile.TemporaryDirectory() as tmp:
        real = load_real(args.data, args.bag, task, Path(tmp), args.namespace)
        sim = TransitionStore(args.sim_data).load() if args.sim_data else None
        result = retrain_and_gate(
            real,
            args.checkpoint,
            args.planner,
            args.out,
            sim=sim,
            real_ratio=args.real_ratio,
            holdout_episodes=args.holdout_episodes,
            train_cfg=TrainConfig(max_epochs=args.max_epochs),
            quiet=args.quiet,
        )
    if args.json:
        print(dumps(result))
    else:
        verdict = f"deployed {result['planner']}" if result["deploy"] else "kept the live model"
        print(
            f"hold-out error on the newest real episodes: live {result['live_error']:.4g}, "
            f"new {result['new_error']:.4g} -> {verdict}"
        )
    return 0
