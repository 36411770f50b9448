"""Two real processes exchange a sensor_msgs/JointState over Fast DDS on loopback."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.ros

TALKER = """
import rclpy, time
from sensor_msgs.msg import JointState
rclpy.init()
node = rclpy.create_node("smoke_talker")
pub = node.create_publisher(JointState, "smoke_joint_states", 10)
for i in range(600):
    msg = JointState(name=["a", "b"], position=[0.5, float(i)], velocity=[0.0, 1.0])
    msg.header.stamp = node.get_clock().now().to_msg()
    pub.publish(msg)
    time.sleep(0.05)
"""

LISTENER = """
import sys, rclpy
from sensor_msgs.msg import JointState
rclpy.init()
node = rclpy.create_node("smoke_listener")
got = []
node.create_subscription(JointState, "smoke_joint_states", got.append, 10)
while rclpy.ok() and len(got) < 3:
    rclpy.spin_once(node, timeout_sec=0.1)
m = got[-1]
ok = list(m.name) == ["a", "b"] and m.position[0] == 0.5 and m.position[1] > 0
print("received", len(got), list(m.name), list(m.position), flush=True)
sys.exit(0 if ok else 3)
"""


def test_joint_state_crosses_process_boundary(spawn, ros_env) -> None:
    listener = spawn("listener", [sys.executable, "-c", LISTENER], ros_env)
    spawn("talker", [sys.executable, "-c", TALKER], ros_env)
    rc = listener.wait(timeout=60)
    assert rc == 0, listener.output()
    assert "received" in listener.output()


def test_other_domain_does_not_hear(spawn, ros_env) -> None:
    """Isolation works: a talker on another domain id is not heard within a few seconds."""
    other = dict(ros_env, ROS_DOMAIN_ID=str((int(ros_env["ROS_DOMAIN_ID"]) + 50) % 100 + 1))
    listener = spawn("listener", [sys.executable, "-c", LISTENER], ros_env)
    spawn("talker", [sys.executable, "-c", TALKER], other)
    with pytest.raises(subprocess.TimeoutExpired):
        listener.wait(timeout=6)
