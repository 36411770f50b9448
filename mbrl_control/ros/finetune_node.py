"""finetune_node: a managed (lifecycle) node that records robot transitions, retrains, gates
and hot-swaps planners into the running controller.

Topics (relative, so namespaces and remaps work): joint_states in (sensor-data QoS),
commands in (best-effort: hears best-effort and reliable publishers), episode_start in
(std_msgs/Header from the simulator at each reset: the segment ends there; best-effort too);
/diagnostics out (global). Incompatible-QoS events are logged and reported on /diagnostics.

Lifecycle (ros2 lifecycle set /finetune_node <transition>): configure opens the transition
store and checks the live files; activate starts recording (and retraining every
retrain_every new transitions); deactivate stores the current segment and stops recording and
any retraining in progress; cleanup and shutdown release the store. Diagnostics report the
lifecycle state in every state. With autostart:=true the node configures and activates itself.

Recording: states and commands are paired at the control rate by the recorder, timed on the
node's clock (it follows /clock under use_sim_time). No single message can stop recording or
the node: a state stamped far from the clock is rejected, not adopted, and dropping more than
drop_warn_fraction of the states is a WARN on /diagnostics naming the reason.

Retraining runs `mbrl-control finetune` in a separate process at low CPU priority (niceness
job_nice >= 10, mbrl_control.finetune.jobs; callbacks never block). If the gate deploys a new
planner, the node sets the controller's model_path, calls its ~/reload_model, and takes the new
files as its own checkpoint and planner. A failed run is reported in plain words, and the next
try waits retrain_every x 2^failures new transitions (at most retrain_every x
retry_backoff_max). The diagnostics' last_gate holds the job's gate result and the cycle's
wall-clock times (time.time(), s): threshold_at (new-data threshold reached), started_at,
finished_at, deployed_at (the controller answered ~/reload_model).

Adaptation (adapt:=true): once adapt_after_s seconds of robot data are recorded (control steps
/ control rate), the node runs `mbrl-control adapt` instead of the next retrain, as the same
kind of low-priority job: calibrate the simulator to the recorded data, re-pretrain the
pretraining run (adapt_run) warm on the calibrated profile, finetune on the real data, gate
against the live model on the newest real episodes; a result that passes is hot-swapped like a
retrain's. It runs once; setting adapt to true again runs it again. Recording goes on meanwhile;
retraining waits for it.

Surprise (retrain_on_surprise > 0 or record_when: surprised): the node subscribes to
/diagnostics and reads the controller's 'mpc_controller: uncertainty' status (windowed
surprise, uncertainty_level; mbrl_control.finetune.surprise_trigger). A status older than 2 s
(wall clock) is stale and counts as not surprised (surprise_source: stale). When the surprise
has stayed >= retrain_on_surprise for surprise_hold_s and surprise_min_transitions new
transitions are stored (x 2^failures after failed runs, like retrain_every), the usual retrain
starts early (same job, gate and hot swap; last_gate's trigger says 'surprise'). With
record_when: surprised a segment is stored only if, at some time while it was recorded, the
latest live status had uncertainty_level WARN or ERROR or surprise >= retrain_on_surprise (when
on); the others are counted in segments_skipped by reason (not_surprised,
no_uncertainty_status) and are not new transitions.

Parameters: every parameter is applied live after validation or is read-only (listed below).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import (
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, Header
from std_srvs.srv import Trigger

from mbrl_control.control.core import Level
from mbrl_control.control.params import autostart_field, param_meta
from mbrl_control.data.csv_import import check_store_widths
from mbrl_control.data.goal_messages import GOAL_TOPIC, POINT_TYPE, goal_msg_type, goal_values
from mbrl_control.data.store import TransitionStore
from mbrl_control.finetune.gate_job import failure_reason, retrain_threshold
from mbrl_control.finetune.jobs import adapt_argv, finetune_argv, niced_argv
from mbrl_control.finetune.recorder import TransitionRecorder
from mbrl_control.finetune.surprise_trigger import (
    RECORD_WHEN,
    UNCERTAINTY_STATUS,
    SurpriseTrigger,
    reading_of,
)
from mbrl_control.ros.diagnostics import array_of, status_of, values_of
from mbrl_control.ros.managed import guard_change_state, incompatible_qos_message, lifecycle_label
from mbrl_control.ros.params import LiveConfig
from mbrl_control.ros.spin import run_node, usage
from mbrl_control.tasks import Task, get_task
from mbrl_control.tasks.portable import disagreement, task_from_metadata

NAME = "finetune_node"
WORK_PERIOD = 0.5  # s: poll the training process, publish diagnostics
BEST_EFFORT = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
"""A best-effort subscription matches best-effort and reliable publishers alike."""
LIVE_FILES = ("checkpoint", "planner")
RUN_FILES = ("model.pt", "planner.onnx", "rounds.json", "data")
"""What a pretraining run folder holds (adapt re-pretrains it)."""
ADAPT_KEYS = ("deploy", "planner", "checkpoint", "reason", "choice", "held_out_error", "total_s")
"""The keys of an adapt result the node keeps as its last gate."""


def run_problem(folder: str | Path) -> str:
    """Why ``folder`` is not a pretraining run ('' when it is one)."""
    missing = [f for f in RUN_FILES if not (Path(folder) / f).exists()]
    return (
        f"adapt_run {str(folder)!r} is not a pretraining run (missing {', '.join(missing)})"
        if missing
        else ""
    )


@dataclass(frozen=True)
class FinetuneConfig:
    """Parameters of ``finetune_node`` (read-only ones are fixed at start-up)."""

    task: str = field(
        default="",
        metadata=param_meta(
            "'' = the task recorded in the planner file; a built-in name or task file must "
            "agree with it",
            read_only=True,
        ),
    )
    data_dir: str = field(
        default="",
        metadata=param_meta("transition store for real data (required)", read_only=True),
    )
    sim_data: str = field(
        default="", metadata=param_meta("sim transition store mixed in ('' = none)")
    )
    checkpoint: str = field(default="", metadata=param_meta("live model checkpoint (required)"))
    planner: str = field(default="", metadata=param_meta("live planner ONNX file (required)"))
    model_dir: str = field(
        default="",
        metadata=param_meta(
            "where new planners are written ('' = data_dir/models)", read_only=True
        ),
    )
    controller: str = field(
        default="mpc_controller",
        metadata=param_meta("controller node name (relative to this namespace)", read_only=True),
    )
    retrain_every: int = field(
        default=1000, metadata=param_meta("new transitions between retrains", range=(10, 10**9))
    )
    retry_backoff_max: int = field(
        default=16,
        metadata=param_meta(
            "after failed retrains wait up to this many times retrain_every", range=(1, 1024)
        ),
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
        default=200,
        metadata=param_meta("transitions per stored segment", range=(10, 100000), read_only=True),
    )
    max_stamp_offset: float = field(
        default=2.0,
        metadata=param_meta(
            "largest |header stamp - node clock| (s) of a recorded state",
            range=(0.001, 1e6),
            read_only=True,
        ),
    )
    drop_warn_fraction: float = field(
        default=0.1,
        metadata=param_meta(
            "WARN when more than this share of joint states is dropped", range=(0.0, 1.0)
        ),
    )
    retrain_on_surprise: float = field(
        default=0.0,
        metadata=param_meta(
            "retrain early when the controller's windowed surprise (nats per predicted dim, "
            "its 'mpc_controller: uncertainty' status) stays >= this for surprise_hold_s "
            "(0 = off)",
            range=(0.0, 1e6),
        ),
    )
    surprise_hold_s: float = field(
        default=2.0,
        metadata=param_meta(
            "s the surprise must stay >= retrain_on_surprise before an early retrain",
            range=(0.0, 3600.0),
        ),
    )
    surprise_min_transitions: int = field(
        default=200,
        metadata=param_meta(
            "new transitions an early (surprise) retrain needs at least; <= retrain_every",
            range=(10, 10**9),
        ),
    )
    record_when: str = field(
        default="always",
        metadata=param_meta(
            "'always': store every segment; 'surprised': only segments during which the "
            "controller's uncertainty level was WARN/ERROR or its surprise >= "
            "retrain_on_surprise (the others are counted as skipped)",
            choices=RECORD_WHEN,
        ),
    )
    adapt: bool = field(
        default=False,
        metadata=param_meta(
            "run the adaptation loop (calibrate, re-pretrain, finetune, gate) once after "
            "adapt_after_s of robot data; true again: once more"
        ),
    )
    adapt_after_s: float = field(
        default=60.0,
        metadata=param_meta("seconds of recorded robot data before adapting", range=(1.0, 1e6)),
    )
    adapt_run: str = field(
        default="",
        metadata=param_meta(
            "pretraining run folder (model.pt, planner.onnx, data/, rounds.json) adapt "
            "re-pretrains ('' = the folder of the checkpoint parameter at configure)"
        ),
    )
    adapt_rounds: int = field(
        default=2, metadata=param_meta("planner rounds of re-pretraining", range=(0, 1000))
    )
    adapt_episodes_per_round: int = field(
        default=5, metadata=param_meta("episodes per re-pretraining round", range=(1, 10000))
    )
    adapt_evaluations: int = field(
        default=400, metadata=param_meta("CMA-ES evaluations of the calibration", range=(8, 10**7))
    )
    job_nice: int = field(
        default=10,
        metadata=param_meta(
            "niceness of the retraining and adaptation processes (the controller's is 0)",
            range=(10, 19),
        ),
    )
    autostart: bool = autostart_field()

    def __post_init__(self) -> None:
        for key in ("data_dir", *LIVE_FILES):
            if not getattr(self, key):
                raise ValueError(f"parameter {key!r} is required (a path)")
        if self.record_when not in RECORD_WHEN:
            raise ValueError(f"record_when={self.record_when!r}; allowed: {RECORD_WHEN}")
        if self.retrain_on_surprise > 0 and self.surprise_min_transitions > self.retrain_every:
            raise ValueError(
                f"surprise_min_transitions={self.surprise_min_transitions} must be <= "
                f"retrain_every={self.retrain_every} while retrain_on_surprise is on "
                "(set both at once, or the other first)"
            )

    @property
    def watches_surprise(self) -> bool:
        """The controller's uncertainty status is needed (retrain or record on surprise)."""
        return self.retrain_on_surprise > 0 or self.record_when == "surprised"


