"""The recurrent state-space model (PlaNet, Hafner et al. 2019): a GRU deterministic state
``h (D)`` and a diagonal-Gaussian stochastic latent ``z (S)``.

One step, with the action ``a_{t-1}`` that led to step t::

    h_t = GRU(h_{t-1}, [z_{t-1}, a_{t-1}])            deterministic path
    p(z_t | h_t)        prior       (imagination: no image)
    q(z_t | h_t, e_t)   posterior   (filtering: e_t = encoder(image_t))

Shape letters: B batch, T time, A action, E embedding, D deterministic, S stochastic.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from mbrl_control.latent.networks import mlp

MIN_STD = 0.1
"""Floor of the latent's standard deviation (PlaNet's), keeps the KL well behaved."""


@dataclass
class LatentState:
    """``h (..., D)``, and the latent's ``mean``, ``std``, ``sample`` ``(..., S)``."""

    h: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    sample: torch.Tensor

    @property
    def features(self) -> torch.Tensor:
        """``(..., D + S)``: what the heads and the decoder read."""
        return torch.cat([self.h, self.sample], -1)

    @staticmethod
    def stack(states: list[LatentState], dim: int = 1) -> LatentState:
        """T states ``(B, ·)`` -> one ``(B, T, ·)`` (``dim=1``)."""
        names = [f.name for f in fields(LatentState)]
        return LatentState(*(torch.stack([getattr(s, k) for s in states], dim) for k in names))

    def detach(self) -> LatentState:
        return LatentState(*(getattr(self, f.name).detach() for f in fields(self)))


class RSSM(nn.Module):
    """The transition (prior) and filter (posterior) of the latent dynamics (see module)."""

    def __init__(
        self, action_dim: int, embed_dim: int, deter: int = 128, stoch: int = 16, hidden: int = 128
    ) -> None:
        super().__init__()
        self.deter, self.stoch = deter, stoch
        self.inp = nn.Sequential(nn.Linear(stoch + action_dim, hidden), nn.ELU())
        self.gru = nn.GRUCell(hidden, deter)
        self.prior_net = mlp(deter, 2 * stoch, hidden, layers=1)
        self.post_net = mlp(deter + embed_dim, 2 * stoch, hidden, layers=1)

    @property
    def feature_dim(self) -> int:
        return self.deter + self.stoch

    def initial(self, batch: int) -> LatentState:
        """The zero state ``(B, ·)`` before the first image."""
        z = torch.zeros(batch, self.stoch)
        return LatentState(torch.zeros(batch, self.deter), z, torch.ones_like(z), z)

    @staticmethod
    def _gaussian(stats: torch.Tensor, h: torch.Tensor, sample: bool) -> LatentState:
        mean, raw = stats.chunk(2, -1)
        std = F.softplus(raw) + MIN_STD
        z = mean + std * torch.randn_like(std) if sample else mean
        return LatentState(h, mean, std, z)

    def img_step(self, prev: LatentState, action: torch.Tensor, sample: bool = True) -> LatentState:
        """Prior step: ``prev (B, ·)``, ``action (B, A)`` -> the prior state at t."""
        x = self.inp(torch.cat([prev.sample, action], -1))
        h = self.gru(x, prev.h)  # (B, D)
        return self._gaussian(self.prior_net(h), h, sample)

    def obs_step(
        self, prev: LatentState, action: torch.Tensor, embed: torch.Tensor, sample: bool = True
    ) -> tuple[LatentState, LatentState]:
        """Filter step: also sees ``embed (B, E)``; returns (posterior, prior) at t."""
        prior = self.img_step(prev, action, sample)
        post = self._gaussian(self.post_net(torch.cat([prior.h, embed], -1)), prior.h, sample)
        return post, prior

    def observe(
        self, embeds: torch.Tensor, actions: torch.Tensor, start: LatentState | None = None
    ) -> tuple[LatentState, LatentState]:
        """Filter a sequence: ``embeds (B, T, E)`` and ``actions (B, T, A)`` with
        ``actions[:, t]`` the action that led to step t (zeros at a sequence's first step when
        unknown) -> posteriors and priors ``(B, T, ·)``."""
        state = start if start is not None else self.initial(embeds.shape[0])
        posts, priors = [], []
        for t in range(embeds.shape[1]):
            state, prior = self.obs_step(state, actions[:, t], embeds[:, t])
            posts.append(state)
            priors.append(prior)
        return LatentState.stack(posts), LatentState.stack(priors)

    def imagine(self, start: LatentState, actions: torch.Tensor) -> LatentState:
        """Open-loop prior rollout from ``start (B, ·)`` under ``actions (B, T, A)``:
        states ``(B, T, ·)``, step t after ``actions[:, t]``."""
        state, out = start, []
        for t in range(actions.shape[1]):
            state = self.img_step(state, actions[:, t])
            out.append(state)
        return LatentState.stack(out)
