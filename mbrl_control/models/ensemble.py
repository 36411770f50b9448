"""Probabilistic ensemble dynamics network (PETS): E Gaussian MLPs in one batched pass.

Shape letters: E members, B batch rows, O obs dim, A action dim, D = O + A input dim,
W hidden width. Every member sees its own rows ``(E, B, ·)``; no Python loop over members.

The network predicts the **change in observation**: ``next_obs = obs + delta``. Inputs are
normalized and outputs de-normalized inside ``forward``, so the normalizer travels with the
weights (and with the exported ONNX graph). ``forward`` is pure (no randomness, no state
changes, no value-dependent branching), so it traces into ONNX unchanged.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import nn

from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.dense_stack import DenseStack, fold_normalizers
from mbrl_control.uncertainty.quantities import total_predictive

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


class EnsembleLinear(nn.Module):
    """E independent affine maps: ``(E, B, I) -> (E, B, O)`` via ``x @ weight + bias``.

    ``weight (E, I, O)`` and ``bias (E, 1, O)``; initialized per member from the named axes
    (truncated normal with std ``1 / (2 sqrt(I))`` as in PETS), drawn from ``generator``
    (default: torch's global generator).
    """

    def __init__(
        self,
        members: int,
        in_features: int,
        out_features: int,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.members, self.in_features, self.out_features = members, in_features, out_features
        self.weight = nn.Parameter(torch.empty(members, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(members, 1, out_features))
        std = 1.0 / (2.0 * math.sqrt(in_features))
        nn.init.trunc_normal_(self.weight, std=std, a=-2 * std, b=2 * std, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)  # (E, B, O)


class Normalizer(nn.Module):
    """Fixed affine statistics stored as buffers: ``(x - mean) / std`` and its inverse."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, x: torch.Tensor, min_std: float | torch.Tensor = 1e-6) -> None:
        """Set the statistics from data ``x (B, dim)``; the std is floored at ``min_std``
        (a float, or one floor per dim ``(dim,)``; see ``EnsembleConfig.input_std_floor``
        for why the inputs of a network need a floor at a meaningful scale)."""
        floor = torch.as_tensor(min_std, dtype=x.dtype, device=x.device).expand(x.shape[-1])
        self.mean.copy_(x.mean(0))
        self.std.copy_(torch.maximum(x.std(0), floor))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean


class Ensemble(nn.Module):
    """E Gaussian (or deterministic) MLPs predicting ``next_obs`` via the observation change.

    ``forward(obs (E, B, O), action (E, B, A)) -> (mean (E, B, O), logvar (E, B, O))`` in raw
    observation units. With the Gaussian head ``logvar`` is soft-bounded by the learned
    ``[min_logvar, max_logvar]`` (PETS). With the deterministic head (``probabilistic=False``)
    the normalized log-variance is a constant 0, so ``logvar`` is the log-variance of the
    training deltas (a finite placeholder; no uncertainty is learned).
    With ``cfg.reward_head`` an extra output predicts the per-step cost (see ``forward_cost``).
    """

    def __init__(self, cfg: EnsembleConfig) -> None:
        super().__init__()
        self.cfg = cfg
        e, o, a, w = cfg.members, cfg.obs_dim, cfg.act_dim, cfg.hidden
        self.in_norm = Normalizer(o + a)
        self.out_norm = Normalizer(o)  # statistics of the observation change
        self.cost_norm = Normalizer(1)  # statistics of the per-step cost (reward head only)
        gen = torch.Generator().manual_seed(cfg.seed)  # init from cfg.seed only
        dims = [o + a] + [w] * cfg.layers
        self.hidden = nn.ModuleList(
            EnsembleLinear(e, i, j, gen) for i, j in itertools.pairwise(dims)
        )
        self.act = ACTIVATIONS[cfg.activation]()
        heads = o * (2 if cfg.probabilistic else 1) + (1 if cfg.reward_head else 0)
        self.head = EnsembleLinear(e, w, heads, gen)
        self.max_logvar = nn.Parameter(torch.full((1, 1, o), 0.5))
        self.min_logvar = nn.Parameter(torch.full((1, 1, o), -10.0))
        # calibration (uncertainty.calibration): variance factor per horizon k and predicted
        # dim, row k-1 for k-step predictions (last row beyond); saved by the checkpoint
        # next to the weights, not in the state dict (old checkpoints load uncalibrated)
        self.register_buffer("var_scale", torch.ones(1, cfg.predicted_dim), persistent=False)
        self.calibration_info: dict[str, Any] = {}

    @property
    def members(self) -> int:
        return self.cfg.members

    @property
    def has_cost(self) -> bool:
        """Whether the ensemble predicts the per-step cost (``cfg.reward_head``)."""
        return bool(self.cfg.reward_head)

    @property
    def target_std(self) -> torch.Tensor:
        """Std ``(P,)`` of the one-step change of each predicted dim in the training data:
        the unit of the epistemic disagreement (:mod:`mbrl_control.uncertainty.quantities`)."""
        return self.out_norm.std[: self.cfg.predicted_dim]

    def set_calibration(self, var_scale: Any = None, info: dict[str, Any] | None = None) -> None:
        """Use ``var_scale (K, P)`` (variance factor per horizon k = 1..K and predicted dim,
        > 0, finite) from now on; None resets to uncalibrated (ones). ``ValueError`` for a
        wrong shape or a value that is not a positive finite number."""
        p = self.cfg.predicted_dim
        if var_scale is None:
            scale, info = torch.ones(1, p), {}
        else:
            scale = torch.as_tensor(var_scale, dtype=torch.float32)
            if scale.ndim != 2 or scale.shape[0] < 1 or scale.shape[1] != p:
                raise ValueError(
                    f"var_scale must have shape (K, {p}) (horizons x predicted dims), "
                    f"got {tuple(scale.shape)}"
                )
            if not bool((torch.isfinite(scale) & (scale > 0)).all()):
                raise ValueError("var_scale must be positive finite numbers")
        self.var_scale = scale.to(self.out_norm.std.device)
        self.calibration_info = dict(info or {})

    @torch.no_grad()
    def mean_stack(self) -> DenseStack:
        """The predicted change of the mean as a :class:`~mbrl_control.models.dense_stack
        .DenseStack` in raw units (normalizers folded in), ``(E, B, O + A) -> (E, B, O)``:
        ``next_mean = obs + stack(cat(obs, action))`` before :func:`shift_action_history`.
        A copy of the current weights; its ``vjp`` is the explicit backward pass."""
        o = self.cfg.obs_dim
        weights = [layer.weight for layer in self.hidden] + [self.head.weight[..., :o]]
        biases = [layer.bias for layer in self.hidden] + [self.head.bias[..., :o]]
        weights, biases = fold_normalizers(
            weights, biases, self.in_norm.mean, self.in_norm.std,
            self.out_norm.std, self.out_norm.mean,
        )  # fmt: skip
        return DenseStack(weights, biases, self.cfg.activation)

    def input_std_floor(self) -> torch.Tensor:
        """Floor ``(O + A,)`` of the input normalizer's std (``cfg.input_std_floor()``)."""
        return torch.tensor(self.cfg.input_std_floor(), device=self.in_norm.std.device)

    def _trunk(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Raw head outputs ``(E, B, heads)`` for obs ``(E, B, O)`` and action ``(E, B, A)``."""
        x = self.in_norm.normalize(torch.cat([obs, action], dim=-1))  # (E, B, D)
        for layer in self.hidden:
            x = self.act(layer(x))
        return self.head(x)

    def _split(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalized delta mean and bounded log-variance, each ``(E, B, O)``."""
        o = self.cfg.obs_dim
        mean = out[..., :o]
        if not self.cfg.probabilistic:
            return mean, torch.zeros_like(mean)
        logvar = out[..., o : 2 * o]
        logvar = self.max_logvar - nn.functional.softplus(self.max_logvar - logvar)
        logvar = self.min_logvar + nn.functional.softplus(logvar - self.min_logvar)
        return mean, logvar

    def forward_normalized(
        self, obs: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training view: normalized delta mean and log-variance ``(E, B, O)`` each."""
        return self._split(self._trunk(obs, action))

    def forward_train(
        self, obs: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Everything the loss needs from one trunk pass, in normalized units.

        Args: obs ``(E, B, O)``, action ``(E, B, A)`` in raw units.
        Returns: delta mean ``(E, B, O)``, log-variance ``(E, B, O)`` and, with the reward
        head, the normalized cost ``(E, B)`` (else ``None``).
        """
        out = self._trunk(obs, action)
        mean, logvar = self._split(out)
        return mean, logvar, out[..., -1] if self.cfg.reward_head else None

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-observation mean and log-variance in raw units, ``(E, B, O)`` each (the
        ``last_actions`` block shifted, see :func:`shift_action_history`)."""
        mean_n, logvar_n = self.forward_normalized(obs, action)
        next_mean = obs + self.out_norm.denormalize(mean_n)
        logvar = logvar_n + 2.0 * self.out_norm.std.log()
        return shift_action_history(next_mean, logvar, obs, action, self.cfg.action_history)

    def forward_with_cost(
        self, obs: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`forward` and :meth:`forward_cost` from one trunk pass (the planner's learned
        cost): next mean and log-variance ``(E, B, O)`` each, cost ``(E, B)``, raw units.
        Requires ``cfg.reward_head`` (``ValueError`` otherwise)."""
        if not self.cfg.reward_head:
            raise ValueError("this ensemble has no reward head (EnsembleConfig.reward_head)")
        out = self._trunk(obs, action)
        mean_n, logvar_n = self._split(out)
        next_mean = obs + self.out_norm.denormalize(mean_n)
        logvar = logvar_n + 2.0 * self.out_norm.std.log()
        cost = self.cost_norm.denormalize(out[..., -1:])[..., 0]
        next_mean, logvar = shift_action_history(
            next_mean, logvar, obs, action, self.cfg.action_history
        )
        return next_mean, logvar, cost

    def forward_cost(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Learned per-step cost ``(E, B)`` in the task's cost units (requires ``cfg.reward_head``).

        Args: obs ``(E, B, O)``, action ``(E, B, A)`` in raw units.
        """
        if not self.cfg.reward_head:
            raise ValueError("this ensemble has no reward head (EnsembleConfig.reward_head)")
        return self.cost_norm.denormalize(self._trunk(obs, action)[..., -1:])[..., 0]

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-member next-state mean and variance for shared rows.

        Args: obs ``(B, O)``, action ``(B, A)`` (tensors or arrays).
        Returns: mean ``(E, B, O)`` and var ``(E, B, O)`` as tensors.
        """
        obs = torch.as_tensor(obs, dtype=torch.float32)
        action = torch.as_tensor(action, dtype=torch.float32)
        e = self.members
        mean, logvar = self(obs.expand(e, *obs.shape), action.expand(e, *action.shape))
        return mean, logvar.exp()

    def fit(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Train in place; forwards to :func:`mbrl_control.models.trainer.fit` (same arguments)."""
        from mbrl_control.models.trainer import fit

        return fit(self, *args, **kwargs)


HISTORY_LOGVAR = -30.0
"""Raw log-variance given to the shifted ``last_actions`` dims (std 3e-7: known exactly)."""


def shift_action_history(
    next_mean: torch.Tensor,
    logvar: torch.Tensor,
    obs: torch.Tensor,
    action: torch.Tensor,
    steps: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace the trailing ``last_actions`` block of a prediction by its exact shift.

    The block of the next state is ``action, obs's block without its oldest action``: known,
    so it is never predicted (no model error, no member disagreement, :data:`HISTORY_LOGVAR`).
    Args: next_mean, logvar ``(..., O)``; obs ``(..., O)``; action ``(..., A)``; steps k
    (0: inputs returned unchanged). Returns next_mean, logvar ``(..., O)``.
    """
    if not steps:
        return next_mean, logvar
    o, a = obs.shape[-1], action.shape[-1]
    h = steps * a
    block = torch.cat([action, obs[..., o - h : o - a]], dim=-1)  # (..., k·A)
    next_mean = torch.cat([next_mean[..., : o - h], block], dim=-1)
    known = torch.full_like(logvar[..., o - h :], HISTORY_LOGVAR)
    return next_mean, torch.cat([logvar[..., : o - h], known], dim=-1)


def mixture_moments(mean: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Moment-matched Gaussian of the equal-weight mixture of the E member Gaussians.

    Args: mean ``(E, B, O)``, var ``(E, B, O)`` per member (raw units).
    Returns: mean ``(B, O)`` and var ``(B, O)`` = mean aleatoric variance + epistemic spread
    (the variance of the member means across E): the uncalibrated total predictive of
    :func:`mbrl_control.uncertainty.quantities.total_predictive`.
    """
    return total_predictive(mean, var)
