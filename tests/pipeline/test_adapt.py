"""``mbrl-control adapt`` on a tiny budget: calibrate → re-pretrain → finetune → gate, with
the "robot" the ``reality_gap`` simulator (the cited runs use the experiment's budgets)."""

from __future__ import annotations

import json

import pytest

from mbrl_control.cli import main


@pytest.mark.slow  # a tiny pretraining, collection, calibration and two trainings
def test_adapt_end_to_end_tiny(tmp_path, capsys):
    from mbrl_sim.collect import collect

    from mbrl_control.pipeline.pretrain import PretrainConfig, pretrain

    run = tmp_path / "run"
    pretrain(PretrainConfig(seed_episodes=2, rounds=0, workers=1, max_epochs=2), run, quiet=True)
    real = tmp_path / "real"
    collect("cartpole_swingup", "reality_gap", 3, "random", 1, real, seed=5, quiet=True)
    out = tmp_path / "adapt"
    argv = [
        "adapt", "--task", "cartpole_swingup", "--run", str(run), "--data", str(real),
        "--out", str(out), "--rounds", "1", "--episodes-per-round", "1", "--workers", "1",
        "--evaluations", "40", "--max-epochs", "2", "--json", "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((out / "adapt.json").read_text())
    assert (out / "calibrated.yaml").is_file() and (out / "calibrated.json").is_file()
    rounds = json.loads((out / "pretrain_calibrated" / "rounds.json").read_text())
    assert len(rounds) == 2  # the run's seed round + one re-pretraining round
    assert result["choice"] in ("finetuned", "recalibrated")
    errors = result["held_out_error"]
    assert errors["current"] > 0 and errors["recalibrated"] > 0
    assert result["deploy"] == (errors[result["choice"]] < errors["current"])
    assert (result["planner"] is not None) == result["deploy"]
    assert (result["checkpoint"] is not None) == result["deploy"]  # what finetune_node swaps in
    assert result["current"] == str(run / "model.pt")  # gated against the run's model


def test_adapt_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "real").mkdir()
    argv = ["adapt", "--task", "cartpole_swingup", "--run", str(tmp_path / "run"),
            "--data", str(tmp_path / "real"), "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(argv) == 2
    assert "not a pretraining run (missing model.pt, planner.onnx, rounds.json, data)" in (
        capsys.readouterr().err
    )


def test_adapt_refuses_a_missing_current_checkpoint(tmp_path, capsys):
    for d in ("run", "real"):
        (tmp_path / d).mkdir()
    argv = ["adapt", "--task", "cartpole_swingup", "--run", str(tmp_path / "run"),
            "--data", str(tmp_path / "real"), "--out", str(tmp_path / "o"),
            "--current", str(tmp_path / "nope.pt")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--current" in err and "nope.pt" in err and len(err.strip().splitlines()) == 1