class FinetuneNode(LifecycleNode):
    def __init__(self) -> None:
        super().__init__(NAME)
        guard_change_state(self)
        self._configured = False
        self.params = LiveConfig(self, FinetuneConfig, apply=self._apply, check=self._check)
        self.task: Task | None = None  # the live planner's, read at configure
        self.store: TransitionStore | None = None
        self.recorder: TransitionRecorder | None = None
        self.live = {k: getattr(self.params.config, k) for k in LIVE_FILES}
        self.recording = False
        self.since_train = 0
        self.real_transitions = 0  # recorded by this node since configure
        self.adapt_state = "off"  # off | waiting | running | done | failed
        self.adaptations = 0
        self.trains = 0
        self.failures = 0  # failed retrain runs in a row (back-off)
        self.state = "idle"
        self.last_gate: dict[str, Any] = {}
        cfg = self.params.config
        self.surprise = SurpriseTrigger(
            cfg.retrain_on_surprise, cfg.surprise_hold_s, cfg.surprise_min_transitions
        )
        self.surprise_retrains = 0  # retrains started early by the controller's surprise
        self.segments_skipped: dict[str, int] = {}  # record_when: surprised, by reason
        self.transitions_skipped = 0
        self._surprise_sub: Any = None  # /diagnostics, while configured and watching surprise
        self._trigger = ""  # why the next job starts: new_transitions | surprise
        self.problem = ""  # why configure (or the work loop) failed
        self.drop_warning = ""
        self.callback_errors = 0
        self.callback_error = ""  # the latest one: a WARN while new ones keep coming
        self._errors_seen = 0
        self.store_warning = ""  # segments that could not be stored since the last period
        self._store_failed_seen = 0
        self._qos_problems: dict[str, str] = {}
        self._proc: subprocess.Popen | None = None
        self._proc_out: Path | None = None
        self._job = ""  # "finetune" or "adapt" while a job runs
        # wall-clock times (time.time(), s) of the cycle, reported in last_gate: new-data
        # threshold reached, job started
        self._threshold_at: float | None = None
        self._times: dict[str, Any] = {}
        self._pending: Any = None  # future of the current service call
        self._io: list[Any] = []  # subscriptions and clients made by configure
        self.pub_diag = self.create_publisher(
            DiagnosticArray,
            "/diagnostics",
            10,
            event_callbacks=PublisherEventCallbacks(
                incompatible_qos=lambda info: self._on_qos("/diagnostics", "offers", info)
            ),
        )
        self.create_timer(WORK_PERIOD, self._on_work)
        autostart = self.params.config.autostart
        if autostart and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    @property
    def cfg(self) -> FinetuneConfig:
        return self.params.config

    # ---- parameters ---------------------------------------------------------------------
    def _check(self, cfg: FinetuneConfig) -> None:
        """Live sets (once configured): the live files and sim_data must exist; with adapt,
        adapt_run must be a pretraining run."""
        if not self._configured:
            return
        if cfg.adapt and (why := run_problem(self._adapt_run(cfg))):
            raise ValueError(why)
        for key in LIVE_FILES:
            if not Path(getattr(cfg, key)).is_file():
                raise ValueError(f"{key} {getattr(cfg, key)!r}: no such file")
        if cfg.sim_data and not Path(cfg.sim_data).is_dir():
            raise ValueError(f"sim_data {cfg.sim_data!r}: no such directory")

    def _apply(self, cfg: FinetuneConfig, changed: frozenset[str]) -> None:
        """Applied at once: files and retraining settings are read at the next retrain."""
        if changed & {*LIVE_FILES, "sim_data"}:
            self.live = {k: getattr(cfg, k) for k in LIVE_FILES}
            self.failures = 0  # the operator changed the inputs: try again at the normal pace
        if "adapt" in changed and self.adapt_state != "running":
            self.adapt_state = "waiting" if cfg.adapt else "off"
        self.surprise.configure(
            cfg.retrain_on_surprise, cfg.surprise_hold_s, cfg.surprise_min_transitions
        )
        self._watch_surprise()
        self.get_logger().info(f"parameters applied: {', '.join(sorted(changed))}")

    # ---- lifecycle ----------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        cfg = self.cfg
        missing = [
            f"{k} {getattr(cfg, k)}" for k in LIVE_FILES if not Path(getattr(cfg, k)).is_file()
        ]
        if missing:
            return self._refuse("configure", f"no such file: {', '.join(missing)}")
        try:
            self.task = self._task(cfg)
        except (ValueError, FileNotFoundError) as exc:
            return self._refuse("configure", str(exc))
        self._run_at_configure = str(Path(cfg.checkpoint).resolve().parent)
        if cfg.adapt and (why := run_problem(self._adapt_run(cfg))):
            return self._refuse("configure", why)
        self.adapt_state = "waiting" if cfg.adapt else "off"
        self.real_transitions = 0
        fixed = getattr(self.task, "goal_fixed", None)
        self._goal = (
            np.zeros(0, np.float32)
            if not self.task.goal_dim
            else (None if fixed is None else np.asarray(fixed, np.float32))
        )
        try:
            self.store = TransitionStore(cfg.data_dir)
            check_store_widths(self.store, self.task)
            self.recorder = TransitionRecorder(
                self.task,
                self._on_segment,
                max_length=cfg.segment_length,
                max_stamp_offset=cfg.max_stamp_offset,
            )
        except Exception as exc:  # rclpy would swallow it silently: say why configure failed
            return self._refuse("configure", f"cannot open data_dir {cfg.data_dir!r}: {exc}")
        try:
            self._wire_io()
        except Exception as exc:
            self._release()
            return self._refuse("configure", f"cannot create topics/clients: {exc!r}")
        self._configured, self.problem, self.state = True, "", "configured"
        self._watch_surprise()
        self.get_logger().info(f"configured: recording into {cfg.data_dir}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.recording, self.state = True, "recording"
        self.get_logger().info("activated: recording")
        self._publish_diagnostics()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop("deactivated: recording stopped")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop("shut down: recording stopped")
        self._release()
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop("lifecycle error: recording stopped")
        self._release()
        return super().on_error(state)

    def _refuse(self, step: str, reason: str) -> TransitionCallbackReturn:
        self.problem = f"{step} failed: {reason}"
        self.get_logger().error(self.problem)
        self._publish_diagnostics()
        return TransitionCallbackReturn.FAILURE

    def _stop(self, reason: str) -> None:
        """Store the current segment, stop recording and any retraining in progress."""
        self.recording = False
        if self.recorder is not None:
            self.recorder.flush()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            what = "adaptation" if self._job == "adapt" else "retraining"
            reason += f" ({what} in progress was stopped)"
            if self._job == "adapt":
                self.adapt_state = "waiting"  # runs again once active
        self._proc, self._pending = None, None
        self.state = "configured" if self._configured else "idle"
        self.get_logger().info(reason)
        self._publish_diagnostics()

    def _release(self) -> None:
        for entity in self._io:
            (self.destroy_client if hasattr(entity, "call_async") else self.destroy_subscription)(
                entity
            )
        self._io, self.store, self.recorder = [], None, None
        self._store_failed_seen, self.store_warning = 0, ""
        self._configured, self.state = False, "idle"
        self._watch_surprise()
        self._publish_diagnostics()

    def _lifecycle_label(self) -> str:
        return lifecycle_label(self)

    def destroy_node(self) -> None:
        if self.recording or (self._proc is not None and self._proc.poll() is None):
            self._stop("exiting: recording stopped")
        super().destroy_node()

    # ---- topics and clients (made by configure, released by cleanup) ---------------------
    def _wire_io(self) -> None:
        def sub(msg_type: Any, topic: str, callback: Any, qos: Any) -> None:
            events = SubscriptionEventCallbacks(
                incompatible_qos=lambda info: self._on_qos(topic, "requests", info)
            )
            guarded = self._guard(topic, callback)
            self._io.append(
                self.create_subscription(msg_type, topic, guarded, qos, event_callbacks=events)
            )

        sub(JointState, "joint_states", self._on_joint_state, qos_profile_sensor_data)
        sub(Float64MultiArray, "commands", self._on_command, BEST_EFFORT)
        sub(Header, "episode_start", self._on_episode_start, BEST_EFFORT)
        if self.task.goal_dim and getattr(self.task, "goal_kind", "box") != "fixed":
            point = goal_msg_type(self.task.goal_dim) == POINT_TYPE
            goal_type = PointStamped if point else Float64MultiArray
            sub(goal_type, GOAL_TOPIC, self._on_goal, BEST_EFFORT)
        ctrl = self.cfg.controller
        self.set_params = self.create_client(SetParameters, f"{ctrl}/set_parameters")
        self.reload = self.create_client(Trigger, f"{ctrl}/reload_model")
        self._io += [self.set_params, self.reload]

    def _watch_surprise(self) -> None:
        """Subscribe to /diagnostics while configured and retrain_on_surprise or record_when
        needs the controller's uncertainty status; unsubscribe otherwise."""
        want = self._configured and self.cfg.watches_surprise
        if want and self._surprise_sub is None:
            events = SubscriptionEventCallbacks(
                incompatible_qos=lambda info: self._on_qos("/diagnostics", "requests", info)
            )
            self._surprise_sub = self.create_subscription(
                DiagnosticArray, "/diagnostics", self._on_diagnostics, BEST_EFFORT,
                event_callbacks=events,
            )  # fmt: skip
        elif not want and self._surprise_sub is not None:
            self.destroy_subscription(self._surprise_sub)
            self._surprise_sub = None

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        """Keep the controller's latest uncertainty status (receive time: time.monotonic())."""
        try:
            for status in msg.status:
                if status.name == UNCERTAINTY_STATUS:
                    self.surprise.observe(reading_of(values_of(status), time.monotonic()))
        except Exception as exc:  # one bad message is counted and logged, no more
            self.callback_errors += 1
            self.callback_error = f"message on '/diagnostics' failed: {type(exc).__name__}: {exc}"
            self.get_logger().error(self.callback_error, throttle_duration_sec=5.0)

    def _guard(self, topic: str, callback: Any) -> Any:
        """``callback`` that cannot raise: one bad message is counted and logged, no more."""

        def guarded(msg: Any) -> None:
            if not self.recording or self.recorder is None:
                return
            try:
                callback(msg)
            except Exception as exc:
                self.callback_errors += 1
                self.callback_error = f"message on '{topic}' failed: {type(exc).__name__}: {exc}"
                self.get_logger().error(self.callback_error, throttle_duration_sec=5.0)

        return guarded

    def _now(self) -> float:
        """Seconds on the node's clock (follows /clock under use_sim_time; may start at 0)."""
        return self.get_clock().now().nanoseconds * 1e-9

    # ---- recording --------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.recorder.on_state(msg.name, msg.position, msg.velocity, stamp, self._now())

    def _on_command(self, msg: Float64MultiArray) -> None:
        self.recorder.on_command(msg.data, self._now())

    def _on_episode_start(self, msg: Header) -> None:
        self.recorder.on_reset(msg.stamp.sec + msg.stamp.nanosec * 1e-9, self._now())

    def _on_goal(self, msg: Any) -> None:
        values = goal_values(msg)
        if values.shape == (self.task.goal_dim,) and np.all(np.isfinite(values)):
            self._goal = values.astype(np.float32)
        else:
            self.get_logger().warning(
                f"goal refused: {values.tolist()} is not {self.task.goal_dim} finite values",
                throttle_duration_sec=1.0,
            )

    def _on_segment(self, segment: tuple[Any, Any]) -> None:
        obs, action = segment
        if self._goal is None:  # a goal task before its first goal: the episode has no goal
            self.recorder.stats.drop(
                "no_goal", "segment recorded before any message on 'goal'", len(action)
            )
            return
        why = self.surprise.segment_verdict(time.monotonic())
        if why and self.cfg.record_when == "surprised":
            self.segments_skipped[why] = self.segments_skipped.get(why, 0) + 1
            self.transitions_skipped += len(action)
            return
        meta = {"source": "real", "task": self.task.name, "goal": self._goal.tolist()}
        self.store.append_episode(obs, action, meta)
        self.since_train += len(action)
        self.real_transitions += len(action)
        if self._threshold_at is None and self.since_train >= self.next_retrain_after():
            self._threshold_at = time.time()

    def _on_qos(self, topic: str, side: str, info: Any) -> None:
        message = incompatible_qos_message(topic, side, info)
        self._qos_problems[topic] = message
        self.get_logger().warning(message)
        self._publish_diagnostics()

    # ---- the work loop: start training, poll it, deploy (never blocks) -------------------
    def _on_work(self) -> None:
        try:
            self._work()
        except Exception as exc:  # the work loop must survive anything
            self.problem = f"work loop failed: {type(exc).__name__}: {exc}"
            self.get_logger().error(self.problem, throttle_duration_sec=5.0)
        self._publish_diagnostics()

    def _work(self) -> None:
        if self.callback_errors == self._errors_seen:
            self.callback_error = ""  # none since the last period: the WARN clears
        self._errors_seen = self.callback_errors
        if self.recorder is not None and self.recording:
            failed = self.recorder.stats.dropped.get("store_failed", 0)
            lost, self._store_failed_seen = failed - self._store_failed_seen, failed
            why = self.recorder.last_error
            self.store_warning = f"{lost} transitions could not be stored: {why}" if lost else ""
            if lost:
                self.get_logger().error(self.store_warning, throttle_duration_sec=5.0)
            warning = self.recorder.check(self.cfg.drop_warn_fraction)
            if warning or self.drop_warning:
                self.drop_warning = warning or ""
                if warning:
                    self.get_logger().warning(warning, throttle_duration_sec=5.0)
        if self.state == "recording" and self._adapt_due():
            self._start_adapt()
        elif self.state == "recording" and self._due():
            self._start_training()
        elif self.state in ("training", "adapting") and self._proc.poll() is not None:
            self._finish_job()
        elif self.state in ("setting_param", "reloading") and self._pending.done():
            self._advance_deploy()

    def next_retrain_after(self) -> int:
        return retrain_threshold(self.cfg.retrain_every, self.failures, self.cfg.retry_backoff_max)

    @staticmethod
    def _task(cfg: FinetuneConfig) -> Task:
        """The live planner's task (the file alone defines it); ``task``, when set, must agree
        with it (``ValueError`` naming both)."""
        from mbrl_control.export.runtime import OnnxPlanner

        task = task_from_metadata(OnnxPlanner(cfg.planner, validate=False).metadata, cfg.planner)
        if cfg.task:
            why = disagreement(get_task(cfg.task), task.metadata(), "the task parameter")
            if why:
                raise ValueError(f"{cfg.planner}: refused: {why}")
        return task

    def surprise_retrain_after(self) -> int:
        """New transitions an early (surprise) retrain needs, backed off like retrain_every."""
        return retrain_threshold(
            self.cfg.surprise_min_transitions, self.failures, self.cfg.retry_backoff_max
        )

    def _due(self) -> bool:
        """A retrain is due: retrain_every new transitions (backed off), or the controller's
        surprise held high with surprise_min_transitions new ones (sets ``_trigger``)."""
        if len(self.store) <= self.cfg.holdout_episodes:
            return False
        if self.since_train >= self.next_retrain_after():
            self._trigger = "new_transitions"
            return True
        if self.surprise.due(time.monotonic(), self.since_train, self.surprise_retrain_after()):
            self._trigger = "surprise"
            return True
        return False

    def _adapt_run(self, cfg: FinetuneConfig) -> str:
        return cfg.adapt_run or getattr(self, "_run_at_configure", "")

    def recorded_seconds(self) -> float:
        """Robot time recorded since configure: control steps / control rate (s)."""
        return self.real_transitions / self.task.control_hz if self.task else 0.0

    def _adapt_due(self) -> bool:
        enough_episodes = len(self.store) > self.cfg.holdout_episodes
        return (
            self.adapt_state == "waiting"
            and enough_episodes
            and self.recorded_seconds() >= self.cfg.adapt_after_s
        )

    def _out_dir(self) -> Path:
        out = Path(self.cfg.model_dir or Path(self.cfg.data_dir) / "models")
        out.mkdir(parents=True, exist_ok=True)
        return out

    def _launch(self, kind: str, args: list[str], stdout: Path) -> None:
        """Start job ``kind`` (``mbrl-control args``) at low priority; its JSON to ``stdout``,
        its stderr beside it (``.log``)."""
        self._proc_out, self._job = stdout, kind
        self._times = {"threshold_at": self._threshold_at, "started_at": time.time()}
        log = stdout.with_suffix(".log")
        with stdout.open("w") as fh, log.open("w") as err:
            self._proc = subprocess.Popen(
                niced_argv(self.cfg.job_nice, args), stdout=fh, stderr=err
            )

    def _start_training(self) -> None:
        cfg, out = self.cfg, self._out_dir()
        args = finetune_argv(
            cfg.data_dir, str(out), self.live["checkpoint"], self.live["planner"],
            real_ratio=cfg.real_ratio, holdout_episodes=cfg.holdout_episodes,
            max_epochs=cfg.max_epochs, sim_data=cfg.sim_data,
        )  # fmt: skip
        early = self._trigger == "surprise"
        if early and self._threshold_at is None:
            self._threshold_at = time.time()  # an early retrain's threshold: when it became due
        self._launch("finetune", args, out / f"finetune-{self.trains + 1}.json")
        self._times["trigger"] = self._trigger
        self.since_train, self._threshold_at = 0, None
        self.state = "training"
        why = ""
        if early:
            self.surprise_retrains += 1
            now = time.monotonic()
            why = (
                f" (early: the controller's surprise {self.surprise.last.surprise:.3g} >= "
                f"{self.cfg.retrain_on_surprise:g} for {self.surprise.held_s(now):.1f} s)"
            )
        self.get_logger().info(
            f"retraining in pid {self._proc.pid} on {len(self.store)} segments{why}"
        )

    def _start_adapt(self) -> None:
        from mbrl_control.pipeline.evaluate import planner_task

        cfg, out = self.cfg, self._out_dir()
        n = self.adaptations + 1
        try:
            task = cfg.task or planner_task(self.live["planner"])
        except ValueError as exc:
            self.adapt_state = "failed"
            self.last_gate = {"job": "adapt", "error": str(exc), "finished_at": time.time()}
            return
        args = adapt_argv(
            task, self._adapt_run(cfg), cfg.data_dir, str(out / f"adapt-{n}"),
            self.live["checkpoint"], rounds=cfg.adapt_rounds,
            episodes_per_round=cfg.adapt_episodes_per_round, evaluations=cfg.adapt_evaluations,
            holdout_episodes=cfg.holdout_episodes, real_ratio=cfg.real_ratio,
            max_epochs=cfg.max_epochs,
        )  # fmt: skip
        self._launch("adapt", args, out / f"adapt-{n}.json")
        self.adapt_state, self.state = "running", "adapting"
        self.get_logger().info(
            f"adapting in pid {self._proc.pid} after {self.recorded_seconds():.0f} s of robot "
            f"data ({len(self.store)} segments)"
        )

    def _finish_job(self) -> None:
        adapt = self._job == "adapt"
        if adapt:
            self.adaptations += 1
        else:
            self.trains += 1
        code, log = self._proc.returncode, self._proc_out.with_suffix(".log")
        try:
            gate = json.loads(self._proc_out.read_text()) if code == 0 else None
        except (OSError, ValueError):
            gate = None
        if not isinstance(gate, dict):
            text = log.read_text(errors="replace") if log.is_file() else ""
            why = failure_reason(code, text, log)
            gate = {"error": why.replace("retraining", "adaptation", 1) if adapt else why}
            if adapt:
                self.adapt_state = "failed"
                self.get_logger().error(f"{gate['error']}; set adapt to true to try again")
            else:
                self.failures += 1
                self.get_logger().error(
                    f"{gate['error']}; next try after {self.next_retrain_after()} new transitions"
                )
        else:
            if adapt:
                self.adapt_state = "done"
                gate = {k: gate.get(k) for k in ADAPT_KEYS}
            else:
                self.failures = 0
            self.get_logger().info(f"{self._job} gate: {json.dumps(gate)}")
        self.last_gate = {"job": self._job, **gate, **self._times, "finished_at": time.time()}
        if not gate.get("deploy"):
            self.state = "recording"
            return
        planner = str(Path(gate["planner"]).resolve())  # the controller's cwd may differ from ours
        value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=planner)
        request = SetParameters.Request(parameters=[ParameterMsg(name="model_path", value=value)])
        self._pending = self.set_params.call_async(request)
        self.state = "setting_param"

    def _advance_deploy(self) -> None:
        result = self._pending.result()
        if self.state == "setting_param":
            ok = result is not None and all(r.successful for r in result.results)
            if not ok:
                reasons = [r.reason for r in result.results] if result is not None else []
                self.last_gate["deployed"] = False
                self.last_gate["reload_message"] = f"controller refused model_path: {reasons}"
                self.state = "recording"
                return
            self._pending = self.reload.call_async(Trigger.Request())
            self.state = "reloading"
            return
        self.last_gate["deployed"] = bool(result and result.success)
        self.last_gate["reload_message"] = result.message if result else "no answer"
        self.last_gate["deployed_at"] = time.time()
        if self.last_gate["deployed"]:
            self.set_parameters(
                [Parameter(k, Parameter.Type.STRING, self.last_gate[k]) for k in LIVE_FILES]
            )
        self.get_logger().info(f"deploy: {self.last_gate['reload_message']}")
        self.state = "recording"

    # ---- diagnostics --------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        if not self.context.ok():  # exiting after a signal: nothing can be sent any more
            return
        try:
            self.pub_diag.publish(array_of(self, self._statuses()))
        except Exception as exc:  # diagnostics must never stop the node
            self.get_logger().error(f"diagnostics failed: {exc!r}", throttle_duration_sec=5.0)

    def _statuses(self) -> list:
        label = self._lifecycle_label()
        level, message = self._summary(label)
        stats = self.recorder.stats if self.recorder is not None else None
        values: dict[str, Any] = {
            "lifecycle_state": label,
            "state": self.state,
            "transitions_recorded": stats.transitions if stats else 0,
            "segments": stats.segments if stats else 0,
            "states_received": stats.states if stats else 0,
            "dropped": json.dumps(stats.dropped if stats else {}),
            "segment_breaks": json.dumps(stats.breaks if stats else {}),
            "callback_errors": self.callback_errors,
            "since_last_train": self.since_train,
            "next_retrain_after": self.next_retrain_after(),
            "consecutive_failures": self.failures,
            "trains": self.trains,
            "recorded_s": round(self.recorded_seconds(), 2),
            "adapt_state": self.adapt_state,
            "adaptations": self.adaptations,
            "live_planner": self.live["planner"],
            "last_gate": json.dumps(self.last_gate),
            **self._surprise_values(),
        }
        task = self.task.name if self.task else (self.cfg.task or "(the planner's)")
        qos_level = Level.WARN if self._qos_problems else Level.OK
        qos_message = "; ".join(self._qos_problems.values()) or "all peers' QoS compatible"
        return [
            status_of(NAME, task, level, message, values),
            status_of(f"{NAME}: qos", task, qos_level, qos_message, {}),
        ]

    def _surprise_values(self) -> dict[str, Any]:
        """The controller's surprise as this node sees it ('' when not known)."""
        now, trig = time.monotonic(), self.surprise
        last, age = trig.last, trig.age(now)
        return {
            "surprise_source": trig.source(now) if self._surprise_sub is not None else "off",
            "surprise_seen": "" if last is None or last.surprise is None else last.surprise,
            "surprise_level_seen": "" if last is None else last.level,
            "surprise_age_s": "" if age is None else round(age, 2),
            "surprise_held_s": round(trig.held_s(now), 2),
            "surprise_retrain_pending": str(trig.armed(now)).lower(),
            "surprise_retrain_after": self.surprise_retrain_after(),
            "surprise_retrains": self.surprise_retrains,
            "segments_skipped": json.dumps(self.segments_skipped),
            "transitions_skipped": self.transitions_skipped,
        }

    def _summary(self, label: str) -> tuple[Level, str]:
        """The status line: the most important thing an operator should know now."""
        if "error" in self.last_gate and self.last_gate.get("job") == "adapt":
            return Level.WARN, f"{self.last_gate['error']}; set adapt to true to try again"
        if "error" in self.last_gate:
            after = self.next_retrain_after() - self.since_train
            return Level.WARN, (
                f"{self.last_gate['error']}; {self.failures} failed run(s) in a row, next try "
                f"after {max(after, 0)} more transitions"
            )
        if self.store_warning:
            return Level.ERROR, self.store_warning
        if self.problem or self.callback_error:
            return Level.WARN, self.problem or self.callback_error
        if self.drop_warning:
            return Level.WARN, self.drop_warning
        if label != "active":
            return Level.WARN, f"lifecycle state {label}: not recording"
        if self.cfg.record_when == "surprised" and not self.surprise.live(time.monotonic()):
            return Level.WARN, (
                f"record_when surprised: no '{UNCERTAINTY_STATUS}' status for more than "
                f"{self.surprise.stale_after:g} s, segments are skipped"
            )
        return Level.OK, self.state


def main(args: list[str] | None = None) -> int:
    return run_node(FinetuneNode, args, help_text=usage(NAME, __doc__, FinetuneConfig))


if __name__ == "__main__":
    sys.exit(main())
