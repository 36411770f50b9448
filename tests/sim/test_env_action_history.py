"""The simulator side of the ``last_actions`` observation block (issue 15).

A real PyBullet env on the cart-pole task file plus ``{feature: last_actions, steps: k}``
(tests/tasks/history_tasks.py): every observation ends with the last k commands the env
applied, clipped, newest first (the safe action after reset), also under an action delay (the
block is what was commanded, not what the delay lets through); save/restore and the oracle
carry it; collected episodes and probe states hold consistent blocks; and collect -> train ->
export -> evaluate runs end to end on such a task file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from mbrl_sim.env import MbrlSimEnv
from mbrl_sim.oracle import OraclePolicy, SimulatorModel
from mbrl_sim.profiles import DRProfile

from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.planner import build_planner
from mbrl_control.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tasks"))
from history_tasks import cartpole_with_history

K = 3
RATE = 0.05


@pytest.fixture(scope="module")
def task_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cartpole_with_history(tmp_path_factory.mktemp("history"), steps=K, rate_weight=RATE)


def clean(**ranges) -> DRProfile:
    """No randomization except ``ranges``."""
    return DRProfile.from_mapping(ranges, name="test")


def actions(n: int, seed: int) -> np.ndarray:
    """``(n, 1)`` forces, some beyond the ±10 N bounds (the block holds them clipped)."""
    return np.random.default_rng(seed).uniform(-15.0, 15.0, (n, 1)).astype(np.float32)


def expected_block(commands: list[np.ndarray], safe: np.ndarray, low, high) -> np.ndarray:
    """The last K of ``commands`` clipped, newest first, padded with ``safe``."""
    past = [np.clip(a, low, high) for a in commands[::-1][:K]]
    past += [safe] * (K - len(past))
    return np.concatenate(past).astype(np.float32)


@pytest.mark.parametrize("delay", [0, 2])
def test_block_is_the_last_commanded_actions_newest_first(task_file, delay) -> None:
    """After reset the safe action fills the block; after each step it holds the last K
    clipped commands, also with a 2-step action delay; the joint part is the built-in
    task's observation bit for bit, and the cost adds exactly the action_rate term on the
    commanded change."""
    profile = clean(action_delay=delay)
    env = MbrlSimEnv(task_file, profile, seed=0)
    plain = MbrlSimEnv("cartpole_swingup", profile, seed=0)
    t = env.task
    assert t.action_history == K and t.obs_dim == plain.task.obs_dim + K * t.act_dim
    obs, info = env.reset()
    obs_p, _ = plain.reset()
    assert info["dr"]["action_delay"] == delay
    hd = t.history_dim
    np.testing.assert_array_equal(obs[-hd:], np.tile(t.safe_action, K))
    np.testing.assert_array_equal(obs[:-hd], obs_p)
    sent: list[np.ndarray] = []
    half = (t.high - t.low) / 2
    for a in actions(12, seed=1):
        previous = np.clip(sent[-1], t.low, t.high) if sent else t.safe_action
        sent.append(a)
        obs, reward, *_ = env.step(a)
        obs_p, reward_p, *_ = plain.step(a)
        np.testing.assert_array_equal(obs[-hd:], expected_block(sent, t.safe_action, t.low, t.high))
        np.testing.assert_array_equal(obs[:-hd], obs_p)
        rate = float(np.sum(((np.clip(a, t.low, t.high) - previous) / half) ** 2))
        assert -reward == pytest.approx(-reward_p + RATE * rate, rel=1e-5, abs=1e-6)
    env.reset(seed=3)  # a new episode forgets the commands
    np.testing.assert_array_equal(env.step(np.zeros(1, np.float32))[0][-hd:], np.zeros(K))
    env.close()
    plain.close()


@pytest.mark.parametrize("profile", ["reality_gap", "wide"])
def test_restore_reproduces_the_observations_and_the_block(task_file, profile) -> None:
    """Snapshot, 10 steps, other steps in between (and another episode), restore, the same
    10 steps: identical observations (block included) and rewards."""
    env = MbrlSimEnv(task_file, profile, seed=0)
    hd = env.task.history_dim
    env.reset()
    for a in actions(5, seed=2):
        env.step(a)
    state = env.save_state()
    before = env.step(actions(1, seed=9)[0])[0][-hd:]
    replay = actions(10, seed=3)
    first = [env.step(a)[:2] for a in replay]
    for a in actions(7, seed=4):
        env.step(a)
    env.reset(seed=11)
    env.restore_state(state)
    assert not np.array_equal(before, np.tile(env.task.safe_action, K))  # a real history
    np.testing.assert_array_equal(env.step(actions(1, seed=9)[0])[0][-hd:], before)
    second = [env.step(a)[:2] for a in replay]
    env.free_state(state)
    for (o1, r1), (o2, r2) in zip(first, second):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2
    env.close()


@pytest.mark.parametrize("delay", [0, 2])
def test_oracle_rollouts_see_their_own_block(task_file, delay) -> None:
    """The oracle model shifts each row's block by its own clipped action and, under an
    action delay d <= k, simulates the row's command d steps back: from the env's observation
    (no noise or jitter) it predicts the env's next observation."""
    env = MbrlSimEnv(task_file, clean(action_delay=delay), seed=0)
    model = SimulatorModel(env)
    hd = env.task.history_dim
    obs, _ = env.reset()
    for a in actions(4, seed=5):
        obs = env.step(a)[0]
    rows = np.repeat(obs[None], 3, axis=0)
    rows[1, -hd:] = [1.0, -2.0, 3.0]
    acts = np.array([[4.0], [-20.0], [0.5]], np.float32)
    state = env.save_state()
    nxt, logvar = model(torch.from_numpy(rows)[None], torch.from_numpy(acts)[None])
    env.restore_state(state)
    env.free_state(state)
    nxt = nxt[0].numpy()
    old = obs[-hd:-1]  # the block without its oldest entry (A = 1)
    np.testing.assert_array_equal(nxt[:, -hd:], [[4.0, *old], [-10.0, 1.0, -2.0], [0.5, *old]])
    assert torch.all(logvar == 0)
    real = env.step(acts[0])[0]
    np.testing.assert_array_equal(real[-hd:], nxt[0, -hd:])
    np.testing.assert_allclose(real[:-hd], nxt[0, :-hd], atol=1e-4)
    if delay:  # the delayed row really moved by its own history: row 1 pushed with -2 N
        assert not np.allclose(nxt[1, :-hd], nxt[0, :-hd], atol=1e-3)
    env.close()


