"""``mbrl-control ablation refine`` on a tiny budget: the same code as the measured study
(export each cell, paired episodes through onnxruntime), one episode per cell."""

from __future__ import annotations

import json

from mbrl_control.cli import main
from mbrl_control.pipeline.refine_study import study_cells
from mbrl_control.planning.presets import PLANNER_PRESETS


def test_cells_are_the_plain_planner_its_refinements_and_more_sampling() -> None:
    base = PLANNER_PRESETS["cartpole-rt"][1]
    cells = study_cells(base, (1, 3), (2, 4))
    assert [(c.iterations, c.refine_steps) for _, c in cells] == [(2, 0), (2, 1), (2, 3), (4, 0)]


def test_tiny_study_writes_the_table(fx, tmp_path, capsys) -> None:
    out = tmp_path / "study"
    argv = f"ablation refine --checkpoint {fx}/model5.pt --preset cartpole-rt --episodes 2 "
    argv += f"--refine-steps 1 --iterations 3 --out {out} --quiet"
    assert main(argv.split()) == 0
    printed = capsys.readouterr().out
    assert "| + 1 gradient step(s) |" in printed and "| I=3, no refinement |" in printed
    result = json.loads((out / "refine_study.json").read_text())
    rows = result["rows"]
    assert [r["refine_steps"] for r in rows] == [0, 1, 0]
    assert rows[0]["diff_vs_plain"] == 0.0 and rows[0]["p_value"] is None
    drop = rows[1]["objective_drop"]  # the refiner lowers the planner's own objective
    assert drop["states"] == 40 and drop["mean_drop"] >= 0.0 and 0.0 <= drop["no_step_share"] <= 1
    assert "objective_drop" not in rows[0] and "objective_drop" not in rows[2]
    for row in rows:  # paired: the same two episodes in every cell
        assert len(row["returns"]) == 2 and row["latency_p99_ms"] >= row["latency_p50_ms"] > 0
    assert (out / "refine_study.md").read_text().startswith("| cell |")


def test_one_episode_cells_write_strict_json() -> None:
    """One episode has no interval: the row holds null, not NaN (invalid JSON)."""
    from mbrl_control.pipeline.refine_study import _row, markdown_table

    summary = {"returns": [-90.0], "success_rate": 1.0, "latency_ms": {"p50": 1.0, "p99": 2.0}}
    row = _row("plain", PLANNER_PRESETS["cartpole-rt"][1], summary, [-90.0])
    text = json.dumps(row, allow_nan=False)  # raises on NaN
    assert json.loads(text)["ci95"] == [None, None]
    config = {
        "task": "t",
        "preset": "p",
        "horizon": 1,
        "population": 2,
        "episodes": 1,
        "seed": 0,
        "profile": "default",
        "refine_step_size": 0.1,
        "checkpoint": "c",
    }
    assert "nan" in markdown_table({"rows": [row], "config": config})


def test_agent_value_is_in_every_cell(fx, tmp_path, capsys) -> None:
    """--agent: the terminal value is exported into every cell (refinement differentiates
    through it); it was accepted and ignored before."""
    from mbrl_control.export.runtime import OnnxPlanner

    agent = _tiny_agent(tmp_path)
    out = tmp_path / "v"
    argv = f"ablation refine --checkpoint {fx}/model5.pt --preset cartpole-rt --episodes 1 "
    argv += f"--refine-steps 1 --iterations 3 --horizon 4 --agent {agent} --out {out} --quiet"
    assert main(argv.split()) == 0
    assert "+ terminal value of" in capsys.readouterr().out
    for cell in ("cell_0.onnx", "cell_1.onnx"):
        meta = OnnxPlanner(out / cell).metadata
        assert meta["planner_config"]["horizon"] == 4 and meta["planner_config"]["discount"] < 1.0
    assert json.loads((out / "refine_study.json").read_text())["rows"][1]["objective_drop"]


def _tiny_agent(tmp_path):
    import torch

    from mbrl_control.agents.checkpoint import save_agent
    from mbrl_control.agents.config import SACConfig
    from mbrl_control.agents.sac import SAC
    from mbrl_control.tasks import get_task

    task = get_task("cartpole_swingup")
    torch.manual_seed(0)
    agent = SAC(task.obs_dim, task.low, task.high, SACConfig(hidden=16, value_hidden=16))
    path = tmp_path / "agent.pt"
    save_agent(path, agent, {"task": task.name, "run": "test"})
    return path
