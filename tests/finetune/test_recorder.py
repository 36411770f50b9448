"""TransitionRecorder: pairing at the control rate, gaps, out-of-order and bad messages."""

from __future__ import annotations

import numpy as np

from mbrl_control.finetune.recorder import TransitionRecorder
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")
NAMES = list(TASK.joint_names)
DT = TASK.dt


def _feed(rec: TransitionRecorder, steps: range, t0: float = 0.0) -> None:
    """A robot ticking at the control rate: state k, then the controller's command k."""
    for k in steps:
        now = t0 + k * DT
        rec.on_state(NAMES, [0.01 * k, np.pi], [0.0, 0.1 * k], stamp=now, now=now)
        rec.on_command([float(k)], now=now + 0.004)


def test_pairs_state_with_the_command_that_followed_it() -> None:
    segments = []
    rec = TransitionRecorder(TASK, segments.append)
    _feed(rec, range(11))
    rec.flush()
    ((obs, act),) = segments
    assert obs.shape == (11, 5) and act.shape == (10, 1)
    # transition k: obs from state k, command k, next obs from state k+1
    np.testing.assert_allclose(act[:, 0], np.arange(10))
    np.testing.assert_allclose(obs[:, 0], 0.01 * np.arange(11), atol=1e-6)
    assert rec.stats.transitions == 10


def test_gap_ends_segment_and_counts_ticks_minus_gaps() -> None:
    segments = []
    rec = TransitionRecorder(TASK, segments.append)
    _feed(rec, range(0, 21))  # 20 transitions
    _feed(rec, range(30, 51))  # 10 ticks lost: a gap, then 20 transitions
    rec.flush()
    assert [len(a) for _, a in segments] == [20, 20]
    assert rec.stats.gaps == 1 and rec.stats.reasons["state_gap"] == 1


def test_out_of_order_and_bad_states_are_handled() -> None:
    segments = []
    rec = TransitionRecorder(TASK, segments.append)
    _feed(rec, range(5))
    rec.on_state(NAMES, [0.0, 0.0], [0.0, 0.0], stamp=0.0, now=5 * DT)  # old stamp: dropped
    assert rec.stats.dropped_out_of_order == 1
    rec.on_state(NAMES, [float("nan"), 0.0], [0.0, 0.0], stamp=9.0, now=5 * DT)  # bad: ends
    assert rec.stats.bad_states == 1 and len(segments) == 1
    assert len(segments[0][1]) == 4


def test_stale_command_ends_segment_and_long_segments_are_cut() -> None:
    segments = []
    rec = TransitionRecorder(TASK, segments.append, max_length=8)
    _feed(rec, range(20))
    for k in range(20, 30):  # states keep coming, the controller went silent
        rec.on_state(NAMES, [0.0, 0.0], [0.0, 0.0], stamp=k * DT, now=k * DT)
    rec.flush()
    # 19 transitions cut 8 + 8 + 3, then the held command 19 stays fresh for two more states
    # (age 0.016 s and 0.036 s < 2.5 periods = 0.05 s) before the segment ends.
    assert [len(a) for _, a in segments] == [8, 8, 5]
    assert rec.stats.reasons["stale_command"] == 1
