"""``mbrl-control bench sim``: env control steps/s (1 and W workers) vs raw stepSimulation.

In one run, in ``--rounds`` interleaved rounds (so a change of the host's load hits every
variant alike): raw ``stepSimulation`` of the same scene (one call = one physics step; a
control period is ``substeps`` calls, as the env steps it), the full env step (randomization,
delay, observation, cost, info) in one process with the reward's cost evaluated by
``--cost-backend`` (and, with ``--compare``, by the other backends too: ``torch`` is how the
env computed it before :mod:`mbrl_sim.step_cost`), then W processes stepping their own envs
at once. Rates are medians over the rounds, ratios the median of the per-round ratios, each
per wall second and per CPU second of the process (what a core of its own would give; robust
to other processes' load). Also reports the per-step cost alone (CPU µs, B = 1) of every
backend, the split of an env step's CPU time into physics, cost and the rest, and the host's
load average before and after. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

BACKENDS = ("python", "onnxruntime", "torch")  # mbrl_sim.step_cost.BACKENDS (CLI startup)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import positive_int, profile_ref, task_name

    parser.add_argument("--task", type=task_name, default="cartpole_swingup", help="task name")
    parser.add_argument(
        "--profile", type=profile_ref, default="default", help="DR profile (name or YAML file)"
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=2,
        help="processes stepping their own envs (1: no worker scaling reported)",
    )
    parser.add_argument(
        "--steps", type=positive_int, default=4000, help="control steps per measurement"
    )
    parser.add_argument(
        "--rounds", type=positive_int, default=3, help="interleaved rounds of the 1-process rates"
    )
    parser.add_argument(
        "--cost-backend",
        choices=BACKENDS,
        default=BACKENDS[0],
        help="how the env evaluates the reward's cost (the env's default: python)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also measure the env with the other cost backends, interleaved (torch: before)",
    )
    parser.add_argument("--json", action="store_true", help="JSON only (the default output)")


def _make_env(task: str, profile: str, backend: str, seed: int) -> Any:
    import mbrl_sim
    import torch

    torch.set_num_threads(1)
    return mbrl_sim.make_env(task, profile, seed=seed, cost_backend=backend)


def _actions(env: Any, steps: int, seed: int) -> Any:
    import numpy as np

    t = env.unwrapped.task
    actions = np.random.default_rng(seed).uniform(t.low, t.high, (steps, t.act_dim))
    return actions.astype(np.float32)


def _clocks() -> tuple[float, float]:
    """(wall s, this process's CPU s): CPU time leaves out the time other processes ran."""
    return time.perf_counter(), time.process_time()


def _rates(n: int, since: tuple[float, float]) -> tuple[float, float]:
    """``n`` per wall second and per CPU second since ``since`` (:func:`_clocks`)."""
    wall, cpu = _clocks()
    return n / (wall - since[0]), n / max(cpu - since[1], 1e-9)


def _step_rate(env: Any, actions: Any) -> tuple[float, float]:
    """Control steps per wall and per CPU second of ``env`` (already reset) under
    ``actions``, resets included."""
    since = _clocks()
    for a in actions:
        if env.step(a)[3]:
            env.reset()
    return _rates(len(actions), since)


def _raw_stepper(task: str) -> tuple[Any, int, Any]:
    """``(run(calls) -> (calls per wall s, per CPU s), substeps, close)`` for raw
    ``stepSimulation`` of the scene (nominal dynamics; one call = one physics step)."""
    from mbrl_sim.bullet import pb
    from mbrl_sim.scenes import load_scene

    from mbrl_control.tasks import get_task

    sc = load_scene(get_task(task))

    def run(calls: int) -> tuple[float, float]:
        since = _clocks()
        for _ in range(calls):
            pb.stepSimulation(physicsClientId=sc.client)
        return _rates(calls, since)

    run(100)
    return run, sc.substeps, lambda: pb.disconnect(sc.client)


def _cost_us(task: str, backend: str, n: int = 2000) -> float:
    """CPU microseconds of one per-step cost evaluation (B = 1), as the env calls it."""
    import numpy as np
    import torch
    from mbrl_sim.step_cost import StepCost

    from mbrl_control.tasks import get_task

    torch.set_num_threads(1)
    t = get_task(task)
    cost = StepCost(t, backend=backend)
    o, a = np.zeros(t.obs_dim, np.float32), np.zeros(t.act_dim, np.float32)
    for _ in range(100):
        cost(o, a, o)
    n = n // 4 if backend == "torch" else n
    since = _clocks()
    for _ in range(n):
        cost(o, a, o)
    return 1e6 / _rates(n, since)[1]


def _worker(args: tuple[Any, ...]) -> tuple[float, float, int]:
    """One of the parallel processes: build and warm its env, wait for the others, step.
    Only the stepping is timed (as for the 1-process rate)."""
    task, profile, steps, seed, backend, barrier = args
    env = _make_env(task, profile, backend, seed)
    actions = _actions(env, steps, seed)
    env.reset()
    _step_rate(env, actions[:100])  # warm caches (the cost graph is compiled at reset)
    barrier.wait()
    start = time.time()
    _step_rate(env, actions)
    end = time.time()
    env.close()
    return start, end, steps


def _parallel_rate(task: str, profile: str, steps: int, workers: int, backend: str) -> float:
    """Aggregate control steps/s of ``workers`` processes stepping at the same time."""
    import multiprocessing as mp

    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(workers)
        with ctx.Pool(workers) as pool:
            jobs = [(task, profile, steps, i, backend, barrier) for i in range(workers)]
            spans = pool.map(_worker, jobs)
    wall = max(e for _, e, _ in spans) - min(s for s, _, _ in spans)
    return sum(n for _, _, n in spans) / wall


def _rounds(args: argparse.Namespace, backends: list[str]) -> tuple[dict, dict, int]:
    """``(raw, env, substeps)``: per clock (``wall``, ``cpu``) the raw control steps/s of each
    round, and per backend and clock the env's control steps/s of each round."""
    raw, substeps, close = _raw_stepper(args.task)
    envs = {b: _make_env(args.task, args.profile, b, 0) for b in backends}
    actions = _actions(next(iter(envs.values())), args.steps, 0)
    for env in envs.values():
        env.reset()
        _step_rate(env, actions[:100])  # warm-up (traces the cost graph)
    raws: dict[str, list[float]] = {"wall": [], "cpu": []}
    rates: dict[str, dict[str, list[float]]] = {b: {"wall": [], "cpu": []} for b in backends}
    for _ in range(args.rounds):
        for clock, r in zip(("wall", "cpu"), raw(args.steps * substeps)):
            raws[clock].append(r / substeps)
        for b, env in envs.items():
            for clock, r in zip(("wall", "cpu"), _step_rate(env, actions)):
                rates[b][clock].append(r)
    for env in envs.values():
        env.close()
    close()
    return raws, rates, substeps


def _median_ratio(a: list[float], b: list[float]) -> float:
    return round(statistics.median(x / y for x, y in zip(a, b)), 3)


def run(args: argparse.Namespace) -> int:
    import os

    other = [b for b in BACKENDS if b != args.cost_backend]
    backends = [args.cost_backend, *(other if args.compare else [])]
    load_before = os.getloadavg()
    raw, rates, substeps = _rounds(args, backends)
    env = rates[args.cost_backend]
    env_1 = statistics.median(env["wall"])
    env_w = (  # worker scaling only when there is more than one worker
        _parallel_rate(args.task, args.profile, args.steps, args.workers, args.cost_backend)
        if args.workers > 1
        else None
    )
    cost_us = {b: _cost_us(args.task, b) for b in BACKENDS}
    raw_us, env_us = 1e6 / statistics.median(raw["cpu"]), 1e6 / statistics.median(env["cpu"])
    cost = cost_us[args.cost_backend]
    result: dict[str, Any] = {
        "task": args.task,
        "profile": args.profile,
        "cost_backend": args.cost_backend,
        "substeps": substeps,
        "rounds": args.rounds,
        "cpu_count": os.cpu_count(),
        "load_avg_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "raw_stepSimulation_calls_per_s": round(statistics.median(raw["wall"]) * substeps, 1),
        "raw_physics_steps_per_s": round(statistics.median(raw["wall"]) * substeps, 1),
        "raw_control_steps_per_s": round(statistics.median(raw["wall"]), 1),
        "env_control_steps_per_s_1_worker": round(env_1, 1),
        **(
            {
                f"env_control_steps_per_s_{args.workers}_workers": round(env_w, 1),
                "worker_speedup": round(env_w / env_1, 3),
                "target_worker_speedup_2": 1.7,
            }
            if env_w is not None
            else {}
        ),
        "env_cost_over_raw": _median_ratio(raw["wall"], env["wall"]),
        "target_env_cost_over_raw": 1.5,
        "per_cpu_second": {  # this process's CPU time: what one core of its own would do
            "raw_control_steps": round(statistics.median(raw["cpu"]), 1),
            "env_control_steps_1_worker": round(statistics.median(env["cpu"]), 1),
            "env_cost_over_raw": _median_ratio(raw["cpu"], env["cpu"]),
        },
        **{f"{b}_cost_us_per_step": round(cost_us[b], 1) for b in BACKENDS},
        "raw_us_per_control_step": round(1e6 / statistics.median(raw["wall"]), 1),
        "env_us_per_control_step": round(1e6 / env_1, 1),
        "env_cpu_us_split": {  # CPU µs of one env step: raw physics, the cost, everything else
            "physics": round(raw_us, 1),
            "cost": round(cost, 1),
            "rest": round(env_us - raw_us - cost, 1),
        },
    }
    for b in other if args.compare else []:
        alt = rates[b]
        result[f"compare_{b}"] = {
            "env_control_steps_per_s_1_worker": round(statistics.median(alt["wall"]), 1),
            "env_control_steps_per_cpu_s_1_worker": round(statistics.median(alt["cpu"]), 1),
            "env_cost_over_raw": _median_ratio(raw["wall"], alt["wall"]),
            f"speedup_of_{args.cost_backend}": _median_ratio(env["wall"], alt["wall"]),
            f"cpu_speedup_of_{args.cost_backend}": _median_ratio(env["cpu"], alt["cpu"]),
        }
    print(json.dumps(result, indent=2))
    return 0
