"""Latent CEM (mbrl_control/latent/planner.py) and its ONNX graph: the planner improves the
imagined return over its own random candidates, stays inside the bounds, and the exported
encoder + filter + planner graph run by onnxruntime (no torch) matches the torch reference
tick after tick on real pixel-env frames (same noise stream)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from mbrl_sim.pixel_env import make_pixel_env

from mbrl_control.latent import WorldModel, WorldModelConfig
from mbrl_control.latent.planner import LatentPlannerConfig, imagined_return, latent_cem_plan
from mbrl_control.latent.rssm import LatentState

SMALL = WorldModelConfig(depth=8, deter=32, stoch=8, hidden=32)
PLAN = LatentPlannerConfig(horizon=6, iterations=3, population=24, elites=4)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """8 real cart-pole frames (8, 64, 64, 3) uint8 under seeded random forces."""
    env = make_pixel_env("cartpole_swingup", seed=0)
    rng = np.random.default_rng(0)
    frame, _ = env.reset(seed=0)
    out = [frame]
    for _ in range(7):
        frame, *_ = env.step(rng.uniform(-10, 10, 1).astype(np.float32))
        out.append(frame)
    env.close()
    return np.stack(out)


def test_latent_cem_raises_the_imagined_return_within_bounds() -> None:
    torch.manual_seed(0)
    model = WorldModel(1, SMALL).eval()
    z = torch.randn(1, 8)
    start = LatentState(torch.randn(1, 32), z, torch.ones_like(z), z)
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(PLAN.noise_shapes(1)["action_noise"], generator=gen)
    with torch.no_grad():
        action, plan, ret = latent_cem_plan(start, torch.zeros(6, 1), noise, model=model, cfg=PLAN)
        random = imagined_return(model, start, noise[0].clamp(-1, 1))  # (N,)
        planned = imagined_return(model, start, plan[None])[0]
    assert action.shape == (1,) and plan.shape == (6, 1) and ret.shape == ()
    assert bool((plan.abs() <= 1).all())
    # the final elites beat the average random candidate, and the plan itself does too
    assert float(ret) > float(random.mean()) and float(planned) > float(random.mean())
    # a pure function of its inputs
    with torch.no_grad():
        again = latent_cem_plan(start, torch.zeros(6, 1), noise, model=model, cfg=PLAN)
    assert torch.equal(again[1], plan)


def test_config_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="elites=9 > population=8"):
        LatentPlannerConfig(population=8, elites=9)
    with pytest.raises(ValueError, match="horizon=0"):
        LatentPlannerConfig(horizon=0)


def test_exported_pixel_planner_matches_torch(tmp_path, frames) -> None:
    from mbrl_control.latent.agent import TorchPixelPlanner
    from mbrl_control.latent.export import export_pixel_planner
    from mbrl_control.latent.runtime import OnnxPixelPlanner

    torch.manual_seed(0)
    model = WorldModel(1, SMALL).eval()
    path = export_pixel_planner(model, [-10.0], [10.0], PLAN, tmp_path / "p.onnx", {"task": "x"})
    onnx = OnnxPixelPlanner(path, seed=3)
    ref = TorchPixelPlanner(model, [-10.0], [10.0], PLAN, seed=3)
    assert onnx.metadata["task"] == "x" and onnx.metadata["noise_inputs"] == {
        "action_noise": [3, 24, 6, 1]
    }
    for episode in range(2):  # a reset restarts both the same way
        onnx.reset(seed=episode)
        ref.reset(seed=episode)
        for frame in frames:
            a_o, a_t = onnx.act(frame), ref.act(frame)
            assert a_o.shape == (1,) and -10 <= a_o[0] <= 10
            np.testing.assert_allclose(a_o, a_t, atol=1e-4)
            assert abs(onnx.last_return - ref.last_return) < 1e-3
    with pytest.raises(ValueError, match=r"frame must be \(64, 64, 3\) uint8"):
        onnx.act(frames[0][:32])
    from mbrl_control.export.runtime import OnnxPlanner

    with pytest.raises(ValueError, match=r"a pixel planner file .* from train-pixels"):
        OnnxPlanner(path)  # what evaluate/mpc_controller run: refused in words


def test_runtime_refuses_other_files_and_loads_without_torch(tmp_path) -> None:
    from mbrl_control.latent.export import export_filter_step
    from mbrl_control.latent.runtime import OnnxPixelPlanner

    path = export_filter_step(WorldModel(1, SMALL), tmp_path / "filter.onnx")
    with pytest.raises(ValueError, match="not a pixel planner file"):
        OnnxPixelPlanner(path)
    with pytest.raises(FileNotFoundError):
        OnnxPixelPlanner(tmp_path / "none.onnx")
    code = "import sys, mbrl_control.latent.runtime; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
