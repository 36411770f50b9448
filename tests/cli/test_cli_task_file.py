"""``--task my_robot.task.yaml`` across the CLI (issue 15, slice 2).

Subcommands take a task file (``train``/``export`` end to end on a copied built-in file under a
new name, data collected under cartpole_swingup; subcommands that need the simulator take any
file with a robot, tests/sim/test_sim_cli_rule.py); a bad task file is one line naming the
file and key. In-process ``main(argv)`` like test_cli_errors.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mbrl_control.cli import main
from mbrl_control.tasks import builtin_task_files


def copied(folder: Path, name: str, **changes) -> Path:
    data = yaml.safe_load(builtin_task_files()["cartpole_swingup"].read_text())
    data.update(name=name, **changes)
    path = folder / f"{name}.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _one_line_exit_2(argv: list[str], capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_sim_commands_take_a_task_file_with_a_robot(tmp_path) -> None:
    """The simulator builds the scene from the file's robot.urdf (the refusal of task files
    without one: tests/sim/test_sim_cli_rule.py); the path is passed on as given."""
    from mbrl_control.cli.checks import sim_task_name

    shipped = str(builtin_task_files()["cartpole_swingup"])
    assert sim_task_name(shipped) == shipped
    task = str(copied(tmp_path, "my_cartpole"))
    assert sim_task_name(task) == task


@pytest.mark.parametrize("command", ["train", "export", "finetune", "evaluate"])
def test_a_bad_task_file_is_one_line_naming_the_key(command, fx, tmp_path, capsys) -> None:
    bad = copied(tmp_path, "my_cartpole", control_rate=-5)
    argv = [command, "--task", str(bad)]
    line = _one_line_exit_2(argv, capsys)
    assert "my_cartpole.task.yaml" in line and "control_rate" in line, line
    line = _one_line_exit_2([command, "--task", str(tmp_path / "absent.yaml")], capsys)
    assert "absent.yaml" in line, line


@pytest.fixture(scope="module")
def cartpole_data(tmp_path_factory) -> Path:
    """Three short random episodes collected in the simulator under cartpole_swingup."""
    out = tmp_path_factory.mktemp("collected") / "data"
    argv = ["collect", "--task", "cartpole_swingup", "--episodes", "3", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    return out


def test_train_and_export_with_a_task_file(cartpole_data, tmp_path, capsys) -> None:
    from mbrl_control.control.core import ControllerConfig, ControllerCore
    from mbrl_control.export.runtime import OnnxPlanner

    task = copied(tmp_path, "my_cartpole")
    model = tmp_path / "model"
    argv = ["train", "--data", str(cartpole_data), "--task", str(task), "--out", str(model)]
    argv += ["--members", "5", "--hidden", "16", "--layers", "1", "--epochs", "2", "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
    planner = tmp_path / "planner.onnx"
    argv = ["export", "--checkpoint", str(model / "model.pt"), "--task", str(task)]
    argv += ["--preset", "cartpole-rt", "--out", str(planner)]
    assert main(argv) == 0, capsys.readouterr().err
    task.unlink()  # the planner alone carries the task from now on
    meta = OnnxPlanner(planner).metadata
    assert meta["task"]["task"] == "my_cartpole" and "definition" in meta["task"]
    core = ControllerCore(ControllerConfig(model_path=str(planner)))
    assert core.task.name == "my_cartpole"
    assert core.reload(str(planner))[0]


def test_finetune_refuses_a_task_that_disagrees_with_the_planner(fx, tmp_path, capsys) -> None:
    task = copied(tmp_path, "my_cartpole")
    argv = ["finetune", "--data", str(fx / "data"), "--checkpoint", str(fx / "model5.pt")]
    argv += ["--planner", str(fx / "planner.onnx"), "--out", str(tmp_path / "o")]
    line = _one_line_exit_2([*argv, "--task", str(task), "--quiet"], capsys)
    assert "'my_cartpole'" in line and "'cartpole_swingup'" in line, line
