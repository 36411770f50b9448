"""A model swap never starves the control loop (issue 14 item 5).

~/reload_model loads and validates in a thread of its own while the live planner keeps
planning, then swaps between two ticks. Structural, not timed: the load is made slow on
purpose (MBRL_CONTROLLER_TEST_LOAD_DELAY=2 s, the node's documented test hook: every load
sleeps that long first), and the test asserts that meanwhile every command was planned (none
was the safe action) and no watchdog event fired.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from test_controller_node import level_is, set_param, start_controller

pytestmark = pytest.mark.ros


def test_slow_reload_keeps_planning(spawn, ros_env, ros_probe, planner_dir, joint_states) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray
    from std_srvs.srv import Trigger

    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    env = {"MBRL_CONTROLLER_TEST_LOAD_DELAY": "2.0"}
    start_controller(spawn, ros_env, planner_dir, "on_deadline_miss:=publish", env=env)
    ros_probe.wait_for(level_is(diags, 0, "planning"), 90, "OK while planning")
    assert set_param(ros_probe, "model_path", str(planner_dir / "planner_b.onnx")).successful

    n_cmd, n_diag = len(commands), len(diags)
    done = threading.Event()
    response: list = []

    def call() -> None:
        response.append(ros_probe.call(Trigger, "/mpc_controller/reload_model", Trigger.Request()))
        done.set()

    threading.Thread(target=call, daemon=True).start()
    ros_probe.wait_for(done.is_set, 120, "the reload's answer")
    during = np.array([c.data[0] for c in commands[n_cmd:]])
    statuses = [s for m in diags[n_diag:] for s in m.status if s.name.endswith("planner")]
    assert response[0].success, response[0].message
    assert len(during) >= 25, f"only {len(during)} commands during a >= 2 s load"
    assert np.all(during != 0.0), f"{np.sum(during == 0.0)} safe actions during the load"
    assert statuses and all(s.level == b"\x00" for s in statuses), [s.message for s in statuses]
    assert not any("watchdog" in s.message for s in statuses)
