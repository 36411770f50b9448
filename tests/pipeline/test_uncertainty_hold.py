"""The controller's ``on_uncertain: hold`` in an offline evaluation (issue 17's safety case
arm): real PyBullet, a real exported planner file (an untrained 2-member ensemble: its
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


def _run(planner: Path, hold: ControllerConfig | None, episodes: int = 2) -> dict:
    return evaluate(planner, "cartpole_swingup", "reality_gap", episodes, seed=7, threads=1,
                    hold=hold)  # fmt: skip


def test_thresholds_never_reached_change_nothing(planner: Path) -> None:
    plain = _run(planner, None)
    never = _run(planner, ControllerConfig(**NEVER))
    assert never["held_fraction"] == 0.0 and never["holds_mean"] == 0.0
    assert never["returns"] == plain["returns"]  # the same actions on the same paired episodes


def test_surprise_at_error_holds_the_safe_action(planner: Path) -> None:
    cfg = ControllerConfig(surprise_warn=-100.0, surprise_error=-100.0, surprise_window=1,
                           hold_time=0.5)  # fmt: skip
    held = _run(planner, cfg)
    # every scored transition is at ERROR: the robot plans one tick, then holds 0.5 s (25 ticks
    # at 50 Hz), so about 25 of every 26 steps hold; far from the 0.5 asserted
    assert held["held_fraction"] > 0.5, held["held_fraction"]
    assert held["holds_mean"] >= 3
    # 'hold' is forced on whatever on_uncertain the config has; the summary stays JSON-ready
    json.dumps(held)


def test_held_steps_send_the_tasks_safe_action(planner: Path) -> None:
    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.pipeline.uncertainty_hold import UncertaintyHold

    onnx = OnnxPlanner(planner, expected_task=TASK, threads=1, seed=3)
    cfg = ControllerConfig(surprise_warn=-100.0, surprise_error=-100.0, surprise_window=1)
    policy = UncertaintyHold(onnx, TASK, cfg)
    policy.reset(3)
    obs, goal = np.zeros(TASK.obs_dim, np.float32), np.zeros(0, np.float32)
    obs[1] = 1.0  # cos(theta) of a hanging pole
    first = policy(obs, goal)  # nothing scored yet: plans
    assert np.all(first >= TASK.low) and np.all(first <= TASK.high)
    second = policy(obs + 0.5, goal)  # scored under the first plan: surprise >= -100: hold
    np.testing.assert_array_equal(second, TASK.safe_action)
    assert policy.monitor.holds == 1


def test_a_file_without_the_predictive_is_refused(planner: Path) -> None:
    from mbrl_control.pipeline.uncertainty_hold import UncertaintyHold

    class Bare:
        def __init__(self) -> None:
            self.metadata: dict = {}

    with pytest.raises(ValueError, match="no calibrated predictive"):
        UncertaintyHold(Bare(), TASK)
