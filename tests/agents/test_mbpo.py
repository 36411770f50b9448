"""MBPO pieces: schedules, branched rollouts that stop on disagreement, the buffer, a smoke run."""

import itertools
import math

import numpy as np
import pytest
import torch

from mbrl_control.agents.buffer import ReplayBuffer
from mbrl_control.agents.config import MBPOConfig
from mbrl_control.agents.mbpo import branch, mixed_batch, real_ratio, rollout_length, train_mbpo
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.tasks import get_task


def ensemble(identical: bool) -> Ensemble:
    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(5, 1, members=3, hidden=16, layers=2)).eval()
    if identical:  # every member a copy of member 0: zero disagreement
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() == 3 and p.shape[0] == 3:
                    p.copy_(p[:1].expand_as(p))
    return model


def test_rollout_length_ramps_from_one_to_k():
    cfg = MBPOConfig(rollout_length=5, length_ramp=(2, 10))
    lengths = [rollout_length(e, cfg) for e in range(14)]
    assert lengths[:3] == [1, 1, 1] and lengths[10:] == [5] * 4
    assert lengths == sorted(lengths)


def test_real_ratio_follows_the_model_error_schedule():
    cfg = MBPOConfig(real_ratio_max=1.0, real_ratio_min=0.05, error_high=0.1, error_low=0.001)
    assert real_ratio(0.5, cfg) == 1.0 and real_ratio(math.nan, cfg) == 1.0
    assert real_ratio(1e-4, cfg) == pytest.approx(0.05)
    assert real_ratio(0.01, cfg) == pytest.approx(0.525)  # geometric middle -> halfway
    errors = np.geomspace(0.2, 1e-4, 30)
    ratios = [real_ratio(e, cfg) for e in errors]
    assert all(a >= b for a, b in itertools.pairwise(ratios))


def test_branch_runs_full_length_when_members_agree(agent):
    task, g = get_task("cartpole_swingup"), torch.Generator().manual_seed(0)
    rows, lengths = branch(ensemble(True), agent, task, torch.randn(32, 5), 4, 1e-3, g)
    assert torch.all(lengths == 4) and rows["obs"].shape == (128, 5)
    assert torch.allclose(
        rows["reward"], -task.cost(rows["obs"], rows["action"], rows["next_obs"], torch.zeros(0))
    )


def test_branch_stops_on_high_disagreement(agent):
    task, model, g = get_task("cartpole_swingup"), ensemble(False), torch.Generator().manual_seed(0)
    rows, lengths = branch(model, agent, task, torch.randn(32, 5), 4, 1e-9, g)
    assert torch.all(lengths == 0) and rows["obs"].shape[0] == 0
    _, loose = branch(model, agent, task, torch.randn(32, 5), 4, 1e9, g)
    assert torch.all(loose == 4)


def test_buffer_wraps_and_mixes_in_the_given_ratio():
    real, imagined = ReplayBuffer(10, 2, 1), ReplayBuffer(10, 2, 1)
    rows = {"obs": torch.arange(24.0).reshape(12, 2), "action": torch.zeros(12, 1),
            "reward": torch.zeros(12), "next_obs": torch.zeros(12, 2)}  # fmt: skip
    real.add(rows)
    assert len(real) == 10 and real.all()["obs"][:, 0].min() == 4.0  # the two oldest are gone
    imagined.add({**rows, "reward": torch.ones(12)})
    batch = mixed_batch(real, imagined, 0.25, 40, np.random.default_rng(0))
    assert int((batch["reward"] == 0).sum()) == 10


def test_mbpo_smoke_returns_a_history(agent):
    task, model = get_task("cartpole_swingup"), ensemble(True)
    real = ReplayBuffer(100, 5, 1)
    obs = torch.randn(100, 5)
    real.add({"obs": obs, "action": torch.zeros(100, 1), "reward": torch.zeros(100),
              "next_obs": obs + 0.01})  # fmt: skip
    cfg = MBPOConfig(epochs=2, branches=16, updates_per_epoch=3, batch_size=8, length_ramp=(0, 1))
    out = train_mbpo(agent, model, task, real, cfg)
    assert [h["rollout_length"] for h in out["history"]] == [1, 5]
    assert out["real_steps"] == 0 and 0.0 < out["history"][-1]["real_ratio"] <= 1.0


