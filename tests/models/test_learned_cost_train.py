"""``mbrl-control train`` on a task file with ``cost: learned`` trains the reward head, and the
exported planner plans with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_model_cli import write_store

from mbrl_control.cli import main
from mbrl_control.models.checkpoint import load_checkpoint
from mbrl_control.tasks import get_task
from mbrl_control.tasks.task_file import BUILTIN_DIR


def learned_cartpole(tmp_path: Path) -> Path:
    """The built-in cart-pole task file with ``cost: learned`` (its critics give the targets)."""
    text = (BUILTIN_DIR / "cartpole_swingup.task.yaml").read_text()
    path = tmp_path / "cartpole_learned.task.yaml"
    path.write_text(text.rstrip() + "\ncost: learned\n")
    return path


def test_train_enables_the_reward_head_for_a_learned_cost_task(tmp_path: Path, capsys) -> None:
    task_path = learned_cartpole(tmp_path)
    task = get_task(task_path)
    assert task.cost_source == "learned"
    write_store(tmp_path / "data", 6, 5, seed=0)
    argv = ["train", "--data", str(tmp_path / "data"), "--task", str(task_path),
            "--out", str(tmp_path / "out"), "--members", "5", "--hidden", "16", "--layers", "1",
            "--epochs", "2", "--holdout-fraction", "0.2", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    model, provenance = load_checkpoint(summary["checkpoint"])
    assert model.cfg.reward_head and provenance["cost"].startswith("learned")
    # the cost normalizer was fitted on the critics' per-step cost of the stored transitions
    from mbrl_control.data.store import TransitionStore
    from mbrl_control.models.cost_targets import transition_costs

    data = TransitionStore(tmp_path / "data").load()
    cost = transition_costs(task, data.obs, data.action, data.next_obs, data.goal)
    assert float(model.cost_norm.std[0]) > 0 and np.isfinite(cost).all()
    assert abs(float(model.cost_norm.mean[0]) - cost.mean()) < 3 * cost.std()
    # and it exports a planner whose per-step cost is that head
    out = tmp_path / "planner.onnx"
    argv = ["export", "--checkpoint", summary["checkpoint"], "--task", str(task_path),
            "--out", str(out), "--preset", "cartpole-rt", "--horizon", "5"]  # fmt: skip
    assert main(argv) == 0
    pytest.importorskip("onnxruntime")
    from mbrl_control.export.runtime import OnnxPlanner

    planner = OnnxPlanner(out)
    assert planner.metadata["cost"]["source"] == "learned"
    assert np.isfinite(planner.act(np.array([0.0, -1.0, 0.0, 0.0, 0.0]))).all()
    with torch.no_grad():  # the same head, queried directly, is finite on the data
        e = model.members
        head = model.forward_cost(
            torch.as_tensor(data.obs[:10]).expand(e, -1, -1),
            torch.as_tensor(data.action[:10]).expand(e, -1, -1),
        )
    assert torch.isfinite(head).all()


def test_finetune_retrains_a_learned_cost_model(tmp_path: Path, capsys) -> None:
    """``finetune`` on a ``cost: learned`` planner trains the reward head on the real data too
    (it called ``fit`` without the costs, which a reward-head model refuses)."""
    task_path = learned_cartpole(tmp_path)
    write_store(tmp_path / "data", 6, 5, seed=0)
    argv = ["train", "--data", str(tmp_path / "data"), "--task", str(task_path),
            "--out", str(tmp_path / "out"), "--members", "5", "--hidden", "16", "--layers", "1",
            "--epochs", "2", "--holdout-fraction", "0.2", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    checkpoint = json.loads(capsys.readouterr().out)["checkpoint"]
    planner = tmp_path / "planner.onnx"
    argv = ["export", "--checkpoint", checkpoint, "--task", str(task_path),
            "--out", str(planner), "--preset", "cartpole-rt", "--horizon", "5"]  # fmt: skip
    assert main(argv) == 0
    write_store(tmp_path / "real", 4, 5, seed=1)
    argv = ["finetune", "--data", str(tmp_path / "real"), "--checkpoint", checkpoint,
            "--planner", str(planner), "--out", str(tmp_path / "new"), "--max-epochs", "2",
            "--quiet"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
