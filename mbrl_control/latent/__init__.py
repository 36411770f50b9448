"""Latent world models from pixels (issue 21; docs/pixels.md): an RSSM (PlaNet/Dreamer).

:mod:`~mbrl_control.latent.networks` — conv encoder ``(B, 3, 64, 64) -> (B, E)``, conv decoder
``(B, F) -> (B, 3, 64, 64)``, MLP heads; :mod:`~mbrl_control.latent.rssm` — the recurrent
state-space model (GRU deterministic state ``h (D)`` + Gaussian stochastic latent ``z (S)``);
:mod:`~mbrl_control.latent.world_model` — the parts together with their training loss;
:mod:`~mbrl_control.latent.planner` — latent CEM over the prior with the reward head;
:mod:`~mbrl_control.latent.export` — filter step (+ planner) as one ONNX graph;
:mod:`~mbrl_control.latent.runtime` — that graph run by onnxruntime, no torch;
:mod:`~mbrl_control.latent.training` — the resumable ``mbrl-control train-pixels`` run.

The names below are imported lazily, so ``mbrl_control.latent.runtime`` loads without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "RSSM": "mbrl_control.latent.rssm",
    "LatentState": "mbrl_control.latent.rssm",
    "WorldModel": "mbrl_control.latent.world_model",
    "WorldModelConfig": "mbrl_control.latent.world_model",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
