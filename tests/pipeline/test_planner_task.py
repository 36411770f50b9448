"""``evaluate --planner`` without ``--task`` runs the planner file's own task: a built-in by
name, a task file by the path recorded in the file, and a clear error when that file is gone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from mbrl_control.export.onnx_export import export_planner
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.pipeline.evaluate import planner_task
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.tasks import get_task

FIXTURES = Path(__file__).resolve().parents[1] / "sim" / "fixtures"


def tiny_planner(task_ref: str | Path, path: Path) -> Path:
    task = get_task(task_ref)
    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig.for_task(task, members=2, hidden=8, layers=1))
    cfg = PlannerConfig(kind="cem", horizon=2, population=20, particles=2, iterations=1)
    return export_planner(model, task, cfg, path)


def test_the_planner_files_task_is_found(tmp_path: Path) -> None:
    assert planner_task(tiny_planner("cartpole_swingup", tmp_path / "b.onnx")) == "cartpole_swingup"
    for name in ("two_link_arm.urdf", "two_link_arm.task.yaml"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    task_file = tmp_path / "two_link_arm.task.yaml"
    planner = tiny_planner(task_file, tmp_path / "arm.onnx")
    assert Path(planner_task(planner)) == task_file
    task_file.unlink()
    with pytest.raises(ValueError, match="give --task"):
        planner_task(planner)
