"""The shipped launch files parse with their defaults and give the expected node commands."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mbrl_control.launcher import parser, plan

REPO = Path(__file__).resolve().parents[2]
NODES = ("sim_node", "mpc_controller", "finetune_node")


@pytest.fixture
def installed(prefix):
    """A fake colcon install of mbrl_control: executables and config files."""
    for node in NODES:
        prefix.add_executable("mbrl_control", node)
        prefix.add_share_file("mbrl_control", f"config/{node}.yaml", f"{node}: {{}}\n")
    return prefix


def _expected(prefix, node: str, *params: str) -> tuple[str, ...]:
    share = prefix.root / "share" / "mbrl_control" / "config"
    rules = [x for p in params for x in ("-p", p)]
    return (
        str(prefix.root / "lib" / "mbrl_control" / node),
        "--ros-args",
        "-r",
        f"__node:={node}",
        "--params-file",
        str(share / f"{node}.yaml"),
        *rules,
    )


def test_sim_mpc_defaults(installed) -> None:
    launch = parser.load(REPO / "launch" / "sim_mpc.launch.yaml")
    sim, ctrl = plan.plan(launch, {}, installed.environ())
    assert (sim.label, sim.output, sim.required) == ("sim_node", "screen", True)
    assert sim.argv == _expected(
        installed,
        "sim_node",
        'task:="cartpole_swingup"',
        'profile:="default"',
        "rate:=0.0",
        "real_time_factor:=1.0",
    )
    assert (ctrl.label, ctrl.output, ctrl.required) == ("mpc_controller", "screen", True)
    assert ctrl.argv == _expected(
        installed, "mpc_controller", 'task:="cartpole_swingup"', 'model_path:=""'
    )


def test_sim_mpc_overrides_keep_types(installed) -> None:
    launch = parser.load(REPO / "launch" / "sim_mpc.launch.yaml")
    args = {"task": "arm_reach", "model_path": "/m/p.onnx", "rate": "100", "profile": "wide"}
    sim, ctrl = plan.plan(launch, args, installed.environ())
    assert sim.argv[-8:] == (
        "-p", 'task:="arm_reach"', "-p", 'profile:="wide"', "-p", "rate:=100.0",
        "-p", "real_time_factor:=1.0",
    )  # fmt: skip
    assert ctrl.argv[-2:] == ("-p", 'model_path:="/m/p.onnx"')


def test_sim_to_real_defaults(installed) -> None:
    launch = parser.load(REPO / "launch" / "sim_to_real.launch.yaml")
    sim, ctrl, tune = plan.plan(launch, {}, installed.environ(HOME="/home/u"))
    models = "/home/u/.mbrl_control/models"
    assert sim.argv == _expected(
        installed,
        "sim_node",
        'task:="cartpole_swingup"',
        'profile:="reality_gap"',
        "rate:=0.0",
        "real_time_factor:=1.0",
    )
    assert ctrl.argv == _expected(
        installed,
        "mpc_controller",
        'task:="cartpole_swingup"',
        f'model_path:="{models}/planner.onnx"',
    )
    assert tune.argv == _expected(
        installed,
        "finetune_node",
        'task:="cartpole_swingup"',
        f'model_dir:="{models}"',
        f'planner:="{models}/planner.onnx"',
        f'checkpoint:="{models}/model.pt"',
        f'data_dir:="{models}/real_data"',
    )
    assert all(c.required and c.output == "screen" for c in (sim, ctrl, tune))


@pytest.mark.parametrize("name", ["sim_mpc.launch.yaml", "sim_to_real.launch.yaml"])
def test_launch_files_resolve_from_this_checkout(name: str, monkeypatch) -> None:
    """Without an ament prefix: config from the checkout, executables from the venv's bin/."""
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    monkeypatch.setenv("HOME", "/home/u")
    missing = [n for n in NODES if not (REPO / "config" / f"{n}.yaml").is_file()]
    if name == "sim_to_real.launch.yaml" and missing:
        pytest.skip(f"config files not written yet: {missing}")
    for cmd in plan.plan(parser.load(REPO / "launch" / name), {}, dict(os.environ)):
        assert Path(cmd.argv[0]).name == cmd.label
        params_file = cmd.argv[cmd.argv.index("--params-file") + 1]
        assert params_file == str(REPO / "config" / f"{cmd.label}.yaml")
