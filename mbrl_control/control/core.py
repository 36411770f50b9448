"""ControllerCore: turns joint states into safe commands with an ONNX planner (or policy).

No rclpy and no torch here: the node feeds it messages' fields and times (s, on the node's
clock: wall time, or ``/clock`` under ``use_sim_time``) and publishes what ``tick`` returns.

- State intake is the shared per-joint merge (:class:`JointStateMerge`): several publishers
  may each send some joints; a message with none of the task's joints changes nothing; a
  refused message (duplicate names, non-finite or physically impossible values) marks the task
  joints it names as bad until they next get a good value.
- Every fault path returns the task's safe action and a status naming the reason.
- Model swaps are atomic: a new planner is loaded and validated off the control path
  (:meth:`reload_async` runs it in a thread of its own) and swapped in between two ticks.
- Live parameters: :meth:`check` validates a new :class:`ControllerConfig`, :meth:`apply`
  swaps it (and the action filter built from it) in between two ticks.
- The goal follows the task's goal kind (:class:`~mbrl_control.control.goal.GoalRule`): a
  ``fixed`` goal is set from the start, ``box``/``topic`` goals wait for :meth:`set_goal`.
- The ``last_actions`` observation block (tasks with ``action_history`` k > 0) is the last k
  commands this core returned for publishing, newest first: planner actions as filtered, and
  the safe action on every fault path and way out (:meth:`halt`). It starts as the safe action
  k times and is reset to that by :meth:`restart` (lifecycle activate: the robot last got the
  safe action, published on deactivate). ``~/enable`` does not reset it (disabled ticks
  publish, and record, the safe action), nor does a model reload (same task, same robot).
- Noise seed (:meth:`request_restart`): the planner's noise stream restarts at every (re)start
  - a model swap, :meth:`restart` (activate, ``~/reset``), ``~/enable`` on and a set of the
  ``seed`` parameter - from ``cfg.seed`` (deterministic mode: the same joint states and goals
  give bit-identical commands) or, with seed -1, from a fresh seed drawn from the OS
  (reported as ``noise_seed``). A restart is applied by the planning thread at the next tick
  that plans, so it never races a planner call.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.control.config import (
    DEADLINE_POLICIES,
    MODES,
    SEED_MAX,
    ControllerConfig,
    cautious_vector,
    check_weight,
    parse_cautious_weights,
)
from mbrl_control.control.goal import GoalRule
from mbrl_control.control.model_dir import ModelDir, ModelSwap
from mbrl_control.control.safety import ActionFilter
from mbrl_control.control.stats import LatencyWindow
from mbrl_control.control.uncertainty_monitor import UncertaintyMonitor
from mbrl_control.data.joint_state_merge import BadJointState, JointStateMerge, StaleJoint
from mbrl_control.export.policy_runtime import OnnxPolicy
from mbrl_control.export.runtime import OnnxPlanner
from mbrl_control.tasks import Task, get_task
from mbrl_control.tasks.action_history import ActionHistory
from mbrl_control.tasks.portable import disagreement, task_from_metadata

__all__ = [
    "DEADLINE_POLICIES",
    "MODES",
    "ControllerConfig",
    "ControllerCore",
    "Level",
    "Status",
]


RECENT_STATES = 32
"""Observations kept from recent ticks: a new planner is probed on them before a swap."""


class Level(IntEnum):
    """Status levels; values match ``diagnostic_msgs/DiagnosticStatus``."""

    OK = 0
    WARN = 1
    ERROR = 2


@dataclass(frozen=True)
class Status:
    level: Level
    message: str


class ControllerCore:
    """Joint states in, safe commands out (see module docstring).

    Args:
        cfg: the parameters (validated again by :meth:`check`).
        task: the task (default: the one recorded in ``cfg.model_path``, see :meth:`_task_for`).
        load_delay: seconds every :meth:`load` sleeps first. A test hook only (the node reads
            it from ``MBRL_CONTROLLER_TEST_LOAD_DELAY``): it makes a load slow on purpose to
            show that loading never stalls the control loop.

    Thread-safety: ``set_state``/``set_goal`` (executor thread), ``reload``/``reload_async``
    (a loader thread), ``apply`` (parameter service) and ``tick`` (planning thread) may run
    concurrently; shared fields are guarded by one lock held only for short updates, never
    during planning or loading.
    """

    def __init__(
        self, cfg: ControllerConfig, task: Task | None = None, load_delay: float = 0.0
    ) -> None:
        self._models = ModelDir(cfg.model_dir, cfg.model_path)
        self.model_dir = self._models.root
        self._task_said_by = "the task parameter" if cfg.task else "the controller's task"
        self.task = task or self._task_for(cfg)
        rate = cfg.control_rate or self.task.control_hz
        self.period = 1.0 / rate
        self.safe_action = self.task.safe_action.astype(np.float64)
        self.load_delay = load_delay
        self.latency = LatencyWindow()
        self.state_to_command = LatencyWindow()
        self._lock = threading.Lock()
        self._swap = ModelSwap(
            lambda path: (self.load(path), str(self.resolve(path))),
            self._swap_in,
            lambda: self.model_id,
        )
        self._planner: OnnxPlanner | OnnxPolicy | None = None
        self.model_id = ""
        self._weights = self.task.default_weights.astype(np.float32)  # (K,)
        self._merge = JointStateMerge.for_task(self.task)
        self._recent: deque[np.ndarray] = deque(maxlen=RECENT_STATES)  # planned-from obs
        self._bad: dict[str, tuple[str, float]] = {}  # task joint -> (why refused, when)
        self.goal_rule = GoalRule.of(self.task)
        self._goal: np.ndarray | None = self.goal_rule.initial()  # None: waiting for one
        self._history = ActionHistory(self.task.action_history, self.safe_action)  # (k, A)
        self.enabled = cfg.start_enabled
        self.ticks = 0
        self.deadline_misses = 0
        self.rejected_messages = 0
        self.last_rejected = ""
        self.last_info: dict[str, float] = {}
        self.plans = 0
        """Plans whose action was published (:attr:`last_plan` is the newest)."""
        self.last_plan: tuple[float, np.ndarray, np.ndarray | None, np.ndarray] | None = None
        """``(t_state (s), obs (O,), plan_states (E, H, P) or None, joint positions (J,))`` of
        the newest published plan: the state it started from (as observed and as the merged
        joint state) and the graph's ``plan_states`` output."""
        self.status = Status(Level.ERROR, "no model loaded")
        self.cfg, self.filter = self._validated(cfg)
        self.monitor = UncertaintyMonitor(self.cfg)  # surprise / disagreement levels, hold
        self.noise_seed: int | None = None
        """The seed the planner's noise stream (re)starts from (None: no model yet)."""
        self._pending_seed: int | None = None  # a restart the next planning tick applies

    # ---- parameters -----------------------------------------------------------------------
    def check(self, cfg: ControllerConfig) -> None:
        """Raise ``ValueError`` (naming the parameter) unless ``cfg`` can be applied live."""
        self._validated(cfg)
        if cfg.model_path:
            self.resolve(cfg.model_path)

    def apply(self, cfg: ControllerConfig) -> None:
        """Validate ``cfg`` and use it from the next tick on (limits, timeouts, policies)."""
        cfg, action_filter = self._validated(cfg)
        with self._lock:
            reseed = cfg.seed != self.cfg.seed
            self.cfg, self.filter = cfg, action_filter
            self.monitor.configure(cfg)
        if reseed and self._planner is not None:
            self.request_restart()

    def _validated(self, cfg: ControllerConfig) -> tuple[ControllerConfig, ActionFilter]:
        """``cfg`` and the action filter it implies; ``ValueError`` naming the bad parameter."""
        a = self.task.act_dim
        for name in ("action_low", "action_high"):
            n = len(getattr(cfg, name))
            if n not in (0, a):
                raise ValueError(f"{name} needs {a} entries (or none = task bounds), got {n}")
        low = np.maximum(np.asarray(cfg.action_low or self.task.low, np.float64), self.task.low)
        high = np.minimum(np.asarray(cfg.action_high or self.task.high, np.float64), self.task.high)
        if np.any(low >= high):
            raise ValueError(
                f"action limits [{cfg.action_low}, {cfg.action_high}] leave nothing inside the "
                f"task's bounds [{list(self.task.action_low)}, {list(self.task.action_high)}]"
            )
        planner = getattr(self, "_planner", None)  # None while __init__ validates
        if planner is not None:
            check_seedable(cfg.seed, planner)
        cautious = parse_cautious_weights(cfg.cautious_weights)
        cautious_vector(self.task.critic_names, self.task.default_weights, cautious)  # names
        return cfg, ActionFilter(low, high, cfg.max_action_rate, self.period)

    def set_critic_weights(self, weights: Mapping[str, float]) -> None:
        """Critic weights by name (any subset); ``ValueError`` for unknown names or values
        that are not finite weights. Used by the planner from the next tick on."""
        names = self.task.critic_names
        w = self._weights.copy()
        for name, value in weights.items():
            if name not in names:
                raise ValueError(f"unknown critic {name!r}; task {self.task.name} has {names}")
            w[names.index(name)] = check_weight(name, value)
        with self._lock:
            self._weights = w
            planner = self._planner
        if isinstance(planner, OnnxPlanner):  # a policy has no cost weights
            planner.set_weights(w)

    def _cautious_weights(self) -> np.ndarray:
        """The live weights ``(K,)`` with ``cautious_weights`` put in (``on_uncertain:
        cautious`` while it reacts)."""
        cautious = parse_cautious_weights(self.cfg.cautious_weights)
        return cautious_vector(self.task.critic_names, self._weights, cautious)

    @property
    def critic_weights(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.task.critic_names, self._weights)}

    # ---- model management -----------------------------------------------------------------
    def _task_for(self, cfg: ControllerConfig) -> Task:
        """The controller's task: the one recorded in ``model_path`` (the planner's task wins);
        with ``task`` set, that task unless the file's agrees with it (a file that disagrees
        is refused at configure/reload, naming both)."""
        if not cfg.task:
            return self._task_of_model(cfg)
        task = get_task(cfg.task)
        try:
            recorded = self._task_of_model(cfg) if cfg.model_path else None
        except (ValueError, FileNotFoundError):  # reported by configure's load, naming the file
            recorded = None
        if recorded is not None and disagreement(task, recorded.metadata(), "") is None:
            return recorded
        return task

    def _task_of_model(self, cfg: ControllerConfig) -> Task:
        """``task: ''``: the task recorded in ``model_path`` (the file alone defines it);
        ``ValueError``/``FileNotFoundError`` naming the file when it cannot say."""
        if not cfg.model_path:
            raise ValueError(
                "task='' takes the task from model_path, which is empty: set model_path to a "
                "planner (or policy) file, or task to a built-in name or task file"
            )
        where = self.resolve(cfg.model_path)
        if cfg.mode == "policy":
            recorded = OnnxPolicy(where, threads=1).task
        else:
            recorded = OnnxPlanner(where, threads=1, validate=False).metadata["task"]
        return task_from_metadata(recorded, str(where))

    def resolve(self, path: str) -> Path:
        """Resolve ``path`` (relative: to ``model_dir`` when configured, else to the working
        directory) and keep it inside ``model_dir``: paths escaping it are refused."""
        return self._models.resolve(path)

    def load(self, path: str) -> OnnxPlanner | OnnxPolicy:
        """Load and validate a planner, or a policy in ``mode: policy``: metadata matches the
        task; a planner is probed (with the live critic weights) on the task's initial states
        and the last :data:`RECENT_STATES` real observations, and refused if any member
        predicts non-finite states or every rollout is non-finite. Slow: never call it on the
        control path. Raises ``ValueError``/``FileNotFoundError`` naming the file."""
        if self.load_delay > 0:
            time.sleep(self.load_delay)
        where = self.resolve(path)
        if self.cfg.mode == "policy":
            planner: OnnxPlanner | OnnxPolicy = OnnxPolicy(where, threads=self.cfg.threads)
            self._check_task(where, planner.task)
            probe = np.asarray(planner.probe())
        else:  # probe with the live weights on the task's initial and recent real states
            planner = OnnxPlanner(where, threads=self.cfg.threads, validate=False)
            self._check_task(where, planner.metadata["task"])
            check_seedable(self.cfg.seed, planner)
            planner.set_weights(self._weights)
            with self._lock:
                recent = np.array(self._recent, np.float32).reshape(-1, self.task.obs_dim)
            probe = np.asarray(planner.probe(recent))
        if probe.shape != (self.task.act_dim,) or not np.all(np.isfinite(probe)):
            raise ValueError(f"probe call returned {probe!r}; expected {self.task.act_dim} finite")
        planner.reset()
        return planner

    def _check_task(self, where: Path, recorded: dict[str, Any]) -> None:
        """``ValueError`` naming both tasks unless the file's task is the controller's."""
        why = disagreement(self.task, recorded, self._task_said_by)
        if why:
            raise ValueError(f"{where}: refused: {why}")

    def reload(self, path: str) -> tuple[bool, str]:
        """Load ``path`` and swap it in between two ticks; on any failure keep the live one
        (:class:`~mbrl_control.control.model_dir.ModelSwap`).

        Blocks for the whole load: call it where that is fine (configure), or use
        :meth:`reload_async`. Returns ``(ok, message)``.
        """
        return self._swap.reload(path)

    def reload_async(self, path: str, done: Callable[[bool, str], None]) -> threading.Thread:
        """:meth:`reload` in a thread of its own; ``done(ok, message)`` is called from it."""
        return self._swap.reload_async(path, done)

    def _swap_in(self, planner: OnnxPlanner | OnnxPolicy, model_id: str) -> None:
        with self._lock:
            self._planner, self.model_id = planner, model_id
            self.monitor.reset()  # the scores described the old model
            if isinstance(planner, OnnxPlanner):
                planner.set_weights(self._weights)  # weights set during the load
        self.request_restart()  # its noise from the seed (a fresh one for seed -1)

    def unload(self) -> None:
        """Drop the planner (lifecycle cleanup): ticks give the safe action until a reload."""
        with self._lock:
            self._planner, self.model_id = None, ""

    @property
    def has_model(self) -> bool:
        return self._planner is not None

    # ---- inputs ---------------------------------------------------------------------------
    def set_state(
        self, names: Sequence[str], position: Any, velocity: Any, now: float
    ) -> str | None:
        """Merge one JointState received at ``now`` (s). Returns ``None``, or why the message
        was refused (naming the joint); a refused message changes no value, and the task
        joints it names give the safe action (WARN) until they next get a good value or for
        ``state_timeout`` (then the watchdog names any joint without a fresh value)."""
        names = list(names)
        try:
            if not self.cfg.allow_extra_joints:
                extra = sorted(set(names) - set(self.task.joint_names))
                if extra:
                    raise BadJointState(
                        f"unknown joint {extra[0]!r} in JointState", extra[0], kind="unknown_joint"
                    )
            with self._lock:
                hits = self._merge.update(names, position, velocity, now)
                if hits:
                    for name in set(names) & set(self._bad):
                        del self._bad[name]
            return None
        except BadJointState as exc:
            reason = str(exc)
        except Exception as exc:  # e.g. unconvertible values: the message is as bad
            reason = f"unreadable JointState ({type(exc).__name__}: {exc})"
        affected = set(names) & set(self.task.joint_names)
        with self._lock:
            self.rejected_messages += 1
            self.last_rejected = reason
            for name in affected:
                self._bad[name] = (reason, now)
        return reason

    def set_goal(self, goal: Any) -> str | None:
        """Use ``goal (G,)`` from the next tick on. Returns ``None``, or why it was refused
        (one line naming the values and what was wrong: size, non-finite, outside the
        ``topic`` box, a ``fixed`` task); a refused goal changes nothing."""
        accepted, why = self.goal_rule.check(goal)
        if accepted is not None:
            self._goal = accepted
        return why

    @property
    def goal(self) -> np.ndarray | None:
        """The goal ``(G,)`` the planner gets (None: still waiting for one)."""
        return None if self._goal is None else self._goal.copy()

    def set_enabled(self, enabled: bool) -> None:
        """``~/enable``: off publishes the safe action; on (from off) restarts planning: warm
        start dropped, noise from the seed (:meth:`request_restart`)."""
        if enabled and not self.enabled and self._planner is not None:
            self.request_restart()
            self.monitor.reset()
        self.enabled = enabled

    def restart(self) -> int:
        """Planning (re)starts (lifecycle activate, ``~/reset``: a new episode): the planner's
        warm start is dropped, its noise restarts from the seed (:meth:`request_restart`) and
        the action history is the safe action k times (what the robot last got at activate;
        what an episode starts from). Returns the noise seed."""
        seed = self.request_restart()
        with self._lock:
            self._history.reset()
            self.monitor.reset()
        return seed

    def request_restart(self) -> int:
        """From the next tick that plans: the warm start is dropped and the noise stream
        restarts from ``cfg.seed`` (seed -1: a fresh seed from the OS). Returns that seed (also
        :attr:`noise_seed`, reported on /diagnostics). Safe from any thread: the planning
        thread applies it, between two planner calls."""
        with self._lock:
            seed = self.cfg.seed if self.cfg.seed >= 0 else secrets.randbelow(SEED_MAX + 1)
            self._pending_seed = self.noise_seed = seed
        return seed

    @property
    def recent_observations(self) -> np.ndarray:
        """The observations ``(N, O)`` float32 the last N <= :data:`RECENT_STATES` planner
        calls planned from, oldest first (a copy)."""
        with self._lock:
            return np.array(self._recent, np.float32).reshape(-1, self.task.obs_dim)

    @property
    def past_actions(self) -> np.ndarray:
        """The last k published actions ``(k, A)`` float32, newest first (a copy)."""
        with self._lock:
            return self._history.flat.reshape(self.task.action_history, self.task.act_dim)

    # ---- the control tick ----------------------------------------------------------------
    def tick(self, now: float | None = None) -> tuple[np.ndarray, Status]:
        """One control step at ``now`` (s, same clock as ``set_state``): the command ``(A,)``
        to publish and the status behind it. The command joins the action history."""
        action, status = self._step(now)
        with self._lock:
            self._history.push(action)
        return action, status

    def _step(self, now: float | None) -> tuple[np.ndarray, Status]:
        now = time.monotonic() if now is None else now
        self.ticks += 1
        with self._lock:
            planner, cfg, action_filter = self._planner, self.cfg, self.filter
            bad = min(  # a refusal counts for state_timeout; then the watchdog takes over
                (r for r, t in self._bad.values() if now - t <= cfg.state_timeout), default=None
            )
            try:
                pos, vel, t_state = self._merge.latest(now, cfg.state_timeout)
                stale = None
            except StaleJoint as exc:
                stale = exc
            past = self._history.flat  # (k·A,): the last k published actions, newest first
        goal = self._goal
        if not self.enabled:
            return self._safe(Level.WARN, "disabled via ~/enable: publishing the safe action")
        if planner is None:
            return self._safe(Level.ERROR, "no model loaded (set model_path, call ~/reload_model)")
        if bad is not None:
            return self._safe(Level.WARN, f"bad joint state: {bad}")
        if stale is not None:
            return self._safe(
                Level.ERROR, f"watchdog: {stale} (state_timeout {cfg.state_timeout} s)"
            )
        if goal is None:
            return self._safe(Level.WARN, self.goal_rule.waiting())
        t0 = time.perf_counter()
        try:
            if self.task.action_history:
                obs = self.task.obs_from_joints(pos, vel, past)
            else:
                obs = self.task.obs_from_joints(pos, vel)
            with self._lock:
                self._recent.append(obs)
                seed = None
                if planner is self._planner:  # not for a planner swapped out meanwhile
                    seed, self._pending_seed = self._pending_seed, None
            if seed is not None:  # a (re)start: fresh warm start, noise from the seed
                restart_planner(planner, seed)
            self.monitor.before_plan(planner, obs)  # surprise of obs under the last plan
            caution = self.monitor.cautious_reason(now)
            if isinstance(planner, OnnxPlanner):  # a policy has no cost weights
                planner.set_weights(self._cautious_weights() if caution else self._weights)
            action = np.asarray(planner.act(obs, goal), np.float64)
        except Exception as exc:  # the controller never dies on a planner error
            return self._safe(Level.ERROR, f"planner raised {type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - t0
        self.latency.add(elapsed)
        self.last_info = dict(getattr(planner, "last_info", {}) or {})
        if not getattr(planner, "last_plan_valid", True):
            return self._safe(
                Level.ERROR, "planner found no finite-cost plan (every rollout non-finite)"
            )
        if action.shape != self.safe_action.shape or not np.all(np.isfinite(action)):
            return self._safe(Level.ERROR, "planner returned a non-finite action")
        if elapsed > self.period:
            self.deadline_misses += 1
            if cfg.on_deadline_miss == "safe":
                return self._safe(
                    Level.WARN,
                    f"deadline miss: planning took {elapsed * 1e3:.1f}"
                    f" ms > period {self.period * 1e3:.1f} ms",
                )
        self.monitor.after_plan(self.last_info)
        hold = self.monitor.hold_reason(now)
        if hold is not None:
            return self._safe(Level.WARN, hold)
        self.status = Status(Level.WARN, caution) if caution else Status(Level.OK, "planning")
        with self._lock:
            self.plans += 1
            states = getattr(planner, "last_plan_states", None)
            self.last_plan = (t_state, obs, states, np.asarray(pos, np.float64).copy())
        self.state_to_command.add(max(now - t_state, 0.0) + elapsed)  # receive -> command
        sent = action_filter(action)
        self.monitor.published(action, sent)
        return sent, self.status

    def halt(self, level: Level, message: str) -> np.ndarray:
        """The safe action ``(A,)`` for a way out (deactivate, shutdown, signal, crash); it
        joins the action history (it is published)."""
        action = self._safe(level, message)[0]
        with self._lock:
            self._history.push(action)
        return action

    def _safe(self, level: Level, message: str) -> tuple[np.ndarray, Status]:
        self.filter.reset(self.safe_action)
        self.monitor.published(None, self.safe_action)  # not the planned action: not scored
        self.status = Status(level, message)
        return self.safe_action.copy(), self.status

    def diagnostics(self) -> dict[str, Any]:
        """Values for /diagnostics: latency, misses, disagreement, model, state intake."""
        e2e = self.state_to_command.summary()
        values: dict[str, Any] = {
            **self.latency.summary(),
            "state_to_command_p50_ms": e2e["p50_ms"],
            "state_to_command_p99_ms": e2e["p99_ms"],
            "ticks": self.ticks,
            "deadline_misses": self.deadline_misses,
            "rejected_messages": self.rejected_messages,
            "last_rejected": self.last_rejected,
            "model_id": self.model_id,
            "noise_seed": "" if self.noise_seed is None else self.noise_seed,
            "enabled": self.enabled,
            "control_rate_hz": 1.0 / self.period,
            "goal_kind": self.goal_rule.kind,
            "goal": "" if self._goal is None else self._goal.tolist(),
        }
        values.update({f"critics.{n}.weight": w for n, w in self.critic_weights.items()})
        values.update({k: float(v) for k, v in self.last_info.items()})
        values.update(self.monitor.values())
        return values

    def uncertainty_status(self) -> Status:
        """The model's uncertainty against its thresholds (:mod:`~mbrl_control.control.
        uncertainty_monitor`): OK / WARN / ERROR and which score is above which bound."""
        level, message = self.monitor.level()
        return Status(Level(level), message)


def restart_planner(planner: OnnxPlanner | OnnxPolicy, seed: int) -> None:
    """Drop ``planner``'s warm start and restart its noise stream from ``seed`` (a policy
    carries nothing and draws no noise)."""
    if isinstance(planner, OnnxPlanner):
        planner.reset(seed=seed)
    else:
        planner.reset()


def check_seedable(seed: int, planner: OnnxPlanner | OnnxPolicy) -> None:
    """``ValueError`` when deterministic mode (``seed >= 0``) meets a planner file whose graph
    draws its own noise (exported with ``noise_input=False``: unseeded ONNX ``RandomNormal``):
    its commands could not be reproduced."""
    if seed >= 0 and isinstance(planner, OnnxPlanner) and not planner.noise_shapes:
        raise ValueError(
            f"seed={seed}: {planner.path} draws its own noise inside the graph (exported with "
            "noise_input=False), so its commands cannot be reproduced; export it with noise "
            "inputs (the default) or set seed to -1"
        )
