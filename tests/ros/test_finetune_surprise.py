"""Issue 17 on a real finetune_node process: the controller's windowed surprise (its
'mpc_controller: uncertainty' status on /diagnostics, sent here by the test's probe as the
controller would) starts a retrain before retrain_every new transitions when it stays high,
not when it is low; a missing status goes stale; record_when: surprised stores only the
segments recorded while the controller was surprised. The new parameters are validated at
start-up and live like the others (one-line reasons)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from mbrl_control.finetune.surprise_trigger import UNCERTAINTY_STATUS
from tests.ros.test_finetune_node import BIN, Robot, _set, _start, _status

pytestmark = pytest.mark.ros


class Controller:
    """The controller's uncertainty status, 5 times a second (the real one: once a second),
    from the probe. ``surprise`` ('' = not known yet) and ``level`` can change while it runs;
    ``active`` False stops it."""

    def __init__(self, probe) -> None:
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

        self._types = DiagnosticArray, DiagnosticStatus, KeyValue
        self.surprise: float | str = ""
        self.level = "OK"
        self.active = True
        self.sent = 0
        self._lock = threading.Lock()
        self._pub = probe.node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        probe.node.create_timer(0.2, self._tick)

    def set(self, surprise: float | str, level: str = "OK") -> None:
        with self._lock:
            self.surprise, self.level = surprise, level

    def _tick(self) -> None:
        if not self.active:
            return
        array, status, kv = self._types
        with self._lock:
            surprise, level = self.surprise, self.level
        values = {"surprise": str(surprise), "surprise_transitions": "25", "surprise_window": "25",
                  "epistemic_disagreement": "1.0", "uncertainty_level": level}  # fmt: skip
        msg = status(
            level=bytes([("OK", "WARN", "ERROR").index(level)]),
            name=UNCERTAINTY_STATUS,
            message="test",
            hardware_id="cartpole_swingup",
            values=[kv(key=k, value=v) for k, v in values.items()],
        )
        self._pub.publish(array(status=[msg]))
        self.sent += 1


@pytest.fixture
def files(tmp_path: Path, planner_dir: Path) -> dict[str, Path]:
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_text('{"this": "is JSON, not a checkpoint"}')  # the job fails fast
    return {"planner": planner_dir / "planner_a.onnx", "checkpoint": checkpoint}


def _int(diags, key: str) -> int:
    return int(_status(diags).get(key, 0) or 0)


def _pause(probe, seconds: float) -> None:
    until = time.monotonic() + seconds
    probe.wait_for(lambda: time.monotonic() > until, seconds + 5, f"{seconds:g} s")


def test_high_surprise_retrains_early_low_does_not_stale_is_said(
    spawn, ros_env, ros_probe, tmp_path, files
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    Robot(ros_probe)
    controller = Controller(ros_probe)
    controller.set(0.3)  # far below the threshold
    node = _start(
        spawn, ros_env, tmp_path, files, autostart="true", retrain_every=100000,
        retrain_on_surprise=1.5, surprise_hold_s=1.0, surprise_min_transitions=30,
    )  # fmt: skip
    ros_probe.wait_for(lambda: _status(diags).get("surprise_source") == "live", 60, "surprise seen")
    assert float(_status(diags)["surprise_seen"]) == pytest.approx(0.3)

    # low surprise: > 3x surprise_min_transitions and > 3x surprise_hold_s, no retrain
    ros_probe.wait_for(lambda: _int(diags, "since_last_train") >= 100, 60, "100 new transitions")
    _pause(ros_probe, 3.0)
    status = _status(diags)
    assert status["surprise_retrains"] == "0" and status["trains"] == "0", status
    assert status["state"] == "recording" and status["surprise_retrain_pending"] == "false"
    assert status["surprise_held_s"] == "0" and float(status["surprise_age_s"]) <= 2.0

    # the new parameters are validated live, refused in one line naming the rule
    refused = {
        "retrain_on_surprise": -1.0,  # below its range
        "surprise_hold_s": float("nan"),
        "surprise_min_transitions": 200000,  # > retrain_every while retrain_on_surprise is on
        "retrain_every": 20,  # < surprise_min_transitions while on
        "record_when": "sometimes",
    }
    for name, value in refused.items():
        result = _set(ros_probe, **{name: value})
        assert not result.successful and result.reason and "\n" not in result.reason, name
    reason = _set(ros_probe, surprise_min_transitions=200000).reason
    assert "surprise_min_transitions=200000 must be <= retrain_every=100000" in reason
    assert (
        "'record_when' must be one of 'always', 'surprised'"
        in _set(ros_probe, record_when="sometimes").reason
    )
    assert _set(ros_probe, surprise_hold_s=1).successful  # an integer for a double

    # high surprise: a retrain starts long before retrain_every (100000) new transitions
    controller.set(4.0, "ERROR")
    ros_probe.wait_for(lambda: _int(diags, "surprise_retrains") >= 1, 60, "an early retrain")
    assert _int(diags, "since_last_train") < 100000
    # the usual job ran (it fails on the JSON checkpoint) and says what triggered it
    ros_probe.wait_for(lambda: _int(diags, "trains") >= 1, 120, "the retrain to finish")
    gate = json.loads(_status(diags)["last_gate"])
    assert gate["trigger"] == "surprise" and "cannot read checkpoint" in gate["error"], gate
    assert gate["threshold_at"] is not None and gate["started_at"] >= gate["threshold_at"]
    assert "retraining in pid" in node.output() and "(early: the controller's surprise 4" in (
        node.output()
    )

    # the controller goes quiet: stale within 2 s (+ margin), not surprised, said so
    controller.active = False
    ros_probe.wait_for(lambda: _status(diags).get("surprise_source") == "stale", 20, "stale")
    status = _status(diags)
    assert status["surprise_retrain_pending"] == "false" and status["surprise_held_s"] == "0"
    # stale means older than 2 s; the status rounds the age to 0.01 s, so 2.001 s reads "2.0"
    assert float(status["surprise_age_s"]) >= 2.0
    assert node.popen.poll() is None


def test_record_when_surprised_stores_only_surprised_segments(
    spawn, ros_env, ros_probe, tmp_path, files
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    Robot(ros_probe)
    controller = Controller(ros_probe)
    controller.active = False  # no controller yet
    node = _start(
        spawn, ros_env, tmp_path, files, autostart="true", retrain_every=100000,
        record_when="surprised",
    )  # fmt: skip
    skipped = lambda: json.loads(_status(diags).get("segments_skipped", "{}") or "{}")  # noqa: E731
    ros_probe.wait_for(
        lambda: skipped().get("no_uncertainty_status", 0) >= 3, 60, "segments skipped, no status"
    )
    status = _status(diags)
    assert status["since_last_train"] == "0" and status["surprise_source"] == "none", status
    ros_probe.wait_for(
        lambda: "segments are skipped" in _status(diags)["message"], 10, "a WARN saying so"
    )
    assert _status(diags)["level"] == 1

    controller.set(0.2, "OK")  # the controller is sure of itself: still nothing stored
    controller.active = True
    ros_probe.wait_for(lambda: skipped().get("not_surprised", 0) >= 3, 60, "unsurprised skipped")
    assert _int(diags, "since_last_train") == 0, _status(diags)

    controller.set(0.9, "WARN")  # surprised: segments are stored again
    ros_probe.wait_for(lambda: _int(diags, "since_last_train") >= 30, 60, "surprised stored")
    assert _int(diags, "transitions_skipped") >= sum(skipped().values()) >= 6
    ros_probe.wait_for(lambda: _status(diags)["level"] == 0, 10, "no WARN once surprised")
    assert node.popen.poll() is None


BAD_STARTUP = [
    ("-p retrain_on_surprise:=-0.5", "'retrain_on_surprise'"),
    ("-p record_when:=sometimes", "'record_when'"),
    (
        "-p data_dir:=/tmp/d -p checkpoint:=/tmp/c -p planner:=/tmp/p -p retrain_every:=100 "
        "-p retrain_on_surprise:=2.0 -p surprise_min_transitions:=500",
        "surprise_min_transitions=500 must be <= retrain_every=100",
    ),
]


@pytest.mark.parametrize(("args", "names"), BAD_STARTUP, ids=[n for _, n in BAD_STARTUP])
def test_bad_surprise_parameters_at_startup_are_one_line_and_exit_2(args, names, ros_env) -> None:
    done = subprocess.run(
        [str(BIN / "finetune_node"), "--ros-args", *args.split()],
        capture_output=True, text=True, timeout=120, env=ros_env,
    )  # fmt: skip
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("finetune_node: error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr + done.stdout, done.stderr
    assert len(errors) == 1 and names in errors[0], done.stderr
