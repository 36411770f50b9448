"""ControllerCore and the ``last_actions`` observation block (no ROS).

The observation a planner call plans from ends with the last k commands the core returned
for publishing, newest first: planner actions as filtered (clipped, rate-limited) and the safe
action on every fault path and way out. A reload keeps the history; ``restart`` (lifecycle
activate) resets it to the safe action. Real parts: a task file with the block, an exported
planner run by onnxruntime; times are passed in explicitly.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from mbrl_control.control.core import ControllerConfig, ControllerCore, Level
from mbrl_control.tasks import load_task_file
from tests.control.goal_tasks import export_tiny_planner
from tests.tasks.history_tasks import cartpole_with_history

K = 3
J = ["slider_to_cart", "cart_to_pole"]


@pytest.fixture(scope="module")
def history_planner(tmp_path_factory) -> tuple[object, str]:
    d = tmp_path_factory.mktemp("history")
    task_file = cartpole_with_history(d, steps=K)
    return load_task_file(task_file), str(export_tiny_planner(task_file, d / "planner.onnx"))


@pytest.fixture
def core(history_planner) -> ControllerCore:
    _, path = history_planner
    # narrow limits and a rate limit: what is published differs from what the planner said
    cfg = ControllerConfig(
        model_path=path,
        state_timeout=0.2,
        on_deadline_miss="publish",
        action_low=[-3.0],
        action_high=[3.0],
        max_action_rate=100.0,
    )
    c = ControllerCore(cfg)
    ok, message = c.reload(path)
    assert ok, message
    return c


def _block(obs: np.ndarray, task) -> np.ndarray:
    """The ``last_actions`` block of ``obs (O,)`` as ``(k, A)``, newest first."""
    return obs[task.obs_dim - task.history_dim :].reshape(task.action_history, task.act_dim)


def _run(core, published, t0, n, **state) -> float:
    """``n`` ticks 20 ms apart from ``t0``, each after a fresh state; appends the commands."""
    t = t0
    for _ in range(n):
        core.set_state(J, state.get("q", [0.1, 3.0]), state.get("v", [0.0, 0.5]), now=t)
        action, _ = core.tick(now=t + 0.001)
        published.append(action.astype(np.float32))
        t += 0.02
    return t


def test_planned_from_obs_carries_the_last_k_published_commands(core, history_planner) -> None:
    task, path = history_planner
    safe = task.safe_action
    assert core.task.action_history == K
    published: list[np.ndarray] = []

    # no state yet: the watchdog publishes the safe action, which joins the history
    action, status = core.tick(now=0.0)
    assert status.level == Level.ERROR
    published.append(action.astype(np.float32))
    t = _run(core, published, 0.01, 6)
    recent = core.recent_observations
    assert len(recent) == 6
    for i, obs in enumerate(recent):  # planner call i happened after i + 1 published commands
        before = published[: i + 1][::-1] + [safe] * K  # newest first, safe before the first
        np.testing.assert_array_equal(_block(obs, task), np.stack(before[:K]))
    # the planner's commands were clipped/rate-limited: the block holds what was published
    assert any(np.any(p != safe) for p in published[1:])
    np.testing.assert_array_equal(core.past_actions, np.stack(published[::-1][:K]))

    # a fault publishes the safe action, and the next plan sees it
    core.set_state(J, [0.1, np.nan], [0.0, 0.0], now=t)
    action, status = core.tick(now=t + 0.001)
    assert status.level == Level.WARN
    np.testing.assert_array_equal(action, safe)
    published.append(action.astype(np.float32))
    t = _run(core, published, t + 0.02, 1)
    np.testing.assert_array_equal(
        _block(core.recent_observations[-1], task), np.stack(published[-2::-1][:K])
    )

    # disabled ticks publish (and record) the safe action; enabling does not reset the history
    core.set_enabled(False)
    t = _run(core, published, t, 1)
    np.testing.assert_array_equal(published[-1], safe)
    core.set_enabled(True)
    t = _run(core, published, t, 1)
    np.testing.assert_array_equal(
        _block(core.recent_observations[-1], task), np.stack(published[-2::-1][:K])
    )

    # a reload of the same task keeps the history
    ok, message = core.reload(path)
    assert ok, message
    t = _run(core, published, t, 1)
    np.testing.assert_array_equal(
        _block(core.recent_observations[-1], task), np.stack(published[-2::-1][:K])
    )

    # a way out publishes the safe action: it joins the history too
    np.testing.assert_array_equal(core.halt(Level.WARN, "deactivated"), safe)
    np.testing.assert_array_equal(core.past_actions[0], safe)

    # restart (lifecycle activate): the safe action k times
    core.restart()
    np.testing.assert_array_equal(core.past_actions, np.tile(safe, (K, 1)))
    _run(core, [], t, 1)
    np.testing.assert_array_equal(_block(core.recent_observations[-1], task), np.tile(safe, (K, 1)))


def test_a_task_without_the_block_plans_as_before(tmp_path) -> None:
    """k = 0: the observation has no block and the history is empty."""
    from tests.control.goal_tasks import cartpole_with_goal

    task_file = cartpole_with_goal(tmp_path, {"kind": "none"})
    path = str(export_tiny_planner(task_file, tmp_path / "planner.onnx"))
    core = ControllerCore(ControllerConfig(model_path=path, on_deadline_miss="publish"))
    assert core.reload(path)[0]
    core.set_state(J, [0.1, 3.0], [0.0, 0.0], now=0.0)
    _, status = core.tick(now=0.001)
    assert status.level == Level.OK, status
    assert core.past_actions.shape == (0, 1)
    assert core.recent_observations.shape == (1, core.task.obs_dim)
