"""The plan as ROS messages: ``trajectory_msgs/msg/JointTrajectory`` (planned joint states over
the horizon) and ``visualization_msgs/msg/MarkerArray`` (each ensemble member's predicted tip
path, so their spread shows as a tube, plus the members' mean path).

Pure construction from arrays, once for both places that need it: the controller node
(``~/plan``, ``~/plan_markers``, rclpy messages: :func:`rclpy_kit`) and recordings (``rosbags``
messages: :func:`rosbags_kit`). The arrays are the planner graph's own outputs (DESIGN.md §3:
no second rollout); this module does no kinematics and no prediction.

Conventions: the trajectory's point ``k`` (1..H) is the state after ``k`` control steps, at
``time_from_start = k * dt``; marker ids are the member index (``0..E-1``, namespace
``<ns>/members``) and ``0`` for the mean path (``<ns>/mean``); every marker is in ``frame_id``
(the robot's base frame) and, with ``lifetime`` > 0, disappears when no newer plan replaces it.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MEMBER_RGBA = (0.12, 0.47, 0.71, 0.35)
"""Members' paths: translucent blue (the tube)."""
MEAN_RGBA = (0.85, 0.33, 0.10, 1.0)
"""The mean path: opaque orange."""


@dataclass(frozen=True)
class Plan:
    """One planning step's outputs, as the planner graph returns them (see the module doc)."""

    joint_names: tuple[str, ...]
    positions: np.ndarray
    """``(H, J)`` planned joint positions after steps 1..H (m or rad)."""
    paths: np.ndarray | None
    """``(E, K, 3)`` each member's predicted tip path (m, ``frame_id``); None for a task
    that names no point to draw (no markers then)."""
    dt: float
    """Control period (s)."""
    frame_id: str
    """The robot's base frame."""

    def messages(self, kit: MessageKit, stamp: float) -> tuple[Any, Any | None]:
        """``(JointTrajectory, MarkerArray or None)`` of this plan stamped ``stamp`` (s)."""
        traj = plan_trajectory(
            kit, stamp=stamp, frame_id=self.frame_id, joint_names=self.joint_names,
            positions=self.positions, dt=self.dt,
        )  # fmt: skip
        if self.paths is None:
            return traj, None
        return traj, plan_markers(kit, stamp=stamp, frame_id=self.frame_id, paths=self.paths)


@dataclass(frozen=True)
class MessageKit:
    """How to build messages of one ROS Python backend."""

    new: Callable[..., Any]
    """``new("pkg/msg/Name", **fields)``: a message, unset fields at their zero values."""
    floats: Callable[[np.ndarray], Any]
    """A ``float64[]`` field's value from a 1-d array."""
    constants: Callable[[str], Any]
    """``"pkg/msg/Name"`` -> the class holding the type's constants (``Marker.LINE_STRIP``)."""


def rosbags_kit() -> MessageKit:
    """``rosbags`` message classes (ROS 2 Jazzy type store), for recordings."""
    from mbrl_control.recording.mcap_writer import msg_class, new_message

    return MessageKit(new_message, lambda a: np.asarray(a, np.float64), msg_class)


def rclpy_kit() -> MessageKit:
    """rclpy message classes (``pkg.msg.Name``), for nodes. Raises ``ImportError`` naming the
    missing package (``trajectory_msgs`` and ``visualization_msgs`` are ROS packages of their
    own: ``ros-jazzy-trajectory-msgs``, ``ros-jazzy-visualization-msgs`` from PyPI)."""

    @functools.cache
    def cls(typename: str) -> Any:  # looked up once per type (a plan builds ~10^3 messages)
        package, _, name = typename.split("/")
        return getattr(importlib.import_module(f"{package}.msg"), name)

    def new(typename: str, **fields: Any) -> Any:
        return cls(typename)(**fields)

    return MessageKit(new, lambda a: [float(x) for x in np.asarray(a, np.float64)], cls)


def _time(kit: MessageKit, t: float) -> Any:
    sec, nanosec = divmod(round(float(t) * 1e9), 1_000_000_000)
    return kit.new("builtin_interfaces/msg/Time", sec=int(sec), nanosec=int(nanosec))


def _duration(kit: MessageKit, t: float) -> Any:
    sec, nanosec = divmod(round(float(t) * 1e9), 1_000_000_000)
    return kit.new("builtin_interfaces/msg/Duration", sec=int(sec), nanosec=int(nanosec))


