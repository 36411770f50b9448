"""Retrain + gate + deploy on simulated "real" data, and the gate refusing a worse model."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mbrl_control.data.store import TransitionStore
from mbrl_control.export.onnx_export import export_planner
from mbrl_control.export.runtime import OnnxPlanner
from mbrl_control.finetune.retrain import deploy_candidate, gate, newest_episodes, retrain_and_gate
from mbrl_control.models.checkpoint import load_checkpoint, save_checkpoint
from mbrl_control.models.config import EnsembleConfig, TrainConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.models.trainer import fit
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A weakly trained live model (nominal sim) and "real" data from the reality_gap sim."""
    from mbrl_sim.collect import collect

    root = tmp_path_factory.mktemp("finetune")
    collect(TASK.name, "none", 2, "random", 1, root / "sim", seed=1, quiet=True)
    collect(TASK.name, "reality_gap", 4, "random", 1, root / "real", seed=2, quiet=True)
    sim = TransitionStore(root / "sim").load()
    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(TASK.obs_dim, TASK.act_dim, members=2, hidden=32, layers=2))
    fit(model, sim.obs, sim.action, sim.next_obs, sim.episode_id, TrainConfig(max_epochs=3))
    ckpt = save_checkpoint(root / "model.pt", model, {"profile": "none"})
    cfg = PlannerConfig(kind="cem", horizon=5, population=32, particles=2, iterations=1)
    planner = export_planner(model, TASK, cfg, root / "planner.onnx")
    return {"root": root, "checkpoint": ckpt, "planner": planner}


def test_retrain_deploys_a_better_model(live: dict[str, Path]) -> None:
    real = TransitionStore(live["root"] / "real").load()
    result = retrain_and_gate(
        real,
        live["checkpoint"],
        live["planner"],
        live["root"] / "models",
        train_cfg=TrainConfig(max_epochs=30),
    )
    assert result["holdout_episodes"] == newest_episodes(real.episode_id, 1) == [3]
    assert result["new_error"] < result["live_error"] and result["deploy"]
    planner = OnnxPlanner(result["planner"], expected_task=TASK.name)
    assert planner.probe().shape == (1,)
    assert planner.metadata["planner_config"]["population"] == 32  # live config reused
    _, provenance = load_checkpoint(result["checkpoint"])
    assert provenance["finetune"]["new_error"] == pytest.approx(result["new_error"])
    # issue 19: every gate decision is one point of the gate/* curves in models/metrics
    from mbrl_control.recording.metrics import read_metrics_csv

    series = read_metrics_csv(live["root"] / "models" / "metrics")
    assert series["gate/deploy"].values == [1.0]
    assert series["gate/new_error"].values == [pytest.approx(result["new_error"])]


def test_gate_refuses_a_worse_model(live: dict[str, Path]) -> None:
    real = TransitionStore(live["root"] / "real").load()
    model, _ = load_checkpoint(live["checkpoint"])
    worse = copy.deepcopy(model)
    with torch.no_grad():
        worse.head.weight.add_(torch.randn_like(worse.head.weight))
    decision = gate(model, worse, real, [3])
    assert not decision["deploy"] and decision["new_error"] > decision["live_error"]


def test_offline_cli_prints_the_gate(live: dict[str, Path], tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mbrl_control.cli",
            "finetune",
            "--data",
            str(live["root"] / "real"),
            "--checkpoint",
            str(live["checkpoint"]),
            "--planner",
            str(live["planner"]),
            "--out",
            str(tmp_path),
            "--max-epochs",
            "2",
            "--json",
            "--quiet",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out)
    assert {"live_error", "new_error", "deploy"} <= set(result)


def _broken(model):
    """``model`` with one weight of member 0 set to NaN (the issue's repro)."""
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.hidden[0].weight[0, 0, 0] = float("nan")
    return broken


def test_gate_never_deploys_a_model_with_a_nan_weight(live: dict[str, Path]) -> None:
    real = TransitionStore(live["root"] / "real").load()
    model, provenance = load_checkpoint(live["checkpoint"])
    decision = gate(model, _broken(model), real, [3])
    assert not decision["deploy"] and "non-finite weights" in decision["reason"]
    # the export step refuses it too (its planner fails the load check) and leaves no files
    out = live["root"] / "broken"
    gate_result = {"live_error": 1.0, "new_error": 0.5, "n_real": len(real)}
    recent = real.obs[real.episode_id == 3]
    result = deploy_candidate(_broken(model), provenance, live["planner"], out, gate_result, recent)
    assert result["deploy"] is False and "load check" in result["reason"], result
    assert not list(out.glob("planner-*.onnx")) and not list(out.glob("model-*.pt"))


