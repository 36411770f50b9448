"""ControllerCore: turns joint states into safe commands with an ONNX planner (or policy).

No rclpy and no torch here: the node feeds it messages' fields and a monotonic clock and
publishes what ``tick`` returns. Every fault path returns the task's safe action and a
status naming the reason; the planner reference is swapped atomically between ticks.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.control.params import param_meta
from mbrl_control.control.safety import ActionFilter
from mbrl_control.control.stats import LatencyWindow
from mbrl_control.export.policy_runtime import OnnxPolicy
from mbrl_control.export.runtime import OnnxPlanner
from mbrl_control.tasks import BadJointState, Task, get_task

DEADLINE_POLICIES = ("safe", "publish")
MODES = ("planner", "policy")


class Level(IntEnum):
    """Status levels; values match ``diagnostic_msgs/DiagnosticStatus``."""

    OK = 0
    WARN = 1
    ERROR = 2


@dataclass(frozen=True)
class Status:
    level: Level
    message: str


@dataclass(frozen=True)
class ControllerConfig:
    """Parameters of ``mpc_controller`` (each is a ROS parameter of the same name)."""

    task: str = field(default="cartpole_swingup", metadata=param_meta("task name", read_only=True))
    model_path: str = field(
        default="",
        metadata=param_meta("planner ONNX file; relative paths resolve inside model_dir"),
    )
    mode: str = field(
        default="planner",
        metadata=param_meta(
            "'planner' plans with model_path; 'policy' runs a policy-only ONNX file (fallback "
            "where even short planning is too slow)",
            read_only=True,
        ),
    )
    model_dir: str = field(
        default="",
        metadata=param_meta("directory reload paths must lie in ('' = directory of model_path)"),
    )
    control_rate: float = field(
        default=0.0,
        metadata=param_meta("control rate in Hz (0 = the task's rate)", range=(0.0, 1000.0)),
    )
    state_timeout: float = field(
        default=0.1,
        metadata=param_meta(
            "s without a joint state before the watchdog trips", range=(0.001, 10.0)
        ),
    )
    action_low: list[float] = field(
        default_factory=list, metadata=param_meta("lower action limits (empty = task bounds)")
    )
    action_high: list[float] = field(
        default_factory=list, metadata=param_meta("upper action limits (empty = task bounds)")
    )
    max_action_rate: float = field(
        default=0.0,
        metadata=param_meta("max action change in units/s (0 = no rate limit)", range=(0.0, 1e6)),
    )
    threads: int = field(
        default=1,
        metadata=param_meta(
            "onnxruntime intra-op threads (1 is fastest at real-time sizes; 2 for PETS sizes)",
            read_only=True,
            range=(1, 64),
        ),
    )
    start_enabled: bool = field(
        default=True, metadata=param_meta("publish planned actions at start")
    )
    allow_extra_joints: bool = field(
        default=True, metadata=param_meta("ignore JointState names the task does not use")
    )
    on_deadline_miss: str = field(
        default="safe",
        metadata=param_meta("late plan: 'safe' publishes the safe action, 'publish' it"),
    )
    weights: list[float] = field(
        default_factory=list, metadata=param_meta("critic weights (empty = the planner's defaults)")
    )

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}; allowed: {MODES}")
        if self.on_deadline_miss not in DEADLINE_POLICIES:
            raise ValueError(
                f"on_deadline_miss={self.on_deadline_miss!r}; allowed: {DEADLINE_POLICIES}"
            )
        if len(self.action_low) != len(self.action_high):
            raise ValueError("action_low and action_high must have the same length")
        if self.state_timeout <= 0:
            raise ValueError(f"state_timeout must be > 0, got {self.state_timeout}")


class ControllerCore:
    """Joint states in, safe commands out (see module docstring).

    Thread-safety: ``set_state``/``set_goal`` (subscription thread), ``reload`` (service
    thread) and ``tick`` (timer thread) may run concurrently; shared fields are guarded by
    one lock held only for assignments, never during planning or loading.
    """

    def __init__(self, cfg: ControllerConfig, task: Task | None = None) -> None:
        self.cfg = cfg
        self.task = task or get_task(cfg.task)
        rate = cfg.control_rate or self.task.control_hz
        self.period = 1.0 / rate
        low = np.asarray(cfg.action_low or self.task.low, np.float64)
        high = np.asarray(cfg.action_high or self.task.high, np.float64)
        if low.shape != (self.task.act_dim,):
            raise ValueError(f"action limits must have {self.task.act_dim} entries, got {low}")
        self.filter = ActionFilter(
            np.maximum(low, self.task.low),
            np.minimum(high, self.task.high),
            cfg.max_action_rate,
            self.period,
        )
        self.safe_action = self.task.safe_action.astype(np.float64)
        self.model_dir = Path(cfg.model_dir or Path(cfg.model_path or ".").parent).resolve()
        self.latency = LatencyWindow()
        self.state_to_command = LatencyWindow()
        self._lock = threading.Lock()
        self._planner: OnnxPlanner | OnnxPolicy | None = None
        self.model_id = ""
        self._obs: np.ndarray | None = None
        self._state_time: float | None = None
        self._state_error: str | None = None
        self._goal: np.ndarray | None = None if self.task.goal_dim else np.zeros(0, np.float32)
        self.enabled = cfg.start_enabled
        self.ticks = 0
        self.deadline_misses = 0
        self.last_info: dict[str, float] = {}
        self.status = Status(Level.ERROR, "no model loaded")

    # ---- model management ---------------------------------------------------------------
    def resolve(self, path: str) -> Path:
        """Resolve ``path`` inside ``model_dir``; paths escaping it are refused."""
        p = Path(path)
        p = (p if p.is_absolute() else self.model_dir / p).resolve()
        if not p.is_relative_to(self.model_dir):
            raise ValueError(f"model path {p} is outside model_dir {self.model_dir}")
        return p

    def load(self, path: str) -> OnnxPlanner | OnnxPolicy:
        """Load and validate a planner, or a policy in ``mode: policy`` (metadata matches
        the task; one probe call)."""
        runtime = OnnxPolicy if self.cfg.mode == "policy" else OnnxPlanner
        planner = runtime(
            self.resolve(path), expected_task=self.task.name, threads=self.cfg.threads
        )
        if self.cfg.weights and isinstance(planner, OnnxPlanner):
            planner.set_weights(np.asarray(self.cfg.weights, np.float32))
        probe = np.asarray(planner.probe())
        if probe.shape != (self.task.act_dim,) or not np.all(np.isfinite(probe)):
            raise ValueError(f"probe call returned {probe!r}; expected {self.task.act_dim} finite")
        planner.reset()
        return planner

    def reload(self, path: str) -> tuple[bool, str]:
        """Load ``path`` and swap it in; on any failure keep the live planner."""
        try:
            planner = self.load(path)
        except Exception as exc:  # any load failure keeps the old model
            return False, f"kept model {self.model_id or '(none)'}: {exc}"
        with self._lock:
            self._planner, self.model_id = planner, str(self.resolve(path))
        return True, f"loaded {self.model_id}"

    def set_weights(self, weights: list[float]) -> None:
        planner = self._planner
        if isinstance(planner, OnnxPlanner) and weights:  # a policy has no cost weights
            planner.set_weights(np.asarray(weights, np.float32))

    # ---- inputs ---------------------------------------------------------------------------
    def set_state(self, names: list[str], position: Any, velocity: Any, now: float) -> None:
        """Intake one JointState; a bad one is remembered (and reported) until a good one."""
        try:
            if not self.cfg.allow_extra_joints:
                extra = sorted(set(names) - set(self.task.joint_names))
                if extra:
                    raise BadJointState(f"unknown joint {extra[0]!r} in JointState", extra[0])
            obs = self.task.obs_from_joint_state(names, position, velocity)
        except BadJointState as exc:
            with self._lock:
                self._state_error, self._state_time = str(exc), now
            return
        with self._lock:
            self._obs, self._state_time, self._state_error = obs, now, None

    def set_goal(self, goal: np.ndarray) -> None:
        goal = np.asarray(goal, np.float32)
        if goal.shape == (self.task.goal_dim,) and np.all(np.isfinite(goal)):
            self._goal = goal

    def set_enabled(self, enabled: bool) -> None:
        planner = self._planner
        if enabled and not self.enabled and planner is not None:
            planner.reset()
        self.enabled = enabled

    # ---- the control tick ----------------------------------------------------------------
    def tick(self, now: float | None = None) -> tuple[np.ndarray, Status]:
        """One control step: the command ``(A,)`` to publish and the status behind it."""
        now = time.monotonic() if now is None else now
        self.ticks += 1
        with self._lock:
            planner, obs, t_state, err = (
                self._planner,
                self._obs,
                self._state_time,
                self._state_error,
            )
        goal = self._goal
        if not self.enabled:
            return self._safe(Level.WARN, "disabled via ~/enable: publishing the safe action")
        if planner is None:
            return self._safe(Level.ERROR, "no model loaded (set model_path, call ~/reload_model)")
        if t_state is None or now - t_state > self.cfg.state_timeout:
            age = "never received" if t_state is None else f"{now - t_state:.3f} s old"
            return self._safe(
                Level.ERROR,
                f"watchdog: joint state {age} (state_timeout {self.cfg.state_timeout} s)",
            )
        if err is not None:
            return self._safe(Level.WARN, f"bad joint state: {err}")
        if goal is None:
            return self._safe(Level.WARN, "waiting for a goal on /goal")
        t0 = time.perf_counter()
        try:
            action = np.asarray(planner.act(obs, goal), np.float64)
        except Exception as exc:  # the controller never dies on a planner error
            return self._safe(Level.ERROR, f"planner raised {type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - t0
        self.latency.add(elapsed)
        self.last_info = dict(getattr(planner, "last_info", {}) or {})
        if not np.all(np.isfinite(action)):
            return self._safe(Level.ERROR, "planner returned a non-finite action")
        if elapsed > self.period:
            self.deadline_misses += 1
            if self.cfg.on_deadline_miss == "safe":
                return self._safe(
                    Level.WARN,
                    f"deadline miss: planning took {elapsed * 1e3:.1f}"
                    f" ms > period {self.period * 1e3:.1f} ms",
                )
        self.status = Status(Level.OK, "planning")
        self.state_to_command.add(now - t_state + elapsed)  # receive -> command ready
        return self.filter(action), self.status

    def _safe(self, level: Level, message: str) -> tuple[np.ndarray, Status]:
        self.filter.reset(self.safe_action)
        self.status = Status(level, message)
        return self.safe_action.copy(), self.status

    def diagnostics(self) -> dict[str, Any]:
        """Values for /diagnostics: latency, misses, disagreement, model, state."""
        e2e = self.state_to_command.summary()
        values: dict[str, Any] = {
            **self.latency.summary(),
            "state_to_command_p50_ms": e2e["p50_ms"],
            "state_to_command_p99_ms": e2e["p99_ms"],
            "ticks": self.ticks,
            "deadline_misses": self.deadline_misses,
            "model_id": self.model_id,
            "enabled": self.enabled,
            "control_rate_hz": 1.0 / self.period,
        }
        values.update({k: float(v) for k, v in self.last_info.items()})
        return values
