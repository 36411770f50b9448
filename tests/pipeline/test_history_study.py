"""``ablation action-history``: same episodes with and without the last_actions block."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mbrl_control.pipeline.history_study import markdown_table, run_history_study
from mbrl_control.tasks import get_task, load_task_file

ACROBOT = Path(__file__).resolve().parents[2] / "examples/acrobot/acrobot_swingup.task.yaml"


def test_history_study_tiny_budget(tmp_path):
    result = run_history_study(
        "cartpole_swingup", tmp_path, steps=2, episodes=3, holdout=1, epochs=2, quiet=True
    )
    assert result["same_episodes"]  # the block does not change what the simulator does
    variant = load_task_file(result["variant_task_file"])
    assert variant.action_history == 2
    assert variant.obs_names[:5] == get_task("cartpole_swingup").obs_names
    without, with_ = result["rows"]
    assert (without["obs_dim"], with_["obs_dim"]) == (5, 7)
    assert len(without["nmse_per_dim"]) == len(with_["nmse_per_dim"]) == 5  # shared dims
    assert json.loads((tmp_path / "action_history.json").read_text())["steps"] == 2
    assert markdown_table(result).count("\n") == 3


def test_variant_of_a_relative_urdf_loads_anywhere(tmp_path):
    from mbrl_control.pipeline.history_study import write_history_variant

    task = load_task_file(ACROBOT)
    path = write_history_variant(task, 1, tmp_path / "elsewhere")
    variant = load_task_file(path)
    assert variant.obs_dim == task.obs_dim + 1
    assert yaml.safe_load(path.read_text())["robot"]["urdf"].endswith("acrobot.urdf")
    with pytest.raises(ValueError, match="already observes"):
        write_history_variant(variant, 1, tmp_path)
