"""``mbrl-control bench train``: ensemble training throughput, printed as JSON.

Trains the given ensemble size for ``--epochs`` epochs over ``--rows`` synthetic transitions
(a random nonlinear map; throughput does not depend on the data's content) with the real
trainer (bootstrap, Adam, per-member best weights), nothing held out. Reports rows per member
per second of gradient steps, seconds per epoch, and the achieved GFLOP/s next to the
machine's float32 GEMM rate measured in the same run at the trainer's batched shape.
"""

from __future__ import annotations

import argparse
import itertools
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import positive_int as pos

    parser.add_argument("--rows", type=pos, default=100_000, help="training transitions")
    parser.add_argument("--epochs", type=pos, default=1, help="epochs to time")
    parser.add_argument("--members", type=pos, default=5, help="ensemble members")
    parser.add_argument("--hidden", type=pos, default=200, help="hidden units per layer")
    parser.add_argument("--layers", type=pos, default=4, help="hidden layers")
    parser.add_argument("--batch-size", type=pos, default=256, help="minibatch rows per member")
    parser.add_argument("--obs-dim", type=pos, default=5, help="observation size (cart-pole: 5)")
    parser.add_argument("--act-dim", type=pos, default=1, help="action size (cart-pole: 1)")
    parser.add_argument("--threads", type=pos, default=2, help="torch intra-op threads")
    parser.add_argument("--json", action="store_true", help="accepted for symmetry; always JSON")


def train_flops(rows: int, members: int, dims: list[int]) -> float:
    """Multiply-add FLOPs of forward + backward over ``rows`` rows per member (3x forward)."""
    macs = sum(i * o for i, o in itertools.pairwise(dims))
    return 3 * 2 * macs * rows * members


def run(args: argparse.Namespace) -> int:
    import time

    import numpy as np
    import torch

    from mbrl_control.models.config import EnsembleConfig, TrainConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.models.trainer import fit

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    o, a = args.obs_dim, args.act_dim
    obs = rng.standard_normal((args.rows, o)).astype(np.float32)
    action = rng.uniform(-1, 1, (args.rows, a)).astype(np.float32)
    mix = rng.standard_normal((o + a, o)).astype(np.float32) * 0.3
    next_obs = obs + np.tanh(np.concatenate([obs, action], 1) @ mix)
    cfg = EnsembleConfig(o, a, members=args.members, hidden=args.hidden, layers=args.layers)
    model = Ensemble(cfg)
    train_cfg = TrainConfig(
        batch_size=args.batch_size, max_epochs=args.epochs, holdout_fraction=0.0, patience=10**6
    )
    metrics = fit(model, obs, action, next_obs, cfg=train_cfg, rng=rng)

    # GEMM reference: the widest layer's batched matmul at the training shape
    x = torch.randn(args.members, args.batch_size, args.hidden)
    w = torch.randn(args.members, args.hidden, args.hidden)
    reps = 200
    torch.bmm(x, w)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.bmm(x, w)
    gemm = 2 * x.numel() * args.hidden * reps / (time.perf_counter() - t0) / 1e9

    dims = [o + a] + [args.hidden] * args.layers + [2 * o]
    seconds_per_epoch = args.rows / metrics["samples_per_s"]
    achieved = train_flops(args.rows, args.members, dims) / seconds_per_epoch / 1e9
    print(
        json.dumps(
            {
                "bench": "train",
                "members": args.members,
                "hidden": args.hidden,
                "layers": args.layers,
                "activation": cfg.activation,
                "batch_size": args.batch_size,
                "rows": args.rows,
                "epochs": args.epochs,
                "threads": torch.get_num_threads(),
                "samples_per_s_per_member": round(metrics["samples_per_s"], 1),
                "samples_per_s_all_members": round(metrics["samples_per_s"] * args.members, 1),
                "seconds_per_epoch": round(seconds_per_epoch, 3),
                "seconds_per_epoch_100k": round(100_000 / metrics["samples_per_s"], 3),
                "target_seconds_per_epoch_100k": 15.0,
                "achieved_gflops": round(achieved, 2),
                "bmm_gflops_same_shape": round(gemm, 2),
                "fraction_of_bmm": round(achieved / gemm, 3),
                "torch": torch.__version__,
            },
            indent=2,
        )
    )
    return 0
