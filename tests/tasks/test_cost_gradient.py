"""Every critic kind's declared derivative equals torch.autograd (float64, relative 1e-5).

The derivatives feed gradient-refined planning (mbrl_control/planning/refine.py) inside the
exported graph, where autograd cannot go; this is the check that they are the derivative of
the cost the planner scores with, kind by kind and through every observation route (a raw
angle, a cos/sin-observed angle, a computed point, an observed point, the last_actions block).
"""

import copy

import numpy as np
import pytest
import torch
import yaml

from mbrl_control.tasks import get_task, load_task_file

# Every kind with a derivative, on a cart with two poles: "pole" unbounded (observed as
# cos/sin), "arm" bounded (observed as a raw angle); points computed by FK from either.
ALL_KINDS = {
    "name": "gradient_kinds",
    "joints": [
        {"name": "cart", "type": "prismatic", "position_range": [-1.0, 1.0], "velocity_limit": 3},
        {"name": "pole", "type": "revolute"},
        {"name": "arm", "type": "revolute", "position_range": [-2.0, 2.0], "velocity_limit": 9},
    ],
    "command": {"interface": "velocity", "joints": ["cart", "arm"]},
    "actions": [
        {"name": "cart_vel", "low": -2, "high": 3},
        {"name": "arm_vel", "low": -1, "high": 1},
    ],
    "control_rate": 25,
    "episode_steps": 50,
    "points": {
        "tip": {"fk": "cartpole_pole_tip", "joints": ["cart", "pole"], "length": 0.5},
        "hand": {"fk": "cartpole_pole_tip", "joints": ["cart", "arm"], "length": 0.3},
    },
    "observation": [
        {"feature": "joint_positions"},
        {"feature": "joint_velocities"},
        {"feature": "last_actions", "steps": 2},
    ],
    "goal": {"kind": "fixed", "value": [0.1, 0.0, 0.4]},
    "critics": [
        {"name": "t_sq", "kind": "link_target", "point": "tip", "target": "goal",
         "kernel": "squared"},
        {"name": "t_sat", "kind": "link_target", "point": "hand", "target": [0.2, 0.0, 0.1],
         "kernel": "saturating", "scale": 0.4},
        {"name": "t_dist", "kind": "link_target", "point": "tip", "target": [0.0, 0.0, 0.5]},
        {"name": "h_dist", "kind": "link_height", "point": "tip", "target": 0.3},
        {"name": "h_sq", "kind": "link_height", "point": "hand", "target": 0.1,
         "kernel": "squared"},
        {"name": "h_sat", "kind": "link_height", "point": "tip", "target": 0.2,
         "kernel": "saturating", "scale": 0.3},
        {"name": "h_below", "kind": "link_height", "point": "hand", "target": 0.5,
         "kernel": "below"},
        {"name": "home", "kind": "joint_target", "joints": ["cart", "arm"], "target": [0.25, 1.0]},
        {"name": "still", "kind": "joint_velocity", "weight": 0.1},
        {"name": "a_sum", "kind": "action_magnitude", "reduce": "sum"},
        {"name": "a_mean", "kind": "action_magnitude", "reduce": "mean", "weight": 0.3},
        {"name": "r_sum", "kind": "action_rate", "reduce": "sum", "weight": 0.2},
        {"name": "r_mean", "kind": "action_rate", "reduce": "mean", "weight": 0.7},
        {"name": "rail", "kind": "rail", "joints": ["cart", "arm"], "limit": [0.2, 0.5]},
        {"name": "box", "kind": "workspace", "point": "tip", "low": [-0.3, -1, 0.1],
         "high": [0.3, 1, 0.4]},
        {"name": "e_pole", "kind": "pendulum_energy", "joint": "pole", "rod_length": 0.5},
        {"name": "e_arm", "kind": "pendulum_energy", "joint": "arm", "rod_length": 0.3,
         "gravity": 3.0, "weight": 0.5},
        {"name": "limits", "kind": "joint_limit_barrier", "joints": ["cart", "arm"],
         "margin": 0.3},
    ],
    "safe_action": [0.5, 0.0],
    "initial_state": {"position": {"mean": [0.0, 3.0, 0.0]}},
}  # fmt: skip


