"""mpc_controller: a managed (lifecycle) node running an ONNX MPC planner.

Topics (relative, so namespaces and remaps work): joint_states in (sensor-data QoS: hears
best-effort and reliable drivers; several publishers are merged per joint), goal in (tasks
with a goal; best-effort QoS: hears both kinds of publisher; geometry_msgs/PointStamped for a
3-d goal, std_msgs/Float64MultiArray with G values for any other G), commands out;
/diagnostics (global): statuses 'mpc_controller: planner' (latency, misses, model, ...),
'mpc_controller: qos' and 'mpc_controller: uncertainty' (windowed surprise, epistemic
disagreement, their WARN/ERROR levels from the surprise_*/disagreement_* parameters);
~/plan (trajectory_msgs/JointTrajectory: the planned joint positions over the horizon) and
~/plan_markers (visualization_msgs/MarkerArray: each ensemble member's predicted path of the
task's visualization point, a translucent tube, and their mean) at plan_rate Hz, in the task's
visualization.frame_id, from the planner graph's own plan_states output (no second rollout).

Goal by the task file's goal.kind: fixed plans at once with the task's value (a goal
published on the topic is refused with a warning); box takes any finite goal from the topic;
topic takes goals from the topic inside the task's goal box only. Until a box/topic goal
arrives the controller publishes the safe action ("waiting for a goal"). Every refused goal is
one throttled warning naming the values and what was wrong.

Logging: a refused JointState or goal, and a status that turns WARN/ERROR (a "bad joint
state" when a robot overshoots a limit now and then), can come every message or tick: each is
logged at most once a second per reason (the message with its numbers left out), the next
line counting the suppressed ones (mbrl_control.ros.log_throttle).

Action history: a task whose observation ends with last_actions plans from the last k
commands this node published (safe actions included); activate resets it to the safe action.

Services: ~/reload_model (load model_path and swap it in; the old one stays on failure),
~/enable (off publishes the safe action), ~/reset (a new episode, as at activate: warm start
dropped, action history back to the safe action, noise from the seed), and the lifecycle
services.

Deterministic mode (seed >= 0): the same joint states and goals give bit-identical commands.
The planner's noise stream restarts from seed at configure, ~/reload_model, activate,
~/enable on, ~/reset and a set of seed; seed -1 (default) draws a fresh seed from the OS at
each of those and reports it on /diagnostics as noise_seed. For a replay to be bit-identical
the timing must not decide either: on_deadline_miss 'publish' (a late plan is still
published), and a clock that orders states and ticks the same way (use_sim_time with /clock).

Lifecycle (ros2 lifecycle set /mpc_controller <transition>): configure loads and validates
the planner; activate starts planning at the control rate; deactivate publishes the safe
action and stops; cleanup releases the planner; shutdown publishes the safe action. With
autostart:=true the node configures and activates itself at start-up.

Every way out publishes the safe action first: deactivate, shutdown, SIGINT, SIGTERM,
SIGHUP, SIGQUIT and an exception escaping the executor.

Time: the control loop and the watchdog run on the node's clock, so with use_sim_time they
follow /clock. Planning runs in a thread of its own, woken by a timer at the control rate (a
late step skips ticks instead of queueing them; thread_priority > 0 runs it under SCHED_FIFO,
as ros2_control's controller manager, the scheduling applied is on /diagnostics); the
executor serves messages, services and diagnostics, and a model reload loads and validates in
a thread of its own while the old model keeps planning.

Parameters: every parameter is applied live after validation or is read-only (listed
below); critic weights are critics.<name>.weight, one per critic of the task.

Test hook: MBRL_CONTROLLER_TEST_LOAD_DELAY=<s> makes every model load sleep first (used to
show that a slow load does not stall control).
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import (
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool, Trigger

from mbrl_control.control.config import CRITIC_WEIGHT_RANGE, ControllerConfig, critic_param
from mbrl_control.control.core import ControllerCore, Level
from mbrl_control.control.goal import GOAL_TOPIC, POINT_TYPE, goal_values
from mbrl_control.recording.plan_messages import rclpy_kit
from mbrl_control.recording.plan_view import plan_of
from mbrl_control.ros.diagnostics import DiagnosticStatus, status_of
from mbrl_control.ros.log_throttle import LogThrottle
from mbrl_control.ros.managed import guard_change_state, incompatible_qos_message, lifecycle_label
from mbrl_control.ros.params import LiveConfig, declare_param, guarded_post_set
from mbrl_control.ros.spin import run_node, usage
from mbrl_control.ros.tick_thread import TickThread
from mbrl_control.ros.ways_out import SafeLifecycle, install_exit_handlers

DIAGNOSTICS_PERIOD = 1.0  # s
PLAN_CHECK_PERIOD = 0.02  # s between checks for a plan to publish (plan_rate is at most 50 Hz)
MARKER_POINTS = 16
"""Points per member path on ~/plan_markers (the start and every k-th step; ~/plan keeps all
H): rclpy builds each Point message in Python, so a full H40 tube is ~200 of them per plan."""
UNCERTAINTY_KEYS = ("surprise", "surprise_transitions", "surprise_window",
                    "epistemic_disagreement", "uncertainty_level", "on_uncertain",
                    "uncertainty_holds", "model_id")  # fmt: skip
"""Values repeated in the 'mpc_controller: uncertainty' status (thresholds: the parameters)."""
LOAD_DELAY_ENV = "MBRL_CONTROLLER_TEST_LOAD_DELAY"
GOAL_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
"""Best-effort subscription: matches best-effort and reliable publishers."""


class ControllerNode(SafeLifecycle, LifecycleNode):
    node_name = "mpc_controller"  # SafeLifecycle: says who could not publish

    def __init__(self) -> None:
        super().__init__("mpc_controller")
        guard_change_state(self)
        self.core: ControllerCore | None = None
        self.params = LiveConfig(
            self,
            ControllerConfig,
            apply=lambda cfg, changed: self.core.apply(cfg),
            check=lambda cfg: self.core.check(cfg) if self.core else None,
        )
        cfg = self.params.config
        self.core = ControllerCore(cfg, load_delay=float(os.environ.get(LOAD_DELAY_ENV, 0) or 0))
        self._critics = self._declare_critics()
        self._active = False
        self._tick_lock = threading.RLock()  # a tick and the safe action never interleave
        self._tick_timer = None
        self._qos_problems: dict[str, str] = {}
        self._last_level: Level | None = None
        # lines that can come every message or tick: once a second per reason, with the
        # count of the suppressed ones (a state flickering across a limit flips the status)
        sites = ("state", "goal", "status", "tick_failed", "plan")
        self._throttled = {k: LogThrottle(1.0) for k in sites}
        self._wire_io()
        self.add_post_set_parameters_callback(guarded_post_set(self, self._apply_weights))
        install_exit_handlers(self._halt)  # rclpy's would end the context first
        self._ticks = TickThread(
            self._on_tick,
            self._tick_failed,
            cfg.thread_priority,
            lambda what: self.get_logger().warn(f"thread_priority: {what}"),
        )
        if cfg.autostart and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def _declare_critics(self) -> dict[str, str]:
        """One live ``critics.<name>.weight`` per critic of the task (Nav2 style); returns
        parameter name -> critic name."""
        critics = {}
        for name, weight in self.core.critic_weights.items():
            value = declare_param(
                self,
                critic_param(name),
                float(weight),
                doc=f"weight of critic '{name}' in the planner's cost",
                range=CRITIC_WEIGHT_RANGE,
            )
            self.core.set_critic_weights({name: value})
            critics[critic_param(name)] = name
        return critics

    def _wire_io(self) -> None:
        pub_events = lambda topic: PublisherEventCallbacks(  # noqa: E731
            incompatible_qos=lambda info: self._on_qos(topic, "offered", info)
        )
        sub_events = lambda topic: SubscriptionEventCallbacks(  # noqa: E731
            incompatible_qos=lambda info: self._on_qos(topic, "requested", info)
        )
        self.pub_cmd = self.create_publisher(
            Float64MultiArray, "commands", 10, event_callbacks=pub_events("commands")
        )
        self.pub_diag = self.create_publisher(
            DiagnosticArray, "/diagnostics", 10, event_callbacks=pub_events("/diagnostics")
        )
        kit = self._plan_kit = rclpy_kit()
        self.pub_plan = self.create_publisher(
            kit.constants("trajectory_msgs/msg/JointTrajectory"), "~/plan", 1
        )
        self.pub_plan_markers = self.create_publisher(
            kit.constants("visualization_msgs/msg/MarkerArray"), "~/plan_markers", 1
        )
        self._plan_published = (0, -math.inf)  # (core.plans, monotonic s) of the last one
        self.create_subscription(
            JointState,
            "joint_states",
            self._on_joint_state,
            qos_profile_sensor_data,
            event_callbacks=sub_events("joint_states"),
        )
        rule = self.core.goal_rule
        if rule.subscribes:  # the type by G: PointStamped for 3 values, else Float64MultiArray
            goal_type = PointStamped if rule.msg_type == POINT_TYPE else Float64MultiArray
            self.create_subscription(
                goal_type,
                GOAL_TOPIC,
                self._on_goal,
                GOAL_QOS,
                event_callbacks=sub_events(GOAL_TOPIC),
            )
        self._deferred(Trigger, "~/reload_model", self._on_reload)
        self.create_service(SetBool, "~/enable", self._on_enable)
        self.create_service(Trigger, "~/reset", self._on_reset)
        # wall (steady) time: diagnostics, and the executor's wake-ups that let the exit
        # signal handlers run, go on while a simulator's /clock is paused
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(DIAGNOSTICS_PERIOD, self._publish_diagnostics, clock=steady)
        # the plan is built and published here, on the executor, never on the planning thread
        self.create_timer(PLAN_CHECK_PERIOD, self._publish_plan, clock=steady)

    # ---- time ---------------------------------------------------------------------------
    def _now(self) -> float:
        """Seconds on the node's clock (follows /clock under use_sim_time)."""
        return self.get_clock().now().nanoseconds * 1e-9

    # ---- lifecycle ----------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        ok, message = self.core.reload(self.get_parameter("model_path").value)
        self._log(ok, f"configure: {message}")
        return TransitionCallbackReturn.SUCCESS if ok else TransitionCallbackReturn.FAILURE

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.restart()  # fresh warm start; action history = the safe action sent last
        self.core.set_enabled(self.core.cfg.start_enabled)
        with self._tick_lock:
            self._active = True
        # on the node's clock: ticks follow /clock under use_sim_time
        self._tick_timer = self.create_timer(self.core.period, self._ticks.wake)
        self.get_logger().info("activated: planning")
        self._publish_diagnostics()
        return super().on_activate(state)

    def _lifecycle_label(self) -> str:
        return lifecycle_label(self)

    # ---- exit paths (signals: mbrl_control.ros.ways_out) ---------------------------------
    def destroy_node(self) -> None:
        self._halt("exiting: publishing the safe action")
        self._ticks.stop()
        super().destroy_node()

    # ---- callbacks: message -> core -> message -----------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        reason = self.core.set_state(msg.name, msg.position, msg.velocity, self._now())
        if reason is not None:
            self._warn_throttled("state", f"JointState refused: {reason}")

    def _on_goal(self, msg: PointStamped | Float64MultiArray) -> None:
        reason = self.core.set_goal(goal_values(msg))
        if reason is not None:
            self._warn_throttled("goal", f"goal refused: {reason}")

    def _warn_throttled(self, site: str, message: str) -> None:
        """WARN ``message`` at most once a second per reason (see :mod:`.log_throttle`)."""
        line = self._throttled[site](message)
        if line is not None:
            self.get_logger().warning(line)

    def _on_qos(self, topic: str, side: str, info: Any) -> None:
        message = incompatible_qos_message(topic, side, info)
        self._qos_problems[topic] = message
        self.get_logger().warning(message)
        self._publish_diagnostics()

    def _tick_failed(self, exc: Exception) -> None:
        line = self._throttled["tick_failed"](f"control tick failed: {exc!r}")
        if line is not None:
            self.get_logger().error(line)

    def _on_tick(self) -> None:
        with self._tick_lock:
            if not self._active or self._ticks.stopped:
                return
            action, status = self.core.tick(self._now())
            self.pub_cmd.publish(Float64MultiArray(data=self.core.task.command_from_action(action)))
        if status.level != self._last_level:  # report faults at once, not at the next 1 Hz
            self._last_level = status.level
            self._publish_diagnostics()
            if status.level != Level.OK:
                self._warn_throttled("status", status.message)

    def _publish_plan(self) -> None:
        """``~/plan`` and ``~/plan_markers`` of the newest plan, at most ``plan_rate`` Hz (a
        steady timer on the executor: the planning thread never builds them). The messages
        are the planner graph's ``plan_states`` through :func:`~mbrl_control.recording.
        plan_view.plan_of`, the markers thinned to :data:`MARKER_POINTS` per member."""
        rate = self.core.cfg.plan_rate
        count, last = self._plan_published
        now = time.monotonic()
        if rate <= 0 or self.core.plans == count or now - last < 1.0 / rate:
            return
        plan_step = self.core.last_plan
        if plan_step is None:
            return
        t_state, obs, states, joints = plan_step
        self._plan_published = (self.core.plans, now)
        try:
            plan = plan_of(
                self.core.task, obs, states, max_points=MARKER_POINTS, joint_positions=joints
            )
            if plan is None:
                return
            traj, markers = plan.messages(self._plan_kit, t_state)
        except ValueError as exc:  # e.g. a non-finite prediction: not drawn, control goes on
            self._warn_throttled("plan", f"plan not published: {exc}")
            return
        self.pub_plan.publish(traj)
        if markers is not None:
            self.pub_plan_markers.publish(markers)

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if not self.core.has_model:
            response.success, response.message = False, "no model loaded: nothing to reset"
            return response
        seed = self.core.restart()
        response.success, response.message = True, f"new episode: noise seed {seed}"
        self.get_logger().info(response.message)
        return response

    def _statuses(self) -> list[DiagnosticStatus]:
        label = self._lifecycle_label()
        level, message = self.core.status.level, self.core.status.message
        if not self._active:  # by choice of whoever manages the node: not an error
            level, message = Level.WARN, f"lifecycle state {label}: not planning"
        values = {
            "lifecycle_state": label,
            "scheduling": self._ticks.scheduling,
            **self.core.diagnostics(),
        }
        task = self.core.task.name
        qos_level = Level.WARN if self._qos_problems else Level.OK
        qos_message = "; ".join(self._qos_problems.values()) or "all peers' QoS compatible"
        unc = self.core.uncertainty_status()
        unc_values = {k: values[k] for k in UNCERTAINTY_KEYS if k in values}
        return [
            status_of("mpc_controller: planner", task, level, message, values),
            status_of("mpc_controller: qos", task, qos_level, qos_message, {}),
            status_of("mpc_controller: uncertainty", task, unc.level, unc.message, unc_values),
        ]

    # ---- live parameters: ControllerConfig fields via LiveConfig; critic weights here -----
    def _apply_weights(self, params: list) -> None:
        """Post-set: the critic weights among ``params`` (already range-checked on set)."""
        weights = {self._critics[p.name]: p.value for p in params if p.name in self._critics}
        if weights:
            self.core.set_critic_weights(weights)


def main(args: list[str] | None = None) -> int:
    return run_node(
        ControllerNode, args, help_text=usage("mpc_controller", __doc__, ControllerConfig)
    )


if __name__ == "__main__":
    sys.exit(main())
