"""``mbrl-control bench controller``: mpc_controller end to end over real DDS.

Starts ``mpc_controller`` as a process with a planner of the chosen preset (untrained
ensemble: timing only), plays the robot from this process (JointStates at ``--state-rate`` on a
private ROS domain) and reports, as JSON: the achieved command rate seen by the
robot, the controller's own planning latency and state-received -> command-ready latency
(p50/p99 from its /diagnostics: the age of the newest state at the tick plus planning), and
deadline misses. The controller plans on its own timer, so the state's age at a tick is up to
one state period: publish states faster than the control rate, as robots do.

``--with-adapt`` measures what ``finetune_node``'s adaptation job does to the controller's
timing: three windows of ``--seconds`` each (at least the controller's 500-tick statistics
window: longer, up to 5×, when the controller runs slower than its rate), **before**,
**during** and **after** an ``mbrl-control adapt`` process started exactly
as the node starts it (:mod:`mbrl_control.finetune.jobs`, niceness ``--job-nice``) on a tiny
pretraining run and a few ``reality_gap`` episodes made here first. Per window: the
controller's planning and state-to-command p50/p99 (its last 500 ticks), deadline misses in the
window, and the robot-side command interval p99; then the ratios during / mean(before, after)
of the p99s (timings are ratios within one run, DESIGN.md section 4). The robot-side command
interval is measured in each window alone; prefer it when a window is not ``diag_window_clean``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from mbrl_control.bench.node_procs import hold_goal, node_argv, ros_env

WINDOW_TICKS = 500
"""Ticks in the controller's latency statistics (mbrl_control.control.stats.LatencyWindow)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import PRESET_NAMES, positive_float, positive_int, ros_domain_id

    parser.add_argument(
        "--preset", choices=PRESET_NAMES, default="cartpole-rt", help="planner preset"
    )
    parser.add_argument(
        "--seconds", type=positive_float, default=20.0, help="measurement window (s)"
    )
    parser.add_argument(
        "--state-rate",
        type=positive_float,
        default=100.0,
        help="JointState rate in Hz (a joint_state_broadcaster's typical 100 Hz)",
    )
    parser.add_argument("--domain", type=ros_domain_id, default=77, help="ROS_DOMAIN_ID to use")
    parser.add_argument(
        "--threads", type=positive_int, default=1, help="controller's onnxruntime threads"
    )
    parser.add_argument(
        "--with-adapt", action="store_true",
        help="windows before, during and after an adapt job as finetune_node runs it; p99 ratios",
    )  # fmt: skip
    parser.add_argument(
        "--job-nice", type=int, choices=range(20), default=None, metavar="0..19",
        help="with --with-adapt: the job's niceness (default 10: finetune_node uses >= 10; 0 "
        "shows why)",
    )  # fmt: skip
    parser.add_argument(
        "--evaluations", type=positive_int, default=None,
        help="with --with-adapt: the job's CMA-ES evaluations (default 2000: enough to outlast "
        "the window)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON only")


def _export(preset: str, folder: Path) -> tuple[Path, Any]:
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.planner import PRESETS, preset_task

    model_kwargs, cfg = PRESETS[preset]
    task = preset_task(preset)
    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(**model_kwargs)).eval()
    return export_planner(model, task, cfg, folder / f"{preset}.onnx"), task


