"""finetune_node as a real process: managed lifecycle, relative names in a namespace, QoS,
messages that must not stop recording, live parameters, gate failures in plain words with
back-off. The robot is the test's probe node publishing stamped JointStates and commands."""

from __future__ import annotations

import json
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

    def __init__(self, probe, sim_clock: bool = False) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Float64MultiArray

        self.node = probe.node
        self._js, self._cmd = JointState, Float64MultiArray
        self.pub_js = self.node.create_publisher(JointState, f"{NS}/joint_states", 10)
        best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.pub_cmd = self.node.create_publisher(Float64MultiArray, f"{NS}/commands", best_effort)
        self.sent = 0
        self.sim_clock = sim_clock  # publish /clock from 0 and stamp states with it
        self._clock_msg = Clock
        self.pub_clock = self.node.create_publisher(Clock, "/clock", 10)
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
        if self.sim_clock:
            now = self._k * TASK.dt
            clock = self._clock_msg()
            clock.clock.sec, clock.clock.nanosec = int(now), int((now % 1) * 1e9)
            self.pub_clock.publish(clock)
        else:
            now = self.node.get_clock().now().nanoseconds * 1e-9
        now += self.stamp_offset
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


def _dropped(diags: list) -> dict:
    return json.loads(_status(diags).get("dropped", "{}") or "{}")


def test_no_single_message_stops_recording(spawn, ros_env, ros_probe, tmp_path, files) -> None:
    """Item 13.7: a velocity of 1e39 (finite in float64, inf in float32 storage) and a state
    stamped 1e6 s ahead are dropped with their reason; recording goes on; a stream of states
    stamped far from the node's clock is a WARN naming the reason."""
    from diagnostic_msgs.msg import DiagnosticArray

    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    robot = Robot(ros_probe)
    node = _start(spawn, ros_env, tmp_path, files, autostart="true")
    recorded = lambda: int(_status(diags).get("transitions_recorded", 0))  # noqa: E731
    ros_probe.wait_for(lambda: recorded() >= 20, 60, "recording after autostart")
    assert _status(diags)["lifecycle_state"] == "active"

    robot.inject(velocity=[1e39, 0.0])
    robot.inject(stamp_offset=1e6)
    ros_probe.wait_for(
        lambda: {"stamp_far_from_clock", "bad_state"} <= set(_dropped(diags)), 30, "both dropped"
    )
    before = recorded()
    ros_probe.wait_for(lambda: recorded() >= before + 30, 60, "recording after the odd messages")
    assert node.popen.poll() is None
    assert _dropped(diags)["stamp_far_from_clock"] == 1  # the future stamp was not adopted

    # the simulator's reset notice ends the segment (no teleport transition across it)
    from std_msgs.msg import Header

    resets = ros_probe.node.create_publisher(Header, f"{NS}/episode_start", 10)
    breaks = lambda: json.loads(_status(diags).get("segment_breaks", "{}"))  # noqa: E731
    for _ in range(30):  # the first ones may go out before discovery matched the pair
        resets.publish(Header(stamp=ros_probe.node.get_clock().now().to_msg()))
        target = robot.sent + 25
        ros_probe.wait_for(lambda t=target: robot.sent > t, 10, "half a second of states")
        if "reset" in breaks():
            break
    assert breaks().get("reset", 0) >= 1, breaks()
    assert node.popen.poll() is None

    robot.stamp_offset = -1000.0  # e.g. a driver on another clock: every state is dropped
    ros_probe.wait_for(
        lambda: "stamp_far_from_clock" in _status(diags).get("message", ""), 30, "a drop WARN"
    )
    assert _status(diags)["level"] == 1  # WARN
    robot.stamp_offset = 0.0
    before = recorded()
    ros_probe.wait_for(lambda: recorded() >= before + 20, 60, "recording again")
    ros_probe.wait_for(lambda: _status(diags)["level"] == 0, 30, "the WARN cleared")

    # the store breaks under the node (disk gone, directory replaced): an ERROR, not an exit
    (tmp_path / "real").rename(tmp_path / "real.moved")  # atomic: the node may be writing
    (tmp_path / "real").write_text("not a directory any more")
    store_error = lambda s: s.get("level") == 2 and "could not be stored" in s["message"]  # noqa: E731
    ros_probe.wait_for(lambda: store_error(_status(diags)), 30, "an ERROR naming the store")
    assert node.popen.poll() is None


