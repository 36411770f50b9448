"""Declare a node's parameters from a frozen config dataclass, with descriptors.

Each dataclass field becomes one ROS parameter of the same name, typed from its default,
described by ``field(metadata={"doc": ...})``, with an optional ``range`` (floats/ints) and
``read_only`` flag. Values read back are validated by the dataclass's own ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

C = TypeVar("C")

_TYPES = {
    bool: Parameter.Type.BOOL,
    int: Parameter.Type.INTEGER,
    float: Parameter.Type.DOUBLE,
    str: Parameter.Type.STRING,
}


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def _param_type(f: dataclasses.Field, default: Any) -> Parameter.Type:
    if isinstance(default, list):
        inner = "float" in str(f.type) and Parameter.Type.DOUBLE_ARRAY
        return inner or Parameter.Type.STRING_ARRAY
    return _TYPES[type(default)]


def descriptor(f: dataclasses.Field, ptype: Parameter.Type) -> ParameterDescriptor:
    meta = f.metadata
    d = ParameterDescriptor(
        name=f.name,
        type=ptype.value,
        description=meta.get("doc", ""),
        read_only=bool(meta.get("read_only", False)),
        dynamic_typing=False,
    )
    if "range" in meta:
        lo, hi = meta["range"]
        if ptype == Parameter.Type.DOUBLE:
            d.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]
        elif ptype == Parameter.Type.INTEGER:
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
    return d


def declare_config(node: Node, cls: type[C]) -> C:
    """Declare every field of ``cls`` as a parameter and build ``cls`` from the values."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        default = _default(f)
        ptype = _param_type(f, default)
        # An empty list carries no element type: declare it by type instead of by value.
        initial = ptype if isinstance(default, list) and not default else default
        value = node.declare_parameter(f.name, initial, descriptor(f, ptype)).value
        if value is None:
            value = default
        values[f.name] = list(value) if isinstance(default, list) else value
    return cls(**values)
