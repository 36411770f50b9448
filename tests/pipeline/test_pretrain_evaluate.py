"""pretrain -> planner.onnx -> evaluate, at tiny sizes; pretraining resumes where it stopped."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from mbrl_control.data.store import TransitionStore
from mbrl_control.export.runtime import OnnxPlanner
from mbrl_control.models.checkpoint import load_checkpoint
from mbrl_control.pipeline.evaluate import evaluate
from mbrl_control.pipeline.pretrain import PretrainConfig, check_resume, pretrain

pytestmark = pytest.mark.slow

TINY = PretrainConfig(seed_episodes=2, rounds=1, episodes_per_round=1, workers=1, max_epochs=2)


@pytest.fixture
def tiny(seeds) -> PretrainConfig:
    return replace(TINY, seed=seeds(0))


def test_pretrain_resumes_and_evaluates(tiny: PretrainConfig, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = pretrain(tiny, out, quiet=True)
    assert [r["policy"] for r in first["rounds"]] == ["random", "planner"]
    assert len(TransitionStore(out / "data")) == 3
    planner = OnnxPlanner(out / "planner.onnx", expected_task="cartpole_swingup")
    assert planner.metadata["planner_config"]["kind"] == "icem"
    _, provenance = load_checkpoint(out / "model.pt")
    assert provenance["transitions"] == 3 * 200

    # rerunning with one more round continues after the last finished round
    second = pretrain(replace(tiny, rounds=2), out, quiet=True)
    assert [r["round"] for r in second["rounds"]] == [0, 1, 2]
    assert len(TransitionStore(out / "data")) == 4
    assert second["rounds"][:2] == first["rounds"]

    summary = evaluate(
        out / "planner.onnx", "cartpole_swingup", "default", 1, video=tmp_path / "e.gif"
    )
    assert summary["episodes"] == 1 and summary["latency_ms"]["p99"] > 0
    assert (tmp_path / "e.gif").stat().st_size > 1000


def test_evaluate_cli_json(tiny: PretrainConfig, tmp_path: Path) -> None:
    out = tmp_path / "run"
    pretrain(replace(tiny, rounds=0), out, quiet=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mbrl_control.cli",
            "evaluate",
            "--planner",
            str(out / "planner.onnx"),
            "--episodes",
            "1",
            "--json",
            "--quiet",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    summary = json.loads(result.stdout)
    assert summary["task"] == "cartpole_swingup" and len(summary["returns"]) == 1


def test_pretrain_cli_refuses_to_resume_another_run(
    tiny: PretrainConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rerun into a folder holding another run's rounds (other task, profile, preset or
    seed) is refused in one line before anything is collected: resuming would train one model
    on two runs' data. The same settings with more rounds resume; a profile file is known by
    its content, so the folder's own copy elsewhere still resumes."""
    from mbrl_control.cli import main

    out = tmp_path / "run"
    pretrain(replace(tiny, rounds=0), out, quiet=True)
    settings = json.loads((out / "settings.json").read_text())
    assert settings == {"task": "cartpole_swingup", "profile": "default", "preset": None,
                        "seed": tiny.seed}  # fmt: skip
    rounds = (out / "rounds.json").read_text()
    base = ["pretrain", "--out", str(out), "--seed-episodes", "2", "--rounds", "0",
            "--episodes-per-round", "1", "--workers", "1", "--max-epochs", "2",
            "--quiet"]  # fmt: skip
    for extra, named in (
        (["--profile", "none", "--seed", str(tiny.seed)], "profile 'default' -> 'none'"),
        (["--seed", str(tiny.seed + 1)], f"seed {tiny.seed} -> {tiny.seed + 1}"),
    ):
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert named in err and "another --out" in err and len(err.strip().splitlines()) == 1
        assert (out / "rounds.json").read_text() == rounds  # nothing collected, nothing trained

    # a profile file: by content, not by path
    from mbrl_sim.profiles import PROFILE_DIR

    text = (PROFILE_DIR / "none.yaml").read_text()
    first, second = tmp_path / "a" / "p.yaml", tmp_path / "b" / "p.yaml"
    for p in (first, second):
        p.parent.mkdir()
        p.write_text(text)
    run2 = tmp_path / "run2"
    pretrain(replace(tiny, rounds=0, profile=str(first)), run2, quiet=True)
    check_resume(replace(tiny, profile=str(second)), run2)  # the same file elsewhere
    second.write_text(text + "\n# edited\n")
    with pytest.raises(ValueError, match="other settings"):
        check_resume(replace(tiny, profile=str(second)), run2)

    # another command's folder (a train-pixels run: its settings.json and planner.onnx) is
    # refused before anything is written there (pretrain overwrote its settings)
    pixels = tmp_path / "pixel_run"
    pixels.mkdir()
    (pixels / "settings.json").write_text('{"task": "cartpole_swingup", "start": "balance", '
                                          '"model": {"deter": 128}, "seed": 0}')  # fmt: skip
    with pytest.raises(ValueError, match="another command's run"):
        check_resume(tiny, pixels)
