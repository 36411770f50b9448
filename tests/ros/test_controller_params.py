"""mpc_controller's parameters through the real parameter service (issue 14 item 3).

Every writable parameter is set live and takes effect; bad values are refused with a reason
and never stop the node; read-only ones are refused.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_controller_node import level_is, set_param, start_controller

pytestmark = pytest.mark.ros


def test_every_parameter_live_or_read_only(
    spawn, ros_env, ros_probe, planner_dir, joint_states
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray
    from test_controller_node import latest

    from mbrl_control.ros.diagnostics import values_of

    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    proc = start_controller(spawn, ros_env, planner_dir, "on_deadline_miss:=publish")
    ros_probe.wait_for(level_is(diags, 0, "planning"), 60, "OK while planning")

    def refused(name, value, why: str) -> None:
        result = set_param(ros_probe, name, value)
        assert not result.successful, f"{name}={value!r} was accepted"
        assert why in result.reason, (name, value, result.reason)

    def accepted(name, value) -> None:
        result = set_param(ros_probe, name, value)
        assert result.successful, (name, value, result.reason)

    def commands_after(n_more: int) -> np.ndarray:
        n = len(commands)
        ros_probe.wait_for(lambda: len(commands) > n + n_more, 20, f"{n_more} commands")
        return np.array([c.data[0] for c in commands[n + 1 :]])

    # read-only: refused by the parameter service, value unchanged
    for name, value in [
        ("task", "panda_reach"),
        ("mode", "policy"),
        ("model_dir", "/"),
        ("control_rate", 10.0),
        ("threads", 2),
        ("start_enabled", False),
        ("autostart", False),
    ]:
        refused(name, value, "read-only")

    # bad values: refused with the reason, the node keeps planning
    refused("critics.tip_distance.weight", float("nan"), "critics.tip_distance.weight")
    refused("critics.action.weight", -1.0, "critics.action.weight")
    refused("action_low", [3.0], "action_low[0]=3.0 must be < action_high[0]=2.0")
    refused("action_low", [-1.0, -1.0], "same length")
    refused("action_high", [float("inf")], "finite")
    refused("on_deadline_miss", "bogus", "safe")
    refused("state_timeout", 0.0, "state_timeout")
    refused("state_timeout", float("nan"), "state_timeout")
    refused("max_action_rate", -1.0, "max_action_rate")
    refused("model_path", "/etc/passwd", "outside model_dir")
    assert proc.popen.poll() is None, "a parameter value stopped the node"
    ros_probe.wait_for(level_is(diags, 0, "planning"), 10, "still planning")

    # action limits take effect: after ±0.5 every command stays within ±0.5
    accepted("action_low", [-0.5])
    accepted("action_high", [0.5])
    values = commands_after(40)
    assert np.all(np.abs(values) <= 0.5 + 1e-9), values
    assert np.any(values != 0.0)

    # max_action_rate takes effect: steps of at most rate * period (50 Hz)
    accepted("max_action_rate", 1.0)
    values = commands_after(40)
    assert np.all(np.abs(np.diff(values)) <= 1.0 / 50 + 1e-9), np.diff(values)
    accepted("max_action_rate", 0.0)

    # critic weights: live, as integers too, visible in the controller's diagnostics
    accepted("critics.action.weight", 3)
    accepted("critics.energy.weight", 0.25)
    ros_probe.wait_for(
        lambda: (
            values_of(latest(diags)).get("critics.action.weight") == "3"
            and values_of(latest(diags)).get("critics.energy.weight") == "0.25"
        ),
        10,
        "weights applied",
    )

    # state_timeout takes effect: 1 s without states is fine with a 10 s timeout
    accepted("state_timeout", 10.0)
    joint_states.active = False
    n = len(commands)
    ros_probe.wait_for(lambda: len(commands) > n + 50, 20, "commands without states")
    assert not any(s.level == b"\x02" for m in diags[-3:] for s in m.status)
    joint_states.active = True
    accepted("state_timeout", 0.2)

    # allow_extra_joints takes effect: an unknown joint is refused, naming it
    accepted("allow_extra_joints", False)
    joint_states.set(names=["slider_to_cart", "cart_to_pole", "camera_pan"], position=[0, 3, 0])
    joint_states.set(velocity=[0.0, 0.0, 0.0])
    ros_probe.wait_for(level_is(diags, 1, "camera_pan"), 10, "WARN naming camera_pan")
    accepted("allow_extra_joints", True)
    ros_probe.wait_for(level_is(diags, 0, "planning"), 10, "planning with the extra joint")

    # on_deadline_miss accepts its members; model_path is live (used by ~/reload_model)
    accepted("on_deadline_miss", "safe")
    accepted("on_deadline_miss", "publish")
    accepted("model_path", str(planner_dir / "planner_b.onnx"))
    assert proc.popen.poll() is None
