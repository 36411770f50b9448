"""Build ``diagnostic_msgs/DiagnosticArray`` messages from levels, messages and values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

__all__ = ["DiagnosticStatus", "array_of", "diagnostic_array", "status_of", "values_of"]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def status_of(
    name: str, hardware_id: str, level: int, message: str, values: Mapping[str, Any]
) -> DiagnosticStatus:
    """One status named ``name`` with ``values`` as key/value strings."""
    return DiagnosticStatus(
        level=bytes([int(level)]),
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=_fmt(v)) for k, v in values.items()],
    )


def array_of(node: Node, statuses: Sequence[DiagnosticStatus]) -> DiagnosticArray:
    """The statuses in one array, stamped now on ``node``'s clock."""
    msg = DiagnosticArray(status=list(statuses))
    msg.header.stamp = node.get_clock().now().to_msg()
    return msg


def diagnostic_array(
    node: Node, name: str, hardware_id: str, level: int, message: str, values: Mapping[str, Any]
) -> DiagnosticArray:
    """One status named ``name`` with ``values`` as key/value strings, stamped now."""
    return array_of(node, [status_of(name, hardware_id, level, message, values)])


def values_of(status: DiagnosticStatus) -> dict[str, str]:
    """The key/value pairs of a received status, as a dict (for tests and tools)."""
    return {kv.key: kv.value for kv in status.values}
