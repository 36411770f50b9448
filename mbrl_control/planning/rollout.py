"""Particle rollouts of candidate plans through the ensemble, and their cost.

Rows are particle-major: row ``p·N + n`` is particle p of candidate n, so ``(P·N, ·)``
reshapes to ``(P, N, ·)`` for averaging over particles, and to ``(E, P/E·N, ·)`` to give
each member its block of P/E particles (:func:`to_members`, inverse :func:`from_members`).
With TS∞ propagation a particle stays with its member for the whole horizon; with mean
propagation every member predicts from the same particle state and the member mean is kept.

The per-step cost is the task's critic sum (``Task.score``) or, for a task with
``cost_source == "learned"``, the ensemble's learned cost head, evaluated in the same model
pass as the dynamics: with TS∞ each particle's cost comes from the member that propagates
it (as PETS scores each particle's own trajectory, and mbrl-lib's model env takes the reward
from the member it samples), so averaging over particles averages over members *and* over
each member's own predicted trajectory; with mean propagation the member costs of the shared
state are averaged. A learned cost ignores the critic ``weights`` input.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from mbrl_control.planning.config import PlannerConfig
from mbrl_control.tasks.base import Task
from mbrl_control.uncertainty.quantities import epistemic_disagreement, total_predictive

BIG_COST = 1e10
"""Cost given to candidates whose rollout is not finite: NaN never wins."""

ValueFn = Callable[[torch.Tensor], torch.Tensor]
"""Terminal cost-to-go ``V(x (B, O+G)) -> (B,)``, added at the horizon (lower is better);
``x`` is the state with the goal appended (just the state for goal-free tasks)."""
PolicyFn = Callable[[torch.Tensor], torch.Tensor]
"""Deterministic policy ``pi(x (B, O+G)) -> action (B, A)`` (the policy prior's source)."""


def with_goal(state: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """The agent's input: ``state (B, O)`` with ``goal`` (``(G,)`` for every row, or one
    per row ``(B, G)``) appended -> ``(B, O+G)`` (``state`` itself when G = 0)."""
    if goal.shape[-1] == 0:
        return state
    return torch.cat([state, goal.expand(state.shape[0], -1)], dim=-1)


def to_members(x: torch.Tensor, members: int) -> torch.Tensor:
    """``(..., P·N, D) -> (..., E, P/E·N, D)``: member e gets particles e·P/E .. (e+1)·P/E-1."""
    return x.reshape(*x.shape[:-2], members, -1, x.shape[-1])


def from_members(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_members`: ``(..., E, P/E·N, D) -> (..., P·N, D)``."""
    return x.reshape(*x.shape[:-3], -1, x.shape[-1])


def plan_states(best: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The graph's ``plan_states (E, H, P)`` from a best-so-far ``(plan, cost, path (H, E,
    P))`` (:data:`~mbrl_control.planning.sampling.Best`)."""
    return best[2].transpose(0, 1)


class Rollout:
    """Evaluates candidate action sequences: model + task cost + plan-level terms.

    ``model`` is anything with the ensemble's ``forward(obs (E, B, O), action (E, B, A)) ->
    (next_mean (E, B, O), logvar (E, B, O))`` and an int ``members`` attribute (the
    :class:`~mbrl_control.models.ensemble.Ensemble`, an export-only re-expression of it, or
    true dynamics wrapped for tests). ``value_fn`` is the terminal cost-to-go (default 0),
    added times ``cfg.discount**H``; ``policy`` feeds the policy prior (``cfg.prior_frac``).
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        cfg: PlannerConfig,
        value_fn: ValueFn | None = None,
        policy: PolicyFn | None = None,
    ) -> None:
        if cfg.prior_frac and policy is None:
            raise ValueError(f"PlannerConfig.prior_frac={cfg.prior_frac} needs a policy")
        if cfg.propagation == "ts_inf" and cfg.particles % model.members:
            raise ValueError(
                f"PlannerConfig.particles={cfg.particles} must be a multiple of the "
                f"ensemble size E={model.members} for ts_inf propagation"
            )
        self.model, self.task, self.cfg, self.value_fn = model, task, cfg, value_fn
        self.policy = policy if cfg.prior_frac else None
        self.learned_cost = task.cost_source == "learned"
        if self.learned_cost and not callable(getattr(model, "forward_with_cost", None)):
            raise ValueError(
                f"task {task.name!r} has cost 'learned' but the model has no learned cost head "
                "(build the ensemble with EnsembleConfig(reward_head=True) and fit it with cost=)"
            )
        if self.learned_cost and not getattr(model, "has_cost", True):
            raise ValueError(
                f"task {task.name!r} has cost 'learned' but the ensemble has no reward head "
                "(EnsembleConfig.reward_head=False)"
            )
        self.predicted_dim = task.obs_dim - task.history_dim
        self.low = torch.as_tensor(task.low)  # (A,)
        self.high = torch.as_tensor(task.high)  # (A,)

    def __call__(
        self,
        obs: torch.Tensor,
        goal: torch.Tensor,
        weights: torch.Tensor,
        prev_action: torch.Tensor,
        actions: torch.Tensor,
        state_noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Cost, mean disagreement and the members' predicted paths of each candidate.

        Args: obs ``(O,)``, goal ``(G,)``, weights ``(K,)``, prev_action ``(A,)`` (the action
        applied last tick), actions ``(N, H, A)``, state_noise ``(H, P·N, O)`` standard
        normal (only with ``cfg.aleatoric``).
        Returns: cost ``(N,)`` (non-finite -> :data:`BIG_COST`) and disagreement ``(N,)``: the
        epistemic disagreement (:mod:`mbrl_control.uncertainty.quantities`) averaged over the
        H steps, each step calibrated at its horizon (:meth:`var_scale_rows`);
        ``cfg.uncertainty_weight`` times the per-step value is added to the step cost; and
        paths ``(H, E, N, P)``: member e's predicted state (predicted dims, raw units) after
        steps 1..H, averaged over its particles (TS∞: the particles it propagates; mean
        propagation: its prediction of each shared particle state). These are the member
        means the disagreement is computed from, so returning one candidate's path costs
        no second rollout (the graph's ``plan_states``, :mod:`~mbrl_control.planning.graph_io`).
        """
        cfg, p = self.cfg, self.cfg.particles
        n, h = actions.shape[0], actions.shape[1]
        per_step = actions.transpose(0, 1).repeat(1, p, 1)  # (H, P·N, A), time-major once
        state = obs.expand(p * n, obs.shape[-1])  # (P·N, O)
        step_actions, step_noise = per_step, state_noise
        if cfg.propagation == "ts_inf":  # TS∞ rows stay member-major for the whole loop
            e = self.model.members
            state, step_actions = to_members(state, e), to_members(per_step, e)  # (E, P/E·N, ·)
            step_noise = None if state_noise is None else to_members(state_noise, e)
        # roll out: only the model runs per step; everything else is batched over H after
        states = [state]  # H+1 x (P·N, O), or (E, P/E·N, O) for TS∞
        member_means = []  # H x (E, N or P·N, O)
        learned = []  # H x (P·N,) learned per-step costs (learned-cost tasks only)
        for t in range(h):
            noise_t = None if step_noise is None else step_noise[t]
            next_state, member_mean, cost_t = self._step(states[-1], step_actions[t], noise_t)
            states.append(next_state)
            member_means.append(member_mean)
            learned.append(cost_t)
        seq = torch.stack(states).reshape(h + 1, p * n, -1)  # (H+1, P·N, O)
        if self.learned_cost:
            step_cost = torch.stack(learned)  # (H, P·N)
        else:  # task critics on all H·P·N transitions at once
            before = seq[:-1].reshape(-1, seq.shape[-1])  # (H·P·N, O)
            after = seq[1:].reshape(-1, seq.shape[-1])
            taken = per_step.reshape(-1, per_step.shape[-1])  # (H·P·N, A)
            step_cost = self.task.score(before, taken, after, goal, weights)[0]  # (H·P·N,)
        step_cost = step_cost.reshape(h, p, n).mean(1)  # (H, N) averaged over particles
        # disagreement: the epistemic quantity (uncertainty.quantities), calibrated at each
        # step's horizon (var_scale_rows), over the predicted dims (last_actions is exact)
        means = torch.stack(member_means)[..., : self.predicted_dim]  # (H, E, X, P)
        paths = means  # (H, E, N, P): X = N already for TS∞ (particle means per member)
        if means.shape[2] != n:  # mean propagation: X = P·N, particle-major rows
            paths = means.reshape(h, means.shape[1], p, n, -1).mean(2)
        dis = epistemic_disagreement(
            means.transpose(0, 1), self.target_std(), self.var_scale_rows(h)[:, None]
        )  # (H, X), X = N or P·N
        dis = dis.reshape(h, -1, n).mean(1)  # (H, N)
        if cfg.uncertainty_weight:
            step_cost = step_cost + cfg.uncertainty_weight * dis
        if cfg.discount < 1.0:
            step_cost = step_cost * torch.tensor([cfg.discount**t for t in range(h)])[:, None]
        cost = step_cost.sum(0)  # (N,)
        if self.value_fn is not None:
            terminal = self.value_fn(with_goal(seq[-1], goal))  # (P·N,)
            cost = cost + cfg.discount**h * terminal.reshape(p, n).mean(0)
        if cfg.action_rate_weight:
            previous = torch.cat([prev_action.expand(n, 1, -1), actions[:, :-1]], dim=1)
            rate = (actions - previous).square().sum((1, 2))  # (N,)
            cost = cost + cfg.action_rate_weight * rate
        cost = torch.where(torch.isfinite(cost), cost, torch.full_like(cost, BIG_COST))
        return cost, dis.mean(0), paths

    def predict_next(
        self, obs: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The calibrated one-step predictive of ``obs (O,)`` under ``action (A,)``: mean and
        total variance ``(P,)`` each over the predicted dims (the graph's ``pred_mean`` /
        ``pred_var``, :mod:`mbrl_control.planning.graph_io`)."""
        e, p = self.model.members, self.predicted_dim
        mean, logvar = self.model(obs.expand(e, 1, -1), action.expand(e, 1, -1))  # (E, 1, O)
        mix, var = total_predictive(
            mean[:, 0, :p], logvar[:, 0, :p].exp(), self.var_scale_rows(1)[0]
        )
        return mix, var

    def target_std(self) -> torch.Tensor:
        """The disagreement's unit ``(P,)``: the model's ``target_std`` (ones for models
        without one, e.g. true dynamics wrapped for tests)."""
        std = getattr(self.model, "target_std", None)
        return torch.ones(self.predicted_dim) if std is None else std[: self.predicted_dim]

    def var_scale_rows(self, h: int) -> torch.Tensor:
        """The calibration's variance factor for the h rollout steps, ``(h, P)``: with TS∞
        step t's member means are each member's own (t+1)-step prediction, so row t is the
        model's ``var_scale`` at horizon k = t + 1 (its last row beyond); with mean
        propagation every step is a one-step prediction from a shared state (k = 1, as in
        the MBPO branch stop). Ones without a calibration."""
        scale = getattr(self.model, "var_scale", None)
        if scale is None:
            return torch.ones(h, self.predicted_dim)
        if self.cfg.propagation == "ts_inf":
            rows = [min(t, scale.shape[0] - 1) for t in range(h)]
        else:
            rows = [0] * h
        return scale[torch.tensor(rows, dtype=torch.long)]

    def policy_plan(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor | None:
        """The policy's plan ``(H, A)`` from ``obs (O,)`` toward ``goal (G,)``: its action at
        each state of its own rollout through the ensemble (member-mean propagation); None
        without a prior."""
        if self.policy is None:
            return None
        e, state, actions = self.model.members, obs[None], []  # state (1, O)
        for _ in range(self.cfg.horizon):
            action = self.policy(with_goal(state, goal))  # (1, A)
            mean, _ = self.model(state.expand(e, 1, -1), action.expand(e, 1, -1))  # (E, 1, O)
            state = mean.mean(0)
            actions.append(action[0])
        return torch.stack(actions)

    def _model(
        self, state: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The model on ``(E, B, ·)`` rows: next mean, logvar ``(E, B, O)`` and, for a
        learned-cost task, the learned cost ``(E, B)`` from the same pass (else None)."""
        if self.learned_cost:
            return self.model.forward_with_cost(state, action)
        return (*self.model(state, action), None)

    def _step(
        self, state: torch.Tensor, action: torch.Tensor, noise: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One model step -> next states (same layout), the member means whose spread is the
        disagreement, and the learned step cost ``(P·N,)`` (None without a learned cost).
        TS∞: states ``(E, P/E·N, O)``, member means ``(E, N, O)`` (each member's particle
        mean), each particle's cost from its own member; mean propagation: states
        ``(P·N, O)``, member means ``(E, P·N, O)`` (every member's prediction of the same
        state), cost averaged over members."""
        e, p = self.model.members, self.cfg.particles
        if self.cfg.propagation == "ts_inf":
            mean, logvar, cost = self._model(state, action)  # (E, P/E·N, O), (E, P/E·N)
            cost = None if cost is None else cost.reshape(-1)  # (P·N,) particle-major
            member_mean = mean
            if p > e:
                member_mean = mean.reshape(e, p // e, -1, mean.shape[-1]).mean(1)  # (E, N, O)
            std = None if noise is None else (0.5 * logvar).exp()
        else:
            rows = (e, *state.shape)
            member_mean, logvar, cost = self._model(
                state.expand(rows), action.expand(*rows[:2], -1)
            )
            cost = None if cost is None else cost.mean(0)  # (P·N,)
            mean = member_mean.mean(0)  # (P·N, O)
            std = None if noise is None else logvar.exp().mean(0).sqrt()
        if noise is not None:
            mean = mean + std * noise
        return mean, member_mean, cost
