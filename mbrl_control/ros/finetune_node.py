"""``finetune_node``: records robot transitions, retrains, gates and hot-swaps planners.

Subscribes /joint_states and /commands, pairs them into transitions at the control rate
(:class:`TransitionRecorder`) and appends finished segments crash-safely to a transition
store. Every ``retrain_every`` new transitions it runs ``mbrl-control finetune`` in a
**separate process** (callbacks never block); if the gate deploys a new planner it sets the
controller's ``model_path`` and calls its ``~/reload_model``. State goes to /diagnostics.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger

from mbrl_control.control.core import Level
from mbrl_control.control.params import param_meta
from mbrl_control.data.store import TransitionStore
from mbrl_control.finetune.recorder import Segment, TransitionRecorder
from mbrl_control.ros.diagnostics import diagnostic_array
from mbrl_control.ros.params import declare_config
from mbrl_control.ros.spin import run_node, usage
from mbrl_control.tasks import get_task


@dataclass(frozen=True)
class FinetuneConfig:
    """Parameters of ``finetune_node``."""

    task: str = field(default="cartpole_swingup", metadata=param_meta("task name", read_only=True))
    data_dir: str = field(
        default="", metadata=param_meta("transition store for real data (required)")
    )
    sim_data: str = field(
        default="", metadata=param_meta("sim transition store mixed in ('' = none)")
    )
    checkpoint: str = field(default="", metadata=param_meta("live model checkpoint (required)"))
    planner: str = field(default="", metadata=param_meta("live planner ONNX file (required)"))
    model_dir: str = field(default="", metadata=param_meta("where new planners are written"))
    controller: str = field(default="mpc_controller", metadata=param_meta("controller node name"))
    retrain_every: int = field(
        default=1000, metadata=param_meta("new transitions between retrains", range=(10, 10**9))
    )
    real_ratio: float = field(
        default=0.9,
        metadata=param_meta("share of real rows per batch with sim_data", range=(0.01, 1.0)),
    )
    holdout_episodes: int = field(
        default=1, metadata=param_meta("newest real segments held out for the gate", range=(1, 100))
    )
    max_epochs: int = field(
        default=50, metadata=param_meta("training epochs cap", range=(1, 10000))
    )
    segment_length: int = field(
        default=200, metadata=param_meta("transitions per stored segment", range=(10, 100000))
    )


class FinetuneNode(Node):
    def __init__(self) -> None:
        super().__init__("finetune_node")
        self.cfg = cfg = declare_config(self, FinetuneConfig)
        for key in ("data_dir", "checkpoint", "planner"):
            if not getattr(cfg, key):
                raise ValueError(f"finetune_node: parameter {key!r} is required")
        self.task = get_task(cfg.task)
        self.store = TransitionStore(cfg.data_dir)
        self.recorder = TransitionRecorder(
            self.task, self._on_segment, max_length=cfg.segment_length
        )
        self.live = {"checkpoint": cfg.checkpoint, "planner": cfg.planner}
        self.since_train = 0
        self.trains = 0
        self.state = "recording"
        self.last_gate: dict[str, Any] = {}
        self._proc: subprocess.Popen | None = None
        self._proc_out: Path | None = None
        self._pending: Any = None  # future of the current service call
        self._wire_io()

    def _wire_io(self) -> None:
        self.create_subscription(
            JointState,
            "/joint_states",
            self._on_joint_state,
            qos_profile_sensor_data,
        )
        self.create_subscription(Float64MultiArray, "/commands", self._on_command, 10)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        ctrl = self.cfg.controller
        self.set_params = self.create_client(SetParameters, f"/{ctrl}/set_parameters")
        self.reload = self.create_client(Trigger, f"/{ctrl}/reload_model")
        self.create_timer(0.5, self._on_work)

    # ---- recording --------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.recorder.on_state(msg.name, msg.position, msg.velocity, stamp, time.monotonic())

    def _on_command(self, msg: Float64MultiArray) -> None:
        self.recorder.on_command(msg.data, time.monotonic())

    def _on_segment(self, segment: Segment) -> None:
        obs, action = segment
        self.store.append_episode(obs, action, {"source": "real", "task": self.task.name})
        self.since_train += len(action)

    # ---- the work loop: start training, poll it, deploy (never blocks) -------------------
    def _on_work(self) -> None:
        if self.state == "recording" and self.since_train >= self.cfg.retrain_every:
            self._start_training()
        elif self.state == "training" and self._proc.poll() is not None:
            self._finish_training()
        elif self.state in ("setting_param", "reloading") and self._pending.done():
            self._advance_deploy()
        self._publish_diagnostics()

    def _start_training(self) -> None:
        out = Path(self.cfg.model_dir or Path(self.cfg.data_dir) / "models")
        out.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "mbrl_control.cli",
            "finetune",
            "--task",
            self.task.name,
            "--data",
            self.cfg.data_dir,
            "--checkpoint",
            self.live["checkpoint"],
            "--planner",
            self.live["planner"],
            "--out",
            str(out),
            "--json",
            "--quiet",
            "--real-ratio",
            str(self.cfg.real_ratio),
            "--holdout-episodes",
            str(self.cfg.holdout_episodes),
            "--max-epochs",
            str(self.cfg.max_epochs),
        ]
        if self.cfg.sim_data:
            argv += ["--sim-data", self.cfg.sim_data]
        self._proc_out = out / f"finetune-{self.trains + 1}.json"
        log = self._proc_out.with_suffix(".log")  # the training process's stderr
        with self._proc_out.open("w") as fh, log.open("w") as err:
            self._proc = subprocess.Popen(argv, stdout=fh, stderr=err)
        self.since_train = 0
        self.state = "training"
        self.get_logger().info(f"retraining in pid {self._proc.pid} on {len(self.store)} segments")

    def _finish_training(self) -> None:
        self.trains += 1
        try:
            self.last_gate = json.loads(self._proc_out.read_text())
        except (OSError, ValueError) as exc:
            log = self._proc_out.with_suffix(".log")
            self.last_gate = {"error": f"finetune exited {self._proc.returncode}: {exc}; see {log}"}
        self.last_gate["finished_at"] = time.time()
        self.get_logger().info(f"gate: {json.dumps(self.last_gate)}")
        if not self.last_gate.get("deploy"):
            self.state = "recording"
            return
        value = ParameterValue(
            type=ParameterType.PARAMETER_STRING, string_value=self.last_gate["planner"]
        )
        request = SetParameters.Request(parameters=[ParameterMsg(name="model_path", value=value)])
        self._pending = self.set_params.call_async(request)
        self.state = "setting_param"

    def _advance_deploy(self) -> None:
        result = self._pending.result()
        if self.state == "setting_param":
            ok = result is not None and all(r.successful for r in result.results)
            if not ok:
                self.last_gate["deployed"] = False
                self.state = "recording"
                return
            self._pending = self.reload.call_async(Trigger.Request())
            self.state = "reloading"
            return
        self.last_gate["deployed"] = bool(result and result.success)
        self.last_gate["reload_message"] = result.message if result else "no answer"
        if self.last_gate["deployed"]:
            self.live = {k: self.last_gate[k] for k in ("checkpoint", "planner")}
        self.get_logger().info(f"deploy: {self.last_gate['reload_message']}")
        self.state = "recording"

    def _publish_diagnostics(self) -> None:
        stats = self.recorder.stats
        values = {
            "state": self.state,
            "transitions_recorded": stats.transitions,
            "segments": stats.segments,
            "gaps": stats.gaps,
            "dropped_out_of_order": stats.dropped_out_of_order,
            "bad_states": stats.bad_states,
            "since_last_train": self.since_train,
            "trains": self.trains,
            "live_planner": self.live["planner"],
            "last_gate": json.dumps(self.last_gate),
        }
        level = Level.WARN if "error" in self.last_gate else Level.OK
        self.pub_diag.publish(
            diagnostic_array(self, "finetune_node", self.task.name, level, self.state, values)
        )


def main(args: list[str] | None = None) -> int:
    return run_node(FinetuneNode, args, help_text=usage("finetune_node", __doc__, FinetuneConfig))


if __name__ == "__main__":
    sys.exit(main())