class ControllerRig:
    """``mpc_controller`` in a process and a robot in this one (see the module docstring);
    :meth:`window` measures one window. Use as a context manager."""

    def __init__(self, planner: Path, task: Any, args: argparse.Namespace) -> None:
        self.planner, self.task, self.args = planner, task, args

    def __enter__(self) -> ControllerRig:
        import numpy as np
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Float64MultiArray

        args, task = self.args, self.task
        params = {"model_path": self.planner, "task": task.name, "threads": args.threads,
                  "autostart": "true"}  # fmt: skip
        self.proc = subprocess.Popen(
            node_argv("mpc_controller", params),  # a managed node: autostart
            env=ros_env(args.domain),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        rclpy.init(args=[], domain_id=args.domain)
        self.rclpy = rclpy
        node = self.node = rclpy.create_node("bench_robot")
        self.stamps: list[float] = []
        self.diags: list[dict[str, str]] = []
        node.create_subscription(
            Float64MultiArray, "/commands", lambda m: self.stamps.append(time.monotonic()), 50
        )

        def on_diag(msg: DiagnosticArray) -> None:
            for s in msg.status:
                if s.name == "mpc_controller: planner":
                    self.diags.append({kv.key: kv.value for kv in s.values} | {"msg": s.message})

        node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
        pub = node.create_publisher(JointState, "/joint_states", 10)
        names = list(task.joint_names)
        rng = np.random.default_rng(0)

        def publish() -> None:
            pos = 0.05 * rng.standard_normal(len(names))
            msg = JointState(name=names, position=list(pos), velocity=[0.0] * len(names))
            msg.header.stamp = node.get_clock().now().to_msg()  # stamped, as drivers do
            pub.publish(msg)

        node.create_timer(1.0 / args.state_rate, publish)
        hold_goal(node, task, rng)  # a goal task's controller waits for one
        deadline = time.monotonic() + 120.0
        while not self.diags and time.monotonic() < deadline:  # model loaded, planning
            rclpy.spin_once(node, timeout_sec=0.1)
        return self

    def __exit__(self, *exc: object) -> None:
        self.node.destroy_node()
        self.rclpy.try_shutdown()
        self.proc.terminate()
        self.proc.wait(timeout=20)

    def window(self, seconds: float, alive: Any = None, min_ticks: int = 0) -> dict[str, Any]:
        """Spin for ``seconds``, longer (up to 5×) until the controller reports ``min_ticks``
        more ticks (its latency statistics cover its last 500 ticks: a window shorter than
        that mixes in the previous one; ``diag_window_clean`` says whether it did not). The
        window's figures; ``alive()``: polled each spin, the share of spins it was true is
        reported as ``job_alive_fraction``."""
        import numpy as np

        first = self.diags[-1] if self.diags else {}
        start, count0 = time.monotonic(), len(self.stamps)
        polls = alive_polls = 0

        def ticks() -> int:
            last = self.diags[-1] if self.diags else {}
            return int(last.get("ticks", "0")) - int(first.get("ticks", "0"))

        while (elapsed := time.monotonic() - start) < seconds or (
            ticks() < min_ticks and elapsed < 5 * seconds
        ):
            self.rclpy.spin_once(self.node, timeout_sec=0.01)
            if alive is not None:
                polls, alive_polls = polls + 1, alive_polls + int(bool(alive()))
        elapsed, stamps = time.monotonic() - start, self.stamps[count0:]
        last = self.diags[-1] if self.diags else {}
        gaps = np.diff(stamps) * 1e3 if len(stamps) > 2 else np.array([np.nan])
        out = {
            "window_s": elapsed,
            "command_rate_hz": len(stamps) / elapsed,
            "command_interval_ms": {
                "p50": float(np.percentile(gaps, 50)),
                "p99": float(np.percentile(gaps, 99)),
            },
            "planning_ms": {k: float(last.get(f"{k}_ms", "nan")) for k in ("last", "p50", "p99")},
            "state_to_command_ms": {
                "p50": float(last.get("state_to_command_p50_ms", "nan")),
                "p99": float(last.get("state_to_command_p99_ms", "nan")),
            },
            "deadline_misses": int(last.get("deadline_misses", "0"))
            - int(first.get("deadline_misses", "0")),
            "ticks": int(last.get("ticks", "0")) - int(first.get("ticks", "0")),
            "status": last.get("msg", ""),
        }
        if min_ticks:
            out["diag_window_clean"] = out["ticks"] >= min_ticks
        if alive is not None:
            out["job_alive_fraction"] = alive_polls / max(1, polls)
        return out


def _adapt_inputs(folder: Path) -> tuple[Path, Path]:
    """A tiny cart-pole pretraining run and 3 ``reality_gap`` episodes (the adapt job's
    inputs; made before any window, so they do not load the measurement)."""
    from mbrl_sim.collect import collect

    from mbrl_control.pipeline.pretrain import PretrainConfig, pretrain

    run, real = folder / "run", folder / "real"
    pretrain(PretrainConfig(seed_episodes=2, rounds=0, workers=1, max_epochs=2), run, quiet=True)
    collect("cartpole_swingup", "reality_gap", 3, "random", 1, real, seed=5, quiet=True)
    return run, real


def _ratio(during: float, before: float, after: float) -> float | None:
    """during / mean(before, after); None when a figure is missing (nan)."""
    import math

    quiet = (before + after) / 2
    return None if math.isnan(during) or math.isnan(quiet) or quiet <= 0 else during / quiet


def run(args: argparse.Namespace) -> int:
    from mbrl_control.cli.errors import UsageError
    from mbrl_control.finetune.jobs import adapt_argv, niced_argv

    for flag, value in (("--job-nice", args.job_nice), ("--evaluations", args.evaluations)):
        if value is not None and not args.with_adapt:
            raise UsageError(f"{flag}: only with --with-adapt (it sets the adapt job's run)")
    args.job_nice = 10 if args.job_nice is None else args.job_nice
    args.evaluations = args.evaluations or 2000

    with tempfile.TemporaryDirectory() as tmp:
        path, task = _export(args.preset, Path(tmp))
        if not args.with_adapt:
            with ControllerRig(path, task, args) as rig:
                window = rig.window(args.seconds)
            result = {
                "preset": args.preset,
                "task": task.name,
                "control_rate_target_hz": task.control_hz,
                "state_rate_hz": args.state_rate,
                "threads": args.threads,
                **window,
            }
            print(json.dumps(result, indent=None if args.json else 2))
            return 0
        run_dir, real = _adapt_inputs(Path(tmp))
        seconds = max(args.seconds, 1.2 * WINDOW_TICKS / task.control_hz)
        job = adapt_argv(
            "cartpole_swingup", str(run_dir), str(real), str(Path(tmp) / "adapt"),
            str(run_dir / "model.pt"), rounds=2, episodes_per_round=2,
            evaluations=args.evaluations, holdout_episodes=1, real_ratio=0.9, max_epochs=20,
        )  # fmt: skip
        argv = niced_argv(args.job_nice, job, least=0)
        with ControllerRig(path, task, args) as rig:
            before = rig.window(seconds, min_ticks=WINDOW_TICKS)
            log = (Path(tmp) / "adapt.log").open("w")
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
            try:
                during = rig.window(
                    seconds, alive=lambda: proc.poll() is None, min_ticks=WINDOW_TICKS
                )
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(timeout=30)
                log.close()
            after = rig.window(seconds, min_ticks=WINDOW_TICKS)
    p99 = {
        key: _ratio(*(w[key]["p99"] for w in (during, before, after)))
        for key in ("planning_ms", "state_to_command_ms", "command_interval_ms")
    }
    result = {
        "preset": args.preset,
        "task": task.name,
        "control_rate_target_hz": task.control_hz,
        "threads": args.threads,
        "job": "adapt",
        "job_nice": args.job_nice,
        "cpus": os.cpu_count(),
        "windows": {"before": before, "during": during, "after": after},
        "p99_ratio_during_vs_quiet": p99,
    }
    print(json.dumps(result, indent=None if args.json else 2))
    return 0
