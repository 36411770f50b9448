"""``mbrl-control bench sim``: env control steps/s (1 and W workers) vs raw stepSimulation.

In one run: raw ``stepSimulation`` of the same scene (one call = one physics step; a control
period is ``substeps`` calls, as the env steps it), the full env step (randomization, delay,
observation, torch cost, info) in one process, and W processes stepping their own envs at
once. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import positive_int, profile_ref, task_name

    parser.add_argument("--task", type=task_name, default="cartpole_swingup", help="task name")
    parser.add_argument(
        "--profile", type=profile_ref, default="default", help="DR profile (name or YAML file)"
    )
    parser.add_argument(
        "--workers", type=positive_int, default=2, help="processes stepping their own envs"
    )
    parser.add_argument(
        "--steps", type=positive_int, default=4000, help="control steps per measurement"
    )
    parser.add_argument("--json", action="store_true", help="JSON only (the default output)")


def _env_rate(task: str, profile: str, steps: int, seed: int = 0) -> float:
    """Control steps/s of the env under random actions, resets included."""
    import mbrl_sim
    import numpy as np
    import torch

    torch.set_num_threads(1)
    env = mbrl_sim.make_env(task, profile, seed=seed)
    t = env.unwrapped.task
    actions = np.random.default_rng(seed).uniform(t.low, t.high, (steps, t.act_dim))
    actions = actions.astype(np.float32)
    env.reset()
    for a in actions[:100]:  # warm-up
        env.step(a)
    start = time.perf_counter()
    for a in actions:
        if env.step(a)[3]:
            env.reset()
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def _raw_rate(task: str, steps: int) -> tuple[float, int]:
    """``stepSimulation`` calls/s of the same scene (nominal dynamics; one call = one physics
    step), and its substeps per control period."""
    import pybullet as pb
    from mbrl_sim.scenes import load_scene

    from mbrl_control.tasks import get_task

    t = get_task(task)
    sc = load_scene(t)
    for _ in range(100):
        pb.stepSimulation(physicsClientId=sc.client)
    start = time.perf_counter()
    for _ in range(steps):
        pb.stepSimulation(physicsClientId=sc.client)
    rate = steps / (time.perf_counter() - start)
    pb.disconnect(sc.client)
    return rate, sc.substeps


def _cost_us(task: str, n: int = 2000) -> float:
    """Microseconds of one per-step torch cost evaluation (B=1), as the env calls it."""
    import torch

    from mbrl_control.tasks import get_task

    t = get_task(task)
    o, a = torch.zeros(1, t.obs_dim), torch.zeros(1, t.act_dim)
    g, w = torch.zeros(t.goal_dim), torch.as_tensor(t.default_weights)
    with torch.inference_mode():
        for _ in range(100):
            t.cost(o, a, o, g, w)
        start = time.perf_counter()
        for _ in range(n):
            float(t.cost(o, a, o, g, w))
    return (time.perf_counter() - start) / n * 1e6


def _worker(args: tuple[Any, ...]) -> tuple[float, float, int]:
    task, profile, steps, seed, barrier = args
    import mbrl_sim  # noqa: F401  (import cost outside the timed window)

    _env_rate(task, profile, 200, seed)  # build + warm caches
    barrier.wait()
    start = time.time()
    _env_rate(task, profile, steps, seed)
    return start, time.time(), steps


def _parallel_rate(task: str, profile: str, steps: int, workers: int) -> float:
    """Aggregate control steps/s of ``workers`` processes stepping at the same time."""
    import multiprocessing as mp

    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(workers)
        with ctx.Pool(workers) as pool:
            jobs = [(task, profile, steps, i, barrier) for i in range(workers)]
            spans = pool.map(_worker, jobs)
    wall = max(e for _, e, _ in spans) - min(s for s, _, _ in spans)
    return sum(n for _, _, n in spans) / wall


def run(args: argparse.Namespace) -> int:
    import os

    raw_calls, substeps = _raw_rate(args.task, args.steps * 5)
    env_1 = _env_rate(args.task, args.profile, args.steps)
    env_w = _parallel_rate(args.task, args.profile, args.steps, args.workers)
    result = {
        "task": args.task,
        "profile": args.profile,
        "substeps": substeps,
        "cpu_count": os.cpu_count(),
        "raw_stepSimulation_calls_per_s": round(raw_calls, 1),
        "raw_physics_steps_per_s": round(raw_calls, 1),
        "raw_control_steps_per_s": round(raw_calls / substeps, 1),
        "env_control_steps_per_s_1_worker": round(env_1, 1),
        f"env_control_steps_per_s_{args.workers}_workers": round(env_w, 1),
        "env_cost_over_raw": round(raw_calls / substeps / env_1, 3),
        "target_env_cost_over_raw": 1.5,
        "worker_speedup": round(env_w / env_1, 3),
        "target_worker_speedup_2": 1.7,
        "torch_cost_us_per_step": round(_cost_us(args.task), 1),
        "raw_us_per_control_step": round(1e6 * substeps / raw_calls, 1),
        "env_us_per_control_step": round(1e6 / env_1, 1),
    }
    print(json.dumps(result, indent=2))
    return 0
