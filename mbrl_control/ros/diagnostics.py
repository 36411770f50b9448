"""Build ``diagnostic_msgs/DiagnosticArray`` messages from a level, a message and values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def diagnostic_array(
    node: Node, name: str, hardware_id: str, level: int, message: str, values: Mapping[str, Any]
) -> DiagnosticArray:
    """One status named ``name`` with ``values`` as key/value strings, stamped now."""
    status = DiagnosticStatus(
        level=bytes([int(level)]),
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=_fmt(v)) for k, v in values.items()],
    )
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = node.get_clock().now().to_msg()
    return msg


def values_of(status: DiagnosticStatus) -> dict[str, str]:
    """The key/value pairs of a received status, as a dict (for tests and tools)."""
    return {kv.key: kv.value for kv in status.values}
