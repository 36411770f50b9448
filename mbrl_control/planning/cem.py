"""PETS cross-entropy method: truncated-normal sampling inside the bounds, elites, momentum."""

from __future__ import annotations

import torch

from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.rollout import Rollout, plan_states
from mbrl_control.planning.sampling import (
    Carry,
    Noise,
    elites_of,
    keep_best,
    shift,
    state_noise_at,
    with_prior,
)


def cem_plan(
    obs: torch.Tensor,
    goal: torch.Tensor,
    carry: Carry,
    noise: Noise,
    weights: torch.Tensor,
    *,
    rollout: Rollout,
    cfg: PlannerConfig,
) -> tuple[torch.Tensor, Carry, dict[str, torch.Tensor]]:
    """One CEM planning step.

    Args: obs ``(O,)``, goal ``(G,)``, carry ``{"plan": (H, A)}`` (last step's plan; its
    first row was the applied action), noise ``{"action_noise": (I, N, H, A)[,
    "state_noise": (I, H, P·N, O)]}`` standard normal, weights ``(K,)``.
    Returns: action ``(A,)``, next carry ``{"plan": (H, A)}``, info ``{"plan_cost": (),
    "disagreement": (), "plan_states": (E, H, P)}`` (best mode: the returned plan's; mean
    mode: final elites' mean; ``plan_states``: the lowest-cost candidate's predicted path per
    member, which in best mode is the returned plan).
    """
    # obs (O,) plan (H,A) action_noise (I,N,H,A) -> action (A,) next plan (H,A)
    low, high = rollout.low, rollout.high  # (A,)
    prev_action = carry["plan"][0]  # (A,)
    mean = shift(carry["plan"])  # (H, A) warm start
    std = (cfg.init_std * (high - low) / 2).expand_as(mean)  # (H, A)
    prior = rollout.policy_plan(obs, goal)  # (H, A) or None
    prior_std = cfg.prior_std * (high - low) / 2  # (A,)
    best = None  # the first iteration's best candidate (keep_best)
    for i in range(cfg.iterations):
        # sample: std capped at half the distance to the nearer bound, noise clipped at ±2σ,
        # so every sample is inside [low, high] (PETS' truncated normal without rejection)
        capped = torch.minimum(std, torch.minimum(mean - low, high - mean) / 2)  # (H, A)
        samples = mean + capped * noise["action_noise"][i].clamp(-2.0, 2.0)  # (N, H, A)
        samples = with_prior(
            samples, prior, noise["action_noise"][i], cfg.prior_counts[i], prior_std, low, high
        )
        # roll out + score
        cost, dis, paths = rollout(
            obs, goal, weights, prev_action, samples, state_noise_at(noise, i)
        )
        # elites
        elites, elite_cost, index = elites_of(samples, cost, cfg.elites)  # (k, H, A), (k,)
        best = keep_best(best, elites[0], elite_cost[0], paths[:, :, index[0]])
        # refit
        mean = cfg.momentum * mean + (1 - cfg.momentum) * elites.mean(0)
        std = cfg.momentum * std + (1 - cfg.momentum) * elites.std(0, unbiased=False)
    # select
    if cfg.return_mode == "best":
        plan, plan_cost = best[0], best[1]
    else:
        plan, plan_cost = mean, elite_cost.mean()
    info = {"plan_cost": plan_cost, "disagreement": dis.mean(), "plan_states": plan_states(best)}
    return plan[0], {"plan": plan}, info
