"""finetune_node's background jobs (issue 16): command lines the CLI accepts, run at a
niceness of at least 10 in their own process."""

from __future__ import annotations

import subprocess

import pytest

from mbrl_control.cli import build_parser
from mbrl_control.finetune.jobs import adapt_argv, finetune_argv, niced_argv


def test_job_command_lines_parse_with_the_cli(tmp_path) -> None:
    for d in ("real", "run", "out"):
        (tmp_path / d).mkdir()
    (tmp_path / "m.pt").write_bytes(b"")
    (tmp_path / "p.onnx").write_bytes(b"")
    parser = build_parser()
    ft = parser.parse_args(finetune_argv(
        str(tmp_path / "real"), str(tmp_path / "out"), str(tmp_path / "m.pt"),
        str(tmp_path / "p.onnx"), real_ratio=0.8, holdout_episodes=2, max_epochs=7,
        sim_data=str(tmp_path / "run"),
    ))  # fmt: skip
    assert (ft.command, ft.real_ratio, ft.holdout_episodes, ft.max_epochs) == (
        "finetune", 0.8, 2, 7,
    )  # fmt: skip
    ad = parser.parse_args(adapt_argv(
        "cartpole_swingup", str(tmp_path / "run"), str(tmp_path / "real"),
        str(tmp_path / "out" / "a"), str(tmp_path / "m.pt"), rounds=1, episodes_per_round=3,
        evaluations=64, holdout_episodes=2, real_ratio=0.7, max_epochs=5,
    ))  # fmt: skip
    assert ad.command == "adapt" and ad.current == str(tmp_path / "m.pt") and ad.json
    assert (ad.rounds, ad.episodes_per_round, ad.evaluations, ad.real_ratio) == (1, 3, 64, 0.7)


def test_niceness_is_at_least_ten() -> None:
    for bad in (0, 9, 20):
        with pytest.raises(ValueError, match=r"job niceness .*: allowed 10\.\.19"):
            niced_argv(bad, ["--help"])
    assert niced_argv(0, ["x"], least=0)[-2:] == ["0", "x"]


def test_the_job_process_lowers_its_own_priority_first() -> None:
    out = subprocess.run(
        niced_argv(11, ["adapt", "--help"]), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    first = out.stderr.splitlines()[0]
    assert first.startswith("niceness ") and int(first.split()[1]) >= 11
    assert "--current" in out.stdout
