"""``collect --policy planner:PATH --noise F``: the planner's actions plus bounded Gaussian
exploration noise, clipped to the task's bounds (a safe excitation policy), seeded per
episode."""

from __future__ import annotations

import numpy as np
import pytest
from mbrl_sim.collect import WorkerConfig, collect, rollout

from mbrl_control.cli import main
from mbrl_control.data.store import TransitionStore
from mbrl_control.export.onnx_export import export_planner
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.tasks import get_task


@pytest.fixture(scope="module")
def planner(tmp_path_factory) -> str:
    import torch

    torch.manual_seed(0)
    task = get_task("cartpole_swingup")
    model = Ensemble(EnsembleConfig.for_task(task, members=2, hidden=8, layers=1)).eval()
    cfg = PlannerConfig(kind="icem", horizon=3, population=10, particles=2, iterations=1)
    return str(export_planner(model, task, cfg, tmp_path_factory.mktemp("p") / "p.onnx"))


def _actions(planner: str, out, noise: float) -> np.ndarray:
    collect("cartpole_swingup", "none", 1, f"planner:{planner}", 1, out, seed=4, quiet=True,
            noise=noise)  # fmt: skip
    data = TransitionStore(out).load()
    assert data.episodes[0].get("noise", 0.0) == noise
    return data.action


def test_noise_widens_the_planner_within_the_bounds(planner, tmp_path):
    plain = _actions(planner, tmp_path / "a", 0.0)
    noisy = _actions(planner, tmp_path / "b", 0.5)
    again = _actions(planner, tmp_path / "c", 0.5)
    np.testing.assert_array_equal(noisy, again)  # seeded per episode
    assert np.abs(noisy).max() <= 10.0  # the task's ±10 N
    assert not np.array_equal(plain, noisy)
    # what was sent beyond the planner's action (this untrained planner drives the cart into
    # the end stops: near them the guard withholds the noise, so compare what was injected)
    guard = TransitionStore(tmp_path / "b").load().episodes[0]["noise_guard"]
    assert guard["withheld_steps"] < guard["steps"]
    assert guard["injected_rms"] > 0.1  # of the half range; 0.5 before clipping


def test_noise_needs_a_planner_and_a_fraction(tmp_path, capsys):
    with pytest.raises(ValueError, match="planner policy only"):
        WorkerConfig("cartpole_swingup", "none", "random", 0.2)
    with pytest.raises(ValueError, match=r"fraction in \[0, 1\]"):
        WorkerConfig("cartpole_swingup", "none", "planner:x.onnx", 1.5)
    argv = ["collect", "--task", "cartpole_swingup", "--episodes", "1", "--noise", "0.2",
            "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(argv) == 2
    assert "--noise is exploration noise on a planner policy" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_planner_episodes_do_not_depend_on_what_the_worker_ran_before(planner, tmp_path):
    """The planner's noise stream restarts from each episode's seed: before, a worker's
    planner carried its stream across episodes and calls, so the same seed gave other data
    depending on what that process had collected before (contrary to collect's contract)."""
    first = _actions(planner, tmp_path / "a", 0.0)
    second = _actions(planner, tmp_path / "b", 0.0)  # same process, same seed, warm cache
    np.testing.assert_array_equal(first, second)


def _heading_out(tmp_path) -> str:
    """The built-in cart-pole starting near the rail critic's limit (2 m), moving out."""
    import yaml

    from mbrl_control.tasks import builtin_task_files

    data = yaml.safe_load(builtin_task_files()["cartpole_swingup"].read_text())
    data["initial_state"] = {"position": {"mean": [1.8, 3.14159]}, "velocity": {"mean": [2.0, 0]}}
    path = tmp_path / "heading_out.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_noise_is_withheld_while_heading_for_the_rail_end(planner, tmp_path):
    """Issue 16: the noise was bounded in action only; from a state heading for the rail end
    the recording now sends the planner's own action until the cart is safe again (same seed:
    the planner alone gives the same actions as long as the states agree)."""
    from mbrl_control.control.excitation import ExcitationGuard

    task = _heading_out(tmp_path)
    runs = {}
    for noise in (0.0, 1.0):
        out = tmp_path / f"n{noise}"
        collect(task, "none", 1, f"planner:{planner}", 1, out, seed=4, quiet=True, noise=noise)
        runs[noise] = TransitionStore(out).load()
    plain, noisy = runs[0.0], runs[1.0]
    guard = ExcitationGuard(get_task(task))
    assert not guard.allows(noisy.obs[0])  # 1.8 m + 2 m/s x 0.3 s: beyond 2 m
    withheld = 0
    while withheld < len(noisy.obs) and not guard.allows(noisy.obs[withheld]):
        withheld += 1
    np.testing.assert_array_equal(noisy.action[:withheld], plain.action[:withheld])
    meta = noisy.episodes[0]["noise_guard"]
    assert meta["enabled"] and meta["lookahead_s"] == 0.3
    assert meta["withheld_steps"] >= withheld >= 1
    assert meta["withheld_steps"] < meta["steps"] == len(noisy.action)  # it still excites
    assert not np.array_equal(noisy.action, plain.action)


def test_the_guard_can_be_measured_off_and_its_lookahead_set(planner, tmp_path):
    task = _heading_out(tmp_path)
    off = rollout(WorkerConfig(task, "none", f"planner:{planner}", 1.0, noise_guard=False), 4)
    g = off["meta"]["noise_guard"]
    assert not g["enabled"] and g["flagged_steps"] >= 1 and "withheld_steps" not in g
    with pytest.raises(ValueError, match="noise_lookahead_s"):
        WorkerConfig(task, "none", f"planner:{planner}", 0.2, noise_lookahead_s=-1.0)
    argv = ["collect", "--task", "cartpole_swingup", "--profile", "none", "--episodes", "1",
            "--policy", f"planner:{planner}", "--noise", "0.2", "--noise-lookahead", "0.5",
            "--quiet", "--out", str(tmp_path / "cli")]  # fmt: skip
    assert main(argv) == 0
    assert TransitionStore(tmp_path / "cli").load().episodes[0]["noise_guard"]["lookahead_s"] == 0.5


def test_the_lookahead_help_states_the_guards_default() -> None:
    """``collect --help`` names the default without importing numpy at parse time (a fresh
    ``pip install --no-deps`` must run ``mbrl-control --help``)."""
    from mbrl_control.cli import build_parser
    from mbrl_control.control.excitation import DEFAULT_LOOKAHEAD_S

    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["collect"]
                         .format_help().split())  # fmt: skip
    assert f"default: {DEFAULT_LOOKAHEAD_S}," in help_text
