"""Smoke runs of ``mbrl-control train-value`` and ``mbrl-control ablation value`` at tiny sizes."""

import json

import numpy as np
import pytest
import torch

from mbrl_control.cli import main
from mbrl_control.data.store import TransitionStore
from mbrl_control.models.checkpoint import save_checkpoint
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble

pytest.importorskip("pybullet")


@pytest.fixture
def store_and_model(tmp_path):
    rng = np.random.default_rng(0)
    store = TransitionStore(tmp_path / "data")
    for _ in range(2):
        theta = rng.uniform(-np.pi, np.pi, 21)
        obs = np.stack([rng.normal(0, 0.3, 21), np.cos(theta), np.sin(theta),
                        rng.normal(0, 1, 21), rng.normal(0, 2, 21)], 1)  # fmt: skip
        store.append_episode(obs, rng.uniform(-10, 10, (20, 1)), {"policy": "random"})
    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(5, 1, members=5, hidden=8, layers=2)).eval()
    return tmp_path / "data", save_checkpoint(tmp_path / "model.pt", model)


def test_train_value_writes_agent_policy_and_report(store_and_model, tmp_path, capsys):
    data, ckpt = store_and_model
    out = tmp_path / "value"
    argv = ["train-value", "--task", "cartpole_swingup", "--data", str(data), "--checkpoint",
            str(ckpt), "--out", str(out), "--epochs", "2", "--updates", "3", "--branches", "8",
            "--eval-episodes", "0", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert len(report["history"]) == 2 and (out / "agent.pt").is_file()
    assert (out / "report.png").stat().st_size > 10_000
    assert {"imagined_return", "critic_loss", "rollout_length", "real_ratio"} <= set(
        report["history"][0]
    )
    assert '"policy":' in capsys.readouterr().out
    bad = ["train-value", "--task", "cartpole_swingup", "--data", str(tmp_path / "none"),
           "--checkpoint", str(ckpt), "--out", str(out), "--quiet"]  # fmt: skip
    assert main(bad) == 2


def test_ablation_value_prints_the_table(store_and_model, tmp_path, capsys):
    data, ckpt = store_and_model
    out = tmp_path / "value"
    main(["train-value", "--task", "cartpole_swingup", "--data", str(data), "--checkpoint",
          str(ckpt), "--out", str(out), "--epochs", "1", "--updates", "1", "--branches", "4",
          "--eval-episodes", "0", "--quiet"])  # fmt: skip
    argv = ["ablation", "value", "--checkpoint", str(ckpt), "--agent", str(out / "agent.pt"),
            "--out", str(tmp_path / "abl"), "--horizons", "3", "--episodes", "1",
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| H=3 | value+prior |" in table and "policy only" in table


def test_ablation_rollout_length_writes_tables_and_plot(store_and_model, tmp_path, capsys):
    data, ckpt = store_and_model
    out = tmp_path / "value"
    main(["train-value", "--task", "cartpole_swingup", "--data", str(data), "--checkpoint",
          str(ckpt), "--out", str(out), "--epochs", "1", "--updates", "1", "--branches", "4",
          "--eval-episodes", "0", "--quiet"])  # fmt: skip
    study = tmp_path / "study"
    argv = ["ablation", "rollout-length", "--checkpoint", str(ckpt), "--agent",
            str(out / "agent.pt"), "--data", str(data), "--out", str(study), "--ks", "1,5,30",
            "--episodes", "1", "--train-ks", "1,2", "--epochs", "1", "--updates", "2",
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((study / "rollout_study.json").read_text())
    fresh = report["compounding"]["policy (fresh, sim)"]
    assert fresh["k"] == [1, 5, 30] and len(fresh["spread_nmse"]) == 3
    assert report["compounding"]["store (newest, seen in training)"]["skipped_k"] == [30]
    assert [r["k"] for r in report["branch_length"]] == [1, 2]
    assert (study / "rollout_study.png").stat().st_size > 10_000
    assert "| branch length k |" in capsys.readouterr().out
    no_data = argv[:6] + argv[8:]  # without --data
    assert main(no_data) == 2


def test_export_with_agent_plans_short_with_value_and_prior(store_and_model, tmp_path):
    pytest.importorskip("onnxruntime")
    from mbrl_control.export.runtime import OnnxPlanner

    data, ckpt = store_and_model
    out = tmp_path / "value"
    main(["train-value", "--task", "cartpole_swingup", "--data", str(data), "--checkpoint",
          str(ckpt), "--out", str(out), "--epochs", "1", "--updates", "1", "--branches", "4",
          "--eval-episodes", "0", "--quiet"])  # fmt: skip
    planner = tmp_path / "planner.onnx"
    argv = ["export", "--checkpoint", str(ckpt), "--task", "cartpole_swingup", "--preset",
            "cartpole-rt", "--horizon", "5", "--agent", str(out / "agent.pt"),
            "--prior-frac", "0.25", "--out", str(planner)]  # fmt: skip
    assert main(argv) == 0
    runtime = OnnxPlanner(planner, expected_task="cartpole_swingup", threads=1)
    cfg = runtime.metadata["planner_config"]
    assert (cfg["horizon"], cfg["discount"], cfg["prior_frac"]) == (5, 0.99, 0.25)
    action = runtime.act(np.array([0.0, -1.0, 0.0, 0.0, 0.0], np.float32))
    assert action.shape == (1,) and np.all(np.abs(action) <= 10.0)
    assert main([*argv[:-6], "--prior-frac", "0.25", "--out", str(planner)]) == 2  # no agent
