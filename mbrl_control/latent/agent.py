"""The torch reference of the pixel planner: :class:`~mbrl_control.latent.export.
PixelPlannerStep` with its carried state, the same interface and noise stream as
:class:`mbrl_control.latent.runtime.OnnxPixelPlanner` (so the two can be compared tick by tick,
and training can act before anything is exported)."""

from __future__ import annotations

import numpy as np
import torch

from mbrl_control.latent.export import PixelPlannerStep
from mbrl_control.latent.planner import ActionScale, LatentPlannerConfig
from mbrl_control.latent.world_model import WorldModel
from mbrl_control.planning.noise import NoiseStream


class TorchPixelPlanner:
    """``act(frame (S, S, 3) uint8) -> action (A,)`` float32 in task units, from ``model``
    with action bounds ``low, high (A,)`` and latent CEM ``cfg``; ``seed`` of the noise stream
    (default ``cfg.seed``). ``ValueError`` for bad bounds or a frame of another shape."""

    def __init__(
        self,
        model: WorldModel,
        low: list[float],
        high: list[float],
        cfg: LatentPlannerConfig,
        seed: int | None = None,
    ) -> None:
        self.scale = ActionScale(low, high)
        self.step = PixelPlannerStep(model, self.scale, cfg).eval()
        self.cfg = cfg
        self._stream = NoiseStream(
            cfg.noise_shapes(model.action_dim), cfg.seed if seed is None else seed
        )
        self.last_return = float("nan")
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """As :meth:`OnnxPixelPlanner.reset`."""
        r, a = self.step.filter.model.rssm, self.step.filter.model.action_dim
        self._h, self._z = torch.zeros(1, r.deter), torch.zeros(1, r.stoch)
        self._prev = self.scale.mid[None].clone()  # (1, A) task units: normalized zero
        self._plan = torch.zeros(self.cfg.horizon, a)
        self.last_return = float("nan")
        if seed is not None:
            self._stream.seed(seed)
        self._noise = self._stream.draw()

    @torch.no_grad()
    def act(self, frame: np.ndarray) -> np.ndarray:
        """As :meth:`OnnxPixelPlanner.act`."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame must be (S, S, 3) uint8, got {frame.shape} {frame.dtype}")
        image = torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1)))[None]
        noise = torch.from_numpy(self._noise["action_noise"])
        action, self._h, self._z, self._plan, ret = self.step(
            image, self._h, self._z, self._prev, self._plan, noise
        )
        self._prev = action[None].clone()
        self.last_return = float(ret)
        self._noise = self._stream.draw()
        return action.numpy().astype(np.float32)
