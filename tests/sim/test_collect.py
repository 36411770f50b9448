"""Parallel collection: same data for any worker count and backend; CLI smoke test."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from mbrl_sim.collect import collect

from mbrl_control.data.store import TransitionStore


def by_seed(root):
    data = TransitionStore(root).load()
    return {m["seed"]: data.obs[data.episode_id == m["id"]] for m in data.episodes}


def test_workers_do_not_change_the_data(tmp_path):
    one = collect("cartpole_swingup", "default", 4, "random", 1, tmp_path / "a", seed=3, quiet=True)
    two = collect("cartpole_swingup", "default", 4, "random", 2, tmp_path / "b", seed=3, quiet=True)
    assert one["episodes_written"] == two["episodes_written"] == 4
    a, b = by_seed(tmp_path / "a"), by_seed(tmp_path / "b")
    assert sorted(a) == sorted(b) and len(a) == 4
    for s in a:
        np.testing.assert_array_equal(a[s], b[s])
    draws = [m["dr"]["mass_scale"] for m in TransitionStore(tmp_path / "a").load().episodes]
    assert len({tuple(d) for d in draws}) == 4  # every episode its own draw


def test_cli_collect_goal_task(tmp_path):
    argv = [
        sys.executable,
        "-m",
        "mbrl_control.cli",
        "collect",
        "--task",
        "panda_reach",
        "--profile",
        "none",
        "--episodes",
        "2",
        "--workers",
        "1",
        "--out",
        str(tmp_path),
        "--quiet",
        "--seed",
        "1",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    summary = json.loads(out)
    assert summary["transitions"] == 200
    data = TransitionStore(tmp_path).load()
    assert data.goal.shape == (200, 3) and data.obs.shape == (200, 17)
    assert data.episodes[0]["goal"] == data.goal[0].tolist()


def test_bad_policy_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="planner:PATH"):
        collect("cartpole_swingup", "none", 1, "greedy", 1, tmp_path)


@pytest.mark.slow
def test_ray_backend_matches_local(tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        collect(
            "cartpole_swingup",
            "default",
            3,
            "random",
            2,
            tmp_path / "r",
            seed=5,
            backend="ray",
            quiet=True,
        )
    finally:
        ray.shutdown()
    collect("cartpole_swingup", "default", 3, "random", 1, tmp_path / "l", seed=5, quiet=True)
    r, loc = by_seed(tmp_path / "r"), by_seed(tmp_path / "l")
    assert sorted(r) == sorted(loc)
    for s in r:
        np.testing.assert_array_equal(r[s], loc[s])
