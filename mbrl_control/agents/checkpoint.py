"""One-file agent checkpoints: SAC weights + config + dims + bounds + provenance.

Plain containers and tensors only, written and read by the ensemble checkpoints' helpers
(atomic write; ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.agents.config import SACConfig
from mbrl_control.agents.sac import SAC
from mbrl_control.models.checkpoint import read_payload, write_payload
from mbrl_control.tasks.base import Task

FORMAT = "mbrl_control.agent.sac"
FORMAT_VERSION = 2
"""2: the state-value head ``value`` (version 1 agents lack it: retrain with train-value)."""


def save_agent(path: str | os.PathLike[str], agent: SAC, provenance: dict[str, Any]) -> Path:
    """Write ``agent`` (actor, critics, targets, temperature, value head) to ``path``;
    return the path."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": agent.cfg.to_dict(),
        "obs_dim": int(agent.actor.obs_norm.mean.shape[0]),
        "low": (agent.actor.mid - agent.actor.half_range).tolist(),
        "high": (agent.actor.mid + agent.actor.half_range).tolist(),
        "state_dict": {k: v.detach().clone() for k, v in agent.state_dict().items()},
        "provenance": provenance,
    }
    return write_payload(path, payload)


def load_agent(
    path: str | os.PathLike[str], task: Task | None = None
) -> tuple[SAC, dict[str, Any]]:
    """``(agent in eval mode, provenance)``; ``ValueError`` names the file and the problem,
    including an agent whose input (state + goal) or action size does not fit ``task``."""
    path = Path(path)
    hint = " (retrain it with mbrl-control train-value)"
    payload = read_payload(path, FORMAT, FORMAT_VERSION, "agent", hint)
    low, high = (np.asarray(payload[k], np.float32) for k in ("low", "high"))
    agent = SAC(payload["obs_dim"], low, high, SACConfig.from_mapping(payload["config"]))
    try:
        agent.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:  # missing/unexpected keys or shapes
        raise ValueError(f"{path}: weights do not match the config: {exc}") from None
    if task is not None:
        dims = (payload["obs_dim"], agent.actor.act_dim)
        if dims != (task.obs_dim + task.goal_dim, task.act_dim):
            raise ValueError(
                f"{path}: agent input/action {dims} do not fit task {task.name} "
                f"(state + goal {task.obs_dim + task.goal_dim}, action {task.act_dim})"
            )
    return agent.eval(), dict(payload["provenance"])
