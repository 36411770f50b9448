"""Episode observers of ``run_episode`` (issue 16): the protocol, the ground-truth safety
monitor on every evaluation (the oracle on the true simulator included), frames and holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mbrl_sim
import numpy as np
import pytest
import yaml

from mbrl_control.pipeline.evaluate import (
    EpisodeObserver,
    FrameRecorder,
    SafetyCheck,
    SafetyMonitor,
    evaluate_oracle,
    rail_limits,
    run_episode,
    summarize,
)
from mbrl_control.tasks import builtin_task_files, get_task

ACROBOT = Path(__file__).resolve().parents[2] / "examples" / "acrobot" / "acrobot_swingup.task.yaml"


def push_right(obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
    return np.full(1, 10.0, np.float32)  # full force: the cart runs into the rail's end


class Log(EpisodeObserver):
    """Records every call; adds ``steps_seen`` and ``cost_sum`` to the result."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_reset(self, env: Any, obs: np.ndarray, info: dict[str, Any]) -> None:
        self.calls.append("reset")
        self.first_obs, self.costs, self.actions = obs.copy(), [], []

    def on_step(self, env, obs, action, cost, info) -> None:
        self.calls.append("step")
        self.costs.append(cost)
        self.actions.append(np.asarray(action).copy())
        assert cost == pytest.approx(info["cost"])

    def on_end(self, result: dict[str, Any]) -> dict[str, Any]:
        self.calls.append("end")
        return {"steps_seen": len(self.costs), "cost_sum": float(np.sum(self.costs))}

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {"steps_seen": [r["steps_seen"] for r in results]}


def test_observers_see_reset_every_step_and_end_and_add_result_keys() -> None:
    env = mbrl_sim.make_env("cartpole_swingup", profile="none", seed=0)
    try:
        log = Log()
        results = [run_episode(env, push_right, seed=s, observers=[log]) for s in (0, 1)]
    finally:
        env.close()
    steps = get_task("cartpole_swingup").episode_steps
    assert log.calls == (["reset"] + ["step"] * steps + ["end"]) * 2
    for r in results:
        assert r["steps_seen"] == r["steps"] == steps
        assert r["cost_sum"] == pytest.approx(-r["return"])
    assert np.all(np.concatenate(log.actions) == 10.0)
    assert summarize(results, observers=[log])["steps_seen"] == [steps, steps]


def test_an_observer_may_not_overwrite_a_result_key() -> None:
    class Clash(EpisodeObserver):
        def on_end(self, result: dict[str, Any]) -> dict[str, Any]:
            return {"return": 0.0}

    env = mbrl_sim.make_env("cartpole_swingup", profile="none", seed=0)
    try:
        with pytest.raises(
            ValueError, match=r"Clash adds keys already in the result: \['return'\]"
        ):
            run_episode(env, push_right, seed=0, observers=[Clash()])
    finally:
        env.close()


def test_safety_check_on_the_true_joint_state() -> None:
    task = get_task("cartpole_swingup")
    assert rail_limits(task) == [(0, 2.0)]
    check = SafetyCheck(task)
    for x, v, expected in (
        (0.0, 0.0, (False, False)),
        (2.2, 0.0, (True, False)),  # beyond the rail critic's 2.0 m, inside the 2.5 m range
        (2.6, 0.0, (True, True)),  # outside position_range: the controller's safety stop
        (-2.1, 0.0, (True, False)),
        (0.0, 25.0, (False, True)),  # beyond the 20 m/s velocity limit
    ):
        assert check(np.array([x, np.pi]), np.array([v, 0.0])) == expected
    # no rail critic and no finite ranges: never trips
    acrobot = SafetyCheck(get_task(str(ACROBOT)))
    assert acrobot(np.array([1e3, -1e3]), np.array([0.0, 0.0])) == (False, False)


def test_safety_monitor_counts_states_beyond_the_rail_from_the_simulator() -> None:
    """Full force for a whole episode drives the cart past 2 m: the monitor counts the
    states (initial + one per step) from PyBullet's true joint state."""
    env = mbrl_sim.make_env("cartpole_swingup", profile="none", seed=0)
    monitor = SafetyMonitor()
    try:
        result = run_episode(env, push_right, seed=0, observers=[monitor])
        q_end, _ = env.unwrapped.physical_joint_state()
        quiet = run_episode(env, lambda o, g: np.zeros(1, np.float32), seed=0, observers=[monitor])
    finally:
        env.close()
    assert q_end[0] > 2.0
    assert 0 < result["rail_steps"] <= result["steps"]
    assert (quiet["rail_steps"], quiet["safety_stop_steps"]) == (0, 0)  # reset per episode
    summary = summarize([result, quiet], observers=[monitor])
    assert summary["rail_hits"] == 1 and summary["rail_steps"] == [result["rail_steps"], 0]
    assert summary["safety_stops"] == int(result["safety_stop_steps"] > 0)


def test_frame_recorder_renders_each_step() -> None:
    env = mbrl_sim.make_env("cartpole_swingup", profile="none", seed=0, render_mode="rgb_array")
    frames = FrameRecorder()
    try:
        result = run_episode(env, push_right, seed=0, observers=[frames])
    finally:
        env.close()
    assert len(frames.frames) == result["steps"] and frames.frames[0].ndim == 3


@pytest.fixture(scope="module")
def tiny_cartpole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in cart-pole with 25-step episodes and a 1-iteration, 10-sample, H5 planner
    section (the oracle plans fast) and a rail critic at 0.05 m (the cart crosses it)."""
    data = yaml.safe_load(builtin_task_files()["cartpole_swingup"].read_text())
    data["name"] = "cartpole_tiny"
    data["episode_steps"] = 25
    data["planner"] = {"preset": "cartpole-rt", "horizon": 5, "population": 10, "iterations": 1}
    for critic in data["critics"]:
        if critic["kind"] == "rail":
            critic["limit"] = 0.05
    path = tmp_path_factory.mktemp("tiny") / "cartpole_tiny.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_oracle_on_the_true_simulator_counts_rail_hits_and_safety_stops(
    tiny_cartpole: Path,
) -> None:
    """``oracle_sim`` of the sim-to-real grid runs :func:`evaluate_oracle`: it reports the
    same ground-truth safety counts as every other cell (it had none before)."""
    summary = evaluate_oracle(None, str(tiny_cartpole), "none", 2, seed=1000)
    assert len(summary["rail_steps"]) == len(summary["safety_stop_steps"]) == 2
    assert summary["rail_hits"] == sum(n > 0 for n in summary["rail_steps"])
    assert summary["rail_hits"] >= 1  # the swing-up moves the cart more than 5 cm
    assert summary["safety_stops"] == 0 and summary["successes"] == [False, False]


def test_evaluate_cli_holds_and_safety_in_one_run(
    tiny_cartpole: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``evaluate --hold`` runs the hold observer beside the safety monitor."""
    import json

    from mbrl_control.cli import main

    argv = ["evaluate", "--oracle", "--task", str(tiny_cartpole), "--profile", "none",
            "--episodes", "1", "--hold", "cos_theta<=-0.5", "--json", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["holds"]["cos_theta<=-0.5"]["step_fraction"] > 0.5  # it starts hanging
    assert summary["rail_hits"] == 1 and summary["safety_stops"] == 0
