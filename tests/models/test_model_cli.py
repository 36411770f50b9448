"""Smoke runs of ``mbrl-control train`` and ``mbrl-control bench train`` at tiny sizes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from mbrl_control.cli import main
from mbrl_control.models.checkpoint import load_checkpoint


def write_store(root: Path, episodes: int, obs_dim: int, seed: int) -> None:
    """Episodes of a smooth random 5-D system into a transition store (cart-pole shaped)."""
    from mbrl_control.data.store import TransitionStore

    store = TransitionStore(root)
    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        action = rng.uniform(-1, 1, (40, 1)).astype(np.float32)
        obs = np.zeros((41, obs_dim), np.float32)
        for t in range(40):  # time loop of a tiny nonlinear system
            obs[t + 1] = 0.9 * obs[t] + 0.1 * np.tanh(obs[t].sum() + action[t, 0])
        store.append_episode(obs, action, {"seed": seed})


def test_train_cli_writes_checkpoint_and_report(tmp_path: Path, capsys) -> None:
    write_store(tmp_path / "data", 10, 5, seed=0)
    write_store(tmp_path / "ood", 3, 5, seed=1)
    argv = ["train", "--data", str(tmp_path / "data"), "--task", "cartpole_swingup",
            "--out", str(tmp_path / "out"), "--ood-data", str(tmp_path / "ood"),
            "--members", "3", "--hidden", "16", "--layers", "1", "--epochs", "2",
            "--holdout-fraction", "0.2", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs"] == 2 and summary["rollout_k"] == [1, 5, 10, 25]
    model, prov = load_checkpoint(summary["checkpoint"])
    assert model.cfg.members == 3 and prov["n_transitions"] == 400
    # the task declares each input's scale (half the ±10 N force range for the action) and
    # --seed reaches the ensemble's own initial weights
    assert model.cfg.input_scale == (1.0,) * 5 + (10.0,) and model.cfg.seed == 0
    assert len(prov["holdout_episodes"]) == 2 and prov["task"] == "cartpole_swingup"
    report = json.loads((tmp_path / "out" / "model_report.json").read_text())
    assert report["split"] == "holdout" and report["n_rows"] == 80
    assert report["obs_names"][0] == "x" and report["ood"]["n_rows"] == 120
    assert (tmp_path / "out" / "model_report.png").stat().st_size > 0
    # issue 17: one held-out episode calibrates, the other tests; raw and calibrated reported
    unc = report["uncertainty"]
    assert unc["calibrate_episodes"] + unc["test_episodes"] == sorted(prov["holdout_episodes"])
    assert unc["k"] == [1, 5, 10, 25] and set(unc["raw"]["coverage"]) == {"0.5", "0.9", "0.95"}
    assert len(unc["calibrated"]["coverage"]["0.9"]) == 4
    assert model.var_scale.shape == (25, 5)
    assert model.calibration_info["episodes"] == unc["calibrate_episodes"]
    assert len(summary["coverage90_calibrated"]) == 4
    # issue 19: the epochs' losses as TensorBoard events + metrics.csv beside the outputs
    from mbrl_control.recording.metrics import read_metrics_csv

    series = read_metrics_csv(tmp_path / "out" / "metrics")
    train_tags = [t for t in series if t.startswith("train/")]
    assert train_tags and len(series[train_tags[0]].steps) == summary["epochs"]
    assert any(
        p.name.startswith("events.out.tfevents") for p in (tmp_path / "out" / "metrics").iterdir()
    )


def test_train_cli_rejects_data_of_another_shape(tmp_path: Path, capsys) -> None:
    write_store(tmp_path / "data", 2, 3, seed=0)
    argv = ["train", "--data", str(tmp_path / "data"), "--task", "cartpole_swingup",
            "--out", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    assert main(argv) == 2
    assert "do not match task cartpole_swingup (5 / 1)" in capsys.readouterr().err
    assert not (tmp_path / "out" / "model.pt").exists()


def test_bench_train_prints_json() -> None:
    """Run in a subprocess: the bench sets torch's thread count for its whole process."""
    argv = [sys.executable, "-m", "mbrl_control.cli", "bench", "train", "--rows", "1000",
            "--members", "2", "--hidden", "16", "--layers", "1", "--batch-size", "100",
            "--threads", "1", "--json"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout)
    assert out["rows"] == 1000 and out["members"] == 2 and out["threads"] == 1
    assert out["samples_per_s_per_member"] > 0 and out["seconds_per_epoch"] > 0


def test_train_cli_seed_sets_the_initial_weights(tmp_path: Path, capsys) -> None:
    write_store(tmp_path / "data", 6, 5, seed=0)
    weights = {}
    for seed in (0, 1):
        argv = ["train", "--data", str(tmp_path / "data"), "--task", "cartpole_swingup",
                "--out", str(tmp_path / f"out{seed}"), "--members", "2", "--hidden", "8",
                "--layers", "1", "--epochs", "1", "--seed", str(seed), "--quiet"]  # fmt: skip
        assert main(argv) == 0
        model, _ = load_checkpoint(json.loads(capsys.readouterr().out)["checkpoint"])
        assert model.cfg.seed == seed
        weights[seed] = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    assert not np.allclose(weights[0], weights[1])
