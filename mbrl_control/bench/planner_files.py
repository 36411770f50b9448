"""``mbrl-control bench planner-files A.onnx B.onnx ...``: planning-step latency of planner
files as they are, in onnxruntime, interleaved round by round (the host is shared and drifts).

Each file plans from its own probe states (the exported ``probe_states``, cycled), the goal
its task samples, and its default weights, through :class:`OnnxPlanner` exactly as
``mpc_controller`` calls it. Reports median/p99 per file and each file's median relative to
the first file's in the same run: compare graph changes (e.g. a new critic implementation
re-exported from the same checkpoint), not machines.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import existing_file, positive_int

    parser.add_argument("files", nargs="+", type=existing_file, help="planner ONNX files")
    parser.add_argument("--calls", type=positive_int, default=100, help="timed steps per file")
    parser.add_argument("--rounds", type=positive_int, default=5, help="interleaved rounds")
    parser.add_argument("--threads", type=positive_int, default=1, help="intra-op threads")
    parser.add_argument("--warmup", type=positive_int, default=5, help="untimed steps per file")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import numpy as np

    from mbrl_control.export.runtime import OnnxPlanner

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
    print(json.dumps({"threads": args.threads, "rounds": args.rounds, "files": rows}, indent=2))
    return 0