@pytest.fixture(scope="module")
def all_kinds(tmp_path_factory):
    path = tmp_path_factory.mktemp("task") / "kinds.task.yaml"
    path.write_text(yaml.safe_dump(copy.deepcopy(ALL_KINDS), sort_keys=False))
    return load_task_file(path)


def random_transitions(task, rows, generator):
    """Rows spread over both sides of every kink (rails, boxes, margins), float64."""
    scale = 1.5
    obs = (torch.rand(rows, task.obs_dim, generator=generator, dtype=torch.float64) - 0.5) * 2
    nxt = (torch.rand(rows, task.obs_dim, generator=generator, dtype=torch.float64) - 0.5) * 2
    act = (torch.rand(rows, task.act_dim, generator=generator, dtype=torch.float64) - 0.5) * 4
    return obs * scale, act, nxt * scale


def assert_matches_autograd(task, generator, rows=64):
    obs, act, nxt = random_transitions(task, rows, generator)
    goal = torch.as_tensor(task.sample_goal(np.random.default_rng(0)), dtype=torch.float64)
    weights = torch.rand(len(task.critics), generator=generator, dtype=torch.float64) + 0.1
    total, d_obs, d_act, d_next = task.score_grad(obs, act, nxt, goal, weights)
    inputs = [x.clone().requires_grad_(True) for x in (obs, act, nxt)]
    reference = task.score(*inputs, goal, weights)[0]
    torch.testing.assert_close(total, reference.detach(), rtol=1e-12, atol=1e-12)
    expected = torch.autograd.grad(reference.sum(), inputs, allow_unused=True)
    expected = [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, expected)]
    for name, got, want in zip(("obs", "action", "next_obs"), (d_obs, d_act, d_next), expected):
        scale = want.abs().max().clamp(min=1e-12)
        assert ((got - want).abs().max() / scale) < 1e-5, name


def test_every_kind_with_a_derivative_matches_autograd(all_kinds, seeds):
    assert all_kinds.critics_without_derivative == ()
    generator = torch.Generator().manual_seed(seeds(0))
    for _ in range(3):
        assert_matches_autograd(all_kinds, generator)


def test_each_critic_alone_matches_autograd(all_kinds, seeds):
    """Kind by kind, so a wrong derivative cannot hide behind a larger term's."""
    generator = torch.Generator().manual_seed(seeds(1))
    obs, act, nxt = random_transitions(all_kinds, 32, generator)
    goal = torch.tensor([0.1, 0.0, 0.4], dtype=torch.float64)
    for k, critic in enumerate(all_kinds.critics):
        weights = torch.zeros(len(all_kinds.critics), dtype=torch.float64)
        weights[k] = 1.0
        _, d_obs, d_act, d_next = all_kinds.score_grad(obs, act, nxt, goal, weights)
        inputs = [x.clone().requires_grad_(True) for x in (obs, act, nxt)]
        total = all_kinds.score(*inputs, goal, weights)[0].sum()
        expected = torch.autograd.grad(total, inputs, allow_unused=True)
        expected = [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, expected)]
        for got, want in zip((d_obs, d_act, d_next), expected):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-9, msg=critic.name)


@pytest.mark.parametrize("name", ["cartpole_swingup", "panda_reach"])
def test_builtin_tasks_declare_their_derivative(name, seeds):
    """Cart-pole: a computed tip (FK derivative), cos/sin angle; Panda: an observed point."""
    task = get_task(name)
    assert task.critics_without_derivative == ()
    assert_matches_autograd(task, torch.Generator().manual_seed(seeds(0)))


def test_critics_without_a_derivative_are_named():
    """The acrobot's energy (mechanical_energy: the URDF links' kinematics) has none; its tip
    height (an observed point) has one. score_grad refuses, naming the critic."""
    task = get_task("examples/acrobot/acrobot_swingup.task.yaml")
    assert task.critics_without_derivative == ("energy",)
    x = torch.zeros(2, task.obs_dim)
    with pytest.raises(ValueError, match=r"\['energy'\] declare no derivative"):
        task.score_grad(x, torch.zeros(2, task.act_dim), x, torch.zeros(task.goal_dim))
