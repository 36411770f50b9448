"""The planner graph's ``plan_states`` (issue 19): each member's predicted path of the plan,
taken from the rollout the optimizer ran (no second rollout), and what the controller makes of
it (:func:`mbrl_control.recording.plan_view.plan_of`)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "export"))
from test_export import TINY, tiny_ensemble

from mbrl_control.export.onnx_export import PlanStep
from mbrl_control.recording.plan_view import plan_of
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")


def member_paths(model, obs, plan, propagation):
    """Each member's predicted states ``(E, H, O)`` along ``plan (H, A)``, rolled out here."""
    e = model.members
    with torch.no_grad():
        if propagation == "ts_inf":  # each member from its own previous prediction
            state, out = obs.expand(e, 1, -1), []
            for a in plan:
                state, _ = model(state, a.expand(e, 1, -1))
                out.append(state[:, 0])
        else:  # every member from the members' mean
            shared, out = obs, []
            for a in plan:
                mean, _ = model(shared.expand(e, 1, -1), a.expand(e, 1, -1))
                out.append(mean[:, 0])
                shared = mean.mean(0)[0]
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("propagation", ["ts_inf", "mean"])
@pytest.mark.parametrize("kind", list(TINY))
def test_best_mode_plan_states_are_the_returned_plans_rollout(kind, propagation, seeds):
    """In best mode the returned plan is the candidate whose path is returned: its path,
    rolled out again here through each member, is ``plan_states`` (deterministic members)."""
    cfg = dataclasses.replace(TINY[kind], return_mode="best", propagation=propagation)
    cfg = dataclasses.replace(cfg, uncertainty_weight=0.0, aleatoric=False)
    model = tiny_ensemble(seed=seeds(0))
    step = PlanStep(model, TASK, cfg)
    torch.manual_seed(seeds(1))
    args = (torch.randn(TASK.obs_dim) * 0.5, *step.example_inputs(TASK)[1:])
    with torch.no_grad():
        out = dict(zip(step.output_names, step(*args)))
    states = out["plan_states"]
    assert states.shape == (model.members, cfg.horizon, TASK.obs_dim)
    want = member_paths(model, args[0], out["next_plan"], propagation)
    torch.testing.assert_close(states, want, atol=1e-5, rtol=1e-5)


def test_plan_view_reads_joints_and_the_tip_through_the_tasks_kinematics():
    """positions (H, J) of the members' mean state, angles by atan2; each member's tip path
    from the state planned from, the same points the critics' torch kinematics compute."""
    rng = np.random.default_rng(0)
    theta = rng.uniform(-np.pi, np.pi, (2, 3))  # (E, H)
    x = rng.uniform(-2, 2, (2, 3))
    states = np.stack([x, np.cos(theta), np.sin(theta), x * 0, theta * 0], axis=-1)  # (E,H,5)
    obs = np.array([0.5, -1.0, 0.0, 0.0, 0.0])
    plan = plan_of(TASK, obs, states)
    assert plan.frame_id == "rail" and plan.joint_names == ("slider_to_cart", "cart_to_pole")
    mean = states.mean(0)
    np.testing.assert_allclose(plan.positions[:, 0], mean[:, 0])
    angle = np.arctan2(mean[:, 2], mean[:, 1])  # up to whole turns (unwrapped from the start)
    np.testing.assert_allclose(np.exp(1j * plan.positions[:, 1]), np.exp(1j * angle), atol=1e-12)
    assert plan.paths.shape == (2, 4, 3)
    np.testing.assert_allclose(plan.paths[:, 0], [[0.5, 0.0, -0.6]] * 2, atol=1e-12)
    feats = TASK.features(
        torch.zeros(6, 5), torch.zeros(6, 1), torch.as_tensor(states.reshape(6, 5)), None
    )
    np.testing.assert_allclose(
        plan.paths[:, 1:].reshape(6, 3), feats["point:tip"].numpy(), atol=1e-6
    )
    assert plan_of(TASK, obs, None) is None  # a file exported before plan_states
    with pytest.raises(ValueError, match="plan_states: shape"):
        plan_of(TASK, obs, states[0])


def test_thinned_paths_keep_the_start_and_the_last_step():
    """The controller's markers: at most ``max_points`` per member, the start and the last
    predicted step always among them (``~/plan`` keeps every step)."""
    states = np.tile(np.array([0.0, 1.0, 0.0, 0.0, 0.0]), (3, 40, 1))
    states[:, :, 0] = np.linspace(0.05, 2.0, 40)  # the cart moves 5 cm a step
    plan = plan_of(TASK, np.array([0.0, 1.0, 0.0, 0.0, 0.0]), states, max_points=16)
    assert plan.positions.shape == (40, 2) and plan.paths.shape == (3, 15, 3)
    np.testing.assert_allclose(plan.paths[0, [0, -1], 0], [0.0, 2.0])
    assert np.all(np.diff(plan.paths[0, :, 0]) > 0)
    with pytest.raises(ValueError, match="max_points=1"):
        plan_of(TASK, np.zeros(5), states, max_points=1)


def test_planned_angles_continue_the_robots_own_angle_past_pi():
    """A cos/sin angle crossing pi: the plan is unwrapped along the horizon and, given the
    robot's joint positions, shifted by whole turns to continue its unwrapped angle (the
    pole at 3.1 + 2 turns stays near 3.1 + 4 pi, not at -3.1)."""
    theta = np.array([3.0, 3.2, 3.4])  # (H,) past pi
    states = np.stack([theta * 0, np.cos(theta), np.sin(theta), theta * 0, theta * 0], -1)[None]
    obs = np.array([0.0, np.cos(2.9), np.sin(2.9), 0.0, 0.0])
    plan = plan_of(TASK, obs, states)
    np.testing.assert_allclose(plan.positions[:, 1], theta, atol=1e-9)
    robot = np.array([0.0, 2.9 + 4 * np.pi])  # slider, pole: two turns already made
    plan = plan_of(TASK, obs, states, joint_positions=robot)
    np.testing.assert_allclose(plan.positions[:, 1], theta + 4 * np.pi, atol=1e-9)
    np.testing.assert_allclose(plan.positions[:, 0], 0.0)  # a prismatic joint is left as is
