"""Foreground weighting and reward overshooting of the world model (docs/pixels.md). The
scene's median frame is its background; the weights mark where a frame differs from it (the
cart and the thin pole, not the white background and the rail); with them a world model
trained on real balance-start frames draws the foreground better than with the plain squared
error. Reward overshooting regresses the reward head on imagined states, as the planner reads
it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mbrl_sim.pixel_env import make_pixel_env

from mbrl_control.data.image_store import SequenceLoader
from mbrl_control.latent import WorldModel, WorldModelConfig
from mbrl_control.latent.episodes import run_pixel_episode, store_episode, upright_start
from mbrl_control.latent.networks import to_float
from mbrl_control.latent.training import pixel_camera
from mbrl_control.tasks import get_task

SMALL = WorldModelConfig(depth=8, deter=32, stoch=8, hidden=32, reward_scale=10.0)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """6 balance-start episodes of Gaussian forces (3 N std, held 4 steps) through the
    train-pixels camera: the pole starts upright and falls, the cart drifts."""
    root = tmp_path_factory.mktemp("fg")
    task = get_task("cartpole_swingup")
    env = make_pixel_env("cartpole_swingup", camera=pixel_camera(task), seed=0)
    rng = np.random.default_rng(0)
    for k in range(6):
        start = upright_start(task, np.random.default_rng(k))
        episode = run_pixel_episode(
            env, lambda _: 3.0 * rng.standard_normal(1), k, start, action_repeat=4
        )
        store_episode(episode, root, env.unwrapped.camera.spec)
    env.close()
    return root


@pytest.fixture(scope="module")
def store(root) -> SequenceLoader:
    return SequenceLoader(root, 12, task=get_task("cartpole_swingup"))


def test_median_frame_is_the_background_and_weights_mark_the_robot(store) -> None:
    background = store.median_frame(np.random.default_rng(0))
    assert background.shape == (3, 64, 64) and background.dtype == np.uint8
    model = WorldModel(1, WorldModelConfig(foreground_weight=20.0))
    batch = store.sample(np.random.default_rng(1), 8)
    frames = torch.from_numpy(batch.images)  # (8, 12, 3, 64, 64)
    bg = torch.from_numpy(background)
    weights = model.pixel_weights(to_float(frames), bg)  # (8, 12, 1, 64, 64)
    assert weights.shape == (8, 12, 1, 64, 64)
    assert set(torch.unique(weights).tolist()) == {1.0, 21.0}
    share = (weights > 1).float().mean((-3, -2, -1)).flatten()  # per frame
    in_view = torch.from_numpy(np.abs(batch.obs[..., 0]) < 0.7).flatten()  # cart x, m
    assert int(in_view.sum()) > 24
    # a frame with the cart in view shows cart and pole (a few % of the pixels), never the
    # whole scene; the view is +-0.81 m of rail, so a cart beyond it leaves only background
    assert bool((share[in_view] > 0.003).all()) and bool((share < 0.15).all()), share
    # the background itself has no foreground
    assert not bool((model.pixel_weights(to_float(bg), bg) > 1).any())
    # dark or coloured pixels of a frame (cart, pole, rail) that are not in the background
    dark = (to_float(frames).sum(-3, keepdim=True) < 1.2) & (to_float(bg).sum(-3) >= 1.2)
    assert bool((weights[dark] > 1).all())


def test_no_weight_is_the_plain_loss_and_a_weight_needs_a_background(store) -> None:
    b = store.sample(np.random.default_rng(2), 2)
    args = (torch.from_numpy(b.images), torch.from_numpy(b.action) / 10, torch.from_numpy(b.reward))
    torch.manual_seed(0)
    plain = WorldModel(1, SMALL)
    torch.manual_seed(0)
    weighted = WorldModel(1, WorldModelConfig(**{**SMALL.__dict__, "foreground_weight": 5.0}))
    weighted.load_state_dict(plain.state_dict())
    torch.manual_seed(1)
    _, m_plain = plain.loss(*args)
    bg = torch.from_numpy(store.median_frame(np.random.default_rng(0)))
    torch.manual_seed(1)
    _, m_weighted = weighted.loss(*args, background=bg)
    torch.manual_seed(1)  # the same latent samples as inside both losses
    with torch.no_grad():
        post, _ = plain.filter(args[0], args[1])
        recon = plain.decoder(post.features.flatten(0, 1)).reshape(args[0].shape)
    target = to_float(args[0])
    fg = weighted.pixel_weights(target, bg) > 1  # (2, 12, 1, 64, 64)
    extra = 5.0 * ((recon - target).pow(2) * fg).sum((-3, -2, -1)).mean() / 2
    assert m_weighted["image"] == pytest.approx(m_plain["image"] + float(extra), rel=1e-4)
    assert float(extra) > 0
    with pytest.raises(ValueError, match="background"):
        weighted.loss(*args)
    with pytest.raises(ValueError, match="foreground_weight"):
        WorldModelConfig(foreground_weight=-1.0)


def _foreground_error(weight: float, store: SequenceLoader, seed: int) -> float:
    """Mean squared error on foreground pixels (unweighted) of a model trained ``weight``."""
    torch.manual_seed(seed)
    model = WorldModel(1, WorldModelConfig(**{**SMALL.__dict__, "foreground_weight": weight}))
    opt = torch.optim.Adam(model.parameters(), 2e-3, eps=1e-5)
    bg = torch.from_numpy(store.median_frame(np.random.default_rng(0)))
    rng = np.random.default_rng(seed)
    for _ in range(60):
        b = store.sample(rng, 8)
        loss, _ = model.loss(
            torch.from_numpy(b.images), torch.from_numpy(b.action) / 10,
            torch.from_numpy(b.reward), background=bg,
        )  # fmt: skip
        opt.zero_grad()
        loss.backward()
        opt.step()
    b = store.sample(np.random.default_rng(99), 8)
    with torch.no_grad():
        post, _ = model.filter(torch.from_numpy(b.images), torch.from_numpy(b.action) / 10)
        recon = model.decoder(post.features.flatten(0, 1)).reshape(b.images.shape)
    target = to_float(torch.from_numpy(b.images))
    fg = WorldModel(1, WorldModelConfig(foreground_weight=1.0)).pixel_weights(target, bg) > 1
    err = (recon - target).pow(2).sum(-3, keepdim=True)
    return float(err[fg].mean())


@pytest.mark.parametrize("seed", [0, 1])
def test_weighting_draws_the_foreground_better(store, seed: int) -> None:
    plain, weighted = _foreground_error(0.0, store, seed), _foreground_error(20.0, store, seed)
    assert weighted < 0.7 * plain, (weighted, plain)


def test_objective_study_compares_weights_offline(root, capsys) -> None:
    from mbrl_control.latent.objective_study import main

    assert main([str(root), "--weights", "0,20", "--updates", "2", "--batch", "2"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["weight"] for r in rows] == [0.0, 20.0]
    for row in rows:
        assert set(row["linear_probe_r"]) == {"x", "cos_theta", "sin_theta", "x_dot", "theta_dot"}
        assert -1 <= row["reward_corr"] <= 1 and row["updates"] == 2
    for bad in (["--weights", "-1"], ["--task", "panda_reach"]):  # one line, no traceback
        with pytest.raises(SystemExit):
            main([str(root), *bad])
        assert "error:" in capsys.readouterr().err


def test_reward_overshoot_regresses_imagined_rewards_on_the_recorded_ones(store) -> None:
    """d = 1 by hand: the prior from each posterior mean under the recorded action predicts
    that action's reward; the term's gradient reaches the transition (GRU), which the plain
    reward term on posterior states trains only through the latent."""
    from mbrl_control.latent.rssm import LatentState

    b = store.sample(np.random.default_rng(3), 3)
    images, actions = torch.from_numpy(b.images), torch.from_numpy(b.action) / 10
    rewards = torch.from_numpy(b.reward)
    torch.manual_seed(0)
    model = WorldModel(1, WorldModelConfig(**{**SMALL.__dict__, "reward_overshoot": 1}))
    torch.manual_seed(1)
    post, _ = model.filter(images, actions)
    h, z = post.h.flatten(0, 1), post.mean.flatten(0, 1)
    nxt = model.rssm.img_step(LatentState(h, z, torch.ones_like(z), z), actions.flatten(0, 1),
                              sample=False)  # fmt: skip
    pred = model.reward(nxt.features).squeeze(-1).reshape(rewards.shape)
    by_hand = float((pred - rewards).pow(2).mean().detach() / 2)
    assert float(model.overshoot_loss(post, actions, rewards).detach()) == pytest.approx(
        by_hand, rel=1e-5
    )
    # D steps: the mean over d of errors against rewards[:, t + d - 1]; D > T is cut at T
    model.config = WorldModelConfig(**{**SMALL.__dict__, "reward_overshoot": 40})
    assert torch.isfinite(model.overshoot_loss(post, actions, rewards))
    model.zero_grad()
    model.overshoot_loss(post.detach(), actions, rewards).backward()
    assert float(model.rssm.gru.weight_hh.grad.abs().sum()) > 0
    torch.manual_seed(1)
    _, metrics = model.loss(images, actions, rewards)
    assert metrics["overshoot"] > 0
    with pytest.raises(ValueError, match="reward_overshoot"):
        WorldModelConfig(reward_overshoot=-1)
