"""Issue 17: the calibrated uncertainty inside the planner graph matches torch, and the
runtime scores surprise from it without torch."""

import dataclasses

import numpy as np
import onnx
import pytest
import torch

ort = pytest.importorskip("onnxruntime")

from test_export import TINY, run_both, tiny_ensemble  # noqa: E402

from mbrl_control.export.onnx_export import export_planner  # noqa: E402
from mbrl_control.export.runtime import OnnxPlanner  # noqa: E402
from mbrl_control.planning.graph_io import output_names  # noqa: E402
from mbrl_control.planning.planner import build_planner  # noqa: E402
from mbrl_control.tasks import get_task  # noqa: E402
from mbrl_control.uncertainty.quantities import surprise  # noqa: E402


def calibrated(seed: int, horizons: int = 3):
    """A tiny ensemble with a non-trivial calibration factor (K = ``horizons``, P = 5)."""
    model = tiny_ensemble(members=2, seed=seed)
    g = torch.Generator().manual_seed(seed)
    model.set_calibration(0.5 + 4 * torch.rand(horizons, 5, generator=g), {"method": "test"})
    return model


@pytest.mark.parametrize("propagation", ["ts_inf", "mean"])
def test_graph_calibrated_uncertainty_matches_torch(propagation, seeds, tmp_path):
    """disagreement, pred_mean and pred_var of the ORT graph equal the torch step's to 1e-4
    (relative), for a calibrated model; the calibration changes them (not a no-op)."""
    task = get_task("cartpole_swingup")
    cfg = dataclasses.replace(TINY["cem"], propagation=propagation, uncertainty_weight=1.0)
    model = calibrated(seeds(0))
    expected, got, names = run_both(model, task, cfg, tmp_path / "p.onnx", seed=seeds(1))
    assert names == output_names(["plan"])
    for name, e, g in zip(names, expected, got):
        np.testing.assert_allclose(g, e, atol=1e-6, rtol=1e-4, err_msg=name)
    model.set_calibration(None)
    raw, _, _ = run_both(model, task, cfg, tmp_path / "raw.onnx", seed=seeds(1))
    pred_var = names.index("pred_var")
    assert not np.allclose(raw[pred_var], expected[pred_var], rtol=1e-3)


def test_runtime_surprise_and_metadata(seeds, tmp_path):
    """The runtime's prediction equals the torch planner's; its surprise is the one
    definition's; the metadata carries target std and the calibration; reset forgets."""
    task, cfg = get_task("cartpole_swingup"), TINY["icem"]
    model = calibrated(seeds(0))
    path = export_planner(model, task, cfg, tmp_path / "p.onnx")
    onnx_planner = OnnxPlanner(path, seed=3)
    torch_planner = build_planner(model, task, cfg, seed=3)
    obs = np.array([0.1, -0.2, 0.3, 0.0, 0.5], np.float32)
    onnx_planner.act(obs), torch_planner.act(obs)
    for a, b in zip(onnx_planner.last_prediction, torch_planner.last_prediction):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-4)
    meta = onnx_planner.metadata["uncertainty"]
    np.testing.assert_allclose(meta["var_scale"], model.var_scale.numpy(), rtol=1e-6)
    assert meta["calibration"] == {"method": "test"} and meta["predicted_dim"] == 5
    mean, var = torch_planner.last_prediction
    nxt = obs + 0.05
    want = surprise(nxt.astype(np.float64), mean, var, model.target_std.numpy())
    assert onnx_planner.surprise(nxt) == pytest.approx(float(want), rel=1e-4)
    far = onnx_planner.surprise(nxt + 3.0)
    assert far > onnx_planner.surprise(nxt)
    onnx_planner.reset()
    assert onnx_planner.last_prediction is None and onnx_planner.surprise(nxt) is None


def test_file_without_prediction_outputs_still_runs(tmp_path):
    """A graph without pred_mean/pred_var (files exported before issue 17) acts as before;
    it has no prediction and no surprise."""
    task = get_task("cartpole_swingup")
    path = export_planner(tiny_ensemble(), task, TINY["cem"], tmp_path / "p.onnx")
    proto = onnx.load(str(path))
    keep = [o for o in proto.graph.output if o.name not in ("pred_mean", "pred_var")]
    del proto.graph.output[:]
    proto.graph.output.extend(keep)
    onnx.save(proto, str(tmp_path / "old.onnx"))
    planner = OnnxPlanner(tmp_path / "old.onnx")
    action = planner.act(np.zeros(5, np.float32))
    assert action.shape == (1,) and set(planner.last_info) == {"plan_cost", "disagreement"}
    assert planner.last_prediction is None and planner.surprise(np.zeros(5)) is None
