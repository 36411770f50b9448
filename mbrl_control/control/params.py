"""Metadata for node parameters declared from config dataclasses.

A field's ``metadata=param_meta("what it is", range=(lo, hi), read_only=True)`` becomes the
ROS parameter's descriptor (``mbrl_control.ros.params.declare_config``) and its ``--help``
line. No rclpy here, so core configs can use it.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

META_KEYS = ("range", "read_only", "choices")


def param_meta(doc: str, **extra: Any) -> dict[str, Any]:
    """``{"doc": doc, **extra}``.

    Extra keys: ``range`` (lo, hi) for numbers (inclusive; checked at start-up and on every
    set), ``read_only`` (bool: a live set is refused), ``choices`` (tuple of allowed values,
    checked the same way and listed in the descriptor's ``additional_constraints``).

    Raises:
        TypeError: an unknown extra key (a typo would silently drop a constraint).
    """
    unknown = set(extra) - set(META_KEYS)
    if unknown:
        raise TypeError(f"param_meta: unknown keys {sorted(unknown)}; allowed: {META_KEYS}")
    return {"doc": doc, **extra}


def thread_priority_field() -> Any:
    """The ``thread_priority`` parameter of a node with a control loop (read-only, default 0:
    the OS's normal scheduling), as ros2_control's controller manager has it."""
    return field(
        default=0,
        metadata=param_meta(
            "SCHED_FIFO priority (1-99) of the planning thread, as ros2_control's "
            "thread_priority; 0 = the OS's normal scheduling. Refused by the OS (no "
            "CAP_SYS_NICE, rtprio limit 0): one warning, normal scheduling, said on /diagnostics",
            read_only=True,
            range=(0, 99),
        ),
    )


def autostart_field() -> Any:
    """The ``autostart`` parameter every managed node has (read-only, default off)."""
    return field(
        default=False,
        metadata=param_meta(
            "configure and activate at start-up (else: ros2 lifecycle set <node> configure, "
            "then activate)",
            read_only=True,
        ),
    )