def test_deployed_planner_carries_recent_real_probe_states(live: dict[str, Path]) -> None:
    real = TransitionStore(live["root"] / "real").load()
    model, provenance = load_checkpoint(live["checkpoint"])
    gate_result = {"live_error": 1.0, "new_error": 0.5, "n_real": len(real)}
    recent = real.obs[real.episode_id == 3]
    out = live["root"] / "probe"
    result = deploy_candidate(model, provenance, live["planner"], out, gate_result, recent)
    states = np.asarray(OnnxPlanner(result["planner"]).metadata["probe_states"])
    matches = np.isclose(states[:, None, :], recent[None], atol=1e-6).all(-1)  # (S, R)
    assert matches.any(1).sum() >= 4  # initial states + real ones from the held-out episode


@pytest.mark.parametrize(
    ("which", "content", "words"),
    [
        ("checkpoint", b'{"not": "a checkpoint"}', "cannot read checkpoint .*: it is a JSON file"),
        ("checkpoint", b"", "cannot read checkpoint .*: the file is empty"),
        ("checkpoint", b"PK\x03\x04garbage", "cannot read checkpoint .*not a readable"),
        ("checkpoint", None, "cannot read checkpoint .*no such checkpoint file"),
        ("planner", b"garbage", "cannot read planner .*not a loadable ONNX planner"),
    ],
)
def test_unreadable_inputs_fail_in_plain_words(
    live: dict[str, Path], tmp_path: Path, which: str, content: bytes | None, words: str
) -> None:
    real = TransitionStore(live["root"] / "real").load()
    bad = tmp_path / f"bad-{which}"
    if content is not None:
        bad.write_bytes(content)
    files = {"checkpoint": live["checkpoint"], "planner": live["planner"], which: bad}
    with pytest.raises(ValueError, match=words):  # a GateError
        retrain_and_gate(real, files["checkpoint"], files["planner"], tmp_path / "out")


def test_failure_reasons_in_plain_words_and_capped_backoff() -> None:
    from mbrl_control.finetune.gate_job import failure_reason, retrain_threshold

    cli = "warning\nmbrl-control: error: cannot read checkpoint /m.pt: not a readable checkpoint"
    assert failure_reason(2, cli, "/x.log") == (
        "retraining failed (exit code 2): cannot read checkpoint /m.pt: not a readable "
        "checkpoint (log: /x.log)"
    )
    trace = "Traceback (most recent call last):\n  File 'x'\nValueError: need more than 1 episode"
    assert failure_reason(1, trace, "l").endswith(": need more than 1 episode (log: l)")
    assert failure_reason(-9, "", "l") == "retraining was killed by SIGKILL (log: l)"
    assert "without a gate result" in failure_reason(0, "", "l")
    assert [retrain_threshold(100, k, 16) for k in range(7)] == [
        100,
        200,
        400,
        800,
        1600,
        1600,
        1600,
    ]


def test_load_real_prints_the_importers_summary_line(tmp_path: Path, capsys) -> None:
    """``finetune --bag``'s summary is ``bag BAG: `` + the very line ``mbrl-control import
    --bag`` prints for the same bag (one summary format for every importer)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
    from bag_files import EPOCH, robot_run, write_bag

    from mbrl_control.cli import main
    from mbrl_control.finetune.retrain import load_real

    task = get_task("cartpole_swingup")
    times = np.delete(np.arange(150) * task.dt, 70)  # one dropped state: two episodes
    bag = write_bag(tmp_path / "bag", robot_run(times, stamp0=0.0, log0=EPOCH), "mcap")
    argv = ["import", "--bag", str(bag), "--task", task.name, "--out", str(tmp_path / "s")]
    assert main(argv) == 0
    imported = capsys.readouterr().out.strip()
    assert imported.startswith("kept 147 transitions in 2 episodes from 1 bag; dropped no")
    real = load_real(None, bag, task, tmp_path / "tmp")
    assert len(real) == 147
    assert capsys.readouterr().err.strip() == f"bag {bag}: {imported}"
