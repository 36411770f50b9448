"""MPPI: exponentially weighted average of AR(1)-smoothed Gaussian perturbations."""

from __future__ import annotations

import torch

from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.noise import ar1_matrix
from mbrl_control.planning.rollout import Rollout, plan_states
from mbrl_control.planning.sampling import (
    Carry,
    Noise,
    clip,
    keep_best,
    lowest,
    shift,
    state_noise_at,
    with_prior,
)


def mppi_plan(
    obs: torch.Tensor,
    goal: torch.Tensor,
    carry: Carry,
    noise: Noise,
    weights: torch.Tensor,
    *,
    rollout: Rollout,
    cfg: PlannerConfig,
) -> tuple[torch.Tensor, Carry, dict[str, torch.Tensor]]:
    """One MPPI planning step (``cfg.iterations`` reweighting passes).

    Args: obs ``(O,)``, goal ``(G,)``, carry ``{"plan": (H, A)}``, noise ``{"action_noise":
    (I, N, H, A)[, "state_noise": (I, H, P·N, O)]}`` standard normal, weights ``(K,)``.
    Returns: action ``(A,)``, next carry ``{"plan": (H, A)}``, info ``{"plan_cost": (),
    "disagreement": (), "plan_states": (E, H, P)}`` (mean mode: the softmax-weighted cost of
    the last pass; ``plan_states``: the lowest-cost candidate's predicted path per member).
    """
    # obs (O,) plan (H,A) action_noise (I,N,H,A) -> action (A,) next plan (H,A)
    low, high = rollout.low, rollout.high  # (A,)
    smooth = torch.from_numpy(ar1_matrix(cfg.horizon, cfg.smoothing))  # (H, H)
    sigma = cfg.noise_sigma * (high - low) / 2  # (A,)
    prev_action = carry["plan"][0]  # (A,)
    mean = shift(carry["plan"])  # (H, A) warm start
    prior = rollout.policy_plan(obs, goal)  # (H, A) or None
    prior_std = cfg.prior_std * (high - low) / 2  # (A,)
    best = None  # the first iteration's best candidate (keep_best)
    for i in range(cfg.iterations):
        # sample: smoothed perturbations of the mean, clipped into the bounds
        samples = clip(mean + sigma * (smooth @ noise["action_noise"][i]), low, high)  # (N,H,A)
        samples = with_prior(
            samples, prior, noise["action_noise"][i], cfg.prior_counts[i], prior_std, low, high
        )
        # roll out + score
        cost, dis, paths = rollout(
            obs, goal, weights, prev_action, samples, state_noise_at(noise, i)
        )
        # weights: softmax of -cost / lambda (the minimum cost is subtracted inside softmax)
        w = torch.softmax(-cost / cfg.temperature, dim=0)  # (N,)
        index = lowest(cost, 1)[0]  # ties: lowest index (see lowest)
        best = keep_best(best, samples[index], cost[index], paths[:, :, index])
        # refit
        update = (w[:, None, None] * samples).sum(0)  # (H, A)
        mean = cfg.momentum * mean + (1 - cfg.momentum) * update
    # select
    if cfg.return_mode == "best":
        plan, plan_cost = best[0], best[1]
    else:
        plan, plan_cost = mean, (w * cost).sum()
    info = {"plan_cost": plan_cost, "disagreement": dis.mean(), "plan_states": plan_states(best)}
    return plan[0], {"plan": plan}, info
