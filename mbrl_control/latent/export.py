"""The world model's filter step as ONNX: what a controller runs per camera frame, no torch.

Graph inputs: ``image (B, 3, 64, 64)`` uint8, ``h (B, D)``, ``z (B, S)`` (the previous
state; zeros before the first frame), ``prev_action (B, A)`` (the action that led to this
frame; zeros at the first). Outputs: ``h_next (B, D)``, ``z_next (B, S)`` (the posterior
*mean*: the deterministic filter a controller wants), ``reward (B,)`` (the reward head at the
new state). Written with :func:`mbrl_control.export.onnx_export.write_graph` (checked,
atomic, metadata as JSON properties). The latent planner will join this graph next.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mbrl_control.export.onnx_export import write_graph
from mbrl_control.latent.networks import to_float
from mbrl_control.latent.rssm import LatentState
from mbrl_control.latent.world_model import WorldModel


class FilterStep(nn.Module):
    """One deterministic filter step of a :class:`WorldModel` (see module)."""

    input_names = ("image", "h", "z", "prev_action")
    output_names = ("h_next", "z_next", "reward")

    def __init__(self, model: WorldModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, image: torch.Tensor, h: torch.Tensor, z: torch.Tensor, prev_action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m = self.model
        embed = m.encoder(to_float(image))  # (B, E)
        prev = LatentState(h, z, torch.ones_like(z), z)
        post, _ = m.rssm.obs_step(prev, prev_action, embed, sample=False)
        reward = m.reward(post.features).squeeze(-1)  # (B,)
        return post.h, post.sample, reward


def export_filter_step(
    model: WorldModel, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``model``'s :class:`FilterStep` (batch 1) to ``path``; ``metadata`` (JSON values)
    is attached with the model's sizes (``deter``, ``stoch``, ``action_dim``, ``image_size``)."""
    step = FilterStep(model).eval()
    r = model.rssm
    args = (
        torch.zeros(1, 3, 64, 64, dtype=torch.uint8),
        torch.zeros(1, r.deter),
        torch.zeros(1, r.stoch),
        torch.zeros(1, model.action_dim),
    )
    meta = {
        "kind": "latent_filter_step",
        "deter": r.deter,
        "stoch": r.stoch,
        "action_dim": model.action_dim,
        "image_size": 64,
        **(metadata or {}),
    }
    return write_graph(step, args, meta, path)
