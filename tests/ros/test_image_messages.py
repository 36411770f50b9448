"""sensor_msgs/Image <-> (H, W, 3) uint8 (mbrl_control/ros/image_messages.py): rclpy and
rosbags messages, CDR across the two families, and a real MCAP bag written and read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import Image

from mbrl_control.ros.image_messages import (
    IMAGE_TYPE,
    image_array,
    rclpy_image,
    rosbags_image,
)

TS = get_typestore(Stores.ROS2_JAZZY)


def _frame(seed: int, h: int = 64, w: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_rclpy_round_trip_and_fields(seed: int) -> None:
    f = _frame(seed)
    msg = rclpy_image(f, stamp_ns=1_700_000_000_123_456_789, frame_id="cam")
    assert (msg.height, msg.width, msg.encoding, msg.step) == (64, 48, "rgb8", 144)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1_700_000_000, 123_456_789)
    assert msg.header.frame_id == "cam"
    assert np.array_equal(image_array(msg), f)
    # through the wire format
    back = deserialize_message(serialize_message(msg), Image)
    assert np.array_equal(image_array(back), f)


def test_rosbags_round_trip_and_cdr_across_families(seed: int) -> None:
    f = _frame(seed)
    msg = rosbags_image(f, stamp_ns=5_000_000_001, frame_id="cam")
    assert np.array_equal(image_array(msg), f)
    raw = TS.serialize_cdr(msg, IMAGE_TYPE)
    # rosbags bytes -> rclpy message, and rclpy bytes -> rosbags message
    from_rosbags = deserialize_message(bytes(raw), Image)
    assert np.array_equal(image_array(from_rosbags), f)
    assert from_rosbags.header.stamp.sec == 5 and from_rosbags.header.stamp.nanosec == 1
    from_rclpy = TS.deserialize_cdr(serialize_message(rclpy_image(f)), IMAGE_TYPE)
    assert np.array_equal(image_array(from_rclpy), f)


def test_real_mcap_bag_of_frames(tmp_path: Path, seed: int) -> None:
    frames = [_frame(seed + i) for i in range(3)]
    bag = tmp_path / "cam_bag"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conn = w.add_connection("camera/image_raw", IMAGE_TYPE, typestore=TS)
        for i, f in enumerate(frames):
            t = 1_000_000_000 + i * 20_000_000
            w.write(conn, t, TS.serialize_cdr(rosbags_image(f, t), IMAGE_TYPE))
    with Reader(bag) as r:
        got = [image_array(TS.deserialize_cdr(raw, c.msgtype)) for c, _, raw in r.messages()]
    assert len(got) == 3 and all(np.array_equal(a, b) for a, b in zip(got, frames, strict=True))


@pytest.mark.parametrize("encoding", ["bgr8", "rgba8", "bgra8", "mono8"])
def test_other_encodings_and_padded_rows(encoding: str, seed: int) -> None:
    f = _frame(seed, 5, 7)
    c = {"bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}[encoding]
    if encoding == "mono8":
        px = f[..., :1]
        want = np.repeat(px, 3, axis=2)
    else:
        rgb = f[..., ::-1] if encoding.startswith("bgr") else f
        alpha = np.full((5, 7, 1), 255, np.uint8)
        px = np.concatenate([rgb, alpha], axis=2) if c == 4 else rgb
        want = f
    step = 7 * c + 5  # padded rows
    buf = np.zeros((5, step), np.uint8)
    buf[:, : 7 * c] = px.reshape(5, -1)
    msg = Image(height=5, width=7, encoding=encoding, step=step)
    msg.data = buf.tobytes()
    assert np.array_equal(image_array(msg), want)


def test_bad_input_errors_name_the_problem() -> None:
    msg = rclpy_image(np.zeros((4, 4, 3), np.uint8))
    msg.encoding = "16UC1"
    with pytest.raises(ValueError, match=r"encoding '16UC1'; allowed: \['bgr8'"):
        image_array(msg)
    msg = rclpy_image(np.zeros((4, 4, 3), np.uint8))
    msg.data = bytes(10)
    with pytest.raises(
        ValueError, match=r"Image 4x4 rgb8: step 12 .* 10 data bytes \(need >= 48\)"
    ):
        image_array(msg)
    for bad in (np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.uint8)):
        with pytest.raises(ValueError, match=r"frame must be \(H, W, 3\) uint8 RGB"):
            rclpy_image(bad)
        with pytest.raises(ValueError, match=r"frame must be \(H, W, 3\) uint8 RGB"):
            rosbags_image(bad)
    with pytest.raises(ValueError, match="stamp_ns=-1"):
        rclpy_image(np.zeros((4, 4, 3), np.uint8), stamp_ns=-1)
