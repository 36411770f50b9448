"""Realistic states to probe a planner graph with before it is trusted (export side).

The exporter stores a few observations drawn from the task's **initial-state distribution**
(a task file's ``initial_state``: the one the simulator resets to, ``sample_initial_state``;
a ``last_actions`` block gets k actions drawn uniformly within the action bounds, after all
joint states, so those are the task's without the block) in the planner's metadata
(``probe_states``); :meth:`OnnxPlanner.probe` plans from each of them, plus any recent real
states the caller passes, and refuses the file if a plan there is not finite.
A zero observation alone proves little: a model can be finite at 0 and overflow on the
states the robot is actually in.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mbrl_control.tasks.base import Task

DEFAULT_COUNT = 4
"""Initial states written into a planner file (each costs one planning step at load)."""


def initial_probe_states(task: Task, count: int = DEFAULT_COUNT, seed: int = 0) -> np.ndarray:
    """``count`` observations ``(S, O)`` float32 from the task's initial-state distribution
    (``task.sample_initial_state``, the simulator's reset distribution; a ``last_actions``
    block uniform within the action bounds), or for a task without one the zero observation
    ``(1, O)`` with a warning."""
    sample = getattr(task, "sample_initial_state", None)
    if sample is None:
        warnings.warn(
            f"task {task.name!r} has no initial-state distribution: probing its planner at the "
            "zero observation only (pass probe_states= real states to export_planner)",
            stacklevel=2,
        )
        return np.zeros((1, task.obs_dim), np.float32)
    rng = np.random.default_rng(seed)
    joints = [sample(rng) for _ in range(count)]
    steps = int(getattr(task, "action_history", 0))
    if not steps:
        states = [task.obs_from_joints(q, qd) for q, qd in joints]
    else:  # after the joint states, so those stay the ones of the task without the block
        low, high = np.asarray(task.low, np.float64), np.asarray(task.high, np.float64)
        past = rng.uniform(low, high, (count, steps, task.act_dim)).astype(np.float32)
        states = [task.obs_from_joints(q, qd, past_actions=p) for (q, qd), p in zip(joints, past)]
    return np.stack(states).astype(np.float32)
