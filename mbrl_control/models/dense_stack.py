"""A stack of affine layers with its backward pass written out, for graphs torch cannot export.

``torch.onnx.export`` records the forward pass only: ``torch.autograd`` cannot be traced into
an ONNX graph. Planning by gradient (:mod:`mbrl_control.planning.refine`) needs the
derivative of the ensemble members and of the value head inside the same graph, so each
network that supports it re-expresses itself as a :class:`DenseStack` (normalizers folded
into the first and last layer) whose :meth:`DenseStack.vjp` is the explicit backward pass:
transposed matrix products and the activations' derivatives. ``tests/planning/
test_gradients.py`` holds it equal to ``torch.autograd``.

Shapes: ``E`` stacks (ensemble members; 1 for a single network), ``B`` rows, ``D`` inputs,
``K`` outputs. Weights ``(E, in, out)``, biases ``(E, 1, out)``: ``y = act(x @ W + b)`` per
hidden layer, the last layer affine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

ACTIVATION_NAMES = ("silu", "relu", "tanh", "elu")


def activation(name: str, z: torch.Tensor) -> torch.Tensor:
    """``act(z)`` for one of :data:`ACTIVATION_NAMES` (as ``torch.nn``'s modules compute it)."""
    if name == "silu":
        return z * torch.sigmoid(z)
    if name == "relu":
        return z.clamp(min=0.0)
    if name == "tanh":
        return torch.tanh(z)
    if name == "elu":
        return torch.where(z > 0, z, torch.expm1(z))
    raise ValueError(f"activation {name!r}; allowed: {', '.join(ACTIVATION_NAMES)}")


def activation_derivative(name: str, z: torch.Tensor) -> torch.Tensor:
    """``d act / d z`` elementwise at pre-activations ``z`` (the subgradient torch's autograd
    uses at a kink: relu' (0) = 0, elu' (0) = exp(0) = 1)."""
    if name == "silu":  # d/dz z s(z) = s (1 + z (1 - s))
        s = torch.sigmoid(z)
        return s * (1.0 + z * (1.0 - s))
    if name == "relu":
        return (z > 0).to(z.dtype)
    if name == "tanh":
        return 1.0 - torch.tanh(z).square()
    if name == "elu":
        return torch.where(z > 0, torch.ones_like(z), torch.exp(z))
    raise ValueError(f"activation {name!r}; allowed: {', '.join(ACTIVATION_NAMES)}")


@dataclass(frozen=True)
class DenseStack:
    """Affine layers with an activation between them, and their explicit backward pass.

    ``weights[i] (E, in_i, out_i)``, ``biases[i] (E, 1, out_i)``; ``activation`` one of
    :data:`ACTIVATION_NAMES`, applied after every layer but the last.
    """

    weights: Sequence[torch.Tensor]
    biases: Sequence[torch.Tensor]
    activation: str

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATION_NAMES:
            raise ValueError(
                f"activation {self.activation!r}; allowed: {', '.join(ACTIVATION_NAMES)}"
            )
        if len(self.weights) != len(self.biases) or not self.weights:
            raise ValueError("DenseStack needs one bias per weight and at least one layer")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``x (E, B, D) -> (y (E, B, K), pre-activations)``: the pre-activations of the
        hidden layers, ``(E, B, out_i)`` each, are what :meth:`vjp` needs."""
        pre = []
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            z = x @ w + b
            pre.append(z)
            x = activation(self.activation, z)
        return x @ self.weights[-1] + self.biases[-1], pre

    def vjp(self, pre: Sequence[torch.Tensor], grad_out: torch.Tensor) -> torch.Tensor:
        """The input gradient ``(E, B, D)`` for an output gradient ``grad_out (E, B, K)`` at
        the point :meth:`forward` returned ``pre`` for: ``g <- (g * act'(z)) @ W^T`` down
        the layers."""
        g = grad_out @ self.weights[-1].transpose(-1, -2)
        for w, z in zip(reversed(self.weights[:-1]), reversed(pre)):
            g = (g * activation_derivative(self.activation, z)) @ w.transpose(-1, -2)
        return g


def fold_normalizers(
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    in_mean: torch.Tensor,
    in_std: torch.Tensor,
    out_scale: torch.Tensor | float = 1.0,
    out_shift: torch.Tensor | float = 0.0,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Copies of ``weights``/``biases`` (``(E, in, out)``/``(E, 1, out)``) with an input
    normalization ``(x - in_mean) / in_std`` (``(D,)`` each) folded into the first layer and
    an output map ``y * out_scale + out_shift`` (``(K,)`` or scalars) into the last:
    ``(x - m) / s @ W + b == x @ (W / s) + (b - (m / s) @ W)``."""
    weights, biases = [w.clone() for w in weights], [b.clone() for b in biases]
    biases[0] = biases[0] - ((in_mean / in_std) @ weights[0])[:, None]  # (E, 1, W)
    weights[0] = weights[0] / in_std[:, None]
    weights[-1] = weights[-1] * out_scale
    biases[-1] = biases[-1] * out_scale + out_shift
    return weights, biases


_MODULE_ACTIVATIONS = {nn.SiLU: "silu", nn.ReLU: "relu", nn.Tanh: "tanh", nn.ELU: "elu"}


@torch.no_grad()
def sequential_stack(
    net: nn.Sequential,
    in_mean: torch.Tensor,
    in_std: torch.Tensor,
    out_scale: float = 1.0,
) -> DenseStack:
    """``net`` (``Linear``, activation, ..., ``Linear``; one activation kind) on normalized
    inputs ``(x - in_mean) / in_std``, times ``out_scale``, as a one-member
    :class:`DenseStack` (``E = 1``). ``ValueError`` for any other layer kind (ELU only with
    its default alpha)."""
    weights, biases, kinds = [], [], set()
    for module in net:
        if isinstance(module, nn.Linear):
            weights.append(module.weight.t()[None].clone())  # (1, in, out)
            biases.append(module.bias[None, None].clone())  # (1, 1, out)
        elif type(module) in _MODULE_ACTIVATIONS and getattr(module, "alpha", 1.0) == 1.0:
            kinds.add(_MODULE_ACTIVATIONS[type(module)])
        else:
            raise ValueError(f"no explicit derivative for layer {module!r}")
    if len(kinds) > 1 or not weights or not isinstance(net[-1], nn.Linear):
        raise ValueError("need Linear layers with one activation kind, ending in a Linear")
    weights, biases = fold_normalizers(weights, biases, in_mean, in_std, out_scale)
    return DenseStack(weights, biases, kinds.pop() if kinds else "relu")
