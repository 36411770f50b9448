"""Write ROS 2 messages to one MCAP file as ``ros2 bag record -s mcap`` does, without ROS.

:class:`McapBagWriter` writes the ``ros2`` MCAP profile: one ``ros2msg`` schema per message
type (the full ROS 2 definition text with its dependencies, as rosbag2 stores it), one
``cdr`` channel per topic, and CDR-serialized messages. Message classes and definitions come
from the ``rosbags`` ROS 2 Jazzy type store (:func:`typestore`), so the file opens in
Foxglove, ``ros2 bag``, the ``rosbags`` library and the ``mcap`` reader alike.

Crash safety (DESIGN.md §5): the file is written under ``NAME.part`` and only renamed to
``NAME`` after the MCAP footer is written and fsynced (:meth:`McapBagWriter.close`); a run
that dies leaves ``NAME.part`` (readable up to its last full chunk by ``mcap recover``) and
never a truncated ``NAME``.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

PROFILE = "ros2"
SCHEMA_ENCODING = "ros2msg"
MESSAGE_ENCODING = "cdr"


@cache
def typestore() -> Any:
    """The ``rosbags`` type store of ROS 2 Jazzy (message classes, definitions, CDR)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


def msg_class(typename: str) -> Any:
    """The message class of ``typename`` (``pkg/msg/Name``); ``KeyError`` naming it if the
    type store has no such type."""
    try:
        return typestore().types[typename]
    except KeyError:
        raise KeyError(f"unknown ROS 2 message type {typename!r}") from None


_DTYPES = {"byte": "uint8", "char": "uint8", "bool": "bool"}
_NUMERIC = ("float", "int", "uint", "byte", "char", "bool")


def _default(node: tuple[Any, Any]) -> Any:
    """The zero value of one field definition of the type store (rosbags ``Nodetype``:
    1 base, 2 message, 3 fixed array, 4 sequence)."""
    kind, spec = int(node[0]), node[1]
    if kind == 1:
        name = spec[0]
        if name == "string" or name == "wstring":
            return ""
        if name == "bool":
            return False
        return 0.0 if name.startswith("float") else 0
    if kind == 2:
        return new_message(spec)
    inner, size = spec
    length = size if kind == 3 else 0
    if int(inner[0]) == 1 and inner[1][0].startswith(_NUMERIC):
        return np.zeros(length, _DTYPES.get(inner[1][0], inner[1][0]))
    return [_default(inner) for _ in range(length)]


def new_message(typename: str, **fields: Any) -> Any:
    """A ``rosbags`` message of ``typename`` with ``fields`` set and every other field at its
    zero value (as rclpy's constructors do). ``KeyError`` for an unknown type, ``TypeError``
    for an unknown field (naming it)."""
    cls = msg_class(typename)
    _, defs = typestore().fielddefs[typename]
    names = [name for name, _ in defs]
    unknown = sorted(set(fields) - set(names))
    if unknown:
        raise TypeError(f"{typename} has no field(s) {unknown}; fields: {names}")
    return cls(**{name: fields[name] if name in fields else _default(node) for name, node in defs})


def stamp(t: float) -> Any:
    """``builtin_interfaces/msg/Time`` of ``t`` seconds (t >= 0)."""
    ns = seconds_to_ns(t)
    return msg_class("builtin_interfaces/msg/Time")(
        sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000
    )


def header(t: float, frame_id: str = "") -> Any:
    """``std_msgs/msg/Header`` stamped ``t`` seconds."""
    return msg_class("std_msgs/msg/Header")(stamp=stamp(t), frame_id=frame_id)


def seconds_to_ns(t: float) -> int:
    """``t`` seconds as integer nanoseconds; ``ValueError`` for a negative or non-finite t."""
    if not t >= 0.0 or t == float("inf"):
        raise ValueError(f"time {t} s: must be finite and >= 0")
    return round(t * 1e9)


class McapBagWriter:
    """Messages to ``path`` (an ``.mcap`` file; written as ``path.part`` until closed).

    Usage::

        with McapBagWriter("run.mcap") as bag:
            bag.write("/joint_states", "sensor_msgs/msg/JointState", msg, t=0.02)

    Messages must be written in non-decreasing time (the recorder's clock is monotonic);
    ``ValueError`` otherwise, naming the topic. ``path`` must not exist (no silent overwrite:
    ``FileExistsError``); its folder is created.
    """

    def __init__(self, path: str | Path, *, library: str = "mbrl_control") -> None:
        from mcap.writer import CompressionType, Writer

        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"{self.path}: already exists (choose a new recording name)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.part = self.path.with_name(self.path.name + ".part")
        self._file = open(self.part, "wb")  # noqa: SIM115 (closed in close())
        self._mcap = Writer(self._file, compression=CompressionType.ZSTD)
        self._mcap.start(profile=PROFILE, library=library)
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, tuple[int, str]] = {}
        self._sequence: dict[str, int] = {}
        self._last_ns = 0
        self.closed = False
        self.count = 0
        """Messages written."""

    @property
    def topics(self) -> dict[str, str]:
        """Topic -> message type written so far."""
        return {topic: typename for topic, (_, typename) in self._channels.items()}

    def _channel(self, topic: str, typename: str) -> int:
        if topic in self._channels:
            channel, known = self._channels[topic]
            if known != typename:
                raise ValueError(f"topic {topic}: type {typename} but it was recorded as {known}")
            return channel
        if typename not in self._schemas:
            text, _ = typestore().generate_msgdef(typename, ros_version=2)
            self._schemas[typename] = self._mcap.register_schema(
                name=typename, encoding=SCHEMA_ENCODING, data=text.encode()
            )
        channel = self._mcap.register_channel(
            topic=topic,
            message_encoding=MESSAGE_ENCODING,
            schema_id=self._schemas[typename],
            metadata={"offered_qos_profiles": ""},
        )
        self._channels[topic] = (channel, typename)
        return channel

    def write(self, topic: str, typename: str, msg: Any, t: float) -> None:
        """Write ``msg`` (a ``rosbags`` message of ``typename``) on ``topic`` at ``t`` s (its
        log and publish time). ``ValueError`` if the topic had another type or ``t`` is earlier
        than the last message's."""
        if self.closed:
            raise ValueError(f"{self.path}: recording already closed")
        ns = seconds_to_ns(t)
        if ns < self._last_ns:
            raise ValueError(f"topic {topic}: time {t} s is before the last message's")
        channel = self._channel(topic, typename)
        data = typestore().serialize_cdr(msg, typename)
        seq = self._sequence.get(topic, 0)
        self._mcap.add_message(channel, log_time=ns, data=data, publish_time=ns, sequence=seq)
        self._sequence[topic] = seq + 1
        self._last_ns = ns
        self.count += 1

    def close(self) -> Path:
        """Finish the file, fsync it and rename ``NAME.part`` to ``NAME``; returns ``NAME``.
        Safe to call twice."""
        if not self.closed:
            self.closed = True
            self._mcap.finish()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.part, self.path)
        return self.path

    def abandon(self, *, remove: bool = False) -> None:
        """Close without publishing the file: ``NAME.part`` stays for inspection (``remove``:
        it goes too, e.g. when nothing was recorded)."""
        if not self.closed:
            self.closed = True
            self._file.close()
            if remove:
                self.part.unlink(missing_ok=True)

    def __enter__(self) -> McapBagWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abandon()
