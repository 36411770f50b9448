"""The randomized PyBullet envs: gymnasium API, DR readback, determinism, delay, noise."""

from __future__ import annotations

import json
import logging

import gymnasium
import mbrl_sim
import numpy as np
import pybullet as pb
import pytest
from gymnasium.utils.env_checker import check_env
from mbrl_sim.env import MbrlSimEnv
from mbrl_sim.profiles import DRProfile

TASKS = ["cartpole_swingup", "panda_reach"]


def clean(**ranges) -> DRProfile:
    """No randomization except ``ranges`` (name -> number or {low, high})."""
    return DRProfile.from_mapping(ranges, name="test")


def rollout(env, actions, seed):
    obs, info = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        out.append(env.step(a)[0])
    return np.stack(out), info


@pytest.mark.parametrize("task", TASKS)
def test_check_env(task):
    env = mbrl_sim.make_env(task, "default", seed=0)
    check_env(env, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", sorted(mbrl_sim.ENV_IDS))
def test_gymnasium_make_and_render_headless(env_id):
    env = gymnasium.make(f"mbrl_sim:{env_id}", render_mode="rgb_array", profile="none")
    obs, info = env.reset(seed=0)
    task = env.unwrapped.task
    assert obs.shape == (task.obs_dim,) and env.observation_space.contains(obs)
    assert len(info["goal"]) == task.goal_dim
    np.testing.assert_array_equal(env.unwrapped.goal, np.asarray(info["goal"], np.float32))
    img = env.render()
    assert img.shape == (240, 320, 3) and img.dtype == np.uint8
    assert img.std() > 1.0  # not a blank frame
    env.close()


def test_episode_truncates_with_cost_in_info():
    env = mbrl_sim.make_env("cartpole_swingup", "none", seed=0)
    env.reset()
    for k in range(env.unwrapped.task.episode_steps):  # noqa: B007 (k checked below)
        _, reward, terminated, truncated, info = env.step(np.zeros(1, np.float32))
        assert reward == -info["cost"] and not terminated
    assert truncated and k == 199


def test_dr_readback_matches_draw_and_differs_across_seeds(caplog):
    draws = []
    for seed in (1, 2):
        env = MbrlSimEnv("cartpole_swingup", "default", seed=seed)
        with caplog.at_level(logging.INFO, logger="mbrl_sim.env"):
            _, info = env.reset()
        dr = info["dr"]
        assert json.dumps(dr) in caplog.text  # logged at reset
        sc = env.scene
        for i, link in enumerate(sc.links):
            mass, lateral, inertia = pb.getDynamicsInfo(sc.body, link, physicsClientId=sc.client)[
                :3
            ]
            assert mass == pytest.approx(sc.mass[i] * dr["mass_scale"][i])
            expect = sc.inertia[i] * dr["mass_scale"][i] * dr["inertia_scale"][i]
            np.testing.assert_allclose(inertia, expect, rtol=1e-6)
            assert lateral == pytest.approx(dr["lateral_friction"])
        # Coulomb friction: while sliding, the friction motor pushes back with the drawn force
        # (N or N·m: PyBullet steps one physics step per call, so it reports forces).
        for _ in range(5):
            env.step(np.array([8.0], np.float32))
        for k, j in enumerate(sc.joints):
            _, vel, _, applied = pb.getJointState(sc.body, j, physicsClientId=sc.client)
            assert abs(vel) > 0.05
            expect = -np.sign(vel) * dr["joint_friction"][k]
            assert applied == pytest.approx(expect, rel=1e-4)
        draws.append(dr)
        env.close()
    assert draws[0]["mass_scale"] != draws[1]["mass_scale"]
    assert draws[0]["joint_friction"] != draws[1]["joint_friction"]


def test_actuator_gain_reads_back_as_velocity_tracking():
    prof = clean(actuator_gain={"low": 0.7, "high": 1.3})
    env = MbrlSimEnv("panda_reach", prof, seed=5)
    _, info = env.reset()
    gain = np.asarray(info["dr"]["actuator_gain"])
    cmd = np.array([0.5, -0.3, 0.4, 0.3, -0.5, 0.5, 0.5], np.float32)
    for _ in range(3):
        env.step(cmd)
    _, _, vel, _ = env.joint_state()
    np.testing.assert_allclose(vel / cmd, gain, atol=5e-3)
    assert gain.std() > 0.01
    env.close()


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_episode_bit_for_bit(task):
    env_a = mbrl_sim.make_env(task, "wide", seed=7)
    env_b = mbrl_sim.make_env(task, "wide")
    tsk = env_a.unwrapped.task
    rng = np.random.default_rng(0)
    actions = rng.uniform(tsk.low, tsk.high, (tsk.episode_steps, tsk.act_dim)).astype(np.float32)
    env_b.reset(seed=99)  # a different episode first: state must not leak into the next
    for _ in range(10):
        env_b.step(actions[0])
    obs_a, info_a = rollout(env_a, actions, seed=None)  # the seed given at construction
    obs_b, info_b = rollout(env_b, actions, seed=7)
    assert info_a == info_b
    np.testing.assert_array_equal(obs_a, obs_b)
    obs_c, _ = rollout(env_b, actions, seed=8)
    assert not np.array_equal(obs_a, obs_c)


def test_action_delay_is_observable():
    pulse = np.zeros((6, 1), np.float32)
    pulse[0] = 10.0
    first_move = {}
    for delay in (0, 2):
        env = MbrlSimEnv("cartpole_swingup", clean(action_delay=delay), seed=0)
        obs, info = rollout(env, pulse, seed=0)
        assert info["dr"]["action_delay"] == delay
        # with x_dot starting near 0, the cart accelerates only once the push arrives
        moved = np.flatnonzero(np.abs(obs[:, 3] - obs[0, 3]) > 0.1)
        first_move[delay] = int(moved[0])
    assert first_move[2] - first_move[0] == 2


def test_observation_noise_is_observable():
    actions = np.zeros((50, 1), np.float32)
    quiet, _ = rollout(MbrlSimEnv("cartpole_swingup", clean(), seed=0), actions, seed=0)
    noisy_env = MbrlSimEnv("cartpole_swingup", clean(obs_noise_pos=0.01, obs_noise_vel=0.1))
    noisy, _ = rollout(noisy_env, actions, seed=0)
    x_err = noisy[:, 0] - quiet[:, 0]
    assert 0.005 < x_err.std() < 0.02  # the pendulum moves the same; only the sensor differs
    assert 0.05 < (noisy[:, 3] - quiet[:, 3]).std() < 0.2
    np.testing.assert_allclose(noisy[:, 1] ** 2 + noisy[:, 2] ** 2, 1.0, atol=1e-5)


@pytest.mark.parametrize("profile", ["none", "reality_gap"])
def test_cartpole_swings_up_with_energy_pumping(profile):
    """±10 N is enough to swing the 0.6 m pole above horizontal within the 4 s episode."""
    env = MbrlSimEnv("cartpole_swingup", profile, seed=0)
    obs, _ = env.reset()
    best = -1.0
    for _ in range(env.task.episode_steps):
        x, cos_t, _, x_dot, theta_dot = obs
        energy = 0.5 * 0.024 * theta_dot**2 + 0.2 * 9.81 * 0.3 * (cos_t - 1)  # 0 upright
        u = -10.0 * np.sign(theta_dot * cos_t) if energy < 0 else 0.0
        obs = env.step(np.array([np.clip(u - 2 * x - x_dot, -10, 10)], np.float32))[0]
        best = max(best, float(obs[1]))
    assert best > 0.9


def test_joint_state_builds_the_observation():
    env = MbrlSimEnv("cartpole_swingup", "default", seed=2)
    obs, _ = env.reset()
    obs, *_ = env.apply_action(np.array([3.0], np.float32))
    names, pos, vel, eff = env.joint_state()
    assert names == list(env.task.joint_names)
    np.testing.assert_array_equal(env.task.obs_from_joint_state(names, pos, vel), obs)
    gain = env.dr["actuator_gain"][0]
    assert eff[0] == pytest.approx(3.0 * gain if env.dr["action_delay"] == 0 else 0.0)


def test_seeding_make_env_and_first_reset_does_not_repeat_the_draw() -> None:
    """sim_node passes the seed to make_env and to its first reset: episode 1 repeated
    episode 0's randomization draw (the env still held the make_env seed)."""
    env = mbrl_sim.make_env("cartpole_swingup", profile="default", seed=3)
    draws = [json.dumps(env.reset(seed=3)[1]["dr"])]
    draws += [json.dumps(env.reset()[1]["dr"]) for _ in range(3)]
    assert len(set(draws)) == 4, draws
    env.close()
