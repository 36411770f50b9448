"""mpc_controller and the task's goal kind, over real ROS.

- A ``fixed`` goal task plans at once (it used to wait forever for a ``goal`` message nobody
  publishes); a goal published anyway is refused with a warning naming the fixed value.
- A 2-value goal arrives as ``std_msgs/Float64MultiArray`` (``PointStamped`` carries 3
  values only; such a goal could never be set before); a wrong-length one is refused with a
  warning naming what was wrong, and the controller keeps waiting.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_controller_node import CONTROLLER, level_is

from tests.control.goal_tasks import cartpole_with_goal, export_tiny_planner

pytestmark = pytest.mark.ros


def _start(spawn, ros_env, path):
    argv = [CONTROLLER, "--ros-args", "-p", f"model_path:={path}", "-p", "autostart:=true"]
    argv += ["-p", "on_deadline_miss:=publish"]
    return spawn("mpc_controller", argv, ros_env)


def test_fixed_goal_plans_without_a_goal_message(
    spawn, ros_env, ros_probe, joint_states, tmp_path
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    task_file = cartpole_with_goal(tmp_path, {"kind": "fixed", "value": [0.25]}, "cp_fixed")
    path = export_tiny_planner(task_file, tmp_path / "fixed.onnx")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    commands = ros_probe.collect(Float64MultiArray, "/commands")
    proc = _start(spawn, ros_env, path)
    ros_probe.wait_for(level_is(diags, 0, "planning"), 60, "planning with the fixed goal")
    ros_probe.wait_for(lambda: len(commands) > 5, 10, "commands")
    assert np.all(np.isfinite([c.data for c in commands[-5:]]))

    goal = ros_probe.node.create_publisher(Float64MultiArray, "/goal", 10)
    ros_probe.node.create_timer(0.1, lambda: goal.publish(Float64MultiArray(data=[0.7])))
    ros_probe.wait_for(lambda: "goal refused" in proc.output(), 20, "the goal refused")
    line = next(x for x in proc.output().splitlines() if "goal refused" in x)
    assert "fixed goal [0.25]" in line and "[0.7]" in line, line
    assert level_is(diags, 0, "planning")()


def test_two_value_goal_over_float64_multi_array(
    spawn, ros_env, ros_probe, joint_states, tmp_path
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    box = {"kind": "box", "low": [-1.0, 0.0], "high": [1.0, 0.5]}
    path = export_tiny_planner(cartpole_with_goal(tmp_path, box, "cp_box2"), tmp_path / "b.onnx")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    commands = ros_probe.collect(Float64MultiArray, "/commands")
    proc = _start(spawn, ros_env, path)
    ros_probe.wait_for(level_is(diags, 1, "waiting for a goal"), 60, "waiting for a goal")

    sent = {"data": [0.1, 0.2, 0.3]}  # one value too many: refused, still waiting
    goal = ros_probe.node.create_publisher(Float64MultiArray, "/goal", 10)
    ros_probe.node.create_timer(0.1, lambda: goal.publish(Float64MultiArray(data=sent["data"])))
    ros_probe.wait_for(lambda: "goal refused" in proc.output(), 30, "the 3-value goal refused")
    line = next(x for x in proc.output().splitlines() if "goal refused" in x)
    assert "3 values [0.1, 0.2, 0.3]" in line and "needs 2" in line, line
    assert level_is(diags, 1, "waiting for a goal")()

    sent["data"] = [0.1, 0.2]
    ros_probe.wait_for(level_is(diags, 0, "planning"), 30, "planning with the 2-value goal")
    n = len(commands)
    ros_probe.wait_for(lambda: len(commands) > n + 5, 10, "commands")
    assert np.all(np.isfinite([c.data for c in commands[-5:]]))
