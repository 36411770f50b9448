"""SAC: bounds of the squashed actor, TD-error reduction, the value head's distillation,
checkpoint round trip."""

import numpy as np
import pytest
import torch

from mbrl_control.agents.checkpoint import load_agent, save_agent
from mbrl_control.agents.sac import SAC
from mbrl_control.agents.value import TerminalValue
from mbrl_control.tasks import get_task


def fixed_batch(rows: int = 128, seed: int = 3) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(rows, 5, generator=g)
    return {
        "obs": obs,
        "action": torch.rand(rows, 1, generator=g) * 20 - 10,
        "reward": -obs[:, 0].square(),
        "next_obs": obs + 0.1 * torch.randn(rows, 5, generator=g),
    }


def test_actor_stays_inside_the_action_bounds(agent: SAC):
    obs = torch.randn(256, 5) * 10
    action, log_prob = agent.actor(obs, torch.randn(256, 1) * 3)
    assert torch.all(action.abs() <= 10.0) and torch.isfinite(log_prob).all()
    assert torch.all(agent.actor.mean_action(obs).abs() <= 10.0)


def test_update_reduces_td_error_on_a_fixed_batch(agent: SAC, seeds):
    batch, eps = fixed_batch(seed=seeds(3)), torch.zeros(128, 1)
    before = float(agent.td_error(batch, eps))
    metrics = [agent.update(batch) for _ in range(500)]
    after = float(agent.td_error(batch, eps))
    assert after < 0.6 * before
    assert set(metrics[-1]) == {"critic_loss", "actor_loss", "alpha", "entropy", "q", "value_loss"}


def test_value_head_follows_the_critics_at_the_mean_action(agent: SAC, seeds):
    batch = fixed_batch(seed=seeds(3))
    for _ in range(500):  # the critics learn a spread of values; the head tracks them
        agent.update(batch)
    spread = float(agent.value_target(batch["obs"]).var())
    assert spread > 1.0
    assert agent.value_error(batch["obs"]).item() < 0.02 * spread


def test_targets_follow_the_critic_by_polyak_averaging(agent: SAC, seeds):
    target = [p.clone() for p in agent.target.parameters()]
    agent.update(fixed_batch(seed=seeds(3)))
    online = list(agent.critic.parameters())
    for old, new, w in zip(target, agent.target.parameters(), online):
        torch.testing.assert_close(new, old + agent.cfg.tau * (w - old))


def test_checkpoint_round_trip(agent: SAC, tmp_path):
    save_agent(tmp_path / "agent.pt", agent, {"note": "test"})
    loaded, prov = load_agent(tmp_path / "agent.pt")
    obs = torch.randn(8, 5)
    with torch.no_grad():
        torch.testing.assert_close(
            TerminalValue(loaded.value)(obs),
            TerminalValue(agent.value)(obs),
        )
    assert prov == {"note": "test"}
    (tmp_path / "bad.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"bad\.pt"):
        load_agent(tmp_path / "bad.pt")


def test_bounds_come_from_the_task():
    task = get_task("panda_reach")
    agent = SAC(task.obs_dim, task.low, task.high)
    action = agent.act(torch.zeros(4, task.obs_dim))
    assert np.all(action.numpy() >= task.low - 1e-6) and np.all(action.numpy() <= task.high + 1e-6)


def test_normalizers_floor_a_constant_input(agent: SAC):
    """A constant goal or locked joint is not divided by ~0 (the ensemble's input rule)."""
    from mbrl_control.models.config import INPUT_STD_FLOOR

    obs_dim, act_dim = agent.actor.obs_norm.mean.shape[0], agent.actor.act_dim
    obs = torch.randn(256, obs_dim)
    obs[:, 1] = 0.3  # never varies
    agent.fit_normalizers(obs, torch.zeros(256, act_dim))
    assert float(agent.actor.obs_norm.std[1]) == pytest.approx(INPUT_STD_FLOOR)
    assert float(agent.critic.in_norm.std[-1]) == pytest.approx(INPUT_STD_FLOOR)
