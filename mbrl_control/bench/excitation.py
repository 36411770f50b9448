"""``mbrl-control bench excitation``: what the exploration-noise guard does to rail hits and to
the excitation, paired.

Records ``--episodes`` episodes on ``--profile`` (the "robot") with the planner plus
exploration noise, through the recording's own code path (:func:`mbrl_sim.collect.rollout`,
what ``collect --noise`` and the sim-to-real pipeline's calibration recording run), once
**without** and once **with** the guard
(:class:`~mbrl_control.control.excitation.ExcitationGuard`), on the same episode seeds
(``collect``'s: the same initial states, randomization draws, pushes, planner noise and
exploration noise draws: paired), for each ``--noise`` level; and the planner alone on them
as the reference. Counted from the simulator's ground truth by the rule of the sim-to-real
grid's evaluations (:class:`~mbrl_control.pipeline.evaluate.SafetyMonitor`: every state of
the episode, the initial one included): rail-hit states and episodes with one, safety-stop
episodes; and as the grid counts its finetuning recordings (``finetune_rails``: the recorded,
sensor-noisy joint states; ``recorded_rail_hit_episodes``). Also
the returns (mean, and the paired difference guarded - unguarded with a 95 % t-interval),
the closest approach of a guarded joint to its inner limit (``min_margin``, m or rad, from
the truth; negative: beyond), the share of steps whose noise the rule withheld (or would
have: unguarded) and the noise actually injected (RMS of sent - planner action, in half
action ranges). Prints JSON.

    python -m mbrl_control.bench.excitation --planner P.onnx --task cartpole_swingup \\
        --profile reality_gap --episodes 40 --noise 0.2,0.5 --seed 0
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.cli import ArgumentParser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mbrl_control.cli.checks import (
        existing_file,
        float_in,
        nonneg_int,
        positive_int,
        profile_ref,
        sim_task_name,
    )
    from mbrl_control.control.excitation import DEFAULT_LOOKAHEAD_S

    fraction = float_in(0.0, 1.0, low_open=True)

    def noise_levels(text: str) -> tuple[float, ...]:
        return tuple(fraction(t) for t in text.split(","))

    parser.add_argument(
        "--planner", type=existing_file, required=True, help="planner ONNX file (the policy)"
    )
    parser.add_argument(
        "--task", type=sim_task_name, default="cartpole_swingup",
        help="the planner's task (a built-in name or a task-file path)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", type=profile_ref, default="reality_gap", help="DR profile: the robot"
    )
    parser.add_argument("--episodes", type=positive_int, default=40, help="episodes per arm")
    parser.add_argument(
        "--noise", type=noise_levels, default=(0.2,),
        help="exploration noise levels, comma-separated fractions in (0, 1] of the half "
        "action range (collect --noise), e.g. 0.2,0.5",
    )  # fmt: skip
    parser.add_argument(
        "--lookahead", type=float_in(0.0, 10.0), default=DEFAULT_LOOKAHEAD_S,
        help="the guard's look-ahead, s (default %(default)s)",
    )  # fmt: skip
    parser.add_argument("--seed", type=nonneg_int, default=0, help="root seed of the episodes")
    parser.add_argument(
        "--no-reference", dest="reference", action="store_false",
        help="skip the planner-alone arm (e.g. when a run with other noise levels measured it)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="compact JSON")


class _Margin:
    """Episode observer: the smallest distance of a guarded joint's true position to its inner
    limit (m or rad; negative: beyond) over the episode's states, key ``min_margin``."""

    def on_reset(self, env: Any, obs: np.ndarray, info: dict[str, Any]) -> None:
        from mbrl_control.control.excitation import guarded_joints

        task = env.unwrapped.task
        j = guarded_joints(task)
        self._at = [list(task.joint_names).index(n) for n in j.names]
        self._low, self._high, self.margin = j.low, j.high, np.inf
        self.on_step(env, obs, np.zeros(0), 0.0, info)

    def on_step(
        self, env: Any, obs: np.ndarray, action: np.ndarray, cost: float, info: dict[str, Any]
    ) -> None:
        q = env.unwrapped.physical_joint_state()[0][self._at]
        room = np.minimum(self._high - q, q - self._low)
        self.margin = min(self.margin, float(room.min()) if len(room) else np.inf)

    def on_end(self, result: dict[str, Any]) -> dict[str, Any]:
        return {"min_margin": self.margin}


