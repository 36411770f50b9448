"""Record simulated episodes as an MCAP file, on the topics and types of the live ROS graph.

:class:`EpisodeRecorder` is an episode observer of
:func:`mbrl_control.pipeline.evaluate.run_episode` (``on_reset`` / ``on_step`` / ``on_end`` /
``summarize``); ``mbrl-control evaluate --record FILE.mcap`` uses it. What it writes is what
``sim_node`` and ``mpc_controller`` publish (DESIGN.md §3), so one recording opens in
Foxglove (layout: :data:`FOXGLOVE_LAYOUT`), and in ``mbrl-control import`` as episodes:

- ``/episode_start`` (``std_msgs/msg/Header``): each reset, stamped like its first state;
- ``/joint_states`` (``sensor_msgs/msg/JointState``): the reset state and the state after each
  step (measured, as ``sim_node`` publishes it: names, positions, velocities, efforts);
- ``/goal`` (``geometry_msgs/msg/PointStamped`` for a 3-d goal, else
  ``std_msgs/msg/Float64MultiArray``): each reset, for tasks with a goal;
- ``/commands`` (``std_msgs/msg/Float64MultiArray``): each action, after the state it answers
  by that step's measured policy latency, clipped into the period (at least
  :data:`MIN_LATENCY` after that state, at least as much before the next): as a live
  controller's command arrives, so the import's rule (:mod:`mbrl_control.data.segments`, the
  *action* rule) gives each transition the command computed from its own start state;
- ``/step_cost`` (``std_msgs/msg/Float64``): each step's cost, with the state it led to;
- ``/diagnostics`` (``diagnostic_msgs/msg/DiagnosticArray``): each step (``<name>: planner``:
  latency_ms, step, cost, return) and each episode's end (``<name>: episode``: return,
  success, steps, latency p50/p99);
- with a ``plan`` source, each step: ``/mpc_controller/plan``
  (``trajectory_msgs/msg/JointTrajectory``: the planned joint states) and
  ``/mpc_controller/plan_markers`` (``visualization_msgs/msg/MarkerArray``: the members'
  predicted tip paths and their mean), stamped with the state the plan started from.

Time is simulated time as ``sim_node`` keeps it: it starts at 0, advances by each step's
(jittered) control period, and by one period at every reset, so stamps never repeat across
episodes. An episode's messages are written when it ends (its latencies are known then); the
file itself is published at :meth:`EpisodeRecorder.close` (see
:class:`~mbrl_control.recording.mcap_writer.McapBagWriter`: ``NAME.part`` until then).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.pipeline.evaluate import EpisodeObserver
from mbrl_control.recording.mcap_writer import McapBagWriter, header, msg_class
from mbrl_control.recording.plan_messages import Plan, rosbags_kit

TOPIC_TYPES: dict[str, str] = {
    "episode_start": "std_msgs/msg/Header",
    "joint_states": "sensor_msgs/msg/JointState",
    "commands": "std_msgs/msg/Float64MultiArray",
    "step_cost": "std_msgs/msg/Float64",
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}
"""Topic (relative, as on the live graph; ``/diagnostics`` is global) -> type. Plus ``goal``
(its type follows the goal's size: :func:`~mbrl_control.data.goal_messages.goal_msg_type`)."""
PLAN_TOPIC_TYPES: dict[str, str] = {
    "mpc_controller/plan": "trajectory_msgs/msg/JointTrajectory",
    "mpc_controller/plan_markers": "visualization_msgs/msg/MarkerArray",
}
"""The controller's ``~/plan`` and ``~/plan_markers`` (recorded with a ``plan`` source)."""

MIN_LATENCY = 1e-6
"""Least time (s) between a recorded state and the command answering it (and between that
command and the next state): a command never shares its state's stamp."""

FOXGLOVE_LAYOUT = "foxglove_layout.json"
"""The Foxglove Studio layout shipped in this package (:func:`foxglove_layout_path`)."""


def foxglove_layout_path() -> Path:
    """Path of the shipped Foxglove layout for these recordings (import it in Foxglove:
    Layouts -> Import from file)."""
    return Path(str(resources.files("mbrl_control.recording") / FOXGLOVE_LAYOUT))


@dataclass
class _Step:
    action: np.ndarray
    cost: float
    dt: float
    state: tuple[list[str], np.ndarray, np.ndarray, np.ndarray]
    success: bool
    plan: Plan | None = None


class EpisodeRecorder(EpisodeObserver):
    """Episode observer that records every episode it sees into one MCAP file at ``path``.

    Args:
        path: the ``.mcap`` file to write (must not exist; its folder is created).
        namespace: prefix of the relative topics (``/robot1`` -> ``/robot1/joint_states``),
            as a namespaced node would publish them; ``/diagnostics`` stays global.
        name: the diagnostics' status name prefix (``<name>: planner``).
        plan: called after each step, the :class:`~mbrl_control.recording.plan_messages.Plan`
            the policy computed for that step (or None): recorded as ``mpc_controller/plan``
            and ``mpc_controller/plan_markers`` at the state it started from.

    Use as a context manager (or call :meth:`close`) so the file is finished and published.
    Raises ``FileExistsError`` when ``path`` exists.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        namespace: str = "",
        name: str = "evaluate",
        plan: Callable[[], Plan | None] | None = None,
    ) -> None:
        self.bag = McapBagWriter(path)
        self.path = self.bag.path
        self.namespace = "/" + namespace.strip("/") if namespace.strip("/") else ""
        self.name = name
        self.plan = plan
        self.t = 0.0
        """Simulated time of the last state recorded (s)."""
        self.episodes = 0
        self._task: Any = None
        self._start: tuple[float, Any, np.ndarray] | None = None
        self._steps: list[_Step] = []
        self._writing = False

    def topic(self, relative: str) -> str:
        """The recorded name of a topic (``joint_states`` -> ``<namespace>/joint_states``)."""
        return relative if relative.startswith("/") else f"{self.namespace}/{relative}"

    # ---- observer protocol ----------------------------------------------------------------
    def on_reset(self, env: Any, obs: np.ndarray, info: dict[str, Any]) -> None:
        sim = env.unwrapped
        self._task = sim.task
        self.t += float(self._task.dt)  # a reset takes one period: stamps never repeat
        goal = np.asarray(info.get("goal", ()), np.float64).reshape(-1)
        self._start = (self.t, sim.joint_state(), goal)
        self._steps = []

    def on_step(
        self, env: Any, obs: np.ndarray, action: np.ndarray, cost: float, info: dict[str, Any]
    ) -> None:
        self._steps.append(
            _Step(
                action=np.asarray(action, np.float64).reshape(-1).copy(),
                cost=float(cost),
                dt=float(info.get("dt", self._task.dt)),
                state=env.unwrapped.joint_state(),
                success=bool(info.get("is_success", False)),
                plan=None if self.plan is None else self.plan(),
            )
        )

    def on_end(self, result: dict[str, Any]) -> dict[str, Any]:
        if self._start is None:
            raise ValueError("EpisodeRecorder.on_end before on_reset")
        latencies = list(result.get("latencies", ()))
        start = self.t
        self._writing = True
        self._write_episode(latencies, result)
        self._writing = False
        self.episodes += 1
        self._start, self._steps = None, []
        return {"recorded": {"t_start": start, "t_end": self.t}}

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {"recording": str(self.path)}

    # ---- writing --------------------------------------------------------------------------
    def _write_episode(self, latencies: list[float], result: dict[str, Any]) -> None:
        t, state, goal = self._start
        task, bag = self._task, self.bag
        bag.write(self.topic("episode_start"), TOPIC_TYPES["episode_start"], header(t), t)
        self._joint_state(state, t)
        if goal.size:
            self._goal(goal, t)
        ret = 0.0  # return so far (= -sum of costs)
        for k, step in enumerate(self._steps):
            latency = latencies[k] if k < len(latencies) else float("nan")
            if step.plan is not None:
                for (topic, typename), msg in zip(
                    PLAN_TOPIC_TYPES.items(), step.plan.messages(rosbags_kit(), t)
                ):
                    if msg is not None:
                        bag.write(self.topic(topic), typename, msg, t)
            ret -= step.cost
            values = {
                "episode": self.episodes,
                "step": k,
                "latency_ms": 1e3 * latency,
                "cost": step.cost,
                "return": ret,
            }
            self._diagnostics(t, "planner", "planning", values)
            # the command answers the state at t: it arrives after its planning latency
            t_cmd = t + _command_delay(latency, step.dt)
            bag.write(self.topic("commands"), TOPIC_TYPES["commands"], _array(step.action), t_cmd)
            t += step.dt
            cost_msg = msg_class("std_msgs/msg/Float64")(data=step.cost)
            bag.write(self.topic("step_cost"), TOPIC_TYPES["step_cost"], cost_msg, t)
            self._joint_state(step.state, t)
        lat = np.asarray(latencies, float) * 1e3
        self._diagnostics(
            t,
            "episode",
            "success" if result.get("success") else "no success",
            {
                "episode": self.episodes,
                "task": task.name,
                "return": float(result.get("return", ret)),
                "success": bool(result.get("success", False)),
                "steps": len(self._steps),
                "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
                "latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else float("nan"),
            },
        )
        self.t = t

    def _joint_state(self, state: tuple[Any, ...], t: float) -> None:
        names, pos, vel, eff = state
        msg = msg_class("sensor_msgs/msg/JointState")(
            header=header(t),
            name=list(names),
            position=np.asarray(pos, np.float64),
            velocity=np.asarray(vel, np.float64),
            effort=np.asarray(eff, np.float64),
        )
        self.bag.write(self.topic("joint_states"), TOPIC_TYPES["joint_states"], msg, t)

    def _goal(self, goal: np.ndarray, t: float) -> None:
        from mbrl_control.data.goal_messages import POINT_TYPE, goal_msg_type

        typename = goal_msg_type(goal.size)
        if typename == POINT_TYPE:
            point = msg_class("geometry_msgs/msg/Point")(x=goal[0], y=goal[1], z=goal[2])
            msg = msg_class(POINT_TYPE)(header=header(t, self._frame()), point=point)
        else:
            msg = _array(goal)
        self.bag.write(self.topic("goal"), typename, msg, t)

    def _frame(self) -> str:
        """The task's base frame for stamped geometry (its ``frame_id``), else ``world``."""
        return str(getattr(self._task, "frame_id", "") or "world")

    def _diagnostics(self, t: float, what: str, message: str, values: dict[str, Any]) -> None:
        status_cls = msg_class("diagnostic_msgs/msg/DiagnosticStatus")
        kv = msg_class("diagnostic_msgs/msg/KeyValue")
        status = status_cls(
            level=status_cls.OK,
            name=f"{self.name}: {what}",
            message=message,
            hardware_id=str(self._task.name),
            values=[kv(key=k, value=_fmt(v)) for k, v in values.items()],
        )
        msg = msg_class("diagnostic_msgs/msg/DiagnosticArray")(header=header(t), status=[status])
        self.bag.write("/diagnostics", TOPIC_TYPES["/diagnostics"], msg, t)

    # ---- lifetime -------------------------------------------------------------------------
    def close(self) -> Path:
        """Finish and publish the file; returns its path."""
        return self.bag.close()

    def __enter__(self) -> EpisodeRecorder:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None or (self.episodes and not self._writing):
            self.close()  # the finished episodes are a valid recording
        else:
            self.bag.abandon(remove=not self.episodes)


def _command_delay(latency: float, period: float) -> float:
    """When (s after its state) a command computed in ``latency`` s is recorded: the latency
    clipped into ``[MIN_LATENCY, period - MIN_LATENCY]`` (``MIN_LATENCY`` if unknown), so it
    comes strictly after the state it answers and strictly before the next state."""
    least = min(MIN_LATENCY, 0.25 * period)
    if not np.isfinite(latency):
        return least
    return float(min(max(latency, least), period - least))


def _array(values: np.ndarray) -> Any:
    """``std_msgs/msg/Float64MultiArray`` holding ``values`` (no layout, as the ros2_control
    forward-command controllers take it)."""
    layout = msg_class("std_msgs/msg/MultiArrayLayout")(dim=[], data_offset=0)
    data = np.asarray(values, np.float64).reshape(-1)
    return msg_class("std_msgs/msg/Float64MultiArray")(layout=layout, data=data)


def _fmt(value: Any) -> str:
    """A diagnostics value as text (floats to 6 significant digits, as the controller)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
