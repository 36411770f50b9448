"""Export-only re-expressions of the agent's planner parts with their normalizers folded in.

The terminal value ``-V(s)`` and the policy's mean action normalize their input, run an MLP,
then negate (value) or slice the mean half and squash (policy). Traced as written, every call
adds ``Sub``, ``Div`` and ``Neg``/``Slice`` nodes to the planner graph (five calls in a
``cartpole-fast`` step). Here the normalizer is folded into the first layer, the negation
into the last (:func:`~mbrl_control.models.dense_stack.fold_normalizers`), and the policy's
last layer keeps only its mean outputs, so a call is its ``Gemm`` layers and the squash: the
same function to float rounding. Parts of any other form are returned unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from mbrl_control.models.dense_stack import DenseStack, sequential_stack
from mbrl_control.models.ensemble import ACTIVATIONS


class FoldedMlp(nn.Module):
    """A one-member :class:`DenseStack` as ``nn.Linear`` layers: ``(B, D) -> (B, K)`` (one
    ``Gemm`` per layer, the activation fused by onnxruntime)."""

    def __init__(self, stack: DenseStack) -> None:
        super().__init__()
        self.stack = stack
        self.layers = nn.ModuleList()
        for w, b in zip(stack.weights, stack.biases):  # (1, in, out), (1, 1, out)
            layer = nn.Linear(w.shape[1], w.shape[2])
            with torch.no_grad():
                layer.weight.copy_(w[0].t())
                layer.bias.copy_(b[0, 0])
            self.layers.append(layer.requires_grad_(False))
        self.act = ACTIVATIONS[stack.activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.act(layer(x))
        return self.layers[-1](x)


class FoldedValue(nn.Module):
    """Cost-to-go ``obs (B, O) -> (B,)`` from a value's folded :meth:`dense_stack`."""

    def __init__(self, stack: DenseStack) -> None:
        super().__init__()
        self.mlp = FoldedMlp(stack)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.mlp(obs)[..., 0]

    def dense_stack(self) -> DenseStack:
        """The folded stack (as the value it came from declares its derivative)."""
        return self.mlp.stack


class FoldedPolicy(nn.Module):
    """Squashed mean action ``obs (B, O) -> mid + half_range * tanh(mu) (B, A)``, ``mu``
    from a folded stack whose last layer has only the mean outputs."""

    def __init__(self, stack: DenseStack, mid: torch.Tensor, half_range: torch.Tensor) -> None:
        super().__init__()
        self.mlp = FoldedMlp(stack)
        self.register_buffer("mid", mid.detach().clone())  # (A,)
        self.register_buffer("half_range", half_range.detach().clone())  # (A,)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.mid + self.half_range * torch.tanh(self.mlp(obs))


def fast_value(value_fn: object) -> object:
    """``value_fn`` as :class:`FoldedValue` when it declares a ``dense_stack()`` (the agent's
    :class:`~mbrl_control.agents.value.TerminalValue`); anything else unchanged."""
    make = getattr(value_fn, "dense_stack", None)
    if not isinstance(value_fn, nn.Module) or not callable(make):
        return value_fn
    try:
        return FoldedValue(make())
    except ValueError:  # no dense form
        return value_fn


def fast_policy(policy: object) -> object:
    """``policy`` as :class:`FoldedPolicy` when it is the agent's mean action (a module with
    an ``actor`` holding ``obs_norm``, an ``nn.Sequential`` ``net`` of ``2A`` outputs (mean,
    log-std), ``mid`` and ``half_range``); anything else unchanged."""
    actor = getattr(policy, "actor", None)
    needed = ("obs_norm", "net", "mid", "half_range", "act_dim")
    if not isinstance(policy, nn.Module) or not all(hasattr(actor, k) for k in needed):
        return policy
    try:
        stack = sequential_stack(actor.net, actor.obs_norm.mean, actor.obs_norm.std)
    except ValueError:
        return policy
    a = actor.act_dim
    mean_only = DenseStack(
        [*stack.weights[:-1], stack.weights[-1][..., :a]],
        [*stack.biases[:-1], stack.biases[-1][..., :a]],
        stack.activation,
    )
    return FoldedPolicy(mean_only, actor.mid, actor.half_range)
