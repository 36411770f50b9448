"""Random shooting (the baseline): uniform plans in the bounds plus the warm start; best wins."""

from __future__ import annotations

import math

import torch

from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.rollout import Rollout
from mbrl_control.planning.sampling import Carry, Noise, lowest, shift, state_noise_at


def shooting_plan(
    obs: torch.Tensor,
    goal: torch.Tensor,
    carry: Carry,
    noise: Noise,
    weights: torch.Tensor,
    *,
    rollout: Rollout,
    cfg: PlannerConfig,
) -> tuple[torch.Tensor, Carry, dict[str, torch.Tensor]]:
    """One random-shooting step (always returns the best candidate).

    Args: obs ``(O,)``, goal ``(G,)``, carry ``{"plan": (H, A)}``, noise ``{"action_noise":
    (1, N, H, A)[, "state_noise": (1, H, P·N, O)]}`` standard normal, weights ``(K,)``.
    Returns: action ``(A,)``, next carry ``{"plan": (H, A)}``, info ``{"plan_cost": (),
    "disagreement": (), "plan_states": (E, H, P)}`` of the returned plan.
    """
    # obs (O,) plan (H,A) action_noise (1,N,H,A) -> action (A,) next plan (H,A)
    low, high = rollout.low, rollout.high  # (A,)
    # sample: uniform in the bounds via the normal CDF; the shifted last plan is candidate N-1
    uniform = 0.5 * (1 + torch.erf(noise["action_noise"][0, :-1] / math.sqrt(2)))  # (N-1,H,A)
    samples = torch.cat([low + (high - low) * uniform, shift(carry["plan"])[None]])  # (N,H,A)
    # roll out + score
    prev_action = carry["plan"][0]  # (A,)
    cost, dis, paths = rollout(obs, goal, weights, prev_action, samples, state_noise_at(noise, 0))
    # select
    index = lowest(cost, 1)[0]  # ties: lowest index (see lowest)
    plan = samples[index]  # (H, A)
    info = {
        "plan_cost": cost[index],
        "disagreement": dis[index],
        "plan_states": paths[:, :, index].transpose(0, 1),
    }
    return plan[0], {"plan": plan}, info