def _arm(
    task: str, profile: str, planner: str, noise: float, guard: bool, lookahead: float,
    seeds: list[int],
) -> dict[str, Any]:  # fmt: skip
    """One arm's episodes; per-episode returns kept for the pairing."""
    import tempfile

    from mbrl_sim.collect import WorkerConfig, rollout

    from mbrl_control.data.store import TransitionStore
    from mbrl_control.pipeline.evaluate import SafetyMonitor
    from mbrl_control.pipeline.sim2real_grid import finetune_rails

    cfg = WorkerConfig(task, profile, f"planner:{planner}", noise, noise_lookahead_s=lookahead,
                       noise_guard=guard)  # fmt: skip
    monitor, metas = SafetyMonitor(), []
    with tempfile.TemporaryDirectory(prefix="excitation_") as tmp:
        store = TransitionStore(tmp)
        for s in seeds:
            ep = rollout(cfg, s, observers=[monitor, _Margin()])
            store.append_episode(ep["obs"], ep["action"], ep["meta"])
            metas.append(ep["meta"])
        recorded = finetune_rails(task, Path(tmp))  # the grid's count on recorded data
    rails = [int(m["rail_steps"]) for m in metas]
    returns = [float(m["return"]) for m in metas]
    out: dict[str, Any] = {
        "noise": noise,
        "guard": guard if noise else None,
        "rail_hit_episodes": sum(r > 0 for r in rails),
        "rail_hit_states": sum(rails),
        "safety_stop_episodes": sum(int(m["safety_stop_steps"]) > 0 for m in metas),
        "return_mean": round(float(np.mean(returns)), 2),
        "return_std": round(float(np.std(returns)), 2),
        "returns": [round(r, 2) for r in returns],
        "rail_hit_seeds": [s for s, r in zip(seeds, rails) if r > 0],
        "min_margin": _rounded(min(m["min_margin"] for m in metas)),
        "min_margin_episode_mean": _rounded(float(np.mean([m["min_margin"] for m in metas]))),
        "recorded_rail_hit_episodes": recorded["rail_hit_episodes"],
    }
    if noise:
        g = [m["noise_guard"] for m in metas]
        steps = sum(x["steps"] for x in g)
        key = "withheld_steps" if guard else "flagged_steps"
        out["steps"] = steps
        out["noise_withheld_fraction" if guard else "noise_flagged_fraction"] = round(
            sum(x[key] for x in g) / max(1, steps), 4
        )
        out["injected_rms"] = round(
            math.sqrt(sum(x["injected_rms"] ** 2 * x["steps"] for x in g) / max(1, steps)), 4
        )
    return out


def _rounded(x: float) -> float | None:
    return round(x, 3) if math.isfinite(x) else None  # None: no guarded joint


def _paired(a: list[float], b: list[float]) -> dict[str, Any]:
    """Mean of b - a with a 95 % Student t-interval over the pairs."""
    from scipy import stats

    d = np.asarray(b) - np.asarray(a)
    mean = float(d.mean())
    if len(d) < 2:
        return {"mean": round(mean, 2)}
    half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))
    return {"mean": round(mean, 2), "ci95": [round(mean - half, 2), round(mean + half, 2)]}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from mbrl_sim.collect import episode_seeds

    seeds = episode_seeds(args.seed, args.episodes)
    t0, c0 = time.perf_counter(), time.process_time()
    run = (args.task, args.profile, args.planner)
    reference = _arm(*run, 0.0, False, args.lookahead, seeds) if args.reference else None
    levels = []
    for noise in args.noise:
        off = _arm(*run, noise, False, args.lookahead, seeds)
        on = _arm(*run, noise, True, args.lookahead, seeds)
        hit_off, hit_on = set(off["rail_hit_seeds"]), set(on["rail_hit_seeds"])
        levels.append(
            {
                "noise": noise,
                "unguarded": off,
                "guarded": on,
                "paired": {
                    "return_guarded_minus_unguarded": _paired(off["returns"], on["returns"]),
                    "hit_episodes_removed": len(hit_off - hit_on),
                    "hit_episodes_added": len(hit_on - hit_off),
                },
            }
        )
    return {
        "planner": args.planner,
        "task": args.task,
        "profile": args.profile,
        "episodes": args.episodes,
        "seed": args.seed,
        "lookahead_s": args.lookahead,
        "counted_by": "SafetyMonitor (simulator's true joint state, every state of the episode)",
        "planner_alone": reference,
        "levels": levels,
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(time.process_time() - c0, 1),
    }


def run(args: argparse.Namespace) -> int:
    print(json.dumps(measure(args), indent=None if args.json else 2))
    return 0


def main(argv: list[str] | None = None) -> int:
    prog = "python -m mbrl_control.bench.excitation"
    parser = ArgumentParser(prog=prog, description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
