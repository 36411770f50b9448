"""Realistic states to probe a planner graph with before it is trusted (export side).

The exporter stores a few observations drawn from the task's **initial-state distribution**
(the one the simulator resets to, ``mbrl_sim.scenes.SCENES[task].initial_state``) in the
planner's metadata (``probe_states``); :meth:`OnnxPlanner.probe` plans from each of them, plus
any recent real states the caller passes, and refuses the file if a plan there is not finite.
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
    """``count`` observations ``(S, O)`` float32 from the task's initial-state distribution.

    Without a simulator scene: a task file's ``initial_state`` distribution
    (``sample_initial_state``), else the zero observation ``(1, O)`` with a warning.
    """
    try:
        from mbrl_sim.scenes import SCENES  # imports pybullet: only at export time
    except ImportError:
        SCENES = {}
    spec = SCENES.get(task.name)
    sample = getattr(task, "sample_initial_state", None)  # a task file's own distribution
    if spec is None and sample is not None:
        rng = np.random.default_rng(seed)
        states = [task.obs_from_joints(*sample(rng)) for _ in range(count)]
        return np.stack(states).astype(np.float32)
    if spec is None:
        warnings.warn(
            f"task {task.name!r} has no simulator scene: probing its planner at the zero "
            "observation only (pass probe_states= real states to export_planner)",
            stacklevel=2,
        )
        return np.zeros((1, task.obs_dim), np.float32)
    rng = np.random.default_rng(seed)
    states = [task.obs_from_joints(*spec.initial_state(rng)) for _ in range(count)]
    return np.stack(states).astype(np.float32)