def test_mbpo_with_real_steps_grows_the_data_and_refits_the_model(agent):
    """The real-step path: the actor steps the PyBullet cart-pole, every ``retrain_every``
    real steps the model is refit and the real share follows the refit's hold-out error."""
    mbrl_sim = pytest.importorskip("mbrl_sim")
    task, model = get_task("cartpole_swingup"), ensemble(False)
    real = ReplayBuffer(1000, 5, 1)
    obs = torch.randn(200, 5)
    real.add({"obs": obs, "action": torch.zeros(200, 1), "reward": torch.zeros(200),
              "next_obs": obs + 0.01})  # fmt: skip
    before = [p.clone() for p in model.parameters()]
    cfg = MBPOConfig(epochs=2, branches=16, updates_per_epoch=2, batch_size=8,
                     env_steps_per_epoch=120, retrain_every=100, retrain_epochs=2)  # fmt: skip
    env = mbrl_sim.make_env(task.name, profile="default", seed=0)
    out = train_mbpo(agent, model, task, real, cfg, env=env)
    env.close()
    assert out["real_steps"] == 240 and out["model_refits"] == 2 and len(real) == 440
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    last = out["history"][-1]
    assert math.isfinite(last["model_error"]) and last["real_ratio"] == real_ratio(
        last["model_error"], cfg
    )
    finished = [r for h in out["history"] for r in h["real_returns"]]
    assert len(finished) == 1 and finished[0] < 0  # one 200-step episode, costs > 0


def test_branch_keeps_each_rows_goal_and_scores_with_it():
    """Goal tasks: agent rows are state + goal; the model sees the state, the goal rides along."""
    task = get_task("panda_reach")
    o, g = task.obs_dim, task.goal_dim
    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(o, task.act_dim, members=2, hidden=16, layers=2)).eval()
    from mbrl_control.agents.sac import SAC

    agent = SAC(o + g, task.low, task.high)
    start = torch.cat([torch.randn(8, o) * 0.1, torch.rand(8, g)], dim=-1)  # (B, O+G)
    rows, lengths = branch(model, agent, task, start, 3, 1e9, torch.Generator().manual_seed(0))
    assert rows["obs"].shape == (24, o + g) and torch.all(lengths == 3)
    goals = start[:, o:].repeat(3, 1)  # step-major rows
    torch.testing.assert_close(rows["obs"][:, o:], goals)
    torch.testing.assert_close(rows["next_obs"][:, o:], goals)
    cost = task.cost(rows["obs"][:, :o], rows["action"], rows["next_obs"][:, :o], goals)
    torch.testing.assert_close(rows["reward"], -cost)


def test_mbpo_stop_planner_penalty_and_report_use_one_disagreement():
    """Issue 17: the MBPO branch stop, the planner's penalty term and the validation report
    compute the same epistemic disagreement (member std / target std, mean over dims) for
    the same one-step member predictions; a calibration factor scales all three alike."""
    from mbrl_control.agents.mbpo import disagreement as mbpo_disagreement
    from mbrl_control.models.evaluation import disagreement as report_disagreement
    from mbrl_control.planning.config import PlannerConfig
    from mbrl_control.planning.rollout import Rollout

    model, task = ensemble(False), get_task("cartpole_swingup")
    with torch.no_grad():
        model.out_norm.std.copy_(torch.tensor([0.5, 1.0, 2.0, 0.3, 0.7]))
    g = torch.Generator().manual_seed(0)
    obs, action = torch.randn(5, generator=g), torch.rand(4, 1, 1, generator=g) * 2 - 1
    for scale in (None, torch.full((1, 5), 4.0)):
        if scale is not None:
            model.set_calibration(scale, {"method": "test"})
        with torch.no_grad():
            mean, _ = model(obs.expand(3, 4, 5), action[:, 0].expand(3, 4, 1))  # (E, N, O)
            stop = mbpo_disagreement(model, mean)  # (N,)
            cfg = PlannerConfig(
                kind="shooting",
                iterations=1,
                horizon=1,
                population=4,
                particles=1,
                elite_frac=0.5,
                propagation="mean",
            )
            _, planner, _ = Rollout(model, task, cfg)(
                obs, torch.zeros(0), torch.as_tensor(task.default_weights), torch.zeros(1), action
            )
        torch.testing.assert_close(planner, stop, rtol=1e-5, atol=1e-7)
        assert report_disagreement(model, mean)["mean"] == pytest.approx(float(stop.mean()))
    assert float(stop.mean()) > 0
