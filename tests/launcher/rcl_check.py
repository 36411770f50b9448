"""Real rcl, in process: the parameter overrides a node gets from its command line.

``rcl_params(argv)`` hands the ``--ros-args`` part of ``argv`` to a fresh rclpy context
(``rcl_parse_arguments`` + ``rcl_yaml_param_parser``, exactly what a node process does with
its command line) and returns every parameter override as ``name -> value``. No DDS traffic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_BUILTIN = ("use_sim_time", "start_type_description_service")


def rcl_params(argv: Sequence[str]) -> dict[str, object]:
    """The parameter overrides real rcl reads from a node command line (``name -> value``)."""
    import rclpy
    from rclpy.node import Node

    argv = list(argv)
    ros_args = argv[argv.index("--ros-args") :] if "--ros-args" in argv else []
    context = rclpy.Context()
    rclpy.init(args=["node", *ros_args], context=context)
    try:
        node = Node("n", context=context, automatically_declare_parameters_from_overrides=True)
        try:
            names = [n for n in node._parameters if n not in _BUILTIN]  # one per override
            return {name: node.get_parameter(name).value for name in names}
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def same_value(a: object, b: object) -> bool:
    """Equal and of the same type (lists item by item; NaN equals NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
