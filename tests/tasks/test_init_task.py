"""``mbrl-control init-task``: a task-file scaffold from a URDF, a xacro file or a running
robot's ``robot_description`` topic, loadable as written."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mbrl_control.cli import main
from mbrl_control.tasks import load_task_file

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "urdf"
ARM = FIXTURES / "fixture_arm" / "urdf" / "arm.urdf"
XACRO_ARM = FIXTURES / "fixture_arm" / "urdf" / "arm.urdf.xacro"

# a double pendulum with two continuous joints, only the elbow actuated (effort="0" shoulder)
PENDULUM = """<?xml version="1.0"?>
<robot name="double_pendulum">
  <link name="base"/>
  <link name="upper"><inertial><origin xyz="0 0 -0.5"/><mass value="1"/>
    <inertia ixx="0.084" iyy="0.084" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="lower"><inertial><origin xyz="0 0 -0.5"/><mass value="1"/>
    <inertia ixx="0.084" iyy="0.084" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="tip"/>
  <joint name="shoulder" type="continuous"><parent link="base"/><child link="upper"/>
    <origin xyz="0 0 2"/><axis xyz="0 1 0"/><limit effort="0" velocity="0"/></joint>
  <joint name="elbow" type="continuous"><parent link="upper"/><child link="lower"/>
    <origin xyz="0 0 -1"/><axis xyz="0 1 0"/><limit effort="2" velocity="0"/></joint>
  <joint name="tip_joint" type="fixed"><parent link="lower"/><child link="tip"/>
    <origin xyz="0 0 -1"/></joint>
