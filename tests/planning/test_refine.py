"""Gradient-refined planning: the explicit backward pass equals torch.autograd, the refined
plan never costs more, the exported graph matches torch, and what declares no derivative
is refused.

The reference gradient is autograd through the planner's own Rollout (the cost the planner
scores candidates with), in float64, so a relative tolerance of 1e-5 leaves only rounding.
"""

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mbrl_control.agents.config import SACConfig
from mbrl_control.agents.sac import SAC
from mbrl_control.agents.value import TerminalValue
from mbrl_control.export.gemm_ensemble import GemmEnsemble
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.planner import build_planner
from mbrl_control.planning.refine import GradientRefiner
from mbrl_control.tasks import get_task, load_task_file

sys.path.insert(0, str(Path(__file__).parent.parent / "tasks"))
from history_tasks import cartpole_with_history

REFINE = PlannerConfig(
    kind="icem",
    horizon=6,
    population=16,
    particles=2,
    iterations=2,
    elite_frac=0.25,
    refine_steps=2,
    action_rate_weight=0.1,
    discount=0.95,
)


def ensemble(task, activation="silu", members=2, seed=0, history=0):
    cfg = EnsembleConfig(
        task.obs_dim, task.act_dim, members=members, hidden=16, layers=2, seed=seed,
        activation=activation, action_history=history,
    )  # fmt: skip
    model = Ensemble(cfg)
    with torch.no_grad():  # non-trivial normalizers, so the folding is exercised
        d = task.obs_dim + task.act_dim
        model.in_norm.mean.copy_(torch.linspace(-0.5, 0.5, d))
        model.in_norm.std.copy_(torch.linspace(0.5, 2.0, d))
        model.out_norm.mean.copy_(torch.linspace(-0.1, 0.1, task.obs_dim))
        model.out_norm.std.copy_(torch.linspace(0.2, 0.4, task.obs_dim))
    return model.eval()


def value_head(task, seed=0):
    torch.manual_seed(seed)
    agent = SAC(task.obs_dim + task.goal_dim, task.low, task.high, SACConfig())
    with torch.no_grad():
        agent.value.obs_norm.std.copy_(torch.linspace(0.5, 1.5, task.obs_dim + task.goal_dim))
    return TerminalValue(agent.value)


def initial_obs(task, seed):
    """An observation of the task's initial-state distribution ``(O,)``."""
    position, velocity = task.sample_initial_state(np.random.default_rng(seed))
    return task.obs_from_joints(position, velocity)


def inputs(task, generator):
    f64 = torch.float64
    obs = torch.as_tensor(initial_obs(task, 0), dtype=f64)
    obs = obs + 0.1 * torch.randn(task.obs_dim, generator=generator, dtype=f64)
    goal = torch.as_tensor(task.sample_goal(np.random.default_rng(1)), dtype=f64)
    weights = torch.as_tensor(task.default_weights, dtype=f64)
    low, high = torch.as_tensor(task.low, dtype=f64), torch.as_tensor(task.high, dtype=f64)
    plan = low + (high - low) * torch.rand(REFINE.horizon, task.act_dim, generator=generator,
                                           dtype=f64)  # fmt: skip
    prev = plan[0].flip(0)
    return obs, goal, weights, prev, plan


def assert_gradient_is_autograd(refiner, obs, goal, weights, prev, plan):
    cost, grad = refiner.cost_and_gradient(obs, goal, weights, prev, plan)
    leaf = plan.clone().requires_grad_(True)
    reference = refiner.trial(obs, goal, weights, prev, leaf[None])[0][0]
    (expected,) = torch.autograd.grad(reference, leaf)
    torch.testing.assert_close(cost, reference.detach(), rtol=1e-10, atol=1e-10)
    relative = (grad - expected).abs().max() / expected.abs().max()
    assert expected.abs().max() > 0 and relative < 1e-5


@pytest.mark.parametrize("activation", ["silu", "relu", "tanh", "elu"])
@pytest.mark.parametrize("task_name", ["cartpole_swingup", "panda_reach"])
def test_gradient_equals_autograd_through_the_rollout(task_name, activation, seeds):
    """Members' MLPs, critics (computed and observed points), discount, action rate."""
    task = get_task(task_name)
    model = ensemble(task, activation, seed=seeds(0)).double()
    refiner = GradientRefiner(model, task, REFINE)
    generator = torch.Generator().manual_seed(seeds(1))
    for _ in range(2):
        assert_gradient_is_autograd(refiner, *inputs(task, generator))


def test_gradient_with_value_head_goal_and_export_model(seeds):
    """The terminal value's own backward pass, a goal input, and the export-side model."""
    task = get_task("panda_reach")
    model = ensemble(task, seed=seeds(0))
    for layout in ("gemm", "batched"):
        fast = GemmEnsemble(model, layout=layout).double()
        refiner = GradientRefiner(fast, task, REFINE, value_head(task, seeds(2)).double())
        assert refiner.value is not None
        assert_gradient_is_autograd(refiner, *inputs(task, torch.Generator().manual_seed(seeds(1))))


def test_gradient_through_the_action_history_block(seeds, tmp_path):
    """The last_actions block is copied, not predicted: its gradient reaches the action
    (and the action_rate critic reads the previous action from it)."""
    task = load_task_file(cartpole_with_history(tmp_path, steps=2))
    model = ensemble(task, seed=seeds(0), history=2).double()
    refiner = GradientRefiner(model, task, dataclasses.replace(REFINE, action_rate_weight=0.0))
    assert_gradient_is_autograd(refiner, *inputs(task, torch.Generator().manual_seed(seeds(1))))


