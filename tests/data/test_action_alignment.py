"""Each transition's action is the command computed from its own start state.

A command answers the state it was computed from: it comes after that state (planning
latency) and before the next. Two faults gave transitions the NEXT step's command:

- ``evaluate --record`` wrote each command at the very stamp of the state it answers, and the
  rule took the command placed at or before the end of a transition: the next step's command
  (196 of 199 transitions of the seed-1000 episode);
- the control grid drifts from the states of a jittered clock, so a command answering state
  ``s_k+1`` was placed at or before grid state ``g_k+1`` whenever the drift exceeded the
  planning latency: the rule now looks it up at the stamp of the state ``g_k+1`` stands for.

Every user of the rule is checked: the bag importer, the live recorder of ``finetune_node``,
the row rule and the CSV importer's vectorized rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mbrl_sim
import numpy as np
import pytest

from mbrl_control.data.bag_import import import_bag
from mbrl_control.data.segments import Segmenter, segment_arrays, segment_rows
from mbrl_control.data.store import TransitionStore
from mbrl_control.finetune.recorder import TransitionRecorder
from mbrl_control.pipeline.evaluate import EpisodeObserver, evaluate, run_episodes
from mbrl_control.recording.episode_recorder import EpisodeRecorder
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")
SEED = 1000
"""``evaluate``'s default first seed (its episode's clock drifts from the control grid)."""


class _Issued(EpisodeObserver):
    """Keeps the command the policy issued at each step and the (jittered) periods."""

    def __init__(self) -> None:
        self.actions: list[np.ndarray] = []
        self.periods: list[float] = []

    def on_reset(self, env: Any, obs: np.ndarray, info: dict[str, Any]) -> None:
        self.actions, self.periods = [], []

    def on_step(
        self, env: Any, obs: np.ndarray, action: np.ndarray, cost: float, info: dict[str, Any]
    ) -> None:
        self.actions.append(np.asarray(action, np.float32).reshape(-1).copy())
        self.periods.append(float(info["dt"]))

    def on_end(self, result: dict[str, Any]) -> dict[str, Any]:
        return {}


def _policy(obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """A fast policy (microseconds of latency: less than the clock's drift)."""
    return np.clip(np.array([np.sin(3.0 * obs[0]) - 0.5 * obs[1]], np.float32), -1.0, 1.0)


def _small_planner(path: Path) -> Path:
    """An untrained 2-member ensemble behind a tiny iCEM step (real ONNX planner)."""
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig

    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(TASK.obs_dim, TASK.act_dim, members=2, hidden=16, layers=2))
    cfg = PlannerConfig(kind="icem", horizon=5, population=32, particles=2, iterations=1)
    return export_planner(model, TASK, cfg, path)


@pytest.mark.parametrize("source", ["policy", "planner"])
def test_imported_recording_has_each_steps_own_command(tmp_path, source):
    bag = tmp_path / "rec.mcap"
    issued = _Issued()
    with EpisodeRecorder(bag) as rec:
        if source == "policy":
            env = mbrl_sim.make_env(TASK.name, seed=SEED)
            run_episodes(env, _policy, 1, seed=SEED, observers=[rec, issued])
        else:
            planner = _small_planner(tmp_path / "planner.onnx")
            evaluate(
                planner, TASK.name, "default", 1, seed=SEED, threads=1, observers=[rec, issued]
            )
    steps = len(issued.actions)
    # the states drift from the control grid by far more than a planning latency
    drift = np.cumsum(issued.periods) - TASK.dt * np.arange(1, steps + 1)
    assert np.abs(drift).max() > 0.05 * TASK.dt, "the clock must drift from the grid"

    store = TransitionStore(tmp_path / "store")
    report = import_bag(bag, TASK, store, log_summary=False)
    data = store.load()
    n = len(data.action)
    assert report.episodes == 1 and steps - 1 <= n <= steps
    wrong = [k for k in range(n) if not np.array_equal(data.action[k], issued.actions[k])]
    assert not wrong, f"{len(wrong)} of {n} transitions carry another step's command: {wrong[:8]}"


