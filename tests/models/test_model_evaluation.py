"""Validation report: exact propagation checks with member-tagged mocks, calibration on a
noisy system, OOD disagreement, report files."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from model_systems import pendulum

from mbrl_control.models.ensemble import Ensemble, mixture_moments
from mbrl_control.models.evaluation import (
    open_loop_rollout,
    rollout_errors,
    segment_starts,
    validate,
    write_report,
)


def tagged_step(obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Member-tagging mock: member i predicts ``obs + action + i`` (obs and action 1-D)."""
    tag = torch.arange(obs.shape[0], dtype=obs.dtype).view(-1, 1, 1)  # (E, 1, 1)
    return obs + action + tag, torch.zeros_like(obs)


def test_mixture_moments_member_tagged() -> None:
    e = 4
    mean = torch.arange(e, dtype=torch.float32).view(e, 1, 1).expand(e, 3, 2)  # member i: i
    var = torch.full((e, 3, 2), 0.5)
    mu, v = mixture_moments(mean, var)
    assert torch.allclose(mu, torch.full((3, 2), 1.5))
    assert torch.allclose(v, torch.full((3, 2), 0.5 + 1.25))  # aleatoric + var of 0,1,2,3


def test_open_loop_rollout_feeds_back_ensemble_mean(seeds) -> None:
    """With member i adding i, the ensemble mean adds (E-1)/2 per step on top of the actions."""
    e, s, k = 5, 4, 6
    obs0 = torch.arange(s, dtype=torch.float32).view(s, 1)
    actions = torch.randn(s, k, 1, generator=torch.Generator().manual_seed(seeds(0)))
    pred, spread, shared = open_loop_rollout(tagged_step, e, obs0, actions)  # (S, K, 1) each
    steps = torch.arange(1, k + 1, dtype=torch.float32).view(1, k, 1)
    expected = obs0.view(s, 1, 1) + actions.cumsum(1) + steps * (e - 1) / 2
    assert torch.allclose(pred, expected, atol=1e-5)
    # each member on its own: member i is k*i off after k steps, variance k² var(0..E-1)
    assert torch.allclose(spread, (steps**2 * (e**2 - 1) / 12).expand(s, k, 1))
    # from the shared state, member i predicts state + action + i at every step
    prev = torch.cat([obs0.view(s, 1, 1), pred[:, :-1]], 1)  # (S, K, 1)
    offsets = torch.arange(e, dtype=torch.float32).view(e, 1, 1, 1)
    assert torch.allclose(shared, prev + actions + offsets, atol=1e-5)


def test_rollout_errors_use_real_actions_within_episodes(seeds) -> None:
    """True system: next = obs + action. The tagged mock is off by k(E-1)/2 after k steps."""
    e, steps = 3, 30
    rng = np.random.default_rng(seeds(0))
    action = rng.standard_normal((2 * steps, 1)).astype(np.float32)
    obs = np.zeros((2 * steps, 1), np.float32)
    for ep in range(2):  # two episodes, states restart at 0
        obs[ep * steps : (ep + 1) * steps, 0] = np.r_[
            0, np.cumsum(action[ep * steps :][: steps - 1])
        ]
    next_obs = obs + action
    ids = np.repeat([0, 1], steps)
    out = rollout_errors(tagged_step, e, obs, action, next_obs, ids, ks=(1, 5, 25, 40))
    assert out["k"] == [1, 5, 25] and out["skipped_k"] == [40]
    assert out["segments"] == 2 * (steps - 25 + 1)
    assert np.allclose(out["mse"], [(k * (e - 1) / 2) ** 2 for k in (1, 5, 25)], rtol=1e-4)
    spread = [k**2 * (e**2 - 1) / 12 / obs.var(0, ddof=1)[0] for k in (1, 5, 25)]
    assert np.allclose(out["spread_nmse"], spread, rtol=1e-4)
    assert out["error_spread_corr"] == [None] * 3  # the spread is the same for every segment


def test_segment_starts() -> None:
    ids = np.array([0, 0, 0, 1, 1, 2])
    assert segment_starts(ids, 1).tolist() == [0, 1, 2, 3, 4, 5]
    assert segment_starts(ids, 2).tolist() == [0, 1, 3]
    assert segment_starts(ids, 3).tolist() == [0]
    assert segment_starts(ids, 7).tolist() == []


