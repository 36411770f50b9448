"""``pretrain`` logs its training epochs and rounds as TensorBoard scalars + CSV under
``OUT/metrics``; a resumed run continues the same curves."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mbrl_control.pipeline.pretrain import PretrainConfig, pretrain
from mbrl_control.recording.metrics import read_metrics_csv

pytestmark = pytest.mark.slow

TINY = PretrainConfig(seed_episodes=2, rounds=0, episodes_per_round=1, workers=1, max_epochs=2)


def test_pretrain_rounds_and_epochs_in_tensorboard(seeds, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = replace(TINY, seed=seeds(0))
    pretrain(cfg, out, quiet=True)
    pretrain(replace(cfg, rounds=1), out, quiet=True)  # resumes: one planner round more
    rounds = json.loads((out / "rounds.json").read_text())

    acc = EventAccumulator(str(out / "metrics"))
    acc.Reload()
    mean_return = [(e.step, e.value) for e in acc.Scalars("round/mean_return")]
    assert [s for s, _ in mean_return] == [0, 1]
    assert np.allclose([v for _, v in mean_return], [r["mean_return"] for r in rounds])
    epochs = [e.step for e in acc.Scalars("train/train_loss")]
    assert epochs == list(range(1, sum(r["epochs"] for r in rounds) + 1))
    assert {"train/holdout_score", "round/holdout_mse", "round/min_return"} <= set(
        acc.Tags()["scalars"]
    )

    csv = read_metrics_csv(out / "metrics")
    assert csv["train/train_loss"].steps == epochs
    assert csv["round/transitions_total"].values == [float(r["transitions_total"]) for r in rounds]
