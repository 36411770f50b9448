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
- the heads are one matrix ``[mean | max_logvar - logvar | cost]`` per member (the bound's
  first subtraction and the log-variance shift folded into constants); the ``gemm`` layout
  runs it as one ``Gemm`` per member and slices the result (5 stacked outputs instead of
  10-15: a PETS step 0.90× as long, interleaved), the ``batched`` layout as one ``MatMul`` per
  part, so a graph that never reads the log-variance (mean propagation) drops its product;
- ``logvar="softplus"`` keeps the model's soft bounds (exact); ``"clip"`` bounds with a
  hard min/max instead (differs from the soft bounds near them). In the ``gemm`` layout the
  softplus is written ``relu(x) + log(1 + exp(-|x|))`` (the same function to 5e-7 absolute;
  onnxruntime's ``Softplus`` kernel is scalar: 0.45 ms against 0.09 ms on a PETS call's
  ``(5, 1600, 5)`` log-variance, 6 % of a PETS step); the ``batched`` layout, where per-node
  overhead dominates, keeps the single ``Softplus`` node.
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
            head_w, head_b = ensemble.head.weight, ensemble.head.bias  # (E, W, 2O+c), (E, 1, ..)
            max_lv, min_lv = ensemble.max_logvar, ensemble.min_logvar  # (1, 1, O) normalized
            self.has_cost = bool(ensemble.cfg.reward_head)
            cost_mean, cost_std = ensemble.cost_norm.mean, ensemble.cost_norm.std  # (1,)
            # one head matrix per member: [mean (O) | max_logvar - logvar (O) | cost (1)]
            cols_w = [weights[-1], -head_w[..., o : 2 * o]]
            cols_b = [biases[-1], max_lv - head_b[..., o : 2 * o]]
            if self.has_cost:
                cols_w.append(head_w[..., -1:] * cost_std)
                cols_b.append(head_b[..., -1:] * cost_std + cost_mean)
            self.head_w = nn.Parameter(torch.cat(cols_w, -1).clone(), requires_grad=False)
            self.head_b = nn.Parameter(torch.cat(cols_b, -1).clone(), requires_grad=False)
            # the bound's constants; lv_floor in raw units (2 log out_std: normalized -> raw)
            self.register_buffer("lv_span", (max_lv - min_lv).detach().clone())  # (1, 1, O)
            self.register_buffer("lv_floor", (min_lv + 2.0 * out_std.log()).detach().clone())
            self.register_buffer("target_std", ensemble.target_std.detach().clone())  # (P,)
            self.register_buffer("var_scale", ensemble.var_scale.detach().clone())  # (K, P)
        self.weights = nn.ParameterList(nn.Parameter(w, requires_grad=False) for w in weights)
        # Gemm's bias is (out,) per member; the batched MatMul adds (E, 1, out)
        self.biases = nn.ParameterList(nn.Parameter(b, requires_grad=False) for b in biases)

    def mean_stack(self) -> DenseStack:
        """The mean path's layers as a :class:`~mbrl_control.models.dense_stack.DenseStack`
        (as :meth:`Ensemble.mean_stack`; these are already folded)."""
        return DenseStack(list(self.weights), list(self.biases), self.activation)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``obs (E, B, O), action (E, B, A) -> next_mean (E, B, O), logvar (E, B, O)``."""
        delta, logvar, _ = self._heads(obs, action, with_cost=False)
        return shift_action_history(obs + delta, logvar, obs, action, self.action_history)

    def forward_with_cost(
        self, obs: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`forward` plus the learned cost ``(E, B)`` from the same hidden pass (as
        ``Ensemble.forward_with_cost``); ``ValueError`` without a reward head."""
        if not self.has_cost:
            raise ValueError("this ensemble has no reward head (EnsembleConfig.reward_head)")
        delta, logvar, cost = self._heads(obs, action, with_cost=True)
        next_mean, logvar = shift_action_history(
            obs + delta, logvar, obs, action, self.action_history
        )
        return next_mean, logvar, cost

    def _heads(
        self, obs: torch.Tensor, action: torch.Tensor, with_cost: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``delta (E, B, O)``, raw-unit ``logvar (E, B, O)`` and ``cost (E, B)`` (None
        unless ``with_cost``) from one head product on the hidden pass."""
        o = self.lv_span.shape[-1]
        k = 2 * o + (1 if with_cost else 0)
        hidden = self._hidden(obs, action)
        if self.layout == "gemm":  # one product, then slices (node count is not the cost)
            out = self._head(hidden, self.head_w[..., :k], self.head_b[..., :k])
            parts = [out[..., :o], out[..., o : 2 * o], out[..., 2 * o :]]
        else:  # a product per part: a graph that never reads one drops its MatMul
            cols = [(0, o), (o, 2 * o), (2 * o, k)]
            parts = [
                self._head(hidden, self.head_w[..., a:b], self.head_b[..., a:b]) for a, b in cols
            ]
        delta, below_max = parts[0], parts[1]  # below_max = max_logvar - raw log-variance
        cost = parts[2][..., 0] if with_cost else None
        if self.logvar_bound == "clip":
            inside = torch.minimum(torch.clamp(self.lv_span - below_max, min=0.0), self.lv_span)
            logvar = self.lv_floor + inside
        else:  # min + softplus((max - min) - softplus(max - raw)), + the raw-unit shift
            logvar = self.lv_floor + self._softplus(self.lv_span - self._softplus(below_max))
        return delta, logvar, cost

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

    def _softplus(self, x: torch.Tensor) -> torch.Tensor:
        """softplus(x); in the ``gemm`` layout as ``relu(x) + log(1 + exp(-|x|))`` (module)."""
        if self.layout == "batched":
            return nn.functional.softplus(x)
        return torch.relu(x) + torch.log(1.0 + torch.exp(-x.abs()))
