"""``mbrl-control ablation value``: horizon x {no value, value, value + prior} in one run.

Prints the markdown table (mean return over the episodes, planning latency p50/p99) and
writes ``OUT/ablation_value.md`` and ``OUT/ablation_value.json`` next to the exported graphs.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=["value"], help="which ablation")
    parser.add_argument("--task", default="cartpole_swingup")
    parser.add_argument("--checkpoint", required=True, help="ensemble checkpoint (model.pt)")
    parser.add_argument("--agent", required=True, help="agent checkpoint from train-value")
    parser.add_argument("--out", default="runs/ablation_value", help="output folder")
    parser.add_argument("--preset", default="cartpole-rt", help="planner preset to vary")
    parser.add_argument("--horizons", default="3,5,10,15", help="comma separated")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per cell")
    parser.add_argument("--prior-frac", type=float, default=0.25, help="policy-prior share")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from mbrl_control.pipeline.value_ablation import markdown_table, run_value_ablation

    torch.set_num_threads(1)
    result = run_value_ablation(
        args.task, args.checkpoint, args.agent, args.out, preset=args.preset,
        horizons=tuple(int(h) for h in args.horizons.split(",")), episodes=args.episodes,
        prior_frac=args.prior_frac, profile=args.profile, seed=args.seed, quiet=args.quiet,
    )  # fmt: skip
    table = markdown_table(result["rows"])
    out = Path(args.out)
    (out / "ablation_value.md").write_text(table + "\n")
    (out / "ablation_value.json").write_text(json.dumps(result, indent=2))
    print(table)
    print(f"wrote {out}/ablation_value.md and ablation_value.json")
    return 0
