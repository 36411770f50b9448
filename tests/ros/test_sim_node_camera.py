"""sim_node's camera (issue 21): ``camera_rate:=Hz`` publishes the task's camera view on
``camera/image_raw`` (rgb8, sensor-data QoS), each frame stamped like the joint state it
shows; a rate above the control rate is refused in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

SIM_NODE = str(Path(sys.executable).with_name("sim_node"))


def test_camera_frames_at_the_rate_stamped_like_their_states(spawn, ros_env, ros_probe) -> None:
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Float64MultiArray

    from mbrl_control.ros.image_messages import image_array

    states = ros_probe.collect(JointState, "/joint_states")
    frames: list = []
    ros_probe.node.create_subscription(Image, "/camera/image_raw", frames.append,
                                       qos_profile_sensor_data)  # fmt: skip
    argv = [SIM_NODE, "--ros-args", "-p", "camera_rate:=10.0", "-p", "profile:=none"]
    spawn("sim_node", argv, ros_env)
    ros_probe.wait_for(lambda: len(frames) >= 3, 60, "camera frames")
    pub = ros_probe.node.create_publisher(Float64MultiArray, "/commands", 10)
    timer = ros_probe.node.create_timer(0.02, lambda: pub.publish(Float64MultiArray(data=[8.0])))
    n_frames, n_states = len(frames), len(states)
    ros_probe.wait_for(lambda: len(states) > n_states + 60, 60, "states while pushing")
    timer.cancel()
    got = list(frames[n_frames:])
    sim_s = [f.header.stamp.sec + f.header.stamp.nanosec * 1e-9 for f in got]
    # 10 Hz of sim time (the node steps at 50 Hz): 0.1 s apart (best effort may drop one)
    gaps = np.round(np.diff(sim_s), 3)
    assert len(got) >= 5 and np.all(gaps >= 0.099) and np.median(gaps) == pytest.approx(0.1), gaps
    state_stamps = {(s.header.stamp.sec, s.header.stamp.nanosec) for s in states}
    assert all((f.header.stamp.sec, f.header.stamp.nanosec) in state_stamps for f in got)
    first = image_array(got[0])
    assert got[0].encoding == "rgb8" and first.ndim == 3 and first.shape[2] == 3
    assert first.shape[0] == first.shape[1] >= 32 and got[0].header.frame_id == "camera"
    # the pushed cart moved in the picture
    assert np.abs(image_array(got[-1]).astype(int) - first.astype(int)).sum() > 0


def test_camera_rate_above_the_control_rate_is_refused(ros_env) -> None:
    run = subprocess.run([SIM_NODE, "--ros-args", "-p", "camera_rate:=100.0"], env=ros_env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert "parameter 'camera_rate'" in lines[0] and "50" in lines[0], lines[0]
