"""What a smaller latent CEM costs in return: one trained pixel run, several planner sizes.

``python -m mbrl_control.latent.planner_sizes RUN --sizes 12x4x64,12x2x32 --episodes 10``
(JSON): the run's world model (``RUN/checkpoint.pt``) exported once per size ``HxIxN``
(horizon, iterations, population; elites N/8) as the one-graph pixel planner
(``RUN/sizes/h12_i2_n32.onnx``), each scored with onnxruntime alone on the run's evaluation
starts (paired: the same starts and the same noise seeds for every size): return, success, the
``act()`` latency (encoder + filter + CEM, one thread, wall ms) and the paired return
difference to the first size with its bootstrap 95 % interval. The issue's budget is 10 ms p99
per tick; measure on a quiet core (the latencies are wall time).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mbrl_control.cli import ArgumentParser


def parse_size(text: str) -> tuple[int, int, int]:
    """``"12x4x64"`` -> ``(12, 4, 64)``; ``argparse.ArgumentTypeError`` otherwise."""
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
        raise argparse.ArgumentTypeError(
            f"size {text!r}: want HxIxN, three integers >= 1, e.g. 12x4x64"
        )
    h, i, n = (int(p) for p in parts)
    return h, i, n


def planner_sizes(
    run: str | Path, sizes: list[tuple[int, int, int]], episodes: int = 10, threads: int = 1
) -> list[dict[str, Any]]:
    """One row per size (see module); ``FileNotFoundError``/``ValueError`` for a folder that
    is not a finished-enough ``train-pixels`` run (no settings or checkpoint)."""
    import torch

    from mbrl_control.bench.precision import add_paired_row
    from mbrl_control.latent.export import export_pixel_planner
    from mbrl_control.latent.planner import LatentPlannerConfig
    from mbrl_control.latent.training import (
        CHECKPOINT,
        PixelRun,
        run_config,
        score_planner_file,
    )

    run = Path(run)
    cfg = run_config(run)
    pixel_run = PixelRun(cfg, run, log=lambda _: None)  # reads, writes nothing until run()
    try:
        state = torch.load(run / CHECKPOINT, weights_only=True)
        pixel_run.model.load_state_dict(state["model"])
        pixel_run.progress.update(state["progress"])
        low, high = pixel_run.task.low.tolist(), pixel_run.task.high.tolist()
        rows: list[dict[str, Any]] = []
        for h, i, n in sizes:
            planner = LatentPlannerConfig(horizon=h, iterations=i, population=n,
                                          elites=max(1, n // 8))  # fmt: skip
            path = run / "sizes" / f"h{h}_i{i}_n{n}.onnx"
            path.parent.mkdir(exist_ok=True)
            export_pixel_planner(pixel_run.model, low, high, planner, path, pixel_run.metadata())
            score = score_planner_file(path, pixel_run.env, episodes, pixel_run.start_state,
                                       cfg.action_repeat, threads)  # fmt: skip
            score = {k: rounded(v) for k, v in score.items()}
            row = {"size": f"{h}x{i}x{n}", "file": str(path), **score}
            add_paired_row(rows, row, score["returns"])
        return rows
    finally:
        pixel_run.close()


def rounded(value: Any) -> Any:
    """Floats (and lists of them) to 3 decimals, for a readable JSON line."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    from mbrl_control.cli.checks import positive_int

    parser = ArgumentParser(prog="python -m mbrl_control.latent.planner_sizes", description=__doc__)
    parser.add_argument("run", help="a train-pixels output folder")
    parser.add_argument(
        "--sizes", type=lambda text: [parse_size(x.strip()) for x in text.split(",")],
        default=[(12, 4, 64), (12, 2, 32)], help="HxIxN,... (horizon x iterations x population)",
    )  # fmt: skip
    parser.add_argument("--episodes", type=positive_int, default=10, help="paired episodes")
    parser.add_argument("--threads", type=positive_int, default=1, help="onnxruntime threads")
    args = parser.parse_args(argv)
    for name in ("settings.json", "checkpoint.pt"):
        if not (Path(args.run) / name).is_file():
            parser.error(f"{args.run}: not a train-pixels output folder (no {name})")
    import torch

    torch.set_num_threads(1)
    print(json.dumps(planner_sizes(args.run, args.sizes, args.episodes, args.threads)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
