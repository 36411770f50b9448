"""``mbrl-control bench soak --minutes N``: the whole live loop for N minutes on shared cores.

Starts, on a private ROS domain, ``sim_node`` (the robot, on ``--profile``), ``mpc_controller``
at ``--rate`` Hz (its ``control_rate`` parameter; the simulator runs ``--rate`` / the task's
rate times real time, so every simulated step gets one command) and ``finetune_node`` with
its usual parameters except a small ``retrain_every``: it records and retrains (its niced
background job) on the same cores the whole time. The planner and checkpoint come from
``--run`` (a pretraining run folder), else from a tiny pretraining run made first (seed
episodes only, two epochs: planning costs the same as a trained model's).

Measured once the controller has planned (a /diagnostics report with a planning latency), for
N minutes:

- ``deadline_misses`` and ``ticks``: the controller's own counters (difference between its
  first and last /diagnostics of the window; planning longer than the control period);
- ``commands``: count and rate of the commands this process received, and the interval between
  consecutive commands' publication (the controller's jitter as the robot sees it);
- ``state_to_command_ms``: p50/p99/p99.9/max of bounds on each command's latency, **from
  timestamps this process sees** (DDS source timestamps of states and commands, both on this
  host's clock; run-wide, every command), since the controller does not say which state a
  command came from: ``lower`` = the command's publication minus that of the newest joint
  state published before it; ``upper`` = minus that of the newest state published before the
  previous command (the controller plans one tick at a time, so the tick of a command started
  after the previous command went out, with every state that had arrived by then; a state's
  transport time can put the truth a little above it). Both include the state's age when
  the controller's tick fired (the simulator and the controller run free on their own timers:
  up to one period) and the state's transport, as the controller's own figure does;
- ``controller``: its tick rate, and its own state-received -> command-ready and planning
  p50/p99 (each over its last 500 ticks) from its /diagnostics reports (once a second and at
  each status change): median and max over the reports; the reports by level, and the
  non-OK ones by kind ('deadline miss', 'watchdog', ...);
- ``joint_states``: the rate the simulator published at (is it keeping up?);
- ``finetune``: finetune_node's gate decisions, deploys, failures and job durations in the
  window, transitions recorded, dropped states by reason, retraining processes seen;
- ``memory``: ``VmRSS`` of each node process every ``--sample-every`` s (``/proc``), the
  retraining jobs' peak, and a leak verdict (:data:`LEAK_RULE`);
- ``cpu_cores``: the cores each node and this process used over the window (CPU s / wall
  s from ``/proc/<pid>/stat``), and ``finetune_jobs``: finetune_node's retraining processes
  (each one's CPU time at its last memory sample);
- the CPU model (``/proc/cpuinfo``), core count and load averages at start and end;
- ``meets_target``: no deadline miss and a 'flat' memory verdict (the issue's target: over
  30 minutes on 2 cores).

This process is an observer on the same cores (its subscriptions cost little: two 100 Hz
topics and the diagnostics).

Progress goes to stderr, one line per minute; the JSON to stdout. Also runnable as
``python -m mbrl_control.bench.soak``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.bench.node_procs import (
    cpu_model,
    cpu_seconds,
    cpu_times,
    descendants,
    hold_goal,
    load_average,
    measure_in_workdir,
    node_argv,
    ros_env,
    rss_mib,
    spawn,
    steal_share,
    stop,
)
from mbrl_control.cli import ArgumentParser

NODES = ("sim_node", "mpc_controller", "finetune_node")
LEAK_WINDOW = 2.0 / 3.0
"""Share of the run, at its end, over which the RSS slope is fitted (the first third is
warm-up: imports, allocator arenas, the first retrain's buffers)."""
LEAK_MIB_PER_MIN = 1.0
"""A node whose RSS grows faster than this over the window is reported as leaking."""
LEAK_MIN_MINUTES, LEAK_MIN_SAMPLES = 2.0, 10
"""A window shorter than this, or with fewer samples, gives no verdict ('too short')."""
LEAK_RULE = (
    f"per node: least-squares slope of VmRSS (MiB) against time (min) over the samples in the "
    f"last {Fraction(LEAK_WINDOW).limit_denominator(10)} of the run (the rest is warm-up); "
    f"'too short' if that window is under "
    f"{LEAK_MIN_MINUTES:g} min or holds under {LEAK_MIN_SAMPLES} samples, else 'leak' if the "
    f"slope > {LEAK_MIB_PER_MIN:g} MiB/min, else 'flat'; the run's verdict: 'leak' if any node "
    f"leaks, else 'too short' if any is, else 'flat'"
)
STARTUP_TIMEOUT = 300.0  # s for the nodes to start and the controller to plan
LATENCY_SOURCE = (
    "bench timestamps (DDS publication stamps, one host clock), every command of the run: "
    "lower = command - newest joint state published before it; upper = command - newest joint "
    "state published before the previous command (the tick started after that one went out); "
    "both include the state's age at the controller's tick"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import (
        PRESET_NAMES,
        existing_dir,
        int_in,
        out_dir,
        positive_float,
        positive_int,
        profile_ref,
        ros_domain_id,
    )

    parser.add_argument(
        "--minutes", type=positive_float, default=30.0, help="measured soak length (min)"
    )
    parser.add_argument(
        "--run", type=existing_dir,
        help="pretraining run folder (model.pt, planner.onnx, data/); default: a tiny one made "
        "first (seed episodes, 2 epochs) with --preset",
    )  # fmt: skip
    parser.add_argument(
        "--preset", choices=PRESET_NAMES,
        help="without --run: the tiny run's planner preset (default: the task file's)",
    )  # fmt: skip
    parser.add_argument(
        "--rate", type=positive_float, default=100.0,
        help="mpc_controller's control_rate (Hz); the simulator steps at the same rate",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=positive_int, default=1, help="controller's onnxruntime threads"
    )
    parser.add_argument(
        "--thread-priority", type=int_in(0, 99), default=0, metavar="0-99",
        help="mpc_controller's thread_priority: SCHED_FIFO priority of its planning thread "
        "(0 = normal scheduling; ros2_control uses 50)",
    )  # fmt: skip
    parser.add_argument("--profile", type=profile_ref, default="reality_gap", help="the robot")
    parser.add_argument(
        "--retrain-every", type=positive_int, default=1000,
        help="finetune_node's retrain_every: new transitions between retrains (at --rate)",
    )  # fmt: skip
    parser.add_argument(
        "--max-epochs", type=positive_int, default=50, help="finetune_node's max_epochs"
    )
    parser.add_argument(
        "--sample-every", type=positive_float, default=2.0,
        help="s between resident-memory samples of the nodes",
    )  # fmt: skip
    parser.add_argument("--domain", type=ros_domain_id, default=79, help="ROS_DOMAIN_ID to use")
    parser.add_argument(
        "--keep", type=out_dir, help="keep the nodes' logs, data and models in this folder"
    )
    parser.add_argument("--json", action="store_true", help="print compact JSON")


# ---- pure summaries (no ROS) ------------------------------------------------------------------
def percentiles(values: Sequence[float] | np.ndarray) -> dict[str, float | int | None]:
    """``n``, p50, p99, p99.9 and max of the finite ``values`` (None for each figure when
    there are none)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not v.size:
        return {"n": 0, "p50": None, "p99": None, "p99.9": None, "max": None}
    p = np.percentile(v, [50, 99, 99.9])
    return {"n": int(v.size), "p50": round(float(p[0]), 3), "p99": round(float(p[1]), 3),
            "p99.9": round(float(p[2]), 3), "max": round(float(v.max()), 3)}  # fmt: skip


def state_to_command_ms(
    state_ns: Sequence[int], command_ns: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on each command's state-to-command latency (ms), from publication stamps.

    ``state_ns`` ``(S,)``, ``command_ns`` ``(C,)``: stamps (ns, one clock), in any order.
    Returns ``(lower, upper)``, each ``(C,)`` in command order, nan where undefined:

    - ``lower``: the command minus the newest state at or before it (no command is planned
      from a state published after it);
    - ``upper``: the command minus the newest state at or before the *previous* command (the
      controller plans one tick at a time: the tick of command k started after command k-1 was
      published, with every state that had arrived by then); nan for the first command.
    """
    states = np.sort(np.asarray(state_ns, np.int64))
    commands = np.sort(np.asarray(command_ns, np.int64))
    newest = np.searchsorted(states, commands, side="right") - 1  # (C,): newest state <= command
    lower, upper = np.full(commands.shape, np.nan), np.full(commands.shape, np.nan)
    ok = newest >= 0
    lower[ok] = (commands[ok] - states[newest[ok]]) * 1e-6
    ok_prev = newest[:-1] >= 0  # (C-1,): for commands 1.., the state before the previous one
    upper[1:][ok_prev] = (commands[1:][ok_prev] - states[newest[:-1][ok_prev]]) * 1e-6
    return lower, upper


def leak_verdict(
    series: Mapping[str, Sequence[tuple[float, float]]], duration_s: float
) -> dict[str, Any]:
    """The leak verdict of :data:`LEAK_RULE` for ``series``: name -> [(t in s from the start,
    RSS in MiB)]. Returns the run's ``verdict`` and, per name, ``slope_mib_per_min`` (None
    with fewer than 2 samples in the window), ``growth_mib`` (last - first in the window),
    ``samples`` and ``verdict``."""
    start = duration_s * (1.0 - LEAK_WINDOW)
    window_min = (duration_s - start) / 60.0
    nodes: dict[str, Any] = {}
    for name, points in series.items():
        pts = np.asarray([p for p in points if p[0] >= start], float).reshape(-1, 2)
        slope = None
        if len(pts) >= 2 and np.ptp(pts[:, 0]) > 0:
            slope = float(np.polyfit(pts[:, 0] / 60.0, pts[:, 1], 1)[0])
        if slope is None or window_min < LEAK_MIN_MINUTES or len(pts) < LEAK_MIN_SAMPLES:
            verdict = "too short"
        else:
            verdict = "leak" if slope > LEAK_MIB_PER_MIN else "flat"
        nodes[name] = {
            "slope_mib_per_min": None if slope is None else round(slope, 3) + 0.0,  # no -0.0
            "growth_mib": round(float(pts[-1, 1] - pts[0, 1]), 1) if len(pts) else None,
            "samples": len(pts),
            "verdict": verdict,
        }
    verdicts = {n["verdict"] for n in nodes.values()}
    overall = next((v for v in ("leak", "too short") if v in verdicts), "flat")
    return {"verdict": overall, "window_s": round(duration_s - start, 1), "nodes": nodes}


# ---- the run ------------------------------------------------------------------------------------
class _Watch:
    """What this process hears: command and state stamps, and the nodes' /diagnostics."""

    def __init__(self) -> None:
        self.commands: list[int] = []  # DDS source timestamps, ns
        self.states: list[int] = []
        self.controller: list[dict[str, str]] = []  # each 'mpc_controller: planner' report
        self.finetune: dict[str, str] = {}  # latest 'finetune_node' report
        self.gates: dict[float, dict[str, Any]] = {}  # finished_at -> last_gate

    @staticmethod
    def _stamp(info: Any) -> int:
        return int(info["source_timestamp"])

    def on_command(self, msg: Any, info: Any) -> None:
        self.commands.append(self._stamp(info))

    def on_state(self, msg: Any, info: Any) -> None:
        self.states.append(self._stamp(info))

    def on_diag(self, msg: Any) -> None:
        for s in msg.status:
            values = {kv.key: kv.value for kv in s.values}
            if s.name == "mpc_controller: planner":
                level = int.from_bytes(s.level, "little") if isinstance(s.level, bytes) else s.level
                self.controller.append(
                    values | {"_level": str(level), "_message": s.message, "_t": time.time()}
                )
            elif s.name == "finetune_node":
                self.finetune = values
                gate = json.loads(values.get("last_gate") or "{}")
                if gate.get("finished_at"):
                    self.gates[gate["finished_at"]] = gate


def _tiny_run(folder: Path, preset: str | None) -> Path:
    """A pretraining run: 2 random seed episodes, no planner rounds, 2 epochs."""
    from mbrl_control.pipeline.pretrain import PretrainConfig, pretrain

    cfg = PretrainConfig(seed_episodes=2, rounds=0, workers=1, max_epochs=2, preset=preset)
    pretrain(cfg, folder, quiet=True)
    return folder


def _progress(text: str) -> None:
    print(f"soak: {text}", file=sys.stderr, flush=True)


def _controller_summary(reports: list[dict[str, str]]) -> dict[str, Any]:
    """Counters over the window and the windowed p99s of the controller's reports."""
    first, last = reports[0], reports[-1]

    def delta(key: str) -> int:
        return int(last.get(key, 0)) - int(first.get(key, 0))

    def spread(key: str) -> dict[str, float | None]:
        v = np.asarray([float(r.get(key, "nan")) for r in reports], float)
        v = v[np.isfinite(v)]
        if not v.size:
            return {"median": None, "max": None}
        return {"median": round(float(np.median(v)), 3), "max": round(float(v.max()), 3)}

    levels = {"OK": 0, "WARN": 0, "ERROR": 0, "STALE": 0}
    problems = [r["_message"] for r in reports if r["_level"] != "0"]
    kinds: dict[str, int] = {}  # 'deadline miss', 'watchdog', ...: the message up to its ':'
    for message in problems:
        kind = message.split(":")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    for r in reports:
        levels[("OK", "WARN", "ERROR", "STALE")[min(int(r["_level"]), 3)]] += 1
    return {
        "deadline_misses": delta("deadline_misses"),
        "scheduling": last.get("scheduling"),
        "ticks": delta("ticks"),
        "tick_rate_hz": round(delta("ticks") / max(last["_t"] - first["_t"], 1e-9), 2),
        "windows": {
            "reports": len(reports),
            "state_to_command_p99_ms": spread("state_to_command_p99_ms"),
            "planning_p99_ms": spread("p99_ms"),
            "planning_p50_ms": spread("p50_ms"),
        },
        "status_reports": levels,
        "problem_reports": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
        "last_problem": problems[-1] if problems else "",
    }


def _finetune_summary(watch: _Watch, first: dict[str, str], t0: float) -> dict[str, Any]:
    gates = [g for at, g in sorted(watch.gates.items()) if at >= t0]
    last = watch.finetune
    return {
        "trains": int(last.get("trains", 0)) - int(first.get("trains", 0)),
        "gate_decisions": len(gates),
        "deployed": sum(bool(g.get("deployed")) for g in gates),
        "failed": sum("error" in g for g in gates),
        "job_s": [
            round(g["finished_at"] - g["started_at"], 1) for g in gates if g.get("started_at")
        ],
        "transitions_recorded": int(last.get("transitions_recorded", 0)),
        "dropped_states": json.loads(last.get("dropped") or "{}"),  # reason -> count
        "state": last.get("state", ""),
    }


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Start the three nodes in ``work``, measure ``args.minutes`` once the controller plans,
    stop them; the report (see the module docstring). Raises ``RuntimeError`` naming the node
    and its log when a node exits early or the controller never plans."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    from mbrl_control.pipeline.evaluate import planner_task
    from mbrl_control.tasks import get_task

    if args.run:
        run = Path(args.run)
    else:
        _progress("making a tiny pretraining run (2 seed episodes, 2 epochs)")
        run = _tiny_run(work / "run", args.preset)
    live = work / "live"
    live.mkdir(parents=True, exist_ok=True)
    for name in ("model.pt", "planner.onnx"):
        shutil.copy2(run / name, live / name)
    task = planner_task(live / "planner.onnx")
    task_obj = get_task(task)
    factor = args.rate / task_obj.control_hz
    env = ros_env(args.domain)
    fparams = {
        "data_dir": work / "real", "checkpoint": live / "model.pt",
        "planner": live / "planner.onnx", "model_dir": work / "models",
        "retrain_every": args.retrain_every, "max_epochs": args.max_epochs,
        "autostart": "true", "use_sim_time": "true",
    }  # fmt: skip
    if (run / "data").is_dir():
        fparams["sim_data"] = run / "data"
    params = {
        "sim_node": {"task": task, "profile": args.profile, "real_time_factor": factor},
        "mpc_controller": {"model_path": live / "planner.onnx", "model_dir": work,
                           "control_rate": args.rate, "threads": args.threads,
                           "thread_priority": args.thread_priority, "autostart": "true"},
        "finetune_node": fparams,
    }  # fmt: skip
    rclpy.init(args=[], domain_id=args.domain)
    watch = _Watch()
    probe = rclpy.create_node("soak_bench")
    reliable = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
    probe.create_subscription(Float64MultiArray, "/commands", watch.on_command, reliable)
    probe.create_subscription(JointState, "/joint_states", watch.on_state, reliable)
    probe.create_subscription(DiagnosticArray, "/diagnostics", watch.on_diag, 50)
    goal = hold_goal(probe, task_obj, np.random.default_rng(0))  # a reach task waits for one
    procs = {n: spawn(node_argv(n, params[n]), env, work / f"{n}.log") for n in NODES}
    load_start = load_average()
    rss: dict[str, list[tuple[float, float]]] = {n: [] for n in NODES}
    jobs_peak: dict[int, float] = {}  # retraining processes: pid -> peak RSS (MiB)
    jobs_cpu: dict[int, float] = {}  # pid -> CPU s at its latest sample
    seconds = 60.0 * args.minutes
    launched = time.monotonic()
    t0 = t0_wall = None
    first_ctrl = 0
    first_fine: dict[str, str] = {}
    try:
        while True:
            rclpy.spin_once(probe, timeout_sec=0.02)
            now = time.monotonic()
            for name, p in procs.items():
                if p.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited early (code {p.returncode}); log: {work / f'{name}.log'}"
                    )
            if t0 is None:  # wait until the controller has planned (a finite latency)
                planning = any(np.isfinite(float(r.get("p50_ms", "nan"))) for r in watch.controller)
                if planning and watch.finetune and watch.commands:
                    t0, t0_wall, next_sample, minute = now, time.time(), now, 1
                    cpu0, host0 = _cpu(procs), cpu_times()
                    first_ctrl, first_fine = len(watch.controller) - 1, dict(watch.finetune)
                    _progress(f"nodes up after {now - launched:.0f} s; measuring "
                              f"{args.minutes:g} min at {args.rate:g} Hz")  # fmt: skip
                    applied = watch.controller[-1].get("scheduling", "")
                    if args.thread_priority and not applied.startswith("SCHED_FIFO"):
                        _progress(f"--thread-priority {args.thread_priority}: the controller "
                                  f"runs with {applied or 'unknown scheduling'}")  # fmt: skip
                elif now - launched > STARTUP_TIMEOUT:
                    raise RuntimeError(
                        f"the controller did not plan within {STARTUP_TIMEOUT:.0f} s; logs in "
                        f"{work}"
                    )
                continue
            if now >= next_sample:
                next_sample += args.sample_every
                for name, p in procs.items():
                    mib = rss_mib(p.pid)
                    if mib is not None:
                        rss[name].append((round(now - t0, 2), round(mib, 1)))
                for pid in descendants(procs["finetune_node"].pid):
                    mib, cpu = rss_mib(pid), cpu_seconds(pid)
                    if mib is not None:
                        jobs_peak[pid] = max(jobs_peak.get(pid, 0.0), mib)
                    if cpu is not None:
                        jobs_cpu[pid] = cpu[0]  # the latest sample: the job's CPU so far
            if now - t0 >= 60.0 * minute:
                _progress(_minute_line(minute, args, watch, first_ctrl, rss, t0_wall))
                minute += 1
            if now - t0 >= seconds:
                break
        t_end_wall, duration = time.time(), time.monotonic() - t0
        cpu1, host1 = _cpu(procs), cpu_times()
        for _ in range(10):  # the reports that were on their way
            rclpy.spin_once(probe, timeout_sec=0.02)
    finally:
        probe.destroy_node()
        rclpy.try_shutdown()
        stop(procs.values())
    lo, hi = int(t0_wall * 1e9), int(t_end_wall * 1e9)
    commands = np.sort(np.asarray([c for c in watch.commands if lo <= c <= hi], np.int64))
    states = [s for s in watch.states if s <= hi]  # earlier states pair with early commands
    in_window = sum(lo <= s for s in states)
    lower, upper = state_to_command_ms(states, commands)
    ctrl = _controller_summary([r for r in watch.controller[first_ctrl:] if r["_t"] <= t_end_wall])
    memory = leak_verdict(rss, duration)
    misses, scheduling = ctrl.pop("deadline_misses"), ctrl.pop("scheduling")
    return {
        "bench": "soak",
        "minutes": args.minutes,
        "duration_s": round(duration, 1),
        "task": task,
        "run": str(run) if args.run else "(tiny run made by the bench)",
        "preset": args.preset,
        "profile": args.profile,
        "goal": goal,
        "control_rate_hz": args.rate,
        "sim_real_time_factor": factor,
        "threads": args.threads,
        "thread_priority": args.thread_priority,
        "scheduling": scheduling,  # the planning thread's, as the controller applied it
        "retrain_every": args.retrain_every,
        "max_epochs": args.max_epochs,
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "load_average": {"start": load_start, "end": load_average()},
        "host_steal_share": steal_share(host0, host1),  # the VM's vCPUs taken by the host
        "deadline_misses": misses,
        "cpu_cores": _cores(cpu0, cpu1, duration)
        | {"finetune_jobs": round(sum(jobs_cpu.values()) / duration, 3)},
        "controller": ctrl,
        "commands": {
            "count": int(commands.size),
            "rate_hz": round(commands.size / duration, 2),
            "interval_ms": percentiles(np.diff(commands) * 1e-6),
        },
        "joint_states": {"count": in_window, "rate_hz": round(in_window / duration, 2)},
        "state_to_command_ms": {
            "lower": percentiles(lower), "upper": percentiles(upper), "source": LATENCY_SOURCE},
        "finetune": _finetune_summary(watch, first_fine, t0_wall)
        | {"job_processes": len(jobs_peak),
           "job_peak_rss_mib": round(max(jobs_peak.values()), 1) if jobs_peak else None},
        "memory": {"sample_every_s": args.sample_every, "rule": LEAK_RULE, **memory,
                   "rss_mib": {n: [list(p) for p in s] for n, s in rss.items()}},
        "meets_target": misses == 0 and memory["verdict"] == "flat",
        "wall_s": round(time.monotonic() - launched, 1),
    }  # fmt: skip


def _cpu(procs: Mapping[str, Any]) -> dict[str, float | None]:
    """CPU seconds of each node and of this process ('bench'); None for a process gone."""
    pids = {name: p.pid for name, p in procs.items()} | {"bench": os.getpid()}
    return {name: (None if (c := cpu_seconds(pid)) is None else c[0]) for name, pid in pids.items()}


def _cores(
    before: Mapping[str, float | None], after: Mapping[str, float | None], seconds: float
) -> dict[str, float | None]:
    """Cores each process used over ``seconds`` (CPU s / wall s)."""
    out: dict[str, float | None] = {}
    for name, b in before.items():
        a = after.get(name)
        out[name] = None if a is None or b is None else round((a - b) / seconds, 3)
    return out


def _misses(watch: _Watch, first: int) -> int:
    reports = watch.controller[first:]
    return int(reports[-1].get("deadline_misses", 0)) - int(reports[0].get("deadline_misses", 0))


def _minute_line(
    minute: int,
    args: argparse.Namespace,
    watch: _Watch,
    first_ctrl: int,
    rss: Mapping[str, list[tuple[float, float]]],
    t0_wall: float,
) -> str:
    """One progress line: commands/s over the last minute, misses so far, RSS now, retrains."""
    since = int((time.time() - 60.0) * 1e9)
    rate = sum(c >= since for c in watch.commands[-int(2 * 60 * args.rate) :]) / 60.0
    mem = " ".join(f"{n}={s[-1][1]:.0f}" for n, s in rss.items() if s)
    trains = len([g for at, g in watch.gates.items() if at >= t0_wall])
    return (
        f"minute {minute}/{args.minutes:g}: commands {rate:.1f}/s, deadline misses "
        f"{_misses(watch, first_ctrl)}, RSS MiB {mem}, gate decisions {trains}"
    )


def run(args: argparse.Namespace) -> int:
    result = measure_in_workdir(args.keep, lambda work: measure(args, work))
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="mbrl-control bench soak", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
