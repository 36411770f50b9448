"""``mbrl-control bench WHAT``: benchmarks that print JSON (never timed assertions in tests).

Each benchmark is a module ``mbrl_control.bench.<what>`` with ``add_arguments`` and ``run``.
Timings are taken as ratios within one run: absolute times drift on shared cores and across
CPU families.
"""

from __future__ import annotations

import argparse
import importlib

BENCHES: dict[str, tuple[str, str]] = {
    "planner": ("mbrl_control.bench.planner", "planning-step latency: torch vs ONNX vs mbrl-lib"),
    "planner-files": (
        "mbrl_control.bench.planner_files",
        "planning-step latency of planner files as exported, interleaved",
    ),
    "sim": ("mbrl_control.bench.sim", "env steps/s vs raw stepSimulation, 1 and W workers"),
    "train": ("mbrl_control.bench.train", "ensemble training samples/s"),
    "controller": ("mbrl_control.bench.controller", "mpc_controller end-to-end latency over ROS"),
    "finetune-cycle": (
        "mbrl_control.bench.finetune_cycle",
        "live finetune -> gate -> swap cycle and ground-truth safety over ROS",
    ),
    "soak": (
        "mbrl_control.bench.soak",
        "sim + controller + finetune_node for N minutes: misses, latency, memory over ROS",
    ),
    "excitation": (
        "mbrl_control.bench.excitation",
        "planner + exploration noise with and without the limit guard: rail hits, paired",
    ),
    "import": ("mbrl_control.bench.importer", "CSV import rows/s: whole arrays vs row by row"),
    "pixels": (
        "mbrl_control.bench.pixels",
        "camera render cost per step and bytes per stored frame",
    ),
    "precision": (
        "mbrl_control.bench.precision",
        "int8/fp16 copies of a trained planner: speed-up, then paired closed-loop return",
    ),
    "latent-filter": (
        "mbrl_control.bench.latent_filter",
        "latency of the exported latent filter step (encoder + RSSM + reward), onnxruntime",
    ),
    "pixel-planner": (
        "mbrl_control.bench.pixel_planner",
        "latency of the exported pixel planner (encoder + filter + latent CEM), onnxruntime",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="WHAT", required=True)
    for name, (module, help_text) in BENCHES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_bench_module=module, _prog=f"mbrl-control bench {name}")  # in errors
        try:
            importlib.import_module(module).add_arguments(p)
        except ModuleNotFoundError:
            p.epilog = "not implemented yet"


def run(args: argparse.Namespace) -> int:
    try:
        mod = importlib.import_module(args._bench_module)
    except ModuleNotFoundError:
        print(f"bench {args.bench}: not implemented yet")
        return 2
    return int(mod.run(args) or 0)
