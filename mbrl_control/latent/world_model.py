"""The latent world model: encoder + RSSM + decoder + reward and continue heads, and its loss.

Data convention (that of :class:`mbrl_control.data.image_store.SequenceBatch`): ``images
(B, T, 3, 64, 64)`` uint8, ``actions (B, T, A)`` with ``actions[:, t]`` taken after
``images[:, t]``, ``rewards (B, T)`` the reward of ``actions[:, t]`` (so it is predicted from
the state at t+1), ``continues (B, T)`` (optional) 0 where the episode ended at step t.

Loss (DreamerV2, Hafner et al. 2021): the decoder's Gaussian log-likelihood of the frames
(unit variance: squared error summed over pixels), reward and continue log-likelihoods, and
the KL of posterior to prior, balanced (``kl_balance`` of it trains the prior, the rest the
posterior) and clipped from below at ``free_nats`` (the KL costs nothing below it).

**Foreground weighting** (``foreground_weight`` w > 0, given a ``background`` frame): each
pixel's squared error is weighted ``1 + w`` where the target frame differs from the background
(the per-pixel median of stored frames, :meth:`~mbrl_control.data.image_store.SequenceLoader
.median_frame`) by more than ``foreground_threshold`` (summed over channels, [-0.5, 0.5]
units), else 1. A thin pole is ~50 of 4096 pixels: unweighted, the error of drawing it as a
blur is lost among the background's, and the latent never learns the angle (docs/pixels.md,
"Foreground weighting").

**Reward overshooting** (``reward_overshoot`` D > 0; the reward half of PlaNet's latent
overshooting, Hafner et al. 2019, Sec. 4): the planner scores candidates by the reward head on
*imagined* states (the prior, from the filtered state), but the head above learns from
posterior states, which see the frame. From every posterior state the prior is rolled forward
under the recorded actions for d = 1..D steps (prior mean, as the planner imagines) and the
head's prediction at each is regressed on the recorded reward; the mean over d joins the loss
with the reward weight. This trains exactly what the planner reads.

**Terminal value** (optional, ``value``: a :class:`~mbrl_control.latent.value.ValueConfig`;
off by default): a value head on the detached posterior features, fitted to lambda-returns
of the recorded rewards (DreamerV1's critic targets, TD-MPC's EMA target network), which the
planner adds after its last imagined step (:mod:`mbrl_control.latent.value`). Its term joins
the loss with weight 1 and never shapes the latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from mbrl_control.latent.networks import ConvDecoder, ConvEncoder, mlp, to_float
from mbrl_control.latent.rssm import RSSM, LatentState
from mbrl_control.latent.value import ValueConfig, ValueHead, imagined_features


@dataclass(frozen=True)
class WorldModelConfig:
    depth: int = 16
    """Conv channels multiplier (encoder 16-32-64-128, decoder mirrored)."""
    deter: int = 128
    stoch: int = 16
    hidden: int = 128
    free_nats: float = 1.0
    kl_scale: float = 1.0
    kl_balance: float = 0.8
    reward_scale: float = 1.0
    """Weight of the reward term: the image term sums ~12k pixel errors, so a weight > 1 makes
    the latent learn what the reward depends on before every pixel is right."""
    foreground_weight: float = 0.0
    """Extra weight of a foreground pixel's error (see module); 0: plain squared error."""
    foreground_threshold: float = 0.15
    """Summed absolute channel difference from the background that makes a pixel foreground."""
    reward_overshoot: int = 0
    """D, steps of imagined reward regressed from every posterior state (see module); 0: off."""

    def __post_init__(self) -> None:
        if isinstance(self.reward_overshoot, bool) or not (
            isinstance(self.reward_overshoot, int) and 0 <= self.reward_overshoot <= 100
        ):
            raise ValueError(f"reward_overshoot={self.reward_overshoot!r}; allowed: 0..100")
        if not (self.foreground_weight >= 0 and self.foreground_threshold > 0):
            raise ValueError(
                f"foreground_weight={self.foreground_weight} (allowed >= 0), "
                f"foreground_threshold={self.foreground_threshold} (allowed > 0)"
            )


def _normal(s: LatentState) -> Normal:
    return Normal(s.mean, s.std)


