"""``mbrl-control train-value``: a value and a policy for a trained ensemble, learned MBPO-style.

Writes ``OUT/agent.pt``, ``OUT/policy.onnx``, ``OUT/report.json`` and ``OUT/metrics`` (every
epoch's scalars: TensorBoard event files and metrics.csv); prints a summary:
imagined returns, critic loss, rollout lengths used, real ratio over time and the policy's
own closed-loop return in sim.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mbrl_control.cli.checks import (
    existing_dir,
    existing_file,
    float_in,
    nonneg_int,
    out_dir,
    positive_float,
    positive_int,
    profile_ref,
    sim_task_name,
)
from mbrl_control.cli.task_defaults import PROFILE_HELP, TASK_HELP, task_profile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=sim_task_name, required=True, help=TASK_HELP)
    parser.add_argument(
        "--data", type=existing_dir, required=True, help="transition store folder (real data)"
    )
    parser.add_argument(
        "--checkpoint", type=existing_file, required=True, help="ensemble checkpoint (model.pt)"
    )
    parser.add_argument("--out", type=out_dir, required=True, help="output folder")
    parser.add_argument("--epochs", type=positive_int, default=60, help="MBPO epochs")
    parser.add_argument("--updates", type=positive_int, default=500, help="SAC updates per epoch")
    parser.add_argument("--rollout-length", type=positive_int, default=5, help="longest branch k")
    parser.add_argument("--branches", type=positive_int, default=2000, help="branches per epoch")
    parser.add_argument("--env-steps", type=nonneg_int, default=0, help="real sim steps per epoch")
    parser.add_argument(
        "--retrain-every", type=positive_int, default=1000, help="real steps per refit"
    )
    parser.add_argument("--gamma", type=float_in(0.0, 1.0), default=0.99, help="SAC discount")
    parser.add_argument(
        "--init-alpha", type=positive_float, default=0.1,
        help="initial entropy temperature (lower it when per-step costs are << 1)",
    )  # fmt: skip
    parser.add_argument("--eval-episodes", type=nonneg_int, default=5, help="policy-only episodes")
    parser.add_argument("--profile", type=profile_ref, help=PROFILE_HELP + " (env steps, eval)")
    parser.add_argument("--seed", type=nonneg_int, default=0, help="seed of everything")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch intra-op threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import torch

    from mbrl_control.agents.config import MBPOConfig, SACConfig
    from mbrl_control.pipeline.train_value import train_value

    torch.set_num_threads(args.threads)
    mbpo = MBPOConfig(
        epochs=args.epochs,
        updates_per_epoch=args.updates,
        rollout_length=args.rollout_length,
        branches=args.branches,
        env_steps_per_epoch=args.env_steps,
        retrain_every=args.retrain_every,
        seed=args.seed,
    )
    report = train_value(
        args.task, args.data, args.checkpoint, args.out,
        sac_cfg=SACConfig(gamma=args.gamma, init_alpha=args.init_alpha), mbpo_cfg=mbpo,
        profile=task_profile(args.task, args.profile),
        eval_episodes=args.eval_episodes, quiet=args.quiet,
    )  # fmt: skip
    history = report["history"]
    marks = sorted({0, len(history) // 4, len(history) // 2, len(history) - 1})
    print("epoch  k  branch_len  real_ratio  imagined_return  critic_loss  alpha")
    for h in (history[i] for i in marks):
        print(
            f"{h['epoch']:5d} {h['rollout_length']:2d} {h['mean_branch_length']:11.2f} "
            f"{h['real_ratio']:11.2f} {h['imagined_return']:16.2f} {h['critic_loss']:12.4f} "
            f"{h['alpha']:6.3f}"
        )
    ev = report["policy_eval"]
    summary = {
        "agent": report["agent"],
        "policy": report["policy"],
        "real_transitions": report["real_transitions"],
        "real_steps": report["real_steps"],
        "policy_mean_return": ev and ev["mean_return"],
        "policy_episodes": ev and ev["episodes"],
        "metrics": str(Path(args.out) / "metrics"),
    }
    print(json.dumps(summary, indent=2))
    return 0
