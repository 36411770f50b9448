"""The Dyna-Q parts, each on its own: the maze env, the tabular model, the agent's update,
the exact values."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from mbrl_control.tabular import OPTIMAL_STEPS, DynaMaze, DynaQAgent, TabularModel
from mbrl_control.tabular.maze import ENV_ID, GOAL, START, shortest_path_steps, transition_table
from mbrl_control.tabular.values import dense, optimal_values, policy_values


@pytest.mark.parametrize("slip", [0.0, 0.2])
def test_the_maze_passes_gymnasiums_env_checker(slip):
    env = gym.make(ENV_ID, slip=slip, max_steps=50, render_mode="ansi")
    check_env(env.unwrapped, skip_render_check=False)
    env.reset(seed=0)
    assert env.render().count("#") == 7


def test_the_maze_is_sutton_and_bartos():
    assert shortest_path_steps() == OPTIMAL_STEPS == 14
    env = DynaMaze()
    obs, _ = env.reset(seed=0)
    assert obs == DynaMaze.index(START)
    assert env.step(3)[0] == obs  # left of the start is the border
    # up twice, then right along row 0 to the wall in column 7
    for action in (0, 0, 1, 1, 1, 1, 1, 1):
        obs, reward, terminated, _, _ = env.step(action)
    assert obs == DynaMaze.index((0, 6)) and reward == 0 and not terminated
    assert env.step(1)[0] == obs  # (0, 7) is a wall
    with pytest.raises(ValueError, match="allowed: 0 up"):
        env.step(4)
    with pytest.raises(ValueError, match="slip"):
        DynaMaze(slip=1.5)


def test_the_slippery_maze_moves_as_its_table_says(seeds):
    table = transition_table(0.2)
    assert all(
        sum(p for p, *_ in outcomes) == pytest.approx(1.0)
        for actions in table.values()
        for outcomes in actions.values()
    )
    env = DynaMaze(slip=0.2)
    env.reset(seed=seeds(0))
    start = DynaMaze.index(START)
    counts: dict[int, int] = {}
    for _ in range(4000):
        env.reset()
        nxt = env.step(1)[0]
        counts[nxt] = counts.get(nxt, 0) + 1
    expected = {s2: p for p, s2, _, _ in table[start][1]}
    assert set(counts) == set(expected)
    for s2, p in expected.items():
        assert counts[s2] / 4000 == pytest.approx(p, abs=0.03)  # ~5 sigma


def test_the_frequency_model_samples_outcomes_by_their_counts(seeds):
    model = TabularModel("frequency")
    for next_state, times in ((1, 3), (2, 1)):
        for _ in range(times):
            model.update(0, 0, 0.0, next_state, False)
    assert model.outcomes(0, 0) == {(0.0, 1, False): 0.75, (0.0, 2, False): 0.25}
    rng = np.random.default_rng(seeds(0))
    draws = [model.sample(0, 0, rng)[1] for _ in range(4000)]
    assert np.mean(np.array(draws) == 1) == pytest.approx(0.75, abs=0.035)
    last = TabularModel("last")
    for next_state in (1, 1, 1, 2):
        last.update(0, 0, 0.0, next_state, False)
    assert last.outcomes(0, 0) == {(0.0, 2, False): 1.0}


def test_the_model_plans_only_from_what_it_saw(seeds):
    model = TabularModel()
    with pytest.raises(ValueError, match="no transition recorded"):
        model.sample_pair(np.random.default_rng(0))
    model.update(3, 1, 1.0, 4, True)
    model.update(5, 2, 0.0, 3, False)
    rng = np.random.default_rng(seeds(1))
    assert {model.sample_pair(rng) for _ in range(200)} == {(3, 1), (5, 2)}
    assert len(model) == 2
    with pytest.raises(KeyError, match="state 3, action 0"):
        model.sample(3, 0, rng)
    with pytest.raises(ValueError, match="allowed: frequency, last"):
        TabularModel("mean")


def test_one_real_step_is_one_q_learning_update_then_n_planning_updates():
    agent = DynaQAgent(3, 2, planning_steps=0, alpha=0.5, gamma=0.9, seed=0)
    agent.q[1] = [0.2, 0.4]
    agent.learn(0, 1, 1.0, 1, False)
    assert agent.q[0, 1] == pytest.approx(0.5 * (1.0 + 0.9 * 0.4))
    agent.learn(1, 0, 1.0, 2, True)  # terminal: no bootstrap from state 2
    assert agent.q[1, 0] == pytest.approx(0.2 + 0.5 * (1.0 - 0.2))
    # with planning, a single remembered transition is replayed n more times
    planner = DynaQAgent(2, 1, planning_steps=4, alpha=0.5, gamma=0.9, seed=0)
    planner.learn(0, 0, 1.0, 1, True)
    assert planner.q[0, 0] == pytest.approx(1 - 0.5**5)
    with pytest.raises(ValueError, match="alpha=0"):
        DynaQAgent(2, 2, alpha=0)


def test_exact_values_of_the_maze_and_frozenlake():
    maze = dense(transition_table(0.0), 54, 4)
    values = optimal_values(maze, 0.95)
    assert values[DynaMaze.index(START)] == pytest.approx(0.95 ** (OPTIMAL_STEPS - 1))
    assert values[DynaMaze.index(GOAL)] == 0  # absorbing
    lake = gym.make("FrozenLake-v1", is_slippery=True)
    P = dense(lake.unwrapped.P, 16, 4)
    v_star = optimal_values(P, 0.95)
    greedy = np.argmax(P.R + 0.95 * P.T @ v_star, axis=1)
    np.testing.assert_allclose(policy_values(P, greedy, 0.95), v_star, atol=1e-8)
    assert 0.1 < v_star[0] < 0.3  # a slippery lake: most walks fall in a hole
