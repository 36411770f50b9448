"""``main`` for every node: Jazzy-safe init/shutdown around a single-threaded executor.

Callbacks are short (long work runs in the controller's planning thread or in a training
process), so one executor thread serves them all; rclpy's MultiThreadedExecutor was measured
to busy-spin a core here while a long callback held its group.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def usage(exe: str, description: str, config_cls: type) -> str:
    """``--help`` text: how to pass parameters, and each parameter with its default."""
    lines = [f"usage: {exe} [--ros-args -p NAME:=VALUE ... -r FROM:=TO ...]", "", description, ""]
    lines.append("parameters:")
    for f in dataclasses.fields(config_cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"  {f.name:<20} {f.metadata.get('doc', '')} (default: {default!r})")
    return "\n".join(lines)


def run_node(
    make_node: Callable[[], Node],
    args: list[str] | None = None,
    help_text: str = "",
) -> int:
    """Init rclpy, build the node, spin it until Ctrl-C or shutdown, always clean up.

    ``-h``/``--help`` before ``--ros-args`` prints ``help_text`` and exits.

    ``rclpy.init`` returns None on Jazzy (no context manager), and the node may fail to
    construct, so ``node`` starts as None and is destroyed only if it exists.
    """
    argv = sys.argv[1:] if args is None else args
    user_args = argv[: argv.index("--ros-args")] if "--ros-args" in argv else argv
    if {"-h", "--help"} & set(user_args):
        print(help_text)
        return 0
    rclpy.init(args=args)
    node: Node | None = None
    try:
        node = make_node()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
