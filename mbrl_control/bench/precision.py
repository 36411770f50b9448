"""``mbrl-control bench precision --run RUN``: is an int8 or fp16 planner faster at the same
control quality? Measured on a **trained** run's ``planner.onnx``, never on untrained weights.

Steps, all in one process:

1. **Convert** the run's planner to each precision (:mod:`mbrl_control.export.precision`:
   only the ensemble's weight matmuls change) in a temp dir; ``int8-static`` calibrates on
   the planner's own inputs from the file's probe states. A copy that fails to convert, load,
   pass :meth:`~mbrl_control.export.runtime.OnnxPlanner.probe` or return finite actions is
   reported with its error, not timed.
2. **Check** each copy against fp32 with the same noise and warm start from every probe
   state: largest action difference as a fraction of the action range.
3. **Time** fp32 and every copy interleaved round by round (the variants' order rotated each
   round; the host is shared and drifts) at ``--threads`` (default 1), through
   ``OnnxPlanner.act`` with pre-drawn noise (the controller's critical path). Reports p50/p99
   and the speed-up ``fp32 p50 / copy p50``, also per round (its spread shows host drift).
   Also per file, from onnxruntime's profiler: the share of the step spent in matmul
   kernels and the Amdahl bound it puts on any matmul-only speed-up (:func:`op_profile`),
   and how the CPU provider actually runs the weight matmuls after its graph optimizations
   (:func:`~mbrl_control.export.precision.runtime_matmuls`: e.g. fp16 cast back to fp32).
4. **Closed loop**, only for a copy at least ``--min-speedup`` (1.3×) faster: ``--episodes``
   paired episodes (the same seeds: initial states, randomization draws, planner noise) of
   fp32 and the copy through :func:`~mbrl_control.pipeline.evaluate.evaluate`; the return
   difference per episode, its mean and a paired bootstrap 95 % CI, as a fraction of
   ``|fp32 mean return|``.

Verdict: a copy **ships** when it is ``>= --min-speedup`` faster and the CI's worst loss is
``<= --max-loss`` (1 %) over at least :data:`MIN_VERDICT_EPISODES` episodes; nothing slower
ever ships. ``--save`` then writes it next to the run's planner (``planner.<precision>.onnx``).
The JSON names the CPU and the flags that make int8/fp16 fast (VNNI, AVX512-FP16, AMX):
without them int8 and fp16 matmuls run through AVX2 code paths no faster than fp32 FMA at
these small shapes, and the extra quantize/cast nodes cost more than the narrower math saves.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SPEED_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_fp16")
"""CPU flags reported (besides every ``amx*`` flag): what int8/fp16 matmuls can use."""
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
"""Any of these: int8 dot products in hardware."""
FP16_FLAGS = ("avx512_fp16", "amx_fp16")
"""Any of these: fp16 arithmetic in hardware (F16C only converts)."""
MIN_VERDICT_EPISODES = 10
"""Fewer paired episodes than this measure, but never ship a copy."""
BOOTSTRAP = 5000
"""Resamples of the paired bootstrap."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import (
        existing_dir,
        float_in,
        int_at_least,
        nonneg_int,
        positive_int,
        unit_interval,
    )
    from mbrl_control.cli.task_defaults import PROFILE_HELP
    from mbrl_control.export.precision import PRECISIONS

    def precisions(text: str) -> tuple[str, ...]:
        names = tuple(p.strip() for p in text.split(",") if p.strip())
        bad = [p for p in names if p not in PRECISIONS]
        if bad or not names:
            raise argparse.ArgumentTypeError(
                f"{','.join(bad) or repr(text)}: allowed: {','.join(PRECISIONS)}"
            )
        return names

    parser.add_argument(
        "--run",
        required=True,
        type=existing_dir,
        help="trained run folder with planner.onnx (e.g. from mbrl-control pretrain)",
    )
    parser.add_argument(
        "--precisions",
        type=precisions,
        default=PRECISIONS,
        help=f"comma-separated copies to make (default: {','.join(PRECISIONS)})",
    )
    parser.add_argument("--calls", type=positive_int, default=200, help="timed steps per file")
    parser.add_argument("--rounds", type=positive_int, default=5, help="interleaved rounds")
    parser.add_argument("--threads", type=positive_int, default=1, help="intra-op threads")
    parser.add_argument(
        "--profile-calls",
        type=positive_int,
        default=20,
        help="profiled runs per file for the time per op (default: 20)",
    )
    parser.add_argument(
        "--episodes",
        type=int_at_least(2),
        default=MIN_VERDICT_EPISODES,
        help=f"paired closed-loop episodes per fast copy (a verdict needs "
        f">= {MIN_VERDICT_EPISODES}) (default: {MIN_VERDICT_EPISODES})",
    )
    parser.add_argument("--seed", type=nonneg_int, default=1000, help="first episode seed")
    parser.add_argument("--profile", help=PROFILE_HELP)
    parser.add_argument(
        "--min-speedup",
        type=float_in(0.0, 100.0),
        default=1.3,
        help="fp32 p50 / copy p50 a copy needs before its episodes run (default: 1.3)",
    )
    parser.add_argument(
        "--max-loss",
        type=unit_interval,
        default=0.01,
        help="largest return loss (fraction of |fp32 return|, CI bound) to ship (default: 0.01)",
    )
    parser.add_argument(
        "--save", action="store_true", help="write shipping copies to RUN/planner.<precision>.onnx"
    )
    parser.add_argument("--json", action="store_true", help="print JSON only (no verdict line)")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from mbrl_control.cli.task_defaults import task_profile
    from mbrl_control.export.precision import runtime_matmuls
    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.pipeline.evaluate import planner_task

    run_dir = Path(args.run)
    src = run_dir / "planner.onnx"
    if not src.is_file():
        raise ValueError(f"--run {run_dir}: no planner.onnx (give a trained run folder)")
    fp32 = OnnxPlanner(src, threads=args.threads)
    task = planner_task(src)
    profile = task_profile(task, args.profile)
    cpu = cpu_report()
    result: dict[str, Any] = {
        "run": str(run_dir),
        "task": task,
        "profile": profile,
        "cpu": cpu,
        "threads": args.threads,
        "planner_config": fp32.metadata.get("planner_config"),
        "model_config": fp32.metadata.get("model_config"),
        "variants": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        planners, paths = _make_copies(
            fp32, src, Path(tmp), args.precisions, cpu, args.threads, result
        )
        timing = time_interleaved(
            {"fp32": fp32, **planners}, args.calls, args.rounds, _states(fp32), args.seed
        )
        result["fp32"] = {**timing["fp32"], "runtime_matmuls": runtime_matmuls(src)}
        feeds = calibration_feeds(fp32)
        result["fp32"]["profile"] = op_profile(src, feeds, args.threads, args.profile_calls)
        for name in planners:
            row = result["variants"][name]
            row.update(timing[name])
            row["profile"] = op_profile(paths[name], feeds, args.threads, args.profile_calls)
        baseline = None
        for name, path in paths.items():
            row = result["variants"][name]
            if row["speedup_p50"] < args.min_speedup:
                row["closed_loop"] = f"not run: {row['speedup_p50']:.2f}x < {args.min_speedup}x"
                continue
            baseline = baseline or _episodes(src, task, profile, args)
            row["closed_loop"] = paired_returns(baseline, _episodes(path, task, profile, args))
        result["verdict"], shipping = verdict(result, args.min_speedup, args.max_loss)
        if args.save:
            result["saved"] = [
                str(shutil.copyfile(paths[n], run_dir / f"planner.{n}.onnx")) for n in shipping
            ]
    print(json.dumps(result, indent=None if args.json else 2))
    if not args.json:
        print(f"verdict: {result['verdict']}")
    return 0


def cpu_report() -> dict[str, Any]:
    """The CPU model and its int8/fp16-relevant flags (Linux ``/proc/cpuinfo``; empty
    elsewhere): ``{"model", "flags": {flag: bool}, "int8_dot": bool, "fp16_math": bool}``."""
    model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    shown = {f: f in flags for f in SPEED_FLAGS}
    shown.update({f: True for f in sorted(flags) if f.startswith("amx")})
    return {
        "model": model,
        "flags": shown,
        "int8_dot": any(f in flags for f in VNNI_FLAGS),
        "fp16_math": any(f in flags for f in FP16_FLAGS),
    }


def _states(planner) -> np.ndarray:
    """The file's probe states ``(S, O)`` (the zero observation without them)."""
    probes = planner.metadata.get("probe_states") or [np.zeros(planner.obs_dim)]
    return np.asarray(probes, np.float32).reshape(-1, planner.obs_dim)


def _noise(planner, rng: np.random.Generator) -> dict[str, np.ndarray] | None:
    shapes = planner.noise_shapes
    if not shapes:
        return None
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


def _goal(planner, rng: np.random.Generator) -> np.ndarray | None:
    return rng.uniform(-0.5, 0.5, planner.goal_dim).astype(np.float32) if planner.goal_dim else None


def calibration_feeds(planner, count: int = 4) -> list[dict[str, np.ndarray]]:
    """``count`` graph-input feeds of ``planner`` as ``act`` builds them: probe states
    (cycled), drawn noise, the warm-start carry of the previous call (``int8-static``)."""
    rng = np.random.default_rng(0)
    states, names = _states(planner), {i.name for i in planner._session.get_inputs()}
    planner.reset()
    feeds = []
    for i in range(count):
        noise, goal = _noise(planner, rng) or {}, _goal(planner, rng)
        feed = {"obs": states[i % len(states)], "weights": planner.weights, **noise}
        feed["goal"] = goal if goal is not None else np.zeros(0, np.float32)
        feed.update({f"prev_{k}": v for k, v in planner._carry.items()})
        feeds.append({k: v for k, v in feed.items() if k in names})
        planner.act(states[i % len(states)], goal, noise=noise or None)
    planner.reset()
    return feeds


def action_gap(fp32, other) -> float:
    """Largest ``|action - fp32 action|`` over the probe states as a fraction of the action
    range, both planners from a reset with the same noise; ``ValueError`` on a non-finite
    action."""
    rng = np.random.default_rng(0)
    span = np.asarray(fp32.metadata["task"]["action_high"], np.float32) - np.asarray(
        fp32.metadata["task"]["action_low"], np.float32
    )
    fp32.reset(), other.reset()
    gap = 0.0
    for s in _states(fp32):
        noise, goal = _noise(fp32, rng), _goal(fp32, rng)
        a, b = fp32.act(s, goal, noise=noise), other.act(s, goal, noise=noise)
        if not np.all(np.isfinite(b)):
            raise ValueError(f"non-finite action {b} from probe state {s.tolist()}")
        gap = max(gap, float(np.max(np.abs(a - b) / span)))
    fp32.reset(), other.reset()
    return gap


def _make_copies(
    fp32, src: Path, tmp: Path, precisions, cpu, threads: int, result
) -> tuple[dict, dict]:
    """Convert, load and check each precision; failures recorded in ``result``."""
    from mbrl_control.cli.errors import one_line
    from mbrl_control.export.precision import convert, runtime_matmuls
    from mbrl_control.export.runtime import OnnxPlanner

    planners, paths = {}, {}
    for name in precisions:
        path = tmp / f"planner.{name}.onnx"
        row: dict[str, Any] = {}
        result["variants"][name] = row
        try:
            t0 = time.perf_counter()
            feeds = calibration_feeds(fp32) if name == "int8-static" else None
            convert(src, path, name, calibration=feeds, vnni=cpu["int8_dot"])
            row["convert_s"] = round(time.perf_counter() - t0, 2)
            planner = OnnxPlanner(path, threads=threads)
            row["max_action_gap"] = round(action_gap(fp32, planner), 5)
            row["runtime_matmuls"] = runtime_matmuls(path)
        except Exception as exc:  # onnxruntime/quantizer errors come in many types: report
            row.update(loads=False, error=f"{type(exc).__name__}: {one_line(exc)}")
            continue
        row["loads"] = True
        planners[name], paths[name] = planner, path
    return planners, paths


def time_interleaved(
    planners: dict[str, Any], calls: int, rounds: int, states: np.ndarray, seed: int
) -> dict[str, dict[str, Any]]:
    """Per planner ``{p50_ms, p99_ms, calls}`` and, for all but the first (the reference),
    ``speedup_p50`` = reference p50 / own p50 and ``speedup_per_round`` (the same per round).
    ``calls / rounds`` timed ``act`` calls per planner per round, order rotated each round,
    noise pre-drawn (identical for every planner); 3 untimed warm-up calls each."""
    rng = np.random.default_rng(seed)
    ref = next(iter(planners.values()))
    per_round = max(1, calls // rounds)
    noises = [_noise(ref, rng) for _ in range(per_round)]
    goal = _goal(ref, rng)
    names = list(planners)
    for p in planners.values():
        for i in range(3):
            p.act(states[i % len(states)], goal, noise=noises[i % per_round])
    times: dict[str, list[list[float]]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            p, ts = planners[name], []
            for i in range(per_round):
                t0 = time.perf_counter()
                p.act(states[i % len(states)], goal, noise=noises[i])
                ts.append(time.perf_counter() - t0)
            times[name].append(ts)
    out: dict[str, dict[str, Any]] = {}
    ref_rounds = [float(np.median(t)) for t in times[names[0]]]
    ref_p50 = 1e3 * float(np.median(np.concatenate(times[names[0]])))
    for name in names:
        flat = 1e3 * np.concatenate(times[name])
        row: dict[str, Any] = {
            "p50_ms": round(float(np.median(flat)), 3),
            "p99_ms": round(float(np.percentile(flat, 99)), 3),
            "calls": int(flat.size),
        }
        if name != names[0]:
            own = [float(np.median(t)) for t in times[name]]
            row["speedup_p50"] = round(ref_p50 / float(np.median(flat)), 3)
            row["speedup_per_round"] = [round(a / b, 3) for a, b in zip(ref_rounds, own)]
        out[name] = row
    return out


def op_profile(path: Path, feeds: list[dict[str, np.ndarray]], threads: int, calls: int) -> dict:
    """Where a planner file's run time goes, from onnxruntime's profiler over ``calls`` runs
    (feeds cycled; the first run dropped): ``run_ms`` (mean ``model_run``), ``matmul_share``
    (the fraction of it inside matmul kernels: every op whose name contains ``MatMul``, or
    ``Gemm``), ``top_ops`` (op -> share, the 6 largest) and ``matmul_bound_x``: the most any
    precision could speed the step up if only its matmuls got faster (Amdahl:
    ``1 / (1 - matmul_share)``)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.enable_profiling, options.profile_file_prefix = True, str(Path(tmp) / "p")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for i in range(calls + 1):
            session.run(None, feeds[i % len(feeds)])
        events = json.loads(Path(session.end_profiling()).read_text())
    runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    start = runs[1]["ts"] if len(runs) > 1 else 0  # drop the first run (allocation, caches)
    total = sum(e["dur"] for e in runs if e["ts"] >= start)
    ops: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e["ts"] >= start and e["name"].endswith("_kernel_time"):
            op = e["args"]["op_name"]
            ops[op] = ops.get(op, 0.0) + e["dur"] / total
    share = sum(v for k, v in ops.items() if "MatMul" in k or k == "Gemm")
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:6]
    return {
        "run_ms": round(total / 1e3 / max(1, len(runs) - 1), 3),
        "matmul_share": round(share, 3),
        "top_ops": {k: round(v, 3) for k, v in top},
        "matmul_bound_x": round(1 / max(1e-9, 1 - share), 2),
    }


def _episodes(path: Path, task: str, profile: str, args: argparse.Namespace) -> list[float]:
    from mbrl_control.pipeline.evaluate import evaluate

    summary = evaluate(path, task, profile, args.episodes, seed=args.seed, threads=args.threads)
    return [float(r) for r in summary["returns"]]


def add_paired_row(rows: list[dict], row: dict, returns: list[float]) -> None:
    """Append ``row`` to ``rows`` (each with its per-episode ``returns`` on the same seeds),
    with ``vs_first``: the paired difference to the first row and its bootstrap 95 % CI."""
    if rows:
        paired = paired_returns(rows[0]["returns"], returns)
        row["vs_first"] = {k: paired[k] for k in ("difference", "difference_ci")}
    rows.append(row)


def paired_returns(base: list[float], other: list[float], confidence: float = 0.95) -> dict:
    """Paired comparison of per-episode returns (same seeds): mean difference ``other -
    base``, its bootstrap CI, and ``loss`` = ``-difference / |mean base|`` with its CI (the
    worst loss is ``loss_ci[1]``)."""
    b, o = np.asarray(base, float), np.asarray(other, float)
    d = o - b
    rng = np.random.default_rng(0)
    means = d[rng.integers(0, d.size, (BOOTSTRAP, d.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    scale = max(abs(float(b.mean())), 1e-9)
    return {
        "episodes": int(d.size),
        "fp32_mean_return": round(float(b.mean()), 3),
        "mean_return": round(float(o.mean()), 3),
        "difference": round(float(d.mean()), 3),
        "difference_ci": [round(float(lo), 3), round(float(hi), 3)],
        "loss": round(float(-d.mean() / scale), 5),
        "loss_ci": [round(float(-hi / scale), 5), round(float(-lo / scale), 5)],
        "confidence": confidence,
    }


def verdict(result: dict[str, Any], min_speedup: float, max_loss: float) -> tuple[str, list]:
    """One line and the copies that ship (fast enough, worst-case loss within ``max_loss``
    over >= :data:`MIN_VERDICT_EPISODES` paired episodes)."""
    ships, parts = [], []
    for name, row in result["variants"].items():
        if not row.get("loads"):
            parts.append(f"{name} fails ({row['error'][:80]})")
            continue
        speed = f"{name} {row['speedup_p50']:.2f}x"
        loop = row.get("closed_loop")
        if not isinstance(loop, dict):
            parts.append(f"{speed} < {min_speedup}x")
        elif loop["episodes"] < MIN_VERDICT_EPISODES:
            parts.append(f"{speed}, {loop['episodes']} episodes: too few to ship")
        elif loop["loss_ci"][1] > max_loss:
            parts.append(f"{speed}, return loss up to {loop['loss_ci'][1]:.1%} > {max_loss:.0%}")
        else:
            ships.append(name)
            parts.append(f"{speed}, return loss <= {loop['loss_ci'][1]:.1%}: ships")
    cpu = result["cpu"]
    why = []
    if not cpu["int8_dot"]:
        why.append("no VNNI/AMX int8 dot products")
    if not cpu["fp16_math"]:
        why.append("no AVX512-FP16/AMX fp16 math (F16C only converts)")
    profile = result.get("fp32", {}).get("profile")
    if profile and profile["matmul_bound_x"] < min_speedup:
        why.append(
            f"matmuls are {profile['matmul_share']:.0%} of the fp32 step, so even free matmuls "
            f"give <= {profile['matmul_bound_x']:.2f}x"
        )
    head = f"ships: {', '.join(ships)}" if ships else "nothing ships (fp32 stays)"
    tail = f"; this CPU: {', '.join(why)}" if why and not ships else ""
    return f"{head}: {'; '.join(parts)}{tail}", ships
