"""The load check: a planner is probed on realistic states and refused if its rollouts are not
finite there (a NaN weight, a member that overflows on the states the robot is in)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from mbrl_control.export.onnx_export import export_planner
from mbrl_control.export.runtime import OnnxPlanner
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.rollout import BIG_COST
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")
KINDS = ("cem", "icem", "mppi", "shooting")


def _cfg(kind: str, horizon: int = 4) -> PlannerConfig:
    return PlannerConfig(kind=kind, horizon=horizon, population=16, particles=2, iterations=1)


def _model(activation: str = "silu") -> Ensemble:
    torch.manual_seed(0)
    cfg = EnsembleConfig(TASK.obs_dim, TASK.act_dim, members=2, hidden=16, layers=2)
    return Ensemble(EnsembleConfig(**{**cfg.to_dict(), "activation": activation}))


def _nan_member(path: Path, kind: str) -> Path:
    """The issue's repro: one weight of member 0 set to NaN."""
    model = _model()
    with torch.no_grad():
        model.hidden[0].weight[0, 0, 0] = float("nan")
    return export_planner(model, TASK, _cfg(kind), path)


def _overflows_where(path: Path, index: int, mean: float, weight: float) -> Path:
    """Member 0 overflows to inf/NaN where ``(obs[index] - mean) * weight > 0`` (ReLU keeps
    it exactly finite elsewhere); horizon 2 keeps the rollout near the start state."""
    model = _model("relu")
    with torch.no_grad():
        model.in_norm.mean[index] = mean
        model.hidden[0].weight[0, index, :] = weight
        model.hidden[1].weight[0] = 1.0  # 16 huge units summed: inf
    return export_planner(model, TASK, _cfg("cem", horizon=2), path)


def test_sentinel_matches_the_graphs() -> None:
    from mbrl_control.export import runtime

    assert runtime.BIG_COST == BIG_COST  # the runtime cannot import torch to share it


@pytest.mark.parametrize("kind", KINDS)
def test_planner_with_a_nan_weight_is_refused_at_load(tmp_path: Path, kind: str) -> None:
    path = _nan_member(tmp_path / "nan.onnx", kind)
    with pytest.raises(ValueError, match=r"refused: at initial state .* non-finite"):
        OnnxPlanner(path)


def test_every_rollout_non_finite_marks_the_plan_invalid(tmp_path: Path) -> None:
    """At run time (``validate=False`` stands for a state the probe never saw) the plan is
    flagged, so the controller can publish the safe action instead of noise."""
    planner = OnnxPlanner(_nan_member(tmp_path / "nan.onnx", "cem"), validate=False)
    planner.act(np.array([0.0, -1.0, 0.0, 0.0, 0.0], np.float32))
    assert planner.last_plan_valid is False
    assert planner.last_info["plan_cost"] >= 0.99 * BIG_COST


def test_healthy_planner_passes_and_flags_valid_plans(tmp_path: Path) -> None:
    path = export_planner(_model(), TASK, _cfg("icem"), tmp_path / "ok.onnx")
    planner = OnnxPlanner(path, seed=1)
    states = np.asarray(planner.metadata["probe_states"])
    assert states.shape == (4, TASK.obs_dim)
    assert np.allclose(states[:, 1], -1.0, atol=0.01)  # hanging down: the sim's initial states
    first = planner.act(states[0])
    assert planner.last_plan_valid is True
    # the probe left warm start and noise as they were: same seed, same first action
    assert np.array_equal(OnnxPlanner(path, seed=1, validate=False).act(states[0]), first)


def test_model_finite_at_zero_but_not_at_initial_states_is_refused(tmp_path: Path) -> None:
    """The old probe planned from the zero observation only, where this model is finite."""
    path = _overflows_where(tmp_path / "p.onnx", index=1, mean=-0.5, weight=-1e38)  # cos < -0.5
    zero = OnnxPlanner(path, validate=False)
    zero.act(np.zeros(TASK.obs_dim, np.float32))
    assert zero.last_plan_valid  # finite at 0: the old check passed this file
    with pytest.raises(ValueError, match="refused: at initial state"):
        OnnxPlanner(path)


def test_recent_real_states_are_probed_when_given(tmp_path: Path) -> None:
    path = _overflows_where(tmp_path / "p.onnx", index=4, mean=5.0, weight=1e37)  # θ' > 5
    planner = OnnxPlanner(path)  # finite on the initial states
    recent = np.array([[0.2, -0.9, 0.4, 1.0, 15.0], [np.nan] * 5], np.float32)
    with pytest.raises(ValueError, match="refused: at recent state"):
        OnnxPlanner(path, probe_states=recent)
    with pytest.raises(ValueError, match="refused: at recent state"):
        planner.probe(recent)
    with pytest.raises(ValueError, match="5 values per row"):
        planner.probe(np.zeros((2, 3)))


def test_policy_finite_at_zero_but_not_at_initial_states_is_refused(tmp_path: Path) -> None:
    from mbrl_control.export.policy_export import export_policy
    from mbrl_control.export.policy_runtime import OnnxPolicy

    class SqrtPolicy(torch.nn.Module):  # NaN where cos θ < -0.5, e.g. hanging down
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sqrt(x[:, 1:2] + 0.5)

    policy = SqrtPolicy()
    path = export_policy(policy, TASK, tmp_path / "policy.onnx")
    loaded = OnnxPolicy(path)
    assert np.isfinite(loaded.act(np.zeros(TASK.obs_dim, np.float32))).all()
    with pytest.raises(ValueError, match="refused: at state"):
        loaded.probe()
