"""Property-based fuzzing of a running mpc_controller with JointState messages (issue 14).

Hypothesis generates bursts of messages: partial, duplicate and reordered names, unknown
joints, mismatched lengths, huge, non-finite and float32-overflowing values, bad header
stamps. The controller must stay alive, every command must be finite and within the action
limits, bad messages must be counted as refused, and planning must resume on good states.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from test_controller_node import latest, level_is, start_controller

pytestmark = [pytest.mark.ros, pytest.mark.slow]

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

TASK_JOINTS = ["slider_to_cart", "cart_to_pole"]
LIMIT = 2.0  # the action limits the controller is started with
VALUES = st.one_of(
    st.floats(-3.0, 3.0),  # plausible
    st.sampled_from([0.0, math.nan, math.inf, -math.inf, 1e30, -1e39, 1e39, 3.5e38, 1e-310]),
    st.floats(allow_nan=True, allow_infinity=True),  # anything a float64 can hold
)


@st.composite
def joint_state_fields(draw):
    """Fields of one JointState: (names, position, velocity, (sec, nanosec))."""
    pool = [*TASK_JOINTS, "camera_pan", "gripper", ""]
    kind = draw(st.sampled_from(["good", "partial", "duplicate", "anything"]))
    if kind == "good":
        names = draw(st.permutations(TASK_JOINTS))
    elif kind == "partial":
        names = draw(st.lists(st.sampled_from(pool), max_size=3, unique=True))
    elif kind == "duplicate":
        names = draw(st.lists(st.sampled_from(TASK_JOINTS), min_size=2, max_size=4))
    else:
        names = draw(st.lists(st.one_of(st.sampled_from(pool), st.text(max_size=8)), max_size=6))
    n = len(names)
    size = st.one_of(st.just(n), st.integers(0, n + 2))  # mostly right, sometimes not
    if kind == "good":
        pos = draw(st.lists(st.floats(-2.0, 2.0), min_size=n, max_size=n))
        vel = draw(st.lists(st.floats(-5.0, 5.0), min_size=n, max_size=n))
    else:
        n_pos, n_vel = draw(size), draw(size)
        pos = draw(st.lists(VALUES, min_size=n_pos, max_size=n_pos))
        vel = draw(st.lists(VALUES, min_size=n_vel, max_size=n_vel))
    sec = draw(st.sampled_from([0, 1, 2**31 - 1, -(2**31), int(time.time())]))
    nanosec = draw(st.sampled_from([0, 999_999_999, 2**32 - 1]))
    return list(names), pos, vel, (sec, nanosec)


def test_fuzzed_joint_states(spawn, ros_env, ros_probe, planner_dir, joint_states) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    from mbrl_control.ros.diagnostics import values_of

    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    proc = start_controller(spawn, ros_env, planner_dir, "on_deadline_miss:=publish")
    ros_probe.wait_for(level_is(diags, 0, "planning"), 60, "OK while planning")
    joint_states.active = False
    fuzz = ros_probe.node.create_publisher(JointState, "/joint_states", 100)
    sent = {"messages": 0, "bursts": 0}

    @hypothesis.settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(st.lists(joint_state_fields(), min_size=10, max_size=20))
    def burst(messages) -> None:
        for names, pos, vel, (sec, nanosec) in messages:
            msg = JointState(name=names, position=pos, velocity=vel)
            msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
            fuzz.publish(msg)
        sent["messages"] += len(messages)
        sent["bursts"] += 1
        time.sleep(0.02)  # about one control period between bursts
        assert proc.popen.poll() is None, "the controller died"

    n0 = len(commands)
    burst()
    assert sent["messages"] >= 1000, sent
    assert proc.popen.poll() is None, "the controller died"

    # good states again: planning resumes
    joint_states.active = True
    ros_probe.wait_for(level_is(diags, 0, "planning"), 20, "planning after the fuzz")
    values = np.array([c.data[0] for c in commands[n0:]])
    assert len(values) >= 50, f"only {len(values)} commands during {sent['bursts']} bursts"
    assert np.all(np.isfinite(values)), values[~np.isfinite(values)]
    assert np.all(np.abs(values) <= LIMIT + 1e-9), values[np.abs(values) > LIMIT]
    refused = int(values_of(latest(diags))["rejected_messages"])
    assert 0 < refused <= sent["messages"], (refused, sent)
