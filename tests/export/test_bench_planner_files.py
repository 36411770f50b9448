"""``mbrl-control bench planner-files`` times planner files as exported (JSON; no timing is
asserted)."""

from __future__ import annotations

import json

from mbrl_control.cli import main
from mbrl_control.export.onnx_export import export_planner
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.tasks import get_task


def test_bench_planner_files_prints_each_file_relative_to_the_first(tmp_path, capsys):
    files = []
    for name in ("cartpole_swingup", "panda_reach"):  # goal-free and goal-conditioned
        task = get_task(name)
        model = Ensemble(EnsembleConfig.for_task(task, members=2, hidden=8, layers=1)).eval()
        cfg = PlannerConfig(kind="icem", horizon=3, population=10, particles=2, iterations=1)
        files.append(str(export_planner(model, task, cfg, tmp_path / f"{name}.onnx")))
    argv = ["bench", "planner-files", *files, "--calls", "4", "--rounds", "2", "--warmup", "1"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in out["files"]] == files
    assert out["files"][0]["p50_vs_first"] == 1.0
    assert all(r["calls"] == 4 and r["p50_ms"] > 0 for r in out["files"])
