"""``mbrl-control demo``: the sim-to-real loop on cart-pole with small embedded budgets.

Pretrains on randomized sim (``default``), deploys zero-shot on the mismatched
``reality_gap`` "robot", finetunes on half a minute, one and two minutes of its data, and
ends with a results table, a plot and a GIF of the pretrained planner swinging up in sim.
No configuration, no network.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mbrl_control.pipeline.pretrain import PretrainConfig
from mbrl_control.pipeline.sim2real import Sim2RealConfig, markdown_table, run_sim2real

DEMO = Sim2RealConfig(
    pretrain=PretrainConfig(seed_episodes=10, rounds=4, episodes_per_round=5, workers=2),
    budgets_min=(0.5, 1.0, 2.0),
    retrain_every=1000,
    eval_episodes=5,
    baselines=False,
)


def run_demo(out: str | Path = "runs/demo", *, quiet: bool = False) -> dict[str, Any]:
    """Run the demo into ``out``; returns the experiment result plus the artefact paths."""
    from mbrl_control.pipeline.evaluate import write_video

    out = Path(out)
    t0 = time.perf_counter()
    print(f"[demo] cart-pole sim-to-real into {out}/ (about 3 minutes on 2 cores)")
    result = run_sim2real(DEMO, out, quiet=quiet)
    pretrained = out / "pretrain_default" / "planner.onnx"
    gif = write_video(pretrained, DEMO.pretrain.task, DEMO.pretrain.profile, 7, out / "swingup.gif")
    minutes = (time.perf_counter() - t0) / 60
    print()
    print(markdown_table(result["rows"]))
    print(f"[demo] plot {out / 'sim2real.png'}, GIF {gif}, table {out / 'sim2real.md'}")
    print(f"[demo] finished in {minutes:.1f} min")
    return {**result, "gif": str(gif), "minutes": minutes}
