"""An export-only re-expression of the ensemble that onnxruntime runs fast.

Same contract as :class:`~mbrl_control.models.ensemble.Ensemble.forward` (``obs (E, B, O),
action (E, B, A) -> next_mean (E, B, O), logvar (E, B, O)``), sliced from the same weights:

- the input normalizer is folded into the first layer and the output de-normalizer into
  the mean head, so no elementwise normalization nodes remain;
- the head is split into a mean and a log-variance part, so a graph that never samples the
  Gaussian drops the log-variance work entirely;
- ``layout="gemm"``: one 2-D ``Gemm`` per member per layer (ORT pre-packs constant 2-D
  weights; best at PETS sizes); ``layout="batched"``: one 3-D ``MatMul`` per layer (fewer
  nodes; best at real-time sizes, where per-node overhead dominates);
- with a reward head, the cost output is sliced the same way (de-normalizer folded in) and
  :meth:`GemmEnsemble.forward_with_cost` returns it from the same hidden pass;
- ``target_std`` and the calibration's ``var_scale`` are copied, so the graph's
  disagreement and predictive are the ensemble's (:mod:`mbrl_control.uncertainty`);
- ``logvar="softplus"`` keeps the model's soft bounds (exact); ``"clip"`` bounds with a
  hard min/max instead (faster in ORT, differs from the soft bounds near them).
"""

from __future__ import annotations

import torch
from torch import nn

from mbrl_control.models.dense_stack import DenseStack
from mbrl_control.models.ensemble import Ensemble, shift_action_history

LAYOUTS = ("gemm", "batched")
LOGVAR_BOUNDS = ("softplus", "clip")


class GemmEnsemble(nn.Module):
    """Folded, head-split copy of ``ensemble`` (weights copied, ensemble untouched)."""

    def __init__(self, ensemble: Ensemble, layout: str = "gemm", logvar: str = "softplus") -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"layout={layout!r}; allowed: {', '.join(LAYOUTS)}")
        if logvar not in LOGVAR_BOUNDS:
            raise ValueError(f"logvar={logvar!r}; allowed: {', '.join(LOGVAR_BOUNDS)}")
        if not ensemble.cfg.probabilistic:
            raise ValueError("GemmEnsemble needs a probabilistic ensemble (Gaussian head)")
        self.members, self.layout, self.logvar_bound = ensemble.members, layout, logvar
        self.action_history = ensemble.cfg.action_history
        o = ensemble.cfg.obs_dim
        self.act = ensemble.act
        self.activation = ensemble.cfg.activation
        mean_path = ensemble.mean_stack()  # normalizers folded, mean head in raw delta units
        weights, biases = list(mean_path.weights), list(mean_path.biases)
        with torch.no_grad():
            out_std = ensemble.out_norm.std  # (O,)
            head_w, head_b = ensemble.head.weight, ensemble.head.bias  # (E, W, 2O), (E, 1, 2O)
            self.logvar_w = nn.Parameter(head_w[..., o : 2 * o].clone(), requires_grad=False)
            self.logvar_b = nn.Parameter(head_b[..., o : 2 * o].clone(), requires_grad=False)
            self.logvar_shift = 2.0 * out_std.log()  # (O,) normalized -> raw log-variance
            self.has_cost = bool(ensemble.cfg.reward_head)
            cost_mean, cost_std = ensemble.cost_norm.mean, ensemble.cost_norm.std  # (1,)
            self.cost_w = nn.Parameter(head_w[..., -1:] * cost_std, requires_grad=False)
            self.cost_b = nn.Parameter(head_b[..., -1:] * cost_std + cost_mean, requires_grad=False)
            self.register_buffer("target_std", ensemble.target_std.detach().clone())  # (P,)
            self.register_buffer("var_scale", ensemble.var_scale.detach().clone())  # (K, P)
            self.max_logvar = ensemble.max_logvar.detach().clone()  # (1, 1, O)
            self.min_logvar = ensemble.min_logvar.detach().clone()
        self.weights = nn.ParameterList(nn.Parameter(w, requires_grad=False) for w in weights)
        # Gemm's bias is (out,) per member; the batched MatMul adds (E, 1, out)
        self.biases = nn.ParameterList(nn.Parameter(b, requires_grad=False) for b in biases)

    def mean_stack(self) -> DenseStack:
        """The mean path's layers as a :class:`~mbrl_control.models.dense_stack.DenseStack`
        (as :meth:`Ensemble.mean_stack`; these are already folded)."""
        return DenseStack(list(self.weights), list(self.biases), self.activation)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``obs (E, B, O), action (E, B, A) -> next_mean (E, B, O), logvar (E, B, O)``."""
        hidden = self._hidden(obs, action)
        delta = self._head(hidden, self.weights[-1], self.biases[-1])  # (E, B, O)
        raw = self._head(hidden, self.logvar_w, self.logvar_b)
        logvar = self._bound(raw) + self.logvar_shift
        return shift_action_history(obs + delta, logvar, obs, action, self.action_history)

    def forward_with_cost(
        self, obs: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`forward` plus the learned cost ``(E, B)`` from the same hidden pass (as
        ``Ensemble.forward_with_cost``); ``ValueError`` without a reward head."""
        if not self.has_cost:
            raise ValueError("this ensemble has no reward head (EnsembleConfig.reward_head)")
        hidden = self._hidden(obs, action)
        delta = self._head(hidden, self.weights[-1], self.biases[-1])  # (E, B, O)
        raw = self._head(hidden, self.logvar_w, self.logvar_b)
        cost = self._head(hidden, self.cost_w, self.cost_b)[..., 0]  # (E, B)
        logvar = self._bound(raw) + self.logvar_shift
        next_mean, logvar = shift_action_history(
            obs + delta, logvar, obs, action, self.action_history
        )
        return next_mean, logvar, cost

    def _hidden(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor | list:
        """Last hidden layer: ``(E, B, W)`` (batched) or E x ``(B, W)`` (gemm)."""
        x = torch.cat([obs, action], dim=-1)  # (E, B, D)
        if self.layout == "batched":
            return self._trunk(x, lambda h, i: h @ self.weights[i] + self.biases[i])
        return [self._trunk(r, self._member_layer(e)) for e, r in enumerate(x.unbind(0))]

    def _head(self, hidden: torch.Tensor | list, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Head ``w (E, W, k)``, ``b (E, 1, k)`` on :meth:`_hidden`'s output: ``(E, B, k)``."""
        if self.layout == "batched":
            return hidden @ w + b
        return torch.stack([torch.addmm(b[e, 0], h, w[e]) for e, h in enumerate(hidden)])

    def _member_layer(self, e: int):
        return lambda h, i: torch.addmm(self.biases[i][e, 0], h, self.weights[i][e])

    def _trunk(self, x: torch.Tensor, layer) -> torch.Tensor:
        for i in range(len(self.weights) - 1):
            x = self.act(layer(x, i))
        return x

    def _bound(self, logvar: torch.Tensor) -> torch.Tensor:
        """Normalized log-variance bounded to ``[min_logvar, max_logvar]`` (see module doc)."""
        if self.logvar_bound == "clip":
            return torch.minimum(torch.maximum(logvar, self.min_logvar), self.max_logvar)
        logvar = self.max_logvar - nn.functional.softplus(self.max_logvar - logvar)
        return self.min_logvar + nn.functional.softplus(logvar - self.min_logvar)
