"""Issue 17 at run time: the controller's windowed surprise and epistemic disagreement, their
WARN/ERROR levels, the hold option and the parameters' validation.

Real parts: an exported planner file run by onnxruntime. The model is exact and known: every
member predicts "nothing moves" (zero head: next = obs) with the same variance, so a robot
that stays still is unsurprising and a pole that jumps is surprising; times are explicit.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from mbrl_control.control.core import ControllerConfig, ControllerCore, Level
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")
J = list(TASK.joint_names)


@pytest.fixture(scope="module")
def still_planner(tmp_path_factory):
    """A planner whose identical members predict next = obs, std 0.1 x target std 0.05."""
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig

    model = Ensemble(EnsembleConfig(TASK.obs_dim, TASK.act_dim, members=2, hidden=8, layers=1))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.out_norm.std.fill_(0.05)
    cfg = PlannerConfig(kind="cem", horizon=3, population=16, particles=2, iterations=1)
    path = tmp_path_factory.mktemp("unc") / "planner.onnx"
    return export_planner(model, TASK, cfg, path)


def make_core(path, **params) -> ControllerCore:
    cfg = ControllerConfig(
        model_path=str(path), state_timeout=1.0, on_deadline_miss="publish", **params
    )
    core = ControllerCore(cfg)
    ok, message = core.reload(str(path))
    assert ok, message
    return core


def run(core, angles, t0=0.0, dt=0.02):
    """Feed the pole angles one tick each; return (actions, statuses, end time)."""
    out, t = [], t0
    for a in angles:
        core.set_state(J, [0.0, a], [0.0, 0.0], now=t)
        out.append(core.tick(now=t + 0.001))
        t += dt
    return out, t


def test_surprise_low_when_still_and_error_when_the_pole_jumps(still_planner) -> None:
    core = make_core(still_planner, surprise_window=3, surprise_warn=3.0, surprise_error=10.0)
    ticks, t = run(core, [3.0] * 6)
    assert all(s.level == Level.OK for _, s in ticks)
    values = core.diagnostics()
    assert 0 < values["surprise"] < 3.0 and values["surprise_transitions"] == 3
    assert values["epistemic_disagreement"] == pytest.approx(0.0, abs=1e-6)  # identical members
    assert core.uncertainty_status().level == Level.OK
    run(core, [3.0 + 0.6 * i for i in range(1, 5)], t)  # the pole jumps 0.6 rad per tick
    status = core.uncertainty_status()
    assert status.level == Level.ERROR and "surprise" in status.message, status
    assert core.diagnostics()["uncertainty_level"] == "ERROR"
    # the planner keeps planning ('report' only): the command is not the safe action's status
    assert core.status.level == Level.OK


def test_hold_publishes_the_safe_action_while_the_score_stays_above(still_planner) -> None:
    core = make_core(
        still_planner, surprise_window=2, surprise_error=10.0, on_uncertain="hold", hold_time=0.1
    )
    ticks, t = run(core, [3.0] * 3)
    assert all(s.message == "planning" for _, s in ticks)
    ticks, t = run(core, [3.6, 4.2, 4.8, 5.4], t)  # jumps: held within these ticks
    held = [(a, s) for a, s in ticks if "holding the safe action" in s.message]
    assert held and all(s.level == Level.WARN for _, s in held), ticks
    np.testing.assert_array_equal(held[-1][0], TASK.safe_action)
    assert core.diagnostics()["uncertainty_holds"] >= 1
    # still again: after hold_time the controller plans again (the window restarted empty)
    ticks, _ = run(core, [5.4] * 8, t + 0.2)
    assert ticks[-1][1].level == Level.OK and ticks[-1][1].message == "planning"


def test_cautious_plans_with_the_cautious_weights_while_the_score_stays_above(
    still_planner,
) -> None:
    core = make_core(
        still_planner, surprise_window=2, surprise_error=10.0, on_uncertain="cautious",
        cautious_weights=["rail=40"], hold_time=0.1,
    )  # fmt: skip
    live = core._planner.weights.copy()
    ticks, t = run(core, [3.0] * 3)
    assert all(s.message == "planning" for _, s in ticks)
    ticks, t = run(core, [3.6, 4.2, 4.8, 5.4], t)  # jumps: cautious within these ticks
    careful = [s for _, s in ticks if "cautious critic weights" in s.message]
    assert careful and all(s.level == Level.WARN for s in careful), ticks
    expected = live.copy()
    expected[TASK.critic_names.index("rail")] = 40.0
    np.testing.assert_array_equal(core._planner.weights, expected)
    assert core.diagnostics()["uncertainty_holds"] >= 1
    # still again: after hold_time the planner gets the live weights back
    ticks, _ = run(core, [5.4] * 8, t + 0.2)
    assert ticks[-1][1].message == "planning"
    np.testing.assert_array_equal(core._planner.weights, live)


def test_cautious_weights_must_name_the_tasks_critics(still_planner) -> None:
    with pytest.raises(ValueError, match="unknown critic 'rail_margin'"):
        make_core(still_planner, on_uncertain="cautious", cautious_weights=["rail_margin=20"])


def test_disagreement_thresholds_apply_live(still_planner) -> None:
    core = make_core(still_planner)
    run(core, [3.0] * 2)
    core.apply(dataclasses.replace(core.cfg, disagreement_warn=0.0))
    run(core, [3.0], 1.0)
    status = core.uncertainty_status()
    assert status.level == Level.WARN and "disagreement" in status.message


@pytest.mark.parametrize(
    "params, match",
    [
        ({"surprise_warn": 5.0, "surprise_error": 4.0}, "surprise_warn=5.0 must be <="),
        ({"disagreement_warn": 30.0}, "disagreement_warn=30.0 must be <="),
        ({"on_uncertain": "panic"}, "on_uncertain='panic'; allowed"),
        ({"surprise_window": 0}, "surprise_window=0"),
        ({"disagreement_error": float("nan")}, "disagreement_error=nan"),
        ({"hold_time": -1.0}, "hold_time=-1.0"),
        ({"on_uncertain": "cautious"}, "needs cautious_weights"),
        ({"on_uncertain": "cautious", "cautious_weights": [""]}, "needs cautious_weights"),
        ({"cautious_weights": ["rail"]}, "need 'critic=weight'"),
        ({"cautious_weights": ["rail=x"]}, "need 'critic=weight'"),
        ({"cautious_weights": ["rail=1", "rail=2"]}, "names critic 'rail' twice"),
        ({"cautious_weights": ["rail=-1"]}, "need a finite weight"),
        ({"cautious_weights": ["rail=inf"]}, "need a finite weight"),
    ],
)
def test_uncertainty_parameters_are_validated(params, match) -> None:
    with pytest.raises(ValueError, match=match):
        ControllerConfig(**params)
