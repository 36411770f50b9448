"""`mbrl-control export` end to end at tiny sizes: checkpoint in, checked planner file out."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")


def test_export_cli_writes_a_runnable_planner(tmp_path):
    from test_export import tiny_ensemble

    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.models.checkpoint import save_checkpoint

    checkpoint = save_checkpoint(tmp_path / "model.pt", tiny_ensemble(members=5), {"run": "t"})
    out = tmp_path / "planner.onnx"
    argv = [
        sys.executable,
        "-m",
        "mbrl_control.cli",
        "export",
        "--checkpoint",
        str(checkpoint),
        "--task",
        "cartpole_swingup",
        "--preset",
        "cartpole-rt",
        "--planner-kind",
        "mppi",
        "--iterations",
        "1",
        "--out",
        str(out),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    planner = OnnxPlanner(out, expected_task="cartpole_swingup")
    assert planner.metadata["planner_config"]["kind"] == "mppi"
    assert planner.metadata["planner_config"]["iterations"] == 1  # the preset's is 2
    assert planner.metadata["provenance"]["preset"] == "cartpole-rt"
    assert np.isfinite(planner.probe()).all()


def test_export_cli_rejects_a_missing_checkpoint(tmp_path):
    argv = [
        sys.executable,
        "-m",
        "mbrl_control.cli",
        "export",
        "--checkpoint",
        str(tmp_path / "nope.pt"),
        "--task",
        "cartpole_swingup",
        "--preset",
        "cartpole-rt",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "nope.pt" in done.stderr


def test_export_cli_refuses_iterations_for_random_shooting(tmp_path):
    from test_export import tiny_ensemble

    from mbrl_control.models.checkpoint import save_checkpoint

    checkpoint = save_checkpoint(tmp_path / "model.pt", tiny_ensemble(members=5), {"run": "t"})
    argv = [sys.executable, "-m", "mbrl_control.cli", "export", "--checkpoint", str(checkpoint),
            "--task", "cartpole_swingup", "--planner-kind", "shooting", "--iterations", "3",
            "--out", str(tmp_path / "p.onnx")]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--iterations" in done.stderr, done.stderr
    assert not (tmp_path / "p.onnx").exists()
