"""A robot from a URDF alone, end to end through the CLI: the two-link arm fixture (a missing
forearm mesh, a mimic joint, joint torques) goes collect -> train -> export -> evaluate at tiny
sizes. The missing mesh is one warning line; every output exists and is sane."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mbrl_control.data.store import TransitionStore
from mbrl_control.export.runtime import OnnxPlanner

pytestmark = pytest.mark.slow

TASK = Path(__file__).resolve().parent / "fixtures" / "two_link_arm.task.yaml"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [sys.executable, "-m", "mbrl_control.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"{args[0]} failed:\n{run.stderr}"
    return run


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """collect -> train -> export in a scratch folder; the folder and collect's run."""
    work = tmp_path_factory.mktemp("urdf_robot")
    task, seed = str(TASK), "0"
    run = cli(
        "collect",
        "--task",
        task,
        "--episodes",
        "2",
        "--out",
        "data",
        "--seed",
        seed,
        "--quiet",
        cwd=work,
    )
    cli(
        "train",
        "--data",
        "data",
        "--task",
        task,
        "--out",
        "model",
        "--members",
        "5",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--epochs",
        "3",
        "--seed",
        seed,
        "--quiet",
        cwd=work,
    )
    cli(
        "export",
        "--checkpoint",
        "model/model.pt",
        "--task",
        task,
        "--preset",
        "arm-rt",
        "--horizon",
        "5",
        "--out",
        "planner.onnx",
        cwd=work,
    )
    return work, run


def test_collect_train_export_a_urdf_robot(trained) -> None:
    work, run = trained
    mesh_lines = [line for line in run.stderr.splitlines() if "forearm.stl" in line]
    assert len(mesh_lines) == 1, run.stderr  # one warning line, naming the missing file
    assert "loading without it" in mesh_lines[0]
    assert "Traceback" not in run.stderr
    summary = json.loads(run.stdout)
    assert summary["episodes_written"] == 2 and summary["transitions"] == 2 * 40
    data = TransitionStore(work / "data").load()
    assert data.obs.shape[1] == 5 and np.isfinite(data.obs).all()  # cos, sin, elbow, 2 speeds
    assert np.all(np.abs(data.action) <= [5.0, 2.0])
    assert (work / "model" / "model.pt").is_file()
    meta = OnnxPlanner(work / "planner.onnx").metadata
    assert meta["task"]["task"] == "two_link_arm" and "definition" in meta["task"]
    assert meta["task"]["joint_names"] == ["shoulder", "elbow"]


def test_collect_with_the_planner_on_a_task_file(trained) -> None:
    """The collect worker checks the planner against the task's name, not the file path."""
    work, _ = trained
    run = cli(
        "collect",
        "--task",
        str(TASK),
        "--episodes",
        "1",
        "--out",
        "planned",
        "--policy",
        "planner:planner.onnx",
        "--quiet",
        cwd=work,
    )
    assert json.loads(run.stdout)["episodes_written"] == 1
    episode = TransitionStore(work / "planned").load()
    assert len(episode) == 40 and np.isfinite(episode.next_obs).all()


def test_oracle_evaluates_a_urdf_robot(tmp_path: Path) -> None:
    """The true-simulator planner maps the arm's observations back to joint states."""
    run = cli(
        "evaluate",
        "--oracle",
        "arm-rt",
        "--task",
        str(TASK),
        "--episodes",
        "1",
        "--profile",
        "none",
        "--json",
        "--quiet",
        cwd=tmp_path,
    )
    result = json.loads(run.stdout)
    assert result["planner"] == "oracle:arm-rt" and np.isfinite(result["returns"]).all()
    assert result["success_rate"] == 1.0  # keeps the elbow straight within 0.1 rad


def test_parallel_collect_warns_once(tmp_path: Path) -> None:
    run = cli(
        "collect",
        "--task",
        str(TASK),
        "--episodes",
        "2",
        "--workers",
        "2",
        "--out",
        "data",
        "--quiet",
        cwd=tmp_path,
    )
    assert sum("forearm.stl" in line for line in run.stderr.splitlines()) == 1, run.stderr
    assert json.loads(run.stdout)["episodes_written"] == 2


def test_evaluate_a_urdf_robot(trained) -> None:
    work, _ = trained
    run = cli(
        "evaluate",
        "--planner",
        "planner.onnx",
        "--task",
        str(TASK),
        "--episodes",
        "2",
        "--profile",
        "none",
        "--json",
        "--quiet",
        cwd=work,
    )
    result = json.loads(run.stdout)
    assert result["episodes"] == 2 and len(result["returns"]) == 2
    returns = np.asarray(result["returns"])
    assert np.isfinite(returns).all() and (returns <= 0).all()  # the cost is never negative
    assert result["latency_ms"]["p99"] > 0
