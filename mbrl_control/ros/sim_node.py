"""``sim_node``: a task's PyBullet env (with domain randomization) as a ROS 2 robot.

Publishes /joint_states at the task rate (times ``real_time_factor``), /clock with the
simulated time, and ``~/step_cost`` (the task's per-step cost) so experiments can be scored
from outside; applies the latest /commands (holding it; the safe action until one comes);
``~/reset`` starts a new episode with a new randomization draw.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray
from std_srvs.srv import Trigger

from mbrl_control.control.params import param_meta
from mbrl_control.ros.params import declare_config
from mbrl_control.ros.spin import run_node, usage


@dataclass(frozen=True)
class SimNodeConfig:
    """Parameters of ``sim_node``."""

    task: str = field(default="cartpole_swingup", metadata=param_meta("task name", read_only=True))
    profile: str = field(default="default", metadata=param_meta("domain-randomization profile"))
    seed: int = field(default=0, metadata=param_meta("seed of the randomization/episode stream"))
    rate: float = field(
        default=0.0,
        metadata=param_meta("control rate in Hz (0 = the task's rate)", range=(0.0, 1000.0)),
    )
    real_time_factor: float = field(
        default=1.0,
        metadata=param_meta("sim seconds per wall second (>1 = faster)", range=(0.01, 100.0)),
    )
    auto_reset: bool = field(
        default=True, metadata=param_meta("start a new episode at episode end")
    )


def _stamp(seconds: float) -> Time:
    sec = int(seconds)
    return Time(sec=sec, nanosec=min(round((seconds - sec) * 1e9), 999_999_999))


class SimNode(Node):
    def __init__(self) -> None:
        super().__init__("sim_node")
        self.cfg = declare_config(self, SimNodeConfig)
        import mbrl_sim  # pybullet loads here, not at import of the ROS package

        self.env = mbrl_sim.make_env(self.cfg.task, profile=self.cfg.profile, seed=self.cfg.seed)
        self.task = self.env.unwrapped.task
        self.dt = 1.0 / (self.cfg.rate or self.task.control_hz)
        self._command = self.task.safe_action.copy()
        self.sim_time = 0.0
        self.episode = -1
        self._wire_io()
        self._reset_episode()

    def _wire_io(self) -> None:
        self.pub_js = self.create_publisher(JointState, "/joint_states", 10)
        self.pub_clock = self.create_publisher(Clock, "/clock", 10)
        self.pub_cost = self.create_publisher(Float64, "~/step_cost", 10)
        self.create_subscription(Float64MultiArray, "/commands", self._on_command, 10)
        self.create_service(Trigger, "~/reset", self._on_reset)
        period = self.dt / self.cfg.real_time_factor
        self.create_timer(period, self._on_step)

    def _reset_episode(self) -> dict[str, Any]:
        self.episode += 1
        seed = None if self.episode else self.cfg.seed
        _, info = self.env.reset(seed=seed)
        self.get_logger().info(
            f"episode {self.episode}: profile {self.cfg.profile}, draw {json.dumps(info['dr'])}"
        )
        self._publish_joint_state()
        return info

    # ---- callbacks ------------------------------------------------------------------------
    def _on_command(self, msg: Float64MultiArray) -> None:
        cmd = np.asarray(msg.data, np.float32)
        if cmd.shape != (self.task.act_dim,) or not np.all(np.isfinite(cmd)):
            self.get_logger().warning(
                f"ignored /commands of length {len(msg.data)} (need {self.task.act_dim} finite)",
                throttle_duration_sec=1.0,
            )
            return
        self._command = np.clip(cmd, self.task.low, self.task.high)

    def _on_step(self) -> None:
        _, _, terminated, truncated, info = self.env.step(self._command)
        self.sim_time += self.dt
        self.pub_cost.publish(Float64(data=float(info["cost"])))
        self._publish_joint_state()
        if (terminated or truncated) and self.cfg.auto_reset:
            self._reset_episode()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        info = self._reset_episode()
        response.success = True
        response.message = json.dumps({"episode": self.episode, "dr": info["dr"]})
        return response

    def _publish_joint_state(self) -> None:
        names, pos, vel, effort = self.env.unwrapped.joint_state()
        stamp = _stamp(self.sim_time)
        self.pub_clock.publish(Clock(clock=stamp))
        msg = JointState(
            name=list(names),
            position=[float(x) for x in pos],
            velocity=[float(x) for x in vel],
            effort=[float(x) for x in effort],
        )
        msg.header.stamp = stamp
        self.pub_js.publish(msg)


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, args, help_text=usage("sim_node", __doc__, SimNodeConfig))


if __name__ == "__main__":
    sys.exit(main())
