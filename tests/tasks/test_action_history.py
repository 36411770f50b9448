"""The ``last_actions`` observation block: task file, numpy helpers, the ensemble's shift."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from mbrl_control.export.gemm_ensemble import GemmEnsemble
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.models.trainer import Rows, member_losses
from mbrl_control.tasks import TaskFileError, load_task_file
from mbrl_control.tasks.action_history import ActionHistory, history_rows, with_history
from tests.tasks.history_tasks import cartpole_with_history


def test_task_file_last_actions_block(tmp_path):
    task = load_task_file(cartpole_with_history(tmp_path, steps=3))
    assert task.action_history == 3 and task.history_dim == 3
    assert task.obs_names[-3:] == ("cart_force_prev1", "cart_force_prev2", "cart_force_prev3")
    assert task.obs_dim == 5 + 3
    q, v = np.array([0.1, 3.0]), np.array([0.2, -0.3])
    obs = task.obs_from_joints(q, v, np.array([[1.0], [2.0], [3.0]]))
    np.testing.assert_allclose(obs[-3:], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(
        obs[:5], load_task_file(cartpole_with_history(tmp_path, 1)).obs_from_joints(q, v)[:5]
    )
    np.testing.assert_allclose(task.obs_from_joints(q, v)[-3:], 0.0)  # safe action
    with pytest.raises(ValueError, match="last 3 actions"):
        task.obs_from_joints(q, v, np.zeros(2))


def test_last_actions_must_end_the_observation(tmp_path):
    path = cartpole_with_history(tmp_path, rate_weight=0)
    data = yaml.safe_load(path.read_text())
    data["observation"].insert(0, data["observation"].pop())
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(TaskFileError, match="last_actions must be the last observation feature"):
        load_task_file(path)


def test_action_rate_needs_the_block(tmp_path):
    path = cartpole_with_history(tmp_path, rate_weight=0)
    data = yaml.safe_load(path.read_text())
    data["observation"].pop()
    data["critics"].append({"name": "rate", "kind": "action_rate"})
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(TaskFileError, match=r"critics\[4\]: needs the previous action"):
        load_task_file(path)


def test_action_rate_prices_the_change_from_the_last_sent_action(tmp_path):
    task = load_task_file(cartpole_with_history(tmp_path, steps=2, rate_weight=1.0))
    q, v = np.array([0.0, 0.0]), np.zeros(2)
    obs = torch.as_tensor(task.obs_from_joints(q, v, np.array([5.0, -5.0])))[None]
    same, changed = torch.tensor([[5.0]]), torch.tensor([[-5.0]])
    _, per_same = task.score(obs, same, obs, torch.zeros(0))
    _, per_changed = task.score(obs, changed, obs, torch.zeros(0))
    rate = task.critic_names.index("rate")
    assert float(per_same[rate, 0]) == 0.0
    assert float(per_changed[rate, 0]) == pytest.approx(1.0)  # (10 N / 10 N half range)²


def test_history_rows_and_with_history():
    action = np.arange(5, dtype=np.float32)[:, None]  # a0..a4
    rows = history_rows(action, 2)  # states 2..5
    np.testing.assert_array_equal(rows, [[1, 0], [2, 1], [3, 2], [4, 3]])
    obs = np.zeros((6, 3), np.float32)
    obs[:, 0] = np.arange(6)
    kept, act = with_history(obs, action, 2)
    np.testing.assert_array_equal(kept[:, 0], [2, 3, 4, 5])
    np.testing.assert_array_equal(kept[:, 1:], rows)
    np.testing.assert_array_equal(act[:, 0], [2, 3, 4])
    assert history_rows(action[:1], 2).shape == (0, 2)


def test_action_history_buffer_matches_history_rows():
    hist = ActionHistory(3, np.zeros(2))
    actions = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)
    blocks = [hist.flat]
    for a in actions:
        hist.push(a)
        blocks.append(hist.flat)
    np.testing.assert_array_equal(np.stack(blocks[3:]), history_rows(actions, 3))
    hist.reset()
    np.testing.assert_array_equal(hist.flat, np.zeros(6))


def _history_model(steps: int = 2) -> Ensemble:
    cfg = EnsembleConfig(
        obs_dim=3 + 2 * steps, act_dim=2, members=3, hidden=16, layers=2, action_history=steps
    )
    return Ensemble(cfg).eval()


def test_ensemble_shifts_the_block_instead_of_predicting_it():
    model = _history_model(2)
    obs = torch.randn(3, 4, 7)
    action = torch.randn(3, 4, 2)
    mean, logvar = model(obs, action)
    torch.testing.assert_close(mean[..., 3:5], action)
    torch.testing.assert_close(mean[..., 5:7], obs[..., 3:5])
    assert bool((logvar[..., 3:] < -20).all()) and bool((logvar[..., :3] > -20).all())
    gemm = GemmEnsemble(model)
    g_mean, g_logvar = gemm(obs, action)
    torch.testing.assert_close(g_mean, mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g_logvar, logvar, rtol=1e-5, atol=1e-5)


def test_loss_leaves_the_block_out():
    model = _history_model(1)
    obs, action = torch.randn(3, 8, 5), torch.randn(3, 8, 2)
    delta = torch.randn(3, 8, 5)
    loss, _ = member_losses(model, Rows(obs, action, delta, None))
    other = delta.clone()
    other[..., 3:] = 1e3  # a wildly wrong block target changes nothing
    loss2, _ = member_losses(model, Rows(obs, action, other, None))
    torch.testing.assert_close(loss, loss2)


def test_for_task_carries_the_history(tmp_path):
    task = load_task_file(cartpole_with_history(tmp_path, steps=2))
    cfg = EnsembleConfig.for_task(task, members=3, hidden=8, layers=1)
    assert cfg.action_history == 2 and cfg.predicted_dim == 5
    assert cfg.input_scale[5:7] == (10.0, 10.0)  # past actions scale as actions
    with pytest.raises(ValueError, match="action_history"):
        EnsembleConfig.for_task(task, action_history=1)


def test_last_actions_twice_or_longer_than_an_episode(tmp_path):
    path = cartpole_with_history(tmp_path, rate_weight=0)
    data = yaml.safe_load(path.read_text())
    data["observation"].append({"feature": "last_actions", "steps": 1})
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(TaskFileError, match="last_actions appears twice"):
        load_task_file(path)
    data["observation"].pop()
    data["observation"][-1]["steps"] = data["episode_steps"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(TaskFileError, match=r"steps=200 must be below episode_steps \(200\)"):
        load_task_file(path)
