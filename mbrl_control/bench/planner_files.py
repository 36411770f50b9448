"""``mbrl-control bench planner-files A.onnx B.onnx ...``: planning-step latency of planner
files as they are, in onnxruntime, interleaved round by round (the host is shared and drifts).

Each file plans from its own probe states (the exported ``probe_states``, cycled), the goal
its task samples, and its default weights, through :class:`OnnxPlanner` exactly as
``mpc_controller`` calls it. Reports median/p99 per file and each file's median relative to
the first file's in the same run: compare graph changes (e.g. a new critic implementation
re-exported from the same checkpoint), not machines.

``--floor``: after every call, one sample of the file's GEMMs alone (every ``MatMul``/
``Gemm`` of the graph at its shapes, constant weights kept, in onnxruntime at ``--threads``:
:meth:`~mbrl_control.bench.gemm_floor.GemmFloor.for_graph`); each file reports its graph's
GEMM FLOPs per step and its fraction of its floor, the best sample of the run, so the
fraction is at most 1. A call that beats it nulls the fractions, sets ``floor.ok`` false and
the exit status to 1 (the floor is then wrong, never clamped). The JSON then also carries
the CPU model and the spread (p10/p50/p90 GFLOP/s) of each file's samples.

``--thread-priority N``: time the calls under ``SCHED_FIFO`` at N, as ``mpc_controller``
runs its planning thread with ``thread_priority`` (:mod:`mbrl_control.control.realtime`); the
OS's refusal is one line (exit 2). The JSON says the scheduling the calls ran under.

``--ops``: after the timing, each file's kernel time per operator type over ``--ops-calls``
steps with onnxruntime's profiler (:mod:`mbrl_control.bench.op_profile`): where the step's
time goes (e.g. ``Gemm`` 75 %, ``QuickGelu`` 13 % of a PETS step's kernel time).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from mbrl_control.cli.errors import UsageError  # standard library only

OPS_CALLS = 20  # profiled steps per file for --ops


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import existing_file, int_in, nonneg_int, positive_int

    parser.add_argument("files", nargs="+", type=existing_file, help="planner ONNX files")
    parser.add_argument("--calls", type=positive_int, default=100, help="timed steps per file")
    parser.add_argument("--rounds", type=positive_int, default=5, help="interleaved rounds")
    parser.add_argument("--threads", type=positive_int, default=1, help="intra-op threads")
    parser.add_argument("--warmup", type=nonneg_int, default=5, help="untimed steps per file")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="sample each file's GEMMs alone after every call; report the fraction of the best",
    )
    parser.add_argument(
        "--thread-priority", type=int_in(0, 99), default=0, metavar="0-99",
        help="time the calls under SCHED_FIFO at this priority, as mpc_controller's "
        "thread_priority runs its planning thread (0 = normal scheduling)",
    )  # fmt: skip
    parser.add_argument(
        "--ops", action="store_true",
        help="also profile each file's kernels: time per ONNX operator type (onnxruntime's "
        "profiler; it slows small graphs 2-3x: read the shares, not the ms)",
    )  # fmt: skip
    parser.add_argument(
        "--ops-calls", type=positive_int, default=None,
        help=f"profiled steps per file (only with --ops; default {OPS_CALLS})",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Print the JSON report; 1 when ``--floor`` and a call beat its file's floor."""
    if args.ops_calls is not None and not args.ops:
        raise UsageError("--ops-calls: only with --ops (it sets how many steps --ops profiles)")
    args.ops_calls = args.ops_calls or OPS_CALLS
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import numpy as np

    from mbrl_control.bench.gemm_floor import GemmFloor
    from mbrl_control.control.realtime import apply_thread_priority
    from mbrl_control.export.runtime import OnnxPlanner

    applied, scheduling = apply_thread_priority(args.thread_priority)
    if not applied:  # one line from mbrl-control's error handling, exit 2
        raise ValueError(f"--thread-priority: {scheduling}")
    rng = np.random.default_rng(0)
    planners, states, goals = [], [], []
    for path in args.files:
        p = OnnxPlanner(path, threads=args.threads)
        probes = np.asarray(p.metadata.get("probe_states") or [np.zeros(p.obs_dim)], np.float32)
        planners.append(p)
        states.append(probes.reshape(-1, p.obs_dim))
        goals.append(np.zeros(p.goal_dim, np.float32) if p.goal_dim else None)
        if p.goal_dim:
            goals[-1] = rng.uniform(-0.5, 0.5, p.goal_dim).astype(np.float32)
    floors = [GemmFloor.for_graph(path, args.threads) for path in args.files] if args.floor else []
    for p, s, g in zip(planners, states, goals):
        for i in range(args.warmup):
            p.act(s[i % len(s)], g)
    times: list[list[float]] = [[] for _ in planners]
    per_round = max(1, args.calls // args.rounds)
    for _ in range(args.rounds):
        for k, (p, s, g) in enumerate(zip(planners, states, goals)):
            for i in range(per_round):
                t0 = time.perf_counter()
                p.act(s[i % len(s)], g)
                times[k].append(time.perf_counter() - t0)
                if floors:
                    floors[k].sample()
    rows: list[dict[str, Any]] = []
    base = float(np.median(times[0]))
    for path, t in zip(args.files, times):
        ms = 1000 * np.asarray(t)
        rows.append(
            {
                "file": str(path),
                "p50_ms": round(float(np.median(ms)), 3),
                "p99_ms": round(float(np.percentile(ms, 99)), 3),
                "calls": len(t),
                "p50_vs_first": round(float(np.median(t)) / base, 3),
            }
        )
    ok = True
    for row, floor, t in zip(rows, floors, times):
        row.update(_floor_fields(floor, t))
        ok = ok and row["floor"]["ok"]
    if args.ops:
        from mbrl_control.bench.op_profile import op_time_shares, planner_feed

        for row, path, p, s, g in zip(rows, args.files, planners, states, goals):
            feed = planner_feed(p, s[0], np.zeros(0, np.float32) if g is None else g)
            prof = op_time_shares(path, feed, args.threads, args.ops_calls)
            prof["profiled_vs_unprofiled"] = round(prof["wall_ms_per_call"] / row["p50_ms"], 2)
            row["op_profile"] = prof
    report = {"threads": args.threads, "scheduling": scheduling, "rounds": args.rounds}
    print(json.dumps({**report, "files": rows}, indent=2))
    if not ok:
        errors = [f"{r['file']}: {r['floor']['error']}" for r in rows if not r["floor"]["ok"]]
        print(f"bench planner-files: {'; '.join(errors)}", file=sys.stderr)
    return 0 if ok else 1


def _floor_fields(floor, times: list[float]) -> dict[str, Any]:
    """``gflop_per_step``, ``fraction_of_floor``, ``best_call_fraction`` (``None`` when a call
    beat the floor) and ``floor`` (``GemmFloor.report()`` with ``ok`` and ``error``)."""
    from mbrl_control.bench.gemm_floor import FloorExceeded, step_fractions

    report = floor.report()
    try:
        fractions = step_fractions(floor.flops_per_sample, times, floor.best()[0])
        report["ok"], report["error"] = True, None
    except FloorExceeded as exc:
        fractions = {"fraction_of_floor": None, "best_call_fraction": None}
        report["ok"], report["error"] = False, str(exc)
    return {
        "gflop_per_step": float(f"{floor.flops_per_sample / 1e9:.4g}"),  # tiny graphs too
        **{k: None if v is None else round(v, 3) for k, v in fractions.items()},
        "floor": report,
    }
