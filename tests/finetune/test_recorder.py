"""TransitionRecorder: the live side of the one segmentation rule, and its guards (stamps far
from the node clock, float32 overflow, store failures, garbage messages, resets)."""

from __future__ import annotations

import numpy as np
import pytest

from mbrl_control.data.store import TransitionStore
from mbrl_control.finetune.recorder import TransitionRecorder
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")
NAMES = list(TASK.joint_names)
DT = TASK.dt


def _feed(rec: TransitionRecorder, steps, t0: float = 0.0, clock_offset: float = 0.0, x=None):
    """A robot ticking at the control rate: state k (stamp t0 + k DT, received on the node
    clock ``clock_offset`` later), then the controller's command k 4 ms after."""
    for k in steps:
        stamp = t0 + k * DT
        pos = 0.01 * k if x is None else x(k)
        rec.on_state(NAMES, [pos, np.pi], [0.0, 0.1 * k], stamp=stamp, now=stamp + clock_offset)
        rec.on_command([float(k)], now=stamp + clock_offset + 0.004)


def _record(**kw):
    segments: list = []
    return TransitionRecorder(TASK, segments.append, **kw), segments


def test_pairs_state_with_the_command_that_followed_it() -> None:
    rec, segments = _record()
    _feed(rec, range(11))
    rec.flush()
    ((obs, act),) = segments
    assert obs.shape == (11, 5) and act.shape == (10, 1)
    # transition k: obs from state k, command k, next obs from state k+1
    np.testing.assert_allclose(act[:, 0], np.arange(10))
    np.testing.assert_allclose(obs[:, 0], 0.01 * np.arange(11), atol=1e-6)
    assert rec.stats.transitions == 10


def test_epoch_stamps_and_an_offset_node_clock() -> None:
    rec, segments = _record()
    _feed(rec, range(51), t0=1.7e9, clock_offset=0.3)  # robot clock 0.3 s behind the node's
    rec.flush()
    ((_, act),) = segments
    np.testing.assert_allclose(act[:, 0], np.arange(50))


def test_gap_ends_segment() -> None:
    rec, segments = _record()
    _feed(rec, range(0, 21))  # 20 transitions
    _feed(rec, range(30, 51))  # 10 ticks lost: a gap, then 20 transitions
    rec.flush()
    assert [len(a) for _, a in segments] == [20, 20]
    assert rec.stats.gaps == 1 and rec.stats.breaks["gap"] == 1


def test_one_dropped_state_splits_never_a_two_period_transition() -> None:
    rec, segments = _record()
    _feed(rec, [k for k in range(40) if k != 20])
    rec.flush()
    assert [len(a) for _, a in segments] == [19, 18]
    for obs, _ in segments:
        np.testing.assert_allclose(np.diff(obs[:, 0]), 0.01, atol=1e-6)


def test_higher_rate_states_are_resampled_onto_the_control_grid() -> None:
    rec, segments = _record()
    for i in range(100):  # 125 Hz states (x = t) and commands
        t = i * 0.008
        rec.on_state(NAMES, [t, np.pi], [1.0, 0.0], stamp=t, now=t)
        rec.on_command([float(i)], now=t + 0.001)
    rec.flush()
    ((obs, act),) = segments
    np.testing.assert_allclose(np.diff(obs[:, 0]), DT, atol=1e-6)
    assert len(act) == int(0.792 / DT)


def test_two_publishers_with_partial_joints_are_merged() -> None:
    rec, segments = _record()
    for k in range(30):
        t = k * DT
        rec.on_state(["slider_to_cart"], [0.01 * k], [0.5], stamp=t, now=t)
        rec.on_state(["cart_to_pole", "camera"], [np.pi, 0.3], [0.0, 0.0], stamp=t, now=t)
        rec.on_command([1.0], now=t + 0.004)
    rec.flush()
    ((obs, act),) = segments
    assert len(act) == 29
    np.testing.assert_allclose(obs[:, 0], 0.01 * np.arange(30), atol=1e-6)


@pytest.mark.parametrize("kind", ["announced", "late", "jump"])
def test_a_reset_never_becomes_a_transition(kind: str) -> None:
    """``announced``: sim_node's way, the reset state one period after the terminal one, a
    small move (x 0.2 -> 0.03) only ``episode_start`` reveals, received before the reset
    state; ``late``: received after it and two more states; ``jump``: no announcement, the
    reset state at the terminal's stamp and a physically impossible move (x 2.4 -> 0.03)."""
    rec, segments = _record()
    top = 2.4 if kind == "jump" else 0.2
    _feed(rec, range(30), x=lambda k: top)
    first = 29 if kind == "jump" else 30  # the new episode's first stamp (in periods)
    if kind == "announced":
        rec.on_reset(first * DT, now=first * DT)
    _feed(rec, range(first, first + 3), x=lambda k: 0.03)
    if kind == "late":
        rec.on_reset(first * DT, now=(first + 3) * DT)
    _feed(rec, range(first + 3, first + 30), x=lambda k: 0.03)
    rec.flush()
    lengths = [len(a) for _, a in segments]
    assert lengths == {"announced": [29, 29], "late": [29, 26], "jump": [29, 29]}[kind]
    assert all(np.ptp(obs[:, 0]) < 1e-6 for obs, _ in segments)  # no x step at all
    assert rec.stats.breaks["jump" if kind == "jump" else "reset"] == 1


