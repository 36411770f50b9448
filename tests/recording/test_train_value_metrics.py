"""``mbrl-control train-value`` logs every MBPO epoch and the policy's evaluation as
TensorBoard scalars + CSV under ``OUT/metrics``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mbrl_control.cli import main
from mbrl_control.data.store import TransitionStore
from mbrl_control.models.checkpoint import save_checkpoint
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.recording.metrics import read_metrics_csv

pytestmark = pytest.mark.slow


def test_train_value_logs_mbpo_epochs(seed: int, tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(seed)
    store = TransitionStore(tmp_path / "data")
    theta = rng.uniform(-np.pi, np.pi, 21)
    obs = np.stack([rng.normal(0, 0.3, 21), np.cos(theta), np.sin(theta),
                    rng.normal(0, 1, 21), rng.normal(0, 2, 21)], 1)  # fmt: skip
    store.append_episode(obs, rng.uniform(-10, 10, (20, 1)), {"policy": "random"})
    torch.manual_seed(seed)
    ckpt = save_checkpoint(
        tmp_path / "model.pt", Ensemble(EnsembleConfig(5, 1, members=2, hidden=8, layers=2))
    )
    out = tmp_path / "value"
    argv = ["train-value", "--task", "cartpole_swingup", "--data", str(tmp_path / "data"),
            "--checkpoint", str(ckpt), "--out", str(out), "--epochs", "3", "--updates", "2",
            "--branches", "8", "--eval-episodes", "1", "--seed", str(seed), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert f'"metrics": "{out / "metrics"}"' in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())

    acc = EventAccumulator(str(out / "metrics"))
    acc.Reload()
    critic = [(e.step, e.value) for e in acc.Scalars("mbpo/critic_loss")]
    assert [s for s, _ in critic] == [0, 1, 2]
    assert np.allclose([v for _, v in critic], [h["critic_loss"] for h in report["history"]])
    ev = acc.Scalars("policy_eval/mean_return")
    assert len(ev) == 1 and np.isclose(ev[0].value, report["policy_eval"]["mean_return"])
    # the policy's latency where the evaluation measures it (ms, p50 and p99)
    for q in ("p50", "p99"):
        (lat,) = acc.Scalars(f"policy_eval/latency_{q}_ms")
        assert np.isclose(lat.value, report["policy_eval"]["latency_ms"][q], rtol=1e-6)
    assert read_metrics_csv(out / "metrics")["mbpo/real_ratio"].steps == [0, 1, 2]
