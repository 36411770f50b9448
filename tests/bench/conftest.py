"""A tiny untrained cart-pole planner file for the benches' command tests (fast episodes; what
it does is not the point: it drives the cart into the rail's end stops)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tiny_planner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig
    from mbrl_control.tasks import get_task

    torch.manual_seed(0)
    task = get_task("cartpole_swingup")
    model = Ensemble(EnsembleConfig.for_task(task, members=2, hidden=8, layers=1)).eval()
    cfg = PlannerConfig(kind="icem", horizon=3, population=10, particles=2, iterations=1)
    return export_planner(model, task, cfg, tmp_path_factory.mktemp("planner") / "planner.onnx")
