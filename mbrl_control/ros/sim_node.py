"""``sim_node``: a task's PyBullet env (with domain randomization) as a ROS 2 robot.

Topics (relative names, so namespaces and remaps work; only /clock is global):
  joint_states   out, sensor_msgs/JointState: every control step, stamped with sim time;
                 efforts in N or N·m.
  commands       in, std_msgs/Float64MultiArray: the latest valid command is held (the safe
                 action until one comes). Best-effort subscription: hears best-effort and
                 reliable publishers.
  episode_start  out, std_msgs/Header: at every reset (the first episode too), stamp = the
                 new episode's first state. Reliable and transient-local (depth 1), so a
                 recorder that joins late still gets the current episode's start.
  ~/step_cost    out, std_msgs/Float64: the task's per-step cost, to score runs from outside.
  camera/image_raw  out, sensor_msgs/Image rgb8 (camera_rate > 0): the task's ``camera``
                 section's view (fitted to the workspace where it gives no target/distance;
                 the pixel env's frames, docs/pixels.md), or the view camera_view names
                 (e.g. the one a pixel planner was trained on), stamped like the joint state it
                 shows; sensor-data QoS (best effort, depth 5).
  /clock         out, rosgraph_msgs/Clock: the simulated time.
  /diagnostics   out (global), status "sim_node: ground truth": the simulator's own safety
                 counts, from the true joint state (no sensor noise), every second and at each
                 episode end: rail_steps / safety_stop_steps (states beyond a rail critic's
                 limit / outside the joint ranges or velocity limits that mpc_controller
                 refuses; the rule of mbrl_control.pipeline.evaluate.SafetyMonitor), and the
                 episodes with at least one (rail_hit_episodes / safety_stop_episodes; the
                 current one included). WARN once any happened; an episode with any is logged.
Services: ~/reset (std_srvs/Trigger): a new episode with a new randomization draw.

Time: sim time starts at 0 and advances by each step's simulated control period (the task's
period, jittered by the draw). Every reset advances it by one more period, so stamps are
strictly increasing across resets: an episode's first state is never stamped like the last
episode's terminal state, and no state is stamped 0. The step timer runs on the wall
(steady) clock every period / real_time_factor, also under use_sim_time, so /clock runs at
real_time_factor times wall time (a node's own /clock cannot drive its timer).

Parameters: task (a built-in name or a task-file path: the scene is built from the file's
robot.urdf and simulation: section), seed, rate, camera_rate and camera_view ('' = the task's
camera section; a pixel planner file = the view it was trained on, what pixel_controller
needs; or a mapping such as {target: [0, 0, 0.15], distance: 1.4, pitch: 0}) are read-only;
profile ('' = the task's dr_profile; used from the next reset), real_time_factor and
auto_reset are applied live after validation; a refused set says why.
Incompatible QoS (a peer on one of these topics that can never match) is logged as a warning.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock as RosClock
from rclpy.clock import ClockType
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray, Header
from std_srvs.srv import Trigger

from mbrl_control.control.core import Level
from mbrl_control.control.params import param_meta
from mbrl_control.pipeline.evaluate import SafetyMonitor
from mbrl_control.ros.diagnostics import array_of, status_of
from mbrl_control.ros.managed import incompatible_qos_message
from mbrl_control.ros.params import LiveConfig
from mbrl_control.ros.spin import run_node, usage

SAFETY_TOTALS = (
    "episodes", "steps", "rail_steps", "safety_stop_steps", "rail_hit_episodes",
    "safety_stop_episodes",
)  # fmt: skip
"""The ground-truth counters sim_node reports (see the module docstring)."""
COMMANDS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
"""Best-effort subscription: matches best-effort and reliable publishers."""
EPISODE_START_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
"""Reliable, transient-local: matches every subscriber and replays the latest start."""


@dataclass(frozen=True)
class SimNodeConfig:
    """Parameters of ``sim_node``."""

    task: str = field(
        default="cartpole_swingup",
        metadata=param_meta(
            "built-in task name or task-file path (a task file with robot.urdf: the scene is "
            "built from its URDF)",
            read_only=True,
        ),
    )
    profile: str = field(
        default="",
        metadata=param_meta(
            "domain-randomization profile (name or YAML path; '' = the task's dr_profile), "
            "from next reset"
        ),
    )
    seed: int = field(
        default=0,
        metadata=param_meta("seed of the randomization/episode stream", read_only=True),
    )
    rate: float = field(
        default=0.0,
        metadata=param_meta(
            "control rate in Hz: 0 or the task's rate (the model is trained at it; use "
            "real_time_factor to run faster)",
            range=(0.0, 1000.0),
            read_only=True,
        ),
    )
    real_time_factor: float = field(
        default=1.0,
        metadata=param_meta("sim seconds per wall second (>1 = faster)", range=(0.01, 100.0)),
    )
    auto_reset: bool = field(
        default=True, metadata=param_meta("start a new episode at episode end")
    )
    camera_rate: float = field(
        default=0.0,
        metadata=param_meta(
            "Hz of camera/image_raw frames (the task's camera section); 0 = no camera; at most "
            "the control rate (a frame is taken on the control step it falls on)",
            range=(0.0, 1000.0),
            read_only=True,
        ),
    )
    camera_view: str = field(
        default="",
        metadata=param_meta(
            "view of camera/image_raw: '' = the task's camera section; a pixel planner ONNX "
            "file = the view it was trained on (give pixel_controller's model_path); or a "
            "camera mapping, e.g. {target: [0, 0, 0.15], distance: 1.4, pitch: 0}",
            read_only=True,
        ),
    )


def check_config(cfg: SimNodeConfig) -> None:
    """Node-level checks: a task the simulator can build (a built-in name or a task file with
    ``robot.urdf`` whose scene its URDF gives), a loadable profile, a rate the task runs at.

    Raises:
        ValueError: one line naming the parameter and what it accepts.
    """
    from mbrl_sim.profiles import load_profile
    from mbrl_sim.scene_spec import scene_spec

    from mbrl_control.tasks import get_task

    try:
        task = get_task(cfg.task)
        scene_spec(task)
    except (ValueError, FileNotFoundError) as exc:  # TaskFileError is a ValueError
        raise ValueError(f"parameter 'task': {exc}") from None
    try:
        load_profile(profile_of(cfg, task))
    except (ValueError, OSError) as exc:
        raise ValueError(f"parameter 'profile': {exc}") from None
    if cfg.rate not in (0.0, task.control_hz):
        raise ValueError(
            f"parameter 'rate' must be 0 or {task.name}'s control rate {task.control_hz} Hz "
            f"(use real_time_factor to run faster or slower), got {cfg.rate}"
        )
    if cfg.camera_rate > task.control_hz:
        raise ValueError(
            f"parameter 'camera_rate' must be 0 (no camera) up to {task.name}'s control rate "
            f"{task.control_hz} Hz, got {cfg.camera_rate}"
        )
    if cfg.camera_view.strip():
        if cfg.camera_rate <= 0:
            raise ValueError(
                f"parameter 'camera_view' needs camera_rate > 0 (0 = no camera), got "
                f"{cfg.camera_view!r}"
            )
        from mbrl_control.latent.camera_view import camera_view

        try:
            camera_view(cfg.camera_view)  # its errors name the parameter
        except FileNotFoundError as exc:
            raise ValueError(str(exc)) from None


def profile_of(cfg: SimNodeConfig, task: Any) -> Any:
    """The DR profile the node runs: the ``profile`` parameter, or for ``''`` the task's own
    ``dr_profile`` (a name, or a YAML path relative to its task file)."""
    from mbrl_sim.env import task_profile

    return cfg.profile or task_profile(task)


def _stamp(nanoseconds: int) -> Time:
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


class SimNode(Node):
    def __init__(self) -> None:
        super().__init__("sim_node")
        self.params = LiveConfig(self, SimNodeConfig, apply=self._apply, check=check_config)
        import mbrl_sim  # pybullet loads here, not at import of the ROS package

        cfg = self.params.config
        self.env = mbrl_sim.make_env(cfg.task, profile=cfg.profile or None, seed=cfg.seed)
        self.sim = self.env.unwrapped
        self.task = self.sim.task
        self._command = self.task.safe_action.copy()
        self.sim_ns = 0  # sim time in integer nanoseconds: exact stamps
        self.episode = -1
        self._wall = RosClock(clock_type=ClockType.STEADY_TIME)
        self._timer = None
        self.safety = SafetyMonitor()  # the current episode's counts
        self.camera, self._next_frame_ns = None, 0
        if cfg.camera_rate > 0:
            from mbrl_sim.pixel_env import sim_camera

            from mbrl_control.latent.camera_view import camera_view

            self.camera = sim_camera(self.sim, camera_view(cfg.camera_view))
        self.totals = dict.fromkeys(SAFETY_TOTALS, 0)  # finished episodes
        self._wire_io()
        self._reset_episode()
        self._start_timer()
        self.create_timer(1.0, self._publish_safety, clock=self._wall)

    @property
    def cfg(self) -> SimNodeConfig:
        return self.params.config

    @property
    def sim_time(self) -> float:
        """Simulated seconds since start-up (the latest stamp)."""
        return self.sim_ns * 1e-9

    def _wire_io(self) -> None:
        self.pub_js = self.create_publisher(
            JointState, "joint_states", 10, event_callbacks=self._pub_events("joint_states")
        )
        self.pub_episode = self.create_publisher(
            Header,
            "episode_start",
            EPISODE_START_QOS,
            event_callbacks=self._pub_events("episode_start"),
        )
        self.pub_clock = self.create_publisher(
            Clock, "/clock", 10, event_callbacks=self._pub_events("/clock")
        )
        self.pub_cost = self.create_publisher(
            Float64, "~/step_cost", 10, event_callbacks=self._pub_events("~/step_cost")
        )
        self.pub_diag = self.create_publisher(
            DiagnosticArray, "/diagnostics", 10, event_callbacks=self._pub_events("/diagnostics")
        )
        self.create_subscription(
            Float64MultiArray,
            "commands",
            self._on_command,
            COMMANDS_QOS,
            event_callbacks=SubscriptionEventCallbacks(
                incompatible_qos=lambda info: self._on_qos("commands", "requests", info)
            ),
        )
        self.create_service(Trigger, "~/reset", self._on_reset)
        if self.cfg.camera_rate > 0:
            from rclpy.qos import qos_profile_sensor_data
            from sensor_msgs.msg import Image

            self.pub_image = self.create_publisher(
                Image,
                "camera/image_raw",
                qos_profile_sensor_data,
                event_callbacks=self._pub_events("camera/image_raw"),
            )

    def _pub_events(self, topic: str) -> PublisherEventCallbacks:
        return PublisherEventCallbacks(
            incompatible_qos=lambda info: self._on_qos(topic, "offers", info)
        )

    def _start_timer(self) -> None:
        """(Re)start the step timer on the wall clock: one step per period / factor."""
        if self._timer is not None:
            self.destroy_timer(self._timer)
        period = self.task.dt / self.cfg.real_time_factor
        self._timer = self.create_timer(period, self._on_step, clock=self._wall)

    def _apply(self, cfg: SimNodeConfig, changed: frozenset[str]) -> None:
        """A validated live set: profile from the next reset, a new timer for the factor."""
        if "profile" in changed:
            from mbrl_sim.profiles import load_profile

            self.sim.profile = load_profile(profile_of(cfg, self.task))
            self.get_logger().info(f"profile {self.sim.profile.name}: used from the next reset")
        if "real_time_factor" in changed:
            self._start_timer()
            self.get_logger().info(f"real_time_factor {cfg.real_time_factor}")

    def _advance(self, seconds: float) -> Time:
        """Advance sim time, publish /clock, return the new stamp."""
        self.sim_ns += round(seconds * 1e9)
        stamp = _stamp(self.sim_ns)
        self.pub_clock.publish(Clock(clock=stamp))
        return stamp

    def _reset_episode(self) -> dict[str, Any]:
        if self.episode >= 0:
            self._end_safety_episode()
        self.episode += 1
        seed = None if self.episode else self.cfg.seed
        obs, info = self.env.reset(seed=seed)
        self.safety.on_reset(self.env, obs, info)
        self._steps = 0
        draw = json.dumps(info["dr"])
        self.get_logger().info(
            f"episode {self.episode}: profile {self.sim.profile.name}, draw {draw}"
        )
        stamp = self._advance(self.task.dt)  # a reset takes one period: stamps never repeat
        self.pub_episode.publish(Header(stamp=stamp, frame_id=""))
        self._publish_joint_state(stamp)
        return info

    # ---- callbacks ------------------------------------------------------------------------
    def _on_qos(self, topic: str, side: str, info: Any) -> None:
        self.get_logger().warning(incompatible_qos_message(topic, side, info))

    def _on_command(self, msg: Float64MultiArray) -> None:
        cmd = np.asarray(msg.data, np.float32)
        if cmd.shape != (self.task.act_dim,) or not np.all(np.isfinite(cmd)):
            self.get_logger().warning(
                f"ignored commands of length {len(msg.data)} (need {self.task.act_dim} finite)",
                throttle_duration_sec=1.0,
            )
            return
        self._command = np.clip(cmd, self.task.low, self.task.high)

    def _on_step(self) -> None:
        obs, reward, terminated, truncated, info = self.env.step(self._command)
        self.safety.on_step(self.env, obs, self._command, -float(reward), info)
        self._steps += 1
        stamp = self._advance(info["dt"])
        self.pub_cost.publish(Float64(data=float(info["cost"])))
        self._publish_joint_state(stamp)
        if (terminated or truncated) and self.cfg.auto_reset:
            self._reset_episode()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        info = self._reset_episode()
        response.success = True
        response.message = json.dumps({"episode": self.episode, "dr": info["dr"]})
        return response

    # ---- ground-truth safety ------------------------------------------------------------------
    def _end_safety_episode(self) -> None:
        """Add the ending episode's counts to the totals; log it if it had any."""
        ended = self.safety.on_end({})
        rail, stop = ended["rail_steps"], ended["safety_stop_steps"]
        t = self.totals
        t["episodes"] += 1
        t["steps"] += self._steps
        t["rail_steps"] += rail
        t["safety_stop_steps"] += stop
        t["rail_hit_episodes"] += int(rail > 0)
        t["safety_stop_episodes"] += int(stop > 0)
        if rail or stop:
            self.get_logger().warning(
                f"episode {self.episode}: {rail} state(s) beyond a rail limit, {stop} outside "
                "the joint limits (ground truth)"
            )
        self._publish_safety()

    def safety_counts(self) -> dict[str, int]:
        """The totals with the current episode included (see the module docstring)."""
        rail, stop = self.safety.rail_steps, self.safety.stop_steps
        t = dict(self.totals)
        t["steps"] += self._steps
        t["rail_steps"] += rail
        t["safety_stop_steps"] += stop
        t["rail_hit_episodes"] += int(rail > 0)
        t["safety_stop_episodes"] += int(stop > 0)
        return t

    def _publish_safety(self) -> None:
        c = self.safety_counts()
        hits = c["rail_hit_episodes"] + c["safety_stop_episodes"]
        message = (
            f"{c['rail_hit_episodes']} episode(s) with a rail hit, {c['safety_stop_episodes']} "
            f"with a safety stop, in {c['episodes'] + 1} (ground truth)"
        )
        status = status_of(
            "sim_node: ground truth", self.task.name, Level.WARN if hits else Level.OK, message,
            {**c, "episode": self.episode, "sim_time": round(self.sim_time, 3)},
        )  # fmt: skip
        self.pub_diag.publish(array_of(self, [status]))

    def _publish_joint_state(self, stamp: Time) -> None:
        names, pos, vel, effort = self.sim.joint_state()
        msg = JointState(
            name=list(names),
            position=[float(x) for x in pos],
            velocity=[float(x) for x in vel],
            effort=[float(x) for x in effort],
        )
        msg.header.stamp = stamp
        self.pub_js.publish(msg)
        if self.camera is not None and self.sim_ns >= self._next_frame_ns:
            self._publish_image()

    def _publish_image(self) -> None:
        """A camera frame of the current state, stamped like its joint state; the next one
        is due ``1 / camera_rate`` sim seconds later (on the control step at or after it)."""
        from mbrl_control.ros.image_messages import rclpy_image

        self.pub_image.publish(rclpy_image(self.camera.render(), self.sim_ns, frame_id="camera"))
        period_ns = round(1e9 / self.cfg.camera_rate)
        # half a control period of slack: a jittered step still lands on its frame
        self._next_frame_ns = self.sim_ns + period_ns - round(0.5e9 * self.task.dt)


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, args, help_text=usage("sim_node", __doc__, SimNodeConfig))


if __name__ == "__main__":
    sys.exit(main())
