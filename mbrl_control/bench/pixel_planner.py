"""Latency of the exported pixel planner (encoder + filter + latent CEM, one ONNX graph) run by
:class:`~mbrl_control.latent.runtime.OnnxPixelPlanner` on one onnxruntime thread (JSON).

``python -m mbrl_control.bench.pixel_planner [--steps 200]`` (or ``mbrl-control bench
pixel-planner``)

Issue 21's budget is encoder + acting <= 10 ms p99 on one thread. Measured per
(world model size, planner size): ``act(frame)`` on random frames, warm start and noise
carried as in control, after 10 warm-up ticks; untrained weights (latency does not depend on
them). A tick costs about ``iterations x horizon`` batched prior steps of ``population`` rows.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from mbrl_control.cli import ArgumentParser

MODELS = {"small": {"depth": 8, "deter": 32, "stoch": 8, "hidden": 32}, "default": {}}
PLANNERS = ({"horizon": 12, "iterations": 4, "population": 64, "elites": 8},
            {"horizon": 12, "iterations": 2, "population": 32, "elites": 4},
            {"horizon": 12, "iterations": 8, "population": 128, "elites": 12})  # fmt: skip
"""The default, a cheaper and a larger latent CEM."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import positive_int

    parser.add_argument("--steps", type=positive_int, default=200, help="timed ticks per size")
    parser.add_argument("--json", action="store_true", help="one line of JSON")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch

    from mbrl_control.latent.export import export_pixel_planner
    from mbrl_control.latent.planner import LatentPlannerConfig
    from mbrl_control.latent.runtime import OnnxPixelPlanner
    from mbrl_control.latent.world_model import WorldModel, WorldModelConfig

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model_name, sizes in MODELS.items():
            model = WorldModel(1, WorldModelConfig(**sizes)).eval()
            for plan in PLANNERS:
                cfg = LatentPlannerConfig(**plan)
                path = export_pixel_planner(model, [-10.0], [10.0], cfg, Path(tmp) / "p.onnx")
                planner = OnnxPixelPlanner(path, threads=1)
                ms = []
                for i in range(args.steps + 10):
                    frame = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
                    t0 = time.perf_counter()
                    planner.act(frame)
                    if i >= 10:
                        ms.append(1e3 * (time.perf_counter() - t0))
                rows.append(
                    {
                        "model": model_name,
                        **plan,
                        "onnx_bytes": path.stat().st_size,
                        "median_ms": float(np.median(ms)),
                        "p99_ms": float(np.percentile(ms, 99)),
                    }
                )
    return {"threads": 1, "steps": args.steps, "rows": rows}


def run(args: argparse.Namespace) -> int:
    print(json.dumps(measure(args), indent=None if args.json else 2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m mbrl_control.bench.pixel_planner",
                                     description=__doc__)  # fmt: skip
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