</robot>
"""


def init(*args: str) -> int:
    return main(["init-task", *map(str, args)])


def test_scaffold_from_the_fixture_loads_as_written(tmp_path, capsys):
    out = tmp_path / "my_arm.task.yaml"
    assert init("--urdf", ARM, "--out", out) == 0
    text = out.read_text()
    assert "EDIT" in text and "# Task file scaffold written by `mbrl-control init-task`" in text
    task = load_task_file(out)
    assert task.name == "my_arm"
    assert task.joint_names == ("yaw", "slide", "elbow")  # the mimic wrist is not read
    assert task.command_interface == "effort"  # the URDF gives efforts
    assert task.command_joints == ("yaw", "slide")  # elbow has effort="0": passive
    assert "not commanded (no effort limit in the URDF: passive?): elbow" in text
    assert (task.action_low, task.action_high) == ((-20.0, -50.0), (20.0, 50.0))
    assert task.obs_names[-3:] == ("tip_x", "tip_y", "tip_z")
    assert task.definition["points"]["tip"]["link"] == "tip"  # end of the longest chain
    assert task.visualization.point == "tip"  # the plan tube: ~/plan_markers
    assert task.visualization.frame_id == task.definition["visualization"]["frame_id"] != ""
    assert [c.name for c in task.critics] == ["home", "action"]
    assert task.control_hz == 50.0 and task.episode_steps == 500
    # the observation works and the cost evaluates
    obs = task.obs_from_joints(np.array([0.3, 0.1, -0.4]), np.zeros(3))
    assert np.isfinite(task.cost_np(obs, task.safe_action, obs))
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    assert len(warned) == 1 and "missing_forearm.obj" in warned[0]


@pytest.mark.parametrize(
    ("interface", "joints", "high"),
    [
        ("velocity", ("yaw", "slide", "elbow"), (4.0, 0.5, 3.0)),
        ("position", ("yaw", "slide", "elbow"), (np.pi, 0.3, 2.0)),  # yaw: placeholder ±π
    ],
)
def test_interface_override(tmp_path, interface, joints, high):
    out = tmp_path / "a.yaml"
    assert init("--urdf", ARM, "--out", out, "--interface", interface, "--rate", 20) == 0
    task = load_task_file(out)
    assert task.command_interface == interface and task.command_joints == joints
    np.testing.assert_allclose(task.action_high, high)
    assert task.control_hz == 20.0 and task.episode_steps == 200
    if interface == "position":
        assert "EDIT: the URDF gives no position limit for 'yaw'" in out.read_text()


def test_scaffold_from_xacro_with_args(tmp_path):
    shutil.copytree(FIXTURES / "fixture_arm", tmp_path / "fixture_arm")
    xacro = tmp_path / "fixture_arm" / "urdf" / "arm.urdf.xacro"
    out = tmp_path / "tasks" / "xarm.task.yaml"
    assert init("--urdf", xacro, "--out", out, "--xacro-arg", "prefix=r_", "--tip", "r_hand") == 0
    task = load_task_file(out)
    assert task.xacro_args == {"prefix": "r_"}
    assert task.joint_names == ("r_shoulder", "r_elbow")
    assert task.definition["points"]["tip"]["link"] == "r_hand"
    # robot.urdf is written relative to the task file
    robot = yaml.safe_load(out.read_text())["robot"]
    assert robot["urdf"] == "../fixture_arm/urdf/arm.urdf.xacro"
    assert robot["xacro_args"] == {"prefix": "r_"}


def test_all_continuous_pendulum_gets_a_link_height_cost(tmp_path):
    urdf = tmp_path / "pendulum.urdf"
    urdf.write_text(PENDULUM)
    out = tmp_path / "pendulum.task.yaml"
    assert init("--urdf", urdf, "--out", out) == 0
    task = load_task_file(out)
    assert task.command_joints == ("elbow",) and task.action_high == (2.0,)
    up = task.definition["critics"][0]
    assert up["kind"] == "link_height" and up["target"] == pytest.approx(4.0)  # 2 + 1 + 1 m
    assert yaml.safe_load(out.read_text())["robot"]["urdf"] == "pendulum.urdf"
    # hanging: the tip is at z = 0 (base 2 m up, two 1 m links down); upright it is 4 m
    obs = task.obs_from_joints(np.zeros(2), np.zeros(2))
    np.testing.assert_allclose(obs[-3:], [0.0, 0.0, 0.0], atol=1e-6)
    obs_up = task.obs_from_joints(np.array([np.pi, 0.0]), np.zeros(2))
    np.testing.assert_allclose(obs_up[-3:], [0.0, 0.0, 4.0], atol=1e-6)


def test_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "a.task.yaml"
    out.write_text("keep me")
    assert init("--urdf", ARM, "--out", out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1] == f"mbrl-control init-task: error: --out {out} exists; use --force to overwrite it"
    )
    assert out.read_text() == "keep me"
    assert init("--urdf", ARM, "--out", out, "--force") == 0
    assert load_task_file(out).name == "a"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--tip", "hand"], "error: --tip 'hand': the URDF has no such link; links: ["),
        (["--tip", "base_link"], "error: --tip 'base_link': no movable joint between"),
        (["--name", "9x"], "error: --name '9x': use letters, digits and _"),
        (["--xacro-arg", "a=1"], "error: --xacro-arg: "),
    ],
)
def test_bad_arguments_are_one_line(tmp_path, capsys, args, needle):
    out = tmp_path / "t.yaml"
    assert init("--urdf", ARM, "--out", out, *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert needle in err[-1] and not out.exists()


def test_missing_urdf_and_bad_out(tmp_path, capsys):
    assert init("--urdf", tmp_path / "none.urdf", "--out", tmp_path / "t.yaml") == 2
    assert "argument --urdf" in capsys.readouterr().err
    assert init("--urdf", ARM, "--out", tmp_path / "t.txt") == 2
    assert "a task file ends in .yaml or .yml" in capsys.readouterr().err


PUBLISHER = """
import sys, rclpy
from rclpy.qos import QoSProfile, DurabilityPolicy, ReliabilityPolicy
from std_msgs.msg import String
rclpy.init()
node = rclpy.create_node("robot_state_publisher")
qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                 reliability=ReliabilityPolicy.RELIABLE)
pub = node.create_publisher(String, "robot_description", qos)
pub.publish(String(data=open(sys.argv[1]).read()))
print("published", flush=True)
rclpy.spin(node)
"""


@pytest.mark.ros
def test_from_topic_fetches_the_running_robots_description(tmp_path, ros_env, spawn, capsys):
    """A publisher like robot_state_publisher (transient local, published once before the
    fetch subscribes); the URDF is saved beside the task file."""
    import time

    urdf = tmp_path / "pendulum.urdf"
    urdf.write_text(PENDULUM)
    script = tmp_path / "pub.py"
    script.write_text(PUBLISHER)
    proc = spawn("publisher", [sys.executable, str(script), str(urdf)], env=ros_env)
    deadline = time.monotonic() + 60
    while "published" not in proc.output() and time.monotonic() < deadline:
        assert proc.popen.poll() is None, proc.output()
        time.sleep(0.1)
    out = tmp_path / "robot" / "acro.task.yaml"
    code = init("--from-topic", "robot_description", "--out", out, "--timeout", 60)
    assert code == 0, capsys.readouterr().err
    saved = out.parent / "acro.urdf"
    assert saved.read_text() == PENDULUM
    task = load_task_file(out)
    assert task.joint_names == ("shoulder", "elbow")
    assert yaml.safe_load(out.read_text())["robot"]["urdf"] == "acro.urdf"
    assert "wrote" in capsys.readouterr().out


PARAM_NODE = """
import sys, rclpy
rclpy.init()
node = rclpy.create_node(sys.argv[2])
if sys.argv[1] != "-":
    node.declare_parameter("robot_description", open(sys.argv[1]).read())
