"""The plan as JointTrajectory + MarkerArray: right frame, lengths and values; recorded to MCAP
and read back by ``rosbags`` and the ``mcap`` reader; the same values from the rclpy kit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.highlevel import AnyReader

from mbrl_control.recording.mcap_writer import McapBagWriter, new_message, typestore
from mbrl_control.recording.plan_messages import plan_markers, plan_trajectory, rosbags_kit

H, J, E = 6, 2, 3
NAMES = ["slider_to_cart", "cart_to_pole"]


@pytest.fixture
def plan(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(H, J)), rng.normal(size=(E, H + 1, 3))


def _check(traj, markers, q: np.ndarray, paths: np.ndarray) -> None:
    assert traj.header.frame_id == "base_link" and list(traj.joint_names) == NAMES
    assert len(traj.points) == H
    for k, point in enumerate(traj.points):
        assert np.allclose(list(point.positions), q[k])
        t = point.time_from_start
        assert t.sec + 1e-9 * t.nanosec == pytest.approx(0.02 * (k + 1))
    assert len(markers.markers) == E + 1
    for e, marker in enumerate(markers.markers):
        assert marker.header.frame_id == "base_link" and marker.type == 4  # LINE_STRIP
        expected = paths[e] if e < E else paths.mean(axis=0)
        assert (marker.ns, marker.id) == (("plan/members", e) if e < E else ("plan/mean", 0))
        assert np.allclose([[p.x, p.y, p.z] for p in marker.points], expected)
    assert markers.markers[0].color.a < markers.markers[-1].color.a == 1.0


def _build(kit, q, paths):
    traj = plan_trajectory(kit, stamp=1.5, frame_id="base_link", joint_names=NAMES,
                           positions=q, dt=0.02)  # fmt: skip
    markers = plan_markers(kit, stamp=1.5, frame_id="base_link", paths=paths)
    return traj, markers


def test_plan_messages_recorded_and_read_back(plan, tmp_path: Path) -> None:
    q, paths = plan
    traj, markers = _build(rosbags_kit(), q, paths)
    _check(traj, markers, q, paths)

    path = tmp_path / "plan.mcap"
    with McapBagWriter(path) as bag:
        bag.write("/mpc_controller/plan", "trajectory_msgs/msg/JointTrajectory", traj, 1.5)
        bag.write(
            "/mpc_controller/plan_markers", "visualization_msgs/msg/MarkerArray", markers, 1.5
        )
    with AnyReader([path], default_typestore=typestore()) as reader:
        back = {c.topic: reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages()}
    _check(back["/mpc_controller/plan"], back["/mpc_controller/plan_markers"], q, paths)
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        decoded = {c.topic: m for _, c, _, m in reader.iter_decoded_messages()}
    _check(decoded["/mpc_controller/plan"], decoded["/mpc_controller/plan_markers"], q, paths)


def test_rclpy_kit_builds_the_same_messages(plan) -> None:
    pytest.importorskip("trajectory_msgs", reason="ros-jazzy-trajectory-msgs not installed")
    pytest.importorskip("visualization_msgs", reason="ros-jazzy-visualization-msgs not installed")
    from mbrl_control.recording.plan_messages import rclpy_kit

    q, paths = plan
    _check(*_build(rclpy_kit(), q, paths), q, paths)


def test_bad_plans_are_refused_naming_what(plan) -> None:
    _, paths = plan
    kit = rosbags_kit()
    with pytest.raises(ValueError, match=r"positions: shape \(6, 3\), expected \(·, 2\)"):
        plan_trajectory(kit, stamp=0, frame_id="b", joint_names=NAMES, positions=np.ones((H, 3)),
                        dt=0.02)  # fmt: skip
    bad = paths.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="paths: not all finite"):
        plan_markers(kit, stamp=0, frame_id="b", paths=bad)
    with pytest.raises(ValueError, match=">= 2 points"):
        plan_markers(kit, stamp=0, frame_id="b", paths=paths[:, :1])
    with pytest.raises(TypeError, match=r"no field\(s\) \['nope'\]"):
        new_message("std_msgs/msg/Header", nope=1)
