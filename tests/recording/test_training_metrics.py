"""Issue 19's scalars that training and finetuning write beside their outputs, read back by
TensorBoard's event reader: ``train``'s hold-out validation and its calibration's 90 %
coverage per horizon, the finetune retrain's losses (one curve over the retrains into a
folder) next to its gate decisions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mbrl_control.cli import main
from mbrl_control.data.store import TransitionStore
from mbrl_control.recording.metrics import read_metrics_csv


def _events(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder))
    acc.Reload()
    return acc


def _smooth_store(root: Path, episodes: int, seed: int) -> None:
    """Episodes of a smooth random 5-D system (cart-pole shaped), 40 steps each."""
    store = TransitionStore(root)
    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        action = rng.uniform(-1, 1, (40, 1)).astype(np.float32)
        obs = np.zeros((41, 5), np.float32)
        for t in range(40):  # time loop of a tiny nonlinear system
            obs[t + 1] = 0.9 * obs[t] + 0.1 * np.tanh(obs[t].sum() + action[t, 0])
        store.append_episode(obs, action, {"seed": seed})


def test_train_logs_validation_and_coverage_per_horizon(seed: int, tmp_path: Path, capsys) -> None:
    _smooth_store(tmp_path / "data", 10, seed)
    out = tmp_path / "out"
    argv = ["train", "--data", str(tmp_path / "data"), "--task", "cartpole_swingup",
            "--out", str(out), "--members", "3", "--hidden", "16", "--layers", "1",
            "--epochs", "2", "--holdout-fraction", "0.2", "--seed", str(seed),
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    report = json.loads((out / "model_report.json").read_text())
    unc = report["uncertainty"]

    acc = _events(out / "metrics")
    for which in ("raw", "calibrated"):
        points = [(e.step, e.value) for e in acc.Scalars(f"coverage90/{which}")]
        assert [k for k, _ in points] == unc["k"] == [1, 5, 10, 25]  # step: the horizon
        assert np.allclose([v for _, v in points], unc[which]["coverage"]["0.9"])
        assert np.allclose([v for _, v in points], summary[f"coverage90_{which}"])
    (nmse,) = acc.Scalars("validation/holdout_nmse")
    assert nmse.step == summary["epochs"] and np.isclose(nmse.value, summary["holdout_nmse"])
    assert np.isclose(acc.Scalars("validation/holdout_nll")[0].value, summary["holdout_nll"])
    csv = read_metrics_csv(out / "metrics")
    assert csv["coverage90/calibrated"].steps == [1, 5, 10, 25]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A weakly trained live model (nominal sim) and "real" episodes from ``reality_gap``."""
    from mbrl_sim.collect import collect

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.checkpoint import save_checkpoint
    from mbrl_control.models.config import EnsembleConfig, TrainConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.models.trainer import fit
    from mbrl_control.planning.config import PlannerConfig
    from mbrl_control.tasks import get_task

    task = get_task("cartpole_swingup")
    root = tmp_path_factory.mktemp("finetune")
    collect(task.name, "none", 2, "random", 1, root / "sim", seed=1, quiet=True)
    collect(task.name, "reality_gap", 3, "random", 1, root / "real", seed=2, quiet=True)
    sim = TransitionStore(root / "sim").load()
    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(task.obs_dim, task.act_dim, members=2, hidden=16, layers=1))
    fit(model, sim.obs, sim.action, sim.next_obs, sim.episode_id, TrainConfig(max_epochs=2))
    cfg = PlannerConfig(kind="cem", horizon=5, population=16, particles=2, iterations=1)
    return {
        "root": root,
        "checkpoint": save_checkpoint(root / "model.pt", model, {"profile": "none"}),
        "planner": export_planner(model, task, cfg, root / "planner.onnx"),
    }


def test_finetune_logs_its_epochs_as_one_curve_over_retrains(live: dict, tmp_path: Path) -> None:
    """Two ``mbrl-control finetune`` runs into one folder (as finetune_node starts them): the
    second's epochs continue the first's ``finetune/*`` curve; each decision is a gate point."""
    out = tmp_path / "models"
    argv = ["finetune", "--data", str(live["root"] / "real"), "--checkpoint",
            str(live["checkpoint"]), "--planner", str(live["planner"]), "--out", str(out),
            "--max-epochs", "3", "--json", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert main(argv) == 0

    acc = _events(out / "metrics")
    loss = [e.step for e in acc.Scalars("finetune/train_loss")]
    holdout = [e.step for e in acc.Scalars("finetune/holdout_loss")]
    assert loss == holdout == list(range(1, len(loss) + 1))  # no step twice, none skipped
    assert 2 <= len(loss) <= 6  # both retrains (early stopping may end one before 3)
    assert [e.step for e in acc.Scalars("gate/deploy")] == [0, 1]
    assert {"gate/live_error", "gate/new_error"} <= set(acc.Tags()["scalars"])
