"""``mbrl-control experiment sim2real``: the sim-to-real grid (table + JSON + plot).

Conditions (pretraining DR profile: none, default, wide, calibrated) × real budgets (minutes;
0 = zero-shot) × seeds, every cell on the same evaluation episodes, with the real-data-only,
random-policy and oracle baselines. See docs/sim2real.md. Metrics per cell in ``OUT/metrics``;
``--record``: each cell's evaluations as an MCAP recording (docs/recording.md).
"""

from __future__ import annotations

import argparse
import itertools

from mbrl_control.cli.checks import (
    Bad,
    float_in,
    int_at_least,
    nonneg_int,
    out_dir,
    positive_float,
    positive_int,
    profile_ref,
    sim_task_name,
)
from mbrl_control.cli.task_defaults import TASK_HELP
from mbrl_control.pipeline.sim2real_names import BASELINES, CONDITIONS  # no numpy/torch

_minutes = float_in(0.0, 24 * 60.0)


def budgets(text: str) -> tuple[float, ...]:
    """Comma-separated minutes >= 0, increasing, e.g. ``0,0.5,1,2,5``."""
    values = [_minutes(x.strip()) for x in text.split(",") if x.strip()]
    if not values or any(b <= a for a, b in itertools.pairwise(values)):
        raise Bad(f"must be minutes >= 0, comma separated, increasing; got {text!r}")
    return tuple(values)


def names_from(allowed: tuple[str, ...], empty_ok: bool = False):
    """A comma-separated subset of ``allowed`` (order kept, no repeats)."""

    def check(text: str) -> tuple[str, ...]:
        values = tuple(x.strip() for x in text.split(",") if x.strip())
        bad = [v for v in values if v not in allowed]
        if bad or (not values and not empty_ok) or len(set(values)) != len(values):
            raise Bad(f"must be a comma-separated subset of {list(allowed)}, got {text!r}")
        return values

    check.__name__ = "names"
    return check


def seeds(text: str) -> tuple[int, ...]:
    """Comma-separated distinct integers >= 0, e.g. ``0,1,2``."""
    values = tuple(nonneg_int(x.strip()) for x in text.split(",") if x.strip())
    if not values or len(set(values)) != len(values):
        raise Bad(f"must be distinct integers >= 0, comma separated; got {text!r}")
    return values


