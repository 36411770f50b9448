"""panda_reach: forward kinematics against PyBullet, cost critics, goals."""

from __future__ import annotations

import numpy as np
import pybullet as pb
import pybullet_data
import pytest
import torch

from mbrl_control.tasks import get_task
from mbrl_control.tasks.panda import GOAL_HIGH, GOAL_LOW, HOME, JOINTS, Q_HIGH, Q_LOW


@pytest.fixture(scope="module")
def panda():
    client = pb.connect(pb.DIRECT)
    body = pb.loadURDF(
        f"{pybullet_data.getDataPath()}/franka_panda/panda.urdf",
        useFixedBase=True,
        physicsClientId=client,
    )
    yield client, body
    pb.disconnect(client)


def test_obs_matches_pybullet_link_state(panda, seeds):
    client, body = panda
    task = get_task("panda_reach")
    rng = np.random.default_rng(seeds(0))
    for _ in range(20):
        q = rng.uniform(Q_LOW, Q_HIGH)
        for j in range(7):
            pb.resetJointState(body, j, q[j], physicsClientId=client)
        ee = pb.getLinkState(body, 11, computeForwardKinematics=True, physicsClientId=client)[4]
        obs = task.obs_from_joints(q, np.zeros(7))
        assert obs.shape == (17,) and obs.dtype == np.float32
        assert np.abs(obs[14:17] - np.array(ee)).max() < 2e-3  # a few mm


def test_cost_critics_and_success():
    task = get_task("panda_reach")
    obs = task.obs_from_joints(HOME, np.zeros(7))
    goal_at_ee = obs[14:17].copy()
    far = goal_at_ee + np.array([0.3, 0.0, 0.0], np.float32)
    zero = np.zeros(7, np.float32)
    assert task.cost_np(obs, zero, obs, goal_at_ee) < 1e-3
    assert task.cost_np(obs, zero, obs, far) == pytest.approx(0.3, abs=1e-4)
    assert task.cost_np(obs, task.high, obs, goal_at_ee) > task.cost_np(obs, zero, obs, goal_at_ee)
    near_limit = task.obs_from_joints(np.where(np.arange(7) == 0, Q_HIGH[0], HOME), np.zeros(7))
    _, per = task.score(
        *(torch.as_tensor(x)[None] for x in (obs, zero, near_limit)), torch.as_tensor(goal_at_ee)
    )
    assert per[2, 0] > 0.9  # joint-limit critic fires at the limit
    assert task.is_success(obs, goal_at_ee) and not task.is_success(obs, far)


def test_goals_in_front_and_reachable(seeds):
    task = get_task("panda_reach")
    rng = np.random.default_rng(seeds(1))
    goals = np.stack([task.sample_goal(rng) for _ in range(200)])
    assert goals.shape == (200, 3)
    assert (goals >= GOAL_LOW).all() and (goals <= GOAL_HIGH).all()
    shoulder = np.array([0.0, 0.0, 0.333])
    assert np.linalg.norm(goals - shoulder, axis=1).max() < 0.316 + 0.384 + 0.088 + 0.212


def test_joint_state_mapping():
    task = get_task("panda_reach")
    names = ["panda_finger_joint1", *reversed(JOINTS)]
    pos = [0.02, *reversed(HOME.tolist())]
    obs = task.obs_from_joint_state(names, pos, [0.0] * 8)
    np.testing.assert_allclose(obs[:7], HOME, atol=1e-6)
