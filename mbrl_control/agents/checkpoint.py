"""One-file agent checkpoints: SAC weights + config + dims + bounds + provenance.

Plain containers and tensors only, loaded with ``torch.load(weights_only=True)``; written
atomically (temp file in the same folder, then rename).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mbrl_control.agents.config import SACConfig
from mbrl_control.agents.sac import SAC
from mbrl_control.tasks.base import Task

FORMAT = "mbrl_control.agent.sac"
FORMAT_VERSION = 2
"""2: the state-value head ``value`` (version 1 agents lack it: retrain with train-value)."""


def save_agent(path: str | os.PathLike[str], agent: SAC, provenance: dict[str, Any]) -> Path:
    """Write ``agent`` (actor, critics, targets, temperature, value head) to ``path``;
    return the path."""
    path = Path(path)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        torch.save(payload, fh)
    os.replace(tmp, path)
    return path


def load_agent(
    path: str | os.PathLike[str], task: Task | None = None
) -> tuple[SAC, dict[str, Any]]:
    """``(agent in eval mode, provenance)``; ``ValueError`` names the file and the problem,
    including an agent whose input (state + goal) or action size does not fit ``task``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such agent checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad files
        raise ValueError(
            f"{path}: not a readable agent checkpoint ({type(exc).__name__})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not an mbrl_control agent checkpoint (format != {FORMAT!r})")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: agent format_version {payload.get('format_version')!r}, this version "
            f"reads {FORMAT_VERSION} (retrain it with mbrl-control train-value)"
        )
    low, high = (np.asarray(payload[k], np.float32) for k in ("low", "high"))
    agent = SAC(payload["obs_dim"], low, high, SACConfig.from_mapping(payload["config"]))
    agent.load_state_dict(payload["state_dict"])
    if task is not None:
        dims = (payload["obs_dim"], agent.actor.act_dim)
        if dims != (task.obs_dim + task.goal_dim, task.act_dim):
            raise ValueError(
                f"{path}: agent input/action {dims} do not fit task {task.name} "
                f"(state + goal {task.obs_dim + task.goal_dim}, action {task.act_dim})"
            )
    return agent.eval(), dict(payload["provenance"])
