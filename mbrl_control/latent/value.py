"""A terminal value of the latent state: the planner sees past its horizon.

The latent CEM scores a plan by the reward head summed over H imagined steps; a slow motion
longer than those H steps (the cart-pole's ~1.1 s swing against 0.48 s of lookahead,
docs/pixels.md) is invisible to it. With a value head V(features) the score becomes::

    sum_{h<H} gamma^h r_h  +  gamma^H V(s_H)

(TD-MPC, Hansen et al. 2022: a terminal value after a short latent rollout; DreamerV1,
Hafner et al. 2020: a critic on the RSSM's features with lambda-return targets).

**Targets** are built from the *recorded* rewards of stored sequences, so V is the value of
the behaviour policy that collected them (the teacher's and the planner's episodes), not of
the planner itself: the lambda-return (DreamerV1, Eq. 6)::

    G_t = r_t + gamma ((1 - lambda) V'(s_{t+1}) + lambda G_{t+1}),   G_last = V'(s_last)

with V' a slowly updated copy of V (exponential moving average of its weights, TD-MPC's
target network), bootstrapped at the sequence's end. The discount is per *decision* step
(one action held ``action_repeat`` env steps). The features are detached: the value never
shapes the latent.

**Imagined inputs** (the value half of PlaNet's overshooting, as the reward overshooting of
:mod:`~mbrl_control.latent.world_model`): the planner reads V on *imagined* prior states
H steps from the filtered one, not on posteriors; :func:`imagined_features` rolls the prior
forward under the recorded actions from every posterior state, and V is also regressed there
onto the target of the real state it stands for.

Shape letters: B batch (sequences), T time, F features (``D + S``), K imagined steps.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from mbrl_control.latent.networks import mlp
from mbrl_control.latent.rssm import LatentState


@dataclass(frozen=True)
class ValueConfig:
    """Settings of the value head. ``ValueError`` for a value out of range, naming it."""

    discount: float = 0.98
    """gamma per decision step (0.98 at 25 Hz: a 1/(1-gamma) = 50-step, 2 s horizon)."""
    lam: float = 0.95
    """lambda of the lambda-return (1: Monte-Carlo to the sequence's end, 0: one-step TD)."""
    target_ema: float = 0.01
    """Share of the online weights mixed into the target copy per update (TD-MPC's tau)."""
    hidden: int = 128
    """Units of each of the MLP's two hidden ELU layers."""
    imagine: int = 12
    """K, imagined steps from each posterior state whose features V is also fitted on (see
    module); 0: posteriors only."""
    weight: float = 1.0
    """Scale w of the terminal value in the planner's score (1: the discounted return's
    estimate; < 1 trusts the imagined reward more than the value)."""
    plan_discount: bool = True
    """The planner's score: True, ``sum_h gamma^h r_h + w gamma^H V(s_H)`` (the discounted
    return); False, ``sum_h r_h + w V(s_H)`` (the rewards summed as without a value: the
    discount inside the horizon shortens the planner's effective lookahead)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.discount < 1.0:
            raise ValueError(f"value discount={self.discount}; allowed: (0, 1)")
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"value lam={self.lam}; allowed: [0, 1]")
        if not 0.0 <= self.weight <= 10.0:
            raise ValueError(f"value weight={self.weight}; allowed: [0, 10]")
        if not 0.0 < self.target_ema <= 1.0:
            raise ValueError(f"value target_ema={self.target_ema}; allowed: (0, 1]")
        if not isinstance(self.plan_discount, bool):
            raise ValueError(f"value plan_discount={self.plan_discount!r}; allowed: true, false")
        for name in ("hidden", "imagine"):
            value, low = getattr(self, name), 1 if name == "hidden" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"value {name}={value!r}; allowed: an integer >= {low}")

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class ValueHead(nn.Module):
    """``V: features (..., F) -> value (...)`` (reward units, discounted sum per decision
    step), with its EMA target copy (see module)."""

    def __init__(self, feature_dim: int, config: ValueConfig | None = None) -> None:
        super().__init__()
        self.config = config or ValueConfig()
        self.net = mlp(feature_dim, 1, self.config.hidden)
        self.target = copy.deepcopy(self.net).requires_grad_(False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)

    @torch.no_grad()
    def target_value(self, features: torch.Tensor) -> torch.Tensor:
        """V'(features ``(..., F)``) of the target copy: ``(...)``."""
        return self.target(features).squeeze(-1)

    @torch.no_grad()
    def update_target(self) -> None:
        """target <- (1 - target_ema) target + target_ema online (after each optimizer step)."""
        tau = self.config.target_ema
        for t, o in zip(self.target.parameters(), self.net.parameters(), strict=True):
            t.lerp_(o, tau)

    def returns(self, rewards: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Lambda-return targets ``(B, T-1)`` of the states ``features (B, T, F)`` at
        0..T-2, ``rewards (B, T)`` with ``rewards[:, t]`` the reward between state t and t+1
        (the last unused), bootstrapped with the target copy (see module)."""
        c = self.config
        v = self.target_value(features)  # (B, T)
        return lambda_returns(rewards[:, :-1], v, c.discount, c.lam)

    def loss(
        self,
        features: torch.Tensor,
        rewards: torch.Tensor,
        imagined: torch.Tensor | None = None,
        skip: int = 0,
    ) -> torch.Tensor:
        """Squared error / 2 of V against :meth:`returns` on ``features (B, T, F)`` (detached
        here), states ``skip..T-2`` (``skip``: the filter's warm-up after a zero start), and,
        given ``imagined (K, B, T, F)`` (:func:`imagined_features`: step k imagined from
        state t stands for state t+k+1; NaN where t+k+1 > T-1), on those too, each set
        weighted equally. ``ValueError`` unless ``0 <= skip < T-1``."""
        t_len = features.shape[1]
        if not 0 <= skip < t_len - 1:
            raise ValueError(f"skip={skip}; allowed: 0 .. {t_len - 2} (sequences of {t_len})")
        features = features.detach()
        target = self.returns(rewards, features)  # (B, T-1) for states 0..T-2
        loss = (self(features[:, skip:-1]) - target[:, skip:]).pow(2).mean() / 2
        if imagined is None or imagined.shape[0] == 0:
            return loss
        errors = []
        for k in range(min(imagined.shape[0], t_len - 2 - skip)):
            n = t_len - 1 - (k + 1)  # starts t = 0..T-k-3 land on states k+1..T-2
            src = imagined[k, :, skip:n].detach()  # (B, n - skip, F)
            errors.append((self(src) - target[:, skip + k + 1 :]).pow(2).mean() / 2)
        return (loss + torch.stack(errors).mean()) / 2 if errors else loss


class ValueEnsemble(nn.Module):
    """M value heads read as one, for the planner: ``mean - pessimism * std`` over the members
    ``(...)`` of features ``(..., F)``, a lower confidence bound (as model-based offline RL
    penalises disagreement, MOPO, Yu et al. 2020): the optimizer cannot profit from one head's
    error where the members disagree, off the data. ``config``: the first head's (planner
    discount and weight). ``ValueError`` for no heads or a negative ``pessimism``."""

    def __init__(self, heads: list[ValueHead], pessimism: float = 1.0) -> None:
        super().__init__()
        if not heads or pessimism < 0:
            raise ValueError(f"{len(heads)} heads, pessimism={pessimism}; want >= 1, >= 0")
        self.heads = nn.ModuleList(heads)
        self.pessimism = float(pessimism)
        self.config = heads[0].config

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        v = torch.stack([head(features) for head in self.heads], -1)  # (..., M)
        return v.mean(-1) - self.pessimism * v.std(-1, unbiased=False)


def lambda_returns(
    rewards: torch.Tensor, values: torch.Tensor, discount: float, lam: float
) -> torch.Tensor:
    """``G (B, T-1)`` from ``rewards (B, T-1)`` (reward after state t) and ``values (B, T)``
    (bootstrap values of states 0..T-1): ``G_t = r_t + discount ((1 - lam) v_{t+1} + lam
    G_{t+1})``, ``G_{T-1} = v_{T-1}`` (DreamerV1, Eq. 6). ``ValueError`` for mismatched
    shapes."""
    if rewards.shape[:-1] != values.shape[:-1] or rewards.shape[-1] != values.shape[-1] - 1:
        raise ValueError(f"rewards {tuple(rewards.shape)} need values (.., T) with T one "
                         f"longer, got {tuple(values.shape)}")  # fmt: skip
    out = []
    g = values[..., -1]
    for t in range(rewards.shape[-1] - 1, -1, -1):
        g = rewards[..., t] + discount * ((1 - lam) * values[..., t + 1] + lam * g)
        out.append(g)
    return torch.stack(out[::-1], -1)


@torch.no_grad()
def imagined_features(
    model: nn.Module, post: LatentState, actions: torch.Tensor, steps: int
) -> torch.Tensor:
    """Features ``(K, B, T, F)`` imagined with the prior mean (as the planner imagines) from
    each posterior state ``post (B, T, ·)`` under the recorded ``actions (B, T, A)``
    (``actions[:, t]`` taken after state t): entry ``[k, :, t]`` is k+1 steps from state t,
    standing for state t+k+1; NaN where that is past the sequence. ``model``: a
    :class:`~mbrl_control.latent.world_model.WorldModel`."""
    b, t_len = actions.shape[:2]
    h, z = post.h.flatten(0, 1), post.mean.flatten(0, 1)  # (B·T, ·)
    state = LatentState(h, z, torch.ones_like(z), z)
    out = []
    for k in range(steps):
        # the action after state t+k, for every start t (past the end: anything, masked below)
        idx = (torch.arange(t_len) + k).clamp(max=t_len - 1)  # (T,)
        act = actions[:, idx].flatten(0, 1)  # (B·T, A)
        state = model.rssm.img_step(state, act, sample=False)
        feat = state.features.reshape(b, t_len, -1).clone()  # (B, T, F)
        feat[:, t_len - k - 1 :] = float("nan")  # t + k + 1 > T - 1
        out.append(feat)
    return torch.stack(out) if out else actions.new_zeros(0, b, t_len, model.rssm.feature_dim)


def fit_value(
    head: ValueHead,
    features: torch.Tensor,
    rewards: torch.Tensor,
    imagined: torch.Tensor | None = None,
    *,
    updates: int = 1000,
    batch: int = 1024,
    lr: float = 1e-3,
    skip: int = 0,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Fit ``head`` alone on whole filtered episodes of a frozen world model: ``features
    (E, T, F)`` posteriors from each episode's first frame, ``rewards (E, T)`` (the last
    unused), ``imagined (K, E, T, F)`` from :func:`imagined_features` (or None).

    Each of ``updates`` Adam steps (``lr``) recomputes the lambda-return targets of every
    state with the target copy, regresses V on ``batch`` random posterior states (``skip..T-2``)
    and as many imagined ones (each against the target of the state it stands for), the two
    halves weighted equally, then moves the target copy (:meth:`ValueHead.update_target`).
    Returns each step's loss. ``ValueError`` for mismatched shapes."""
    e, t_len, _ = features.shape
    if rewards.shape != (e, t_len) or not 0 <= skip < t_len - 1:
        raise ValueError(f"features {tuple(features.shape)}, rewards {tuple(rewards.shape)}, "
                         f"skip {skip}: want rewards (E, T), 0 <= skip < T-1")  # fmt: skip
    if imagined is not None and imagined.shape[1:] != features.shape:
        raise ValueError(f"imagined {tuple(imagined.shape)} is not (K, *{tuple(features.shape)})")
    # every (episode, state) a loss may use: posteriors at skip..T-2; imagined (k, e, t) that
    # land on state t+k+1 <= T-2
    post_rows = torch.cartesian_prod(torch.arange(e), torch.arange(skip, t_len - 1))  # (P, 2)
    imag_rows = None
    if imagined is not None and imagined.shape[0]:
        k, ep, t = torch.meshgrid(torch.arange(imagined.shape[0]), torch.arange(e),
                                  torch.arange(skip, t_len), indexing="ij")  # fmt: skip
        ok = t + k + 1 <= t_len - 2
        imag_rows = torch.stack([k[ok], ep[ok], t[ok]], 1)  # (Q, 3)
    opt = torch.optim.Adam(head.net.parameters(), lr)
    losses = []
    for _ in range(updates):
        target = head.returns(rewards, features)  # (E, T-1), no grad
        pick = post_rows[torch.randint(len(post_rows), (batch,), generator=generator)]
        err = head(features[pick[:, 0], pick[:, 1]]) - target[pick[:, 0], pick[:, 1]]
        loss = err.pow(2).mean() / 2
        if imag_rows is not None and len(imag_rows):
            q = imag_rows[torch.randint(len(imag_rows), (batch,), generator=generator)]
            src = imagined[q[:, 0], q[:, 1], q[:, 2]]  # (batch, F)
            err = head(src) - target[q[:, 1], q[:, 2] + q[:, 0] + 1]
            loss = (loss + err.pow(2).mean() / 2) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        head.update_target()
        losses.append(float(loss.detach()))
    return losses