def _drifting_stream(n: int = 120, drift: float = 0.3, latency: float = 0.05):
    """States at ``k T + d_k`` (``d_k`` drifting by ``+-drift T`` over the episode), the
    command ``k / n`` answering state k ``latency T`` after it; n + 1 states, n commands."""
    dt = TASK.dt
    k = np.arange(n + 1)
    t = k * dt + drift * dt * np.sin(2 * np.pi * k / n)
    t[-1] = n * dt
    cmd = (k / n).reshape(-1, 1).astype(np.float64)
    cmd_t = t + latency * dt
    pos = np.zeros((n + 1, len(TASK.joint_names)))
    vel = np.zeros_like(pos)
    has_cmd = k < n
    return t, pos, vel, cmd, cmd_t, has_cmd


def _check(actions: np.ndarray, cmd: np.ndarray, n: int, who: str) -> None:
    assert n - 1 <= len(actions) <= n, who
    want = cmd[: len(actions)].astype(np.float32)
    wrong = np.flatnonzero(actions[:, 0] != want[:, 0])
    assert not len(wrong), f"{who}: transitions {wrong.tolist()} carry the next command"


def test_drifting_clock_each_transition_takes_its_start_states_command():
    t, pos, vel, cmd, cmd_t, has_cmd = _drifting_stream()
    n = int(has_cmd.sum())
    names = list(TASK.joint_names)

    # the Segmenter, fed by time (the importers)
    out = []
    seg = Segmenter(TASK, out.append)
    for i in range(len(t)):
        seg.state(names, pos[i], vel[i], float(t[i]))
        if has_cmd[i]:
            seg.command(cmd[i], t=float(cmd_t[i]))
    seg.flush("end")
    assert len(out) == 1
    _check(out[0].action, cmd, n, "Segmenter")

    # the live recorder (commands placed by their receive time)
    kept = []
    live = TransitionRecorder(TASK, kept.append, max_length=10_000, min_length=1)
    for i in range(len(t)):
        assert live.on_state(names, pos[i], vel[i], t[i], now=t[i]) is None
        if has_cmd[i]:
            live.on_command(cmd[i], now=cmd_t[i])
    live.flush()
    assert len(kept) == 1
    _check(np.asarray(kept[0][1]), cmd, n, "TransitionRecorder")

    # the row rule and the vectorized rule (CSV import): the same, bit for bit
    rows, rows_stats = segment_rows(TASK, t, pos, vel, cmd, cmd_t, has_command=has_cmd)
    arrays, stats = segment_arrays(TASK, t, pos, vel, cmd, cmd_t, has_command=has_cmd)
    assert stats.as_dict() == rows_stats.as_dict()
    assert len(rows) == len(arrays) == 1
    assert np.array_equal(rows[0].action, arrays[0].action)
    assert np.array_equal(rows[0].obs, arrays[0].obs)
    _check(arrays[0].action, cmd, n, "segment_arrays")


def test_a_command_received_just_before_a_state_is_in_effect_for_the_step_ending_there():
    """A command placed at a state's very stamp (received just before it, capped by the
    CommandClock) belongs to the transition ending at that state."""
    names, zero = list(TASK.joint_names), np.zeros(len(TASK.joint_names))
    dt = TASK.dt
    out = []
    live = TransitionRecorder(TASK, out.append, max_length=10_000, min_length=1)
    for k in range(6):
        live.on_command([0.1 * k], now=k * dt - 1e-4)  # received before state k: capped to it
        live.on_state(names, zero, zero, k * dt, now=k * dt)
    live.flush()
    # transition k (state k -> k+1) holds the command received just before state k + 1
    assert np.allclose(np.asarray(out[0][1])[:, 0], 0.1 * np.arange(1, 6))
