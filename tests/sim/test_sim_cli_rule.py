"""Subcommands that run the simulator take any task file with a robot (``robot.urdf``); a task
without one, or whose scene the URDF cannot give, is refused at parse time in one line
(exit 2, nothing written). In-process ``main(argv)`` like tests/cli/test_cli_errors.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mbrl_control.cli import main
from mbrl_control.cli.checks import sim_task_name
from mbrl_control.tasks import builtin_task_files

ARM = Path(__file__).resolve().parent / "fixtures" / "two_link_arm.task.yaml"

# every subcommand whose --task goes through sim_task_name; {w} is a scratch folder holding
# empty files f.pt / agent.pt and a folder d (their existence is all the parser checks)
SIM_COMMANDS = [
    "adapt --run {w}/d --data {w}/d --out {w}/o",
    "calibrate --data {w}/d --out {w}/o/c.yaml",
    "collect --episodes 1 --out {w}/o",
    "evaluate --oracle cartpole --episodes 1",
    "pretrain --out {w}/o",
    "experiment --out {w}/o",
    "ablation value --checkpoint {w}/f.pt --agent {w}/agent.pt --out {w}/o",
    "train-value --data {w}/d --checkpoint {w}/f.pt --out {w}/o",
]


def _one_line_exit_2(argv: list[str], capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "f.pt").write_bytes(b"")
    (tmp_path / "agent.pt").write_bytes(b"")
    (tmp_path / "d").mkdir()
    return tmp_path


def robotless(folder: Path) -> Path:
    data = yaml.safe_load(builtin_task_files()["cartpole_swingup"].read_text())
    data.pop("robot")
    data.update(name="no_robot")
    path = folder / "no_robot.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("case", SIM_COMMANDS, ids=lambda c: c.split()[0])
def test_sim_commands_refuse_a_task_without_robot(case, scratch, capsys) -> None:
    task = robotless(scratch)
    argv = [*case.format(w=scratch).split(), "--task", str(task)]
    line = _one_line_exit_2(argv, capsys)
    assert "'no_robot'" in line and "cannot be simulated: it sets no robot.urdf" in line, line
    assert not (scratch / "o").exists()


def test_sim_commands_refuse_a_scene_the_urdf_cannot_give(tmp_path, capsys) -> None:
    data = yaml.safe_load(ARM.read_text())
    data["robot"]["urdf"] = str(ARM.parent / "two_link_arm.urdf")
    data["simulation"] = {"push": {"link": "gripper"}}
    task = tmp_path / "arm.task.yaml"
    task.write_text(yaml.safe_dump(data, sort_keys=False))
    argv = ["collect", "--episodes", "1", "--out", str(tmp_path / "o"), "--task", str(task)]
    line = _one_line_exit_2(argv, capsys)
    assert "simulation.push.link='gripper'; allowed (links of two_link_arm.urdf)" in line, line
    assert not (tmp_path / "o").exists()


def test_sim_commands_take_task_files_with_a_robot() -> None:
    """Built-in names, shipped files, a copy under a new name and a user's URDF task."""
    assert sim_task_name("cartpole_swingup") == "cartpole_swingup"
    shipped = str(builtin_task_files()["panda_reach"])
    assert sim_task_name(shipped) == shipped
    assert sim_task_name(str(ARM)) == str(ARM)
