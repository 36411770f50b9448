"""The issue's imagination-vs-real report: an animated GIF, real frames above what the world
model imagines from the first ``context`` of them and the actions alone."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from mbrl_control.latent.world_model import WorldModel

SCALE = 3
"""Each 64 px frame is shown at 3x (nearest neighbour)."""


def imagination_gif(
    model: WorldModel,
    images: np.ndarray,
    actions: np.ndarray,
    context: int,
    path: str | os.PathLike[str],
    fps: float = 12.5,
) -> Path:
    """Write ``path``: one GIF frame per step of ``images (B, T, 3, 64, 64)`` uint8 with its
    ``actions (B, T, A)`` (normalized, ``actions[:, t]`` after ``images[:, t]``): the B real
    sequences side by side on top, :meth:`WorldModel.open_loop` below (filtered for
    ``context`` steps, imagined after; a red bar marks imagined frames). Written atomically.

    Raises ``ValueError`` unless ``1 <= context < T``.
    """
    t = images.shape[1]
    if not 1 <= context < t:
        raise ValueError(f"context={context}; allowed: 1 .. {t - 1} (the sequences have {t})")
    from PIL import Image

    with torch.no_grad():
        dream = model.open_loop(torch.from_numpy(images), torch.from_numpy(actions), context)
    real = images.transpose(1, 0, 3, 4, 2)  # (T, B, 64, 64, 3)
    fake = dream.numpy().transpose(1, 0, 3, 4, 2).copy()
    fake[context:, :, :2] = (220, 30, 30)  # imagined: a red bar along the top
    frames = []
    for step in range(t):  # real (64, B·64, 3) over imagined
        grid = np.concatenate([np.concatenate(list(real[step]), 1),
                               np.concatenate(list(fake[step]), 1)], 0)  # fmt: skip
        size = (grid.shape[1] * SCALE, grid.shape[0] * SCALE)
        frames.append(Image.fromarray(grid).resize(size, Image.NEAREST))
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                   duration=int(1000 / fps), loop=0)  # fmt: skip
    os.replace(tmp, path)
    return path
