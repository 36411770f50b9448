"""The shipped task files describe exactly the former built-in Python tasks.

The reference is the frozen copy of those classes in ``reference_tasks.py``.

Same layout, bounds, limits, metadata, weights, safe action; per-critic costs, observations
from joint states, success and goals equal (1e-6) on seeded random batches that include
states beyond the rail and the joint limits (where the rail/barrier critics fire); the same
planner exported to ONNX gives the same outputs; the initial-state distribution matches the
simulator's scene (moments).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from reference_tasks import CartpoleSwingup, PandaReach

from mbrl_control.tasks import TASKS, builtin_task_files, cartpole, get_task, load_task_file, panda

REFERENCE = {"cartpole_swingup": CartpoleSwingup, "panda_reach": PandaReach}
NAMES = sorted(REFERENCE)
B = 512


def test_every_builtin_is_its_task_file():
    assert sorted(builtin_task_files()) == sorted(TASKS) == NAMES
    for name in NAMES:
        task = get_task(name)
        assert task.path == builtin_task_files()[name] and task.name == name
        assert get_task(name) is not task  # fresh instances


def pair(name):
    return REFERENCE[name](), load_task_file(builtin_task_files()[name])


def test_module_constants_agree_with_the_files():
    """cartpole.py / panda.py keep constants the sim scene and test systems use: the files
    are the definition, the constants must not drift from them."""
    cp = get_task("cartpole_swingup").definition
    assert cp["points"]["tip"]["length"] == cartpole.POLE_LENGTH
    assert cp["actions"][0]["high"] == cartpole.MAX_FORCE == -cp["actions"][0]["low"]
    assert cp["critics"][2]["limit"] == cartpole.RAIL_LIMIT
    assert cp["critics"][3]["gravity"] == cartpole.GRAVITY
    pa = get_task("panda_reach").definition
    barrier = pa["critics"][2]
    np.testing.assert_array_equal(barrier["low"], panda.Q_LOW)
    np.testing.assert_array_equal(barrier["high"], panda.Q_HIGH)
    assert barrier["margin"] == panda.LIMIT_MARGIN
    np.testing.assert_allclose(pa["initial_state"]["position"]["mean"], panda.HOME, atol=1e-15)
    assert (
        tuple(pa["goal"]["low"]) == panda.GOAL_LOW and tuple(pa["goal"]["high"]) == panda.GOAL_HIGH
    )
    assert pa["success"][0]["radius"] == panda.SUCCESS_RADIUS
    assert [a["high"] for a in pa["actions"]] == list(panda.VELOCITY_LIMIT)
    assert tuple(j["name"] for j in pa["joints"]) == panda.JOINTS


def random_joints(task, rng, n, spread=0.3):
    """Positions beyond the physical ranges by ``spread`` (rail/barrier fire), any angle for
    unbounded joints; velocities up to the limits (capped at 10)."""
    lo, hi, vel = task.joint_ranges
    lo = np.where(np.isfinite(lo), lo - spread, -2 * np.pi)
    hi = np.where(np.isfinite(hi), hi + spread, 2 * np.pi)
    q = rng.uniform(lo, hi, (n, len(lo)))
    v = rng.uniform(-1, 1, (n, len(lo))) * np.minimum(vel, 10.0)
    return q, v


@pytest.mark.parametrize("name", NAMES)
def test_layout_bounds_limits_metadata(name):
    cls, file = pair(name)
    for attr in (
        "name",
        "obs_names",
        "action_names",
        "action_units",
        "joint_names",
        "command_joints",
        "critic_names",
        "goal_dim",
        "episode_steps",
        "obs_dim",
        "act_dim",
    ):
        assert getattr(file, attr) == getattr(cls, attr), attr
    assert file.control_hz == cls.control_hz and file.dt == cls.dt
    np.testing.assert_array_equal(file.low, cls.low)
    np.testing.assert_array_equal(file.high, cls.high)
    for a, b in zip(file.joint_ranges, cls.joint_ranges):
        np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_array_equal(file.default_weights, cls.default_weights)
    np.testing.assert_array_equal(file.safe_action, cls.safe_action)
    assert file.safe_action.dtype == cls.safe_action.dtype == np.float32
    # the file task's metadata also carries its definition and source (issue 15 slice 2)
    contract = {k: v for k, v in file.metadata().items() if k not in ("definition", "source")}
    assert contract == cls.metadata()


@pytest.mark.parametrize("name", NAMES)
def test_observations_from_joint_states(name, seeds):
    cls, file = pair(name)
    rng = np.random.default_rng(seeds(0))
    q, v = random_joints(cls, rng, 200, spread=0.0)
    for qi, vi in zip(q, v):
        a, b = cls.obs_from_joints(qi, vi), file.obs_from_joints(qi, vi)
        assert b.dtype == np.float32 and b.shape == (cls.obs_dim,)
        np.testing.assert_allclose(b, a, atol=1e-6)
    # through the shared JointState merge: shuffled names plus an extra joint
    names = ["extra_joint", *reversed(cls.joint_names)]
    pos, vel = [0.5, *reversed(q[0].tolist())], [0.0, *reversed(v[0].tolist())]
    np.testing.assert_allclose(
        file.obs_from_joint_state(names, pos, vel),
        cls.obs_from_joint_state(names, pos, vel),
        atol=1e-6,
    )


def transitions(task, rng):
    q, v = random_joints(task, rng, B)
    obs = np.stack([task.obs_from_joints(a, b) for a, b in zip(q, v)])
    q2, v2 = random_joints(task, rng, B)
    next_obs = np.stack([task.obs_from_joints(a, b) for a, b in zip(q2, v2)])
    action = rng.uniform(1.5 * task.low, 1.5 * task.high, (B, task.act_dim)).astype(np.float32)
    goal = np.stack([task.sample_goal(rng) for _ in range(B)]).reshape(B, task.goal_dim)
    return [torch.as_tensor(x) for x in (obs, action, next_obs, goal)]


@pytest.mark.parametrize("name", NAMES)
def test_costs_per_critic(name, seeds):
    cls, file = pair(name)
    obs, action, next_obs, goal = transitions(cls, np.random.default_rng(seeds(1)))
    weights = torch.rand(len(cls.critics), generator=torch.Generator().manual_seed(seeds(2)))
    for g in (goal, goal[0]):  # per-row goals (B, G) and one goal (G,)
        for w in (None, weights):
            t_cls, per_cls = cls.score(obs, action, next_obs, g, w)
            t_file, per_file = file.score(obs, action, next_obs, g, w)
            assert per_file.shape == per_cls.shape == (len(cls.critics), B)
            torch.testing.assert_close(per_file, per_cls, atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(t_file, t_cls, atol=1e-6, rtol=1e-6)
            assert (per_cls > 0).any(-1).all()  # every critic is exercised
    o, a, n = obs[0].numpy(), action[0].numpy(), next_obs[0].numpy()
    gg = goal[0].numpy() if cls.goal_dim else None
    assert file.cost_np(o, a, n, gg) == pytest.approx(cls.cost_np(o, a, n, gg), abs=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_success_and_goals(name, seeds):
    cls, file = pair(name)
    rng = np.random.default_rng(seeds(3))
    q, v = random_joints(cls, rng, 2000, spread=0.0)
    if name == "cartpole_swingup":  # near upright and centred half the time
        q[::2, 0] = rng.uniform(-0.7, 0.7, 1000)
        q[::2, 1] = rng.normal(0.0, 0.4, 1000)
    hits = 0
    for qi, vi in zip(q, v):
        obs = cls.obs_from_joints(qi, vi)
        goal = None
        if cls.goal_dim:  # goals around the end effector: inside and outside the radius
            goal = (obs[14:17] + rng.normal(0.0, 0.04, 3)).astype(np.float32)
        got = file.is_success(obs, goal)
        assert got == cls.is_success(obs, goal)
        hits += got
    assert 100 < hits < 1900  # both outcomes exercised
    r1, r2 = np.random.default_rng(seeds(4)), np.random.default_rng(seeds(4))
    for _ in range(20):
        g1, g2 = cls.sample_goal(r1), file.sample_goal(r2)
        assert g2.dtype == g1.dtype == np.float32
        np.testing.assert_array_equal(g2, g1)
    if cls.goal_dim:
        with pytest.raises(ValueError, match="needs the goal"):
            file.is_success(obs)


@pytest.mark.parametrize("name", NAMES)
def test_exported_planner_is_the_same(name, seeds, tmp_path):
    """The file task's critics traced into the planner graph give the class's outputs."""
    ort = pytest.importorskip("onnxruntime")
    from mbrl_control.export.onnx_export import PlanStep, export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig

    cls, file = pair(name)
    cfg = PlannerConfig(kind="cem", horizon=3, population=16, particles=2, iterations=2)
    cfg = dataclasses.replace(cfg, seed=seeds(7))
    ens = EnsembleConfig(cls.obs_dim, cls.act_dim, members=2, hidden=8, layers=2, seed=seeds(8))
    model = Ensemble(ens).eval()
    outs = []
    for task in (cls, file):
        path = export_planner(model, task, cfg, tmp_path / f"{id(task)}.onnx")
        step = PlanStep(model, task, cfg)
        torch.manual_seed(seeds(9))
        args = (torch.randn(task.obs_dim) * 0.5, *step.example_inputs(task)[1:])
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        feed = {n: a.numpy() for n, a in zip(step.input_names, args) if n in names}
        outs.append(session.run(step.output_names, feed))
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-5)
