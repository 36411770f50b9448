"""``mbrl-control export``: compile a checkpoint + planner preset into ``planner.onnx``."""

from __future__ import annotations

import argparse
import sys

PRESET_NAMES = ("cartpole", "arm", "cartpole-rt", "arm-rt")
KINDS = ("cem", "icem", "mppi", "shooting")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="ensemble checkpoint (model.pt)")
    parser.add_argument("--task", required=True, help="task name, e.g. cartpole_swingup")
    parser.add_argument("--preset", required=True, choices=PRESET_NAMES, help="planner preset")
    parser.add_argument("--planner-kind", choices=KINDS, help="override the preset's optimizer")
    parser.add_argument("--out", default="planner.onnx", help="output file (written atomically)")
    parser.add_argument(
        "--internal-noise",
        action="store_true",
        help="draw noise inside the graph (default: noise is an input the runtime pre-draws)",
    )
    parser.add_argument(
        "--layout", choices=("auto", "gemm", "batched"), default="auto", help="model layout"
    )


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.checkpoint import load_checkpoint
    from mbrl_control.planning.planner import PRESETS
    from mbrl_control.tasks import get_task

    try:
        task = get_task(args.task)
        model, provenance = load_checkpoint(args.checkpoint)
    except (FileNotFoundError, ValueError) as exc:
        print(f"mbrl-control export: {exc}", file=sys.stderr)
        return 2
    if (model.cfg.obs_dim, model.cfg.act_dim) != (task.obs_dim, task.act_dim):
        print(
            f"mbrl-control export: checkpoint is obs {model.cfg.obs_dim} / act "
            f"{model.cfg.act_dim}, task {task.name} needs {task.obs_dim} / {task.act_dim}",
            file=sys.stderr,
        )
        return 2
    cfg = PRESETS[args.preset][1]
    if args.planner_kind:
        iterations = 1 if args.planner_kind == "shooting" else cfg.iterations
        cfg = dataclasses.replace(cfg, kind=args.planner_kind, iterations=iterations)
    provenance = {**provenance, "checkpoint": str(args.checkpoint), "preset": args.preset}
    path = export_planner(
        model,
        task,
        cfg,
        args.out,
        provenance=provenance,
        noise_input=not args.internal_noise,
        layout=args.layout,
    )
    print(path)
    return 0
