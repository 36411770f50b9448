"""Training: accuracy on a known nonlinear system, bootstrap diversity, hold-out split,
warm start with replay mixing, cost head, input checks."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
from model_systems import FAST, Episodes, make_model, pendulum

from mbrl_control.models.config import TrainConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.models.evaluation import member_predictions, point_metrics
from mbrl_control.models.sampling import epoch_stream, holdout_split, member_pools
from mbrl_control.models.trainer import fit


def holdout_rows(d: Episodes, episodes: list[int]) -> np.ndarray:
    return np.isin(d.episode_id, episodes)


def nmse_per_dim(model: Ensemble, d: Episodes, rows: np.ndarray) -> np.ndarray:
    """Hold-out MSE per dim of the ensemble mean over the variance of the true change."""
    mean, var = member_predictions(model, d.obs[rows], d.action[rows])
    m = point_metrics(mean, var, torch.tensor(d.obs[rows]), torch.tensor(d.next_obs[rows]))
    return np.array(m["nmse_per_dim"])


def linear_nmse_per_dim(d: Episodes, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Same metric for a least-squares affine model of the change (the baseline to beat)."""
    x = np.c_[d.obs, d.action, np.ones(len(d.obs))]
    delta = d.next_obs - d.obs
    coef, *_ = np.linalg.lstsq(x[train], delta[train], rcond=None)
    err = x[test] @ coef - delta[test]
    return (err**2).mean(0) / delta[test].var(0)


def test_fit_learns_nonlinear_pendulum(clean_fit, clean_data) -> None:
    """Hold-out error on unseen episodes is below 5% of the variance of each dim's change.

    Why 5%: the data are noise-free, so every bit of error is approximation/estimation error
    of a 2 x 64 network from 1800 rows; a trained model lands around 1e-3. Predicting the
    average change scores 1.0, and the best affine model scores > 0.2 on cos/sin (the change
    of cos θ is -sin θ·θ̇·dt: a product, so not linear in the obs) - we assert that too, so
    the bound separates "learned the nonlinearity" from "fit a linear map".
    """
    model, metrics = clean_fit
    d = clean_data
    test = holdout_rows(d, metrics["holdout_episodes"])
    assert metrics["n_holdout"] == test.sum() > 0
    ours = nmse_per_dim(model, d, test)
    linear = linear_nmse_per_dim(d, ~test, test)
    assert (linear[:2] > 0.2).all(), f"premise: system should be nonlinear, affine nmse {linear}"
    assert (ours < 0.05).all(), f"hold-out nmse per dim {ours}"
    assert (ours[:2] < linear[:2] / 10).all()
    # the metrics dict agrees with itself
    assert metrics["best_epoch"] <= metrics["epochs"] == len(metrics["train_loss"])
    assert metrics["holdout_mse"] == pytest.approx(np.mean(metrics["holdout_mse_per_member"]))
    assert metrics["samples_per_s"] > 0


def test_bootstrap_makes_identically_initialized_members_differ(clean_data, seeds) -> None:
    """Members that start as exact copies end up different: only their data differ
    (mean member std 0.005-0.006 after 3 epochs at --seed 0, 1; bound 1e-4)."""
    model = make_model(seeds(3))
    with torch.no_grad():
        for layer in [*model.hidden, model.head]:
            layer.weight.copy_(layer.weight[:1].expand_as(layer.weight))
            layer.bias.copy_(layer.bias[:1].expand_as(layer.bias))
    d = clean_data
    before, _ = model.predict(d.obs[:200], d.action[:200])
    assert float(before.std(0).max()) == 0.0
    fit(model, d.obs, d.action, d.next_obs, d.episode_id,
        TrainConfig(batch_size=64, max_epochs=3, seed=seeds(3)))  # fmt: skip
    after, _ = model.predict(d.obs[:200], d.action[:200])
    assert float(after.std(0).mean()) > 1e-4


def test_member_pools_and_epoch_stream(seeds) -> None:
    rng = np.random.default_rng(seeds(0))
    pools = member_pools(20_000, 5, bootstrap=True, rng=rng)  # (E, M)
    unique = np.array([len(np.unique(p)) for p in pools]) / 20_000
    # bootstrap keeps ~63.2% of rows; the fraction's std is 0.0023 at 20k rows: atol 4σ
    assert np.allclose(unique, 1 - np.exp(-1), atol=0.01)
    assert not np.array_equal(pools[0], pools[1])
    plain = member_pools(100, 3, bootstrap=False, rng=rng)
    stream = epoch_stream(plain, 250, rng)  # 2.5 passes
    assert stream.shape == (3, 250)
    for row in stream:  # every row once per pass, before any row repeats
        assert sorted(row[:100]) == list(range(100)) == sorted(row[100:200])
    assert not np.array_equal(stream[0], stream[1])  # members shuffle independently


