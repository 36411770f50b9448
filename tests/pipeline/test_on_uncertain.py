"""The controller's ``on_uncertain`` reactions in an offline evaluation (issue 17's safety
case arms): real PyBullet, a real exported planner file (an untrained 2-member ensemble: its
predictions are wrong, so its surprise is large) and the controller's own monitor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mbrl_control.control.config import ControllerConfig
from mbrl_control.pipeline.evaluate import evaluate
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")
NEVER = {"surprise_warn": 1e5, "surprise_error": 1e6, "disagreement_warn": 1e5,
         "disagreement_error": 1e6}  # fmt: skip


@pytest.fixture(scope="module")
def planner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig

    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(TASK.obs_dim, TASK.act_dim, members=2, hidden=16, layers=2))
    cfg = PlannerConfig(kind="icem", horizon=5, population=32, particles=2, iterations=1)
    path = tmp_path_factory.mktemp("hold") / "planner.onnx"
    return Path(export_planner(model, TASK, cfg, path))


def _run(planner: Path, cfg: ControllerConfig | None, episodes: int = 2) -> dict:
    return evaluate(planner, "cartpole_swingup", "reality_gap", episodes, seed=7, threads=1,
                    on_uncertain=cfg)  # fmt: skip


def test_thresholds_never_reached_change_nothing(planner: Path) -> None:
    plain = _run(planner, None)
    for kind in ("hold", "cautious"):
        cfg = ControllerConfig(**NEVER, on_uncertain=kind, cautious_weights=["rail=50"])
        never = _run(planner, cfg)
        assert never["held_fraction"] == never["cautious_fraction"] == 0.0, kind
        assert never["reactions_mean"] == 0.0
        assert never["returns"] == plain["returns"]  # the same actions on the same episodes


def test_surprise_at_error_holds_the_safe_action(planner: Path) -> None:
    cfg = ControllerConfig(surprise_warn=-100.0, surprise_error=-100.0, surprise_window=1,
                           hold_time=0.5, on_uncertain="hold")  # fmt: skip
    held = _run(planner, cfg)
    # every scored transition is at ERROR: the robot plans one tick, then holds 0.5 s (25 ticks
    # at 50 Hz), so about 25 of every 26 steps hold; far from the 0.5 asserted
    assert held["held_fraction"] > 0.5, held["held_fraction"]
    assert held["reactions_mean"] >= 3 and held["cautious_fraction"] == 0.0
    json.dumps(held)


def test_cautious_plans_with_the_cautious_weights(planner: Path) -> None:
    """At ERROR the planner gets the live weights with the named ones put in (and keeps
    acting: no safe action); a changed weight changes the actions on the same episodes."""
    base = {"surprise_warn": -100.0, "surprise_error": -100.0, "surprise_window": 1,
            "hold_time": 0.5, "on_uncertain": "cautious"}  # fmt: skip
    careful = _run(planner, ControllerConfig(**base, cautious_weights=["rail=1000", "action=5"]))
    assert careful["cautious_fraction"] > 0.9 and careful["held_fraction"] == 0.0
    same = _run(planner, ControllerConfig(**base, cautious_weights=["rail=1.0"]))  # = live
    plain = _run(planner, None)
    assert same["returns"] == plain["returns"]
    assert careful["returns"] != plain["returns"]


def test_held_steps_send_the_tasks_safe_action(planner: Path) -> None:
    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.pipeline.on_uncertain import OnUncertain

    onnx = OnnxPlanner(planner, expected_task=TASK, threads=1, seed=3)
    cfg = ControllerConfig(surprise_warn=-100.0, surprise_error=-100.0, surprise_window=1,
                           on_uncertain="hold")  # fmt: skip
    policy = OnUncertain(onnx, TASK, cfg)
    policy.reset(3)
    obs, goal = np.zeros(TASK.obs_dim, np.float32), np.zeros(0, np.float32)
    obs[1] = 1.0  # cos(theta) of a hanging pole
    first = policy(obs, goal)  # nothing scored yet: plans
    assert np.all(first >= TASK.low) and np.all(first <= TASK.high)
    second = policy(obs + 0.5, goal)  # scored under the first plan: surprise >= -100: hold
    np.testing.assert_array_equal(second, TASK.safe_action)
    assert policy.monitor.holds == 1


def test_refusals_name_the_problem(planner: Path) -> None:
    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.pipeline.on_uncertain import OnUncertain

    class Bare:
        def __init__(self) -> None:
            self.metadata: dict = {}

    with pytest.raises(ValueError, match="no calibrated predictive"):
        OnUncertain(Bare(), TASK)
    onnx = OnnxPlanner(planner, expected_task=TASK, threads=1)
    with pytest.raises(ValueError, match="'report' changes no action"):
        OnUncertain(onnx, TASK, ControllerConfig())
    cfg = ControllerConfig(on_uncertain="cautious", cautious_weights=["rail_margin=20"])
    with pytest.raises(ValueError, match="unknown critic 'rail_margin'"):
        OnUncertain(onnx, TASK, cfg)
