"""Per-step cost targets for the ensemble's learned cost (reward) head.

A task with ``cost: learned`` plans with the ensemble's reward head
(``EnsembleConfig.reward_head``), which ``fit(..., cost=...)`` trains on one cost per
transition. The transition store (``mbrl_control/data/FORMAT.md``) records no per-step cost,
so ``train``/``pretrain`` derive the targets from the task's critics with their default
weights: exactly what the simulator scores (its reward is ``-task.cost``), so for simulated
data the head learns the simulator's cost. Data whose cost exists only as a recording (a
real robot's reward signal) needs a ``cost`` array in the store first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CHUNK = 65536
"""Transitions scored per torch call (bounds the memory of critic features)."""


def transition_costs(
    task: Any,
    obs: np.ndarray,
    action: np.ndarray,
    next_obs: np.ndarray,
    goal: np.ndarray | None = None,
) -> np.ndarray:
    """The task's per-step cost ``(N,)`` float32 of transitions ``obs (N, O)``, ``action
    (N, A)``, ``next_obs (N, O)``, ``goal (N, G)`` (None: zeros), default critic weights.

    Raises ``ValueError`` (naming the task) when the task has no critics to score with.
    """
    import torch

    if not getattr(task, "critics", ()):
        raise ValueError(
            f"task {task.name!r} has no critics to derive cost targets from, and the transition "
            "store records no per-step cost: fit the ensemble with fit(..., cost=your_costs)"
        )
    n = len(obs)
    goal = np.zeros((n, task.goal_dim), np.float32) if goal is None else goal
    weights = torch.as_tensor(task.default_weights)
    out = []
    with torch.no_grad():
        for start in range(0, n, CHUNK):
            rows = slice(start, start + CHUNK)
            t = [torch.as_tensor(np.asarray(x[rows], np.float32)) for x in (obs, action, next_obs)]
            g = torch.as_tensor(np.asarray(goal[rows], np.float32))
            out.append(task.score(*t, g, weights)[0].numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
