"""The acrobot over ROS: a robot defined only by examples/acrobot (a URDF and a task file) runs
under ``mbrl-control launch launch/sim_mpc.launch.yaml task:=<task file>`` with real sim_node
and mpc_controller processes; no Python is written for the robot.

Relative paths in launch arguments (``task:=examples/...``) reach the nodes as given and
resolve against the working directory the launch was started in (the nodes inherit it, as
under ``ros2 launch``), not against the launch file's directory.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("mbrl-control"))
SIM_NODE = str(Path(sys.executable).with_name("sim_node"))
TASK_FILE = REPO / "examples" / "acrobot" / "acrobot_swingup.task.yaml"
LAUNCH = REPO / "launch" / "sim_mpc.launch.yaml"
TORQUE_LIMIT = 2.0  # N·m, the URDF's elbow effort limit


@pytest.fixture(scope="module")
def acrobot_planner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained 2-member ensemble behind the task's own planner config, shrunk to export
    fast; the planner file carries the whole acrobot task."""
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.presets import planner_setup
    from mbrl_control.tasks import get_task

    task = get_task(str(TASK_FILE))
    _, _, cfg = planner_setup(task)
    cfg = dataclasses.replace(cfg, horizon=5, population=32, particles=2, iterations=1)
    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(task.obs_dim, task.act_dim, members=2, hidden=16, layers=2))
    path = tmp_path_factory.mktemp("acrobot") / "planner.onnx"
    return export_planner(model, task, cfg, path, provenance={"test": "acrobot_ros"})


def _values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def _error_lines(text: str) -> list[str]:
    words = ("[ERROR]", "[FATAL]", "Traceback", "error:")
    return [line for line in text.splitlines() if any(w in line for w in words)]


@pytest.mark.slow
@pytest.mark.parametrize("task_arg", ["absolute", "relative"])
def test_acrobot_sim_mpc_launch(spawn, ros_env, ros_probe, acrobot_planner, task_arg) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    # spawn runs in the repository root: the relative path resolves against that cwd
    task = str(TASK_FILE) if task_arg == "absolute" else str(TASK_FILE.relative_to(REPO))
    states = ros_probe.collect(JointState, "/joint_states")
    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    argv = [CLI, "launch", str(LAUNCH), f"task:={task}", f"model_path:={acrobot_planner}"]
    launch = spawn("launch", argv, ros_env)

    def planner_statuses():
        return [s for m in diags for s in m.status if s.name == "mpc_controller: planner"]

    def active() -> bool:
        return any(_values(s).get("lifecycle_state") == "active" for s in planner_statuses())

    def counts() -> str:  # what arrived, for the timeout message
        return f"{len(states)} states, {len(commands)} commands, {len(diags)} diagnostics"

    try:
        ros_probe.wait_for(lambda: len(states) > 20 and len(commands) > 20 and active(), 120, "")
    except AssertionError:
        raise AssertionError(f"acrobot loop: got {counts()}, active={active()}") from None
    # the task's joints, in its order, and nothing else
    assert {tuple(s.name) for s in states} == {("shoulder", "elbow")}
    # one command (the elbow), finite, within the URDF's torque limit
    data = np.array([list(c.data) for c in commands])
    assert data.shape[1] == 1 and np.all(np.isfinite(data)), data[:5]
    assert np.all(np.abs(data) <= TORQUE_LIMIT + 1e-9), data.max()
    status = next(
        s for s in reversed(planner_statuses()) if _values(s)["lifecycle_state"] == "active"
    )
    assert status.hardware_id == "acrobot_swingup"
    # the critic weights are the task file's own (the shared config sets none: a cart-pole
    # 'energy' weight of 0.5 once re-weighted the acrobot's 'energy' critic)
    weights = {k: float(v) for k, v in _values(status).items() if k.startswith("critics.")}
    assert weights == {
        "critics.energy.weight": 1.0,
        "critics.tip_height.weight": 0.02,
        "critics.effort.weight": 0.01,
    }

    launch.popen.send_signal(signal.SIGINT)
    assert launch.wait(timeout=30) in (0, 130)
    out = launch.output()
    assert "[launch] mpc_controller: lifecycle: /mpc_controller is active" in out
    assert not _error_lines(out), _error_lines(out)
    assert "ignoring parameter" not in out, out


def test_sim_node_runs_the_acrobot_task_file(spawn, ros_env, ros_probe) -> None:
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    states = ros_probe.collect(JointState, "/joint_states")
    argv = [SIM_NODE, "--ros-args", "-p", f"task:={TASK_FILE}", "-p", "profile:=none"]
    sim = spawn("sim_node", [*argv, "-p", "real_time_factor:=2.0"], ros_env)
    ros_probe.wait_for(lambda: len(states) > 10, 120, "joint states")
    assert list(states[-1].name) == ["shoulder", "elbow"]
    assert list(states[-1].effort) == [0.0, 0.0]  # the safe action until a command comes
    # one command: the elbow torque; the shoulder is unactuated
    pub = ros_probe.node.create_publisher(Float64MultiArray, "/commands", 10)
    command = Float64MultiArray(data=[1.5])
    timer = ros_probe.node.create_timer(0.02, lambda: pub.publish(command))
    ros_probe.wait_for(lambda: list(states[-1].effort) == [0.0, 1.5], 60, "elbow torque")
    timer.cancel()
    sim.stop()
    assert not _error_lines(sim.output()), _error_lines(sim.output())
