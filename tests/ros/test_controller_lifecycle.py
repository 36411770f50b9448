"""mpc_controller as a managed node, and the safe action on every way out (items 10-11).

A ros2_control forward-command controller keeps applying the last command it received, so
the last command the controller sends on any way out must be the safe action (zero force).
"""

from __future__ import annotations

import signal
import sys
import time

import numpy as np
import pytest
from test_controller_node import CONTROLLER, level_is, start_controller

pytestmark = pytest.mark.ros


def _transition(probe, label: str, node: str = "/mpc_controller") -> bool:
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    ids = {
        "configure": Transition.TRANSITION_CONFIGURE,
        "activate": Transition.TRANSITION_ACTIVATE,
        "deactivate": Transition.TRANSITION_DEACTIVATE,
        "cleanup": Transition.TRANSITION_CLEANUP,
        "shutdown": Transition.TRANSITION_INACTIVE_SHUTDOWN,
        "active_shutdown": Transition.TRANSITION_ACTIVE_SHUTDOWN,
    }
    req = ChangeState.Request(transition=Transition(id=ids[label]))
    return probe.call(ChangeState, f"{node}/change_state", req).success


def _state(probe, node: str = "/mpc_controller") -> str:
    from lifecycle_msgs.srv import GetState

    return probe.call(GetState, f"{node}/get_state", GetState.Request()).current_state.label


def _settled(commands, probe, quiet: float = 1.0) -> None:
    """Wait until no command has arrived for ``quiet`` s (the last one is the last sent)."""
    while True:
        n = len(commands)
        time.sleep(quiet)
        if len(commands) == n:
            return
        probe.wait_for(lambda: True, 1, "")


def test_lifecycle_transitions(spawn, ros_env, ros_probe, planner_dir, joint_states) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray
    from test_controller_node import latest

    from mbrl_control.ros.diagnostics import values_of

    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    argv = [CONTROLLER, "--ros-args", "-p", f"model_path:={planner_dir / 'planner_a.onnx'}"]
    spawn("mpc_controller", argv, ros_env)

    # starts unconfigured: no commands, diagnostics say so
    ros_probe.wait_for(level_is(diags, 1, "unconfigured"), 60, "unconfigured status")
    assert _state(ros_probe) == "unconfigured" and not commands
    # a transition the state does not have (by id: rclpy raised and the node died) is refused
    assert not _transition(ros_probe, "activate")
    assert _state(ros_probe) == "unconfigured"
    assert _transition(ros_probe, "configure")
    assert _state(ros_probe) == "inactive"
    ros_probe.wait_for(level_is(diags, 1, "inactive"), 10, "inactive status")
    assert not commands and "planner_a" in values_of(latest(diags))["model_id"]

    # activate: plans; diagnostics report the state
    assert _transition(ros_probe, "activate")
    ros_probe.wait_for(level_is(diags, 0, "planning"), 30, "planning once active")
    assert values_of(latest(diags))["lifecycle_state"] == "active"
    ros_probe.wait_for(lambda: len(commands) > 20, 10, "commands")
    assert np.any(np.array([c.data[0] for c in commands]) != 0.0)

    # deactivate: the safe action, then silence
    assert _transition(ros_probe, "deactivate")
    _settled(commands, ros_probe)
    assert commands[-1].data[0] == 0.0
    n = len(commands)
    time.sleep(0.5)
    assert len(commands) == n

    # cleanup releases the planner; a configure with a bad model_path fails and stays put
    assert _transition(ros_probe, "cleanup")
    assert _state(ros_probe) == "unconfigured"
    from test_controller_node import set_param

    assert set_param(ros_probe, "model_path", str(planner_dir / "corrupt.onnx")).successful
    assert not _transition(ros_probe, "configure")
    assert _state(ros_probe) == "unconfigured"
    assert set_param(ros_probe, "model_path", str(planner_dir / "planner_b.onnx")).successful
    assert _transition(ros_probe, "configure") and _transition(ros_probe, "activate")
    ros_probe.wait_for(level_is(diags, 0, "planning"), 30, "planning again")


WAYS_OUT = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "deactivate", "active_shutdown", "crash"]

CRASHING = """
import sys
from mbrl_control.ros.controller_node import ControllerNode
from mbrl_control.ros.spin import run_node

class Buggy(ControllerNode):  # a bug in a callback: the exception escapes the executor
    def _on_enable(self, request, response):
        raise RuntimeError("bug in a callback")

sys.exit(run_node(Buggy, sys.argv[1:], prog="mpc_controller"))
"""


@pytest.mark.parametrize("way", WAYS_OUT)
def test_last_command_is_the_safe_action(
    way, spawn, ros_env, ros_probe, planner_dir, joint_states
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    exe = [sys.executable, "-c", CRASHING] if way == "crash" else None
    proc = start_controller(spawn, ros_env, planner_dir, "on_deadline_miss:=publish", exe=exe)
    ros_probe.wait_for(level_is(diags, 0, "planning"), 60, "OK while planning")
    ros_probe.wait_for(lambda: len(commands) > 20, 10, "commands")
    assert commands[-1].data[0] != 0.0  # planning: the robot is being pushed

    if way.startswith("SIG"):
        proc.popen.send_signal(getattr(signal, way))
        proc.popen.wait(timeout=20)
    elif way == "crash":
        from std_srvs.srv import SetBool

        client = ros_probe.node.create_client(SetBool, "/mpc_controller/enable")
        assert client.wait_for_service(timeout_sec=30)
        client.call_async(SetBool.Request(data=True))  # never answered: the node dies
        assert proc.popen.wait(timeout=30) != 0
        assert "bug in a callback" in proc.output()
    else:
        assert _transition(ros_probe, way)
    _settled(commands, ros_probe)
    assert commands[-1].data[0] == 0.0, f"last command after {way}: {commands[-1].data[0]}"