class WorldModel(nn.Module):
    """The parts of a Dreamer-style world model over ``action_dim`` actions (see module);
    with ``value`` also a terminal value head (``self.value``; None without)."""

    def __init__(
        self,
        action_dim: int,
        config: WorldModelConfig | None = None,
        value: ValueConfig | None = None,
    ) -> None:
        super().__init__()
        c = self.config = config or WorldModelConfig()
        self.action_dim = action_dim
        self.encoder = ConvEncoder(c.depth)
        self.rssm = RSSM(action_dim, self.encoder.embed_dim, c.deter, c.stoch, c.hidden)
        f = self.rssm.feature_dim
        self.decoder = ConvDecoder(f, c.depth)
        self.reward = mlp(f, 1, c.hidden)
        self.cont = mlp(f, 1, c.hidden)
        self.value = ValueHead(f, value) if value is not None else None

    def filter(self, images: torch.Tensor, actions: torch.Tensor) -> tuple[LatentState, ...]:
        """Posteriors and priors ``(B, T, ·)`` of uint8 ``images (B, T, 3, 64, 64)``,
        ``actions (B, T, A)`` (taken after each image: shifted here to lead to it)."""
        b, t = images.shape[:2]
        embeds = self.encoder(to_float(images).flatten(0, 1)).reshape(b, t, -1)  # (B, T, E)
        prev = torch.cat([torch.zeros_like(actions[:, :1]), actions[:, :-1]], 1)  # (B, T, A)
        return self.rssm.observe(embeds, prev)

    def loss(
        self,
        images: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        continues: torch.Tensor | None = None,
        background: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The scalar training loss and its terms (floats) for one batch (see module).
        ``background``: uint8 ``(3, 64, 64)``, required when ``foreground_weight`` > 0
        (``ValueError`` without it)."""
        c = self.config
        post, prior = self.filter(images, actions)
        feat = post.features  # (B, T, F)
        recon = self.decoder(feat.flatten(0, 1)).reshape(images.shape)  # (B, T, 3, 64, 64)
        target = to_float(images)
        sq_err = (recon - target).pow(2) * self.pixel_weights(target, background)
        image_loss = sq_err.sum((-3, -2, -1)).mean() / 2
        reward_pred = self.reward(feat[:, 1:]).squeeze(-1)  # (B, T-1) for rewards[:, :-1]
        reward_loss = (reward_pred - rewards[:, :-1]).pow(2).mean() / 2
        terms = {"image": image_loss, "reward": reward_loss}
        if c.reward_overshoot:
            terms["overshoot"] = self.overshoot_loss(post, actions, rewards)
        if self.value is not None:  # detached features: the value never shapes the latent
            k = self.value.config.imagine
            imagined = imagined_features(self, post.detach(), actions, k) if k else None
            terms["value"] = self.value.loss(feat.detach(), rewards, imagined)
        if continues is not None:
            logits = self.cont(feat[:, 1:]).squeeze(-1)
            terms["continue"] = nn.functional.binary_cross_entropy_with_logits(
                logits, continues[:, :-1].to(logits.dtype)
            )
        # ---- KL balancing and free nats ----
        kl_prior = kl_divergence(_normal(post.detach()), _normal(prior)).sum(-1).mean()
        kl_post = kl_divergence(_normal(post), _normal(prior.detach())).sum(-1).mean()
        kl_value = kl_prior.detach()
        free = torch.tensor(c.free_nats)
        kl = c.kl_balance * torch.maximum(kl_prior, free) + (1 - c.kl_balance) * torch.maximum(
            kl_post, free
        )
        rewardish = reward_loss + terms.get("overshoot", 0.0)  # both weighted reward_scale
        total = sum(terms.values()) + (c.reward_scale - 1) * rewardish + c.kl_scale * kl
        metrics = {k: float(v.detach()) for k, v in terms.items()}
        metrics |= {"kl": float(kl_value), "loss": float(total.detach())}
        return total, metrics

    def overshoot_loss(
        self, post: LatentState, actions: torch.Tensor, rewards: torch.Tensor
    ) -> torch.Tensor:
        """Mean over d = 1..D of the imagined reward's squared error (see module):
        ``post (B, T, ·)`` posteriors, ``actions (B, T, A)``, ``rewards (B, T)`` (reward of
        ``actions[:, t]``). At step d the imagined state from start t has taken actions
        ``t..t+d-1`` and predicts ``rewards[:, t+d-1]``, for starts ``t <= T-d``."""
        b, t_len = rewards.shape
        h, z = post.h, post.mean  # (B, T, ·): the filtered state as the planner starts
        errors = []
        for d in range(1, min(self.config.reward_overshoot, t_len) + 1):
            n = t_len - d + 1  # starts 0..T-d
            zs = z[:, :n].flatten(0, 1)  # (B·n, S)
            prev = LatentState(h[:, :n].flatten(0, 1), zs, torch.ones_like(zs), zs)
            state = self.rssm.img_step(prev, actions[:, d - 1 : d - 1 + n].flatten(0, 1), False)
            pred = self.reward(state.features).squeeze(-1).reshape(b, n)  # (B, n)
            errors.append((pred - rewards[:, d - 1 : d - 1 + n]).pow(2).mean() / 2)
            h, z = state.h.reshape(b, n, -1), state.mean.reshape(b, n, -1)
        return torch.stack(errors).mean()

    def pixel_weights(
        self, target: torch.Tensor, background: torch.Tensor | None
    ) -> torch.Tensor | float:
        """Per-pixel error weights ``(..., 1, 64, 64)`` of float frames ``target (..., 3, 64,
        64)``: ``1 + foreground_weight`` on the foreground (see module), 1 elsewhere."""
        c = self.config
        if c.foreground_weight == 0:
            return 1.0
        if background is None:
            raise ValueError("foreground_weight > 0 needs a background frame")
        diff = (target - to_float(background)).abs().sum(-3, keepdim=True)  # (..., 1, 64, 64)
        return 1.0 + c.foreground_weight * (diff > c.foreground_threshold).to(target.dtype)

    @torch.no_grad()
    def open_loop(self, images: torch.Tensor, actions: torch.Tensor, context: int) -> torch.Tensor:
        """Filter the first ``context`` frames, imagine the rest from the actions alone, and
        decode every step: uint8 ``(B, T, 3, 64, 64)`` to set against the real frames."""
        post, _ = self.filter(images[:, :context], actions[:, :context])
        last = LatentState(*(getattr(post, k)[:, -1] for k in ("h", "mean", "std", "sample")))
        dream = self.rssm.imagine(last, actions[:, context - 1 : -1])  # (B, T-context, ·)
        feat = torch.cat([post.features, dream.features], 1)
        img = self.decoder(feat.flatten(0, 1)).reshape(images.shape)
        return ((img + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
