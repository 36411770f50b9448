"""Latency of the world model's exported filter step on onnxruntime, one thread (JSON).

``python -m mbrl_control.bench.latent_filter [--steps 300]``

The encoder + RSSM posterior step is the per-frame cost a pixel controller pays before it
plans or acts (issue 21's budget: encoder + acting <= 10 ms p99 on one thread). Measured for
a few sizes of :class:`~mbrl_control.latent.world_model.WorldModelConfig` (untrained weights:
latency does not depend on them), with the ONNX file's size.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from mbrl_control.cli import ArgumentParser

SIZES = ({"depth": 8, "deter": 64, "stoch": 8}, {"depth": 16, "deter": 128, "stoch": 16},
         {"depth": 32, "deter": 200, "stoch": 30})  # fmt: skip
"""Small, the default, and PlaNet's sizes (depth 32, 200 + 30)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import positive_int

    parser.add_argument(
        "--steps", type=positive_int, default=300, help="timed filter steps per size"
    )
    parser.add_argument("--json", action="store_true", help="one line of JSON")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort
    import torch

    from mbrl_control.latent import WorldModel, WorldModelConfig
    from mbrl_control.latent.export import export_filter_step

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            model = WorldModel(1, WorldModelConfig(**size))
            path = export_filter_step(model, Path(tmp) / "f.onnx")
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            h = np.zeros((1, size["deter"]), np.float32)
            z = np.zeros((1, size["stoch"]), np.float32)
            ms = []
            for i in range(args.steps + 20):
                feed = {
                    "image": rng.integers(0, 256, (1, 3, 64, 64), dtype=np.uint8),
                    "h": h,
                    "z": z,
                    "prev_action": rng.uniform(-1, 1, (1, 1)).astype(np.float32),
                }
                t0 = time.perf_counter()
                h, z, _ = sess.run(None, feed)
                if i >= 20:  # warm-up
                    ms.append(1e3 * (time.perf_counter() - t0))
            rows.append(
                {
                    **size,
                    "params": sum(p.numel() for p in model.parameters()),
                    "onnx_bytes": path.stat().st_size,
                    "median_ms": float(np.median(ms)),
                    "p99_ms": float(np.percentile(ms, 99)),
                }
            )
    return {"threads": 1, "steps": args.steps, "sizes": rows}


def main(argv: list[str] | None = None) -> int:
    prog = "python -m mbrl_control.bench.latent_filter"
    parser = ArgumentParser(prog=prog, description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args), indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