def test_refinement_lowers_the_cost_and_stays_in_bounds(seeds):
    task = get_task("cartpole_swingup")
    model = ensemble(task, seed=seeds(0)).double()
    refiner = GradientRefiner(model, task, dataclasses.replace(REFINE, refine_steps=4))
    generator = torch.Generator().manual_seed(seeds(1))
    for _ in range(3):
        obs, goal, weights, prev, plan = inputs(task, generator)
        before = refiner.trial(obs, goal, weights, prev, plan[None])[0][0]
        refined = refiner(obs, goal, weights, prev, plan)
        after = refiner.trial(obs, goal, weights, prev, refined[None])[0][0]
        assert after < before  # a random plan is never a stationary point
        low, high = torch.as_tensor(task.low), torch.as_tensor(task.high)
        assert ((refined >= low) & (refined <= high)).all()


def test_a_rollout_at_the_sentinel_keeps_the_plan(seeds):
    """A non-finite rollout (cost at the sentinel, gradient NaN) leaves the plan as it was."""
    task = get_task("cartpole_swingup")
    model = ensemble(task, seed=seeds(0))
    refiner = GradientRefiner(model, task, REFINE)
    obs, goal, weights, prev, plan = (x.float() for x in inputs(task, torch.Generator()))
    obs = obs.clone()
    obs[3] = float("inf")
    refined = refiner(obs, goal, weights, prev, plan)
    torch.testing.assert_close(refined, plan, rtol=0, atol=0)


def test_planner_with_refinement_plans_at_least_as_well(seeds):
    """The whole step: the refined plan costs no more than the sampled one it started from."""
    task = get_task("cartpole_swingup")
    model = ensemble(task, seed=seeds(0))
    plain = dataclasses.replace(REFINE, refine_steps=0)
    base = build_planner(model, task, plain, seed=seeds(1))
    refined = build_planner(model, task, REFINE, seed=seeds(1))
    obs = initial_obs(task, seeds(2))
    for _ in range(3):
        base.act(obs)
        refined.act(obs)
        start = torch.as_tensor(base.carry["plan"])
        end = torch.as_tensor(refined.carry["plan"])
        args = (torch.as_tensor(obs), torch.zeros(0), torch.as_tensor(task.default_weights))
        prev = torch.zeros(task.act_dim)
        trial = refined.refiner.trial
        assert trial(*args, prev, end[None])[0][0] <= trial(*args, prev, start[None])[0][0] + 1e-5


def test_what_declares_no_derivative_is_refused():
    task = get_task("cartpole_swingup")
    model = ensemble(task)
    with pytest.raises(ValueError, match=r"critic\(s\) \['energy'\]"):
        GradientRefiner(ensemble(get_task("examples/acrobot/acrobot_swingup.task.yaml")),
                        get_task("examples/acrobot/acrobot_swingup.task.yaml"), REFINE)  # fmt: skip
    with pytest.raises(ValueError, match=r"value function .* declares no derivative"):
        GradientRefiner(model, task, REFINE, value_fn=lambda x: x[:, 0])
    with pytest.raises(ValueError, match=r"model .* declares no derivative"):
        GradientRefiner(torch.nn.Identity(), task, REFINE)
    with pytest.raises(ValueError, match="uncertainty_weight = 0"):
        dataclasses.replace(REFINE, uncertainty_weight=1.0)
    with pytest.raises(ValueError, match="refine_step_size"):
        dataclasses.replace(REFINE, refine_step_size=0.0)


@pytest.mark.parametrize("kind", ["cem", "icem", "mppi"])
def test_exported_graph_matches_torch(kind, seeds, tmp_path):
    """Refinement is inside the ONNX graph: onnxruntime gives torch's action and plan."""
    pytest.importorskip("onnxruntime")
    sys.path.insert(0, str(Path(__file__).parent.parent / "export"))
    from test_export import run_both

    task = get_task("panda_reach")
    cfg = dataclasses.replace(REFINE, kind=kind, return_mode="best" if kind == "cem" else "mean")
    model = ensemble(task, seed=seeds(0))
    expected, got, names = run_both(model, task, cfg, tmp_path / "p.onnx", seed=seeds(1))
    for name, want, have in zip(names, expected, got):
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-4, err_msg=name)
    plain = dataclasses.replace(cfg, refine_steps=0)
    unrefined, _, _ = run_both(model, task, plain, tmp_path / "q.onnx", seed=seeds(1))
    assert not np.allclose(unrefined[1], expected[1])  # the plan did move


def test_a_task_file_asking_refinement_it_cannot_have_fails_at_load(tmp_path):
    """Refused when the task file is read, naming the key and the critic, not after a
    pretraining when the planner is exported."""
    import yaml

    from mbrl_control.tasks import TaskFileError

    source = Path(__file__).parents[2] / "examples/acrobot/acrobot_swingup.task.yaml"
    data = yaml.safe_load(source.read_text())
    data["robot"]["urdf"] = str(source.parent / data["robot"]["urdf"])
    data["planner"] = {**data.get("planner", {}), "refine_steps": 2}
    path = tmp_path / "acrobot_refined.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(TaskFileError, match=r"planner.refine_steps=2: energy declare\(s\) no"):
        load_task_file(path)
    data["planner"]["refine_steps"] = 0
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert load_task_file(path).planner["refine_steps"] == 0