def test_oracle_released_command_without_a_visible_delay() -> None:
    """A delay longer than the block (or none) simulates the action as sent."""
    from mbrl_sim.oracle import released

    obs = np.array([[9.0, 1.0, 2.0]], np.float32)  # O = 3: a block of k = 2, A = 1
    act = np.array([[5.0]], np.float32)
    assert released(obs, act, steps=2, delay=0)[0, 0] == 5.0
    assert released(obs, act, steps=2, delay=1)[0, 0] == 1.0
    assert released(obs, act, steps=2, delay=2)[0, 0] == 2.0
    assert released(obs, act, steps=2, delay=3)[0, 0] == 5.0
    assert released(obs, act, steps=0, delay=1)[0, 0] == 5.0


def test_oracle_planning_does_not_change_the_episode(task_file) -> None:
    """Planning in the env's own world leaves the episode, block included, as it was."""
    cfg = PlannerConfig(kind="cem", horizon=3, population=10, particles=1, iterations=1)
    planned, plain = (MbrlSimEnv(task_file, "reality_gap", seed=2) for _ in range(2))
    policy = OraclePolicy(planned, build_planner(SimulatorModel(planned), planned.task, cfg))
    obs_p, _ = planned.reset()
    plain.reset()
    for a in actions(8, seed=6):
        policy.act(obs_p)
        obs_p, r_p, *_ = planned.step(a)
        obs_q, r_q, *_ = plain.step(a)
        np.testing.assert_array_equal(obs_p, obs_q)
        assert r_p == r_q
    planned.close()
    plain.close()


