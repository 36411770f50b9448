"""``mbrl-control bench finetune-cycle``: the live finetune → gate → swap cycle over ROS.

Runs the lab's loop as processes on a private ROS domain: ``sim_node`` plays the robot on
``--profile`` (``reality_gap``), ``mpc_controller`` runs the pretraining run's planner, and
``finetune_node`` records, retrains every ``--retrain-every`` new transitions in its niced
background job, gates and hot-swaps (its usual path). Per cycle it reports, from the nodes'
/diagnostics (wall-clock times on this machine):

- ``threshold_to_start_s``: new-data threshold reached (the segment that crossed it stored)
  → retraining process started (the node's 0.5 s work period);
- ``job_s``: the retraining process (train, gate, export, probe);
- ``deploy_s``: set the controller's ``model_path`` and ``~/reload_model`` answered;
- ``reload_to_in_use_s``: → the controller's diagnostics name the new planner as the one in
  use (they are published once a second: up to 1 s of this is the report's period; it can
  be negative: the controller may report the new planner before the node has its answer);
- ``cycle_s``: threshold reached → swapped planner in use (the target is <= 30 s on 2 cores);
  for a gate that refuses, threshold → decision.

During the whole run it counts, from ``sim_node``'s ground truth (the true joint state, the
rule of :class:`~mbrl_control.pipeline.evaluate.SafetyMonitor`), the episodes with a rail hit
or a safety stop, and the controller's deadline misses. Prints JSON. Also runnable as
``python -m mbrl_control.bench.finetune_cycle``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from mbrl_control.bench.node_procs import measure_in_workdir, node_argv, ros_env, spawn, stop
from mbrl_control.cli import ArgumentParser

TARGET_CYCLE_S = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import (
        existing_dir,
        positive_float,
        positive_int,
        profile_ref,
        ros_domain_id,
    )

    parser.add_argument(
        "--run", type=existing_dir, required=True,
        help="pretraining run folder (mbrl-control pretrain --out RUN): model.pt, planner.onnx, "
        "data/ (replayed beside the robot data)",
    )  # fmt: skip
    parser.add_argument("--profile", type=profile_ref, default="reality_gap", help="the robot")
    parser.add_argument("--cycles", type=positive_int, default=3, help="gate decisions to time")
    parser.add_argument(
        "--retrain-every", type=positive_int, default=1000,
        help="new robot transitions between retrains (finetune_node's retrain_every)",
    )  # fmt: skip
    parser.add_argument("--max-epochs", type=positive_int, default=50, help="training epochs cap")
    parser.add_argument(
        "--no-sim-data", action="store_true", help="train on robot data only (no RUN/data)"
    )
    parser.add_argument(
        "--timeout", type=positive_float, default=1800.0, help="give up after this many s"
    )
    parser.add_argument("--domain", type=ros_domain_id, default=78, help="ROS_DOMAIN_ID to use")
    parser.add_argument("--keep", help="keep the nodes' logs, data and models in this folder")
    parser.add_argument("--json", action="store_true", help="print compact JSON")


class _Watch:
    """The nodes' latest /diagnostics, and when the controller's planner changed."""

    def __init__(self) -> None:
        self.status: dict[str, dict[str, str]] = {}
        self.models: list[tuple[float, str]] = []  # (received at, model_id) on each change
        self.gates: list[dict[str, Any]] = []  # each new last_gate of finetune_node

    def on_diag(self, msg: Any) -> None:
        now = time.time()
        for s in msg.status:
            values = {kv.key: kv.value for kv in s.values} | {"_message": s.message}
            self.status[s.name] = values
            if s.name == "mpc_controller: planner":
                model = values.get("model_id", "")
                if not self.models or self.models[-1][1] != model:
                    self.models.append((now, model))
            elif s.name == "finetune_node":
                gate = json.loads(values.get("last_gate") or "{}")
                if gate.get("finished_at") and (
                    not self.gates or self.gates[-1]["finished_at"] != gate["finished_at"]
                ):
                    self.gates.append(gate)
                elif self.gates and gate.get("finished_at") == self.gates[-1]["finished_at"]:
                    self.gates[-1] = gate  # deployed / deployed_at added

    def in_use_at(self, planner: str, after: float) -> float | None:
        target = str(Path(planner).resolve())
        return next((t for t, m in self.models if m == target and t >= after), None)


def _cycle(n: int, gate: dict[str, Any], watch: _Watch) -> dict[str, Any]:
    t0, t1, t2 = gate.get("threshold_at"), gate.get("started_at"), gate["finished_at"]
    row: dict[str, Any] = {
        "cycle": n,
        "deploy": bool(gate.get("deploy")),
        "deployed": gate.get("deployed"),
        "reason": gate.get("reason") or gate.get("error"),
        "live_error": gate.get("live_error"),
        "new_error": gate.get("new_error"),
        "threshold_to_start_s": None if t0 is None else round(t1 - t0, 2),
        "job_s": round(t2 - t1, 2),
    }
    end = t2
    if gate.get("deployed"):
        t3 = gate["deployed_at"]
        t4 = watch.in_use_at(gate["planner"], after=t2)
        row["deploy_s"] = round(t3 - t2, 2)
        row["reload_to_in_use_s"] = None if t4 is None else round(t4 - t3, 2)
        end = t4
    row["cycle_s"] = None if (t0 is None or end is None) else round(end - t0, 2)
    return row


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Start the three nodes in ``work``, time ``args.cycles`` gate decisions, stop them."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray

    from mbrl_control.pipeline.evaluate import planner_task

    run = Path(args.run)
    live = work / "live"
    live.mkdir(parents=True, exist_ok=True)
    for name in ("model.pt", "planner.onnx"):
        shutil.copy2(run / name, live / name)
    task = planner_task(live / "planner.onnx")
    env = ros_env(args.domain)
    fparams = {
        "data_dir": work / "real", "checkpoint": live / "model.pt",
        "planner": live / "planner.onnx", "model_dir": work / "models",
        "retrain_every": args.retrain_every, "max_epochs": args.max_epochs,
        "autostart": "true", "use_sim_time": "true",
    }  # fmt: skip
    if not args.no_sim_data and (run / "data").is_dir():
        fparams["sim_data"] = run / "data"
    rclpy.init(args=[], domain_id=args.domain)
    watch = _Watch()
    probe = rclpy.create_node("finetune_cycle_bench")
    probe.create_subscription(DiagnosticArray, "/diagnostics", watch.on_diag, 50)
    procs = [
        spawn(node_argv("sim_node", {"task": task, "profile": args.profile}), env,
              work / "sim_node.log"),
        spawn(node_argv("mpc_controller", {"model_path": live / "planner.onnx",
                                           "model_dir": work, "autostart": "true"}),
              env, work / "mpc_controller.log"),
        spawn(node_argv("finetune_node", fparams), env, work / "finetune_node.log"),
    ]  # fmt: skip
    t_start, timed_out = time.time(), False
    try:

        def done() -> bool:
            decided = watch.gates[: args.cycles]
            if len(decided) < args.cycles:
                return False
            # a deployed cycle is finished once the controller runs the new planner
            return all(
                not g.get("deploy")
                or ("deployed" in g and not g["deployed"])
                or watch.in_use_at(g["planner"], g["finished_at"]) is not None
                or time.time() - g.get("deployed_at", time.time()) > 30
                for g in decided
            )

        while not done():
            if time.time() - t_start > args.timeout:
                timed_out = True
                break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a node exited early; logs in {work}")
            rclpy.spin_once(probe, timeout_sec=0.1)
        for _ in range(15):  # one more round of every node's diagnostics
            rclpy.spin_once(probe, timeout_sec=0.1)
    finally:
        probe.destroy_node()
        rclpy.try_shutdown()
        stop(procs)
    cycles = [_cycle(i + 1, g, watch) for i, g in enumerate(watch.gates[: args.cycles])]
    swapped = [c["cycle_s"] for c in cycles if c.get("deployed") and c["cycle_s"] is not None]
    truth = watch.status.get("sim_node: ground truth", {})
    ctrl = watch.status.get("mpc_controller: planner", {})
    fin = watch.status.get("finetune_node", {})
    return {
        "bench": "finetune-cycle",
        "task": task,
        "profile": args.profile,
        "run": str(run),
        "retrain_every": args.retrain_every,
        "max_epochs": args.max_epochs,
        "sim_data": "sim_data" in fparams,
        "cpus": os.cpu_count(),
        "cycles": cycles,
        "swapped_cycle_s": {
            "n": len(swapped),
            "max": max(swapped) if swapped else None,
            "median": sorted(swapped)[len(swapped) // 2] if swapped else None,
        },
        "target_cycle_s": TARGET_CYCLE_S,
        "meets_target": bool(swapped) and max(swapped) <= TARGET_CYCLE_S,
        "ground_truth": {
            k: int(truth.get(k, 0))
            for k in (
                "episodes",
                "steps",
                "rail_steps",
                "safety_stop_steps",
                "rail_hit_episodes",
                "safety_stop_episodes",
            )
        },
        "controller": {
            "ticks": int(ctrl.get("ticks", 0)),
            "deadline_misses": int(ctrl.get("deadline_misses", 0)),
            "planning_p99_ms": float(ctrl.get("p99_ms", "nan")),
        },
        "transitions_recorded": int(fin.get("transitions_recorded", 0)),
        "timed_out": timed_out,
        "wall_s": round(time.time() - t_start, 1),
    }


def run(args: argparse.Namespace) -> int:
    result = measure_in_workdir(args.keep, lambda work: measure(args, work))
    print(json.dumps(result, indent=None if args.json else 2))
    return 0 if result["cycles"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="mbrl-control bench finetune-cycle", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
