"""``mbrl-control ablation value | rollout-length``: the studies behind the value/MBPO results.

``value``: horizon x {no value, value, value + prior} in one run; prints the markdown table
(mean return over the episodes, planning latency p50/p99) and writes
``OUT/ablation_value.md`` and ``OUT/ablation_value.json`` next to the exported graphs.

``rollout-length``: the model's k-step error and members' spread on fresh policy episodes
and on the store, and (``--train-ks``) MBPO's policy return per branch length k; prints the
tables and writes ``OUT/rollout_study.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=["value", "rollout-length"], help="which ablation")
    parser.add_argument("--task", default="cartpole_swingup")
    parser.add_argument("--checkpoint", required=True, help="ensemble checkpoint (model.pt)")
    parser.add_argument("--agent", required=True, help="agent checkpoint from train-value")
    parser.add_argument("--out", help="output folder (default runs/ablation_<name>)")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per cell / set")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--quiet", action="store_true")
    value = parser.add_argument_group("value")
    value.add_argument("--preset", default="cartpole-rt", help="planner preset to vary")
    value.add_argument("--horizons", default="3,5,10,15", help="comma separated")
    value.add_argument("--prior-frac", type=float, default=0.25, help="policy-prior share")
    value.add_argument("--seed", type=int, default=1000)
    study = parser.add_argument_group("rollout-length")
    study.add_argument("--data", help="transition store the model was trained on")
    study.add_argument("--ks", default="1,2,3,5,8,10,15,20,30,40", help="open-loop lengths")
    study.add_argument("--train-ks", default="", help="MBPO branch lengths to train, e.g. 1,3,5,10")
    study.add_argument("--epochs", type=int, default=40, help="MBPO epochs per branch length")
    study.add_argument("--updates", type=int, default=500, help="SAC updates per epoch")
    study.add_argument("--env-steps", type=int, default=0, help="real sim steps per epoch")


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(1)
    out = Path(args.out or f"runs/ablation_{args.name.replace('-', '_')}")
    try:
        table = _value(args, out) if args.name == "value" else _rollout_length(args, out)
    except (ValueError, FileNotFoundError) as err:
        print(f"mbrl-control ablation {args.name}: {err}", file=sys.stderr)
        return 2
    print(table)
    return 0


def _value(args: argparse.Namespace, out: Path) -> str:
    from mbrl_control.pipeline.value_ablation import markdown_table, run_value_ablation

    result = run_value_ablation(
        args.task, args.checkpoint, args.agent, out, preset=args.preset,
        horizons=_ints(args.horizons), episodes=args.episodes, prior_frac=args.prior_frac,
        profile=args.profile, seed=args.seed, quiet=args.quiet,
    )  # fmt: skip
    table = markdown_table(result["rows"])
    (out / "ablation_value.md").write_text(table + "\n")
    (out / "ablation_value.json").write_text(json.dumps(result, indent=2))
    return f"{table}\nwrote {out}/ablation_value.md and ablation_value.json"


def _rollout_length(args: argparse.Namespace, out: Path) -> str:
    from mbrl_control.agents.config import MBPOConfig
    from mbrl_control.pipeline.rollout_study import markdown_tables, run_rollout_study

    if not args.data:
        raise ValueError("--data (the model's transition store) is required")
    mbpo = MBPOConfig(
        epochs=args.epochs, updates_per_epoch=args.updates, env_steps_per_epoch=args.env_steps
    )
    report = run_rollout_study(
        args.task, args.checkpoint, args.data, args.agent, out, ks=_ints(args.ks),
        episodes=args.episodes, train_ks=_ints(args.train_ks), mbpo_cfg=mbpo,
        eval_episodes=args.episodes, profile=args.profile, quiet=args.quiet,
    )  # fmt: skip
    tables = markdown_tables(report)
    (out / "rollout_study.md").write_text(tables + "\n")
    return f"{tables}\nwrote {out}/rollout_study.md, rollout_study.json and rollout_study.png"


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())
