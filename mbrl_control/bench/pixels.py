"""Pixel-observation costs: render time per step and stored bytes per frame (JSON).

``python -m mbrl_control.bench.pixels [--task cartpole_swingup] [--steps 200]``

For each supersampling factor: the camera's render time per step (median, p99, ms) next to
the state env's own step time measured in the same run (ratios, not absolute numbers, carry
over between machines), and bytes per frame of one episode of frames (random actions) stored
as ``np.savez_compressed`` (the image store's format) and as PNG files (Pillow, level 6).
"""

from __future__ import annotations

import argparse
import io
import json
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mbrl_control.cli import ArgumentParser

if TYPE_CHECKING:
    import numpy as np


SUPERSAMPLES = (1, 2, 4)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import nonneg_int, positive_int

    parser.add_argument("--task", default="cartpole_swingup", help="built-in name or task file")
    parser.add_argument("--steps", type=positive_int, default=200, help="steps timed per setting")
    parser.add_argument(
        "--seed", type=nonneg_int, default=0, help="episode seed of the rendered states"
    )
    parser.add_argument("--json", action="store_true", help="one line of JSON")


def _stats(ms: list[float]) -> dict[str, float]:
    import numpy as np

    a = np.asarray(ms)
    return {"median_ms": float(np.median(a)), "p99_ms": float(np.percentile(a, 99))}


def _bytes_per_frame(frames: np.ndarray) -> dict[str, float]:
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    np.savez_compressed(buf, frames=frames)
    png = 0
    for f in frames:
        b = io.BytesIO()
        Image.fromarray(f).save(b, format="PNG", compress_level=6)
        png += b.tell()
    return {
        "raw": float(frames[0].nbytes),
        "npz_compressed": buf.tell() / len(frames),
        "png": png / len(frames),
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    from mbrl_sim.pixel_env import make_pixel_env

    env = make_pixel_env(args.task, seed=args.seed)
    pix = env.unwrapped
    base = pix.camera.spec
    rng = np.random.default_rng(args.seed)
    out: dict[str, Any] = {"task": args.task, "camera": base.__dict__, "steps": args.steps}
    pix.reset(seed=args.seed)
    state_ms = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        _, _, term, trunc, _ = pix.sim.step(pix.action_space.sample())
        state_ms.append(1e3 * (time.perf_counter() - t0))
        if term or trunc:
            pix.sim.reset()
    out["state_step"] = _stats(state_ms)
    settings = []
    for k in SUPERSAMPLES:
        cam = type(pix.camera)(replace(base, supersample=k), pix.sim.scene.client)
        pix.sim.reset(seed=args.seed)
        ms, frames = [], []
        for _ in range(args.steps):
            pix.sim.step(rng.uniform(pix.action_space.low, pix.action_space.high))
            t0 = time.perf_counter()
            frames.append(cam.render())
            ms.append(1e3 * (time.perf_counter() - t0))
        s = _stats(ms)
        s["render_over_state_step"] = s["median_ms"] / out["state_step"]["median_ms"]
        settings.append(
            {"supersample": k, "render": s, "bytes_per_frame": _bytes_per_frame(np.stack(frames))}
        )
    out["settings"] = settings
    env.close()
    return out


def run(args: argparse.Namespace) -> int:
    print(json.dumps(measure(args), indent=None if args.json else 2))
    return 0


def main(argv: list[str] | None = None) -> int:
    prog = "python -m mbrl_control.bench.pixels"
    parser = ArgumentParser(prog=prog, description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