def _absolute_if_file(profile: str) -> str:
    """A profile file as an absolute path (jobs may run elsewhere); a name unchanged."""
    from pathlib import Path

    path = Path(profile)
    return str(path.resolve()) if path.suffix in (".yaml", ".yml") else profile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=["sim2real"], help="which experiment")
    parser.add_argument("--task", type=sim_task_name, default="cartpole_swingup", help=TASK_HELP)
    parser.add_argument("--out", type=out_dir, default="runs/sim2real", help="output folder")
    parser.add_argument(
        "--conditions",
        type=names_from(CONDITIONS),
        default=CONDITIONS,
        help="pretraining conditions, comma separated (default: all four)",
    )
    parser.add_argument(
        "--budgets",
        type=budgets,
        default=(0.0, 0.5, 1.0, 2.0, 5.0),
        help="real-robot minutes, comma separated, increasing; 0 = zero-shot (default 0,0.5,1,2,5)",
    )
    parser.add_argument(
        "--real-profile",
        type=profile_ref,
        default="reality_gap",
        help='the simulated "real robot": a DR profile name or YAML file (default reality_gap; '
        "a robot's own, e.g. examples/acrobot/reality.yaml)",
    )
    parser.add_argument("--seeds", type=seeds, default=(0, 1, 2), help="training seeds (0,1,2)")
    parser.add_argument(
        "--eval-episodes",
        type=positive_int,
        default=10,
        help="evaluation episodes per cell (the same episodes in every cell)",
    )
    parser.add_argument("--rounds", type=nonneg_int, default=4, help="pretraining planner rounds")
    parser.add_argument(
        "--seed-episodes", type=positive_int, default=10,
        help="pretraining: random episodes before the first model",
    )  # fmt: skip
    parser.add_argument(
        "--episodes-per-round", type=positive_int, default=5, help="pretraining: per round"
    )
    parser.add_argument("--epochs", type=positive_int, default=60, help="max training epochs")
    parser.add_argument(
        "--retrain-every", type=positive_int, default=1000,
        help="real transitions between retrains while finetuning",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=positive_int, default=2, help="collection processes (local backend)"
    )
    parser.add_argument(
        "--baselines",
        type=names_from(BASELINES, empty_ok=True),
        default=BASELINES,
        help="baselines, comma separated (default: all; the normalized score needs random "
        "and an oracle)",
    )
    parser.add_argument("--no-baselines", action="store_true", help="same as --baselines ''")
    parser.add_argument(
        "--oracle-minutes",
        type=positive_float,
        default=15.0,
        help="real minutes of the oracle_model's finetuning (default 15)",
    )
    parser.add_argument(
        "--calib-seconds",
        type=positive_float,
        default=30.0,
        help="real seconds recorded for calibration (calibrated condition; in the budget)",
    )
    parser.add_argument(
        "--calib-evaluations",
        type=int_at_least(8),
        default=400,
        help="CMA-ES evaluations of the calibration",
    )
    parser.add_argument(
        "--action-history",
        type=positive_int,
        metavar="K",
        help="run on the task plus a last_actions block of K actions (makes actuation delay "
        "observable); the task file is written to OUT/tasks/",
    )
    parser.add_argument(
        "--backend",
        choices=["local", "ray"],
        default="local",
        help="local: one job at a time; ray: jobs as Ray tasks (RAY_ADDRESS for a cluster)",
    )
    parser.add_argument("--jobs", type=positive_int, default=2, help="Ray tasks in flight")
    parser.add_argument(
        "--resume", action="store_true", help="skip jobs whose OUT/cells/<job>.json exists"
    )
    parser.add_argument(
        "--max-minutes",
        type=positive_float,
        help="compute budget: no new job starts after this many minutes",
    )
    parser.add_argument(
        "--record", action="store_true",
        help="also record each cell's evaluation episodes as OUT/work/<cell>/eval.mcap "
        "(rosbag2-compatible MCAP; an existing recording is never replaced: refused before "
        "anything runs)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from mbrl_control.pipeline.pretrain import PretrainConfig
    from mbrl_control.pipeline.sim2real_grid import GridConfig, run_grid
    from mbrl_control.pipeline.sim2real_stats import markdown_table

    task = args.task
    if args.action_history:
        from mbrl_control.pipeline.history_study import write_history_variant
        from mbrl_control.tasks import get_task

        task = str(
            write_history_variant(get_task(task), args.action_history, Path(args.out) / "tasks")
        )
    cfg = GridConfig(
        pretrain=PretrainConfig(
            task=task,
            rounds=args.rounds,
            seed_episodes=args.seed_episodes,
            episodes_per_round=args.episodes_per_round,
            max_epochs=args.epochs,
            workers=args.workers,
        ),
        real_profile=_absolute_if_file(args.real_profile),
        retrain_every=args.retrain_every,
        conditions=args.conditions,
        budgets_min=args.budgets,
        seeds=args.seeds,
        eval_episodes=args.eval_episodes,
        baselines=() if args.no_baselines else args.baselines,
        oracle_minutes=args.oracle_minutes,
        calib_seconds=args.calib_seconds,
        calib_evaluations=args.calib_evaluations,
    )
    result = run_grid(
        cfg,
        args.out,
        backend=args.backend,
        jobs=args.jobs,
        resume=args.resume,
        max_minutes=args.max_minutes,
        quiet=args.quiet,
        record=args.record,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(markdown_table(result))
    print(f"wrote {args.out}/sim2real.md, sim2real.json, sim2real.png")
    failed = [k for k, v in result["cells"].items() if v.get("status") == "failed"]
    if failed:
        import sys

        print(
            f"{len(failed)} job(s) failed (see sim2real.md): {', '.join(failed)}", file=sys.stderr
        )
        return 1
    return 0
