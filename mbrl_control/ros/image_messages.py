"""``sensor_msgs/msg/Image`` <-> numpy frames ``(H, W, 3)`` uint8 RGB (docs/pixels.md).

One conversion for both message families: rclpy's generated classes (live topics) and
``rosbags``' (bag files). :func:`image_array` reads either; :func:`rclpy_image` and
:func:`rosbags_image` build one. Outgoing images are ``rgb8`` with a packed row
(``step = 3 W``). Incoming: ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8`` and ``mono8`` (grey copied
to the three channels), rows possibly padded (``step >= W * channels``). Neither rclpy nor
rosbags is imported at module import.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ENCODINGS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
"""Readable encodings -> channels per pixel (8-bit each)."""
IMAGE_TYPE = "sensor_msgs/msg/Image"


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
    return np.ascontiguousarray(frame)


def image_array(msg: Any) -> np.ndarray:
    """The ``(H, W, 3)`` uint8 RGB pixels of an Image message (rclpy or rosbags), a copy.

    Raises: ValueError naming the encoding (allowed: :data:`ENCODINGS`) or the size mismatch.
    """
    enc = str(msg.encoding).lower()
    if enc not in ENCODINGS:
        raise ValueError(f"Image encoding {msg.encoding!r}; allowed: {sorted(ENCODINGS)}")
    c, h, w, step = ENCODINGS[enc], int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(memoryview(msg.data).cast("B"), np.uint8)
    if step < w * c or data.size < step * h:
        raise ValueError(
            f"Image {w}x{h} {enc}: step {step} (need >= {w * c}) and {data.size} data bytes "
            f"(need >= {step * h})"
        )
    px = data[: step * h].reshape(h, step)[:, : w * c].reshape(h, w, c)
    if enc == "mono8":
        return np.repeat(px, 3, axis=2)
    if enc.startswith("bgr"):
        px = px[..., 2::-1]
    return np.ascontiguousarray(px[..., :3])


def _stamp(stamp_ns: int) -> tuple[int, int]:
    if stamp_ns < 0:
        raise ValueError(f"stamp_ns={stamp_ns}; allowed: >= 0")
    return int(stamp_ns // 1_000_000_000), int(stamp_ns % 1_000_000_000)


def rclpy_image(frame: np.ndarray, stamp_ns: int = 0, frame_id: str = "camera") -> Any:
    """An rclpy ``sensor_msgs.msg.Image`` (rgb8) of ``frame (H, W, 3)`` uint8."""
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    frame = _check_frame(frame)
    sec, nanosec = _stamp(stamp_ns)
    h, w, _ = frame.shape
    msg = Image(
        header=Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id),
        height=h,
        width=w,
        encoding="rgb8",
        is_bigendian=0,
        step=3 * w,
    )
    msg.data = frame.tobytes()
    return msg


def rosbags_image(
    frame: np.ndarray, stamp_ns: int = 0, frame_id: str = "camera", typestore: Any = None
) -> Any:
    """A ``rosbags`` Image (rgb8) of ``frame (H, W, 3)`` uint8, from ``typestore`` (default:
    ROS 2 Jazzy's), ready for ``typestore.serialize_cdr(msg, IMAGE_TYPE)``."""
    if typestore is None:
        from rosbags.typesys import Stores, get_typestore

        typestore = get_typestore(Stores.ROS2_JAZZY)
    frame = _check_frame(frame)
    sec, nanosec = _stamp(stamp_ns)
    t = typestore.types
    h, w, _ = frame.shape
    return t[IMAGE_TYPE](
        header=t["std_msgs/msg/Header"](
            stamp=t["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id
        ),
        height=h,
        width=w,
        encoding="rgb8",
        is_bigendian=0,
        step=3 * w,
        data=frame.reshape(-1).copy(),
    )
