"""sim_node as a real process: joint states, clock, cost, commands applied, ~/reset."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

SIM_NODE = str(Path(sys.executable).with_name("sim_node"))


def test_sim_node_publishes_and_obeys(spawn, ros_env, ros_probe) -> None:
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64, Float64MultiArray
    from std_srvs.srv import Trigger

    states = ros_probe.collect(JointState, "/joint_states")
    clock = ros_probe.collect(Clock, "/clock")
    cost = ros_probe.collect(Float64, "/sim_node/step_cost")
    argv = [SIM_NODE, "--ros-args", "-p", "real_time_factor:=2.0", "-p", "profile:=none"]
    spawn("sim_node", argv, ros_env)
    ros_probe.wait_for(lambda: len(states) > 20, 60, "joint states")
    msg = states[-1]
    assert list(msg.name) == ["slider_to_cart", "cart_to_pole"]
    assert len(msg.position) == len(msg.velocity) == len(msg.effort) == 2
    assert len(clock) > 0 and len(cost) > 0

    # no command yet: the safe action (zero force) leaves the hanging pole near rest
    x0 = states[-1].position[0]
    assert abs(x0) < 0.2

    # a constant push to +x moves the cart
    pub = ros_probe.node.create_publisher(Float64MultiArray, "/commands", 10)
    timer = ros_probe.node.create_timer(0.02, lambda: pub.publish(Float64MultiArray(data=[8.0])))
    n = len(states)
    ros_probe.wait_for(lambda: len(states) > n + 40, 30, "states while pushing")
    assert states[-1].position[0] > x0 + 0.1
    assert states[-1].effort[0] > 0.0
    timer.cancel()

    # sim time advances with /clock and ~/reset starts a new randomized episode
    stamps = [c.clock.sec + c.clock.nanosec * 1e-9 for c in clock]
    assert np.all(np.diff(stamps) >= 0) and stamps[-1] > stamps[0]
    resp = ros_probe.call(Trigger, "/sim_node/reset", Trigger.Request())
    assert resp.success
    info = json.loads(resp.message)
    # episode 1, or later when an episode's end (4 s) came first on a loaded machine
    assert info["episode"] >= 1 and "dr" in info
