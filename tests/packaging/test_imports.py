"""The package imports light: no rclpy or torch behind ``import mbrl_control``."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys, {module}
heavy = sorted(m for m in ("torch", "rclpy", "pybullet", "matplotlib") if m in sys.modules)
print(",".join(heavy))
"""


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("mbrl_control", {"torch", "rclpy", "pybullet", "matplotlib"}),
        ("mbrl_control.cli", {"torch", "rclpy", "pybullet", "matplotlib"}),
        ("mbrl_control.tasks", {"torch", "rclpy", "pybullet"}),
        # the control path: numpy + onnxruntime (+ rclpy in the node), never torch
        ("mbrl_control.export.runtime", {"torch", "rclpy", "pybullet"}),
        ("mbrl_control.control.core", {"torch", "rclpy", "pybullet"}),
        ("mbrl_control.ros.controller_node", {"torch", "pybullet", "matplotlib"}),
        ("mbrl_control.control.pixel_core", {"torch", "rclpy", "pybullet"}),
        ("mbrl_control.ros.pixel_controller_node", {"torch", "pybullet", "matplotlib"}),
    ],
)
def test_import_is_light(module: str, forbidden: set[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    loaded = set(filter(None, out.split(",")))
    assert not (loaded & forbidden), f"import {module} pulled in {loaded & forbidden}"


def test_cli_help_lists_subcommands() -> None:
    from mbrl_control.cli import COMMANDS

    out = subprocess.run(
        [sys.executable, "-m", "mbrl_control.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize(
    "exe", ["mbrl-control", "sim_node", "mpc_controller", "finetune_node", "pixel_controller"]
)
def test_console_script_help(exe: str) -> None:
    """Every console script answers --help without starting ROS or loading a model."""
    from pathlib import Path

    path = Path(sys.executable).with_name(exe)
    out = subprocess.run([str(path), "--help"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("usage:")
    if exe != "mbrl-control":
        assert "parameters:" in out and "--ros-args" in out
