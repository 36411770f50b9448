"""``mpc_controller`` core in ``mode: policy``: the actor alone as the fallback controller."""

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from mbrl_control.agents.value import PolicyMean
from mbrl_control.control.core import ControllerConfig, ControllerCore, Level
from mbrl_control.export.policy_export import export_policy
from mbrl_control.tasks import get_task


def test_policy_mode_publishes_the_policy_action(agent, tmp_path):
    task = get_task("cartpole_swingup")
    path = export_policy(PolicyMean(agent.actor), task, tmp_path / "policy.onnx")
    core = ControllerCore(ControllerConfig(model_path=str(path), mode="policy"))
    core.set_critic_weights({"tip_distance": 1.0})  # a policy has no cost: accepted, unused
    ok, message = core.reload(str(path))
    assert ok, message
    core.set_state(["slider_to_cart", "cart_to_pole"], [0.2, 3.0], [0.0, 0.1], now=0.0)
    action, status = core.tick(now=0.01)
    assert status.level == Level.OK
    with torch.no_grad():
        want = agent.actor.mean_action(torch.as_tensor(task.obs_from_joints(
            np.array([0.2, 3.0]), np.array([0.0, 0.1])))[None])[0].numpy()  # fmt: skip
    np.testing.assert_allclose(action, want, atol=1e-4)


def test_planner_mode_refuses_a_policy_file_and_bad_modes(agent, tmp_path):
    path = export_policy(PolicyMean(agent.actor), get_task("cartpole_swingup"), tmp_path / "p.onnx")
    cfg = ControllerConfig(task="cartpole_swingup", model_path=str(path))
    ok, message = ControllerCore(cfg).reload(str(path))
    assert not ok and "not a planner file" in message
    with pytest.raises(ValueError, match="not a planner file"):  # task '' reads the file first
        ControllerCore(ControllerConfig(model_path=str(path)))
    with pytest.raises(ValueError, match="mode='mpc'"):
        ControllerConfig(mode="mpc")
