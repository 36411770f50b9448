"""Closed-loop evaluation of a planner in sim (no ROS): returns, success, latency.

:func:`run_episode` runs one episode and tells **episode observers** what happens; each adds
its own keys to the episode's result and, optionally, to the summary of many episodes. An
observer is any object with these methods (:class:`EpisodeObserver` is a base class whose
methods do nothing, to subclass and override only what is needed):

- ``on_reset(env, obs, info)``: the episode started; ``obs`` ``(O,)`` and ``info`` are what
  ``env.reset`` returned (``env`` is the gymnasium env as given, ``env.unwrapped`` the
  :class:`~mbrl_sim.env.MbrlSimEnv`). Reset per-episode state here (one observer object serves
  many episodes). May raise ``ValueError`` to refuse the episode (e.g. a name the task lacks).
- ``on_step(env, obs, action, cost, info)``: after each ``env.step``: the action ``(A,)`` the
  policy chose, the observation ``(O,)`` it led to, its cost (= -reward) and the step's info.
- ``on_end(result) -> dict``: the episode ended; ``result`` is the episode's dict so far (see
  :func:`run_episode`); the returned keys are merged into it (names must not clash).
- ``summarize(results) -> dict``: keys for :func:`summarize`'s summary of many episodes'
  results (each holds the keys this observer's ``on_end`` added).

Observers here: :class:`HoldObserver` (how long observation entries stay beyond values:
``evaluate --hold``), :class:`SafetyMonitor` (rail hits and safety stops from the simulator's
true joint state) and :class:`FrameRecorder` (rendered frames, for videos).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Policy = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``policy(obs (O,), goal (G,)) -> action (A,)``."""


class EpisodeObserver:
    """Base class of episode observers (the protocol is in the module docstring): every
    method does nothing; subclasses override what they need."""

    def on_reset(self, env: Any, obs: np.ndarray, info: dict[str, Any]) -> None:
        """The episode started (``env.reset`` returned ``obs``, ``info``)."""

    def on_step(
        self, env: Any, obs: np.ndarray, action: np.ndarray, cost: float, info: dict[str, Any]
    ) -> None:
        """``env.step(action)`` returned ``obs`` ``(O,)``, reward ``-cost`` and ``info``."""

    def on_end(self, result: dict[str, Any]) -> dict[str, Any]:
        """The episode ended; return the keys to add to its ``result``."""
        return {}

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """Keys for the summary of many episodes' results."""
        return {}


@dataclass(frozen=True)
class Hold:
    """A condition on one observation entry whose holding time an evaluation reports, e.g.
    ``tip_z>=1.8`` (the acrobot's tip within 10 % of full height: balancing)."""

    name: str
    op: str
    """``>=`` or ``<=``."""
    value: float

    @classmethod
    def parse(cls, text: str) -> Hold:
        """``NAME>=VALUE`` or ``NAME<=VALUE``; ``ValueError`` naming the text otherwise."""
        for op in (">=", "<="):
            name, sep, value = text.partition(op)
            if sep:
                try:
                    return cls(name.strip(), op, float(value))
                except ValueError:
                    break
        raise ValueError(f"{text!r}: expected NAME>=VALUE or NAME<=VALUE (e.g. tip_z>=1.8)")

    @property
    def label(self) -> str:
        return f"{self.name}{self.op}{self.value:g}"

    def holds(self, obs: np.ndarray, index: int) -> bool:
        x = float(obs[index])
        return x >= self.value if self.op == ">=" else x <= self.value


def _longest_run(flags: list[bool]) -> int:
    best = run = 0
    for f in flags:
        run = run + 1 if f else 0
        best = max(best, run)
    return best


