"""``cost: learned``: the ensemble's reward head as the planner's per-step cost.

A head that is exactly the analytic cost must plan exactly like the analytic cost; a head
fitted on data must pick (nearly) the same first action; torch and onnxruntime must agree.
"""

import dataclasses

import numpy as np
import pytest
import torch
from planning_systems import DoubleIntegrator

from mbrl_control import (
    Ensemble,
    EnsembleConfig,
    GymTask,
    PlannerConfig,
    TrainConfig,
    build_planner,
    export_planner,
    fit,
)
from mbrl_control.models.cost_targets import transition_costs
from mbrl_control.planning.rollout import Rollout

CONFIGS = {
    "cem": PlannerConfig(kind="cem", horizon=8, population=64, particles=5, iterations=3),
    "icem": PlannerConfig(
        kind="icem", horizon=8, population=64, particles=5, iterations=3, keep_elites_frac=0.5
    ),
    "mppi": PlannerConfig(kind="mppi", horizon=8, population=64, particles=5, iterations=2),
}
LOW, HIGH = [-2.0], [2.0]


def quadratic(obs, action, next_obs=None):
    """Regulate the double integrator to the origin: p² + 0.1 v² + 0.01 u² (from obs, action)."""
    return obs[..., 0] ** 2 + 0.1 * obs[..., 1] ** 2 + 0.01 * action[..., 0] ** 2


def analytic_task():
    return GymTask(name="di", obs_dim=2, action_low=LOW, action_high=HIGH, cost=quadratic)


def learned_task():
    return GymTask(name="di", obs_dim=2, action_low=LOW, action_high=HIGH, cost="learned")


class HeadedIntegrator(DoubleIntegrator):
    """True dynamics whose "learned" cost head is exactly :func:`quadratic`."""

    def forward_with_cost(self, obs, action):
        nxt, logvar = self(obs, action)
        return nxt, logvar, quadratic(obs, action)


@pytest.mark.parametrize("kind", sorted(CONFIGS))
@pytest.mark.parametrize("propagation", ["ts_inf", "mean"])
def test_an_exact_head_plans_exactly_like_the_analytic_cost(kind, propagation, seeds):
    cfg = dataclasses.replace(CONFIGS[kind], propagation=propagation, seed=seeds(0))
    model = HeadedIntegrator(members=5)
    analytic = build_planner(model, analytic_task(), cfg)
    learned = build_planner(model, learned_task(), cfg)
    obs = np.array([1.0, -0.5], np.float32)
    for _ in range(4):
        a, b = analytic.act(obs), learned.act(obs)
        np.testing.assert_allclose(a, b, atol=1e-5)
        obs = model.step(torch.as_tensor(obs)[None], torch.as_tensor(a)[None])[0].numpy()
    assert learned.last_info["plan_cost"] == pytest.approx(analytic.last_info["plan_cost"], 1e-4)


