"""Closed-loop evaluation of a planner in sim (no ROS): returns, success, latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Policy = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``policy(obs (O,), goal (G,)) -> action (A,)``."""


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


def run_episode(
    env: Any,
    policy: Policy,
    *,
    seed: int | None = None,
    reset: Callable[[], None] | None = None,
    frames: list[np.ndarray] | None = None,
    holds: Sequence[Hold] = (),
) -> dict[str, Any]:
    """One episode: return (= -Σcost), success by the task's ``episode_success`` rule,
    ``first_success`` (the first step at which the success condition held, or None),
    ``success_steps`` (steps at which it held), steps and per-step policy latency (s); per
    :class:`Hold`, ``holds[label]`` = (steps it held, longest unbroken run in steps).

    ``frames`` collects ``env.render()`` images when given (env made with ``rgb_array``).
    Raises ``ValueError`` for a hold on a name the task does not observe.
    """
    obs, info = env.reset(seed=seed)
    goal = np.asarray(info.get("goal", np.zeros(0)), np.float32)
    if reset is not None:
        reset()
    task = env.unwrapped.task
    names = list(task.obs_names)
    for h in holds:
        if h.name not in names:
            raise ValueError(f"hold {h.label!r}: {h.name!r} is not observed; observed: {names}")
    held: list[list[bool]] = [[] for _ in holds]
    total, latencies, successes = 0.0, [], []
    done = False
    while not done:
        t0 = time.perf_counter()
        action = policy(obs, goal)
        latencies.append(time.perf_counter() - t0)
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        successes.append(task.is_success(obs, goal))
        for h, flags in zip(holds, held):
            flags.append(h.holds(obs, names.index(h.name)))
        if frames is not None:
            frames.append(env.render())
        done = terminated or truncated
    tail = max(1, len(successes) // 10)  # final: held over most of the last 10 % of steps
    reached = [i for i, ok in enumerate(successes) if ok]
    rule = getattr(task, "episode_success", "final")
    return {
        "return": total,
        "success": bool(reached) if rule == "reached" else bool(np.mean(successes[-tail:]) > 0.5),
        "first_success": reached[0] + 1 if reached else None,
        "success_steps": len(reached),
        "steps": len(successes),
        "latencies": latencies,
        "holds": {h.label: (sum(f), _longest_run(f)) for h, f in zip(holds, held)},
    }


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
    holds: Sequence[Hold] = (),
) -> dict[str, Any]:
    """Run ``episodes`` closed-loop episodes of the ONNX planner; summary dict (JSON-ready)."""
    import mbrl_sim
    from tqdm import tqdm

    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.tasks import get_task

    # ``task`` is a built-in name or a task-file path; the file records the task's name
    planner = OnnxPlanner(planner_path, expected_task=get_task(task), threads=threads, seed=seed)
    env = mbrl_sim.make_env(task, profile=profile, seed=seed)
    results = [
        run_episode(env, planner.act, seed=seed + i, reset=planner.reset, holds=holds)
        for i in tqdm(range(episodes), desc=f"evaluate {profile}", disable=quiet)
    ]
    dt = env.unwrapped.task.dt
    env.close()
    if video:
        write_video(planner_path, task, profile, seed, video)
    return summarize(results, dt=dt, planner=str(planner_path), task=task, profile=profile)


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
    holds: Sequence[Hold] = (),
) -> dict[str, Any]:
    """The same episodes with the preset's optimizer planning on the **true simulator**.

    ``preset`` None: the task's own (its file's ``planner`` section, see
    :func:`~mbrl_control.planning.presets.planner_setup`). One deterministic particle (the
    simulator has no epistemic uncertainty); otherwise the preset's planner config. This is
    the reference a learned model is measured against.
    """
    from dataclasses import replace

    import mbrl_sim
    from mbrl_sim.oracle import OraclePolicy, SimulatorModel
    from tqdm import tqdm

    from mbrl_control.planning.planner import build_planner
    from mbrl_control.planning.presets import planner_setup
    from mbrl_control.tasks import get_task

    preset, _, cfg = planner_setup(get_task(task), preset)
    cfg = replace(cfg, particles=1, aleatoric=False)
    env = mbrl_sim.make_env(task, profile=profile, seed=seed)
    policy = OraclePolicy(env, build_planner(SimulatorModel(env), env.unwrapped.task, cfg))
    results = [
        run_episode(env, policy.act, seed=seed + i, reset=policy.reset, holds=holds)
        for i in tqdm(range(episodes), desc=f"oracle {profile}", disable=quiet)
    ]
    dt = env.unwrapped.task.dt
    env.close()
    return summarize(results, dt=dt, planner=f"oracle:{preset}", task=task, profile=profile)


def _hold_summary(results: list[dict[str, Any]], dt: float | None) -> dict[str, Any]:
    """Per hold label: mean fraction of steps it held, and its longest unbroken run (steps
    and, with ``dt``, seconds) per episode."""
    out: dict[str, Any] = {}
    for label in results[0].get("holds", {}) if results else ():
        steps = [r["holds"][label][0] / max(1, r["steps"]) for r in results]
        longest = [int(r["holds"][label][1]) for r in results]
        out[label] = {
            "step_fraction": float(np.mean(steps)),
            "longest_steps": longest,
            **({"longest_s_mean": float(np.mean(longest) * dt)} if dt else {}),
            **({"longest_s_max": float(max(longest) * dt)} if dt else {}),
        }
    return out


def summarize(
    results: list[dict[str, Any]], dt: float | None = None, **context: Any
) -> dict[str, Any]:
    """The JSON summary of episodes from :func:`run_episode` (``dt``: control period in s,
    for hold times in seconds)."""
    returns = np.array([r["return"] for r in results])
    lat = np.concatenate([r["latencies"] for r in results]) * 1e3
    return {
        **context,
        "episodes": len(results),
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "returns": returns.round(3).tolist(),
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
        **({"holds": h} if (h := _hold_summary(results, dt)) else {}),
    }


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
    frames: list[np.ndarray] = []
    run_episode(env, planner.act, seed=seed, reset=planner.reset, frames=frames)
    env.close()
    images = [Image.fromarray(f) for f in frames[::2]]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ms = int(2000 / env.unwrapped.task.control_hz)
    images[0].save(path, save_all=True, append_images=images[1:], duration=ms, loop=0)
    return path
