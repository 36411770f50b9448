"""Evaluation for the sim-to-real experiment, with safety counted from the simulator's truth.

Every evaluation runs the same episodes (``seed + i``: same initial states, same domain-
randomization draws, same pushes), so the cells of the grid are **paired**. Besides the
return and success (:func:`~mbrl_control.pipeline.evaluate.run_episode`), each episode counts,
from the simulator's true joint state (:meth:`MbrlSimEnv.physical_joint_state`, no sensor
noise) read at every control step before the action is chosen:

- **rail hit**: a joint named by one of the task's ``rail`` critics went beyond the critic's
  ``limit`` (cart-pole: ``|x| > 2.0 m``, the rail's end stops are at ±2.4 m);
- **safety stop**: a joint left its ``position_range`` or exceeded its ``velocity_limit`` (the
  joint-state validation of ``mpc_controller``, which then publishes the safe action).

A task without a ``rail`` critic and without finite ranges (the acrobot) counts 0 of both.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.pipeline.evaluate import Policy, run_episode, summarize


def rail_limits(task: Any) -> list[tuple[int, float]]:
    """``[(joint index, limit)]`` of the task's ``rail`` critics (|q| > limit is a hit)."""
    definition = getattr(task, "definition", None) or {}
    limits = []
    for critic in definition.get("critics", []):
        if critic.get("kind") == "rail":
            for name in critic["joints"]:
                limits.append((task.joint_names.index(name), float(critic["limit"])))
    return limits


class SafetyMonitor:
    """Wraps a policy; counts rail hits and safety stops of the current episode from the
    env's true joint state (see the module docstring)."""

    def __init__(self, env: Any, policy: Policy) -> None:
        self.env, self.policy = env.unwrapped, policy
        task = self.env.task
        self.rails = rail_limits(task)
        limits = np.asarray(getattr(task, "position_limits", ()), float).reshape(-1, 2)
        self.low, self.high = limits[:, 0], limits[:, 1]
        self.vmax = np.asarray(getattr(task, "velocity_limits", ()), float)
        self.start()

    def start(self) -> None:
        self.rail_steps, self.stop_steps = 0, 0

    def __call__(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        q, qd = self.env.physical_joint_state()
        if any(abs(q[j]) > lim for j, lim in self.rails):
            self.rail_steps += 1
        bad_q = len(self.low) == len(q) and bool(np.any((q < self.low) | (q > self.high)))
        bad_v = len(self.vmax) == len(qd) and bool(np.any(np.abs(qd) > self.vmax))
        if bad_q or bad_v:
            self.stop_steps += 1
        return self.policy(obs, goal)


def run_episodes(
    env: Any,
    policy: Policy,
    episodes: int,
    *,
    seed: int,
    reset: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """``episodes`` episodes (seeds ``seed + i``) with safety counts per episode."""
    monitor = SafetyMonitor(env, policy)
    results = []
    for i in range(episodes):
        monitor.start()
        r = run_episode(env, monitor, seed=seed + i, reset=reset)
        r.update(rail_steps=monitor.rail_steps, safety_stop_steps=monitor.stop_steps)
        results.append(r)
    return results


def summarize_safe(results: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
    """:func:`~mbrl_control.pipeline.evaluate.summarize` plus per-episode successes and the
    safety counts (episodes with a rail hit / a safety stop, and the per-episode steps)."""
    return {
        **summarize(results, **context),
        "successes": [bool(r["success"]) for r in results],
        "rail_steps": [int(r["rail_steps"]) for r in results],
        "safety_stop_steps": [int(r["safety_stop_steps"]) for r in results],
        "rail_hits": sum(r["rail_steps"] > 0 for r in results),
        "safety_stops": sum(r["safety_stop_steps"] > 0 for r in results),
    }


def evaluate_planner(
    planner_path: str | Path,
    task: str,
    profile: str,
    episodes: int,
    *,
    seed: int = 1000,
    threads: int = 2,
) -> dict[str, Any]:
    """The ONNX planner on ``episodes`` episodes (seeds ``seed + i``) of ``task`` (a built-in
    name or task-file path) on ``profile``; :func:`summarize_safe`'s dict."""
    import mbrl_sim

    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.tasks import get_task

    planner = OnnxPlanner(planner_path, expected_task=get_task(task), threads=threads, seed=seed)
    env = mbrl_sim.make_env(task, profile=profile, seed=seed)
    try:
        results = run_episodes(env, planner.act, episodes, seed=seed, reset=planner.reset)
    finally:
        env.close()
    return summarize_safe(results, planner=str(planner_path), task=task, profile=profile)


def evaluate_random(
    task: str, profile: str, episodes: int, *, seed: int = 1000, policy_seed: int = 0
) -> dict[str, Any]:
    """Uniformly random actions within the task's bounds on the same episodes (the
    normalization's zero); the action stream is seeded by ``policy_seed``."""
    import mbrl_sim

    env = mbrl_sim.make_env(task, profile=profile, seed=seed)
    task_obj = env.unwrapped.task
    rng = np.random.default_rng(policy_seed)

    def policy(obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return rng.uniform(task_obj.low, task_obj.high).astype(np.float32)

    try:
        results = run_episodes(env, policy, episodes, seed=seed)
    finally:
        env.close()
    return summarize_safe(results, planner="random", task=task, profile=profile)
