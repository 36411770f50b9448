"""mpc_controller's refused-state WARNs are throttled per reason (a real process, real states).

A robot that overshoots its limits now and then (PyBullet's joints at a hard stop, noisy
encoders) sends a refused state every other message: the controller's status flips between
OK and "bad joint state" every tick, and each flip used to log a WARN (hundreds in 20 s).
Each reason is now logged at most once a second, the next line counting the suppressed ones.
"""

from __future__ import annotations

import re
import time

import pytest
from test_controller_node import latest, level_is, start_controller

pytestmark = pytest.mark.ros

NAMES = ["slider_to_cart", "cart_to_pole"]
# cart-pole: slider position_range [-2.5, 2.5] m, velocity_limit 20 m/s; good states between
STATES = [
    ([2.6, 3.1], [0.0, 0.0]),  # position outside the physical range
    ([2.4, 3.1], [0.0, 0.0]),
    ([0.0, 3.1], [25.0, 0.0]),  # velocity beyond the physical limit
    ([2.4, 3.1], [0.0, 0.0]),
]
SECONDS = 3.0


def test_refused_states_are_logged_once_a_second_per_reason(
    spawn, ros_env, ros_probe, planner_dir
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import JointState

    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    pub = ros_probe.node.create_publisher(JointState, "/joint_states", 10)
    k = [0]
    feeding = [False]

    def tick() -> None:  # 50 Hz, the control rate
        i = k[0] % len(STATES) if feeding[0] else 1
        k[0] += 1
        pos, vel = STATES[i]
        pub.publish(JointState(name=NAMES, position=pos, velocity=vel))

    ros_probe.node.create_timer(0.02, tick)
    proc = start_controller(spawn, ros_env, planner_dir)
    ros_probe.wait_for(level_is(diags, 0, "planning"), 60, "OK while planning")

    feeding[0] = True
    start = k[0]
    time.sleep(SECONDS)
    feeding[0] = False
    sent_bad = (k[0] - start) // 2
    ros_probe.wait_for(level_is(diags, 0), 10, "OK again on good states")
    time.sleep(0.5)  # the last lines reach the log

    status = latest(diags)
    rejected = next(int(v.value) for v in status.values if v.key == "rejected_messages")
    assert rejected >= sent_bad * 0.8 > 50, (rejected, sent_bad)  # the flood really came

    lines = [ln for ln in proc.output().splitlines() if "WARN" in ln]
    for site in ("bad joint state: ", "JointState refused: "):
        for reason in ("position", "velocity"):
            hits = [ln for ln in lines if site in ln and f"'slider_to_cart' {reason}" in ln]
            # at most once a second per reason: 3 s -> the first line and about 3 more
            assert 1 <= len(hits) <= 5, (site, reason, len(hits), hits[:8])
            counts = [int(m) for ln in hits for m in re.findall(r"(\d+) more like this", ln)]
            # ~12 refusals a second per reason; a loaded CI machine delivered 9 per window,
            # so ask only that the suppressed ones were counted, not how many arrived
            assert counts and sum(counts) >= 5, (site, reason, hits)
