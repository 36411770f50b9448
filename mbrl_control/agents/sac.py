"""Soft actor-critic: squashed-Gaussian actor in the action bounds, twin critics, auto entropy,
and a state-value head for the planner.

Shape letters: B batch rows, O obs dim, A action dim, K critics (2). The twin critics are one
ensemble of K MLPs (one ``(K, in, out)`` weight per layer, as the dynamics ensemble), so both
are evaluated in one batched pass. The state-value head ``V(s)`` is distilled from
``min_k Q_k(s, mu(s))`` (mu: the actor's mean action) at every update: the planner needs the
value of thousands of terminal states per plan, and one small MLP costs a fraction of the
actor plus twin critics it replaces. Randomness comes from an injected ``torch.Generator`` (or
is passed in as standard-normal ``eps``), never from the global RNG.
"""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import torch
from torch import nn

from mbrl_control.agents.config import SACConfig
from mbrl_control.models.config import INPUT_STD_FLOOR
from mbrl_control.models.ensemble import EnsembleLinear, Normalizer

Batch = dict[str, torch.Tensor]
"""Transitions: ``obs (B, O)``, ``action (B, A)``, ``reward (B,)`` (= -cost), ``next_obs (B, O)``.
Episodes here only end by time limit, so every transition bootstraps."""


def _mlp(inputs: int, outputs: int, cfg: SACConfig, width: int | None = None) -> nn.Sequential:
    dims = [inputs] + [width or cfg.hidden] * cfg.layers
    hidden = [m for i, o in itertools.pairwise(dims) for m in (nn.Linear(i, o), nn.ReLU())]
    return nn.Sequential(*hidden, nn.Linear(dims[-1], outputs))


