"""Deterministic mode of the controller core (issue 18): the ``seed`` parameter.

Same joint states and goals -> bit-identical commands: across two cores, across every
(re)start of one core (activate/``~/reset``, ``~/enable`` on, a model reload, a live seed set),
and equal to the Python API (``OnnxPlanner(path, seed=s)``) fed the same observations. Seed
-1 draws a fresh seed per start and reports it (``noise_seed``) so a run can be replayed.
Real parts: exported planner files run by onnxruntime; times are passed in explicitly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from mbrl_control.control.core import ControllerConfig, ControllerCore, Level
from mbrl_control.export.runtime import OnnxPlanner
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")
J = list(TASK.joint_names)
DT = TASK.dt


def _export(path, noise_input: bool = True, **sizes):
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig

    torch.manual_seed(0)
    model = Ensemble(
        EnsembleConfig(
            TASK.obs_dim,
            TASK.act_dim,
            members=sizes.get("members", 2),
            hidden=sizes.get("hidden", 16),
            layers=2,
        )
    )
    cfg = PlannerConfig(
        kind="icem",
        horizon=sizes.get("horizon", 5),
        population=sizes.get("population", 32),
        particles=sizes.get("members", 2),
        iterations=2,
        keep_elites_frac=0.5,
    )
    return export_planner(model, TASK, cfg, path, noise_input=noise_input)


@pytest.fixture(scope="module")
def planner_path(tmp_path_factory):
    return _export(tmp_path_factory.mktemp("det") / "planner.onnx")


def _states(n: int = 8) -> list[tuple[list[float], list[float]]]:
    """A fixed sequence of (positions, velocities): a pole swinging near the bottom."""
    rng = np.random.default_rng(3)
    pos = np.c_[rng.uniform(-0.5, 0.5, n), np.pi + rng.uniform(-0.5, 0.5, n)]
    vel = rng.uniform(-1.0, 1.0, (n, 2))
    return [(list(p), list(v)) for p, v in zip(pos, vel)]


def _core(path, seed: int, **cfg) -> ControllerCore:
    core = ControllerCore(
        ControllerConfig(model_path=str(path), seed=seed, on_deadline_miss="publish", **cfg)
    )
    ok, message = core.reload(str(path))
    assert ok, message
    return core


def _episode(core: ControllerCore, t0: float = 0.0) -> np.ndarray:
    """Commands ``(T, A)`` for :func:`_states`, one tick per state (all must plan: OK)."""
    out = []
    for k, (pos, vel) in enumerate(_states()):
        t = t0 + k * DT
        assert core.set_state(J, pos, vel, now=t) is None
        action, status = core.tick(now=t + 0.001)
        assert status.level == Level.OK, status
        out.append(action)
    return np.array(out)


def test_same_seed_same_commands_at_every_restart(planner_path) -> None:
    a, b = _core(planner_path, 5), _core(planner_path, 5)
    first = _episode(a)
    assert np.array_equal(_episode(b), first)  # two controllers: bit-identical
    assert len(np.unique(first)) == len(first)  # the noise and warm start do change per tick

    # the Python API with the same seed, fed the same observations, gives the same actions
    api = OnnxPlanner(planner_path, threads=1, seed=5)
    obs = [TASK.obs_from_joints(np.array(p), np.array(v)) for p, v in _states()]
    assert np.array_equal(np.array([api.act(o) for o in obs], np.float64), first)

    assert a.restart() == 5  # lifecycle activate / ~/reset: a new episode replays
    assert np.array_equal(_episode(a, 1.0), first)
    ok, message = a.reload(str(planner_path))  # ~/reload_model (a hot-swap of the same file)
    assert ok, message
    assert np.array_equal(_episode(a, 2.0), first)
    a.set_enabled(False)  # ~/enable off, then on
    assert a.tick(now=3.0)[1].level == Level.WARN
    a.set_enabled(True)
    assert np.array_equal(_episode(a, 3.1), first)
    assert a.diagnostics()["noise_seed"] == 5


def test_live_seed_set_restarts_from_the_new_seed(planner_path) -> None:
    core = _core(planner_path, 5)
    five = _episode(core)
    core.apply(dataclasses.replace(core.cfg, seed=9))  # ros2 param set ... seed 9
    nine = _episode(core, 1.0)
    assert not np.array_equal(nine, five)
    assert np.array_equal(nine, _episode(_core(planner_path, 9)))
    core.apply(dataclasses.replace(core.cfg, seed=5))
    assert np.array_equal(_episode(core, 2.0), five)


def test_seed_minus_one_draws_fresh_seeds_that_replay(planner_path) -> None:
    a, b = _core(planner_path, -1), _core(planner_path, -1)
    first = _episode(a)
    drawn = a.diagnostics()["noise_seed"]
    assert isinstance(drawn, int) and drawn != b.noise_seed  # 1 in 2**31 to collide
    assert not np.array_equal(_episode(b), first)
    assert a.restart() != drawn  # a new episode, a new draw
    assert np.array_equal(_episode(_core(planner_path, drawn)), first)  # the reported seed replays


def test_seed_is_range_checked() -> None:
    for bad in (-2, 2**31, True):
        with pytest.raises(ValueError, match="seed="):
            ControllerConfig(seed=bad)


def test_deterministic_mode_refuses_a_graph_that_draws_its_own_noise(tmp_path) -> None:
    path = _export(tmp_path / "self_noise.onnx", noise_input=False)
    core = ControllerCore(ControllerConfig(model_path=str(path), seed=3))
    ok, message = core.reload(str(path))
    assert not ok and "noise_input=False" in message and "seed=3" in message
    core = _core(path, -1)  # without a seed it plans as before
    core.set_state(J, [0.0, 3.0], [0.0, 0.0], now=0.0)
    assert core.tick(now=0.001)[1].level == Level.OK
    with pytest.raises(ValueError, match="noise_input=False"):  # a live set is refused too
        core.check(dataclasses.replace(core.cfg, seed=3))


def test_onnxruntime_threads_give_bit_identical_plans(tmp_path) -> None:
    """intra-op threads 1 and 2 (the controller's ``threads``): the same actions and costs
    bit for bit, so deterministic mode needs no thread setting. A guard at small sizes (5
    members x 64 wide, 64 x 5 rollouts); the presets up to PETS sizes were checked the same
    way (cartpole-rt, PETS E5 x 4x200 N100 P20, MPPI, CEM with mean propagation)."""
    path = _export(tmp_path / "rt.onnx", members=5, hidden=64, population=64, horizon=4)
    obs = [TASK.obs_from_joints(np.array(p), np.array(v)) for p, v in _states(6)]
    runs = []
    for threads in (1, 2):
        planner = OnnxPlanner(path, threads=threads, seed=11)
        runs.append([(planner.act(o), planner.last_info["plan_cost"]) for o in obs])
    for (a1, c1), (a2, c2) in zip(*runs):
        assert np.array_equal(a1, a2) and c1 == c2