def _header(kit: MessageKit, t: float, frame_id: str) -> Any:
    return kit.new("std_msgs/msg/Header", stamp=_time(kit, t), frame_id=frame_id)


def _finite(name: str, a: Any, shape: tuple[int | None, ...]) -> np.ndarray:
    """``a`` as float64 of ``shape`` (None: any size) and finite; ``ValueError`` naming it."""
    x = np.asarray(a, np.float64)
    if x.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, x.shape)):
        want = "(" + ", ".join("·" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"plan {name}: shape {x.shape}, expected {want}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"plan {name}: not all finite")
    return x


def plan_trajectory(
    kit: MessageKit,
    *,
    stamp: float,
    frame_id: str,
    joint_names: Sequence[str],
    positions: Any,
    dt: float,
    velocities: Any | None = None,
) -> Any:
    """``JointTrajectory`` of the planned joint states.

    Args:
        stamp: the plan's time (s; the state it starts from).
        frame_id: the robot's base frame.
        joint_names: ``J`` names.
        positions: ``(H, J)`` planned positions (m or rad) after steps 1..H.
        dt: the control period (s).
        velocities: optional ``(H, J)`` (m/s or rad/s).
    Raises ``ValueError`` for wrong shapes, non-finite values or ``dt <= 0``.
    """
    j = len(joint_names)
    q = _finite("positions", positions, (None, j))
    qd = None if velocities is None else _finite("velocities", velocities, q.shape)
    if not dt > 0:
        raise ValueError(f"plan dt must be > 0 s, got {dt}")
    points = [
        kit.new(
            "trajectory_msgs/msg/JointTrajectoryPoint",
            positions=kit.floats(q[k]),
            velocities=kit.floats(np.zeros(0) if qd is None else qd[k]),
            time_from_start=_duration(kit, (k + 1) * dt),
        )
        for k in range(len(q))
    ]
    return kit.new(
        "trajectory_msgs/msg/JointTrajectory",
        header=_header(kit, stamp, frame_id),
        joint_names=list(joint_names),
        points=points,
    )


def plan_markers(
    kit: MessageKit,
    *,
    stamp: float,
    frame_id: str,
    paths: Any,
    ns: str = "plan",
    width: float = 0.01,
    lifetime: float = 0.0,
) -> Any:
    """``MarkerArray``: one ``LINE_STRIP`` per member's predicted path and one for their mean.

    Args:
        stamp: the plan's time (s).
        frame_id: the frame the points are in (the robot's base frame).
        paths: ``(E, K, 3)`` predicted tip positions (m) per member, K >= 2 points each
            (typically the start and the H predicted steps).
        ns: marker namespace prefix.
        width: line width (m).
        lifetime: seconds a marker stays without a newer plan (0: until replaced).
    Raises ``ValueError`` for wrong shapes or non-finite values.
    """
    p = _finite("paths", paths, (None, None, 3))
    if p.shape[0] < 1 or p.shape[1] < 2:
        raise ValueError(f"plan paths: need >= 1 member and >= 2 points each, got {p.shape}")
    line_strip = kit.constants("visualization_msgs/msg/Marker").LINE_STRIP
    add = kit.constants("visualization_msgs/msg/Marker").ADD

    def strip(path: np.ndarray, marker_ns: str, marker_id: int, color: tuple) -> Any:
        r, g, b, a = (float(c) for c in color)
        return kit.new(
            "visualization_msgs/msg/Marker",
            header=_header(kit, stamp, frame_id),
            ns=marker_ns,
            id=marker_id,
            type=line_strip,
            action=add,
            pose=kit.new(
                "geometry_msgs/msg/Pose",
                orientation=kit.new("geometry_msgs/msg/Quaternion", w=1.0),
            ),
            scale=kit.new("geometry_msgs/msg/Vector3", x=float(width)),
            color=kit.new("std_msgs/msg/ColorRGBA", r=r, g=g, b=b, a=a),
            lifetime=_duration(kit, lifetime),
            points=[
                kit.new("geometry_msgs/msg/Point", x=float(x), y=float(y), z=float(z))
                for x, y, z in path
            ],
        )

    markers = [strip(path, f"{ns}/members", e, MEMBER_RGBA) for e, path in enumerate(p)]
    markers.append(strip(p.mean(axis=0), f"{ns}/mean", 0, MEAN_RGBA))
    return kit.new("visualization_msgs/msg/MarkerArray", markers=markers)