@pytest.mark.slow  # three training processes (~30 s)
def test_gate_failure_in_plain_words_with_backoff(
    spawn, ros_env, ros_probe, tmp_path, files
) -> None:
    """Item 13.9: a checkpoint the gate cannot read is reported as such (not as a JSON parser
    message), and retries wait 2x, 4x, then at most retry_backoff_max x retrain_every."""
    from diagnostic_msgs.msg import DiagnosticArray

    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    Robot(ros_probe)
    _start(spawn, ros_env, tmp_path, files, autostart="true", retrain_every=10, retry_backoff_max=4)
    failures = lambda: int(_status(diags).get("consecutive_failures", 0))  # noqa: E731
    ros_probe.wait_for(lambda: failures() >= 1, 180, "a failed retrain")
    status = _status(diags)
    gate = json.loads(status["last_gate"])
    assert "cannot read checkpoint" in gate["error"] and str(files["checkpoint"]) in gate["error"]
    assert "it is a JSON file, not a torch checkpoint" in gate["error"]
    assert (
        "Expecting value" not in status["message"] and "cannot read checkpoint" in status["message"]
    )
    assert status["level"] == 1 and status["next_retrain_after"] == "20"
    ros_probe.wait_for(lambda: failures() >= 2, 180, "a second failed retrain")
    assert _status(diags)["next_retrain_after"] == "40"
    ros_probe.wait_for(lambda: failures() >= 3, 180, "a third failed retrain")
    assert _status(diags)["next_retrain_after"] == "40"  # capped at 4 x retrain_every
    assert int(_status(diags)["trains"]) == 3


def _set(probe, **values):
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    request = SetParameters.Request(
        parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
    )
    return probe.call(SetParameters, f"{NODE}/set_parameters", request).results[0]


def test_parameters_live_or_read_only_and_qos_events(
    spawn, ros_env, ros_probe, tmp_path, files
) -> None:
    """Issue 14.3/14.12: writable parameters are validated and applied live, read-only ones
    refused, nothing stops the node; an incompatible peer is reported on /diagnostics."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import DurabilityPolicy, QoSProfile

    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    node = _start(spawn, ros_env, tmp_path, files, autostart="true")
    ros_probe.wait_for(lambda: _status(diags).get("lifecycle_state") == "active", 60, "active")

    assert _set(ros_probe, retrain_every=50).successful
    ros_probe.wait_for(lambda: _status(diags)["next_retrain_after"] == "50", 10, "applied")
    refused = {
        "retrain_every": 5,  # below its range
        "drop_warn_fraction": float("nan"),
        "checkpoint": str(tmp_path / "missing.pt"),  # live, but the file must exist
        "sim_data": str(tmp_path / "no_such_dir"),
        "data_dir": str(tmp_path / "elsewhere"),  # read-only: the store is open
        "segment_length": 50,  # read-only
    }
    for name, value in refused.items():
        result = _set(ros_probe, **{name: value})
        assert not result.successful and result.reason, name
    assert "no such file" in _set(ros_probe, checkpoint=str(tmp_path / "missing.pt")).reason
    assert _set(ros_probe, drop_warn_fraction=1).successful  # an integer for a double
    assert node.popen.poll() is None

    # a subscriber wanting transient-local durability cannot get it from this publisher
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros_probe.node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: None, latched)
    ros_probe.wait_for(
        lambda: "/diagnostics" in _status(diags, "finetune_node: qos").get("message", ""),
        30,
        "the incompatible QoS reported",
    )
    assert _status(diags, "finetune_node: qos")["level"] == 1
    assert "incompatible QoS on '/diagnostics'" in node.output()


def test_configure_refuses_missing_files_and_says_why(
    spawn, ros_env, ros_probe, tmp_path, files
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    missing = tmp_path / "missing.pt"
    node = _start(spawn, ros_env, tmp_path, {**files, "checkpoint": missing})
    ros_probe.wait_for(lambda: _status(diags).get("lifecycle_state") == "unconfigured", 60, "up")
    assert not _transition(ros_probe, "configure")
    ros_probe.wait_for(
        lambda: (
            f"configure failed: no such file: checkpoint {missing}"
            in _status(diags).get("message", "")
        ),
        10,
        "the reason on /diagnostics",
    )
    ros_probe.wait_for(
        lambda: (
            _status(diags)["lifecycle_state"] == "unconfigured"
            and "no such file" in _status(diags)["message"]
        ),
        10,
        "back to unconfigured, still saying why",
    )
    assert _set(ros_probe, checkpoint=str(files["checkpoint"])).successful
    assert _transition(ros_probe, "configure") and _transition(ros_probe, "activate")
    ros_probe.wait_for(lambda: _status(diags).get("lifecycle_state") == "active", 10, "active")
    assert node.popen.poll() is None


def test_sim_time_from_zero(spawn, ros_env, ros_probe, tmp_path, files) -> None:
    """Under use_sim_time the recorder's clock is /clock, which starts at 0: sim-stamped
    states are recorded; a wall-clock stamp there is far from the clock and dropped."""
    from diagnostic_msgs.msg import DiagnosticArray

    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    robot = Robot(ros_probe, sim_clock=True)
    _start(spawn, ros_env, tmp_path, files, autostart="true", use_sim_time="true")
    recorded = lambda: int(_status(diags).get("transitions_recorded", 0))  # noqa: E731
    ros_probe.wait_for(lambda: recorded() >= 30, 60, "sim-time states recorded")
    assert "stamp_far_from_clock" not in _dropped(diags)
    robot.stamp_offset = 1.79e9  # a driver stamping wall time next to a simulator's /clock
    ros_probe.wait_for(
        lambda: "stamp_far_from_clock" in _status(diags).get("message", ""), 30, "a drop WARN"
    )
