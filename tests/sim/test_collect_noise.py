"""``collect --policy planner:PATH --noise F``: the planner's actions plus bounded Gaussian
exploration noise, clipped to the task's bounds (a safe excitation policy), seeded per
episode."""

from __future__ import annotations

import numpy as np
import pytest
from mbrl_sim.collect import WorkerConfig, collect

from mbrl_control.cli import main
from mbrl_control.data.store import TransitionStore
from mbrl_control.export.onnx_export import export_planner
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.tasks import get_task


@pytest.fixture(scope="module")
def planner(tmp_path_factory) -> str:
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
    assert np.std(np.diff(noisy[:, 0])) > np.std(np.diff(plain[:, 0]))


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