def test_holdout_split_modes(seeds) -> None:
    ids = np.repeat([3, 1, 2, 0], 5)  # first appearance order: 3, 1, 2, 0
    rng = np.random.default_rng(seeds(0))
    mask, held = holdout_split(ids, 0.5, "newest", rng)
    assert held == [0, 2] and mask.sum() == 10
    mask, held = holdout_split(ids, 0.25, "random", rng)
    assert len(held) == 1 and mask.sum() == 5
    mask, held = holdout_split(ids, 0.9, "random", rng, holdout_episodes=[1])
    assert held == [1] and mask[5:10].all() and mask.sum() == 5
    assert holdout_split(ids, 0.0, "random", rng)[1] == []
    with pytest.raises(ValueError, match=r"\[7\]"):
        holdout_split(ids, 0.1, "random", rng, holdout_episodes=[7])
    with pytest.raises(ValueError, match="every row"):
        holdout_split(ids, 0.1, "random", rng, holdout_episodes=[0, 1, 2, 3])


def test_warm_start_finetune_with_replay_keeps_normalizer(clean_fit, clean_data, seeds) -> None:
    """Finetune on a changed pendulum (l = 0.6 m) with old data replayed at half of each batch.

    Hold out the two newest new episodes (as the finetune node does); the error there must
    fall well below the pretrained model's (under a third; measured 4.9x-8.6x lower with
    replay, 30x-340x without, over --seed 0..3; the 5x bound this test had failed on another
    CPU at 4.98x) and the normalizer must stay bit-identical. The two systems contradict
    each other at the same (obs, action), so the old system cannot stay perfect; replay
    must still keep it better predicted than finetuning without replay (error lower by at
    least 1.25x; measured 2.1x-2.8x over --seed 0..3, so the old 2x bound had no margin).
    """
    pretrained, pre_metrics = clean_fit
    new = pendulum(10, 50, np.random.default_rng(seeds(5)), length=0.6, first_episode=100)
    old = clean_data
    held = [108, 109]
    old_rows = holdout_rows(old, pre_metrics["holdout_episodes"])
    before = nmse_per_dim(pretrained, new, holdout_rows(new, held)).mean()
    norms = {k: v.clone() for k, v in pretrained.state_dict().items() if "norm" in k}
    old_error = {}
    for mixed in (True, False):
        model = copy.deepcopy(pretrained)
        metrics = fit(
            model, new.obs, new.action, new.next_obs, new.episode_id, FAST,
            holdout_episodes=held, refit_normalizer=False,
            replay=(old.obs, old.action, old.next_obs) if mixed else None,
            new_ratio=0.5 if mixed else None,
        )  # fmt: skip
        assert metrics["holdout_episodes"] == held and metrics["n_train"] == 400
        for k, v in model.state_dict().items():
            if "norm" in k:
                assert torch.equal(v, norms[k]), k
        after = nmse_per_dim(model, new, holdout_rows(new, held)).mean()
        assert after < before / 3, (mixed, before, after)
        old_error[mixed] = nmse_per_dim(model, old, old_rows).mean()
        if mixed:
            assert metrics["n_replay"] == len(old.obs)
            assert metrics["batches_per_epoch"] == 400 // 32 + 1  # one pass over the new rows
    assert old_error[True] < old_error[False] / 1.25, old_error


def test_refit_normalizer_uses_training_rows_only(clean_data, seeds) -> None:
    d = clean_data
    model = make_model(seeds(4))
    train_cfg = TrainConfig(max_epochs=1, seed=seeds(4))
    metrics = fit(model, d.obs, d.action, d.next_obs, d.episode_id, train_cfg)
    train = ~holdout_rows(d, metrics["holdout_episodes"])
    expected = (d.next_obs - d.obs)[train].mean(0)
    assert torch.allclose(model.out_norm.mean, torch.tensor(expected), atol=1e-6)


def test_cost_head_learns_cost(clean_data, seeds) -> None:
    """The reward head fits the pendulum cost: hold-out MSE below 5% of the cost variance
    (measured 0.4%-1.6% at --seed 0, 1)."""
    d = clean_data
    model = make_model(seeds(5), reward_head=True)
    train_cfg = replace(FAST, seed=seeds(5))
    metrics = fit(model, d.obs, d.action, d.next_obs, d.episode_id, train_cfg, cost=d.cost)
    rows = holdout_rows(d, metrics["holdout_episodes"])
    e = model.members
    with torch.no_grad():
        obs = torch.tensor(d.obs[rows]).expand(e, -1, -1)
        act = torch.tensor(d.action[rows]).expand(e, -1, -1)
        pred = model.forward_cost(obs, act).mean(0).numpy()
    assert ((pred - d.cost[rows]) ** 2).mean() < 0.05 * d.cost[rows].var()


