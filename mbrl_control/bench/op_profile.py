"""Where a planner step's time goes, by ONNX operator type (``bench planner-files --ops``).

onnxruntime's own profiler (``SessionOptions.enable_profiling``) times every kernel of a few
planning steps in a session with the planner's options (:func:`~mbrl_control.export.runtime.
open_session`: optimization level ALL, the same threads, no spinning); the kernel times are
summed per operator type of the **optimized** graph (onnxruntime's fusions: a SiLU shows as
``QuickGelu``, MatMul + Add as ``Gemm``). Kernel time only: the executor's own time between
kernels is the rest of the wall time (reported as ``outside_kernels_share``). Each operator
type's time is its median over the profiled steps (a step stretched by a preemption does not
make one operator the hot spot). **The profiler adds a cost per kernel of its own**: on a
real-time graph of ~1 400 small kernels a profiled step takes 2-3× the unprofiled one, so
compare shares, not milliseconds (``bench planner-files`` reports the ratio as
``profiled_vs_unprofiled``); at PETS size the two agree.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any


def planner_feed(planner: Any, obs: Any, goal: Any) -> dict[str, Any]:
    """The feed one ``session.run`` of ``planner`` (an :class:`~mbrl_control.export.runtime.
    OnnxPlanner`) takes at ``obs``/``goal``: its weights, drawn noise and carry, restricted
    to the graph's inputs (noise is drawn between ticks, not part of a timed step)."""
    feed = {"obs": obs, "goal": goal, "weights": planner.weights, **planner._noise}
    feed.update({f"prev_{k}": v for k, v in planner._carry.items()})
    names = {i.name for i in planner._session.get_inputs()}
    return {k: v for k, v in feed.items() if k in names}


def op_time_shares(
    path: str | Path, feed: dict[str, Any], threads: int, calls: int = 20, top: int = 12
) -> dict[str, Any]:
    """Kernel time per operator type of ``calls`` steps of the planner file ``path`` run with
    ``feed`` at ``threads`` intra-op threads (after 2 untimed steps): ``{"ops": {type:
    {"ms_per_call", "share", "nodes"}}`` (the ``top`` types by time, the rest summed as
    ``"(other)"``), ``"optimized_nodes"``, ``"wall_ms_per_call"`` and
    ``"outside_kernels_share"``. Raises ``ValueError`` for ``calls < 1``."""
    import numpy as np

    from mbrl_control.export.runtime import open_session

    if calls < 1:
        raise ValueError(f"calls={calls} must be >= 1")
    with tempfile.TemporaryDirectory() as tmp:
        session = open_session(Path(path), threads, "planner", profile_prefix=f"{tmp}/ops")
        for _ in range(2):  # untimed: first-run allocations
            session.run(None, feed)
        t0 = time.perf_counter()
        for _ in range(calls):
            session.run(None, feed)
        wall = (time.perf_counter() - t0) / calls
        events = json.loads(Path(session.end_profiling()).read_text())
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")
    timed = runs[2:]  # the first two are the untimed ones
    per_run: list[Counter] = [Counter() for _ in timed]
    nodes: dict[str, set] = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        k = next((i for i, (lo, hi) in enumerate(timed) if lo <= e["ts"] <= hi), None)
        if k is None:
            continue
        op = e.get("args", {}).get("op_name", "?")
        per_run[k][op] += e["dur"]
        nodes.setdefault(op, set()).add(e["name"])
    # per operator type, the median over the steps: one step a preemption stretched (a
    # kernel interrupted for 0.5 s) does not make its operator the hot spot
    median_us = {op: float(np.median([c[op] for c in per_run])) for op in nodes}
    kernel_us = sum(median_us.values())
    ops: dict[str, dict[str, float | int]] = {}
    for op, us in sorted(median_us.items(), key=lambda kv: -kv[1]):
        key = op if len(ops) < top else "(other)"
        row = ops.setdefault(key, {"ms_per_call": 0.0, "share": 0.0, "nodes": 0})
        row["ms_per_call"] += us / 1e3
        row["share"] += us / kernel_us if kernel_us else 0.0
        row["nodes"] += len(nodes[op])
    for row in ops.values():
        row["ms_per_call"], row["share"] = round(row["ms_per_call"], 3), round(row["share"], 4)
    return {
        "ops": ops,
        "optimized_nodes": sum(len(v) for v in nodes.values()),
        "wall_ms_per_call": round(wall * 1e3, 3),
        "outside_kernels_share": round(max(0.0, 1.0 - kernel_us / 1e3 / (wall * 1e3)), 4),
    }
