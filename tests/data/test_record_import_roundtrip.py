"""What ``mbrl-control evaluate --record`` writes, ``mbrl-control import`` reads back: every
recorded step is a stored transition, or what is not kept is counted with its reason.

The simulator's control period is jittered, so an episode of N steps spans a little more or
less than N control periods. Imported onto the control grid (the segmentation rule), an
episode that spans less keeps N - 1 transitions: the motion after its last grid state, less
than one period, makes no transition. That tail must be counted (``partial_period``), never
lost silently — by every user of the rule: the bag importer, the CSV importer (the
vectorized rule) and the live recorder of ``finetune_node``.
"""

from __future__ import annotations

import mbrl_sim
import numpy as np
import pytest

from mbrl_control.data.bag_import import import_bag
from mbrl_control.data.segments import Segmenter, segment_arrays, segment_rows
from mbrl_control.data.store import TransitionStore
from mbrl_control.finetune.recorder import TransitionRecorder
from mbrl_control.pipeline.evaluate import run_episodes
from mbrl_control.recording.episode_recorder import EpisodeRecorder
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")
SEED = 1000
"""``evaluate``'s default first seed: its episode spans less than its steps' control periods
(checked below, so the test cannot pass without the tail to count)."""


def _policy(obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
    return np.clip(np.array([np.sin(3.0 * obs[0]) - 0.5 * obs[1]], np.float32), -1.0, 1.0)


def _record(path, episodes: int) -> list[dict]:
    env = mbrl_sim.make_env(TASK.name, seed=SEED)
    with EpisodeRecorder(path) as rec:
        return run_episodes(env, _policy, episodes, seed=SEED, observers=[rec])


def _lost(results: list[dict], transitions: int) -> int:
    return sum(r["steps"] for r in results) - transitions


@pytest.mark.parametrize("episodes", [1, 2])
def test_imported_recording_keeps_every_step_or_counts_it(tmp_path, episodes):
    results = _record(tmp_path / "rec.mcap", episodes)
    spans = [r["recorded"]["t_end"] - r["recorded"]["t_start"] for r in results]
    steps = [r["steps"] for r in results]
    assert spans[0] < steps[0] * TASK.dt - 1e-6, "the seed must give an episode that ends early"

    store = TransitionStore(tmp_path / "store")
    report = import_bag(tmp_path / "rec.mcap", TASK, store, log_summary=False)
    assert report.episodes == episodes
    lost = _lost(results, report.transitions)
    assert lost >= 1  # the grid's last state would be after the episode's last state
    # ... and it is counted: one state past the last full control period per short episode
    short = sum(span < n * TASK.dt - 1e-6 for span, n in zip(spans, steps))
    assert report.stats.dropped.get("partial_period", 0) >= lost == short
    f = report.file_report()
    assert sum(f.dropped.values()) >= lost
    assert "dropped no messages" not in report.line()
    assert "past the last full control period" in report.line()


def test_live_recorder_and_csv_rule_count_the_same_tail(tmp_path):
    """The states and commands of the recorded episode, fed to the live recorder (as
    ``finetune_node`` receives them) and to the CSV importer's vectorized rule."""
    env = mbrl_sim.make_env(TASK.name, seed=SEED)
    t, pos, vel, cmd = [], [], [], []
    obs, info = env.reset(seed=SEED)
    now, done = 0.0, False
    _, p, v, _ = env.unwrapped.joint_state()
    while not done:
        action = _policy(obs, np.zeros(0, np.float32))
        t.append(now), pos.append(p), vel.append(v), cmd.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        now += float(info["dt"])
        _, p, v, _ = env.unwrapped.joint_state()
        done = terminated or truncated
    steps = len(cmd)
    t.append(now), pos.append(p), vel.append(v), cmd.append(cmd[-1])
    assert now < steps * TASK.dt - 1e-6
    t, pos, vel, cmd = map(np.asarray, (t, pos, vel, cmd))
    has_cmd = np.arange(len(t)) < steps  # no command after the last state

    kept = []
    live = TransitionRecorder(TASK, kept.append, max_length=10_000, min_length=1)
    for i in range(len(t)):
        assert live.on_state(TASK.joint_names, pos[i], vel[i], t[i], now=t[i]) is None
        if has_cmd[i]:
            live.on_command(cmd[i], now=t[i])
    live.flush()
    assert live.stats.transitions == sum(len(a) for _, a in kept) == steps - 1
    assert live.stats.dropped == {"partial_period": 1}

    rows, rows_stats = segment_rows(TASK, t, pos, vel, cmd, t, has_command=has_cmd)
    arrays, stats = segment_arrays(TASK, t, pos, vel, cmd, t, has_command=has_cmd)
    assert stats.as_dict() == rows_stats.as_dict()
    assert stats.transitions == steps - 1 and stats.dropped == {"partial_period": 1}
    assert [len(s.action) for s in arrays] == [len(s.action) for s in rows] == [steps - 1]


def test_no_tail_counted_on_an_exact_grid():
    """States exactly on the grid (no jitter): every step kept, nothing counted."""
    n = 50
    t = np.arange(n + 1) * TASK.dt
    pos = np.zeros((n + 1, len(TASK.joint_names)))
    vel = np.zeros_like(pos)
    cmd = np.zeros((n + 1, TASK.act_dim))
    has_cmd = np.arange(n + 1) < n
    for fn in (segment_rows, segment_arrays):
        segs, stats = fn(TASK, t, pos, vel, cmd, t, has_command=has_cmd)
        assert [len(s.action) for s in segs] == [n] and stats.dropped == {}, fn.__name__


def test_tail_before_a_reset_is_counted():
    """A segment ended by a reset loses the motion after its last grid state: counted."""
    out = []
    seg = Segmenter(TASK, out.append)
    names, zero = list(TASK.joint_names), np.zeros(len(TASK.joint_names))
    stamps = [0.0, 0.02, 0.04, 0.059]  # the last state 0.001 s before the grid's
    for k, s in enumerate(stamps):
        seg.state(names, zero, zero, s)
        seg.command([0.1 * k], t=s)
    seg.reset(0.08)
    assert seg.stats.transitions == 2
    assert seg.stats.dropped == {"partial_period": 1}