class HoldObserver(EpisodeObserver):
    """Per :class:`Hold`, on the observations after each step: episode key ``holds[label]`` =
    (steps it held, longest unbroken run in steps); summary key ``holds[label]`` = the mean
    fraction of steps it held and the longest runs (steps per episode; mean and max in s).

    ``on_reset`` raises ``ValueError`` for a hold on a name the task does not observe."""

    def __init__(self, holds: Sequence[Hold]) -> None:
        self.holds = list(holds)
        self.dt: float | None = None
        self._index: list[int] = []
        self._flags: list[list[bool]] = []

    def on_reset(self, env: Any, obs: np.ndarray, info: dict[str, Any]) -> None:
        task = env.unwrapped.task
        names = list(task.obs_names)
        for h in self.holds:
            if h.name not in names:
                raise ValueError(f"hold {h.label!r}: {h.name!r} is not observed; observed: {names}")
        self.dt = float(task.dt)
        self._index = [names.index(h.name) for h in self.holds]
        self._flags = [[] for _ in self.holds]

    def on_step(
        self, env: Any, obs: np.ndarray, action: np.ndarray, cost: float, info: dict[str, Any]
    ) -> None:
        for h, i, flags in zip(self.holds, self._index, self._flags):
            flags.append(h.holds(obs, i))

    def on_end(self, result: dict[str, Any]) -> dict[str, Any]:
        return {
            "holds": {h.label: (sum(f), _longest_run(f)) for h, f in zip(self.holds, self._flags)}
        }

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        if not self.holds or not results:
            return {}
        dt, out = self.dt, {}
        for label in results[0]["holds"]:
            steps = [r["holds"][label][0] / max(1, r["steps"]) for r in results]
            longest = [int(r["holds"][label][1]) for r in results]
            out[label] = {
                "step_fraction": float(np.mean(steps)),
                "longest_steps": longest,
                **({"longest_s_mean": float(np.mean(longest) * dt)} if dt else {}),
                **({"longest_s_max": float(max(longest) * dt)} if dt else {}),
            }
        return {"holds": out}


def rail_limits(task: Any) -> list[tuple[int, float]]:
    """``[(joint index, limit)]`` of the task's ``rail`` critics (|q| > limit is a hit); a
    critic's ``limit`` is one number or one per joint (as the critic reads it)."""
    definition = getattr(task, "definition", None) or {}
    limits = []
    for critic in definition.get("critics", []):
        if critic.get("kind") == "rail":
            names, limit = critic["joints"], critic["limit"]
            per = limit if isinstance(limit, (list, tuple)) else [limit] * len(names)
            for name, lim in zip(names, per):
                limits.append((task.joint_names.index(name), float(lim)))
    return limits


class SafetyCheck:
    """The two ground-truth safety conditions of a task on one joint state:

    - **rail hit**: a joint named by one of the task's ``rail`` critics is beyond the critic's
      ``limit`` (cart-pole: ``|x| > 2.0 m``; the rail's end stops are at ±2.4 m);
    - **safety stop**: a joint is outside its ``position_range`` or beyond its
      ``velocity_limit`` (the joint-state validation of ``mpc_controller``, which then
      publishes the safe action).

    A task with no ``rail`` critic and no finite ranges (the acrobot) never trips either."""

    def __init__(self, task: Any) -> None:
        self.rails = rail_limits(task)
        limits = np.asarray(getattr(task, "position_limits", None) or (), float).reshape(-1, 2)
        self.low, self.high = limits[:, 0], limits[:, 1]
        self.vmax = np.asarray(getattr(task, "velocity_limits", None) or (), float)

    def __call__(self, q: np.ndarray, qd: np.ndarray) -> tuple[bool, bool]:
        """``(rail hit, safety stop)`` for positions ``q`` and velocities ``qd`` ``(J,)``
        (``task.joint_names`` order; m or rad, m/s or rad/s)."""
        rail = any(abs(q[j]) > lim for j, lim in self.rails)
        bad_q = len(self.low) == len(q) and bool(np.any((q < self.low) | (q > self.high)))
        bad_v = len(self.vmax) == len(qd) and bool(np.any(np.abs(qd) > self.vmax))
        return rail, bad_q or bad_v


