"""pixel_controller: a managed (lifecycle) node controlling a robot from camera images with an
ONNX pixel planner (``mbrl-control train-pixels`` writes RUN/planner.onnx; docs/pixels.md).

Topics (relative, so namespaces and remaps work): camera/image_raw in (sensor_msgs/Image,
sensor-data QoS: hears best-effort and reliable cameras; rgb8, bgr8, rgba8, bgra8 or mono8,
padded rows too), commands out (std_msgs/Float64MultiArray, the same commands mpc_controller
publishes); /diagnostics (global): statuses 'pixel_controller: planner' (latency p50/p99 of a
planner call, image-to-command latency, deadline misses, images taken and refused, the
planner's camera, action repeat, model) and 'pixel_controller: qos'.

Control: at the control rate (the task's, or control_rate) the node publishes a command every
tick. The planner decides (filters the newest camera frame and plans: encoder + filter +
latent CEM, one onnxruntime call, no torch) on the first tick after a new frame arrives, once
action_repeat ticks have passed since its last decision (the planner file says how many: it
was trained holding each action that long), or action_repeat - 1 when the camera runs no
faster than the decisions, so the decisions lock to the frames' phase and a frame waits at
most one tick; the ticks between repeat the action. A late frame is waited for up to
2 x action_repeat ticks, then the newest frame is planned on again. Run sim_node with
camera_rate = control rate / action_repeat (12.5 Hz on the cart-pole) and
camera_view:=<the planner file>, so each decision sees a new frame from the view it learned
(launch/pixels.launch.yaml does both).

Safety: the task's safe action is published on every fault - before the first image, when the
newest image is older than image_timeout (the stale-image watchdog, WARN on /diagnostics; the
planner restarts when images return), when disabled, on a planner exception or a non-finite
action - and on every way out: deactivate, shutdown, SIGINT, SIGTERM, SIGHUP, SIGQUIT and an
exception escaping the executor. Actions are clipped to the task's bounds.

Images: a message that cannot be decoded (another encoding such as 32FC3, too few data bytes)
or a frame of another size than the planner's (another camera: the warning names the
planner's trained camera) is refused without stopping the node: one throttled warning per
reason (mbrl_control.ros.log_throttle), counted on /diagnostics (rejected_images,
last_rejected); the watchdog then decides.

Model: model_path must be a pixel planner file; a state planner file (mbrl-control export, run
by mpc_controller) is refused at start-up in one line, as is a missing or corrupt file or a
task parameter that is not the planner's task. The file carries the task (safe action,
bounds, command layout, rate), the image size, the camera and the action repeat; the file
read at start-up fixes the task, image size and camera for the node's life.

Services: ~/reload_model (std_srvs/Trigger, as mpc_controller's: load the file model_path
names, in a thread of its own while the live planner keeps deciding, and swap it in between
two ticks; a file of another kind, task, image size or camera view, or a broken one, is
refused in one line and the old planner keeps running; the new planner starts its episode -
zero filter state, noise from the seed - at the next decision, with its own action repeat),
~/enable (std_srvs/SetBool: off publishes the safe action), ~/reset (std_srvs/Trigger: a new
episode: the planner's filter state, previous action and warm start dropped, noise from the
seed), and the lifecycle services (ros2 lifecycle set /pixel_controller <transition>):
configure loads model_path and probes it; activate starts the control ticks; deactivate
publishes the safe action and stops; cleanup releases the planner; shutdown publishes the safe
action. With autostart:=true the node configures and activates itself at start-up.

Time: the ticks and the watchdog run on the node's clock (with use_sim_time they follow
/clock); planning runs in a thread of its own woken by the tick timer (a late tick skips ticks
instead of queueing them), so the executor keeps taking images.

Parameters: model_path (used by the next ~/reload_model or configure), image_timeout and
seed are applied live after validation; the others are read-only (listed below).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool, Trigger

from mbrl_control.control.core import Level
from mbrl_control.control.pixel_config import PixelControllerConfig
from mbrl_control.control.pixel_core import PixelControllerCore
from mbrl_control.ros.diagnostics import DiagnosticStatus, status_of
from mbrl_control.ros.image_messages import image_array
from mbrl_control.ros.log_throttle import LogThrottle
from mbrl_control.ros.managed import guard_change_state, incompatible_qos_message, lifecycle_label
from mbrl_control.ros.params import LiveConfig
from mbrl_control.ros.spin import run_node, usage
from mbrl_control.ros.tick_thread import TickThread
from mbrl_control.ros.ways_out import SafeLifecycle, install_exit_handlers

NAME = "pixel_controller"
IMAGE_TOPIC = "camera/image_raw"
DIAGNOSTICS_PERIOD = 1.0  # s


class PixelControllerNode(SafeLifecycle, LifecycleNode):
    node_name = NAME  # SafeLifecycle: says who could not publish

    def __init__(self) -> None:
        super().__init__(NAME)
        guard_change_state(self)
        self.core: PixelControllerCore | None = None
        self.params = LiveConfig(
            self,
            PixelControllerConfig,
            apply=lambda cfg, changed: self.core.apply(cfg),
            check=lambda cfg: self.core.check(cfg) if self.core else None,
        )
        cfg = self.params.config
        self.core = PixelControllerCore(cfg)
        self._active = False
        self._tick_lock = threading.RLock()  # a tick and the safe action never interleave
        self._tick_timer = None
        self._qos_problems: dict[str, str] = {}
        self._last_level: Level | None = None
        self._throttled = {k: LogThrottle(1.0) for k in ("image", "status", "tick_failed")}
        self._wire_io()
        install_exit_handlers(self._halt)  # rclpy's would end the context first
        self._ticks = TickThread(
            self._on_tick,
            self._tick_failed,
            cfg.thread_priority,
            lambda what: self.get_logger().warn(f"thread_priority: {what}"),
        )
        if cfg.autostart and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def _wire_io(self) -> None:
        def pub_events(topic: str) -> PublisherEventCallbacks:
            return PublisherEventCallbacks(
                incompatible_qos=lambda info: self._on_qos(topic, "offers", info)
            )

        self.pub_cmd = self.create_publisher(
            Float64MultiArray, "commands", 10, event_callbacks=pub_events("commands")
        )
        self.pub_diag = self.create_publisher(
            DiagnosticArray, "/diagnostics", 10, event_callbacks=pub_events("/diagnostics")
        )
        self.create_subscription(
            Image,
            IMAGE_TOPIC,
            self._on_image,
            qos_profile_sensor_data,
            event_callbacks=SubscriptionEventCallbacks(
                incompatible_qos=lambda info: self._on_qos(IMAGE_TOPIC, "requests", info)
            ),
        )
        self._deferred(Trigger, "~/reload_model", self._on_reload)  # ways_out.SafeLifecycle
        self.create_service(SetBool, "~/enable", self._on_enable)
        self.create_service(Trigger, "~/reset", self._on_reset)
        # wall (steady) time: diagnostics, and the wake-ups that let the exit signal handlers
        # run, go on while a simulator's /clock is paused
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(DIAGNOSTICS_PERIOD, self._publish_diagnostics, clock=steady)

    def _now(self) -> float:
        """Seconds on the node's clock (follows /clock under use_sim_time)."""
        return self.get_clock().now().nanoseconds * 1e-9

    # ---- lifecycle ----------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        ok, message = self.core.reload(self.get_parameter("model_path").value)
        if ok:
            c = self.core
            message += (
                f" (task {c.task.name}, {c.image_size} px frames, action repeat "
                f"{c.action_repeat}, control {1 / c.period:g} Hz)"
            )
        self._log(ok, f"configure: {message}")
        return TransitionCallbackReturn.SUCCESS if ok else TransitionCallbackReturn.FAILURE

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.request_restart()
        self.core.set_enabled(self.core.cfg.start_enabled)
        with self._tick_lock:
            self._active = True
        self._tick_timer = self.create_timer(self.core.period, self._ticks.wake)
        self.get_logger().info(
            f"activated: deciding on the first tick after each new {IMAGE_TOPIC} frame, "
            f"{self.core.action_repeat} ticks apart (or one less to meet a frame) at "
            f"{1 / self.core.period:g} Hz"
        )
        self._publish_diagnostics()
        return super().on_activate(state)

    def destroy_node(self) -> None:
        self._halt("exiting: publishing the safe action")
        self._ticks.stop()
        super().destroy_node()

    # ---- callbacks: message -> core -> message -----------------------------------------
    def _on_image(self, msg: Image) -> None:
        reason = self.core.set_image(lambda: image_array(msg), self._now())
        if reason is not None:
            self._warn_throttled("image", f"{IMAGE_TOPIC} refused: {reason}")

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

    def _tick_failed(self, exc: Exception) -> None:
        line = self._throttled["tick_failed"](f"control tick failed: {exc!r}")
        if line is not None:
            self.get_logger().error(line)

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

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if not self.core.has_model:
            response.success, response.message = False, "no model loaded: nothing to reset"
            return response
        seed = self.core.request_restart()
        response.success, response.message = True, f"new episode: noise seed {seed}"
        self.get_logger().info(response.message)
        return response

    def _statuses(self) -> list[DiagnosticStatus]:
        label = lifecycle_label(self)
        level, message = self.core.status.level, self.core.status.message
        if not self._active:  # by choice of whoever manages the node: not an error
            level, message = Level.WARN, f"lifecycle state {label}: not planning"
        values = {
            "lifecycle_state": label,
            "scheduling": self._ticks.scheduling,
            **self.core.diagnostics(self._now()),
        }
        task = self.core.task.name
        qos_level = Level.WARN if self._qos_problems else Level.OK
        qos_message = "; ".join(self._qos_problems.values()) or "all peers' QoS compatible"
        return [
            status_of(f"{NAME}: planner", task, level, message, values),
            status_of(f"{NAME}: qos", task, qos_level, qos_message, {}),
        ]


def main(args: list[str] | None = None) -> int:
    return run_node(
        PixelControllerNode, args, help_text=usage(NAME, __doc__, PixelControllerConfig)
    )


if __name__ == "__main__":
    sys.exit(main())
