"""The vectorized segmentation of whole arrays (``segment_arrays``) gives exactly what feeding the
same rows one by one to the Segmenter gives (``segment_rows``): jittered logs faster and slower
than the control rate, with gaps, jumps, equal and repeated stamps, time going back, bad rows,
missing and stale commands, cut by max_length; the cart-pole (a continuous joint) and the
Panda arm."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mbrl_control.data.segments import _segment_arrays, segment_arrays, segment_rows
from mbrl_control.tasks import get_task

TASKS = {name: get_task(name) for name in ("cartpole_swingup", "panda_reach")}


def _log(task, seed, n, rate, events):
    """``n`` rows at ``rate`` x the control rate with jitter; ``events``: (kind, row) pairs."""
    rng = np.random.default_rng(seed)
    sub = task.dt / rate
    t = np.arange(n) * sub + rng.uniform(-0.2, 0.2, n) * sub
    j = len(task.joint_names)
    low, high, vmax = task.joint_ranges
    bounded = np.isfinite(low) & np.isfinite(high)
    speed = np.where(bounded, rng.uniform(-0.03, 0.03, j), rng.uniform(-3, 3, j))  # stay inside
    mid = np.where(bounded, (np.where(bounded, low, 0) + np.where(bounded, high, 0)) / 2, 0.0)
    pos = np.cumsum(np.tile(speed * sub, (n, 1)), 0) + rng.uniform(-0.1, 0.1, j) + mid
    pos = np.where(np.isinf(low) & np.isinf(high), np.angle(np.exp(1j * (pos + 3.0))), pos)
    vel = np.tile(speed, (n, 1)) + rng.normal(0, 0.01, (n, j))
    cmd = rng.uniform(-1, 1, (n, task.act_dim))
    has_state, has_cmd = np.ones(n, bool), np.ones(n, bool)
    for kind, r in events:
        r = r % n
        if kind == "gap":
            t[r:] += 3 * task.dt
        elif kind == "jump":
            pos[r:, 0] += 0.5 if np.isfinite(high[0]) else 0.0
            pos[r:, -1] = np.angle(np.exp(1j * (pos[r:, -1] + 2.0)))
        elif kind == "nan":
            pos[r, r % j] = np.nan
        elif kind == "range":
            pos[r, 0] = 1e3 if np.isfinite(high[0]) else pos[r, 0]
        elif kind == "fast":
            vel[r, -1] = 10 * (vmax[-1] if np.isfinite(vmax[-1]) else 1e9)
        elif kind == "same_stamp" and r > 0:
            t[r] = t[r - 1]
            vel[r] += 0.1
        elif kind == "duplicate" and r > 0:
            t[r], pos[r], vel[r] = t[r - 1], pos[r - 1], vel[r - 1]
        elif kind == "back" and r > 0:
            t[r] = t[r - 1] - 0.3 * sub
        elif kind == "no_state":
            has_state[r] = False
        elif kind == "no_states":  # more rows than the Segmenter remembers commands for
            has_state[r : r + 300] = False
        elif kind == "bad_cmd":
            cmd[r] = np.inf
        elif kind == "no_cmd":
            has_cmd[max(0, r - 8) : r + 1] = False
    nxt = np.concatenate([t[1:], [t[-1] + sub]])
    cmd_t = t + np.maximum(0.0, nxt - t) / 2
    return t, pos, vel, cmd, cmd_t, has_state, has_cmd


def _same(task, log, **kw):
    t, pos, vel, cmd, cmd_t, has_state, has_cmd = log
    kw = dict(has_state=has_state, has_command=has_cmd, **kw)
    rows, rows_stats = segment_rows(task, t, pos, vel, cmd, cmd_t, **kw)
    arrs, arr_stats = segment_arrays(task, t, pos, vel, cmd, cmd_t, **kw)
    assert arr_stats.as_dict() == rows_stats.as_dict()
    assert len(arrs) == len(rows)
    for a, b in zip(arrs, rows, strict=True):
        np.testing.assert_array_equal(a.obs, b.obs)
        np.testing.assert_array_equal(a.action, b.action)
        assert (a.t_start, a.t_end, a.reason) == (b.t_start, b.t_end, b.reason)
    return rows, rows_stats


KINDS = ["gap", "jump", "nan", "range", "fast", "same_stamp", "duplicate", "back"]
KINDS += ["no_state", "no_states", "bad_cmd", "no_cmd"]


@settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.sampled_from(sorted(TASKS)),
    st.integers(0, 10_000),
    st.integers(2, 900),
    st.sampled_from([0.5, 1.0, 3.0, 4.0, 7.5, 400.0]),
    st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 10_000)), max_size=8),
    st.sampled_from([None, 1, 5, 20]),
    st.sampled_from([1, 3]),
)
def test_vectorized_and_row_by_row_give_identical_segments(
    task, seed, n, rate, events, max_length, min_length
):
    _same(TASKS[task], _log(TASKS[task], seed, n, rate, events), max_length=max_length,
          min_length=min_length)  # fmt: skip


@pytest.mark.parametrize("rate", [1.0, 4.0])
def test_a_realistic_log_is_segmented_identically_with_every_break(rate):
    """One long log with each kind of event, checked to exercise every branch."""
    task = TASKS["cartpole_swingup"]
    events = [("gap", 300), ("jump", 700), ("nan", 50), ("range", 60), ("fast", 70)]
    events += [("same_stamp", 400), ("duplicate", 410), ("no_cmd", 900), ("bad_cmd", 1000)]
    events += [("no_state", 1100), ("back", 1200), ("back", 1300)]
    segments, stats = _same(task, _log(task, 7, 1600, rate, events), max_length=50)
    assert {"gap", "jump", "max_length", "end"} <= set(stats.breaks), stats.breaks
    assert {"non_finite", "out_of_range", "over_velocity_limit"} <= set(stats.refused)
    assert {"duplicate", "bad_command", "out_of_order"} <= set(stats.dropped), stats.dropped
    assert len(segments) > 5
    # and that was the vectorized path itself, not its row-by-row fallback
    t, pos, vel, cmd, cmd_t, has_state, has_cmd = _log(task, 7, 1600, rate, events)
    fast, _ = _segment_arrays(
        task, t, pos, vel, cmd, cmd_t, has_state=has_state, has_command=has_cmd,
        gap_factor=1.5, max_length=50, min_length=1,
    )  # fmt: skip
    assert len(fast) == len(segments)