class SafetyMonitor(EpisodeObserver):
    """Counts, from the simulator's **true** joint state
    (:meth:`~mbrl_sim.env.MbrlSimEnv.physical_joint_state`, no sensor noise), the states of an
    episode (the initial one and the one after each step) with a rail hit and with a safety
    stop (:class:`SafetyCheck`). Episode keys ``rail_steps``, ``safety_stop_steps``; summary
    keys: the per-episode lists and ``rail_hits`` / ``safety_stops`` (episodes with at least
    one)."""

    def __init__(self) -> None:
        self.rail_steps = self.stop_steps = 0
        self._check: SafetyCheck | None = None
        self._task: Any = None

    def _count(self, env: Any) -> None:
        sim = env.unwrapped
        if self._check is None or self._task is not sim.task:
            self._check, self._task = SafetyCheck(sim.task), sim.task
        rail, stop = self._check(*sim.physical_joint_state())
        self.rail_steps += int(rail)
        self.stop_steps += int(stop)

    def on_reset(self, env: Any, obs: np.ndarray, info: dict[str, Any]) -> None:
        self.rail_steps = self.stop_steps = 0
        self._count(env)

    def on_step(
        self, env: Any, obs: np.ndarray, action: np.ndarray, cost: float, info: dict[str, Any]
    ) -> None:
        self._count(env)

    def on_end(self, result: dict[str, Any]) -> dict[str, Any]:
        return {"rail_steps": self.rail_steps, "safety_stop_steps": self.stop_steps}

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "rail_steps": [int(r["rail_steps"]) for r in results],
            "safety_stop_steps": [int(r["safety_stop_steps"]) for r in results],
            "rail_hits": sum(r["rail_steps"] > 0 for r in results),
            "safety_stops": sum(r["safety_stop_steps"] > 0 for r in results),
        }


class FrameRecorder(EpisodeObserver):
    """Appends ``env.render()`` after each step to ``frames`` (env made with ``rgb_array``)."""

    def __init__(self, frames: list[np.ndarray] | None = None) -> None:
        self.frames: list[np.ndarray] = [] if frames is None else frames

    def on_step(
        self, env: Any, obs: np.ndarray, action: np.ndarray, cost: float, info: dict[str, Any]
    ) -> None:
        self.frames.append(env.render())


