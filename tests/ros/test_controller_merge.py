"""Several publishers on joint_states, duplicates and impossible values (issue 14 items 1-2).

The probe plays two drivers: each publishes some joints only; the controller merges them per
joint, plans when every task joint is fresh and names the joint that goes stale.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_controller_node import level_is, start_controller

pytestmark = pytest.mark.ros


def _planned(commands, n_more: int, probe) -> np.ndarray:
    n = len(commands)
    probe.wait_for(lambda: len(commands) > n + n_more, 20, f"{n_more} commands")
    return np.array([c.data[0] for c in commands[n + 1 :]])


def test_partial_publishers_merge_per_joint(
    spawn, ros_env, ros_probe, planner_dir, joint_states
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    pan_tilt = type(joint_states)(ros_probe)  # a second driver with a joint of its own
    pan_tilt.set(names=["camera_pan"], position=[0.3], velocity=[0.0])
    start_controller(spawn, ros_env, planner_dir, "on_deadline_miss:=publish")
    ros_probe.wait_for(level_is(diags, 0, "planning"), 60, "OK while planning")

    # full states + a publisher with none of the task's joints: every command is planned
    values = _planned(commands, 60, ros_probe)
    assert np.all(values != 0.0), f"{np.sum(values == 0.0)} safe actions among {len(values)}"

    # each driver sends one task joint: merged, still planning
    joint_states.set(names=["slider_to_cart"], position=[0.1], velocity=[0.0])
    pan_tilt.set(names=["cart_to_pole", "camera_pan"], position=[3.0, 0.3], velocity=[0.0, 0.0])
    values = _planned(commands, 60, ros_probe)
    assert np.all(values != 0.0), f"{np.sum(values == 0.0)} safe actions among {len(values)}"
    assert level_is(diags, 0, "planning")()

    # the driver of cart_to_pole stops: the watchdog names that joint
    pan_tilt.active = False
    ros_probe.wait_for(level_is(diags, 2, "joint 'cart_to_pole' stale"), 10, "stale joint")
    values = _planned(commands, 5, ros_probe)
    assert np.all(values == 0.0)
    pan_tilt.active = True
    ros_probe.wait_for(level_is(diags, 0, "planning"), 10, "recovery")


def test_duplicates_and_impossible_values_give_the_safe_action(
    spawn, ros_env, ros_probe, planner_dir, joint_states
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    start_controller(spawn, ros_env, planner_dir, "on_deadline_miss:=publish")
    ros_probe.wait_for(level_is(diags, 0, "planning"), 60, "OK while planning")

    cases = [
        # a joint named twice: ambiguous, the message is refused
        (["slider_to_cart", "cart_to_pole", "slider_to_cart"], [0.1, 3.0, 0.2], [0.0] * 3,
         "'slider_to_cart' appears twice"),
        # a cart position of 1e30 m: outside the rail's physical range
        (["slider_to_cart", "cart_to_pole"], [1e30, 3.0], [0.0, 0.0], "'slider_to_cart' position"),
        # a pole speed beyond its physical limit
        (["slider_to_cart", "cart_to_pole"], [0.0, 3.0], [0.0, 1e4], "'cart_to_pole' velocity"),
        # 1e39 overflows float32
        (["slider_to_cart", "cart_to_pole"], [0.0, 3.0], [1e39, 0.0], "'slider_to_cart'"),
    ]  # fmt: skip
    for names, position, velocity, why in cases:
        joint_states.set(names=names, position=position, velocity=velocity)
        ros_probe.wait_for(level_is(diags, 1, why), 10, f"WARN naming {why}")
        values = _planned(commands, 5, ros_probe)
        assert np.all(values == 0.0), (why, values)
        joint_states.set(names=["slider_to_cart", "cart_to_pole"], position=[0.1, 3.0])
        joint_states.set(velocity=[0.0, 0.0])
        ros_probe.wait_for(level_is(diags, 0, "planning"), 10, "recovery")
