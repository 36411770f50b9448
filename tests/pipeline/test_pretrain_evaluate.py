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
from mbrl_control.pipeline.pretrain import PretrainConfig, pretrain

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
