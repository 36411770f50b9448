"""Latent world models from pixels (issue 21; docs/pixels.md): an RSSM (PlaNet/Dreamer).

:mod:`~mbrl_control.latent.networks` — conv encoder ``(B, 3, 64, 64) -> (B, E)``, conv decoder
``(B, F) -> (B, 3, 64, 64)``, MLP heads; :mod:`~mbrl_control.latent.rssm` — the recurrent
state-space model (GRU deterministic state ``h (D)`` + Gaussian stochastic latent ``z (S)``);
:mod:`~mbrl_control.latent.world_model` — the parts together with their training loss.
"""

from mbrl_control.latent.rssm import RSSM, LatentState
from mbrl_control.latent.world_model import WorldModel, WorldModelConfig

__all__ = ["RSSM", "LatentState", "WorldModel", "WorldModelConfig"]
