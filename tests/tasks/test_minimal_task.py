"""A hand-written ``Task`` needs only its layout, bounds, rate, features and critics: no joints,
no success test, no JointState mapping (a gymnasium env's task has none of them)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mbrl_control import Critic, Task
from mbrl_control.tasks.portable import task_from_metadata


class Minimal(Task):
    name = "minimal"
    obs_names = ("x", "x_dot")
    action_names = ("u",)
    action_units = ("N",)
    action_low = (-1.0,)
    action_high = (1.0,)
    control_hz = 10.0
    episode_steps = 5

    @property
    def critics(self) -> tuple[Critic, ...]:
        return (Critic("position", lambda f: f["next_obs"][:, 0] ** 2, 1.0),)

    def features(self, obs, action, next_obs, goal):
        return {"next_obs": next_obs}


def test_a_task_without_joints_has_a_contract_and_a_cost() -> None:
    task = Minimal()
    meta = task.metadata()
    assert meta["joint_names"] == [] and meta["obs_names"] == ["x", "x_dot"]
    assert task.is_success(np.zeros(2, np.float32)) is False
    cost = task.cost(torch.zeros(3, 2), torch.zeros(3, 1), torch.ones(3, 2), torch.zeros(0))
    assert cost.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(NotImplementedError, match="has no joints"):
        task.obs_from_joints(np.zeros(0), np.zeros(0))


def test_a_python_task_in_a_model_file_is_named_as_such() -> None:
    meta = {"task": {**Minimal().metadata(), "origin": "gymnasium"}}
    with pytest.raises(ValueError, match=r"exported from Python \(GymTask\)"):
        task_from_metadata(meta, "planner.onnx")
