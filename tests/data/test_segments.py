"""The one segmentation rule (data/segments.py) on its own: the command clock, continuous
joints, and live (arrival order) and import (sorted by time) feeding giving the same segments."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mbrl_control.data.segments import CommandClock, Segmenter
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")
NAMES = list(TASK.joint_names)
DT = TASK.dt


def test_command_clock_places_by_receive_time_and_caps_at_the_next_state():
    clock = CommandClock()
    early = clock.place(99.0)  # before any state: placed at the first state
    clock.state(1000.0, 5.0)  # stamp 1000 s, received at 5 s (another clock)
    a = clock.place(5.004)
    clock.state(1000.02, 5.05)  # a slow simulator: 20 ms of stamps took 50 ms to arrive
    late = clock.place(5.05 + 0.03)  # 30 ms after receiving: past the next stamp...
    clock.state(1000.04, 5.10)
    assert early == [1000.0] and abs(a[0] - 1000.004) < 1e-9
    assert late == [1000.04]  # ...capped: received before that state, so in effect at it


def test_slow_simulator_pairs_each_state_with_its_command():
    """Sim at half real time: commands arrive 25 ms (wall) after their state, more than the
    20 ms stamp step; each still pairs with the state it answered."""
    segments = []
    seg = Segmenter(TASK, segments.append)
    for k in range(30):
        seg.state(NAMES, [0.01 * k, np.pi], [0.5, 0.0], k * DT, received=100 + 0.04 * k)
        seg.command([float(k)], received=100 + 0.04 * k + 0.025)
    seg.flush()
    (s,) = segments
    np.testing.assert_allclose(s.action[:, 0], np.arange(29))


def test_continuous_joint_interpolates_along_the_shorter_arc():
    segments = []
    seg = Segmenter(TASK, segments.append)
    omega = 10.0  # rad/s; wrapped angle crosses ±pi
    for i in range(100):
        t = i * 0.008  # 125 Hz
        theta = np.angle(np.exp(1j * (3.0 + omega * t)))
        seg.state(NAMES, [0.0, theta], [0.0, omega], t)
        seg.command([0.0], t=t + 0.001)
    seg.flush()
    (s,) = segments
    tg = np.arange(len(s.obs)) * DT
    np.testing.assert_allclose(s.obs[:, 1], np.cos(3.0 + omega * tg), atol=1e-3)
    np.testing.assert_allclose(s.obs[:, 2], np.sin(3.0 + omega * tg), atol=1e-3)
    assert not seg.stats.breaks.get("jump")


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(
    st.lists(st.floats(0.0, 0.012), min_size=40, max_size=40),
    st.lists(st.floats(0.0005, 0.015), min_size=40, max_size=40),
    st.sets(st.integers(1, 38), max_size=3),
)
def test_live_and_import_feeding_give_the_same_segments(delays, cmd_delays, lost):
    """Live: messages in receive order with receive times; import: the same messages placed
    on the stamp axis by the command clock first, then sorted by time."""
    msgs = []  # (receive time, kind, payload)
    for k in range(40):
        if k in lost:
            continue
        r = 50.0 + k * DT + delays[k]
        msgs.append((r, "s", (k * DT, [0.01 * k, np.pi], [0.5, 0.1])))
        msgs.append((r + cmd_delays[k], "c", [float(k)]))
    msgs.sort(key=lambda m: m[0])

    live_out = []
    live = Segmenter(TASK, live_out.append)
    for r, kind, p in msgs:
        if kind == "s":
            live.state(NAMES, p[1], p[2], p[0], received=r)
        else:
            live.command(p, received=r)
    live.flush()

    clock, events = CommandClock(), []
    for i, (r, kind, p) in enumerate(msgs):
        if kind == "s":
            clock.state(p[0], r)
            events.append(([p[0]], i, kind, p))
        else:
            events.append((clock.place(r), i, kind, p))
    events.sort(key=lambda e: (e[0][0], e[1]))
    imp_out = []
    imp = Segmenter(TASK, imp_out.append)
    for cell, _, kind, p in events:
        if kind == "s":
            imp.state(NAMES, p[1], p[2], p[0])
        else:
            imp.command(p, t=cell[0])
    imp.flush()

    assert [len(s.action) for s in live_out] == [len(s.action) for s in imp_out]
    for a, b in zip(live_out, imp_out, strict=True):
        np.testing.assert_array_equal(a.action, b.action)
        np.testing.assert_array_equal(a.obs, b.obs)