def test_a_learned_cost_needs_a_reward_head():
    plain = Ensemble(EnsembleConfig(2, 1, members=5, hidden=8, layers=1))
    with pytest.raises(ValueError, match="cost 'learned' but the ensemble has no reward head"):
        build_planner(plain, learned_task(), CONFIGS["cem"])
    with pytest.raises(ValueError, match="has no learned cost head"):
        build_planner(DoubleIntegrator(members=5), learned_task(), CONFIGS["cem"])
    with pytest.raises(ValueError, match="no critics to derive cost targets"):
        transition_costs(learned_task(), np.zeros((1, 2)), np.zeros((1, 1)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="per-step cost is the ensemble's reward head"):
        learned_task().cost_np(np.zeros(2), np.zeros(1), np.zeros(2))


def headed_ensemble(seed):
    """An unfitted ensemble with a reward head and non-trivial normalizers (parity checks)."""
    cfg = EnsembleConfig(2, 1, members=5, hidden=16, layers=2, reward_head=True, seed=seed)
    model = Ensemble(cfg)
    with torch.no_grad():
        model.in_norm.std.copy_(torch.tensor([1.0, 0.5, 2.0]))
        model.out_norm.std.copy_(torch.tensor([0.2, 0.3]))
        model.cost_norm.mean.fill_(1.5)
        model.cost_norm.std.fill_(2.0)
    return model.eval()


@pytest.fixture(scope="module")
def fitted():
    """An ensemble with a reward head fitted on random double-integrator transitions."""
    rng = np.random.default_rng(0)
    obs = rng.uniform([-2, -2], [2, 2], (1500, 2)).astype(np.float32)
    action = rng.uniform(LOW, HIGH, (1500, 1)).astype(np.float32)
    true = DoubleIntegrator(members=1)
    next_obs = true.step(torch.as_tensor(obs), torch.as_tensor(action)).numpy()
    cost = transition_costs(analytic_task(), obs, action, next_obs)
    np.testing.assert_allclose(cost, quadratic(obs, action), rtol=1e-5)  # targets = the critics
    cfg = EnsembleConfig.for_task(
        analytic_task(), members=5, hidden=64, layers=2, reward_head=True, seed=0
    )
    model = Ensemble(cfg)
    metrics = fit(
        model,
        obs,
        action,
        next_obs,
        None,
        TrainConfig(max_epochs=40, patience=10, batch_size=64),
        cost=cost,
    )
    with torch.no_grad():
        e = model.members
        head = model.forward_cost(
            torch.as_tensor(obs).expand(e, -1, -1), torch.as_tensor(action).expand(e, -1, -1)
        )
    rel = float((head.mean(0).numpy() - cost).std() / cost.std())
    assert rel < 0.1, f"reward head relative error {rel:.3f}"  # the head is accurate here
    return model, metrics


@pytest.mark.slow  # the fit takes ~40 s on a loaded 2-core machine
def test_a_fitted_head_picks_the_first_action_of_the_analytic_cost(fitted, seeds):
    model, _ = fitted
    cfg = CONFIGS["cem"]
    for obs in ([1.5, 0.0], [-1.0, 0.5], [0.5, -1.5]):
        obs = np.array(obs, np.float32)
        analytic = build_planner(model, analytic_task(), cfg, seed=seeds(1)).act(obs)
        learned = build_planner(model, learned_task(), cfg, seed=seeds(1)).act(obs)
        # loose: 15 % of the action range (the head is a fit, the planner samples)
        assert abs(float(learned[0] - analytic[0])) < 0.15 * (HIGH[0] - LOW[0]), (obs, analytic)


@pytest.mark.parametrize("layout", ["gemm", "batched"])
@pytest.mark.parametrize("kind", ["cem", "icem"])
def test_learned_cost_torch_and_onnx_agree(kind, layout, tmp_path, seeds):
    from mbrl_control import OnnxPlanner

    model = headed_ensemble(seeds(3))
    task = learned_task()
    cfg = dataclasses.replace(CONFIGS[kind], horizon=5, population=32)
    path = export_planner(model, task, cfg, tmp_path / "p.onnx", layout=layout)
    onnx_planner = OnnxPlanner(path, seed=seeds(2))
    assert onnx_planner.metadata["cost"]["source"] == "learned"
    assert onnx_planner.metadata["task"]["cost_source"] == "learned"
    torch_planner = build_planner(model, task, cfg, seed=seeds(2))
    obs = np.array([1.0, 0.3], np.float32)
    for _ in range(3):
        np.testing.assert_allclose(torch_planner.act(obs), onnx_planner.act(obs), atol=1e-4)
        assert onnx_planner.last_info["plan_cost"] == pytest.approx(
            torch_planner.last_info["plan_cost"], rel=1e-4, abs=1e-4
        )


def test_rollout_cost_is_each_particles_own_member(seeds):
    """TS∞: particle p's cost comes from the member that propagates it (not the member mean)."""

    class Tagged(HeadedIntegrator):
        def forward_with_cost(self, obs, action):
            nxt, logvar = self(obs, action)
            return (
                nxt,
                logvar,
                torch.arange(self.members, dtype=obs.dtype)[:, None].expand(
                    self.members, obs.shape[1]
                ),
            )

    cfg = PlannerConfig(kind="cem", horizon=3, population=10, particles=10, iterations=1)
    rollout = Rollout(Tagged(members=5), learned_task(), cfg)
    cost, _, _ = rollout(
        torch.zeros(2), torch.zeros(0), torch.zeros(0), torch.zeros(1), torch.zeros(4, 3, 1)
    )
    # every candidate: 2 particles per member, members 0..4 -> mean tag 2 per step, H = 3
    np.testing.assert_allclose(cost.numpy(), 6.0)