def run_episode(
    env: Any,
    policy: Policy,
    *,
    seed: int | None = None,
    reset: Callable[[int | None], None] | None = None,
    observers: Sequence[EpisodeObserver] = (),
) -> dict[str, Any]:
    """One episode: return (= -Σcost), success by the task's ``episode_success`` rule,
    ``first_success`` (the first step at which the success condition held, or None),
    ``success_steps`` (steps at which it held), steps and per-step policy latency (s), plus
    the keys each observer's ``on_end`` adds (see the module docstring).

    ``reset`` (e.g. the planner's ``reset(seed)``) is called after ``env.reset`` with the
    episode's ``seed``: a policy's own randomness (a planner's noise stream) restarts with the
    episode, so episode ``seed`` scores the same alone as after any other episodes. Raises
    ``ValueError`` when an observer refuses the episode (e.g. a :class:`HoldObserver` on an
    unobserved name) or when two observers add the same key.
    """
    obs, info = env.reset(seed=seed)
    goal = np.asarray(info.get("goal", np.zeros(0)), np.float32)
    if reset is not None:
        reset(seed)
    task = env.unwrapped.task
    for o in observers:
        o.on_reset(env, obs, info)
    total, latencies, successes = 0.0, [], []
    done = False
    while not done:
        t0 = time.perf_counter()
        action = policy(obs, goal)
        latencies.append(time.perf_counter() - t0)
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        successes.append(task.is_success(obs, goal))
        for o in observers:
            o.on_step(env, obs, action, -float(reward), info)
        done = terminated or truncated
    tail = max(1, len(successes) // 10)  # final: held over most of the last 10 % of steps
    reached = [i for i, ok in enumerate(successes) if ok]
    rule = getattr(task, "episode_success", "final")
    result: dict[str, Any] = {
        "return": total,
        "success": bool(reached) if rule == "reached" else bool(np.mean(successes[-tail:]) > 0.5),
        "first_success": reached[0] + 1 if reached else None,
        "success_steps": len(reached),
        "steps": len(successes),
        "latencies": latencies,
    }
    for o in observers:
        extra = o.on_end(dict(result))
        if clash := set(extra) & set(result):
            raise ValueError(f"{type(o).__name__} adds keys already in the result: {sorted(clash)}")
        result.update(extra)
    return result


def run_episodes(
    env: Any,
    policy: Policy,
    episodes: int,
    *,
    seed: int,
    reset: Callable[[int | None], None] | None = None,
    observers: Sequence[EpisodeObserver] = (),
    desc: str = "",
    quiet: bool = True,
) -> list[dict[str, Any]]:
    """``episodes`` episodes of :func:`run_episode` with seeds ``seed + i`` (the same initial
    states, randomization draws and pushes for every policy: paired)."""
    from tqdm import tqdm

    return [
        run_episode(env, policy, seed=seed + i, reset=reset, observers=observers)
        for i in tqdm(range(episodes), desc=desc, disable=quiet)
    ]


def evaluate(
    planner_path: str | Path,
    task: str,
    profile: str,
    episodes: int,
    *,
    seed: int = 1000,
    threads: int = 2,
    video: str | Path | None = None,
    quiet: bool = True,
    observers: Sequence[EpisodeObserver] = (),
    on_uncertain: Any = None,
) -> dict[str, Any]:
    """Run ``episodes`` closed-loop episodes of the ONNX planner (seeds ``seed + i``) on
    ``task`` (a built-in name or task-file path) and ``profile``; the :func:`summarize` dict
    (JSON-ready), with rail hits and safety stops from the simulator's truth
    (:class:`SafetyMonitor`, always on) and the keys of the given ``observers``.

    ``on_uncertain``: a :class:`~mbrl_control.control.config.ControllerConfig` to run the
    controller's reaction to uncertainty (``hold`` or ``cautious``) around the planner
    (:class:`~mbrl_control.pipeline.on_uncertain.OnUncertain`; the summary gains
    ``held_fraction``, ``cautious_fraction`` and ``reactions_mean``), or None (the planner
    alone)."""
    import mbrl_sim

    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.tasks import get_task

    # ``task`` is a built-in name or a task-file path; the file records the task's name
    task_obj = get_task(task)
    planner = OnnxPlanner(planner_path, expected_task=task_obj, threads=threads, seed=seed)
    env = mbrl_sim.make_env(task, profile=profile, seed=seed)
    act, reset = planner.act, planner.reset
    if on_uncertain is not None:
        from mbrl_control.pipeline.on_uncertain import OnUncertain

        wrapped = OnUncertain(planner, task_obj, on_uncertain)
        act, reset, observers = wrapped, wrapped.reset, [*observers, wrapped]
    joints = lambda: env.unwrapped.joint_state()[1]  # noqa: E731 (the sim's own angles)
    with _recording_plans(act, planner, task_obj, observers, joints) as act:
        results, observers = _monitored_episodes(
            env, act, reset, episodes, seed, observers, f"evaluate {profile}", quiet
        )
    if video:
        write_video(planner_path, task, profile, seed, video)
    return summarize(
        results, observers=observers, planner=str(planner_path), task=task, profile=profile
    )


@contextlib.contextmanager
def _recording_plans(
    act: Any, planner: Any, task: Any, observers: Sequence[EpisodeObserver], joints: Any
) -> Iterator[Any]:
    """``act``, tapped while the episodes run so that every recording among ``observers``
    without a plan source of its own records this planner's plans (``mpc_controller/plan``,
    ``plan_markers``); the recordings forget the tap afterwards (a recorder may see several
    planners in turn, e.g. a finetuning curve's). ``joints()``: the robot's joint positions
    (the recorded joint state's), so planned angles continue the recorded ones."""
    from mbrl_control.recording.episode_recorder import EpisodeRecorder
    from mbrl_control.recording.plan_view import PlanTap

    recorders = [o for o in observers if isinstance(o, EpisodeRecorder) and o.plan is None]
    if not recorders:
        yield act
        return
    tap = PlanTap(act, planner, task, joints)
    for recorder in recorders:
        recorder.plan = tap.plan
    try:
        yield tap
    finally:
        for recorder in recorders:
            recorder.plan = None


def planner_task(planner_path: str | Path) -> str:
    """The task a planner file was exported for, as a reference ``make_env`` and ``get_task``
    take: its task file (the ``source`` recorded in the file, when it is on this machine), else
    its built-in name. Raises ``ValueError`` when neither is available (give ``--task``)."""
    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.tasks import builtin_task_files

    task = OnnxPlanner(planner_path, threads=1).metadata["task"]
    name, source = str(task["task"]), task.get("source")
    builtin = builtin_task_files().get(name)
    if builtin is not None and (not source or Path(source).resolve() == builtin.resolve()):
        return name  # a built-in: its name
    if source and Path(source).is_file():
        return str(source)
    if builtin is not None:
        return name
    raise ValueError(
        f"{planner_path}: its task {task['task']!r} came from {source or 'Python'}, which is not "
        "on this machine: give --task (a task file)"
    )


def evaluate_oracle(
    preset: str | None,
    task: str,
    profile: str,
    episodes: int,
    *,
    seed: int = 1000,
    quiet: bool = True,
    observers: Sequence[EpisodeObserver] = (),
) -> dict[str, Any]:
    """The same episodes with the preset's optimizer planning on the **true simulator**
    (summary as :func:`evaluate`'s, safety counts included).

    ``preset`` None: the task's own (its file's ``planner`` section, see
    :func:`~mbrl_control.planning.presets.planner_setup`). One deterministic particle (the
    simulator has no epistemic uncertainty) and no gradient refinement (the simulator
    declares no derivative); otherwise the preset's planner config. This is the reference a
    learned model is measured against.
    """
    from dataclasses import replace

    import mbrl_sim
    from mbrl_sim.oracle import OraclePolicy, SimulatorModel

    from mbrl_control.planning.planner import build_planner
    from mbrl_control.planning.presets import planner_setup
    from mbrl_control.tasks import get_task

    preset, _, cfg = planner_setup(get_task(task), preset)
    cfg = replace(cfg, particles=1, aleatoric=False, refine_steps=0)
    env = mbrl_sim.make_env(task, profile=profile, seed=seed)
    policy = OraclePolicy(env, build_planner(SimulatorModel(env), env.unwrapped.task, cfg))
    results, observers = _monitored_episodes(
        env, policy.act, policy.reset, episodes, seed, observers, f"oracle {profile}", quiet
    )
    return summarize(
        results, observers=observers, planner=f"oracle:{preset}", task=task, profile=profile
    )


def summarize(
    results: list[dict[str, Any]],
    *,
    observers: Sequence[EpisodeObserver] = (),
    **context: Any,
) -> dict[str, Any]:
    """The JSON summary of episodes from :func:`run_episode`: ``context``, then returns,
    per-episode ``successes``, success rate, steps to first success, policy latency (ms), then
    each observer's ``summarize`` keys (the observers the episodes ran with)."""
    returns = np.array([r["return"] for r in results])
    lat = np.concatenate([r["latencies"] for r in results]) * 1e3
    summary = {
        **context,
        "episodes": len(results),
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "returns": returns.round(3).tolist(),
        "successes": [bool(r["success"]) for r in results],
        "success_rate": float(np.mean([r["success"] for r in results])),
        # control steps until the success condition first held (episodes where it did)
        "first_success_steps": [r.get("first_success") for r in results],
        "success_step_fraction": float(
            np.mean([r.get("success_steps", 0) / max(1, r["steps"]) for r in results])
        ),
        "latency_ms": {
            "p50": float(np.percentile(lat, 50)),
            "p99": float(np.percentile(lat, 99)),
            "max": float(lat.max()),
        },
    }
    for o in observers:
        summary.update(o.summarize(results))
    return summary


def write_video(
    planner_path: str | Path, task: str, profile: str, seed: int, path: str | Path
) -> Path:
    """Render one episode of the planner to a GIF at half the control rate."""
    import mbrl_sim
    from PIL import Image

    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.tasks import get_task

    planner = OnnxPlanner(planner_path, expected_task=get_task(task), seed=seed)
    env = mbrl_sim.make_env(task, profile=profile, seed=seed, render_mode="rgb_array")
    frames = FrameRecorder()
    try:
        run_episode(env, planner.act, seed=seed, reset=planner.reset, observers=[frames])
    finally:
        env.close()
    images = [Image.fromarray(f) for f in frames.frames[::2]]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ms = int(2000 / env.unwrapped.task.control_hz)
    images[0].save(path, save_all=True, append_images=images[1:], duration=ms, loop=0)
    return path


def _monitored_episodes(
    env: Any,
    act: Policy,
    reset: Callable[[int | None], None],
    episodes: int,
    seed: int,
    observers: Sequence[EpisodeObserver],
    desc: str,
    quiet: bool,
) -> tuple[list[dict[str, Any]], list[EpisodeObserver]]:
    """``episodes`` episodes of ``act`` on ``env`` (closed afterwards) watched by a
    :class:`SafetyMonitor` and ``observers``: the results and the observers, to summarize."""
    watching = [SafetyMonitor(), *observers]
    try:
        results = run_episodes(
            env, act, episodes, seed=seed, reset=reset, observers=watching, desc=desc, quiet=quiet
        )
    finally:
        env.close()
    return results, watching
