"""``bench soak`` (issue 18): the pure summaries (latency pairing, percentiles, the leak rule)
and a fraction-of-a-minute soak of sim_node + mpc_controller + finetune_node as processes.
No timing is asserted (the cited figures come from the command)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mbrl_control.bench.soak import (
    LEAK_MIB_PER_MIN,
    leak_verdict,
    percentiles,
    state_to_command_ms,
)


def test_latency_bounds_pair_commands_with_the_newest_states_before_them() -> None:
    ms = 1_000_000
    states = [30 * ms, 0, 10 * ms, 20 * ms]  # any order
    commands = [45 * ms, -5 * ms, 4 * ms, 10 * ms, 27 * ms]  # -5: no earlier state
    lower, upper = state_to_command_ms(states, commands)
    nan = float("nan")
    # lower: newest state <= the command; upper: newest state <= the previous command
    assert lower.tolist() == pytest.approx([nan, 4.0, 0.0, 7.0, 15.0], nan_ok=True)
    assert upper.tolist() == pytest.approx([nan, nan, 10.0, 17.0, 25.0], nan_ok=True)
    assert np.all(lower[2:] <= upper[2:])
    assert percentiles(upper)["n"] == 3  # undefined bounds are left out


def test_steal_share_reads_proc_stat_counters() -> None:
    from mbrl_control.bench.node_procs import cpu_times, steal_share

    start = cpu_times()
    assert start is None or start["total"] >= start["steal"] >= 0
    assert steal_share({"total": 100, "steal": 1}, {"total": 300, "steal": 5}) == 0.02
    assert steal_share(None, start) is None and steal_share(start, start) is None


def test_percentiles_are_ordered_and_empty_input_gives_none() -> None:
    p = percentiles(np.arange(1, 10_001, dtype=float))
    assert p["n"] == 10_000 and p["p50"] <= p["p99"] <= p["p99.9"] <= p["max"] == 10_000
    assert percentiles([]) == {"n": 0, "p50": None, "p99": None, "p99.9": None, "max": None}


def test_leak_rule_fits_the_last_two_thirds_only() -> None:
    t = np.arange(0.0, 601.0, 5.0)  # 10 min, a sample every 5 s
    warmup = np.where(t < 200, t, 200.0)  # grows 200 MiB in the first third, then flat
    leaking = 100 + 2 * LEAK_MIB_PER_MIN * t / 60  # twice the allowed slope all along
    out = leak_verdict({"a": list(zip(t, warmup)), "b": list(zip(t, leaking))}, 600.0)
    assert out["nodes"]["a"]["verdict"] == "flat" and out["nodes"]["a"]["slope_mib_per_min"] == 0
    assert out["nodes"]["b"]["verdict"] == "leak" and out["verdict"] == "leak"
    assert out["nodes"]["b"]["slope_mib_per_min"] == pytest.approx(2 * LEAK_MIB_PER_MIN)
    short = leak_verdict({"a": [(0.0, 10.0), (30.0, 10.0), (60.0, 10.0)]}, 60.0)
    assert short["verdict"] == "too short"  # a 40 s window gives no verdict


def test_node_procs_reads_rss_children_and_stops_processes(tmp_path: Path) -> None:
    import os
    import signal

    from mbrl_control.bench.node_procs import (
        cpu_model,
        cpu_seconds,
        descendants,
        node_argv,
        ros_env,
        rss_mib,
        spawn,
        stop,
    )

    argv = node_argv("sim_node", {"task": "cartpole_swingup", "real_time_factor": 2.0})
    assert Path(argv[0]).name == "sim_node" and Path(argv[0]).parent == Path(sys.executable).parent
    assert argv[1:] == ["--ros-args", "-p", "task:=cartpole_swingup", "-p", "real_time_factor:=2.0"]
    env = ros_env(42)
    assert env["ROS_DOMAIN_ID"] == "42" and env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert 1.0 < rss_mib(os.getpid()) < 100_000 and isinstance(cpu_model(), str)
    own, waited = cpu_seconds(os.getpid())
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(2_000_000))"], check=True)
    assert cpu_seconds(os.getpid())[1] > waited and cpu_seconds(os.getpid())[0] >= own
    # a child that ignores SIGINT: stop() kills it after the grace period
    code = ("import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)")  # fmt: skip
    log = tmp_path / "stubborn.log"
    stubborn = spawn([sys.executable, "-c", code], env, log)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a bench run as `nohup ... &`
    try:  # its children still get SIGINT's default (they inherited SIG_IGN and were killed)
        polite = spawn(["sleep", "60"], env, tmp_path / "polite.log")
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        assert {stubborn.pid, polite.pid} <= set(descendants(os.getpid()))
        for _ in range(600):  # until SIGINT is ignored (not a timing assertion)
            if "ready" in log.read_text():
                break
            time.sleep(0.05)
    finally:
        stop([stubborn, polite], grace=1.0)
    assert polite.returncode == -signal.SIGINT and stubborn.returncode == -signal.SIGKILL
    assert rss_mib(polite.pid) is None and stubborn.pid not in descendants(os.getpid())


def _tiny_run(run: Path) -> None:
    """An untrained tiny ensemble and a small CEM planner (timing only; no sim data)."""
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.checkpoint import save_checkpoint
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig
    from mbrl_control.tasks import get_task

    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(5, 1, members=5, hidden=16, layers=2)).eval()
    run.mkdir()
    save_checkpoint(run / "model.pt", model, {"run": "soak-test"})
    cfg = PlannerConfig(kind="cem", horizon=5, population=32, particles=5, iterations=1)
    export_planner(model, get_task("cartpole_swingup"), cfg, run / "planner.onnx")


@pytest.mark.ros
@pytest.mark.slow
def test_a_short_soak_reports_misses_latency_rate_memory_and_retrains(
    tmp_path: Path, ros_env: dict[str, str]
) -> None:
    run = tmp_path / "run"
    _tiny_run(run)
    argv = [sys.executable, "-m", "mbrl_control.bench.soak", "--run", str(run),
            "--minutes", "0.2", "--retrain-every", "100", "--max-epochs", "1",
            "--sample-every", "1", "--domain", ros_env["ROS_DOMAIN_ID"],
            "--thread-priority", "50", "--keep", str(tmp_path / "work"), "--json"]  # fmt: skip
    out = subprocess.run(argv, env=ros_env, capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "measuring 0.2 min at 100 Hz" in out.stderr  # progress on stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1  # --json: compact
    r = json.loads(lines[0])
    assert r["control_rate_hz"] == 100.0 and r["sim_real_time_factor"] == 2.0  # cart-pole: 50 Hz
    assert r["duration_s"] >= 12.0 and r["deadline_misses"] >= 0 and r["cpu_model"]
    assert r["host_steal_share"] is None or 0.0 <= r["host_steal_share"] < 1.0
    cores = r["cpu_cores"]  # every node ran (a node at 100 Hz uses some CPU)
    assert all(cores[n] > 0 for n in ("sim_node", "mpc_controller", "finetune_node", "bench"))
    assert cores["finetune_jobs"] >= 0
    assert r["controller"]["ticks"] > 0 and r["commands"]["count"] > 0
    sched = r["scheduling"]  # applied, or the OS's refusal said (also on stderr)
    assert sched.startswith("SCHED_FIFO") or "--thread-priority 50: the controller runs with" in (
        out.stderr
    )
    assert r["thread_priority"] == 50 and (
        sched.startswith("SCHED_FIFO 50; ") or sched.startswith("normal (SCHED_FIFO 50 refused")
    ), sched
    assert r["commands"]["rate_hz"] > 0 and r["joint_states"]["count"] > 0
    lat = r["state_to_command_ms"]
    for b in (lat["lower"], lat["upper"]):
        assert b["n"] > 0 and 0 <= b["p50"] <= b["p99"] <= b["p99.9"] <= b["max"]
    assert lat["lower"]["p50"] <= lat["upper"]["p50"] and "bench timestamps" in lat["source"]
    mem = r["memory"]
    assert set(mem["rss_mib"]) == {"sim_node", "mpc_controller", "finetune_node"}
    for series in mem["rss_mib"].values():  # a sample a second, each a live process's RSS
        assert len(series) >= 5 and all(10 < mib < 20_000 for _, mib in series)
    assert mem["verdict"] == "too short" and "slope" in mem["rule"]  # 8 s: no verdict
    assert r["meets_target"] is False  # no verdict is not a pass
    # finetune_node recorded and started its retraining process during the soak
    assert r["finetune"]["transitions_recorded"] > 0 and r["finetune"]["job_processes"] >= 1
    assert (tmp_path / "work" / "finetune_node.log").is_file()  # --keep kept the logs


@pytest.mark.ros
def test_hold_goal_publishes_a_goal_task_s_goal_and_nothing_otherwise(ros_env) -> None:
    """A reach task's controller waits for a goal: the bench holds one on /goal (bench soak
    and bench controller); cart-pole (no goal) gets none."""
    import rclpy
    from geometry_msgs.msg import PointStamped
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from mbrl_control.bench.node_procs import hold_goal
    from mbrl_control.tasks import get_task

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(ros_env["ROS_DOMAIN_ID"]))
    pub, sub = Node("goal_holder", context=context), Node("goal_reader", context=context)
    executor = SingleThreadedExecutor(context=context)
    try:
        panda = get_task("panda_reach")
        assert hold_goal(pub, get_task("cartpole_swingup"), np.random.default_rng(0)) is None
        values = hold_goal(pub, panda, np.random.default_rng(0), period=0.1)
        low, high = (np.asarray(b) for b in panda.goal_box)
        assert len(values) == 3 and np.all(low <= values) and np.all(np.asarray(values) <= high)
        heard: list[list[float]] = []
        sub.create_subscription(
            PointStamped, "/goal", lambda m: heard.append([m.point.x, m.point.y, m.point.z]), 10
        )
        for node in (pub, sub):
            executor.add_node(node)
        for _ in range(600):  # until one arrives (discovery), not a timing assertion
            executor.spin_once(timeout_sec=0.05)
            if heard:
                break
        assert heard and heard[0] == pytest.approx(values)
    finally:
        executor.shutdown()
        pub.destroy_node()
        sub.destroy_node()
        rclpy.try_shutdown(context=context)