class Actor(nn.Module):
    """``pi(a | s)``: a Gaussian in pre-squash space, tanh-squashed into ``[low, high]``.

    ``forward(obs (B, O), eps (B, A)) -> action (B, A), log_prob (B,)`` (reparameterized);
    :meth:`mean_action` is the deterministic action ``(B, A)`` used by planner and export.
    """

    def __init__(self, obs_dim: int, low: np.ndarray, high: np.ndarray, cfg: SACConfig) -> None:
        super().__init__()
        low_t, high_t = torch.as_tensor(low), torch.as_tensor(high)
        self.act_dim = int(low_t.shape[0])
        self.log_std_range = (cfg.log_std_min, cfg.log_std_max)
        self.obs_norm = Normalizer(obs_dim)
        self.net = _mlp(obs_dim, 2 * self.act_dim, cfg)
        self.register_buffer("mid", (high_t + low_t) / 2)  # (A,)
        self.register_buffer("half_range", (high_t - low_t) / 2)  # (A,)

    def _gaussian(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_std = self.net(self.obs_norm.normalize(obs)).chunk(2, dim=-1)  # (B, A) each
        return mu, log_std.clamp(*self.log_std_range)

    def forward(self, obs: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_std = self._gaussian(obs)
        squashed = torch.tanh(mu + log_std.exp() * eps)  # (B, A) in (-1, 1)
        gauss = -0.5 * eps.square() - log_std - 0.5 * math.log(2 * math.pi)
        jacobian = torch.log(
            self.half_range * (1 - squashed.square()) + 1e-6
        )  # change of variables
        return self.mid + self.half_range * squashed, (gauss - jacobian).sum(-1)

    def mean_action(self, obs: torch.Tensor) -> torch.Tensor:
        """The squashed mean ``(B, A)`` (or ``(A,)`` for ``obs (O,)``)."""
        return self.mid + self.half_range * torch.tanh(self._gaussian(obs)[0])


class TwinQ(nn.Module):
    """K critics ``Q_k(s, a)`` as one batched ensemble: ``(obs (B, O), action (B, A)) -> (K, B)``.

    Each layer is one :class:`EnsembleLinear` with K members (the dynamics ensemble's layer).
    """

    def __init__(self, obs_dim: int, act_dim: int, cfg: SACConfig, critics: int = 2) -> None:
        super().__init__()
        self.critics = critics
        self.in_norm = Normalizer(obs_dim + act_dim)
        dims = [obs_dim + act_dim] + [cfg.hidden] * cfg.layers + [1]
        self.layers = nn.ModuleList(
            EnsembleLinear(critics, i, o) for i, o in itertools.pairwise(dims)
        )

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = self.in_norm.normalize(torch.cat([obs, action], dim=-1))  # (B, O+A)
        x = x.expand(self.critics, *x.shape)  # (K, B, O+A)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)[..., 0]  # (K, B)


class StateValue(nn.Module):
    """``V(s)``: ``obs (B, O) -> (B,)``, an MLP of width ``cfg.value_hidden``."""

    def __init__(self, obs_dim: int, cfg: SACConfig) -> None:
        super().__init__()
        self.obs_norm = Normalizer(obs_dim)
        self.net = _mlp(obs_dim, 1, cfg, cfg.value_hidden)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(self.obs_norm.normalize(obs))[..., 0]


class SAC(nn.Module):
    """Actor, twin critics, Polyak-averaged target critics, the entropy temperature and the
    state-value head distilled from the critics.

    ``update(batch)`` takes one gradient step on each and returns a metrics dict.
    """

    def __init__(
        self,
        obs_dim: int,
        low: np.ndarray,
        high: np.ndarray,
        cfg: SACConfig = SACConfig(),  # noqa: B008  (frozen dataclass: immutable default)
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.actor = Actor(obs_dim, low, high, cfg)
        act_dim = self.actor.act_dim
        self.critic = TwinQ(obs_dim, act_dim, cfg)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.value = StateValue(obs_dim, cfg)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(cfg.init_alpha)))
        self.target_entropy = -cfg.target_entropy_scale * act_dim
        self.generator = generator or torch.Generator().manual_seed(0)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.lr)
        self.value_opt = torch.optim.Adam(self.value.parameters(), lr=cfg.lr)

    @torch.no_grad()
    def fit_normalizers(self, obs: torch.Tensor, action: torch.Tensor) -> None:
        """Input scaling of actor and critics from real rows ``obs (B, O)``, ``action (B, A)``.

        Each std is floored at ``INPUT_STD_FLOOR`` (a constant goal or a locked joint must not
        be divided by ~0: the same rule as the ensemble's inputs, ``EnsembleConfig``)."""
        self.actor.obs_norm.fit(obs, INPUT_STD_FLOOR)
        self.value.obs_norm.fit(obs, INPUT_STD_FLOOR)
        self.critic.in_norm.fit(torch.cat([obs, action], dim=-1), INPUT_STD_FLOOR)
        self.target.load_state_dict(self.critic.state_dict())

    def noise(self, rows: int) -> torch.Tensor:
        """Standard normal ``(rows, A)`` from this agent's generator."""
        return torch.randn(rows, self.actor.act_dim, generator=self.generator)

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Exploring action ``(B, A)`` for ``obs (B, O)`` (a sample of the policy)."""
        return self.actor(obs, self.noise(obs.shape[0]))[0]

    @torch.no_grad()
    def td_target(self, batch: Batch, eps: torch.Tensor | None = None) -> torch.Tensor:
        """Soft TD target ``(B,)``: ``r + gamma (min_k Q'_k(s', a') - alpha log pi(a'|s'))``
        with ``a' ~ pi(s')`` (``eps (B, A)`` fixes the draw)."""
        next_obs = batch["next_obs"]
        eps = self.noise(next_obs.shape[0]) if eps is None else eps
        next_action, log_prob = self.actor(next_obs, eps)
        soft_q = self.target(next_obs, next_action).min(0).values - self.log_alpha.exp() * log_prob
        return batch["reward"] + self.cfg.gamma * soft_q

    @torch.no_grad()
    def value_target(self, obs: torch.Tensor) -> torch.Tensor:
        """What the state-value head learns: ``min_k Q_k(s, mu(s))`` ``(B,)``."""
        return self.critic(obs, self.actor.mean_action(obs)).min(0).values

    def value_error(self, obs: torch.Tensor) -> torch.Tensor:
        """Mean squared distillation error of the state-value head on ``obs (B, O)``; the
        head's loss (with gradient to the head only)."""
        return (self.value(obs) - self.value_target(obs)).square().mean()

    def td_error(self, batch: Batch, eps: torch.Tensor | None = None) -> torch.Tensor:
        """Mean squared TD error of the critics on ``batch`` (scalar, no gradient)."""
        with torch.no_grad():
            return (
                (self.critic(batch["obs"], batch["action"]) - self.td_target(batch, eps))
                .square()
                .mean()
            )

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One step of critics, actor, temperature and targets; returns detached metrics."""
        # critics: regress both onto the shared soft TD target
        target = self.td_target(batch)  # (B,)
        q = self.critic(batch["obs"], batch["action"])  # (K, B)
        critic_loss = (q - target).square().mean(1).sum()
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        # actor: maximize min_k Q_k(s, pi(s)) + alpha * entropy (reparameterized)
        action, log_prob = self.actor(batch["obs"], self.noise(batch["obs"].shape[0]))
        alpha = self.log_alpha.exp().detach()
        actor_loss = (alpha * log_prob - self.critic(batch["obs"], action).min(0).values).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()
        # temperature: keep the policy's entropy near the target
        alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.alpha_opt.step()
        # state-value head: follow the (just updated) critics at the actor's mean action
        value_loss = self.value_error(batch["obs"])
        self.value_opt.zero_grad(set_to_none=True)
        value_loss.backward()
        self.value_opt.step()
        # targets: Polyak averaging
        with torch.no_grad():
            online, slow = list(self.critic.parameters()), list(self.target.parameters())
            torch._foreach_lerp_(slow, online, self.cfg.tau)
        return {
            "critic_loss": critic_loss.detach(),
            "actor_loss": actor_loss.detach(),
            "alpha": alpha,
            "entropy": -log_prob.detach().mean(),
            "q": q.detach().mean(),
            "value_loss": value_loss.detach(),
        }