def test_fit_rejects_bad_inputs(clean_data) -> None:
    d = clean_data
    model = make_model(6)
    bad = d.next_obs.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="delta contains NaN"):
        fit(model, d.obs, d.action, bad, d.episode_id)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        fit(model, d.obs[:, :2], d.action, d.next_obs[:, :2])
    with pytest.raises(ValueError, match="no reward head"):
        fit(model, d.obs, d.action, d.next_obs, cost=d.cost)
    with pytest.raises(ValueError, match="new_ratio"):
        fit(model, d.obs, d.action, d.next_obs, new_ratio=0.5)
    with pytest.raises(ValueError, match="reward head, so pass cost"):
        fit(make_model(6, reward_head=True), d.obs, d.action, d.next_obs)


def test_train_config_validation() -> None:
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lr_rate'\]"):
        TrainConfig.from_mapping({"lr_rate": 0.1})
    with pytest.raises(ValueError, match="holdout='oldest'; allowed: random, newest"):
        TrainConfig(holdout="oldest")
    with pytest.raises(ValueError, match="holdout_fraction"):
        TrainConfig(holdout_fraction=1.0)
    assert TrainConfig.from_mapping(TrainConfig(lr=0.01).to_dict()) == TrainConfig(lr=0.01)


def test_gymnasium_pendulum_random_data(seeds) -> None:
    """Arrays from any gymnasium env work: Pendulum-v1 under a random policy."""
    gym = pytest.importorskip("gymnasium")
    env = gym.make("Pendulum-v1")
    env.action_space.seed(seeds(0))
    obs, act, nxt, ep = [], [], [], []
    for i in range(8):
        o, _ = env.reset(seed=seeds(i))
        for _ in range(50):
            a = env.action_space.sample()
            n, *_ = env.step(a)
            obs.append(o), act.append(a), nxt.append(n), ep.append(i)
            o = n
    env.close()
    model = make_model(seeds(7), members=4, hidden=32)
    metrics = fit(model, np.array(obs), np.array(act), np.array(nxt), np.array(ep),
                  TrainConfig(max_epochs=40, batch_size=32, seed=seeds(7)))  # fmt: skip
    assert metrics["n_holdout"] == 50 and metrics["n_train"] == 350
    # the restored weights' hold-out MSE is well below the first epoch's (measured 4x-70x
    # over --seed 0..3); the last epoch's hold-out NLL is no measure: with one held-out
    # episode it can rise as members grow overconfident (it did at --seed 1 and 3)
    assert metrics["holdout_mse"] < metrics["holdout_score"][0] / 2, metrics["holdout_score"]
    mean, var = model.predict(np.array(obs[:7]), np.array(act[:7]))
    assert mean.shape == var.shape == (4, 7, 3) and bool((var > 0).all())
    # Ensemble.fit forwards to trainer.fit
    again = model.fit(np.array(obs), np.array(act), np.array(nxt), np.array(ep),
                      TrainConfig(max_epochs=1))  # fmt: skip
    assert again["epochs"] == 1


def test_early_stopping_restores_per_member_best(noisy_fit) -> None:
    """On noisy data the hold-out score plateaus at the noise floor, so training stops
    ``patience`` epochs after the last improvement and each member's best weights come back
    (the final score is no worse than the best epoch's, up to the 1% improvement threshold)."""
    _, metrics = noisy_fit
    assert metrics["stopped_early"]
    assert metrics["epochs"] - metrics["best_epoch"] == 8  # FAST.patience
    # a member's restored best beats its every later score by the 1 % improvement threshold
    # at most; the recomputed score may differ from the logged one in the last bits
    bound = min(metrics["holdout_score"]) / (1 - FAST.improvement_threshold) * (1 + 1e-5)
    assert metrics["holdout_mse"] <= bound


def test_callback_sees_every_epoch(clean_data, seeds) -> None:
    d = clean_data
    seen: list[tuple[int, dict]] = []
    metrics = fit(make_model(seeds(8)), d.obs, d.action, d.next_obs, d.episode_id,
                  TrainConfig(max_epochs=3, batch_size=128, seed=seeds(8)),
                  callback=lambda epoch, info: seen.append((epoch, info)))  # fmt: skip
    assert [e for e, _ in seen] == [1, 2, 3] and not metrics["stopped_early"]
    assert [info["train_loss"] for _, info in seen] == metrics["train_loss"]
    assert seen[0][1]["improved_members"] == 5  # everything beats the initial +inf
