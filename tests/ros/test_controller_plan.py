"""Issue 19 on a real mpc_controller process: the plan it computed, visible. ``~/plan``
(JointTrajectory) and ``~/plan_markers`` (MarkerArray) come from the planner graph's own
``plan_states`` output, in the task's ``visualization.frame_id``, at ``plan_rate`` Hz (a live
parameter; 0 stops them)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from test_controller_node import level_is, set_param, start_controller

pytestmark = pytest.mark.ros

H, E = 5, 2  # the test planner's horizon and ensemble size (conftest.export_small_planner)


def test_plan_and_markers_follow_the_graph_and_plan_rate(
    spawn, ros_env, ros_probe, planner_dir, joint_states
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from trajectory_msgs.msg import JointTrajectory
    from visualization_msgs.msg import MarkerArray

    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    plans = ros_probe.collect(JointTrajectory, "/mpc_controller/plan")
    markers = ros_probe.collect(MarkerArray, "/mpc_controller/plan_markers")
    start_controller(spawn, ros_env, planner_dir, "plan_rate:=5.0")
    ros_probe.wait_for(level_is(diags, 0, "planning"), 60, "OK while planning")
    ros_probe.wait_for(lambda: len(plans) >= 3 and len(markers) >= 3, 30, "three plans")

    plan, array = plans[-1], markers[-1]
    assert plan.header.frame_id == "rail"  # the cart-pole task file's visualization.frame_id
    assert list(plan.joint_names) == ["slider_to_cart", "cart_to_pole"]
    assert len(plan.points) == H
    dt = [p.time_from_start.sec + 1e-9 * p.time_from_start.nanosec for p in plan.points]
    np.testing.assert_allclose(dt, 0.02 * np.arange(1, H + 1), atol=1e-6)  # 50 Hz
    assert [m.ns for m in array.markers] == ["plan/members"] * E + ["plan/mean"]
    for m in array.markers:
        assert m.header.frame_id == "rail" and len(m.points) == H + 1
        # every path starts at the pole tip of the state planned from: cart at 0, hanging
        start = m.points[0]
        np.testing.assert_allclose([start.x, start.y, start.z], [0.0, 0.0, -0.6], atol=1e-5)
        assert all(np.isfinite([p.x, p.y, p.z]).all() for p in m.points)

    # plan_rate is live: about 5 a second while planning at 50 Hz, none at 0
    before, t0 = len(plans), time.monotonic()
    time.sleep(2.0)
    rate = (len(plans) - before) / (time.monotonic() - t0)
    assert 1.0 <= rate <= 8.0, rate
    assert set_param(ros_probe, "plan_rate", 0.0).successful
    time.sleep(0.5)  # a plan in flight may still arrive
    stopped = len(plans)
    time.sleep(1.0)
    assert len(plans) == stopped
