"""iCEM (Pinneri et al. 2020): colored noise, kept elites, decaying population, mean added.

Colored noise is made inside the step from white ``action_noise`` with a constant ``(H, H)``
matrix (:func:`~mbrl_control.planning.noise.colored_noise_matrix`), so the ONNX graph
needs no FFT. Elites kept across time steps travel in ``carry["elites"]``.
"""

from __future__ import annotations

import torch

from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.noise import colored_noise_matrix
from mbrl_control.planning.rollout import Rollout, plan_states
from mbrl_control.planning.sampling import (
    Carry,
    Noise,
    clip,
    elites_of,
    keep_best,
    shift,
    state_noise_at,
    with_prior,
)


def icem_plan(
    obs: torch.Tensor,
    goal: torch.Tensor,
    carry: Carry,
    noise: Noise,
    weights: torch.Tensor,
    *,
    rollout: Rollout,
    cfg: PlannerConfig,
) -> tuple[torch.Tensor, Carry, dict[str, torch.Tensor]]:
    """One iCEM planning step.

    Args: obs ``(O,)``, goal ``(G,)``, carry ``{"plan": (H, A), "elites": (k, H, A)}``,
    noise ``{"action_noise": (I, N, H, A)[, "state_noise": (I, H, P·N, O)]}`` (iteration i
    uses the first ``cfg.populations[i]`` rows), weights ``(K,)``.
    Returns: action ``(A,)``, next carry (plan and the kept elites, unshifted), info
    ``{"plan_cost": (), "disagreement": (), "plan_states": (E, H, P)}`` (``plan_states``:
    the lowest-cost candidate's predicted path per member; in best mode the returned plan).
    """
    # obs (O,) plan (H,A) elites (k,H,A) action_noise (I,N,H,A) -> action (A,) plan, elites
    low, high = rollout.low, rollout.high  # (A,)
    color = torch.from_numpy(colored_noise_matrix(cfg.horizon, cfg.beta))  # (H, H)
    prev_action = carry["plan"][0]  # (A,)
    mean = shift(carry["plan"])  # (H, A) warm start
    std = (cfg.init_std * (high - low) / 2).expand_as(mean)  # (H, A)
    prior = rollout.policy_plan(obs, goal)  # (H, A) or None
    prior_std = cfg.prior_std * (high - low) / 2  # (A,)
    kept = shift(carry["elites"]) if cfg.kept_elites else mean.new_zeros((0, *mean.shape))
    best = None  # the first iteration's best candidate (keep_best)
    last = cfg.iterations - 1
    for i, n_i in enumerate(cfg.populations):
        # sample: n_i - k colored-noise candidates around the mean, clipped into the bounds
        # (the first of them around the policy's plan with a prior), plus the k kept elites;
        # the mean itself is a candidate in the last iteration
        fresh = n_i - cfg.kept_elites - (1 if i == last else 0)
        colored = color @ noise["action_noise"][i, :fresh]  # (fresh, H, A)
        samples = clip(mean + std * colored, low, high)
        samples = with_prior(samples, prior, colored, cfg.prior_counts[i], prior_std, low, high)
        extra = [mean[None]] if i == last else []
        samples = torch.cat([samples, kept, *extra])  # (n_i, H, A)
        # roll out + score (kept elites are re-scored: their particles are new)
        step_noise = _rows(state_noise_at(noise, i), cfg.particles, n_i)
        cost, dis, paths = rollout(obs, goal, weights, prev_action, samples, step_noise)
        # elites
        elites, elite_cost, index = elites_of(samples, cost, cfg.elites)  # (K_e, H, A), (K_e,)
        best = keep_best(best, elites[0], elite_cost[0], paths[:, :, index[0]])
        kept = elites[: cfg.kept_elites]
        # refit
        mean = cfg.momentum * mean + (1 - cfg.momentum) * elites.mean(0)
        std = cfg.momentum * std + (1 - cfg.momentum) * elites.std(0, unbiased=False)
    # select
    if cfg.return_mode == "best":
        plan, plan_cost = best[0], best[1]
    else:
        plan, plan_cost = mean, elite_cost.mean()
    info = {"plan_cost": plan_cost, "disagreement": dis.mean(), "plan_states": plan_states(best)}
    next_carry = {"plan": plan, "elites": kept} if cfg.kept_elites else {"plan": plan}
    return plan[0], next_carry, info


def _rows(state_noise: torch.Tensor | None, particles: int, n: int) -> torch.Tensor | None:
    """State noise for the first n candidates: ``(H, P·N, O) -> (H, P·n, O)``."""
    if state_noise is None:
        return None
    h, _, o = state_noise.shape
    return state_noise.reshape(h, particles, -1, o)[:, :, :n].reshape(h, -1, o)
