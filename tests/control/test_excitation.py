"""The exploration-noise guard (issue 16: a safe excitation policy, bounded in state too): the
noise is withheld while a joint's position, or its position a look-ahead ahead, is beyond its
inner limit (position_range, tightened by a rail critic); joints the observation does not show
are not guarded, said once in a log line."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import yaml

from mbrl_control.control import excitation
from mbrl_control.control.excitation import (
    DEFAULT_LOOKAHEAD_S,
    ExcitationGuard,
    guarded_joints,
    noise_allowed,
    noisy_action,
)
from mbrl_control.pipeline.evaluate import rail_limits
from mbrl_control.tasks import get_task

LOW, HIGH = np.array([-2.0]), np.array([2.0])


@pytest.mark.parametrize(
    ("q", "qd", "allowed"),
    [
        (0.0, 0.0, True),  # inside, at rest
        (1.5, 1.0, True),  # inside, 1.8 ahead
        (1.9, 1.0, False),  # near the end moving out: 2.2 ahead
        (-1.9, -1.0, False),  # the same at the other end
        (1.9, -1.0, True),  # near the end moving in
        (2.1, -5.0, False),  # beyond it already, even moving in
        (float("nan"), 0.0, False),  # a broken reading never excites
        (0.0, float("inf"), False),
    ],
)
def test_the_rule_on_constructed_states(q, qd, allowed):
    assert noise_allowed([q], [qd], LOW, HIGH, 0.3) is allowed


def test_the_rule_with_open_sides_and_no_joints():
    assert noise_allowed([5.0], [9.0], np.array([-1.0]), np.array([np.inf]), 0.3)
    assert not noise_allowed([-0.9], [-1.0], np.array([-1.0]), np.array([np.inf]), 0.3)
    assert noise_allowed(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), 0.3)
    assert noise_allowed([1.9], [1.0], LOW, HIGH, 0.0)  # no look-ahead: the position alone


def _cartpole_obs(x: float, x_dot: float) -> np.ndarray:
    return np.array([x, -1.0, 0.0, x_dot, 0.0], np.float32)  # [x, cos, sin, x_dot, th_dot]


def test_cartpole_guards_the_slider_at_the_rail_critics_limit():
    task = get_task("cartpole_swingup")
    j = guarded_joints(task)
    assert j.names == ("slider_to_cart",)  # the pole hinge is continuous: no range
    np.testing.assert_array_equal(j.low, [-2.0])  # the rail critic's 2.0, not the range's 2.5
    np.testing.assert_array_equal(j.high, [2.0])
    assert (j.pos.tolist(), j.vel.tolist()) == ([0], [3])
    guard = ExcitationGuard(task)
    assert guard.lookahead_s == DEFAULT_LOOKAHEAD_S == 0.3
    planner, noisy = np.array([3.0], np.float32), np.array([7.0], np.float32)
    assert guard(_cartpole_obs(0.0, 0.0), planner, noisy) is noisy
    np.testing.assert_array_equal(guard(_cartpole_obs(1.9, 1.0), planner, noisy), planner)
    np.testing.assert_array_equal(guard(_cartpole_obs(-1.9, -1.0), planner, noisy), planner)
    assert guard(_cartpole_obs(1.9, -1.0), planner, noisy) is noisy
    np.testing.assert_array_equal(guard(_cartpole_obs(2.2, -1.0), planner, noisy), planner)
    s = guard.summary()
    assert (s["steps"], s["withheld_steps"], s["enabled"]) == (5, 3, True)
    # injected: 4 N of a 10 N half range on 2 of 5 steps
    assert s["injected_rms"] == pytest.approx(np.sqrt(2 * 0.4**2 / 5))


def test_a_disabled_guard_sends_the_noise_and_counts_what_it_would_withhold():
    guard = ExcitationGuard(get_task("cartpole_swingup"), 0.3, enabled=False)
    planner, noisy = np.array([0.0], np.float32), np.array([5.0], np.float32)
    assert guard(_cartpole_obs(1.9, 1.0), planner, noisy) is noisy
    assert guard.summary()["flagged_steps"] == 1
    with pytest.raises(ValueError, match="lookahead_s"):
        ExcitationGuard(get_task("cartpole_swingup"), -0.1)


def test_noisy_action_is_the_collect_formula_clipped():
    rng, again = np.random.default_rng(3), np.random.default_rng(3)
    low, high = np.array([-10.0]), np.array([10.0])
    out = noisy_action(np.array([9.0], np.float32), 0.5, low, high, rng)
    expect = np.clip(9.0 + 0.5 * 10.0 * again.standard_normal(1), -10, 10)
    np.testing.assert_allclose(out, expect, rtol=1e-6)
    assert out.dtype == np.float32 and -10 <= out[0] <= 10


def test_a_task_without_ranges_guards_nothing(caplog, monkeypatch):
    monkeypatch.setattr(excitation, "_said", set())
    task = get_task("examples/acrobot/acrobot_swingup.task.yaml")
    with caplog.at_level(logging.WARNING, "mbrl_control.control.excitation"):
        guard = ExcitationGuard(task)
        ExcitationGuard(task)  # said once
    assert guard.joints.names == () and guard.joints.unobserved == ()
    noisy = np.ones(task.act_dim, np.float32)
    obs = np.full(task.obs_dim, 50.0, np.float32)  # anything: nothing to guard
    assert guard(obs, np.zeros(task.act_dim, np.float32), noisy) is noisy
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "guarded none" in lines[0], lines


def _task_file(tmp_path, observation, critics, name):
    data = {
        "name": name,
        "joints": [
            {"name": "cart", "type": "prismatic", "position_range": [-1.0, 1.0]},
            {"name": "arm", "type": "revolute", "position_range": [-2.0, 2.0]},
        ],
        "command": {"interface": "effort", "joints": ["cart", "arm"]},
        "actions": [{"name": "f", "low": -1, "high": 1}, {"name": "t", "low": -1, "high": 1}],
        "control_rate": 25,
        "episode_steps": 20,
        "observation": observation,
        "goal": {"kind": "none"},
        "critics": critics,
        "success": [],
        "safe_action": "zero",
    }
    path = tmp_path / f"{name}.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return get_task(str(path))


def test_joints_the_observation_does_not_show_are_not_guarded_and_said_once(
    tmp_path, caplog, monkeypatch
):
    monkeypatch.setattr(excitation, "_said", set())
    task = _task_file(
        tmp_path,
        [{"feature": "joint_positions", "joints": ["arm"]}, {"feature": "joint_velocities"}],
        [{"name": "still", "kind": "joint_velocity"}],
        "no_cart_position",
    )
    with caplog.at_level(logging.WARNING, "mbrl_control.control.excitation"):
        guard = ExcitationGuard(task)
        ExcitationGuard(task)
    assert guard.joints.names == ("arm",) and guard.joints.unobserved == ("cart",)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "['cart']" in lines[0] and "no_cart_position" in lines[0]
    # obs = [arm, cart_dot, arm_dot]: the cart's speed does not matter, the arm's does
    assert guard.allows(np.array([0.0, 99.0, 0.0]))
    assert not guard.allows(np.array([1.5, 0.0, 2.0]))


def test_positions_without_velocities_and_per_joint_rail_limits(tmp_path):
    task = _task_file(
        tmp_path,
        [{"feature": "joint_positions"}],
        [{"name": "rail", "kind": "rail", "joints": ["cart", "arm"], "limit": [0.5, 3.0]}],
        "positions_only",
    )
    assert rail_limits(task) == [(0, 0.5), (1, 3.0)]  # a per-joint limit list was a TypeError
    j = guarded_joints(task)
    assert j.names == ("cart", "arm") and j.no_velocity == ("cart", "arm")
    np.testing.assert_array_equal(j.low, [-0.5, -2.0])  # the rail where tighter, else the range
    np.testing.assert_array_equal(j.high, [0.5, 2.0])
    guard = ExcitationGuard(task)
    assert guard.allows(np.array([0.4, 1.9]))  # no velocity: the position alone
    assert not guard.allows(np.array([0.6, 0.0]))


def test_the_near_rail_example_is_the_builtin_with_other_starts():
    """examples/excitation/cartpole_near_rail.task.yaml (the measurement's stress start, in
    docs/sim2real.md) differs from the built-in cart-pole only in its initial states."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    near = get_task(root / "examples" / "excitation" / "cartpole_near_rail.task.yaml")
    builtin = get_task("cartpole_swingup")
    a, b = dict(near.definition), dict(builtin.definition)
    assert a.pop("initial_state") != b.pop("initial_state")
    assert a == b
    assert guarded_joints(near).names == ("slider_to_cart",)
