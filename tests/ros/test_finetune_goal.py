"""finetune_node records the goal of a goal task, by the controller's convention.

Before, recorded episodes of a goal task carried no goal at all (width 0), so a store that
also held simulated episodes (width G) lost one kind to ``load()``'s width check, and a
goal-conditioned value could not be trained on real data. Now: a ``box``/``topic`` goal is
read from ``goal`` (Float64MultiArray for G != 3, PointStamped for 3), a ``fixed`` goal is the
task's; segments recorded before any goal are dropped as ``no_goal``.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from mbrl_control.data.store import TransitionStore
from tests.control.goal_tasks import cartpole_with_goal, export_tiny_planner
from tests.ros.test_finetune_node import NS, Robot, _start, _status

pytestmark = pytest.mark.ros


def test_recorded_episodes_carry_the_goal_from_the_topic(spawn, ros_env, ros_probe, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    task_file = cartpole_with_goal(tmp_path, {"kind": "box", "low": [-1, -1], "high": [1, 1]})
    planner = export_tiny_planner(task_file, tmp_path / "planner.onnx")
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_text("{}")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    Robot(ros_probe)
    files = {"planner": planner, "checkpoint": checkpoint}
    node = _start(spawn, ros_env, tmp_path, files, autostart="true")
    dropped = lambda: json.loads(_status(diags).get("dropped", "{}") or "{}")  # noqa: E731
    ros_probe.wait_for(lambda: dropped().get("no_goal", 0) >= 10, 60, "segments before a goal")

    goal_pub = ros_probe.node.create_publisher(Float64MultiArray, f"{NS}/goal", 10)
    recorded = lambda: int(_status(diags).get("transitions_recorded", 0))  # noqa: E731
    for _ in range(100):  # until discovery matched the pair and segments were stored
        goal_pub.publish(Float64MultiArray(data=[0.25, -0.5]))
        until = time.monotonic() + 0.2
        ros_probe.wait_for(lambda u=until: time.monotonic() > u, 5, "a fifth of a second")
        if recorded() >= 20 and len(TransitionStore(tmp_path / "real")):
            break
    data = TransitionStore(tmp_path / "real").load()
    assert len(data) >= 10 and not data.skipped
    np.testing.assert_allclose(data.goal, np.tile([0.25, -0.5], (len(data), 1)))
    assert node.popen.poll() is None
