"""A planner file and a task of the same name but another observation are refused before any
episode runs, naming what differs (every planner consumer: evaluate, collect, the video).

Before, only the names were compared: a task file that gained a ``last_actions`` block (same
name) failed mid-episode with "obs must be 7 finite values"."""

from __future__ import annotations

import pytest
import yaml

from mbrl_control.cli import main
from mbrl_control.export.runtime import OnnxPlanner
from mbrl_control.tasks import load_task_file
from tests.control.goal_tasks import export_tiny_planner
from tests.tasks.history_tasks import cartpole_with_history


@pytest.fixture
def files(tmp_path):
    with_block = cartpole_with_history(tmp_path, steps=2, rate_weight=0)
    data = yaml.safe_load(with_block.read_text())
    data["observation"].pop()  # same name, no last_actions block
    plain = tmp_path / "plain.task.yaml"
    plain.write_text(yaml.safe_dump(data, sort_keys=False))
    planner = export_tiny_planner(with_block, tmp_path / "planner.onnx")
    return planner, plain


def test_runtime_refuses_a_task_with_another_observation(files):
    planner, plain = files
    with pytest.raises(ValueError, match="differ in obs_names"):
        OnnxPlanner(planner, expected_task=load_task_file(plain))


def test_evaluate_and_collect_refuse_before_running(files, tmp_path, capsys):
    planner, plain = files
    assert main(["evaluate", "--planner", str(planner), "--task", str(plain), "--episodes", "1",
                 "--quiet"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "differ in obs_names" in err and "cart_force_prev1" in err
    argv = ["collect", "--task", str(plain), "--episodes", "1", "--policy", f"planner:{planner}",
            "--out", str(tmp_path / "o"), "--quiet"]  # fmt: skip
    assert main(argv) == 2  # one line, nothing stored
    assert "differ in obs_names" in capsys.readouterr().err
