"""``mbrl-control finetune --bag DIR|FILE`` end to end: reads the bag, prints the one-line
summary, retrains and gates (a tiny model, two epochs)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from bag_files import EPOCH, robot_run, write_bag

from mbrl_control.export.onnx_export import export_planner
from mbrl_control.models.checkpoint import save_checkpoint
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(TASK.obs_dim, TASK.act_dim, members=2, hidden=16, layers=2))
    ckpt = save_checkpoint(root / "model.pt", model, {"profile": "none"})
    cfg = PlannerConfig(kind="cem", horizon=3, population=16, particles=2, iterations=1)
    return root, ckpt, export_planner(model, TASK, cfg, root / "planner.onnx")


def _finetune(live, bag, *extra):
    root, ckpt, planner = live
    argv = [sys.executable, "-m", "mbrl_control.cli", "finetune", "--bag", str(bag)]
    argv += ["--task", TASK.name, "--checkpoint", str(ckpt), "--planner", str(planner)]
    argv += ["--out", str(root / "out"), "--max-epochs", "2", "--json", "--quiet", *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["sqlite3", "file"])
def test_finetune_reads_a_bag_directory_or_file(tmp_path, live, storage):
    times = np.delete(np.arange(150) * TASK.dt, 70)  # one dropped state: two episodes
    bag = write_bag(tmp_path / "bag", robot_run(times, stamp0=0.0, log0=EPOCH), storage)
    proc = _finetune(live, bag)
    assert proc.returncode == 0, proc.stderr
    assert f"bag {bag}: kept 147 transitions in 2 episodes" in proc.stderr
    assert json.loads(proc.stdout)["n_real"] == 147


def test_finetune_on_an_unusable_bag_says_why(tmp_path, live):
    msgs = [m for m in robot_run(np.arange(20) * TASK.dt) if "joint" in m.topic]
    bag = write_bag(tmp_path / "bag", msgs)
    proc = _finetune(live, bag)
    assert proc.returncode != 0
    assert "commands" in proc.stderr and str(bag) in proc.stderr


def test_a_bag_that_keeps_nothing_is_one_line_naming_the_joints(tmp_path, live):
    """A bag of another robot: one error line that names the joints the task expected."""
    msgs = robot_run(np.arange(20) * TASK.dt)
    for m in msgs:
        if "joint" in m.topic:
            m.data["names"] = ["left_wheel", "right_wheel"]
    bag = write_bag(tmp_path / "bag", msgs)
    proc = _finetune(live, bag)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "kept 0 transitions" in lines[0] and "'slider_to_cart'" in lines[0], lines[0]
