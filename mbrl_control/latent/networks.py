"""The RSSM's image and head networks (DreamerV1 layout, sized for a CPU).

Shape letters: B batch, E embedding, F features (``D + S``: deterministic + stochastic state).
Images are float ``(B, 3, 64, 64)`` in ``[-0.5, 0.5]`` (:func:`to_float`).
"""

from __future__ import annotations

import torch
from torch import nn

IMAGE_SIZE = 64


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(..., 3, 64, 64)`` in [0, 255] -> float32 in [-0.5, 0.5]."""
    return images.to(torch.float32) / 255.0 - 0.5


class ConvEncoder(nn.Module):
    """``(B, 3, 64, 64)`` -> ``(B, E)``, ``E = 32 depth``: four 4x4 stride-2 convolutions
    (64 -> 31 -> 14 -> 6 -> 2 px; depth, 2, 4, 8 x ``depth`` channels), ELU."""

    def __init__(self, depth: int = 16) -> None:
        super().__init__()
        d = depth
        self.net = nn.Sequential(
            nn.Conv2d(3, d, 4, 2),
            nn.ELU(),
            nn.Conv2d(d, 2 * d, 4, 2),
            nn.ELU(),
            nn.Conv2d(2 * d, 4 * d, 4, 2),
            nn.ELU(),
            nn.Conv2d(4 * d, 8 * d, 4, 2),
            nn.ELU(),
            nn.Flatten(),
        )
        self.embed_dim = 32 * d

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class ConvDecoder(nn.Module):
    """``(B, F)`` -> the mean image ``(B, 3, 64, 64)``: a linear layer to ``32 depth``
    channels at 1x1, then transposed convolutions 1 -> 5 -> 13 -> 30 -> 64 px, ELU."""

    def __init__(self, feature_dim: int, depth: int = 16) -> None:
        super().__init__()
        d = depth
        self.linear = nn.Linear(feature_dim, 32 * d)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(32 * d, 4 * d, 5, 2),
            nn.ELU(),
            nn.ConvTranspose2d(4 * d, 2 * d, 5, 2),
            nn.ELU(),
            nn.ConvTranspose2d(2 * d, d, 6, 2),
            nn.ELU(),
            nn.ConvTranspose2d(d, 3, 6, 2),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.linear(features)
        return self.net(x.reshape(*x.shape, 1, 1))


def mlp(inp: int, out: int, hidden: int, layers: int = 2) -> nn.Sequential:
    """``layers`` hidden ELU layers of ``hidden`` units, then a linear layer to ``out``."""
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(inp if i == 0 else hidden, hidden), nn.ELU()]
    mods.append(nn.Linear(hidden if layers else inp, out))
    return nn.Sequential(*mods)
