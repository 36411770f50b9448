"""`mbrl-control calibrate`: fit the simulator's physics to recorded robot data.

Replays the recorded actions in the simulator from recorded states and fits, by CMA-ES, the
mass and inertia scales, joint damping and friction, actuator gain and action delay that
minimize the K-step prediction error; sensor noise comes from the one-step residuals.
Writes a DR profile centred on the fit (--out, usable as --profile by every command) and a
JSON report beside it (fitted values, uncertainties, parameters identifiable only together,
replay error before and after). Data: a transition store (from `collect`, `import` of CSV
logs or a bag, or the finetune node's recorder). See docs/calibration.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mbrl_control.cli.checks import (
    Bad,
    existing_dir,
    float_in,
    int_at_least,
    nonneg_int,
    out_file,
    positive_int,
    profile_ref,
    sim_task_name,
)
from mbrl_control.cli.errors import UsageError
from mbrl_control.cli.task_defaults import TASK_HELP


def profile_out(text: str) -> str:
    """An output profile file: ``.yaml``/``.yml`` (what ``--profile`` accepts), not a folder."""
    out_file(text)
    if Path(text).suffix not in (".yaml", ".yml"):
        raise Bad(f"must end in .yaml or .yml (a DR profile file), got {text!r}")
    return text


def check_evaluations(cfg: object) -> None:
    """Refuse an evaluation budget below one CMA-ES generation per delay (before anything
    starts), as ``argument --evaluations``."""
    from mbrl_sim.calibration import PARAMS, check_budget

    try:
        check_budget(len(PARAMS), cfg)  # type: ignore[arg-type]
    except ValueError as err:
        raise UsageError(f"argument --evaluations: {err}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=sim_task_name, required=True, help=TASK_HELP)
    parser.add_argument(
        "--data", type=existing_dir, required=True, help="transition store of real data"
    )
    parser.add_argument(
        "--out",
        type=profile_out,
        required=True,
        help="calibrated DR profile to write (.yaml); the report goes beside it (.json)",
    )
    parser.add_argument(
        "--base-profile",
        type=profile_ref,
        help="profile the search starts from and the 'before' error uses; contact friction, "
        "jitter and pushes are copied from it (default: the task's dr_profile)",
    )
    parser.add_argument(
        "--horizon", type=positive_int, default=10, help="K: control steps replayed per window"
    )
    parser.add_argument(
        "--starts", type=positive_int, default=64, help="replay windows used for the fit"
    )
    parser.add_argument(
        "--evaluations", type=int_at_least(8), default=400, help="CMA-ES error evaluations"
    )
    parser.add_argument(
        "--max-delay", type=nonneg_int, default=3, help="largest action delay tried (steps, <= 20)"
    )
    parser.add_argument(
        "--holdout",
        type=float_in(0.0, 0.9),
        default=0.2,
        help="share of episodes (the last ones) kept out of the fit to measure the error on",
    )
    parser.add_argument("--seed", type=nonneg_int, default=0, help="CMA-ES seed")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import logging

    from mbrl_sim.calibration import CalibrationConfig, calibrate, report_path

    logging.basicConfig(level=logging.WARNING)
    cfg = CalibrationConfig(
        horizon=args.horizon,
        starts=args.starts,
        evaluations=args.evaluations,
        max_delay=args.max_delay,
        seed=args.seed,
        holdout=args.holdout,
    )
    check_evaluations(cfg)
    report = calibrate(args.task, args.data, args.out, args.base_profile, cfg, quiet=args.quiet)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    kept = set(report.get("undetermined", []))
    fitted = ", ".join(
        f"{k} {v:.4g}" + (" (undetermined: the base range kept)" if k in kept else "")
        for k, v in report["fitted"].items()
    )
    err = report["replay_error"]
    held = err["holdout"] or err["fit"]
    print(
        f"{args.out}: {fitted}; {err['horizon']}-step replay error "
        f"{held['before']:.3f} -> {held['after']:.3f} "
        f"({'held-out' if err['holdout'] else 'fit'} data); report {report_path(args.out)}"
    )
    if held["after"] > held["before"]:
        print(
            f"  warning: the fit replays the {'held-out' if err['holdout'] else 'fit'} data "
            "worse than the base profile: too little or too uniform data? (record more, with "
            "`collect --noise` excitation)"
        )
    for pair in report["identifiable_only_together"]:
        print(f"  identifiable only together: {pair['combination']} = {pair['value']:.4g}")
    return 0