def test_calibration_ood_and_report_files(noisy_fit, noisy_data, seeds, tmp_path: Path) -> None:
    """On hold-out episodes of a noisy pendulum the 2σ interval covers 85-99% of the truth;
    disagreement on OOD states (speeds up to 15 rad/s, torques up to 6 N·m, never seen in
    training) exceeds in-distribution disagreement; the report files are written."""
    model, metrics = noisy_fit
    d = noisy_data
    rows = np.isin(d.episode_id, metrics["holdout_episodes"])
    rng = np.random.default_rng(seeds(9))
    ood = pendulum(10, 50, rng, noise_std=0.05, speed_range=15, torque=6)
    report = validate(
        model, d.obs[rows], d.action[rows], d.next_obs[rows], d.episode_id[rows],
        ood=(ood.obs, ood.action, ood.next_obs), obs_names=["cos", "sin", "omega"],
    )  # fmt: skip
    cal = report["holdout"]["calibration"]
    assert 0.85 <= cal["within_2sigma"] <= 0.99, cal
    assert cal["within_1sigma"] < cal["within_2sigma"]
    # noise 0.05² per coordinate is the floor of the one-step MSE (measured 0.93x-1.00x at
    # --seed 0, 1; 900 squared-noise samples: the lower bound 0.8 is 4σ of sampling below 1)
    assert 0.0025 * 0.8 < report["holdout"]["mse"] < 0.0025 * 2
    dis = report["disagreement"]
    assert dis["ood"]["mean"] > dis["in_distribution"]["mean"]
    assert dis["ratio_ood_to_in"] > 2  # measured 4.6-5.2 at --seed 0, 1
    assert report["rollout"]["k"] == [1, 5, 10, 25]
    assert report["rollout"]["nmse"][-1] > report["rollout"]["nmse"][0]  # errors compound
    assert math.isfinite(report["holdout"]["nll"])

    json_path, png_path = write_report(report, tmp_path / "report")
    assert json.loads(json_path.read_text()) == json.loads(json.dumps(report))
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_constant_dimension_does_not_swamp_normalized_errors(seeds) -> None:
    """A locked joint (a dim that never changes) has change variance ~0: a rounding-level
    error there used to be divided by 1e-12 (nmse 1e2 for an error of 1e-5) and swamp the
    mean; its reference variance is now floored at 1e-6 of the largest dim's."""
    from mbrl_control.models.evaluation import point_metrics

    rng = np.random.default_rng(seeds(0))
    obs = torch.tensor(rng.normal(0, 1, (500, 2)), dtype=torch.float32)
    obs[:, 1] = 0.25  # locked
    next_obs = obs.clone()
    next_obs[:, 0] += torch.tensor(rng.normal(0, 0.1, 500), dtype=torch.float32)
    mean = next_obs.clone()[None]  # (1, N, O): perfect on the moving dim
    mean[..., 0] += 0.01  # 1% of the moving dim's change std
    mean[..., 1] += 1e-5  # rounding-level error on the locked dim
    m = point_metrics(mean, torch.full_like(mean, 1e-4), obs, next_obs)
    assert m["nmse_per_dim"][0] == pytest.approx(0.01, rel=0.2)
    assert m["nmse_per_dim"][1] < 0.1 and m["nmse"] < 0.1, m["nmse_per_dim"]


def test_rollout_errors_report_the_mbpo_stop_quantity(seeds) -> None:
    """A real (untrained) ensemble: at k = 1 the stop quantity is the report's one-step
    disagreement of the same rows; 'stopped by k' is a share that never falls with k and
    follows the threshold."""
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.evaluation import disagreement_rows

    torch.manual_seed(seeds(0))
    model = Ensemble(EnsembleConfig(3, 1, members=4, hidden=16, layers=2)).eval()
    rng = np.random.default_rng(seeds(1))
    obs = rng.standard_normal((60, 3)).astype(np.float32)
    action = rng.uniform(-1, 1, (60, 1)).astype(np.float32)
    ids = np.repeat([0, 1], 30)
    out = rollout_errors(model, 4, obs, action, obs + 0.1, ids, ks=(1, 3, 10),
                         stop_threshold=0.0)  # fmt: skip
    starts = segment_starts(ids, 10)
    with torch.no_grad():
        mean, _ = model(torch.from_numpy(obs[starts]).expand(4, -1, -1),
                        torch.from_numpy(action[starts]).expand(4, -1, -1))  # fmt: skip
    one_step = float(disagreement_rows(model, mean).mean())
    assert out["stop_disagreement"][0] == pytest.approx(one_step, rel=1e-5)
    assert len(out["stop_disagreement_p90"]) == len(out["error_disagreement_corr"]) == 3
    assert out["stopped_by_k"] == [1.0, 1.0, 1.0]  # untrained members always disagree > 0
    never = rollout_errors(model, 4, obs, action, obs + 0.1, ids, ks=(1, 3, 10),
                           stop_threshold=1e9)  # fmt: skip
    assert never["stopped_by_k"] == [0.0, 0.0, 0.0]
    some = rollout_errors(model, 4, obs, action, obs + 0.1, ids, ks=(1, 3, 10),
                          stop_threshold=out["stop_disagreement"][0])  # fmt: skip
    assert all(b >= a for a, b in itertools.pairwise(some["stopped_by_k"]))
