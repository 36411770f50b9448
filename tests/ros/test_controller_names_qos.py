"""Relative names and QoS (issue 14 items 7 and 12).

- Namespaced: every topic and service of the controller moves with ``__ns``; /diagnostics
  stays global; joint_states hears a best-effort driver (and reliable ones, elsewhere).
- ``goal`` hears a best-effort publisher as well as a reliable one.
- An incompatible QoS peer is reported on /diagnostics and in the log, naming the topic.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_controller_node import CONTROLLER, latest, level_is, start_controller

pytestmark = pytest.mark.ros


def test_namespace_moves_topics_and_services(
    spawn, ros_env, ros_probe, planner_dir, joint_states
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray
    from std_srvs.srv import SetBool

    root = ros_probe.collect(Float64MultiArray, "/commands")
    ns = ros_probe.collect(Float64MultiArray, "/robot1/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    # a best-effort driver (the other tests' drivers are reliable): heard as well
    best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    pub = ros_probe.node.create_publisher(JointState, "/robot1/joint_states", best_effort)
    state = JointState(name=["slider_to_cart", "cart_to_pole"], position=[0.1, 3.0])
    state.velocity = [0.0, 0.0]
    ros_probe.node.create_timer(0.02, lambda: pub.publish(state))
    joint_states.active = False  # nothing on the root namespace's joint_states
    start_controller(spawn, ros_env, planner_dir, extra=["-r", "__ns:=/robot1"])
    ros_probe.wait_for(level_is(diags, 0, "planning"), 60, "planning on /robot1/joint_states")
    ros_probe.wait_for(lambda: len(ns) > 20, 10, "commands on /robot1/commands")
    assert not root, "commands leaked to the root namespace"
    resp = ros_probe.call(SetBool, "/robot1/mpc_controller/enable", SetBool.Request(data=False))
    assert resp.success
    ros_probe.wait_for(level_is(diags, 1, "disabled"), 10, "disabled via the namespaced service")


def _export_panda(path):
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig
    from mbrl_control.tasks import get_task

    task = get_task("panda_reach")
    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(task.obs_dim, task.act_dim, members=2, hidden=16, layers=2))
    cfg = PlannerConfig(kind="icem", horizon=5, population=32, particles=2, iterations=1)
    return export_planner(model, task, cfg, path, provenance={"test": "panda"})


def test_best_effort_goal_and_incompatible_qos_reported(
    spawn, ros_env, ros_probe, planner_dir
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import Point, PointStamped
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    from mbrl_control.tasks import get_task

    task = get_task("panda_reach")
    path = planner_dir / "panda.onnx"
    if not path.exists():
        _export_panda(path)
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    commands = ros_probe.collect(Float64MultiArray, "/commands")
    node = ros_probe.node
    states = node.create_publisher(JointState, "/joint_states", 10)
    names, q = list(task.joint_names), [0.0, -0.5, 0.0, -2.0, 0.0, 1.5, 0.8]
    node.create_timer(
        0.05,
        lambda: states.publish(JointState(name=names, position=q, velocity=[0.0] * len(q))),
    )
    best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    goal = node.create_publisher(PointStamped, "/goal", best_effort)
    node.create_timer(0.1, lambda: goal.publish(PointStamped(point=Point(x=0.4, y=0.1, z=0.5))))
    argv = [CONTROLLER, "--ros-args", "-p", f"model_path:={path}", "-p", "task:=panda_reach"]
    argv += ["-p", "autostart:=true", "-p", "on_deadline_miss:=publish"]
    proc = spawn("mpc_controller", argv, ros_env)
    ros_probe.wait_for(level_is(diags, 0, "planning"), 60, "planning with a best-effort goal")
    ros_probe.wait_for(lambda: len(commands) > 5, 10, "commands")
    assert np.all(np.isfinite([c.data for c in commands[-5:]]))

    # a subscriber that insists on TRANSIENT_LOCAL cannot hear a volatile publisher
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_subscription(Float64MultiArray, "/commands", lambda m: None, latched)
    ros_probe.wait_for(level_is(diags, 1, "'commands'", name="mpc_controller: qos"), 20, "QoS WARN")
    assert "DURABILITY" in latest(diags, "mpc_controller: qos").message
    assert "incompatible QoS on 'commands'" in proc.output()
