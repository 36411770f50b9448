"""ControllerCore without ROS: per-joint merge, refusals, live config, run-time plan check.

Real parts: an exported planner file run by onnxruntime; times are passed in explicitly.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from mbrl_control.control.core import ControllerConfig, ControllerCore, Level
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")
J = list(TASK.joint_names)  # ["slider_to_cart", "cart_to_pole"]


@pytest.fixture(scope="module")
def planner_path(tmp_path_factory):
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig

    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(TASK.obs_dim, TASK.act_dim, members=2, hidden=16, layers=2))
    cfg = PlannerConfig(kind="icem", horizon=5, population=32, particles=2, iterations=1)
    path = tmp_path_factory.mktemp("core") / "planner.onnx"
    return export_planner(model, TASK, cfg, path, provenance={"test": 0})


@pytest.fixture
def core(planner_path) -> ControllerCore:
    c = ControllerCore(
        ControllerConfig(
            model_path=str(planner_path), state_timeout=0.2, on_deadline_miss="publish"
        )
    )
    ok, message = c.reload(str(planner_path))
    assert ok, message
    return c


def test_partial_messages_merge_per_joint(core) -> None:
    core.set_state(["slider_to_cart"], [0.1], [0.0], now=0.0)
    _, status = core.tick(now=0.01)
    assert status.level == Level.ERROR and "'cart_to_pole' missing" in status.message
    core.set_state(["camera_pan", "cart_to_pole"], [0.3, 3.0], [0.0, 0.0], now=0.05)
    action, status = core.tick(now=0.06)
    assert status.level == Level.OK, status
    # a message with none of the task's joints changes nothing
    assert core.set_state(["camera_pan"], [0.4], [0.0], now=0.1) is None
    assert core.tick(now=0.11)[1].level == Level.OK
    # the cart's driver stops: the watchdog names its joint
    core.set_state(["cart_to_pole"], [3.0], [0.0], now=0.2)
    action, status = core.tick(now=0.25)
    assert status.level == Level.ERROR and "'slider_to_cart' stale" in status.message
    np.testing.assert_array_equal(action, TASK.safe_action)


@pytest.mark.parametrize(
    "names, position, velocity, joint",
    [
        (["slider_to_cart", "cart_to_pole", "slider_to_cart"], [0.0, 3.0, 0.1], [0.0] * 3,
         "slider_to_cart"),
        (J, [1e30, 3.0], [0.0, 0.0], "slider_to_cart"),
        (J, [0.0, 3.0], [0.0, 1e4], "cart_to_pole"),
        (J, [0.0, np.nan], [0.0, 0.0], "cart_to_pole"),
    ],
)  # fmt: skip
def test_refused_messages_give_the_safe_action_naming_the_joint(
    core, names, position, velocity, joint
) -> None:
    core.set_state(J, [0.0, 3.0], [0.0, 0.0], now=0.0)
    assert core.tick(now=0.01)[1].level == Level.OK
    reason = core.set_state(names, position, velocity, now=0.02)
    assert reason is not None and joint in reason
    action, status = core.tick(now=0.03)
    assert status.level == Level.WARN and joint in status.message
    np.testing.assert_array_equal(action, TASK.safe_action)
    assert core.diagnostics()["rejected_messages"] == 1
    core.set_state(J, [0.0, 3.0], [0.0, 0.0], now=0.04)  # a good value clears it
    assert core.tick(now=0.05)[1].level == Level.OK


def test_live_config_is_validated_and_takes_effect(core) -> None:
    core.set_state(J, [0.0, 3.0], [0.0, 0.0], now=0.0)
    cfg = dataclasses.replace(core.cfg, action_low=[-0.5], action_high=[0.5])
    core.apply(cfg)
    for k in range(20):
        core.set_state(J, [0.0, 3.0], [0.0, 0.0], now=0.02 * k)
        action, status = core.tick(now=0.02 * k + 0.01)
        assert status.level == Level.OK and abs(action[0]) <= 0.5
    with pytest.raises(ValueError, match="action_low needs 1 entries"):
        core.check(ControllerConfig(action_low=[-1.0, -1.0], action_high=[1.0, 1.0]))
    # one side at a time (ros2 param set sets one parameter): the other side is the task's
    core.check(ControllerConfig(action_low=[-5.0]))
    core.check(ControllerConfig(action_high=[5.0]))
    with pytest.raises(ValueError, match="leave nothing inside"):
        core.check(ControllerConfig(action_low=[20.0]))
    with pytest.raises(ValueError, match="leave nothing inside"):
        core.check(ControllerConfig(action_low=[500.0], action_high=[600.0]))
    with pytest.raises(ValueError, match="on_deadline_miss='bogus'"):
        ControllerConfig(on_deadline_miss="bogus")
    with pytest.raises(ValueError, match="finite"):
        ControllerConfig(action_high=[float("nan")], action_low=[0.0])
    with pytest.raises(ValueError, match=r"critics\.tip_distance\.weight"):
        core.set_critic_weights({"tip_distance": float("nan")})
    with pytest.raises(ValueError, match="unknown critic"):
        core.set_critic_weights({"nope": 1.0})
    core.set_critic_weights({"action": 2.0})
    assert core.critic_weights["action"] == 2.0


def test_invalid_plan_at_run_time_is_an_error(core) -> None:
    """A plan without one finite rollout (``last_plan_valid`` False) gives the safe action."""
    core.set_state(J, [0.0, 3.0], [0.0, 0.0], now=0.0)
    assert core.tick(now=0.01)[1].level == Level.OK
    planner = core._planner
    real_act = planner.act

    def act_on_broken_model(obs, goal=None):
        action = real_act(obs, goal)
        planner.last_plan_valid = False  # what the runtime says when every rollout is NaN
        return action

    planner.act = act_on_broken_model
    action, status = core.tick(now=0.02)
    assert status.level == Level.ERROR and "no finite-cost plan" in status.message
    np.testing.assert_array_equal(action, TASK.safe_action)


def test_reload_async_keeps_ticking(core, planner_path) -> None:
    """While a (slow) load runs in its thread, ticks keep planning with the live model."""
    core.load_delay = 0.5
    done = threading.Event()
    result: list = []
    core.reload_async(str(planner_path), lambda ok, msg: (result.append((ok, msg)), done.set()))
    t, planned = 0.0, 0
    while not done.is_set():
        t += 0.02
        core.set_state(J, [0.0, 3.0], [0.0, 0.0], now=t)
        planned += core.tick(now=t + 0.001)[1].level == Level.OK
        done.wait(0.02)
    assert result[0][0], result
    assert planned >= 5
    # a second reload while one runs is refused, not queued
    core.load_delay = 0.3
    core.reload_async(str(planner_path), lambda ok, msg: None)
    ok, message = core.reload(str(planner_path))
    assert not ok and "in progress" in message


def test_a_relative_model_path_with_a_folder_is_read_from_the_working_directory(
    planner_path, tmp_path, monkeypatch
) -> None:
    """``model_path:=sub/planner.onnx`` without ``model_dir`` (it used to look in
    ``sub/sub/planner.onnx``); with ``model_dir`` set, relative paths stay inside it."""
    import shutil

    (tmp_path / "sub").mkdir()
    shutil.copy(planner_path, tmp_path / "sub" / "planner.onnx")
    monkeypatch.chdir(tmp_path)
    c = ControllerCore(ControllerConfig(model_path="sub/planner.onnx"))
    assert c.resolve("sub/planner.onnx") == tmp_path / "sub" / "planner.onnx"
    ok, message = c.reload("sub/planner.onnx")
    assert ok, message
    inside = ControllerCore(
        ControllerConfig(model_dir=str(tmp_path / "sub"), model_path="planner.onnx")
    )
    assert inside.resolve("planner.onnx") == tmp_path / "sub" / "planner.onnx"
    with pytest.raises(ValueError, match="outside model_dir"):
        inside.resolve("../planner.onnx")
