"""mbrl_sim: PyBullet simulator with domain randomization (folder ``sim/``, import ``mbrl_sim``).

``make_env(task, profile, seed, render_mode)`` builds a :class:`~mbrl_sim.env.MbrlSimEnv`;
importing the package registers the gymnasium ids ``mbrl_sim/CartpoleSwingup-v0`` and
``mbrl_sim/PandaReach-v0`` (so ``gymnasium.make("mbrl_sim:mbrl_sim/PandaReach-v0")`` works).
Profiles live in ``sim/profiles/*.yaml`` (see :mod:`mbrl_sim.profiles`).
"""

from __future__ import annotations

from typing import Any

import gymnasium

ENV_IDS: dict[str, str] = {
    "mbrl_sim/CartpoleSwingup-v0": "cartpole_swingup",
    "mbrl_sim/PandaReach-v0": "panda_reach",
}


def make_env(
    task: str,
    profile: str = "default",
    seed: int | None = None,
    render_mode: str | None = None,
    **kwargs: Any,
) -> gymnasium.Env:
    """The randomized env for ``task`` (no wrappers: it truncates at ``task.episode_steps``)."""
    from mbrl_sim.env import MbrlSimEnv

    return MbrlSimEnv(task, profile=profile, seed=seed, render_mode=render_mode, **kwargs)


for _env_id, _task in ENV_IDS.items():
    if _env_id not in gymnasium.registry:
        gymnasium.register(
            id=_env_id, entry_point="mbrl_sim.env:MbrlSimEnv", kwargs={"task": _task}
        )

__all__ = ["ENV_IDS", "make_env"]
