"""`mbrl-control calibrate`: bad input is one line on stderr and exit 2, nothing written; a small
run writes a profile every command accepts and prints its report with --json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mbrl_control.cli import main
from mbrl_control.tasks import builtin_task_files


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _no_velocity_task(folder: Path) -> Path:
    """The cart-pole without its joint_velocities observation block (and the critic that
    needs them)."""
    data = yaml.safe_load(builtin_task_files()["cartpole_swingup"].read_text())
    data["observation"] = [b for b in data["observation"] if b["feature"] != "joint_velocities"]
    data["critics"] = [c for c in data["critics"] if c["kind"] != "pendulum_energy"]  # needs θ̇
    data.update(name="no_velocities")
    path = folder / "no_vel.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _store(root: Path, obs_dim: int, episodes: int = 1) -> Path:
    from mbrl_control.data.store import TransitionStore

    store = TransitionStore(root)
    rng = np.random.default_rng(0)
    for _ in range(episodes):
        store.append_episode(rng.normal(size=(41, obs_dim)), rng.uniform(-1, 1, (40, 1)), {})
    return root


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ("--data {w}/typo --out {w}/c.yaml", "argument --data: no such directory"),
        ("--data {w}/empty --out {w}/o/c.yaml", "the transition store holds no episodes"),
        ("--data {w}/wide --out {w}/o/c.yaml", "widths 7/1 are not task 'cartpole_swingup'"),
        ("--data {w}/empty --out {w}/c.txt", "--out: must end in .yaml or .yml"),
        ("--data {w}/empty --out {w}", "--out: is a directory"),
        ("--data {w}/empty --out {w}/c.yaml --evaluations 3", "--evaluations"),
        ("--data {w}/empty --out {w}/c.yaml --max-delay -1", "--max-delay"),
        ("--data {w}/short --out {w}/o/c.yaml", "no replay window fits"),
        ("--data {w}/short --out {w}/o/c.yaml --max-delay 21", "max_delay must be in [0, 20]"),
        ("--data {w}/empty --out {w}/c.yaml --base-profile nope", "--base-profile"),
        ("--data {w}/long --out {w}/o/c.yaml --evaluations 8", "need at least one CMA-ES"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: str, says: str, tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    _store(tmp_path / "wide", 7)
    _store(tmp_path / "long", 5)
    from mbrl_control.data.store import TransitionStore

    TransitionStore(tmp_path / "short").append_episode(np.zeros((6, 5)), np.zeros((5, 1)), {})
    argv = ["calibrate", "--task", "cartpole_swingup", *args.format(w=tmp_path).split()]
    line = _one_line_exit_2(argv, capsys)
    assert says in line, line
    assert line.startswith("mbrl-control calibrate: error:"), line
    assert not (tmp_path / "typo").exists() and not (tmp_path / "o").exists()


def test_a_task_without_joint_velocities_is_refused(tmp_path: Path, capsys) -> None:
    task = _no_velocity_task(tmp_path)
    data = _store(tmp_path / "data", 3)
    argv = ["calibrate", "--task", str(task), "--data", str(data), "--out", f"{tmp_path}/o/c.yaml"]
    line = _one_line_exit_2(argv, capsys)
    assert "cannot calibrate from" in line and "every joint's position and velocity" in line
    assert "slider_to_cart" in line and "cart_to_pole" in line, line
    assert not (tmp_path / "o").exists()


def test_small_run_writes_a_profile_every_command_accepts(tmp_path: Path, capsys) -> None:
    """Sim data under the nominal profile, 2 episodes, a tiny budget: the written profile
    loads through --profile's own check and the JSON report is printed and saved."""
    from mbrl_sim.collect import collect

    from mbrl_control.cli.checks import profile_ref

    collect("cartpole_swingup", "nominal", 2, "random", 1, tmp_path / "real", quiet=True)
    out = tmp_path / "cal" / "calibrated.yaml"
    argv = [
        "calibrate", "--task", "cartpole_swingup", "--data", str(tmp_path / "real"),
        "--out", str(out), "--evaluations", "16", "--starts", "8", "--max-delay", "1",
        "--base-profile", "nominal", "--quiet", "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["evaluations_used"] <= 16
    assert set(report["fitted"]) >= {"actuator_gain", "action_delay", "obs_noise_vel"}
    assert profile_ref(str(out)) == str(out)
    assert json.loads(out.with_suffix(".json").read_text())["fitted"] == report["fitted"]
