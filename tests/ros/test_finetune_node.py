"""finetune_node as a real process: managed lifecycle, relative names in a namespace, QoS,
messages that must not stop recording, live parameters, gate failures in plain words with
back-off. The robot is the test's probe node publishing stamped JointStates and commands."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from mbrl_control.tasks import get_task

pytestmark = pytest.mark.ros

TASK = get_task("cartpole_swingup")
BIN = Path(sys.executable).parent
NS = "/robot1"
NODE = f"{NS}/finetune_node"


class Robot:
    """Stamped cart-pole JointStates (reliable) and commands (best-effort) from the probe, at
    the control rate, in namespace ``NS``. ``inject`` queues one odd message."""

    def __init__(self, probe) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Float64MultiArray

        self.node = probe.node
        self._js, self._cmd = JointState, Float64MultiArray
        self.pub_js = self.node.create_publisher(JointState, f"{NS}/joint_states", 10)
        best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.pub_cmd = self.node.create_publisher(Float64MultiArray, f"{NS}/commands", best_effort)
        self.sent = 0
        self.stamp_offset = 0.0  # s added to every stamp (e.g. a clock mismatch)
        self._odd: list[dict] = []
        self._lock = threading.Lock()
        self._k = 0
        self.node.create_timer(TASK.dt, self._tick)

    def inject(self, **fields) -> None:
        with self._lock:
            self._odd.append(fields)

    def _tick(self) -> None:
        self._k += 1
        x = 0.1 * np.sin(0.02 * self._k)
        odd = {}
        with self._lock:
            if self._odd:
                odd = self._odd.pop(0)
        msg = self._js(
            name=list(TASK.joint_names),
            position=odd.get("position", [x, np.pi]),
            velocity=odd.get("velocity", [0.0, 0.0]),
        )
        now = self.node.get_clock().now().nanoseconds * 1e-9 + self.stamp_offset
        now += odd.get("stamp_offset", 0.0)
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(now), int((now % 1) * 1e9)
        self.pub_cmd.publish(self._cmd(data=[0.5]))
        self.pub_js.publish(msg)
        self.sent += 1


def _status(diags: list, name: str = "finetune_node") -> dict:
    for msg in reversed(diags):
        for s in msg.status:
            if s.name == name:
                return {
                    "message": s.message,
                    "level": s.level[0],
                    **{v.key: v.value for v in s.values},
                }
    return {}


def _transition(probe, label: str | int) -> bool:
    """Ask for a lifecycle transition by its label (configure, activate, ..., shutdown) or id."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    t = Transition(id=label) if isinstance(label, int) else Transition(label=label)
    request = ChangeState.Request(transition=t)
    return probe.call(ChangeState, f"{NODE}/change_state", request).success


@pytest.fixture
def files(tmp_path: Path, planner_dir: Path) -> dict[str, Path]:
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_text('{"this": "is JSON, not a checkpoint"}')
    return {"planner": planner_dir / "planner_a.onnx", "checkpoint": checkpoint}


def _start(spawn, ros_env, tmp_path: Path, files: dict[str, Path], **params):
    values = {
        "data_dir": tmp_path / "real",
        "checkpoint": files["checkpoint"],
        "planner": files["planner"],
        "model_dir": tmp_path / "models",
        "segment_length": 10,
        **params,
    }
    argv = [str(BIN / "finetune_node"), "--ros-args", "-r", f"__ns:={NS}"]
    for k, v in values.items():
        argv += ["-p", f"{k}:={v}"]
    return spawn("finetune_node", argv, ros_env)


def test_lifecycle_namespace_and_best_effort_commands(
    spawn, ros_env, ros_probe, tmp_path: Path, files
) -> None:
    """unconfigured -> configure -> inactive (nothing recorded) -> activate (records, hearing a
    best-effort command publisher on the namespaced, relative topics) -> deactivate (stops)
    -> cleanup -> shutdown; diagnostics report the lifecycle state throughout."""
    from diagnostic_msgs.msg import DiagnosticArray

    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    robot = Robot(ros_probe)
    node = _start(spawn, ros_env, tmp_path, files)
    ros_probe.wait_for(lambda: _status(diags).get("lifecycle_state") == "unconfigured", 60, "up")
    assert "not recording" in _status(diags)["message"]

    from lifecycle_msgs.msg import Transition

    # not configured yet: refused (by label, and by id, which made rclpy raise), node lives
    assert not _transition(ros_probe, "activate")
    assert not _transition(ros_probe, Transition.TRANSITION_ACTIVATE)
    assert _transition(ros_probe, "configure")
    sent = robot.sent
    ros_probe.wait_for(lambda: robot.sent > sent + 50, 30, "50 messages while inactive")
    ros_probe.wait_for(lambda: _status(diags).get("lifecycle_state") == "inactive", 10, "inactive")
    assert _status(diags)["states_received"] == "0"

    assert _transition(ros_probe, "activate")
    ros_probe.wait_for(
        lambda: int(_status(diags).get("transitions_recorded", 0)) >= 20, 60, "recording"
    )
    assert _status(diags)["lifecycle_state"] == "active"

    assert _transition(ros_probe, "deactivate")
    ros_probe.wait_for(lambda: _status(diags).get("lifecycle_state") == "inactive", 10, "stopped")
    received = _status(diags)["states_received"]
    sent = robot.sent
    ros_probe.wait_for(lambda: robot.sent > sent + 50, 30, "50 messages while deactivated")
    n = len(diags)
    ros_probe.wait_for(lambda: len(diags) > n + 1, 10, "fresh diagnostics")
    assert _status(diags)["states_received"] == received

    assert _transition(ros_probe, "cleanup")
    ros_probe.wait_for(lambda: _status(diags).get("lifecycle_state") == "unconfigured", 10, "clean")
    assert _transition(ros_probe, "shutdown")
    ros_probe.wait_for(lambda: _status(diags).get("lifecycle_state") == "finalized", 10, "final")
    assert node.popen.poll() is None  # finalized, still alive until stopped
