"""Simulator units (efforts are N·m / N, checked against PyBullet's inverse dynamics) and
exact replay after ``restore_state`` (what the oracle planner relies on)."""

from __future__ import annotations

import numpy as np
import pybullet as pb
import pytest
from mbrl_sim.env import MbrlSimEnv
from mbrl_sim.oracle import OraclePolicy, SimulatorModel
from mbrl_sim.profiles import DRProfile

from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.planner import build_planner

TASKS = ["cartpole_swingup", "panda_reach"]


def gravity_torques(env: MbrlSimEnv) -> np.ndarray:
    """PyBullet's inverse dynamics at the current pose, zero velocity and acceleration,
    for the task's joints ``(J,)`` (N·m)."""
    sc = env.scene
    c, body = sc.client, sc.body
    movable = [
        j
        for j in range(pb.getNumJoints(body, physicsClientId=c))
        if pb.getJointInfo(body, j, physicsClientId=c)[2] != pb.JOINT_FIXED
    ]
    q = [pb.getJointState(body, j, physicsClientId=c)[0] for j in movable]
    zeros = [0.0] * len(q)
    tau = pb.calculateInverseDynamics(body, q, zeros, zeros, physicsClientId=c)
    return np.array([tau[movable.index(j)] for j in sc.joints])


@pytest.mark.parametrize(
    "profile",
    [
        DRProfile.from_mapping({}, name="nominal"),
        DRProfile.from_mapping(
            {"mass_scale": {"low": 0.7, "high": 1.5}, "joint_damping": 1.0}, name="heavier"
        ),
    ],
    ids=["nominal", "randomized_masses"],
)
def test_panda_holding_still_reports_inverse_dynamics_torques(profile):
    """Zero velocity commands hold the arm: the motors' efforts are the gravity torques."""
    env = MbrlSimEnv("panda_reach", profile, seed=3)
    env.reset()
    for _ in range(40):
        env.step(np.zeros(7, np.float32))
    _, _, vel, effort = env.joint_state()
    assert np.abs(vel).max() < 0.01  # static
    expect = gravity_torques(env)
    assert np.abs(expect).max() > 5.0  # a pose that really loads the joints
    np.testing.assert_allclose(effort, expect, rtol=0.02, atol=0.05)
    env.close()


def test_cartpole_efforts_are_the_forces_acting():
    """Actuated joint: the realized force (N); the passive pole joint: its Coulomb friction
    torque (N·m) while it turns, never a per-substep fraction of it."""
    prof = DRProfile.from_mapping(
        {"joint_friction": 1.0, "actuator_gain": {"low": 0.8, "high": 1.2}}, name="friction"
    )
    env = MbrlSimEnv("cartpole_swingup", prof, seed=1)
    env.reset()
    for _ in range(5):
        env.step(np.array([8.0], np.float32))
    _, _, vel, effort = env.joint_state()
    dr = env.dr
    assert effort[0] == pytest.approx(8.0 * dr["actuator_gain"][0], rel=1e-5)
    assert abs(vel[1]) > 0.05
    friction = dr["joint_friction"][1]
    assert friction > 1e-4
    assert effort[1] == pytest.approx(-np.sign(vel[1]) * friction, rel=1e-3)
    env.close()


def _steps(env: MbrlSimEnv, actions: np.ndarray) -> list[tuple]:
    out = []
    for a in actions:
        obs, reward, *_ = env.step(a)
        out.append((obs, reward, env.joint_state()[3]))
    return out


def _assert_same(first: list[tuple], second: list[tuple]) -> None:
    for (o1, r1, e1), (o2, r2, e2) in zip(first, second, strict=True):
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(e1, e2)
        assert r1 == r2


@pytest.mark.parametrize("profile", ["default", "reality_gap", "wide"])
@pytest.mark.parametrize("task", TASKS)
def test_restore_state_replays_exactly(task: str, profile: str):
    """Snapshot, 15 fixed steps, other steps in between, restore, the same 15 steps:
    identical observations, rewards and efforts (control jitter, pushes, delay, noise on)."""
    env = MbrlSimEnv(task, profile, seed=0)
    t = env.task
    rng = np.random.default_rng(0)
    for seed in range(3):
        env.reset(seed=seed)
        for a in rng.uniform(t.low, t.high, (5, t.act_dim)).astype(np.float32):
            env.step(a)
        state = env.save_state()
        actions = rng.uniform(t.low, t.high, (15, t.act_dim)).astype(np.float32)
        first = _steps(env, actions)
        _steps(env, rng.uniform(t.low, t.high, (7, t.act_dim)).astype(np.float32))
        env.restore_state(state)
        second = _steps(env, actions)
        env.free_state(state)
        _assert_same(first, second)
    env.close()


@pytest.mark.parametrize("task", TASKS)
def test_restore_state_from_a_later_episode_brings_the_draw_back(task: str):
    env = MbrlSimEnv(task, "reality_gap", seed=4)
    env.reset()
    t = env.task
    actions = np.random.default_rng(1).uniform(t.low, t.high, (15, t.act_dim)).astype(np.float32)
    state = env.save_state()
    first = _steps(env, actions)
    env.reset(seed=5)  # another draw, goal and delay
    env.restore_state(state)
    second = _steps(env, actions)
    env.free_state(state)
    _assert_same(first, second)
    env.close()


@pytest.mark.parametrize("task", TASKS)
def test_oracle_planning_does_not_change_the_episode(task: str):
    """The oracle plans in the env's own world; the episode goes on as if it had not."""
    cfg = PlannerConfig(kind="cem", horizon=3, population=10, particles=1, iterations=1)
    planned, plain = (MbrlSimEnv(task, "reality_gap", seed=2) for _ in range(2))
    policy = OraclePolicy(planned, build_planner(SimulatorModel(planned), planned.task, cfg))
    obs_p, _ = planned.reset()
    obs_q, _ = plain.reset()
    t = planned.task
    actions = np.random.default_rng(3).uniform(t.low, t.high, (15, t.act_dim)).astype(np.float32)
    for a in actions:
        policy.act(obs_p, planned.goal if t.goal_dim else None)
        obs_p, r_p, *_ = planned.step(a)
        obs_q, r_q, *_ = plain.step(a)
        np.testing.assert_array_equal(obs_p, obs_q)
        assert r_p == r_q
    planned.close()
    plain.close()


@pytest.mark.parametrize("task", TASKS)
def test_reset_state_reports_no_effort_from_the_last_episode(task: str):
    env = MbrlSimEnv(task, "none", seed=0)
    env.reset()
    for _ in range(20):
        env.step(np.full(env.task.act_dim, 0.5, np.float32))
    assert np.abs(env.joint_state()[3]).max() > 0.1
    env.reset(seed=1)
    np.testing.assert_array_equal(env.joint_state()[3], 0.0)  # nothing has acted yet
    env.close()
