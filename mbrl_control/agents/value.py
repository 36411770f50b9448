"""The learned agent as planner parts: terminal cost-to-go and the deterministic policy.

Both are ``nn.Module`` so that the planner export registers their weights and traces them
into the same ONNX graph as the optimizer.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from mbrl_control.agents.sac import SAC, Actor, StateValue
from mbrl_control.models.dense_stack import DenseStack, sequential_stack
from mbrl_control.planning.config import PlannerConfig


class TerminalValue(nn.Module):
    """Cost-to-go ``-V(s)``: ``obs (B, O) -> (B,)``, lower is better.

    ``V`` is the agent's state-value head, distilled from ``min_k Q_k(s, mu(s))`` (the
    pessimistic twin-critic estimate at the actor's mean action). The planner adds it at
    the horizon times ``discount**H`` (see :class:`~mbrl_control.planning.rollout.Rollout`).
    """

    def __init__(self, value: StateValue) -> None:
        super().__init__()
        self.value = value

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return -self.value(obs)

    def dense_stack(self) -> DenseStack:
        """``-V`` as a one-member :class:`~mbrl_control.models.dense_stack.DenseStack`
        ``(1, B, O) -> (1, B, 1)`` (normalizer folded in): the declared derivative that
        gradient-refined planning uses (:mod:`mbrl_control.planning.refine`)."""
        norm = self.value.obs_norm
        return sequential_stack(self.value.net, norm.mean, norm.std, out_scale=-1.0)


class PolicyMean(nn.Module):
    """The actor's deterministic action: ``obs (B, O) -> action (B, A)`` (or ``(O,) -> (A,)``)."""

    def __init__(self, actor: Actor) -> None:
        super().__init__()
        self.actor = actor

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor.mean_action(obs)


def planner_parts(
    cfg: PlannerConfig, agent: SAC, prior_frac: float = 0.0
) -> tuple[PlannerConfig, TerminalValue, PolicyMean | None]:
    """What :func:`~mbrl_control.export.onnx_export.export_planner` needs to plan with the
    agent: ``cfg`` discounting by the agent's gamma (so the value enters with gamma**H) and
    with ``prior_frac``, the terminal value, and the policy for the prior (None at 0)."""
    planned = replace(cfg, discount=agent.cfg.gamma, prior_frac=prior_frac)
    return planned, TerminalValue(agent.value), PolicyMean(agent.actor) if prior_frac else None
