"""mpc_controller runs a planner whose task ends its observation with ``last_actions``.

The node plans from the commands it published (the core test, tests/control/
test_core_history.py, checks the block itself); here: the whole path over ROS — the task
travels in the planner file, the node builds the block each tick and plans.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_controller_node import CONTROLLER, level_is

from tests.control.goal_tasks import export_tiny_planner
from tests.tasks.history_tasks import cartpole_with_history

pytestmark = pytest.mark.ros


def test_history_task_plans_over_ros(spawn, ros_env, ros_probe, joint_states, tmp_path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    path = export_tiny_planner(cartpole_with_history(tmp_path, steps=2), tmp_path / "h.onnx")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    commands = ros_probe.collect(Float64MultiArray, "/commands")
    argv = [CONTROLLER, "--ros-args", "-p", f"model_path:={path}", "-p", "autostart:=true"]
    spawn("mpc_controller", [*argv, "-p", "on_deadline_miss:=publish"], ros_env)
    ros_probe.wait_for(level_is(diags, 0, "planning"), 60, "planning with last_actions")
    ros_probe.wait_for(lambda: len(commands) > 10, 10, "commands")
    data = np.array([c.data for c in commands[-10:]])
    assert np.all(np.isfinite(data)) and np.any(data != 0.0)
