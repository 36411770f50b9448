"""finetune_node's ``adapt`` option over ROS (issue 16): after a few seconds of robot data the
node runs the adaptation loop (calibrate → re-pretrain → finetune → gate against the live
model) as a separate low-priority process, and its result goes through the usual deploy path
into the running controller.

sim_node plays the robot on ``reality_gap``; mpc_controller runs a tiny pretraining run's
planner; finetune_node records on sim time. Budgets are tiny (timing of the cited run:
``mbrl-control bench controller --with-adapt``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

BIN = Path(sys.executable).parent


def _small_planner(run: Path) -> None:
    """Re-export the run's planner.onnx with a small CEM (the controller keeps its 50 Hz on a
    loaded 2-core machine, so the recording has whole episodes for the calibration)."""
    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.checkpoint import load_checkpoint
    from mbrl_control.planning.config import PlannerConfig
    from mbrl_control.tasks import get_task

    model, _ = load_checkpoint(run / "model.pt")
    cfg = PlannerConfig(kind="cem", horizon=5, population=32, particles=5, iterations=1)
    export_planner(model.eval(), get_task("cartpole_swingup"), cfg, run / "planner.onnx")


def _status(diags: list, name: str) -> dict[str, str]:
    for msg in reversed(diags):
        for s in msg.status:
            if s.name == name:
                return {kv.key: kv.value for kv in s.values} | {"message": s.message}
    return {}


def test_adapt_runs_once_in_a_niced_process_and_deploys_through_the_gate(
    spawn, ros_env, ros_probe, tmp_path: Path
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    from mbrl_control.pipeline.pretrain import PretrainConfig, pretrain

    run = tmp_path / "run"
    pretrain(PretrainConfig(seed_episodes=2, rounds=0, workers=1, max_epochs=2), run, quiet=True)
    _small_planner(run)
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    commands = ros_probe.collect(Float64MultiArray, "/commands")
    ra = "--ros-args"
    spawn("sim_node", [str(BIN / "sim_node"), ra, "-p", "profile:=reality_gap"], ros_env)
    spawn("mpc_controller", [str(BIN / "mpc_controller"), ra, "-p",
          f"model_path:={run / 'planner.onnx'}", "-p", f"model_dir:={tmp_path}",
          "-p", "autostart:=true"], ros_env)  # fmt: skip
    params = {
        "data_dir": tmp_path / "real",
        "checkpoint": run / "model.pt",  # adapt_run '' = this folder
        "planner": run / "planner.onnx",
        "model_dir": tmp_path / "models",
        "retrain_every": 10**6,  # no ordinary retrain: the adaptation only
        "segment_length": 100,
        "max_epochs": 2,
        "adapt": "true",
        "adapt_after_s": 6.0,
        "adapt_rounds": 0,  # calibrate and finetune; no re-pretraining round (time)
        "adapt_episodes_per_round": 1,
        "adapt_evaluations": 40,
        "job_nice": 12,
        "autostart": "true",
        "use_sim_time": "true",
    }
    argv = [str(BIN / "finetune_node"), ra]
    for k, v in params.items():
        argv += ["-p", f"{k}:={v}"]
    spawn("finetune_node", argv, ros_env)

    ros_probe.wait_for(
        lambda: _status(diags, "finetune_node").get("adapt_state") == "running", 120,
        "the adaptation job to start",
    )  # fmt: skip
    started = _status(diags, "finetune_node")
    assert float(started["recorded_s"]) >= params["adapt_after_s"]
    assert started["state"] == "adapting"

    def decided() -> bool:
        fin = _status(diags, "finetune_node")
        gate = json.loads(fin.get("last_gate", "{}") or "{}")
        return fin.get("adapt_state") in ("done", "failed") and (
            "deployed" in gate or gate.get("deploy") is False or "error" in gate
        )

    ros_probe.wait_for(decided, 420, "the adaptation's gate decision")
    fin = _status(diags, "finetune_node")
    gate = json.loads(fin["last_gate"])
    assert fin["adapt_state"] == "done", gate
    assert gate["job"] == "adapt" and int(fin["adaptations"]) == 1 and int(fin["trains"]) == 0
    assert gate["choice"] in ("finetuned", "recalibrated")
    errors = gate["held_out_error"]
    assert gate["deploy"] == (errors[gate["choice"]] < errors["current"])
    # the job ran at the configured niceness, in its own process
    log = (tmp_path / "models" / "adapt-1.log").read_text().splitlines()
    assert log[0].startswith("niceness ") and int(log[0].split()[1]) >= params["job_nice"]
    result = json.loads((tmp_path / "models" / "adapt-1.json").read_text())
    assert result["current"] == str(run / "model.pt")  # gated against the live model
    if gate["deploy"]:
        assert gate["deployed"], gate
        ros_probe.wait_for(
            lambda: _status(diags, "finetune_node")["live_planner"] == gate["planner"], 30,
            "the node on the adapted planner",
        )  # fmt: skip
        adapted = str(Path(gate["planner"]).resolve())
        ros_probe.wait_for(
            lambda: _status(diags, "mpc_controller: planner").get("model_id") == adapted, 30,
            "the controller on the adapted planner",
        )  # fmt: skip
    n = len(commands)
    ros_probe.wait_for(lambda: len(commands) > n + 20, 30, "commands after the adaptation")
    assert _status(diags, "finetune_node")["adapt_state"] == "done"  # once only
