"""``mbrl-control train-pixels``: learn to control from camera frames (issue 21, docs/pixels.md).

Collects 64x64 camera episodes in the simulator, trains an RSSM world model on them, and every
--eval-every env steps exports OUT/planner.onnx (encoder + filter + latent CEM in one graph)
and scores it with onnxruntime alone. Writes OUT/learning_curve.csv and .png as it goes,
OUT/checkpoint.pt after every episode, OUT/data (transitions + frames). Rerun the same command
to resume (a larger --env-steps continues training); other settings in an existing OUT are
refused.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from mbrl_control.cli.checks import (
    existing_file,
    float_in,
    int_at_least,
    int_in,
    nonneg_int,
    out_dir,
    positive_float,
    positive_int,
    sim_task_name,
)
from mbrl_control.cli.task_defaults import TASK_HELP

SIZES = ("small", "medium")
"""World-model sizes: ``small`` (depth 8, deter 32, stoch 8, hidden 32: the run's default,
``SMALL_MODEL``) and ``medium`` (depth 16, deter 128, stoch 16, hidden 128; ~16x the planning
cost per imagined step)."""


def teacher_ref(text: str) -> str:
    """``--teacher``: ``lqr`` (the reserved name: training's ``LQR_TEACHER``; a file of that
    name is ``./lqr``) or an existing planner file."""
    return text if text == "lqr" else existing_file(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=sim_task_name, default="cartpole_swingup", help=TASK_HELP)
    parser.add_argument("--out", type=out_dir, required=True, help="run folder (rerun to resume)")
    parser.add_argument(
        "--start", choices=("balance", "task"), default="balance",
        help="episode starts: 'balance' (pole near upright) or 'task' (the task file's)",
    )  # fmt: skip
    parser.add_argument("--env-steps", type=positive_int, default=20_000, help="steps to collect")
    parser.add_argument(
        "--seed-episodes", type=positive_int, default=5,
        help="episodes of exploration noise alone, before the planner acts",
    )  # fmt: skip
    parser.add_argument(
        "--updates-per-episode", type=positive_int, default=50, help="gradient steps per episode"
    )
    parser.add_argument(
        "--action-repeat", type=positive_int, default=4, help="env steps each action is held"
    )
    parser.add_argument("--batch", type=positive_int, default=16, help="sequences per update")
    parser.add_argument("--length", type=int_at_least(2), default=16, help="steps per sequence")
    parser.add_argument("--lr", type=positive_float, default=2e-3, help="Adam learning rate")
    parser.add_argument("--eval-every", type=positive_int, default=1000, help="env steps")
    parser.add_argument("--eval-episodes", type=positive_int, default=5, help="per evaluation")
    parser.add_argument("--horizon", type=positive_int, default=12, help="latent CEM: steps ahead")
    parser.add_argument("--iterations", type=positive_int, default=4, help="latent CEM: refits")
    parser.add_argument(
        "--population", type=positive_int, default=64, help="latent CEM: candidates (elites: 1/8)"
    )
    parser.add_argument("--size", choices=SIZES, default="small", help="world-model size")
    parser.add_argument(
        "--reward-overshoot", type=int_in(0, 100), default=0,
        help="train the reward head on states imagined 1..D steps ahead, as the planner reads "
        "it (0: off; at most --length; docs/pixels.md)",
    )  # fmt: skip
    parser.add_argument(
        "--foreground-weight", type=float_in(0.0, 1000.0), default=20.0,
        help="extra weight of the image error where a frame differs from the scene's median "
        "frame (0: plain squared error; docs/pixels.md)",
    )  # fmt: skip
    parser.add_argument(
        "--teacher", type=teacher_ref, default=None, metavar="PLANNER.onnx|lqr",
        help="a state planner (mbrl-control pretrain's planner.onnx), or 'lqr' (an LQR on the "
        "URDF's nominal cart-pole, designed for --action-repeat; cart-pole only), that drives "
        "the first --seed-episodes from the simulator's state, plus the exploration noise: "
        "episodes near upright for the world model (the pixel planner never reads the state; "
        "docs/pixels.md)",
    )  # fmt: skip
    parser.add_argument("--seed", type=nonneg_int, default=0, help="root seed of everything")
    parser.add_argument("--quiet", action="store_true", help="no per-episode lines")


def build_config(args: argparse.Namespace) -> Any:
    """The :class:`~mbrl_control.latent.training.PixelTrainConfig` of the parsed ``args``."""
    import dataclasses

    from mbrl_control.latent.planner import LatentPlannerConfig
    from mbrl_control.latent.training import PixelTrainConfig

    medium = {"depth": 16, "deter": 128, "stoch": 16, "hidden": 128}
    sizes: dict[str, dict[str, int]] = {"small": {}, "medium": medium}
    return PixelTrainConfig(
        task=args.task,
        start=args.start,
        env_steps=args.env_steps,
        seed_episodes=args.seed_episodes,
        updates_per_episode=args.updates_per_episode,
        action_repeat=args.action_repeat,
        batch=args.batch,
        length=args.length,
        lr=args.lr,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        teacher=args.teacher or "",
        seed=args.seed,
        model=dataclasses.replace(
            PixelTrainConfig().model,
            **sizes[args.size],
            foreground_weight=args.foreground_weight,
            reward_overshoot=args.reward_overshoot,
        ),
        planner=LatentPlannerConfig(
            horizon=args.horizon,
            iterations=args.iterations,
            population=args.population,
            elites=max(1, args.population // 8),
        ),
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from mbrl_control.latent.training import train_pixels

    torch.set_num_threads(1)  # small convolutions: one thread beats two on a shared machine
    result = train_pixels(
        build_config(args), args.out, log=(lambda _: None) if args.quiet else print
    )
    print(json.dumps(result, indent=2))
    return 0
