"""Evaluation for the sim-to-real experiment, with safety counted from the simulator's truth.

Every evaluation runs the same episodes (``seed + i``: same initial states, same domain-
randomization draws, same pushes), so the cells of the grid are **paired**. Besides the
return and success, each episode counts rail hits and safety stops from the simulator's true
joint state: the :class:`~mbrl_control.pipeline.evaluate.SafetyMonitor` episode observer,
which every evaluation of :mod:`~mbrl_control.pipeline.evaluate` runs (planner files, the
oracle on the true simulator, and the random policy here: the normalization's zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mbrl_control.pipeline.evaluate import EpisodeObserver, SafetyMonitor, run_episodes, summarize


def evaluate_random(
    task: str,
    profile: str,
    episodes: int,
    *,
    seed: int = 1000,
    policy_seed: int = 0,
    observers: Sequence[EpisodeObserver] = (),
) -> dict[str, Any]:
    """Uniformly random actions within the task's bounds on the same episodes (the
    normalization's zero); episode ``seed + i``'s action stream is seeded by
    ``(policy_seed, seed + i)``, so an episode's actions do not depend on the ones before.
    ``observers``: more episode observers (their keys join the summary)."""
    import mbrl_sim

    env = mbrl_sim.make_env(task, profile=profile, seed=seed)
    task_obj = env.unwrapped.task
    rng = [np.random.default_rng(policy_seed)]

    def reset(episode_seed: int | None) -> None:
        rng[0] = np.random.default_rng([policy_seed, 0 if episode_seed is None else episode_seed])

    def policy(obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return rng[0].uniform(task_obj.low, task_obj.high).astype(np.float32)

    observers = [SafetyMonitor(), *observers]
    try:
        results = run_episodes(env, policy, episodes, seed=seed, reset=reset, observers=observers)
    finally:
        env.close()
    return summarize(results, observers=observers, planner="random", task=task, profile=profile)