print("ready", flush=True)
rclpy.spin(node)
"""


def _start_param_node(tmp_path, spawn, ros_env, urdf: str, name: str):
    import time

    script = tmp_path / f"{name}.py"
    script.write_text(PARAM_NODE)
    proc = spawn(name, [sys.executable, str(script), urdf, name], env=ros_env)
    deadline = time.monotonic() + 60
    while "ready" not in proc.output() and time.monotonic() < deadline:
        assert proc.popen.poll() is None, proc.output()
        time.sleep(0.1)
    return proc


@pytest.mark.ros
def test_from_node_reads_the_robot_description_parameter(tmp_path, ros_env, spawn, capsys):
    urdf = tmp_path / "pendulum.urdf"
    urdf.write_text(PENDULUM)
    _start_param_node(tmp_path, spawn, ros_env, str(urdf), "robot_state_publisher")
    _start_param_node(tmp_path, spawn, ros_env, "-", "bare_node")
    out = tmp_path / "robot" / "acro.task.yaml"
    code = init("--from-node", "robot_state_publisher", "--out", out, "--timeout", 60)
    assert code == 0, capsys.readouterr().err
    assert (out.parent / "acro.urdf").read_text() == PENDULUM
    assert load_task_file(out).joint_names == ("shoulder", "elbow")
    # a node without the parameter: one line, nothing written
    other = tmp_path / "other.task.yaml"
    assert init("--from-node", "/bare_node", "--out", other, "--timeout", 60) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("error: parameter 'robot_description' of node '/bare_node' is not set")
    assert not other.exists() and not (tmp_path / "other.urdf").exists()


@pytest.mark.ros
def test_from_node_times_out_in_one_line(tmp_path, ros_env, capsys):
    out = tmp_path / "t.task.yaml"
    assert init("--from-node", "no_such_node", "--out", out, "--timeout", 1) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "no node answers '/no_such_node/get_parameters' within 1 s" in err[0]


@pytest.mark.ros
def test_from_topic_times_out_in_one_line(tmp_path, ros_env, capsys):
    out = tmp_path / "t.task.yaml"
    code = init("--from-topic", "robot_description", "--out", out, "--timeout", 1)
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "no robot description on topic '/robot_description' within 1 s" in err[0]
    )
    assert not out.exists() and not (tmp_path / "t.urdf").exists()


def test_scaffold_runs_in_the_simulator(tmp_path, seeds):
    """The scaffold is simulated as written (the scene comes from the same URDF, with its
    missing mesh dropped): reset and a few random actions within the bounds."""
    from mbrl_sim import make_env

    shutil.copytree(FIXTURES / "fixture_arm", tmp_path / "fixture_arm")
    out = tmp_path / "arm.task.yaml"
    assert init("--urdf", tmp_path / "fixture_arm" / "urdf" / "arm.urdf", "--out", out) == 0
    task = load_task_file(out)
    env = make_env(task, seed=seeds(51))
    try:
        obs, _ = env.reset(seed=seeds(51))
        assert obs.shape == (task.obs_dim,)
        rng = np.random.default_rng(seeds(52))
        for _ in range(5):
            obs, *_ = env.step(rng.uniform(task.action_low, task.action_high).astype(np.float32))
        assert np.isfinite(obs).all()
    finally:
        env.close()
