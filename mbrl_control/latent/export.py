"""The world model's control graphs as ONNX: what a controller runs per camera frame, no torch.

:class:`FilterStep` (``export_filter_step``): one deterministic filter step. Inputs ``image
(B, 3, 64, 64)`` uint8, ``h (B, D)``, ``z (B, S)`` (the previous state; zeros before the first
frame), ``prev_action (B, A)`` (the action that led to this frame, the model's units; zeros at
the first). Outputs ``h_next (B, D)``, ``z_next (B, S)`` (the posterior *mean*: the
deterministic filter a controller wants), ``reward (B,)`` (the reward head at the new state).

:class:`PixelPlannerStep` (``export_pixel_planner``): the filter step and a latent CEM tick
(:mod:`mbrl_control.latent.planner`) in ONE graph, batch 1. Inputs ``image (1, 3, 64, 64)``
uint8, ``h (1, D)``, ``z (1, S)``, ``prev_action (1, A)`` (task units), ``prev_plan (H, A)``
(normalized), ``action_noise (I, N, H, A)`` standard normal. Outputs ``action (A,)`` (task
units, inside the bounds), ``h_next``, ``z_next``, ``next_plan (H, A)``, ``plan_return ()``.
A model with a value head (:mod:`mbrl_control.latent.value`) plans with its terminal value
inside the same graph (same inputs and outputs; metadata ``value_head``: its settings).
:class:`mbrl_control.latent.runtime.OnnxPixelPlanner` runs it with onnxruntime alone.

Both are written with :func:`mbrl_control.export.onnx_export.write_graph` (checked, atomic,
metadata as JSON properties).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mbrl_control.export.onnx_export import write_graph
from mbrl_control.latent.networks import IMAGE_SIZE, to_float
from mbrl_control.latent.planner import ActionScale, LatentPlannerConfig, latent_cem_plan
from mbrl_control.latent.rssm import LatentState
from mbrl_control.latent.world_model import WorldModel

PIXEL_PLANNER_FORMAT = 1
"""Version of the pixel planner graph's inputs/outputs/metadata (read by the runtime)."""


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


class PixelPlannerStep(nn.Module):
    """Filter the frame, then plan from the new state (see module). ``scale`` maps the task's
    action bounds to the model's normalized actions; ``cfg`` sets the latent CEM."""

    input_names = ("image", "h", "z", "prev_action", "prev_plan", "action_noise")
    output_names = ("action", "h_next", "z_next", "next_plan", "plan_return")

    def __init__(self, model: WorldModel, scale: ActionScale, cfg: LatentPlannerConfig) -> None:
        super().__init__()
        self.filter = FilterStep(model)
        self.scale, self.cfg = scale, cfg

    def forward(
        self,
        image: torch.Tensor,
        h: torch.Tensor,
        z: torch.Tensor,
        prev_action: torch.Tensor,
        prev_plan: torch.Tensor,
        action_noise: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        # filter: the frame into the state (1, D), (1, S)
        h1, z1, _ = self.filter(image, h, z, self.scale.normalize(prev_action))
        start = LatentState(h1, z1, torch.ones_like(z1), z1)
        # plan: latent CEM from the filtered state, normalized actions
        act, plan, ret = latent_cem_plan(
            start, prev_plan, action_noise, model=self.filter.model, cfg=self.cfg
        )
        return self.scale.task_units(act), h1, z1, plan, ret


def _sizes(model: WorldModel) -> dict[str, int]:
    r = model.rssm
    return {"deter": r.deter, "stoch": r.stoch, "action_dim": model.action_dim,
            "image_size": IMAGE_SIZE}  # fmt: skip


def _state_args(model: WorldModel) -> tuple[torch.Tensor, ...]:
    """Batch-1 example inputs ``image, h, z, prev_action``."""
    r = model.rssm
    image = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)
    return image, torch.zeros(1, r.deter), torch.zeros(1, r.stoch), torch.zeros(1, model.action_dim)


def export_filter_step(
    model: WorldModel, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``model``'s :class:`FilterStep` (batch 1) to ``path``; ``metadata`` (JSON values)
    is attached with the model's sizes (``deter``, ``stoch``, ``action_dim``, ``image_size``)."""
    step = FilterStep(model).eval()
    meta = {"kind": "latent_filter_step", **_sizes(model), **(metadata or {})}
    return write_graph(step, _state_args(model), meta, path)


def export_pixel_planner(
    model: WorldModel,
    low: list[float],
    high: list[float],
    cfg: LatentPlannerConfig,
    path: str | os.PathLike[str],
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s :class:`PixelPlannerStep` for action bounds ``low, high (A,)`` (task
    units) to ``path``. Metadata: ``kind`` ``"latent_pixel_planner"``, ``format_version``, the
    sizes, ``action_low``/``action_high``, ``planner_config``, ``noise_inputs`` (name ->
    shape), ``carry`` (``plan (H, A)``) and, with a value head, ``value_head``, plus
    ``metadata`` (JSON values, e.g. the task).
    Raises ``ValueError`` for bad bounds (:class:`ActionScale`)."""
    scale = ActionScale(low, high)
    step = PixelPlannerStep(model, scale, cfg).eval()
    a = model.action_dim
    noise = cfg.noise_shapes(a)
    args = (
        *_state_args(model),
        torch.zeros(cfg.horizon, a),
        torch.zeros(noise["action_noise"]),
    )
    meta = {
        "kind": "latent_pixel_planner",
        "format_version": PIXEL_PLANNER_FORMAT,
        **_sizes(model),
        "action_low": scale.low.tolist(),
        "action_high": scale.high.tolist(),
        "planner_config": cfg.as_dict(),
        "noise_inputs": {k: list(v) for k, v in noise.items()},
        "carry": {"plan": [cfg.horizon, a]},
        **({"value_head": model.value.config.as_dict()} if model.value is not None else {}),
        **(metadata or {}),
    }
    return write_graph(step, args, meta, path)
