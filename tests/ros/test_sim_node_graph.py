"""sim_node on a real graph (real processes, private domain): relative names and namespaces,
commands from best-effort and reliable publishers, episode_start at every reset with stamps
that never repeat, sim time under use_sim_time at real_time_factor 2, incompatible QoS in
the log, every parameter live-after-validation or read-only, one-line start-up errors."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

SIM_NODE = str(Path(sys.executable).with_name("sim_node"))
DT = 0.02  # cart-pole control period (s)


def _secs(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _subscribe(probe, msg_type, topic: str, qos=None) -> list:
    """Like ``probe.collect`` with an explicit QoS profile."""
    from rclpy.qos import QoSProfile

    received: list = []
    probe.node.create_subscription(
        msg_type, topic, received.append, qos if qos is not None else QoSProfile(depth=100)
    )
    return received


def _set(probe, node: str, name: str, value):
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    req = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
    return probe.call(SetParameters, f"{node}/set_parameters", req).results[0]


def test_namespaced_sim_node_hears_best_effort_commands(spawn, ros_env, ros_probe) -> None:
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray
    from std_srvs.srv import Trigger

    states = _subscribe(ros_probe, JointState, "/robot1/joint_states")
    global_states = _subscribe(ros_probe, JointState, "/joint_states")
    clock = _subscribe(ros_probe, Clock, "/clock")
    argv = [SIM_NODE, "--ros-args", "-r", "__ns:=/robot1", "-p", "profile:=none"]
    argv += ["-p", "rate:=50"]  # an integer for a double
    spawn("sim_node", argv, ros_env)
    ros_probe.wait_for(lambda: len(states) > 20, 60, "namespaced joint states")
    assert not global_states, "a namespace must move joint_states"
    assert clock, "/clock stays global"

    # a best-effort command publisher is heard (reliable ones: tests/ros/test_sim_node.py)
    best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    pub = ros_probe.node.create_publisher(Float64MultiArray, "/robot1/commands", best_effort)
    timer = ros_probe.node.create_timer(0.01, lambda: pub.publish(Float64MultiArray(data=[8.0])))
    x0 = states[-1].position[0]
    n = len(states)
    ros_probe.wait_for(lambda: len(states) > n + 30, 30, "states while pushing")
    timer.cancel()
    assert states[-1].position[0] > x0 + 0.1 and states[-1].effort[0] > 0.0

    resp = ros_probe.call(Trigger, "/robot1/sim_node/reset", Trigger.Request())
    # episode 1, or later when an episode's end (4 s) came first on a loaded machine
    assert resp.success and json.loads(resp.message)["episode"] >= 1


def test_every_reset_is_announced_and_stamps_never_repeat(spawn, ros_env, ros_probe) -> None:
    """episode_start at every reset (start-up, ~/reset, auto-reset), stamped like the new
    episode's first state, which comes one period after the previous state."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Header
    from std_srvs.srv import Trigger

    states = _subscribe(ros_probe, JointState, "/joint_states")
    argv = [SIM_NODE, "--ros-args", "-p", "profile:=default", "-p", "real_time_factor:=4.0"]
    spawn("sim_node", argv, ros_env)
    ros_probe.wait_for(lambda: len(states) > 5, 60, "joint states")
    # a late transient-local subscriber still gets the first episode's start
    latched = QoSProfile(
        depth=5, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    starts = _subscribe(ros_probe, Header, "/episode_start", latched)
    ros_probe.wait_for(lambda: len(starts) >= 1, 30, "episode_start of episode 0")
    assert _secs(starts[0].stamp) == pytest.approx(DT)  # one period after 0: never stamp 0

    resp = ros_probe.call(Trigger, "/sim_node/reset", Trigger.Request())
    # the reset starts episode 1, or a later one when an auto-reset (1 s of wall time at this
    # factor) came first on a loaded machine; the latched history (depth 5) holds them all
    episode = json.loads(resp.message)["episode"]
    assert resp.success and 1 <= episode <= 3
    ros_probe.wait_for(lambda: len(starts) >= episode + 2, 60, "episode_start of the auto-reset")
    time.sleep(0.2)
    stamps = [_secs(s.header.stamp) for s in list(states)]
    assert all(b > a for a, b in itertools.pairwise(stamps)), "stamps must strictly increase"
    for start in starts[1 : episode + 2]:  # auto-resets, the ~/reset and the auto-reset after it
        t = _secs(start.stamp)
        first = stamps.index(t)  # the new episode's first state carries the start's stamp
        assert first > 0 and stamps[first - 1] < t
        assert t - stamps[first - 1] == pytest.approx(DT, abs=1e-6)


def test_sim_time_follows_the_factor_under_use_sim_time(spawn, ros_env, ros_probe) -> None:
    """With use_sim_time the step timer still runs on wall time (its own /clock cannot drive
    it); /clock advances one control period per step, at most factor x wall time."""
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import JointState

    states = _subscribe(ros_probe, JointState, "/joint_states")
    clock = _subscribe(ros_probe, Clock, "/clock")
    argv = [SIM_NODE, "--ros-args", "-p", "use_sim_time:=true", "-p", "real_time_factor:=2.0"]
    argv += ["-p", "profile:=none"]
    spawn("sim_node", argv, ros_env)
    ros_probe.wait_for(lambda: len(states) > 5, 60, "joint states under use_sim_time")
    wall0, sim0 = time.monotonic(), _secs(clock[-1].clock)
    n = len(states)
    ros_probe.wait_for(lambda: len(states) > n + 50, 60, "50 more states")
    wall, sim = time.monotonic() - wall0, _secs(clock[-1].clock) - sim0
    assert sim <= 2.0 * wall * 1.25 + 4 * DT  # never faster than asked
    recent = [_secs(s.header.stamp) for s in states[n:]]
    steps = [b - a for a, b in itertools.pairwise(recent)]
    assert all(s == pytest.approx(DT, abs=1e-6) for s in steps)  # no jitter in "none"
    assert _secs(clock[-1].clock) >= recent[-1] - 1e-9


def test_incompatible_qos_is_logged(spawn, ros_env, ros_probe) -> None:
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import JointState

    proc = spawn("sim_node", [SIM_NODE, "--ros-args", "-p", "profile:=none"], ros_env)
    latched = QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    _subscribe(ros_probe, JointState, "/joint_states", latched)  # wants what is not offered
    ros_probe.wait_for(
        lambda: "incompatible QoS on 'joint_states'" in proc.output(), 60, "the QoS warning"
    )
    assert "DURABILITY" in proc.output()
    assert proc.popen.poll() is None


def test_every_parameter_live_or_read_only(spawn, ros_env, ros_probe) -> None:
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Header
    from std_srvs.srv import Trigger

    states = _subscribe(ros_probe, JointState, "/joint_states")
    starts = _subscribe(ros_probe, Header, "/episode_start")
    argv = [SIM_NODE, "--ros-args", "-p", "real_time_factor:=0.05", "-p", "profile:=wide"]
    proc = spawn("sim_node", argv, ros_env)
    ros_probe.wait_for(lambda: len(states) >= 1, 60, "the first state")

    def refused(name, value, why: str) -> None:
        result = _set(ros_probe, "/sim_node", name, value)
        assert not result.successful, f"{name}={value!r} was accepted"
        assert why in result.reason, (name, value, result.reason)

    def accepted(name, value) -> None:
        result = _set(ros_probe, "/sim_node", name, value)
        assert result.successful, (name, value, result.reason)

    for name, value in [("task", "panda_reach"), ("seed", 3), ("rate", 50.0)]:
        refused(name, value, "read-only")
    refused("profile", "nope", "allowed")
    refused("real_time_factor", float("nan"), "real_time_factor")
    refused("real_time_factor", 0.0, "real_time_factor")
    refused("auto_reset", "yes", "type")
    assert proc.popen.poll() is None, "a parameter value stopped the node"

    # real_time_factor applies live: at 0.05 (2.5 steps/s) 300 steps would take 2 minutes
    accepted("real_time_factor", 50)  # an integer for a double
    n = len(states)
    ros_probe.wait_for(lambda: len(states) > n + 300, 60, "300 states at the new factor")

    # profile applies from the next reset: "none" draws the nominal robot
    accepted("profile", "none")
    dr = json.loads(ros_probe.call(Trigger, "/sim_node/reset", Trigger.Request()).message)["dr"]
    assert set(dr["mass_scale"]) == {1.0} and set(dr["joint_damping"]) == {0.0}

    # auto_reset applies live: no new episode after the 200-step episode ends
    accepted("auto_reset", False)
    resp = ros_probe.call(Trigger, "/sim_node/reset", Trigger.Request())
    time.sleep(0.5)
    n_starts, n = len(starts), len(states)
    ros_probe.wait_for(lambda: len(states) > n + 450, 60, "states past the episode end")
    assert len(starts) == n_starts, "auto_reset false still reset"
    assert json.loads(resp.message)["episode"] >= 2


@pytest.mark.parametrize(
    ("arg", "names"),
    [
        ("rate:=100", "'rate'"),
        ("profile:=nope", "'profile'"),
        ("task:=nope", "unknown task"),
        ("real_time_factor:=-1", "'real_time_factor'"),
    ],
)
def test_bad_start_up_values_are_one_line(ros_env, arg: str, names: str) -> None:
    out = subprocess.run(
        [SIM_NODE, "--ros-args", "-p", arg],
        env=ros_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert names in out.stderr and "Traceback" not in out.stderr + out.stdout
