"""Torch <-> onnxruntime parity of whole planning steps, and the exported file's contract."""

import dataclasses
import json

import numpy as np
import onnx
import pytest
import torch

ort = pytest.importorskip("onnxruntime")

from mbrl_control.export.gemm_ensemble import GemmEnsemble  # noqa: E402
from mbrl_control.export.onnx_export import PlanStep, export_planner, fast_model  # noqa: E402
from mbrl_control.models.config import EnsembleConfig  # noqa: E402
from mbrl_control.models.ensemble import Ensemble  # noqa: E402
from mbrl_control.planning.config import PlannerConfig  # noqa: E402
from mbrl_control.tasks import get_task  # noqa: E402

TINY = {
    "cem": PlannerConfig(
        kind="cem",
        horizon=4,
        population=16,
        particles=4,
        iterations=2,
        elite_frac=0.25,
        return_mode="best",
        action_rate_weight=0.1,
    ),
    "icem": PlannerConfig(
        kind="icem",
        horizon=4,
        population=16,
        particles=2,
        iterations=3,
        elite_frac=0.25,
        keep_elites_frac=0.5,
        population_decay=1.5,
    ),
    "mppi": PlannerConfig(
        kind="mppi",
        horizon=4,
        population=16,
        particles=2,
        iterations=2,
        smoothing=0.5,
        uncertainty_weight=0.5,
        discount=0.9,
    ),
    "shooting": PlannerConfig(kind="shooting", horizon=4, population=16, particles=2, iterations=1),
}


def tiny_ensemble(obs_dim=5, act_dim=1, members=2, hidden=8, seed=0):
    cfg = EnsembleConfig(obs_dim, act_dim, members=members, hidden=hidden, layers=2, seed=seed)
    model = Ensemble(cfg)
    with torch.no_grad():  # non-trivial normalizers so the folding is exercised
        d = obs_dim + act_dim
        model.in_norm.mean.copy_(torch.linspace(-0.5, 0.5, d))
        model.in_norm.std.copy_(torch.linspace(0.5, 2.0, d))
        model.out_norm.mean.copy_(torch.linspace(-0.1, 0.1, obs_dim))
        model.out_norm.std.copy_(torch.linspace(0.2, 0.4, obs_dim))
    return model.eval()


def run_both(model, task, cfg, path, layout="auto", seed=1):
    """Same inputs and noise through the torch step (reference model) and the ORT graph."""
    export_planner(model, task, cfg, path, layout=layout, provenance={"run": "test"})
    step = PlanStep(model, task, cfg)
    torch.manual_seed(seed)
    args = (torch.randn(task.obs_dim) * 0.5, *step.example_inputs(task)[1:])
    with torch.no_grad():
        expected = [t.numpy() for t in step(*args)]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    feed = {n: a.numpy() for n, a in zip(step.input_names, args) if n in names}
    return expected, session.run(step.output_names, feed), step.output_names


