"""sim_node as a real process on a task file built from a URDF fixture (the two-link arm of
tests/sim/fixtures): joint states with the task's joints, commands applied as joint torques;
a task file the simulator cannot build stops the node with one line naming the parameter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.ros

SIM_NODE = str(Path(sys.executable).with_name("sim_node"))
FIXTURES = Path(__file__).resolve().parents[1] / "sim" / "fixtures"
ARM = FIXTURES / "two_link_arm.task.yaml"


def test_sim_node_runs_a_task_file(spawn, ros_env, ros_probe) -> None:
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    states = ros_probe.collect(JointState, "/joint_states")
    # auto_reset off: the fixture's 40-step episodes would reset the arm during the check
    argv = [SIM_NODE, "--ros-args", "-p", f"task:={ARM}", "-p", "profile:=none"]
    argv += ["-p", "auto_reset:=false"]
    spawn("sim_node", [*argv, "-p", "real_time_factor:=2.0"], ros_env)
    ros_probe.wait_for(lambda: len(states) > 10, 120, "joint states")
    msg = states[-1]
    assert list(msg.name) == ["shoulder", "elbow"]  # the task's joints, in its order
    assert len(msg.position) == len(msg.velocity) == len(msg.effort) == 2
    assert list(msg.effort) == [0.0, 0.0]  # the safe action until a command comes

    # commands (ros2_control forward-command order: shoulder, elbow) are applied as torques
    pub = ros_probe.node.create_publisher(Float64MultiArray, "/commands", 10)
    command = Float64MultiArray(data=[3.0, 1.5])
    timer = ros_probe.node.create_timer(0.02, lambda: pub.publish(command))
    ros_probe.wait_for(lambda: list(states[-1].effort) == [3.0, 1.5], 60, "commanded efforts")
    n = len(states)
    ros_probe.wait_for(lambda: len(states) > n + 20, 60, "states while commanded")
    assert states[-1].position[1] > 0.5  # the elbow torque bent the elbow
    timer.cancel()


def test_sim_node_refuses_a_task_it_cannot_simulate(ros_env, tmp_path) -> None:
    data = yaml.safe_load(ARM.read_text())
    data.pop("robot")
    task = tmp_path / "no_robot.task.yaml"
    task.write_text(yaml.safe_dump(data, sort_keys=False))
    run = subprocess.run(
        [SIM_NODE, "--ros-args", "-p", f"task:={task}"],
        env=ros_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert "parameter 'task'" in lines[0] and "sets no robot.urdf" in lines[0], lines[0]
