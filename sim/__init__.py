"""mbrl_sim: PyBullet simulator with domain randomization (folder ``sim/``, import ``mbrl_sim``).

``make_env(task, profile, seed, render_mode)`` builds a :class:`~mbrl_sim.env.MbrlSimEnv`;
``task`` is a built-in name, a task-file path or a ``FileTask`` with ``robot.urdf`` (the
scene is built from its URDF and ``simulation:`` section). Importing the package registers the
gymnasium ids ``mbrl_sim/CartpoleSwingup-v0`` and ``mbrl_sim/PandaReach-v0`` (so
``gymnasium.make("mbrl_sim:mbrl_sim/PandaReach-v0")`` works) and ``mbrl_sim/Task-v0`` for any
task file: ``gymnasium.make("mbrl_sim:mbrl_sim/Task-v0", task="my_robot.task.yaml")``.
Profiles live in ``sim/profiles/*.yaml`` (see :mod:`mbrl_sim.profiles`). The reward's cost is
the task's torch cost traced once per process and run as straight-line Python
(:mod:`mbrl_sim.step_cost`, :mod:`mbrl_sim.cost_program`; ``make_env(..., cost_backend=)``
picks ``python``, ``onnxruntime`` or ``torch``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium

ENV_IDS: dict[str, str] = {
    "mbrl_sim/CartpoleSwingup-v0": "cartpole_swingup",
    "mbrl_sim/PandaReach-v0": "panda_reach",
}
TASK_FILE_ENV_ID = "mbrl_sim/Task-v0"
"""The gymnasium id for any task file (``task=`` a path or a ``FileTask``, required)."""


def make_env(
    task: str | Path | Any,
    profile: str | Path | Any = None,
    seed: int | None = None,
    render_mode: str | None = None,
    **kwargs: Any,
) -> gymnasium.Env:
    """The randomized env for ``task`` (a built-in name, a task-file path or a ``FileTask``)
    under ``profile`` (default: the task's ``dr_profile``); no wrappers: it truncates at
    ``task.episode_steps``."""
    from mbrl_sim.env import MbrlSimEnv

    return MbrlSimEnv(task, profile=profile, seed=seed, render_mode=render_mode, **kwargs)


for _env_id, _task in ENV_IDS.items():
    if _env_id not in gymnasium.registry:
        gymnasium.register(
            id=_env_id, entry_point="mbrl_sim.env:MbrlSimEnv", kwargs={"task": _task}
        )

if TASK_FILE_ENV_ID not in gymnasium.registry:
    gymnasium.register(id=TASK_FILE_ENV_ID, entry_point="mbrl_sim.env:MbrlSimEnv")

__all__ = ["ENV_IDS", "TASK_FILE_ENV_ID", "make_env"]