def test_a_reset_from_before_the_recorder_started_is_harmless() -> None:
    rec, segments = _record()
    assert rec.on_reset(-100.0, now=0.0) is None  # transient-local: the episode began earlier
    assert rec.on_reset(100.0, now=0.0) == "stamp_far_from_clock"  # never wait for the future
    _feed(rec, range(10))
    rec.flush()
    assert [len(a) for _, a in segments] == [9]


def test_stale_command_ends_segment_and_long_segments_are_cut() -> None:
    rec, segments = _record(max_length=8)
    _feed(rec, range(20))
    for k in range(20, 30):  # states keep coming, the controller went silent
        rec.on_state(NAMES, [0.01 * k, np.pi], [0.0, 0.0], stamp=k * DT, now=k * DT)
    rec.flush()
    # 19 transitions cut 8 + 8 + 3, then the held command 19 stays fresh for one more state
    # (age 0.016 s < 1.5 periods = 0.03 s) before the segment ends.
    assert [len(a) for _, a in segments] == [8, 8, 4]
    assert rec.stats.breaks["stale_command"] == 1


def test_a_stamp_far_from_the_clock_is_rejected_not_adopted() -> None:
    rec, segments = _record()
    _feed(rec, range(50), x=lambda k: 0.001 * k)
    rec.on_state(NAMES, [0.05, np.pi], [0.0, 0.0], stamp=49 * DT + 1e6, now=49 * DT + 0.01)
    _feed(rec, range(50, 300), x=lambda k: 0.001 * k)  # 250 later states all kept
    rec.flush()
    assert rec.stats.dropped == {"stamp_far_from_clock": 1}
    assert sum(len(a) for _, a in segments) == 299
    assert rec.check() is None  # 1 of 301 dropped: below the WARN threshold


def test_dropping_many_states_is_reported_with_the_reason() -> None:
    rec, _ = _record()
    _feed(rec, range(20), t0=500.0, clock_offset=-500.0)  # stamps 500 s from the node clock
    assert rec.stats.dropped["stamp_far_from_clock"] == 20
    warn = rec.check()
    assert "dropped 20 of 20" in warn and "stamp_far_from_clock" in warn and "use_sim_time" in warn
    assert rec.check() is None  # nothing new since


def test_sim_clock_starting_at_zero() -> None:
    rec, segments = _record()
    _feed(rec, range(10))  # first stamp 0 while the node clock is 0
    rec.flush()
    assert [len(a) for _, a in segments] == [9]


def test_float32_overflow_is_dropped_and_recording_goes_on(tmp_path) -> None:
    store = TransitionStore(tmp_path)
    rec = TransitionRecorder(
        TASK, lambda s: store.append_episode(*s, {"source": "real"}), max_length=10
    )
    _feed(rec, range(5))
    rec.on_state(NAMES, [0.05, np.pi], [1e39, 0.0], stamp=5 * DT, now=5 * DT)  # inf in float32
    rec.on_command([5.0], now=5 * DT + 0.004)
    _feed(rec, range(6, 30))
    rec.flush()
    data = store.load()
    assert np.isfinite(data.obs).all() and np.isfinite(data.next_obs).all()
    assert rec.stats.bad_states == 1 and len(data) == 4 + 23


def test_no_message_and_no_store_failure_stops_recording() -> None:
    calls = []

    def flaky_store(segment) -> None:
        calls.append(len(segment[1]))
        if len(calls) == 1:
            raise OSError("disk full")

    rec = TransitionRecorder(TASK, flaky_store, max_length=10)
    for bad in (
        (None, None, None),
        (NAMES, "ab", [0.0]),
        (["slider_to_cart", "slider_to_cart"], [0.0, 0.0], [0.0, 0.0]),
        (NAMES, [0.0], [0.0, 0.0]),
        (NAMES, [float("nan"), 0.0], [0.0, 0.0]),
    ):
        assert rec.on_state(*bad, stamp=0.0, now=0.0) is not None
    assert rec.on_command(None, now=0.0) is not None
    assert rec.on_command([1.0, 2.0], now=0.0) == "bad_command"
    assert rec.on_state(NAMES, [0.0, 0.0], [0.0, 0.0], stamp=float("nan"), now=0.0)
    _feed(rec, range(1, 32))
    rec.flush()
    assert calls == [10, 10, 10] and rec.stats.transitions == 30
    assert rec.stats.dropped["store_failed"] == 10 and "disk full" in rec.last_error
