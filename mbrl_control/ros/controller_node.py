"""``mpc_controller``: an ONNX MPC planner between /joint_states and /commands.

declare (parameters from :class:`ControllerConfig`) -> build (:class:`ControllerCore`,
no rclpy, no torch) -> wire (topics, services, timers). Planning runs in a thread of its own
on a wall-clock schedule at the control rate (a late step skips ticks instead of queueing
them); the executor serves subscriptions, services and diagnostics, so incoming messages are
never starved by planning and planning never waits for a slow service call (a model reload
loads and validates the new file while the old one keeps planning).
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool, Trigger

from mbrl_control.control.core import ControllerConfig, ControllerCore, Level
from mbrl_control.ros.diagnostics import diagnostic_array
from mbrl_control.ros.params import declare_config
from mbrl_control.ros.spin import run_node, usage

DIAGNOSTICS_PERIOD = 1.0  # s


class ControllerNode(Node):
    def __init__(self) -> None:
        super().__init__("mpc_controller")
        cfg = declare_config(self, ControllerConfig)
        self.core = ControllerCore(cfg)
        self._wire_io()
        if cfg.model_path:
            self._log_reload(*self.core.reload(cfg.model_path))
        self._last_level = self.core.status.level
        self._planning.start()

    def _wire_io(self) -> None:
        self.pub_cmd = self.create_publisher(Float64MultiArray, "/commands", 10)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(
            JointState,
            "/joint_states",
            self._on_joint_state,
            qos_profile_sensor_data,
        )
        if self.core.task.goal_dim:
            self.create_subscription(PointStamped, "/goal", self._on_goal, 10)
        self.create_service(Trigger, "~/reload_model", self._on_reload)
        self.create_service(SetBool, "~/enable", self._on_enable)
        self.create_timer(DIAGNOSTICS_PERIOD, self._publish_diagnostics)
        self._stop = threading.Event()
        self._planning = threading.Thread(target=self._plan_loop, name="planning", daemon=True)
        self.add_on_set_parameters_callback(self._validate_params)
        self.add_post_set_parameters_callback(self._apply_params)

    # ---- callbacks: message -> core -> message -----------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        self.core.set_state(list(msg.name), msg.position, msg.velocity, time.monotonic())

    def _on_goal(self, msg: PointStamped) -> None:
        self.core.set_goal(np.array([msg.point.x, msg.point.y, msg.point.z]))

    def _plan_loop(self) -> None:
        """Tick at the control rate until the node is destroyed."""
        next_tick = time.monotonic()
        while not self._stop.is_set():
            next_tick += self.core.period
            try:
                self._on_tick()
            except Exception as exc:  # never let the control thread die
                self.get_logger().error(f"control tick failed: {exc!r}", throttle_duration_sec=1.0)
            delay = next_tick - time.monotonic()
            if delay < 0:  # late: start the next tick now, don't queue the missed ones
                next_tick = time.monotonic()
            else:
                self._stop.wait(delay)

    def destroy_node(self) -> None:
        self._stop.set()
        self._planning.join(timeout=5.0)
        super().destroy_node()

    def _on_tick(self) -> None:
        action, status = self.core.tick()
        self.pub_cmd.publish(Float64MultiArray(data=self.core.task.command_from_action(action)))
        if status.level != self._last_level:  # report faults at once, not at the next 1 Hz
            self._last_level = status.level
            self._publish_diagnostics()
            if status.level != Level.OK:
                self.get_logger().warning(status.message)

    def _on_reload(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        path = self.get_parameter("model_path").value
        response.success, response.message = self.core.reload(path)
        self._log_reload(response.success, response.message)
        return response

    def _log_reload(self, ok: bool, message: str) -> None:
        # rclpy fixes a call site's severity: one call per severity
        if ok:
            self.get_logger().info(message)
        else:
            self.get_logger().error(message)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self.core.set_enabled(bool(request.data))
        response.success, response.message = True, f"enabled={self.core.enabled}"
        return response

    def _publish_diagnostics(self) -> None:
        status = self.core.status
        self.pub_diag.publish(
            diagnostic_array(
                self,
                "mpc_controller: planner",
                self.core.task.name,
                status.level,
                status.message,
                self.core.diagnostics(),
            )
        )

    # ---- live parameters: validate in on-set, apply in post-set -------------------------
    def _validate_params(self, params: list) -> SetParametersResult:
        for p in params:
            if p.name == "weights" and p.value and len(p.value) != len(self.core.task.critics):
                return SetParametersResult(
                    successful=False,
                    reason=f"weights needs {len(self.core.task.critics)} entries "
                    f"({', '.join(self.core.task.critic_names)}), got {len(p.value)}",
                )
        return SetParametersResult(successful=True)

    def _apply_params(self, params: list) -> None:
        for p in params:
            if p.name == "weights":
                self.core.set_weights(list(p.value))


def main(args: list[str] | None = None) -> int:
    return run_node(
        ControllerNode, args, help_text=usage("mpc_controller", __doc__, ControllerConfig)
    )


if __name__ == "__main__":
    sys.exit(main())
