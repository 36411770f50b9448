"""``mbrl-control bench planner``: planning-step latency, torch vs ONNX vs mbrl-lib, vs the floor.

In one process, round by round (the host is shared and drifts): ``calls / rounds`` steps of
each variant, each followed by one sample of the host's fp32 GEMM throughput at the step's
own shapes and thread count (:class:`~mbrl_control.bench.gemm_floor.GemmFloor`: onnxruntime
in the export's form and torch ``bmm``). Reports median and p99 latency, FLOPs per step,
achieved GFLOP/s and each fp32 variant's fraction of the floor, the best GEMM of the run, so
the fraction is at most 1: a call that beats it makes the report's ``floor.ok`` false, its
fractions null and the exit status 1. ``floor`` also carries the CPU model and the spread
(p10/p50/p90 GFLOP/s) of the samples. An untrained ensemble is used (timing only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mbrl_control.cli import ArgumentParser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import PRESET_NAMES, positive_int

    parser.add_argument("--preset", required=True, choices=PRESET_NAMES, help="planner preset")
    parser.add_argument("--calls", type=positive_int, default=200, help="timed steps per variant")
    parser.add_argument("--rounds", type=positive_int, default=5, help="interleaved rounds")
    parser.add_argument("--threads", type=positive_int, default=2, help="intra-op threads")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--no-mbrl", action="store_true", help="skip the mbrl-lib variant")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch reference")
    parser.add_argument(
        "--quantize", action="store_true", help="also time an int8 dynamic-quantized graph"
    )


def run(args: argparse.Namespace) -> int:
    """Print the JSON report; 1 when a variant beat the floor (the floor is then wrong)."""
    # three thread pools share 2 cores here (numpy's BLAS, torch's OpenMP, onnxruntime):
    # none may busy-wait after its work, or it steals the core from the next one timed
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import numpy as np
    import torch

    from mbrl_control.bench.gemm_floor import GemmFloor, planner_model_call, planner_step_flops
    from mbrl_control.export.onnx_export import fast_model
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.planner import PRESETS
    from mbrl_control.tasks import get_task

    torch.set_num_threads(args.threads)
    model_kwargs, cfg = PRESETS[args.preset]
    task = get_task("cartpole_swingup" if model_kwargs["obs_dim"] == 5 else "panda_reach")
    torch.manual_seed(cfg.seed)
    model = Ensemble(EnsembleConfig(**model_kwargs)).eval()
    rng = np.random.default_rng(cfg.seed)
    obs = (0.1 * rng.standard_normal(task.obs_dim)).astype(np.float32)
    goal = task.sample_goal(rng)
    call = planner_model_call(model, cfg)
    flops = planner_step_flops(call, cfg)
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        variants = _build_variants(args, model, task, cfg, obs, goal, Path(tmp), notes)
        layout = getattr(fast_model(model, cfg), "layout", "batched")  # the export's form
        # one planner iteration's GEMMs per sample, after every variant call
        floor = GemmFloor.for_model_call(
            call, cfg.horizon, args.threads, onnx_layout=layout, activation=model.cfg.activation
        )
        for fn in variants.values():  # warm up (graph init, allocator, first-call costs)
            fn()
        times: dict[str, list[float]] = {k: [] for k in variants}
        per_round = max(1, args.calls // args.rounds)
        for _ in range(args.rounds):
            for name, fn in variants.items():
                for _ in range(per_round):
                    start = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - start)
                    floor.sample()
    # FLOPs per step: the ONNX graph's own GEMMs; the model count for the torch planners
    step_flops = {k: fn.flops or flops for k, fn in variants.items() if fn.fp32}
    result: dict[str, Any] = {
        "preset": args.preset,
        "task": task.name,
        "model": model.cfg.to_dict(),
        "planner": cfg.to_dict(),
        "threads": args.threads,
        "calls_per_variant": per_round * args.rounds,
        "rounds": args.rounds,
        "gflop_per_step": round(flops / 1e9, 4),
        "control_hz": task.control_hz,
        "variants": {},
        "notes": notes,
    }
    for name, ts in times.items():
        arr = np.asarray(ts)
        median, p99 = float(np.median(arr)), float(np.percentile(arr, 99))
        result["variants"][name] = {
            "median_ms": round(median * 1e3, 3),
            "p99_ms": round(p99 * 1e3, 3),
            "gflop_per_step": _gflop(step_flops.get(name)),
            "gflops": _gflop(step_flops.get(name), median),
            "rate_hz_at_p99": round(1.0 / p99, 1),
            "x_control_rate_at_p99": round(1.0 / p99 / task.control_hz, 2),
        }
    result["floor"] = _floor_report(floor, flops, step_flops, times, result["variants"])
    result["variants"] = {**result["variants"], **_extra_info(variants)}
    print(json.dumps(result, indent=None if args.json else 2))
    if not result["floor"]["ok"]:
        print(f"bench planner: {result['floor']['error']}", file=sys.stderr)
        return 1
    return 0


def _gflop(flops: float | None, seconds: float = 1.0) -> float | None:
    return None if flops is None else round(flops / seconds / 1e9, 4)


def _floor_report(floor, flops: float, step_flops: dict, times: dict, rows: dict) -> dict[str, Any]:
    """``floor.report()`` plus ``floor_ms`` (of the model's ``flops``), ``ok`` and ``error``.

    Sets ``rows[name]["fraction_of_floor"]`` (median step) and ``"best_call_fraction"``
    (the fastest step: best against best, less sensitive to a loaded host) for each variant in
    ``step_flops`` (name -> its FLOPs per step; the fp32 ones: an int8 graph is not bounded
    by an fp32 GEMM, its fraction is ``None``), or ``None`` for all when any call of any
    variant beat the best GEMM of the run (then ``ok`` is False and ``error`` says which).
    """
    from mbrl_control.bench.gemm_floor import FloorExceeded, step_fractions

    report = floor.report()
    best = floor.best()[0]
    report["floor_ms"] = round(flops / best / 1e6, 3)
    errors, fractions = [], {}
    for name, ts in times.items():
        if name in step_flops:
            try:
                fractions[name] = step_fractions(step_flops[name], ts, best)
            except FloorExceeded as exc:
                errors.append(f"{name}: {exc}")
    report["ok"], report["error"] = not errors, "; ".join(errors) or None
    for name in times:
        for key in ("fraction_of_floor", "best_call_fraction"):
            value = fractions.get(name, {}).get(key) if not errors else None
            rows[name][key] = None if value is None else round(value, 3)
    return report


def _build_variants(args, model, task, cfg, obs, goal, tmp: Path, notes: list[str]) -> dict:
    """name -> zero-argument callable running one planning step."""
    import numpy as np
    import torch

    from mbrl_control.bench.gemm_floor import graph_gemm_flops
    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.planning.planner import build_planner

    variants: dict[str, Any] = {}
    if not args.no_torch:
        ref = build_planner(model, task, cfg)
        noise, obs_t, goal_t = ref.draw_noise(), torch.as_tensor(obs), torch.as_tensor(goal)
        variants["torch"] = _Call(lambda: ref.step(obs_t, goal_t, ref.carry, noise, ref.weights))
    path = export_planner(model, task, cfg, tmp / "planner.onnx")
    variants["onnx"] = _session_call(OnnxPlanner(path, threads=args.threads), obs, goal)
    variants["onnx"].flops = graph_gemm_flops(path)  # e.g. without a pruned log-variance head
    if args.quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        qpath = tmp / "planner.int8.onnx"
        quantize_dynamic(str(path), str(qpath), weight_type=QuantType.QUInt8)
        variants["onnx_int8"] = _session_call(OnnxPlanner(qpath, threads=args.threads), obs, goal)
        variants["onnx_int8"].fp32 = False  # no int8 floor is measured
        full, quant = variants["onnx"](), variants["onnx_int8"]()
        variants["onnx_int8"].info = {
            "max_abs_action_diff_vs_fp32": float(np.abs(full[0] - quant[0]).max()),
            "plan_cost_fp32": float(full[2]),
            "plan_cost_int8": float(quant[2]),
        }
    if not args.no_mbrl:
        try:
            variants["mbrl_lib"] = _mbrl_lib_agent(model, task, cfg, obs, goal)
        except Exception as exc:  # ImportError or an API mismatch: report, don't fail
            notes.append(f"mbrl-lib skipped: {type(exc).__name__}: {exc}")
    return variants


class _Call:
    """A timed callable that may carry extra info for the report, its own FLOPs per step
    (``None``: the model count) and whether the fp32 GEMM floor bounds it."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.info: dict[str, Any] = {}
        self.flops: float | None = None
        self.fp32 = True

    def __call__(self):
        return self.fn()


def _session_call(planner, obs, goal) -> _Call:
    """One ``session.run`` with a fixed feed (noise is drawn between ticks, not timed)."""
    from mbrl_control.bench.op_profile import planner_feed

    feed = planner_feed(planner, obs, goal)
    return _Call(lambda: planner._session.run(None, feed))


def _extra_info(variants: dict) -> dict:
    return {f"{k}_info": v.info for k, v in variants.items() if getattr(v, "info", None)}


def _mbrl_lib_agent(model, task, cfg, obs, goal):
    """facebookresearch/mbrl-lib 0.2.0 CEM agent at the same sizes (own untrained ensemble)."""
    import numpy as np
    import omegaconf
    import torch
    from gymnasium.spaces import Box
    from mbrl.models import GaussianMLP, ModelEnv, OneDTransitionRewardModel
    from mbrl.planning import create_trajectory_optim_agent_for_model

    mc = model.cfg
    net = GaussianMLP(
        in_size=mc.obs_dim + mc.act_dim,
        out_size=mc.obs_dim,
        device="cpu",
        num_layers=mc.layers,
        ensemble_size=mc.members,
        hid_size=mc.hidden,
        deterministic=False,
        propagation_method="fixed_model",
        activation_fn_cfg=omegaconf.OmegaConf.create({"_target_": "torch.nn.SiLU"}),
    )
    dynamics = OneDTransitionRewardModel(net, target_is_delta=True, learned_rewards=False)
    goal_t = torch.as_tensor(goal)

    def reward_fn(act, next_obs):
        return -task.cost(next_obs, act, next_obs, goal_t)[:, None]

    def term_fn(act, next_obs):
        return torch.zeros(next_obs.shape[0], 1, dtype=torch.bool)

    class _Spaces:
        observation_space = Box(-np.inf, np.inf, (mc.obs_dim,), np.float32)
        action_space = Box(task.low, task.high, dtype=np.float32)

    env = ModelEnv(_Spaces(), dynamics, term_fn, reward_fn, generator=torch.Generator())
    agent_cfg = omegaconf.OmegaConf.create(
        {
            "_target_": "mbrl.planning.TrajectoryOptimizerAgent",
            "_recursive_": False,
            "action_lb": task.low.tolist(),
            "action_ub": task.high.tolist(),
            "planning_horizon": cfg.horizon,
            "replan_freq": 1,
            "verbose": False,
            "optimizer_cfg": {
                "_target_": "mbrl.planning.CEMOptimizer",
                "num_iterations": cfg.iterations,
                "elite_ratio": cfg.elite_frac,
                "population_size": cfg.population,
                "alpha": cfg.momentum,
                "lower_bound": "???",
                "upper_bound": "???",
                "return_mean_elites": True,
                "device": "cpu",
                "clipped_normal": False,
            },
        }
    )
    agent = create_trajectory_optim_agent_for_model(env, agent_cfg, num_particles=cfg.particles)
    return _Call(lambda: agent.act(obs))


if __name__ == "__main__":  # pragma: no cover
    parser = ArgumentParser()
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
