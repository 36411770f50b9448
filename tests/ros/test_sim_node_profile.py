"""sim_node's domain randomization defaults to the task's own ``dr_profile`` (as every
``mbrl-control`` command does), through the node alone and through the sim_mpc launch file;
a ``profile`` parameter still wins. The node used to run profile 'default' for every task."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[2]
SIM_NODE = str(Path(sys.executable).with_name("sim_node"))
CLI = str(Path(sys.executable).with_name("mbrl-control"))
BUILTIN_CARTPOLE = REPO / "mbrl_control" / "tasks" / "builtin" / "cartpole_swingup.task.yaml"


@pytest.fixture
def nominal_cartpole(tmp_path: Path) -> Path:
    """The built-in cart-pole task file with ``dr_profile: nominal`` (its URDF is a
    package:// URI, so the copy loads from anywhere)."""
    data = yaml.safe_load(BUILTIN_CARTPOLE.read_text())
    data["dr_profile"] = "nominal"
    path = tmp_path / "cartpole_nominal.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _first_episode(spawn, ros_env, ros_probe, name: str, argv: list[str]) -> str:
    from sensor_msgs.msg import JointState

    states = ros_probe.collect(JointState, "/joint_states")
    proc = spawn(name, argv, ros_env)
    ros_probe.wait_for(lambda: len(states) > 5, 120, "joint states")
    proc.stop()
    line = next(x for x in proc.output().splitlines() if "episode 0: profile" in x)
    return line.split("episode 0: profile ", 1)[1].split(",", 1)[0]


def test_sim_node_runs_the_task_files_dr_profile(spawn, ros_env, ros_probe, nominal_cartpole):
    argv = [SIM_NODE, "--ros-args", "-p", f"task:={nominal_cartpole}"]
    assert _first_episode(spawn, ros_env, ros_probe, "sim", argv) == "nominal"


def test_sim_node_profile_parameter_wins(spawn, ros_env, ros_probe, nominal_cartpole):
    argv = [SIM_NODE, "--ros-args", "-p", f"task:={nominal_cartpole}", "-p", "profile:=none"]
    assert _first_episode(spawn, ros_env, ros_probe, "sim", argv) == "none"


@pytest.mark.slow
def test_sim_mpc_launch_runs_the_task_files_dr_profile(
    spawn, ros_env, ros_probe, nominal_cartpole, planner_dir
):
    launch = REPO / "launch" / "sim_mpc.launch.yaml"
    argv = [CLI, "launch", str(launch), f"task:={nominal_cartpole}"]
    argv.append(f"model_path:={planner_dir / 'planner_a.onnx'}")
    assert _first_episode(spawn, ros_env, ros_probe, "launch", argv) == "nominal"
