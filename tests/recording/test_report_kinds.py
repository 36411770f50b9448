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


def test_plan_tube_from_a_recording(tmp_path: Path) -> None:
    """Plans recorded with the recording (arrays shaped like the graph's outputs: each member's
    predicted cart-pole tip path from the current tip) draw as a tube over the tip path."""
    from mbrl_control.recording.plan_messages import Plan
    from mbrl_control.recording.recording_plot import plot_plan_tube

    env = mbrl_sim.make_env("cartpole_swingup", profile="none", seed=0)
    rng = np.random.default_rng(0)

    def tip(q: np.ndarray) -> np.ndarray:
        return np.array([q[0] + 0.6 * np.sin(q[1]), 0.0, 0.6 * np.cos(q[1])])

    def plan() -> Plan:
        names, q, qd, _ = env.unwrapped.joint_state()
        steps = np.arange(11)[:, None] * 0.02
        paths = np.stack([
            [tip(q + qd * s + rng.normal(0, 0.02 * s[0] ** 0.5, 2)) for s in steps]
            for _ in range(4)
        ])  # fmt: skip
        return Plan(tuple(names), np.tile(q, (10, 1)), paths, 0.02, "rail")

    run = tmp_path / "run"
    with EpisodeRecorder(run / "plans.mcap", plan=plan) as recorder:
        run_episode(env, lambda o, g: np.full(1, 5.0, np.float32), seed=0, observers=[recorder])
    env.close()
    rec = read_recording(run / "plans.mcap")
    assert len(rec.plan_paths) == 200 and rec.plan_paths[0].shape == (4, 11, 3)
    assert rec.plan_frame == "rail"
    assert plot_plan_tube(rec)[:4] == b"\x89PNG"
    assert "plans.mcap: plans" in build_report(run)
    with pytest.raises(ValueError, match="no plan_markers"):
        plot_plan_tube(read_recording(_no_plans(tmp_path)))


def _no_plans(tmp_path: Path) -> Path:
    env = mbrl_sim.make_env("cartpole_swingup", profile="none", seed=1)
    with EpisodeRecorder(tmp_path / "none.mcap") as recorder:
        run_episode(env, lambda o, g: np.zeros(1, np.float32), seed=1, observers=[recorder])
    env.close()
    return tmp_path / "none.mcap"


def test_nested_and_broken_rounds_tables(tmp_path: Path) -> None:
    """An experiment's inner pretraining runs get their rounds table; a malformed one says so
    instead of failing the page."""
    run = tmp_path / "exp"
    (run / "pretrain_default").mkdir(parents=True)
    (run / "pretrain_none").mkdir()
    (run / "sim2real.json").write_text("{}")
    rounds = [{"round": 0, "policy": "random", "mean_return": -123.456, "epochs": 3}]
    (run / "pretrain_default" / "rounds.json").write_text(json.dumps(rounds))
    (run / "pretrain_none" / "rounds.json").write_text(json.dumps({"not": "a list"}))
    page = build_report(run)
    assert "Pretraining rounds: pretrain_default/rounds.json" in page and "-123.456" in page
    assert "<code>pretrain_none/rounds.json</code>: not readable (AttributeError" in page


def test_one_bad_file_never_breaks_the_page(tmp_path: Path) -> None:
    """Each unreadable file is named where it would have been shown; the rest is there."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "rounds.json").write_text("[]")
    (run / "good.json").write_text(json.dumps({"mean_return": -70.5}))
    (run / "bad.json").write_text("{not json")
    (run / "latin1.md").write_bytes("| a |\n|---|\n| caf\xe9 |\n".encode("latin-1"))
    (run / "broken.mcap").write_bytes(b"\x89MCAP0\r\ntruncated")
    (run / "broken.onnx").write_bytes(b"not a protobuf at all")
    (run / "metrics").mkdir()
    (run / "metrics" / "metrics.csv").write_text("step,tag,value,wall_time\nx,a,1,0\n")
    (run / "gone.png").symlink_to(run / "nowhere.png")
    page = build_report(run)
    for name in ("bad.json", "broken.mcap", "broken.onnx", "metrics/metrics.csv", "gone.png"):
        assert f"<code>{name}</code>: not readable" in page, name
    assert "-70.5" in page and "caf\ufffd" in page
    assert "<td>gone.png</td><td>unreadable:" in page


def test_recording_plot_command(tmp_path: Path, capsys) -> None:
    from mbrl_control.recording.recording_plot import main

    path = _no_plans(tmp_path)
    assert main([str(path), str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit) as exit_info:
        main([str(path), str(tmp_path / "t.png"), "--tube"])
    assert exit_info.value.code == 2 and "no plan_markers" in capsys.readouterr().err
    assert not (tmp_path / "t.png").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tube", "--every", "0"], "--every: must be an integer >= 1"),
        (["--tube", "--every", "-3"], "--every: must be an integer >= 1"),
        (["--every", "2"], "--every: only with --tube"),
    ],
)
def test_recording_plot_refuses_a_bad_every(tmp_path: Path, capsys, extra, message) -> None:
    """Each bad ``--every`` is one line, exit 2 (0 and -3 used to draw every plan and say
    'plans every 0 steps'); a folder that does not exist yet is made for the picture."""
    from mbrl_control.recording.recording_plot import main

    path = _no_plans(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main([str(path), str(tmp_path / "t.png"), *extra])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert main([str(path), str(tmp_path / "new" / "dir" / "s.png")]) == 0