def test_collected_episodes_hold_consistent_blocks(task_file, tmp_path) -> None:
    """Two collected episodes: obs[0] holds the safe action; each next_obs block starts with
    the transition's action and continues with the obs block minus its oldest entry."""
    from mbrl_sim.collect import collect

    from mbrl_control.data.store import TransitionStore

    out = tmp_path / "data"
    summary = collect(str(task_file), "reality_gap", 2, "random", 1, out, seed=0, quiet=True)
    assert summary["episodes_written"] == 2
    data = TransitionStore(out).load()
    t = get_task(task_file)
    a, hd = t.act_dim, t.history_dim
    assert data.obs.shape[1] == t.obs_dim and len(data) == 2 * t.episode_steps
    block, next_block = data.obs[:, -hd:], data.next_obs[:, -hd:]
    np.testing.assert_array_equal(next_block[:, :a], data.action)
    np.testing.assert_array_equal(next_block[:, a:], block[:, : hd - a])
    first = np.flatnonzero(np.r_[True, data.episode_id[1:] != data.episode_id[:-1]])
    assert len(first) == 2
    np.testing.assert_array_equal(block[first], np.tile(t.safe_action, (2, K)))
    assert np.all(data.action >= t.low) and np.all(data.action <= t.high)


def test_probe_states_draw_the_block_within_the_bounds(task_file) -> None:
    """Probe states of a history task: the joint part is the built-in task's probe states
    (same seed), the block uniform within the action bounds, varied, and seeded."""
    from mbrl_control.export.probe_states import initial_probe_states

    t = get_task(task_file)
    hd = t.history_dim
    probes = initial_probe_states(t, count=6, seed=0)
    assert probes.shape == (6, t.obs_dim) and probes.dtype == np.float32
    np.testing.assert_array_equal(
        probes[:, :-hd], initial_probe_states(get_task("cartpole_swingup"), count=6, seed=0)
    )
    block = probes[:, -hd:]
    assert np.all(block >= t.low[0]) and np.all(block <= t.high[0])
    assert block.std() > 2.0  # uniform on [-10, 10]: std 5.8; not the safe action
    np.testing.assert_array_equal(probes, initial_probe_states(t, count=6, seed=0))
    assert not np.array_equal(probes, initial_probe_states(t, count=6, seed=1))


@pytest.mark.slow
def test_collect_train_export_evaluate_a_history_task(task_file, tmp_path, capsys) -> None:
    """The CLI pipeline on a task file with the block, tiny budget: the trained ensemble
    shifts the block (EnsembleConfig.action_history), the exported planner plans with it
    and evaluates in the simulator."""
    import json

    from mbrl_control.cli import main
    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.models.checkpoint import load_checkpoint

    task, data = str(task_file), tmp_path / "data"
    assert main(["collect", "--task", task, "--episodes", "2", "--out", str(data), "--quiet"]) == 0
    model = tmp_path / "model"
    argv = ["train", "--data", str(data), "--task", task, "--out", str(model)]
    argv += ["--members", "5", "--hidden", "16", "--layers", "1", "--epochs", "2", "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
    ensemble, _ = load_checkpoint(model / "model.pt")
    assert ensemble.cfg.action_history == K
    planner = tmp_path / "planner.onnx"
    argv = ["export", "--checkpoint", str(model / "model.pt"), "--task", task]
    argv += ["--preset", "cartpole-rt", "--out", str(planner)]
    assert main(argv) == 0, capsys.readouterr().err
    loaded = OnnxPlanner(planner)
    probes = np.asarray(loaded.metadata["probe_states"], np.float32)
    assert probes.shape[1] == get_task(task_file).obs_dim
    capsys.readouterr()
    argv = ["evaluate", "--planner", str(planner), "--task", task, "--episodes", "1"]
    assert main([*argv, "--json", "--quiet"]) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["returns"]) == 1 and np.isfinite(summary["returns"][0])


def test_gymnasium_checks_pass_on_a_history_task(task_file) -> None:
    env = gymnasium.make("mbrl_sim:mbrl_sim/Task-v0", task=str(task_file)).unwrapped
    assert env.observation_space.shape == (env.task.obs_dim,)
    check_env(env, skip_render_check=True)
    env.close()
