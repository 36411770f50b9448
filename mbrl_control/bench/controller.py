"""``mbrl-control bench controller``: mpc_controller end to end over real DDS.

Starts ``mpc_controller`` as a process with a planner of the chosen preset (untrained
ensemble: timing only), plays the robot from this process (JointStates at ``--state-rate`` on a
private ROS domain) and reports, as JSON: the achieved command rate seen by the
robot, the controller's own planning latency and state-received -> command-ready latency
(p50/p99 from its /diagnostics: the age of the newest state at the tick plus planning), and
deadline misses. The controller plans on its own timer, so the state's age at a tick is up to
one state period: publish states faster than the control rate, as robots do.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import PRESET_NAMES, positive_float, positive_int

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
    parser.add_argument("--domain", type=int, default=77, help="ROS_DOMAIN_ID to use")
    parser.add_argument(
        "--threads", type=positive_int, default=1, help="controller's onnxruntime threads"
    )
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


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import Point, PointStamped
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    from mbrl_control.control.goal import POINT_TYPE, goal_msg_type

    env = dict(
        os.environ, ROS_DOMAIN_ID=str(args.domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path, task = _export(args.preset, Path(tmp))
        exe = str(Path(sys.executable).with_name("mpc_controller"))
        argv = [exe, "--ros-args", "-p", f"model_path:={path}", "-p", f"task:={task.name}"]
        argv += ["-p", f"threads:={args.threads}", "-p", "autostart:=true"]  # managed node
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rclpy.init(domain_id=args.domain)
        node = rclpy.create_node("bench_robot")
        stamps: list[float] = []
        diags: list[dict[str, str]] = []
        node.create_subscription(
            Float64MultiArray, "/commands", lambda m: stamps.append(time.monotonic()), 50
        )

        def on_diag(msg: DiagnosticArray) -> None:
            for s in msg.status:
                if s.name == "mpc_controller: planner":
                    diags.append({kv.key: kv.value for kv in s.values} | {"msg": s.message})

        node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
        pub = node.create_publisher(JointState, "/joint_states", 10)
        names = list(task.joint_names)
        rng = np.random.default_rng(0)

        def publish() -> None:
            pos = 0.05 * rng.standard_normal(len(names))
            pub.publish(JointState(name=names, position=list(pos), velocity=[0.0] * len(names)))

        node.create_timer(1.0 / args.state_rate, publish)
        if task.goal_dim and getattr(task, "goal_kind", "box") != "fixed":  # wait for a goal
            values = [float(v) for v in task.sample_goal(rng)]
            if goal_msg_type(task.goal_dim) == POINT_TYPE:
                goal_pub = node.create_publisher(PointStamped, "/goal", 10)
                goal: Any = PointStamped(point=Point(x=values[0], y=values[1], z=values[2]))
            else:
                goal_pub = node.create_publisher(Float64MultiArray, "/goal", 10)
                goal = Float64MultiArray(data=values)
            node.create_timer(0.5, lambda: goal_pub.publish(goal))
        try:
            deadline = time.monotonic() + 120.0
            while not diags and time.monotonic() < deadline:  # model loaded, planning
                rclpy.spin_once(node, timeout_sec=0.1)
            start, count0 = time.monotonic(), len(stamps)
            while time.monotonic() - start < args.seconds:
                rclpy.spin_once(node, timeout_sec=0.01)
            elapsed, n = time.monotonic() - start, len(stamps) - count0
        finally:
            node.destroy_node()
            rclpy.try_shutdown()
            proc.terminate()
            proc.wait(timeout=20)
    last = diags[-1] if diags else {}
    result = {
        "preset": args.preset,
        "task": task.name,
        "control_rate_target_hz": task.control_hz,
        "state_rate_hz": args.state_rate,
        "threads": args.threads,
        "command_rate_hz": n / elapsed,
        "planning_ms": {k: float(last.get(f"{k}_ms", "nan")) for k in ("last", "p50", "p99")},
        "state_to_command_ms": {
            "p50": float(last.get("state_to_command_p50_ms", "nan")),
            "p99": float(last.get("state_to_command_p99_ms", "nan")),
        },
        "deadline_misses": int(last.get("deadline_misses", "0")),
        "ticks": int(last.get("ticks", "0")),
        "status": last.get("msg", ""),
        "window_s": elapsed,
    }
    print(json.dumps(result, indent=None if args.json else 2))
    return 0
