"""Two robots side by side: launch/two_robots.launch.yaml through ``mbrl-control launch``.

Each sim_node + mpc_controller pair runs under its own ``push-ros-namespace`` (the shipped
sim_mpc.launch.yaml included twice). The pairs must not hear each other: switching robot1's
controller off (``/robot1/mpc_controller/enable``) makes robot1's commands and robot1's
applied efforts the safe action while robot2 keeps being controlled; nothing is published on
the root ``/commands`` or ``/joint_states``.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("mbrl-control"))
SETTLE = 25  # messages (0.5 s at 50 Hz) that may predate the switch-off when the call returns


def test_two_namespaced_pairs_do_not_hear_each_other(
    spawn, ros_env, ros_probe, planner_dir
) -> None:
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray
    from std_srvs.srv import SetBool

    topics = {
        f"{ns}/{name}": ros_probe.collect(kind, f"{ns}/{name}")
        for ns in ("/robot1", "/robot2", "")
        for name, kind in (("commands", Float64MultiArray), ("joint_states", JointState))
    }
    launch = spawn(
        "launch",
        [
            CLI,
            "launch",
            str(REPO / "launch" / "two_robots.launch.yaml"),
            f"model_path:={planner_dir / 'planner_a.onnx'}",
            "profile:=none",
        ],
        ros_env,
    )
    ns_topics = [t for t in topics if t.startswith("/robot")]
    ros_probe.wait_for(lambda: all(len(topics[t]) > 30 for t in ns_topics), 120, "both robots")
    out = launch.output()
    for ns in ("/robot1", "/robot2"):
        assert f"[launch] mpc_controller{'-2' if ns == '/robot2' else ''}: lifecycle: " in out
        assert f"{ns}/mpc_controller is active" in out

    # both robots are controlled (planned, non-zero forces) before robot1's controller goes off
    assert any(np.any(np.array(m.data) != 0.0) for m in topics["/robot1/commands"])
    answer = ros_probe.call(SetBool, "/robot1/mpc_controller/enable", SetBool.Request(data=False))
    assert answer.success, answer.message
    marks = {t: len(topics[t]) for t in ns_topics}
    ros_probe.wait_for(
        lambda: all(len(topics[t]) > marks[t] + SETTLE + 40 for t in ns_topics),
        60,
        "40 more messages on every robot topic",
    )

    def after(topic: str) -> list:
        return topics[topic][marks[topic] + SETTLE :]

    # robot1: controller off -> safe action on its commands, and its simulator applies it
    assert all(np.all(np.array(m.data) == 0.0) for m in after("/robot1/commands"))
    assert all(np.all(np.array(m.effort) == 0.0) for m in after("/robot1/joint_states"))
    # robot2: still controlled by its own controller (planned, non-zero forces applied)
    assert any(np.any(np.array(m.data) != 0.0) for m in after("/robot2/commands"))
    assert any(np.any(np.array(m.effort) != 0.0) for m in after("/robot2/joint_states"))
    # nothing leaks to the root namespace
    assert topics["/commands"] == [] and topics["/joint_states"] == []

    launch.popen.send_signal(signal.SIGINT)
    assert launch.wait(timeout=60) in (0, 130)
