"""Gradient-refined planning: a few gradient steps on the sampled plan, inside the graph.

The handbook's iLQR-like planning, in the form of "CEM + gradient" hybrids (Bharadhwaj et
al. 2020, "Model-Predictive Control via Cross-Entropy and Gradient-Based Optimization";
Huang et al. 2021, "CEM-GD"): after the sampling iterations, the returned plan ``(H, A)``
takes ``cfg.refine_steps`` steps of gradient descent on its cost through the ensemble,
clipped to the action bounds.

The objective is the planner's own cost for one deterministic trajectory per ensemble
member (each member propagates its mean from ``obs``: TS∞ with one particle per member and
no state noise), averaged over members: discounted critic costs, the terminal value
``gamma**H V`` and the action-rate term. The rollout's disagreement term has no declared
derivative, so refinement requires ``uncertainty_weight = 0``. The policy prior only proposes
candidates and is not part of the objective.

``torch.onnx.export`` cannot record ``torch.autograd``, so the gradient is the explicit
backward pass through time (the adjoint ``lambda_t = d J / d s_t``): the members' MLPs by
their :class:`~mbrl_control.models.dense_stack.DenseStack` (transposed matrix products,
activation derivatives), the critics by their declared derivatives
(:meth:`~mbrl_control.tasks.base.Task.score_grad`), the value head by its own stack.
Anything without a declared derivative (a learned cost, a critic kind such as
``mechanical_energy``, a value function that is not a network) is refused when the planner
is built, naming it. ``tests/planning/test_refine.py`` holds the gradient equal to
``torch.autograd`` through the planner's own :class:`~mbrl_control.planning.rollout.Rollout`.

Each step moves in normalized action units ``u = (a - mid) / half``: the largest change of
one action is ``refine_step_size`` (a fraction of the half range), and a batched line
search tries that step and its halves in one rollout and keeps the lowest cost, the current
plan included, so a refinement step never raises the objective.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from mbrl_control.models.dense_stack import DenseStack
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.rollout import Rollout, ValueFn, with_goal
from mbrl_control.planning.sampling import clip
from mbrl_control.tasks.base import Task

LINE_SEARCH = 4
"""Step sizes tried per refinement step: ``refine_step_size * 2**-j`` for j < 4."""


class GradientRefiner:
    """Refines a plan ``(H, A)`` by :data:`LINE_SEARCH`-guarded gradient steps (module doc).

    ``model``: an ensemble with ``mean_stack()`` (:class:`~mbrl_control.models.ensemble
    .Ensemble` or its export form); ``value_fn``: None or a module with ``dense_stack()``
    (:class:`~mbrl_control.agents.value.TerminalValue`). Raises ``ValueError`` naming what
    declares no derivative, or when ``cfg.uncertainty_weight`` is not 0.
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        cfg: PlannerConfig,
        value_fn: ValueFn | None = None,
    ) -> None:
        if cfg.uncertainty_weight:
            raise ValueError(
                "gradient refinement (refine_steps > 0) needs uncertainty_weight = 0: the "
                "disagreement term declares no derivative"
            )
        missing = task.critics_without_derivative
        if missing:
            raise ValueError(
                f"gradient refinement: task {task.name!r} has critic(s) {list(missing)} "
                "that declare no derivative; set refine_steps: 0"
            )
        if not callable(getattr(model, "mean_stack", None)):
            raise ValueError(
                f"gradient refinement: the model ({type(model).__name__}) declares no "
                "derivative (mean_stack)"
            )
        if value_fn is not None and not callable(getattr(value_fn, "dense_stack", None)):
            raise ValueError(
                f"gradient refinement: the value function ({type(value_fn).__name__}) "
                "declares no derivative (dense_stack)"
            )
        self.task, self.cfg = task, cfg
        self.members = int(model.members)
        self.stack: DenseStack = model.mean_stack()
        self.value: DenseStack | None = None if value_fn is None else value_fn.dense_stack()
        self.history = task.history_dim
        self.act_dim = task.act_dim
        deterministic = replace(
            cfg, particles=self.members, propagation="ts_inf", aleatoric=False, prior_frac=0.0
        )
        self.trial = Rollout(model, task, deterministic, value_fn)
        low, high = torch.as_tensor(task.low), torch.as_tensor(task.high)
        self.low, self.high = low, high
        self.half = torch.where(high > low, (high - low) / 2, torch.ones_like(low))  # (A,)
        self.fractions = torch.tensor(
            [cfg.refine_step_size * 0.5**j for j in range(LINE_SEARCH)]
        )  # (J,)

    def __call__(
        self,
        obs: torch.Tensor,
        goal: torch.Tensor,
        weights: torch.Tensor,
        prev_action: torch.Tensor,
        plan: torch.Tensor,
    ) -> torch.Tensor:
        """``cfg.refine_steps`` guarded gradient steps from ``plan (H, A)``; returns the
        refined plan ``(H, A)`` inside the bounds. Args: obs ``(O,)``, goal ``(G,)``,
        weights ``(K,)``, prev_action ``(A,)`` (the action applied last tick)."""
        for _ in range(self.cfg.refine_steps):
            plan = self.step(obs, goal, weights, prev_action, plan)
        return plan

    def step(
        self,
        obs: torch.Tensor,
        goal: torch.Tensor,
        weights: torch.Tensor,
        prev_action: torch.Tensor,
        plan: torch.Tensor,
    ) -> torch.Tensor:
        """One line-searched gradient step (the current plan competes, so the cost never
        rises; a non-finite gradient makes every trial the current plan)."""
        grad = self.cost_and_gradient(obs, goal, weights, prev_action, plan)[1]
        scaled = grad * self.half  # d J / d u, u the normalized action
        finite = torch.isfinite(scaled).all()
        scaled = torch.where(finite, scaled, torch.zeros_like(scaled))
        direction = scaled / scaled.abs().max().clamp(min=1e-12)  # largest entry 1
        trials = clip(
            plan - self.fractions[:, None, None] * direction * self.half, self.low, self.high
        )  # (J, H, A)
        candidates = torch.cat([plan[None], trials])  # (1 + J, H, A)
        costs = self.trial(obs, goal, weights, prev_action, candidates)[0]  # (1 + J,)
        best = torch.argmin(costs)  # ties: the first, the current plan
        return candidates[best]

    def cost_and_gradient(
        self,
        obs: torch.Tensor,
        goal: torch.Tensor,
        weights: torch.Tensor,
        prev_action: torch.Tensor,
        plan: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The objective ``J ()`` (the trial rollout's cost of ``plan (H, A)``) and its
        gradient ``d J / d plan (H, A)`` by the explicit backward pass through time."""
        cfg, e = self.cfg, self.members
        h, o = plan.shape[0], obs.shape[-1]
        state = obs.expand(e, 1, o)  # (E, 1, O): one trajectory per member
        states, caches = [state], []
        for t in range(h):
            state, pre = self._model(state, plan[t].expand(e, 1, -1))
            states.append(state)
            caches.append(pre)
        seq = torch.stack(states)  # (H+1, E, 1, O)
        taken = plan[:, None, None, :].expand(h, e, 1, self.act_dim)
        rows = (h * e, -1)
        step_cost, d_obs, d_act, d_next = self.task.score_grad(
            seq[:-1].reshape(rows), taken.reshape(rows), seq[1:].reshape(rows), goal, weights
        )  # (H·E,), (H·E, O), (H·E, A), (H·E, O)
        discount = torch.tensor([cfg.discount**t for t in range(h)])  # (H,)
        cost = (step_cost.reshape(h, e) * discount[:, None]).mean(1).sum()
        per_row = (discount / e)[:, None, None, None]  # d J / d step cost, (H, 1, 1, 1)
        d_obs = d_obs.reshape(h, e, 1, o) * per_row
        d_act = d_act.reshape(h, e, 1, -1) * per_row
        d_next = d_next.reshape(h, e, 1, o) * per_row
        adjoint = torch.zeros_like(state)  # (E, 1, O): d J / d s_H
        if self.value is not None:
            terminal, terminal_grad = self._value(seq[-1], goal)
            cost = cost + cfg.discount**h * terminal.mean()
            adjoint = terminal_grad * (cfg.discount**h / e)
        grads = []
        for t in reversed(range(h)):
            adjoint = adjoint + d_next[t]
            d_state, d_action = self._model_vjp(states[t], caches[t], adjoint)
            grads.append((d_action + d_act[t]).sum((0, 1)))  # (A,)
            adjoint = d_state + d_obs[t]
        grad = torch.stack(grads[::-1])  # (H, A)
        if cfg.action_rate_weight:
            previous = torch.cat([prev_action[None], plan[:-1]])  # (H, A)
            change = plan - previous
            cost = cost + cfg.action_rate_weight * change.square().sum()
            later = torch.cat([change[1:], torch.zeros_like(change[:1])])
            grad = grad + 2.0 * cfg.action_rate_weight * (change - later)
        return cost, grad

    def _model(
        self, state: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The ensemble's mean step on ``(E, B, ·)`` rows and the stack's pre-activations."""
        delta, pre = self.stack.forward(torch.cat([state, action], dim=-1))
        nxt = state + delta
        if self.history:  # the last_actions block is the exact shift (shift_action_history)
            o, k = state.shape[-1], self.history
            nxt = torch.cat([nxt[..., : o - k], action, state[..., o - k : o - self.act_dim]], -1)
        return nxt, pre

    def _model_vjp(
        self, state: torch.Tensor, pre: list[torch.Tensor], grad_next: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``d J / d (state, action)`` of :meth:`_model` for ``grad_next = d J / d next``."""
        o, k, a = state.shape[-1], self.history, self.act_dim
        if k:  # the block is copied, not predicted: its gradient goes to action and state
            predicted = grad_next[..., : o - k]
            block = grad_next[..., o - k :]
            grad_delta = torch.cat([predicted, torch.zeros_like(block)], -1)
            grad_in = self.stack.vjp(pre, grad_delta)  # (E, B, O + A)
            zero = torch.zeros_like(block[..., :a])
            shifted = torch.cat([torch.zeros_like(predicted), block[..., a:], zero], -1)
            d_state = grad_delta + grad_in[..., :o] + shifted
            d_action = grad_in[..., o:] + block[..., :a]
            return d_state, d_action
        grad_in = self.stack.vjp(pre, grad_next)
        return grad_next + grad_in[..., :o], grad_in[..., o:]

    def _value(self, final: torch.Tensor, goal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Terminal cost-to-go ``(E,)`` of the members' final states ``(E, 1, O)`` and its
        gradient ``(E, 1, O)`` w.r.t. them (the goal part dropped)."""
        e, o = final.shape[0], final.shape[-1]
        x = with_goal(final.reshape(e, o), goal)[None]  # (1, E, O+G)
        out, pre = self.value.forward(x)  # (1, E, 1)
        grad_in = self.value.vjp(pre, torch.ones_like(out))  # (1, E, O+G)
        return out.reshape(e), grad_in[0, :, :o].reshape(e, 1, o)