@pytest.mark.parametrize("kind", list(TINY))
def test_onnx_matches_torch_for_every_planner(kind, seeds, tmp_path):
    task, cfg = get_task("cartpole_swingup"), dataclasses.replace(TINY[kind], seed=seeds(2))
    expected, got, names = run_both(
        tiny_ensemble(seed=seeds(0)), task, cfg, tmp_path / "p.onnx", seed=seeds(1)
    )
    for name, e, g in zip(names, expected, got):
        np.testing.assert_allclose(g, e, atol=1e-4, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("layout", ["gemm", "batched"])
@pytest.mark.parametrize("propagation", ["ts_inf", "mean"])
def test_parity_with_aleatoric_sampling_and_goal(layout, propagation, seeds, tmp_path):
    cfg = dataclasses.replace(TINY["cem"], aleatoric=True, propagation=propagation)
    model = tiny_ensemble(obs_dim=17, act_dim=7, seed=seeds(0))
    expected, got, names = run_both(
        model, get_task("panda_reach"), cfg, tmp_path / "p.onnx", layout=layout, seed=seeds(1)
    )
    for name, e, g in zip(names, expected, got):
        np.testing.assert_allclose(g, e, atol=1e-4, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("layout", ["gemm", "batched"])
def test_gemm_ensemble_equals_the_ensemble(layout, seeds):
    model = tiny_ensemble(members=3, seed=seeds(0))
    g = torch.Generator().manual_seed(seeds(1))
    obs, action = torch.randn(3, 7, 5, generator=g), torch.randn(3, 7, 1, generator=g)
    with torch.no_grad():
        want, got = model(obs, action), GemmEnsemble(model, layout=layout)(obs, action)
    for w, g in zip(want, got):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)
    clipped = GemmEnsemble(model, logvar="clip")(obs, action)[1]
    # the clip bound, computed once more here: allow rounding (float32 ulp at 3 is 2.4e-7)
    assert torch.all(clipped <= model.max_logvar + 2 * model.out_norm.std.log() + 1e-5)


@pytest.mark.parametrize("layout", ["gemm", "batched"])
def test_log_variance_bounds_hold_far_outside_them_in_onnxruntime(layout, tmp_path, seeds):
    """The soft log-variance bounds, in the graph onnxruntime runs, equal the model's even
    where the raw head output lies far above max_logvar or far below min_logvar (the gemm
    layout writes softplus as relu(x) + log(1 + exp(-|x|)): no overflow to inf, no NaN), and
    the gemm layout has no scalar Softplus node and one head product per member."""
    model = tiny_ensemble(members=3, seed=seeds(0))
    o = model.cfg.obs_dim
    with torch.no_grad():  # raw log-variance biases at -200 .. +200 (bounds near [-10, 0.5])
        model.head.bias[..., o : 2 * o] = torch.linspace(-200.0, 200.0, 3 * o).reshape(3, 1, o)
    g = torch.Generator().manual_seed(seeds(1))
    obs, action = torch.randn(3, 7, 5, generator=g), torch.randn(3, 7, 1, generator=g)
    fast = GemmEnsemble(model, layout=layout).eval()
    path = tmp_path / "m.onnx"
    torch.onnx.export(fast, (obs, action), str(path), dynamo=False, opset_version=17)
    session = ort.InferenceSession(str(path))
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, dict(zip(names, (obs.numpy(), action.numpy()))))
    with torch.no_grad():
        want = model(obs, action)
    for w, g_ in zip(want, got):
        assert np.all(np.isfinite(g_))
        np.testing.assert_allclose(g_, w.numpy(), atol=1e-5, rtol=1e-5)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    if layout == "gemm":
        assert "Softplus" not in ops and ops.count("Gemm") == 3 * len(model.hidden) + 3


def test_fast_model_picks_gemm_at_pets_sizes():
    model = tiny_ensemble(members=5)
    assert fast_model(model, PlannerConfig()).layout == "gemm"
    assert fast_model(model, PlannerConfig(population=32, particles=5)).layout == "batched"


def test_file_is_checked_and_self_describing(tmp_path):
    task, cfg = get_task("cartpole_swingup"), TINY["icem"]
    path = export_planner(
        tiny_ensemble(), task, cfg, tmp_path / "sub" / "p.onnx", provenance={"checkpoint": "m.pt"}
    )
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
    assert meta["format_version"] == 1
    assert meta["task"] == task.metadata()
    assert PlannerConfig.from_mapping(meta["planner_config"]) == cfg
    assert meta["provenance"] == {"checkpoint": "m.pt"}
    assert meta["noise_inputs"] == {"action_noise": [3, 16, 4, 1]}
    assert meta["carry"] == {"plan": [4, 1], "elites": [2, 4, 1]}
    assert [o.name for o in proto.graph.output] == [
        "action",
        "next_plan",
        "plan_cost",
        "disagreement",
        "pred_mean",
        "pred_var",
        "plan_states",
        "next_elites",
    ]
    assert sorted(p.name for p in tmp_path.joinpath("sub").iterdir()) == ["p.onnx"]  # no temp


def test_internal_noise_variant_has_no_noise_inputs(tmp_path):
    task = get_task("cartpole_swingup")
    path = export_planner(
        tiny_ensemble(), task, TINY["mppi"], tmp_path / "p.onnx", noise_input=False
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert "action_noise" not in {i.name for i in session.get_inputs()}
    feed = {
        "obs": np.zeros(5, np.float32),
        "prev_plan": np.zeros((4, 1), np.float32),
        "weights": task.default_weights,
    }
    action = session.run(["action"], feed)[0]
    assert action.shape == (1,) and np.isfinite(action).all()
