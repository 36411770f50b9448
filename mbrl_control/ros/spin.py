"""``main`` for every node: Jazzy-safe init/shutdown around a single-threaded executor.

Callbacks are short (long work runs in the controller's planning thread or in a training
process), so one executor thread serves them all; rclpy's MultiThreadedExecutor was measured
to busy-spin a core here while a long callback held its group.

Errors follow the CLI's policy (:mod:`mbrl_control.cli.errors`): a bad argument or start-up
parameter prints one line ``<node>: error: ...`` and exits 2; the traceback only with
``--debug`` (before ``--ros-args``) or ``MBRL_CONTROL_DEBUG=1``.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.utilities import remove_ros_args

from mbrl_control.cli.errors import UsageError, debug_requested, report, stdout_closed
from mbrl_control.cli.text import plain

OWN_FLAGS = ("-h", "--help", "--debug")


def _constraints(meta: dict) -> str:
    parts = []
    if "range" in meta:
        parts.append(f"range {list(meta['range'])}")
    if "choices" in meta:
        parts.append("one of " + ", ".join(map(str, meta["choices"])))
    if meta.get("read_only"):
        parts.append("read-only")
    return f"; {'; '.join(parts)}" if parts else ""


def usage(exe: str, description: str, config_cls: type) -> str:
    """``--help`` text: how to pass parameters, and each parameter with its default."""
    lines = [
        f"usage: {exe} [--debug] [--ros-args -p NAME:=VALUE ... -r FROM:=TO ...]",
        "",
        plain(description or "").strip(),
        "",
        "options:",
        "  -h, --help           show this help and exit",
        "  --debug              print the full traceback on errors",
        "",
        "parameters: (NAME  meaning (default; constraints); integers are fine for doubles)",
    ]
    for f in dataclasses.fields(config_cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        doc = plain(f.metadata.get("doc", ""))
        lines.append(f"  {f.name:<20} {doc} (default: {default!r}{_constraints(f.metadata)})")
    return "\n".join(lines)


def _prog() -> str:
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "node"
    return name.removesuffix(".py")


def _user_args(argv: list[str]) -> list[str]:
    """``argv`` (without the program) minus ROS arguments; raises UsageError if unparsable."""
    try:
        return remove_ros_args(["prog", *argv])[1:]
    except Exception as exc:  # RCLInvalidROSArgsError: keep rcl's sentence, drop its C trace
        reason = str(exc).split(" Error: ")[0].split(", at /")[0]
        raise UsageError(f"{reason} (use --ros-args -p NAME:=VALUE -r FROM:=TO)") from None


def warn_unknown_overrides(node: Node) -> list[str]:
    """WARN once per ``-p``/params-file value the node never declared (a typo such as
    ``-p control_rat:=50`` is otherwise silently ignored); returns those names.

    A warning, not an error: wildcard (``/**``) params files legitimately carry other
    nodes' parameters. rclpy keeps the overrides in ``Node._parameter_overrides``.
    """
    overrides = getattr(node, "_parameter_overrides", None) or {}
    unknown = sorted(name for name in overrides if not node.has_parameter(name))
    for name in unknown:
        node.get_logger().warning(
            f"ignoring parameter {name!r}: {node.get_name()} has no such parameter (see --help)"
        )
    return unknown


def run_node(
    make_node: Callable[[], Node],
    args: list[str] | None = None,
    help_text: str = "",
    prog: str | None = None,
) -> int:
    """Init rclpy, build the node, spin it until Ctrl-C or shutdown, always clean up.

    Args:
        make_node: builds the node (raises ValueError/ParameterError/... on bad parameters).
        args: command line without the program name (None: ``sys.argv[1:]``).
        help_text: printed for ``-h``/``--help`` (before ``--ros-args``).
        prog: name in messages (default: the executable's name).

    Returns:
        0 after a clean shutdown, 2 for a bad argument or start-up parameter (one line on
        stderr), 1 for an unexpected error.

    ``rclpy.init`` returns None on Jazzy (no context manager), and the node may fail to
    construct, so ``node`` starts as None and is destroyed only if it exists.
    """
    argv = sys.argv[1:] if args is None else list(args)
    prog = prog or _prog()
    debug = debug_requested(argv[: argv.index("--ros-args")] if "--ros-args" in argv else argv)
    try:
        user = _user_args(argv)
        if {"-h", "--help"} & set(user):
            try:
                print(help_text, flush=True)
            except BrokenPipeError:  # --help | head
                return stdout_closed()
            return 0
        unknown = [a for a in user if a not in OWN_FLAGS]
        if unknown:
            raise UsageError(
                f"unknown argument {unknown[0]!r}; allowed: {', '.join(OWN_FLAGS)}, "
                "then --ros-args -p NAME:=VALUE (see --help)"
            )
    except UsageError as exc:
        return report(prog, exc, debug)
    rclpy.init(args=[prog, *argv])
    node: Node | None = None
    code = 0
    try:
        node = make_node()
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, ExternalShutdownException)):
            code = 0
        else:
            code = report(prog, exc, debug)
    else:
        warn_unknown_overrides(node)
        try:
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            executor.spin()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        except Exception as exc:
            code = report(prog, exc, debug)
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code
