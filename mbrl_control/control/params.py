"""Metadata for node parameters declared from config dataclasses.

A field's ``metadata=param_meta("what it is", range=(lo, hi), read_only=True)`` becomes the
ROS parameter's descriptor (``mbrl_control.ros.params.declare_config``) and its ``--help``
line. No rclpy here, so core configs can use it.
"""

from __future__ import annotations

from typing import Any


def param_meta(doc: str, **extra: Any) -> dict[str, Any]:
    """``{"doc": doc, **extra}``; extra keys: ``range`` (lo, hi), ``read_only`` (bool)."""
    return {"doc": doc, **extra}
