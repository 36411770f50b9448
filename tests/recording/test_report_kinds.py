"""The report names each kind of run folder the product writes, and shows recordings (their
topics and a plot of joint positions, commands and cost)."""

from __future__ import annotations

import json
from pathlib import Path

import mbrl_sim
import numpy as np
import pytest
from PIL import Image

from mbrl_control.pipeline.evaluate import run_episode
from mbrl_control.recording.episode_recorder import EpisodeRecorder
from mbrl_control.recording.recording_plot import read_recording
from mbrl_control.recording.report import KINDS, build_report


def _gif(path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), (c, 0, 0)) for c in (0, 255)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)


@pytest.mark.parametrize(("marker", "kind", "what"), KINDS, ids=[m for m, _, _ in KINDS])
def test_each_kind_of_run_is_named(tmp_path: Path, marker: str, kind: str, what: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    if marker.endswith(".gif"):
        _gif(run / marker)
    elif marker.endswith(".json"):
        (run / marker).write_text(json.dumps([] if marker == "rounds.json" else {"seed": 1}))
    else:
        (run / marker).write_bytes(b"\0")
        (run / "report.json").write_text(json.dumps({"history": [{"epoch": 0}]}))
    page = build_report(run)
    assert f"<title>{kind}: run</title>" in page and what in page


def test_recording_in_the_report(tmp_path: Path) -> None:
    run = tmp_path / "eval"
    env = mbrl_sim.make_env("cartpole_swingup", profile="none", seed=0)
    with EpisodeRecorder(run / "episodes.mcap") as recorder:
        result = run_episode(env, lambda o, g: np.ones(1, np.float32), seed=0, observers=[recorder])
    env.close()
    rec = read_recording(run / "episodes.mcap")
    steps = result["steps"]
    assert rec.joint_names == list(env.unwrapped.task.joint_names)
    assert rec.position.shape == (steps + 1, len(rec.joint_names))
    assert rec.command.shape == (steps, 1) and np.all(rec.command == 1.0)
    assert len(rec.episode_starts) == 1 and rec.topics["/joint_states"][1] == steps + 1
    page = build_report(run)
    assert "<h2>Recordings</h2>" in page and "<td>/joint_states</td>" in page
    assert page.count('src="data:image/png;base64,') == 1
