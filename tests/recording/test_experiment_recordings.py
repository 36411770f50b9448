"""Issue 19: ``experiment sim2real --record`` and ``demo`` record their evaluation episodes as
MCAP files (read back here by ``rosbags`` and by the ``mcap`` reader with every topic's
schema), and the grid logs per-cell scalars that TensorBoard's reader opens. Cells made by
the code before recordings existed still resume: recording is no setting of a cell."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.highlevel import AnyReader
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mbrl_control.pipeline.pretrain import PretrainConfig
from mbrl_control.pipeline.sim2real_grid import (
    GridConfig,
    fingerprint,
    plan_jobs,
    recording_path,
    run_grid,
)
from mbrl_control.pipeline.sim2real_stats import load_cells, write_cell
from mbrl_control.recording.mcap_writer import typestore
from mbrl_control.recording.metrics import read_metrics_csv

TOPICS = {
    "/episode_start": "std_msgs/msg/Header",
    "/joint_states": "sensor_msgs/msg/JointState",
    "/commands": "std_msgs/msg/Float64MultiArray",
    "/step_cost": "std_msgs/msg/Float64",
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}
"""What a cart-pole evaluation records (no goal)."""
PLAN_TOPICS = {
    "/mpc_controller/plan": "trajectory_msgs/msg/JointTrajectory",
    "/mpc_controller/plan_markers": "visualization_msgs/msg/MarkerArray",
}
"""What a planner's evaluation records besides (the planner graph's plans)."""

TINY_PRETRAIN = PretrainConfig(
    seed_episodes=2, rounds=0, episodes_per_round=1, workers=1, max_epochs=2
)

OLD_FINGERPRINT = {
    "pretrain": {"task": "cartpole_swingup", "profile": "default", "preset": None,
                 "seed_episodes": 2, "rounds": 0, "episodes_per_round": 1, "seed": 0,
                 "max_epochs": 2},
    "budgets_min": [0.0, 0.1], "eval_episodes": 2, "real_profile": "reality_gap",
    "retrain_every": 200, "real_ratio": 0.9, "oracle_minutes": 0.1, "calib_seconds": 30.0,
    "calib_evaluations": 32, "recalib_rounds": 2, "calib_noise": 0.2,
}  # fmt: skip
"""``fingerprint(_grid())`` as the code before ``--record`` computed it (cells on disk carry
it: a resumed run must find them done)."""


def _grid(**kw: object) -> GridConfig:
    base = dict(pretrain=TINY_PRETRAIN, conditions=("default",), budgets_min=(0.0, 0.1),
                seeds=(0,), eval_episodes=2, retrain_every=200,
                baselines=("real_only", "random", "oracle_model"), oracle_minutes=0.1,
                calib_evaluations=32)  # fmt: skip
    return GridConfig(**{**base, **kw})


def read_back(path: Path, planner: bool = True) -> tuple[dict[str, list], list[dict[str, str]]]:
    """Both readers agree on every topic, type and count (a ``planner``'s evaluation records
    its plans, one per step); returns the messages by topic (``rosbags``) and the
    ``evaluate: episode`` diagnostics' values, in order."""
    expected = {**TOPICS, **PLAN_TOPICS} if planner else TOPICS
    with AnyReader([path], default_typestore=typestore()) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        msgs: dict[str, list] = {topic: [] for topic in types}
        for c, _, raw in reader.messages():
            msgs[c.topic].append(reader.deserialize(raw, c.msgtype))
    assert types == expected
    schemas: dict[str, tuple[str, str]] = {}
    counts: dict[str, int] = {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        for schema, channel, _, _ in reader.iter_decoded_messages():
            assert channel.message_encoding == "cdr" and schema.data  # full definitions
            schemas[channel.topic] = (schema.name, schema.encoding)
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
    assert schemas == {topic: (name, "ros2msg") for topic, name in expected.items()}
    assert counts == {topic: len(m) for topic, m in msgs.items()}
    ends = [
        {kv.key: kv.value for kv in s.values}
        for m in msgs["/diagnostics"]
        for s in m.status
        if s.name == "evaluate: episode"
    ]
    assert len(ends) == len(msgs["/episode_start"])
    return msgs, ends


def _synthetic(key: str, kind: str, arm: str, points: list[tuple[float, list[float]]]) -> dict:
    """A finished cell as the old code wrote it (no recording, its fingerprint)."""
    pts = [
        {"budget_min": b, "real_minutes": b, "returns": r, "mean_return": float(np.mean(r)),
         "successes": [False] * len(r),
         "success_rate": 0.0, "episodes": len(r), "rail_steps": [0] * len(r),
         "safety_stop_steps": [0] * len(r), "latency_ms": {"p50": 1.0, "p99": 2.0}}
        for b, r in points
    ]  # fmt: skip
    return {"key": key, "kind": kind, "arm": arm, "seed": 0, "points": pts, "elapsed_s": 1.0,
            "task": "cartpole_swingup", "fingerprint": OLD_FINGERPRINT}  # fmt: skip


def test_grid_records_each_cell_logs_its_metrics_and_resumes_old_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every cell but the random baseline is on disk from the old code; ``--record --resume``
    runs the random baseline only, into ``work/random/eval.mcap``."""
    cfg = _grid()
    assert fingerprint(cfg) == OLD_FINGERPRINT
    old = [
        _synthetic("pretrain_default_s0", "pretrain", "default", []),
        _synthetic("default_s0", "condition", "default",
                   [(0.0, [-60.0, -40.0]), (0.1, [-30.0, -20.0])]),
        _synthetic("real_only_s0", "real_only", "real_only", [(0.1, [-90.0, -80.0])]),
        _synthetic("oracle_model", "oracle_model", "oracle_model", [(0.1, [-5.0, -5.0])]),
    ]  # fmt: skip
    planned = {j.key for phase in plan_jobs(cfg) for j in phase}
    assert planned == {c["key"] for c in old} | {"random"}
    for cell in old:
        write_cell(tmp_path, cell)

    result = run_grid(cfg, tmp_path, resume=True, record=True, quiet=True)
    status = {k: v["status"] for k, v in result["cells"].items()}
    assert status == {**{c["key"]: "resumed" for c in old}, "random": "ran"}
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["random"]

    # the random baseline's evaluation, read back; the cell names its file and episodes
    cell = {c["key"]: c for c in load_cells(tmp_path)}["random"]
    assert cell["fingerprint"] == OLD_FINGERPRINT
    path = recording_path(tmp_path, "random")
    assert cell["recording"] == "work/random/eval.mcap" and path.is_file()
    assert cell["points"][0]["recorded_episodes"] == [0, 2]
    msgs, ends = read_back(path, planner=False)  # random actions: no plans
    assert len(msgs["/episode_start"]) == 2
    assert len(msgs["/joint_states"]) == 2 * (200 + 1)  # the reset state and each step's
    returns = [float(e["return"]) for e in ends]
    assert np.allclose(returns, cell["points"][0]["returns"], atol=1e-3)

    # metrics: the cell that ran, the old cells once, normalized once the references exist
    acc = EventAccumulator(str(tmp_path / "metrics"))
    acc.Reload()
    (ret,) = acc.Scalars("mean_return/random")
    assert ret.step == 0 and np.isclose(ret.value, np.mean(returns), atol=1e-3)
    assert {"success_rate/random", "latency_p50_ms/random", "latency_p99_ms/random"} <= set(
        acc.Tags()["scalars"]
    )
    assert [(e.step, e.value) for e in acc.Scalars("mean_return/default_s0")] == [
        (0, -50.0),
        (6, -25.0),  # step: the budget in seconds (0.1 min)
    ]
    refs = result["references"]
    assert refs["oracle"] == "oracle_model" and refs["R_oracle"] == -5.0
    normalized = [(e.step, e.value) for e in acc.Scalars("normalized/default_s0")]
    span = refs["R_oracle"] - refs["R_random"]
    expected = [(0, (-50.0 - refs["R_random"]) / span), (6, (-25.0 - refs["R_random"]) / span)]
    assert [s for s, _ in normalized] == [s for s, _ in expected]
    assert np.allclose([v for _, v in normalized], [v for _, v in expected], rtol=1e-5)
    (zero,) = acc.Scalars("normalized/random")
    assert abs(zero.value) < 1e-6
    assert "mean_return/pretrain_default_s0" not in acc.Tags()["scalars"]

    # a recording is never replaced: a rerun of its cell is refused before anything runs
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="never replaced"):
        run_grid(cfg, tmp_path, resume=False, record=True, quiet=True)
    assert path.read_bytes() == before
    assert cell == {c["key"]: c for c in load_cells(tmp_path)}["random"]
    # resumed again: nothing runs, nothing is logged twice
    again = run_grid(cfg, tmp_path, resume=True, record=True, quiet=True)
    assert {v["status"] for v in again["cells"].values()} == {"resumed"}
    csv = read_metrics_csv(tmp_path / "metrics")
    assert csv["mean_return/random"].steps == [0]
    assert csv["normalized/default_s0"].steps == [0, 6]
    capsys.readouterr()


def test_cli_experiment_record_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--record`` reaches the grid: an existing recording of a cell to run is refused in
    one line (exit 2), before any job starts."""
    from mbrl_control.cli import main

    out = tmp_path / "e"
    path = recording_path(out, "random")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"an earlier recording")
    argv = ["experiment", "sim2real", "--out", str(out), "--conditions", "default",
            "--baselines", "random", "--seeds", "0", "--record", "--quiet"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "never replaced" in err and str(path) in err and len(err.strip().splitlines()) == 1
    assert path.read_bytes() == b"an earlier recording"
    assert sorted(p.name for p in out.iterdir()) == ["work"]  # no job, no metrics


@pytest.mark.slow
def test_condition_cell_records_zero_shot_and_each_budget(tmp_path: Path) -> None:
    """A pretraining condition's cell: its zero-shot and its finetuned evaluations, in order,
    in one recording; its finetuning logs losses, gate decisions and evaluations."""
    from mbrl_control.pipeline.sim2real_grid import _work

    cfg = _grid(eval_episodes=1, baselines=())
    result = run_grid(cfg, tmp_path, record=True, quiet=True)
    assert result["cells"]["default_s0"]["status"] == "ran", result["cells"]
    assert not recording_path(tmp_path, "pretrain_default_s0").exists()  # no evaluation
    cell = {c["key"]: c for c in load_cells(tmp_path)}["default_s0"]
    assert [p["recorded_episodes"] for p in cell["points"]] == [[0, 1], [1, 2]]
    msgs, ends = read_back(recording_path(tmp_path, "default_s0"))
    # each step's plan, from the planner graph's plan_states: H = 40 points, E = 5 members
    assert len(msgs["/mpc_controller/plan"]) == len(msgs["/commands"]) == 2 * 200
    plan, markers = msgs["/mpc_controller/plan"][0], msgs["/mpc_controller/plan_markers"][0]
    assert plan.header.frame_id == "rail" and len(plan.points) == 40
    assert plan.joint_names == ["slider_to_cart", "cart_to_pole"]
    assert [m.ns for m in markers.markers] == ["plan/members"] * 5 + ["plan/mean"]
    assert all(len(m.points) == 41 for m in markers.markers)
    returns = [p["returns"][0] for p in cell["points"]]
    assert np.allclose([float(e["return"]) for e in ends], returns, atol=1e-3)
    assert all(float(e["latency_p99_ms"]) > 0 for e in ends)

    acc = EventAccumulator(str(tmp_path / "work" / "default_s0" / "models" / "metrics"))
    acc.Reload()
    (ev,) = acc.Scalars("finetune_eval/mean_return")
    assert ev.step == 400 and np.isclose(ev.value, returns[1], atol=1e-3)  # 2 episodes of 200
    lat = acc.Scalars("finetune_eval/latency_p99_ms")[0].value
    assert np.isclose(lat, cell["points"][1]["latency_ms"]["p99"], rtol=1e-6)
    assert {"finetune/train_loss", "finetune/holdout_loss", "gate/deploy"} <= set(
        acc.Tags()["scalars"]
    )
    # a rerun of the job empties its work folder but never removes its recording
    kept = recording_path(tmp_path, "default_s0").read_bytes()
    work = _work(tmp_path, "default_s0", fresh=True)
    assert [p.name for p in work.iterdir()] == ["eval.mcap"] and (
        work / "eval.mcap"
    ).read_bytes() == kept


# ---- the demo -------------------------------------------------------------------------------
@pytest.mark.slow
def test_demo_records_its_final_evaluation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's code on a tiny budget (no calibrate-and-adapt row): ``OUT/eval.mcap`` holds
    the finetuned planner's evaluation; a second demo into the folder is refused at once."""
    from mbrl_control.pipeline.demo import DEMO, run_demo

    cfg = replace(DEMO, pretrain=TINY_PRETRAIN, budgets_min=(0.1,), retrain_every=200,
                  eval_episodes=2, adapt_seconds=0.0)  # fmt: skip
    result = run_demo(tmp_path, quiet=True, cfg=cfg)
    path = tmp_path / "eval.mcap"
    assert result["recording"] == str(path)
    final = result["curve"][-1]["eval"]
    assert final["recording"] == str(path)
    _, ends = read_back(path)
    assert len(ends) == final["episodes"] == 2
    assert np.allclose([float(e["return"]) for e in ends], final["returns"], atol=1e-3)
    assert f"[demo] recording {path}" in capsys.readouterr().out

    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="never replaced"):
        run_demo(tmp_path, quiet=True, cfg=cfg)
    assert path.read_bytes() == before
    # --no-record: the same run without a recording
    result = run_demo(tmp_path / "plain", quiet=True, cfg=cfg, record=False)
    assert result["recording"] is None and not list((tmp_path / "plain").glob("*.mcap*"))


def test_cli_demo_refuses_to_replace_its_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mbrl_control.cli import main

    assert main(["demo", "--help"]) == 0
    assert "--no-record" in capsys.readouterr().out
    (tmp_path / "eval.mcap").write_bytes(b"an earlier demo")
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "never replaced" in err and "--no-record" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.mcap"]  # nothing ran
