"""TransitionRecorder (``finetune_node``'s recorder) on a task with the ``last_actions`` block:
the stored block of every state is the k commands the robot was sent before it, newest first;
each unbroken stretch (split by a gap or a reset) loses its first k states, a segment cut at
``max_length`` nothing (the next one continues it)."""

from __future__ import annotations

import numpy as np
import pytest
from test_recorder import _feed

from mbrl_control.finetune.recorder import TransitionRecorder
from mbrl_control.tasks import get_task, load_task_file
from tests.tasks.history_tasks import cartpole_with_history

PLAIN = get_task("cartpole_swingup")
DT = PLAIN.dt
O0 = PLAIN.obs_dim


def _run(task, max_length: int) -> tuple[TransitionRecorder, list]:
    """States 0..40, 4 lost (a gap), 45..80, a reset announced before state 81, 81..120;
    state i at x = 0.01 i, followed by command i (value i)."""
    segments: list = []
    rec = TransitionRecorder(task, segments.append, max_length=max_length)
    _feed(rec, range(0, 41))
    _feed(rec, range(45, 81))
    rec.on_reset(81 * DT, now=80 * DT + 0.01)
    _feed(rec, range(81, 121))
    rec.flush()
    return rec, segments


@pytest.mark.parametrize("max_length", [200, 10])
@pytest.mark.parametrize("k", [1, 3])
def test_recorder_fills_the_block_and_drops_the_unknown_first_states(tmp_path, k, max_length):
    task = load_task_file(cartpole_with_history(tmp_path, steps=k))
    plain_rec, plain = _run(PLAIN, max_length)
    rec, got = _run(task, max_length)
    plain_obs = {round(float(x) / 0.01): row for obs, _ in plain for x, row in zip(obs[:, 0], obs)}
    kept = []
    for obs, act in got:
        i = np.rint(obs[:, 0] / 0.01).astype(int)
        np.testing.assert_array_equal(np.diff(i), 1)
        np.testing.assert_array_equal(obs[:, O0:], i[:, None] - np.arange(1, k + 1))
        np.testing.assert_array_equal(act[:, 0], i[:-1])
        np.testing.assert_array_equal(obs[:, :O0], np.stack([plain_obs[j] for j in i]))
        kept.extend(i[:-1])
    # stretches 0..40, 45..80 (gap), 81..120 (reset): every transition from state k on
    firsts = (0, 45, 81)
    want = [i for a, b in zip(firsts, (40, 80, 120)) for i in range(a + k, b)]
    assert sorted(kept) == want
    s = rec.stats
    assert s.transitions == plain_rec.stats.transitions - 3 * k == len(want)
    assert s.history_transitions == 3 * k and s.history_discarded == 0
    assert s.breaks == plain_rec.stats.breaks and "reset" in s.breaks
    if max_length == 200:
        assert [len(a) for _, a in got] == [len(a) - k for _, a in plain]


def test_a_stretch_shorter_than_the_history_is_counted_as_such(tmp_path):
    task = load_task_file(cartpole_with_history(tmp_path, steps=3))
    segments: list = []
    rec = TransitionRecorder(task, segments.append, min_length=2)
    _feed(rec, range(0, 5))  # 4 transitions: 1 after the history, fewer than min_length
    _feed(rec, range(10, 30))
    rec.flush()
    s = rec.stats
    assert (s.segments, s.transitions, s.history_transitions) == (1, 16, 6)
    assert s.history_discarded == 1 and s.discarded_transitions == 1
    assert "1 segment shorter than the action history" in s.describe()
