"""The latent terminal value (mbrl_control/latent/value.py): lambda-returns, the head fits the
discounted returns of a small sequence set, the planner's score adds gamma^H V(s_H) and the
plan follows a high value, the exported graph matches torch with the head, and runs from before
the head (no ``value`` in settings.json) load and resume unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from mbrl_control.latent import WorldModel, WorldModelConfig
from mbrl_control.latent.planner import LatentPlannerConfig, imagined_return, latent_cem_plan
from mbrl_control.latent.rssm import LatentState
from mbrl_control.latent.value import (
    ValueConfig,
    ValueHead,
    fit_value,
    imagined_features,
    lambda_returns,
)

SMALL = WorldModelConfig(depth=8, deter=32, stoch=8, hidden=32)
PLAN = LatentPlannerConfig(horizon=6, iterations=3, population=24, elites=4)


def test_lambda_returns_by_hand() -> None:
    r = torch.tensor([[1.0, 2.0]])
    v = torch.tensor([[0.0, 10.0, 20.0]])
    g = lambda_returns(r, v, 0.5, 0.5)
    g1 = 2.0 + 0.5 * (0.5 * 20.0 + 0.5 * 20.0)  # G_2 = v_2
    g0 = 1.0 + 0.5 * (0.5 * 10.0 + 0.5 * g1)
    torch.testing.assert_close(g, torch.tensor([[g0, g1]]))
    # lambda 1: Monte-Carlo with the end bootstrapped; lambda 0: one-step TD
    torch.testing.assert_close(lambda_returns(r, v, 0.5, 1.0)[0, 0], torch.tensor(1 + 1 + 5.0))
    torch.testing.assert_close(lambda_returns(r, v, 0.5, 0.0)[0, 0], torch.tensor(1 + 5.0))
    with pytest.raises(ValueError, match="one longer"):
        lambda_returns(r, v[:, :2], 0.5, 0.5)
    with pytest.raises(ValueError, match=r"discount=1\.0"):
        ValueConfig(discount=1.0)


def _chains(episodes: int = 4, steps: int = 16, tail: int = 4, seed: int = 0):
    """Sequences whose discounted return to go is a function of the features: one-hot time
    and episode, an absorbing state (reward 0 forever) for the last ``tail`` steps."""
    gen = torch.Generator().manual_seed(seed)
    f = torch.zeros(episodes, steps, steps + episodes + 1)
    for e in range(episodes):
        for t in range(steps - tail):
            f[e, t, t] = f[e, t, steps + e] = 1.0
        f[e, steps - tail :, -1] = 1.0  # absorbing
    rewards = -torch.rand(episodes, steps, generator=gen)
    rewards[:, steps - tail - 1 :] = 0.0  # nothing after reaching the absorbing state
    return f, rewards


def _mc(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    out, g = torch.zeros_like(rewards), torch.zeros(rewards.shape[0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        g = rewards[:, t] + gamma * g
        out[:, t] = g
    return out


def test_value_head_fits_the_discounted_returns_of_a_small_sequence_set() -> None:
    features, rewards = _chains()
    torch.manual_seed(0)
    head = ValueHead(features.shape[-1], ValueConfig(discount=0.9, lam=0.9, target_ema=0.05,
                                                     hidden=64, imagine=0))  # fmt: skip
    losses = fit_value(head, features, rewards, updates=1500, batch=64, lr=3e-3,
                       generator=torch.Generator().manual_seed(0))  # fmt: skip
    truth = _mc(rewards, 0.9)  # (E, T): the absorbing tail's value is 0
    with torch.no_grad():
        err = (head(features) - truth)[:, :-1]
    scale = float(truth.abs().max())  # ~3.5 reward units
    assert scale > 1.0 and losses[-1] < 0.05 * losses[0]
    assert float(err.abs().max()) < 0.05 * scale, float(err.abs().max())


def test_sequence_loss_trains_the_head_inside_the_world_model() -> None:
    """train-pixels' path: the value term of WorldModel.loss on detached features, imagined
    states included, with the EMA target moving after each step."""
    torch.manual_seed(0)
    model = WorldModel(1, SMALL, ValueConfig(imagine=3))
    images = torch.randint(0, 255, (2, 6, 3, 64, 64), dtype=torch.uint8)
    actions, rewards = torch.rand(2, 6, 1) * 2 - 1, -torch.rand(2, 6)
    loss, terms = model.loss(images, actions, rewards)
    assert "value" in terms and np.isfinite(terms["value"])
    loss.backward()
    assert model.value.net[0].weight.grad is not None
    assert all(p.grad is None for p in model.value.target.parameters())
    before = [p.clone() for p in model.value.target.parameters()]
    torch.optim.SGD(model.parameters(), 0.1).step()
    model.value.update_target()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.value.target.parameters()))
    # the value term never reaches the latent: its gradient on the encoder is the others'
    model.zero_grad()
    post, _ = model.filter(images, actions)
    model.value.loss(post.features, rewards).backward()
    assert model.encoder.net[0].weight.grad is None
    # imagined features: step k from state t stands for t+k+1; NaN past the sequence
    imag = imagined_features(model, post, actions, 3)
    assert imag.shape == (3, 2, 6, post.features.shape[-1])
    assert torch.isnan(imag[2, :, 3:]).all() and torch.isfinite(imag[2, :, :3]).all()


def _value_model(readout: torch.Tensor) -> WorldModel:
    """A model whose reward head is 0 everywhere and whose value is ``readout . features``."""
    torch.manual_seed(0)
    model = WorldModel(1, SMALL, ValueConfig(discount=0.9)).eval()
    last = model.reward[-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    linear = nn.Linear(readout.numel(), 1, bias=False)
    linear.weight.data = readout[None].clone()
    model.value.net = linear
    return model


def _start(model: WorldModel) -> LatentState:
    z = torch.randn(1, model.rssm.stoch, generator=torch.Generator().manual_seed(2))
    h = torch.randn(1, model.rssm.deter, generator=torch.Generator().manual_seed(3))
    return LatentState(h, z, torch.ones_like(z), z)


def test_planner_adds_the_terminal_value_and_follows_it() -> None:
    torch.manual_seed(0)
    probe = WorldModel(1, SMALL).eval()
    start = _start(probe)
    up, down = torch.ones(1, 6, 1), -torch.ones(1, 6, 1)
    with torch.no_grad():  # the two plans' last imagined features, from the same weights
        f_up = _last_features(probe, start, up)
        f_down = _last_features(probe, start, down)
    model = _value_model(f_up - f_down)  # V higher where full push leads than full pull
    plain = WorldModel(1, SMALL).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith("value.")})  # fmt: skip
    plans = torch.cat([up, down])  # (2, 6, 1)
    with torch.no_grad():
        with_value = imagined_return(model, start, plans)
        without = imagined_return(plain, start, plans)
        v = model.value(torch.stack([f_up, f_down]))
    # no reward anywhere: without a value both plans score 0; with it, 0.9^6 V(s_H)
    assert torch.equal(without, torch.zeros(2))
    torch.testing.assert_close(with_value, 0.9**6 * v)
    assert float(with_value[0]) > float(with_value[1])
    model.value.config = ValueConfig(discount=0.9, weight=0.5, plan_discount=False)
    with torch.no_grad():  # sum r_h + w V(s_H)
        torch.testing.assert_close(imagined_return(model, start, plans), 0.5 * v)
    model.value.config = ValueConfig(discount=0.9)
    # CEM with the value pushes (its plan leads to a higher value than CEM without it)
    noise = torch.randn(PLAN.noise_shapes(1)["action_noise"],
                        generator=torch.Generator().manual_seed(1))  # fmt: skip
    with torch.no_grad():
        a_v, plan_v, ret_v = latent_cem_plan(start, torch.zeros(6, 1), noise, model=model,
                                             cfg=PLAN)  # fmt: skip
        a_p, plan_p, _ = latent_cem_plan(start, torch.zeros(6, 1), noise, model=plain, cfg=PLAN)
        v_plans = imagined_return(model, start, torch.stack([plan_v, plan_p]))
    assert float(v_plans[0]) > float(v_plans[1])
    assert float(plan_v.mean()) > 0.3 and not torch.equal(a_v, a_p)
    assert float(ret_v) > 0


def _last_features(model: WorldModel, start: LatentState, actions: torch.Tensor) -> torch.Tensor:
    state = LatentState(start.h, start.sample, torch.ones_like(start.sample), start.sample)
    for t in range(actions.shape[1]):
        state = model.rssm.img_step(state, actions[:, t], sample=False)
    return state.features[0]


def test_exported_planner_with_value_matches_torch(tmp_path) -> None:
    from mbrl_sim.pixel_env import make_pixel_env

    from mbrl_control.latent.agent import TorchPixelPlanner
    from mbrl_control.latent.export import export_pixel_planner
    from mbrl_control.latent.runtime import OnnxPixelPlanner

    env = make_pixel_env("cartpole_swingup", seed=0)
    rng = np.random.default_rng(0)
    frame, _ = env.reset(seed=0)
    frames = [frame]
    for _ in range(5):
        frame, *_ = env.step(rng.uniform(-10, 10, 1).astype(np.float32))
        frames.append(frame)
    env.close()
    torch.manual_seed(0)
    model = WorldModel(1, SMALL, ValueConfig(discount=0.95)).eval()
    with torch.no_grad():  # a value that matters next to the untrained reward head
        model.value.net[-1].bias.fill_(5.0)
        model.value.net[-1].weight.mul_(50.0)
    path = export_pixel_planner(model, [-10.0], [10.0], PLAN, tmp_path / "v.onnx", {"task": "x"})
    onnx = OnnxPixelPlanner(path, seed=3)
    ref = TorchPixelPlanner(model, [-10.0], [10.0], PLAN, seed=3)
    assert onnx.metadata["value_head"]["discount"] == 0.95
    plain = TorchPixelPlanner(_without_value(model), [-10.0], [10.0], PLAN, seed=3)
    differs = False
    for frame in frames:
        a_o, a_t = onnx.act(frame), ref.act(frame)
        plain.act(frame)
        np.testing.assert_allclose(a_o, a_t, atol=1e-4)
        assert abs(onnx.last_return - ref.last_return) < 1e-3 * max(1.0, abs(ref.last_return))
        differs |= abs(ref.last_return - plain.last_return) > 1.0
    assert differs  # the graph scores with the value, not without


def _without_value(model: WorldModel) -> WorldModel:
    plain = WorldModel(model.action_dim, model.config).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith("value.")})  # fmt: skip
    return plain


PIXD_SETTINGS = {  # a run from before the value head (pixD's settings, the LQR as teacher)
    "task": "cartpole_swingup", "start": "balance", "env_steps": 20000, "seed_episodes": 40,
    "updates_per_episode": 100, "batch": 16, "length": 16, "lr": 0.002, "grad_clip": 100.0,
    "action_repeat": 2, "explore_std": 0.3, "teacher": {"kind": "lqr", "dynamics": "nominal",
    "weights": None}, "eval_every": 2000, "eval_episodes": 5, "seed": 1,
    "model": {"depth": 16, "deter": 128, "stoch": 16, "hidden": 128, "free_nats": 1.0,
              "kl_scale": 1.0, "kl_balance": 0.8, "reward_scale": 10.0,
              "foreground_weight": 20.0, "foreground_threshold": 0.15, "reward_overshoot": 12},
    "planner": {"horizon": 12, "iterations": 4, "population": 64, "elites": 8,
                "init_std": 0.8, "momentum": 0.0, "seed": 0},
}  # fmt: skip


def test_settings_without_the_key_load_and_resume_unchanged(tmp_path) -> None:
    from mbrl_control.latent.oracle_teacher import WEIGHTS
    from mbrl_control.latent.training import PixelTrainConfig, check_resume, run_config

    old = {**PIXD_SETTINGS, "teacher": {**PIXD_SETTINGS["teacher"], "weights": list(WEIGHTS)}}
    (tmp_path / "settings.json").write_text(json.dumps(old))
    cfg = run_config(tmp_path)
    assert cfg.value is None and cfg.planner.horizon == 12 and cfg.teacher == "lqr"
    assert "value" not in cfg.settings()
    check_resume(cfg, tmp_path)  # the same run: no change
    # a checkpoint of a model without the head loads into the run's model as before
    model = WorldModel(1, cfg.model, cfg.value)
    assert model.value is None and not any(k.startswith("value.") for k in model.state_dict())
    # turning the head on is a change of settings, named
    on = PixelTrainConfig.from_settings({**old, "value": ValueConfig().as_dict()}, old["task"])
    assert on.value == ValueConfig() and on.settings()["value"]["discount"] == 0.98
    with pytest.raises(ValueError, match=r"value\.discount None -> 0\.98"):
        check_resume(on, tmp_path)
    (tmp_path / "settings.json").write_text(json.dumps(on.settings()))
    assert run_config(tmp_path) == on


def test_score_discounts_the_imagined_rewards() -> None:
    torch.manual_seed(0)
    model = WorldModel(1, SMALL, ValueConfig(discount=0.5, weight=0.0)).eval()
    start = _start(model)
    plans = torch.rand(3, 4, 1, generator=torch.Generator().manual_seed(4)) * 2 - 1
    with torch.no_grad():
        state, by_hand = LatentState(start.h.expand(3, -1), start.sample.expand(3, -1),
                                     torch.ones(3, 8), start.sample.expand(3, -1)), 0.0  # fmt: skip
        for t in range(4):
            state = model.rssm.img_step(state, plans[:, t], sample=False)
            by_hand = by_hand + 0.5**t * model.reward(state.features).squeeze(-1)
        torch.testing.assert_close(imagined_return(model, start, plans), by_hand)


def test_ensemble_reads_a_lower_bound() -> None:
    from mbrl_control.latent.value import ValueEnsemble

    torch.manual_seed(0)
    heads = [ValueHead(5, ValueConfig(weight=0.5)) for _ in range(3)]
    ens = ValueEnsemble(heads, pessimism=2.0)
    f = torch.randn(7, 5)
    with torch.no_grad():
        v = torch.stack([h(f) for h in heads], -1)  # (7, 3)
        torch.testing.assert_close(ens(f), v.mean(-1) - 2.0 * v.std(-1, unbiased=False))
    assert ens.config.weight == 0.5
    with pytest.raises(ValueError, match="pessimism=-1"):
        ValueEnsemble(heads, -1.0)


def test_study_refuses_bad_arguments_in_one_line(tmp_path, capsys) -> None:
    from mbrl_control.latent.value_study import main

    for argv, says in [
        ([str(tmp_path), "--out", str(tmp_path / "o")], "not a train-pixels output folder"),
        ([str(tmp_path), "--out", "o", "--horizons", "12,12"], "distinct horizons"),
        ([str(tmp_path), "--out", "o", "--weights", "x"], "--weights"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and says in err and "\n" not in err, err
