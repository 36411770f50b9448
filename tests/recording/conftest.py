"""A tiny untrained cart-pole planner file (fast episodes; what it does is not the point)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tiny_planner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.planner import PRESETS
    from mbrl_control.tasks import get_task

    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(5, 1, members=5, hidden=8, layers=1)).eval()
    path = tmp_path_factory.mktemp("planner") / "planner.onnx"
    cfg = PRESETS["cartpole-rt"][1]
    export_planner(model, get_task("cartpole_swingup"), cfg, path, provenance={"run": "test"})
    return path
