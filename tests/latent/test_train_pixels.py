"""``mbrl-control train-pixels`` (mbrl_control/latent/training.py): a tiny real run (small
world model, real pixel env, real ONNX planner) writes its learning curve and checkpoint, its
planner beats the uniform random policy and the untrained planner, and a rerun resumes it;
other settings in the same folder are refused in one line. Seeded; one torch thread."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from mbrl_control.cli import main

TINY = ["--size", "small", "--seed-episodes", "4", "--updates-per-episode", "50", "--batch", "8",
        "--length", "16", "--lr", "0.002", "--eval-every", "800", "--eval-episodes", "2",
        "--seed", "0", "--quiet"]  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def rows(out) -> list[dict[str, str]]:
    with (out / "learning_curve.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_tiny_run_learns_writes_its_curve_and_resumes(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train-pixels", "--out", str(out), "--env-steps", "800", *TINY]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["env_steps"] == 800 and result["episodes"] == 4 and result["updates"] == 200
    for name in ("checkpoint.pt", "planner.onnx", "learning_curve.png", "settings.json"):
        assert (out / name).is_file(), name
    curve = rows(out)
    assert [(r["env_steps"], r["policy"]) for r in curve] == [
        ("0", "random"), ("0", "planner"), ("800", "planner")
    ]  # fmt: skip
    random, untrained, trained = (float(r["mean_return"]) for r in curve)
    # the untrained planner drives the cart into the rail; 200 updates on 4 episodes of
    # exploration noise beat it and the uniform random policy (measured: random -188.3,
    # untrained -228.6, trained -145.3; 2 episodes each, the same starts)
    assert trained > untrained + 30 and trained > random + 10, curve
    assert float(curve[-1]["image_loss"]) < 100 and float(curve[-1]["act_ms_p99"]) > 0

    # rerun with more steps: continues from the checkpoint (no second step-0 rows)
    assert main(["train-pixels", "--out", str(out), "--env-steps", "1000", *TINY]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 5 and result["updates"] == 250
    assert [r["env_steps"] for r in rows(out)] == ["0", "0", "800"]  # next row at 1600
    from mbrl_control.data.store import TransitionStore

    seeds = [m["seed"] for m in TransitionStore(out / "data").episode_metas()]
    assert seeds == list(range(5))  # episode k of seed 0 resets with seed k, run or resumed
    # an unchanged rerun has nothing to do
    assert main(["train-pixels", "--out", str(out), "--env-steps", "1000", *TINY]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 5

    # other settings in the same folder: one line, exit 2, nothing changed
    bad = [a if a != "8" else "4" for a in TINY]  # --batch 4
    assert main(["train-pixels", "--out", str(out), "--env-steps", "1000", *bad]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "other settings" in err and "batch 8 -> 4" in err


def test_bad_arguments_are_one_line_errors(tmp_path, capsys) -> None:
    out = str(tmp_path / "x")
    assert main(["train-pixels", "--out", out, "--env-steps", "0"]) == 2
    assert "--env-steps" in capsys.readouterr().err
    assert main(["train-pixels", "--out", out, "--start", "sideways"]) == 2
    assert "--start" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
