"""Write real rosbag2 bags with the ``rosbags`` writer (MCAP or sqlite3 storage).

A recording is a list of :class:`Msg` (topic, log time, payload); :func:`robot_run` makes the
usual one: a cart-pole driver publishing JointState at its rate and a controller answering
each state with a command a few ms later.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

TS = get_typestore(Stores.ROS2_JAZZY)
TYPES = {
    "joint_states": "sensor_msgs/msg/JointState",
    "commands": "std_msgs/msg/Float64MultiArray",
    "goal": "geometry_msgs/msg/PointStamped",
    "episode_start": "std_msgs/msg/Header",
}
EPOCH = 1_700_000_000.0  # stamps "from the epoch" (s)


@dataclass
class Msg:
    topic: str
    log: float
    """log (receive) time, s"""
    data: dict[str, Any]
    """joint_states: stamp, names, position, velocity; commands: data; episode_start: stamp;
    goal: stamp, x, y, z (PointStamped) or values (Float64MultiArray)"""


def _time(t: float) -> Any:
    ns = round(t * 1e9)
    return TS.types["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9)


def _header(t: float) -> Any:
    return TS.types["std_msgs/msg/Header"](stamp=_time(t), frame_id="")


def _build(role: str, d: dict[str, Any]) -> Any:
    T = TS.types
    if role == "joint_states":
        n = len(d["names"])
        return T["sensor_msgs/msg/JointState"](
            header=_header(d["stamp"]),
            name=list(d["names"]),
            position=np.asarray(d["position"], np.float64),
            velocity=np.asarray(d["velocity"], np.float64),
            effort=np.zeros(n if d.get("effort") else 0),
        )
    if role == "commands":
        layout = T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
        return T["std_msgs/msg/Float64MultiArray"](
            layout=layout, data=np.asarray(d["data"], np.float64)
        )
    if role == "episode_start":
        return _header(d["stamp"])
    if "values" in d:  # a goal of other than 3 values: Float64MultiArray, as mpc_controller
        layout = T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
        return T["std_msgs/msg/Float64MultiArray"](
            layout=layout, data=np.asarray(d["values"], np.float64)
        )
    p = T["geometry_msgs/msg/Point"](x=d["x"], y=d["y"], z=d["z"])
    return T["geometry_msgs/msg/PointStamped"](header=_header(d["stamp"]), point=p)


def write_bag(path: Path, msgs: Sequence[Msg], storage: str = "mcap") -> Path:
    """A rosbag2 directory at ``path`` with ``mcap`` or ``sqlite3`` storage; ``file`` / ``db3``
    write an MCAP / sqlite3 directory and return its lone storage file, moved out of it
    (no ``metadata.yaml``)."""
    plugin = StoragePlugin.SQLITE3 if storage in ("sqlite3", "db3") else StoragePlugin.MCAP
    with Writer(path, version=9, storage_plugin=plugin) as w:
        conns = {}
        for m in sorted(msgs, key=lambda m: m.log):
            role = m.topic.rpartition("/")[2]
            msgtype = "std_msgs/msg/Float64MultiArray" if "values" in m.data else TYPES[role]
            if m.topic not in conns:
                conns[m.topic] = w.add_connection(m.topic, msgtype, typestore=TS)
            raw = TS.serialize_cdr(_build(role, m.data), msgtype)
            w.write(conns[m.topic], round(m.log * 1e9), raw)
    if storage not in ("file", "db3"):
        return path
    suffix = ".db3" if storage == "db3" else ".mcap"
    (lone,) = path.glob("*" + suffix)
    single = path.with_suffix(suffix)
    shutil.move(lone, single)
    shutil.rmtree(path)
    return single


def cart_state(t: float) -> tuple[list[float], list[float]]:
    """(positions, velocities) of the test trajectory in the task's joint order
    ``(slider_to_cart, cart_to_pole)``: x = 0.1 t, theta = 3 + 0.2 t."""
    return [0.1 * t, 3.0 + 0.2 * t], [0.1, 0.2]


def robot_run(
    times: Sequence[float],
    *,
    stamp0: float = 0.0,
    log0: float = EPOCH,
    names: Sequence[str] = ("slider_to_cart", "cart_to_pole"),
    extra: bool = False,
    ns: str = "",
    command_delay: float = 0.004,
    positions: Any = None,
) -> list[Msg]:
    """JointStates at robot times ``times`` (s; header stamp = stamp0 + t, log time =
    log0 + t + 1 ms) and a command ``k`` logged ``command_delay`` after state k.

    ``names`` reorders the joints; ``extra`` adds a joint the task does not read;
    ``positions(k, t)`` overrides the ``(positions, velocities)`` of state k (task order)."""
    out = []
    order = [("slider_to_cart", "cart_to_pole").index(n) for n in names]
    for k, t in enumerate(times):
        pos, vel = cart_state(t) if positions is None else positions(k, t)
        js = {
            "stamp": stamp0 + t,
            "names": list(names) + (["camera_tilt"] if extra else []),
            "position": [pos[i] for i in order] + ([0.7] if extra else []),
            "velocity": [vel[i] for i in order] + ([0.0] if extra else []),
        }
        out.append(Msg(f"{ns}/joint_states", log0 + t + 0.001, js))
        out.append(Msg(f"{ns}/commands", log0 + t + 0.001 + command_delay, {"data": [float(k)]}))
    return out
