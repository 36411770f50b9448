"""``mbrl-control train``: fit an ensemble on a transition store, validate, checkpoint.

Writes ``OUT/model.pt`` (weights + config + normalizers + provenance + the uncertainty
calibration) and the validation report ``OUT/model_report.json`` / ``OUT/model_report.png``
computed on the held-out episodes (and on ``--ood-data`` for the disagreement comparison).
The held-out episodes, sorted by id, are split: even positions fit the per-horizon
calibration (``uncertainty.calibration``, variance scaling), odd positions test it (the
report's ``uncertainty`` section: coverage raw vs calibrated). Prints a JSON summary.
Metrics (TensorBoard + CSV, ``OUT/metrics``): ``train/*`` per epoch, ``validation/*`` and the
90 % interval coverage per horizon (``coverage90/raw``, ``coverage90/calibrated``) at the end.

A task with ``cost: learned`` gets the ensemble's reward head, trained on the task critics'
per-step cost of each stored transition (``models.cost_targets``; the store records none).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from mbrl_control.cli.checks import (
    existing_dir,
    float_in,
    nonneg_int,
    out_dir,
    positive_float,
    positive_int,
    task_name,
)

if TYPE_CHECKING:  # the CLI imports no torch at start-up
    from mbrl_control.recording.metrics import MetricsLog

ACTIVATIONS = ("silu", "relu", "tanh", "elu")  # models.config's choices (a test keeps them equal)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=existing_dir, required=True, help="transition store folder")
    parser.add_argument(
        "--task",
        type=task_name,
        required=True,
        help="built-in task name (e.g. cartpole_swingup) or task file (my_robot.task.yaml)",
    )
    parser.add_argument(
        "--out", type=out_dir, required=True, help="output folder for model.pt and the report"
    )
    parser.add_argument(
        "--ood-data", type=existing_dir, help="store from another profile (OOD disagreement)"
    )
    parser.add_argument(
        "--members",
        type=positive_int,
        default=5,
        help="ensemble size E (must divide the planner preset's particles: 5 fits every preset)",
    )
    parser.add_argument("--hidden", type=positive_int, default=200, help="hidden width W")
    parser.add_argument("--layers", type=positive_int, default=4, help="hidden layers")
    parser.add_argument(
        "--activation", choices=ACTIVATIONS, default="silu", help="hidden-layer activation"
    )
    parser.add_argument("--deterministic", action="store_true", help="mean-only head")
    from mbrl_control.models.config import TrainConfig  # stdlib only: --help stays instant

    d = TrainConfig()
    parser.add_argument("--epochs", type=positive_int, default=d.max_epochs, help="max epochs")
    parser.add_argument(
        "--patience", type=positive_int, default=d.patience, help="early-stopping patience (epochs)"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=d.batch_size, help="rows per member per step"
    )
    parser.add_argument("--lr", type=positive_float, default=d.lr, help="Adam learning rate")
    parser.add_argument(
        "--holdout-fraction",
        type=float_in(0.0, 0.99),
        default=d.holdout_fraction,
        help="share of episodes held out",
    )
    parser.add_argument(
        "--seed", type=nonneg_int, default=0, help="seed of init, split and batches"
    )
    parser.add_argument(
        "--threads", type=positive_int, help="torch intra-op threads (default: torch's)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _train_config(args: argparse.Namespace) -> dict[str, object]:
    """TrainConfig fields given on the command line (unset flags keep the defaults)."""
    given = {
        "max_epochs": args.epochs,
        "patience": args.patience,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "holdout_fraction": args.holdout_fraction,
    }
    return {"seed": args.seed, **{k: v for k, v in given.items() if v is not None}}


def _calibrate(model, data, holdout_episodes) -> dict[str, object] | None:
    """Calibrate ``model`` on half the held-out episodes (sorted ids at even positions) and
    report raw vs calibrated k-step coverage on the other half; None (uncalibrated) with
    fewer than 2 held-out episodes or episodes too short for a segment."""
    import numpy as np

    from mbrl_control.uncertainty.calibration import calibrate, calibration_report, split_episodes

    fit_ids, test_ids = split_episodes(np.asarray(holdout_episodes))
    if not len(fit_ids) or not len(test_ids):
        return None
    fit_rows = np.isin(data.episode_id, fit_ids)
    test_rows = np.isin(data.episode_id, test_ids)
    try:
        calibrate(model, data.obs[fit_rows], data.action[fit_rows], data.next_obs[fit_rows],
                  data.episode_id[fit_rows])  # fmt: skip
        report = calibration_report(
            model, data.obs[test_rows], data.action[test_rows], data.next_obs[test_rows],
            data.episode_id[test_rows],
        )  # fmt: skip
    except ValueError:  # no segment to fit or test on
        model.set_calibration(None)
        return None
    return {**report, "calibrate_episodes": fit_ids.tolist(), "test_episodes": test_ids.tolist()}


def _coverage90(unc: dict[str, object] | None, which: str) -> list[float] | None:
    """The 90 % interval's coverage per k of the ``raw``/``calibrated`` part, if any."""
    part = (unc or {}).get(which)
    return None if not part else part["coverage"]["0.9"]


def _log_validation(log: MetricsLog, report: dict, epochs: int) -> None:
    """The trained model's hold-out validation as ``validation/*`` at step ``epochs`` (its
    last training epoch) and the calibration's 90 % interval coverage per horizon as
    ``coverage90/raw`` and ``coverage90/calibrated`` (step: the horizon k in control steps;
    the fraction of k-step targets inside the interval, 0.9 is exact)."""
    holdout = report["holdout"]
    log.scalars(
        "validation",
        {
            "holdout_nmse": holdout["nmse"],
            "holdout_nll": holdout["nll"],
            "within_2sigma": holdout["calibration"]["within_2sigma"],
            "disagreement_ratio_ood_to_in": report["disagreement"]["ratio_ood_to_in"],
        },
        epochs,
    )
    unc = report["uncertainty"] or {}
    for which in ("raw", "calibrated"):
        coverage = _coverage90(unc, which)
        for k, value in zip(unc.get("k", ()), coverage or ()):
            log.scalar(f"coverage90/{which}", value, k)


def run(args: argparse.Namespace) -> int:
    summary = train(args)
    print(json.dumps(summary, indent=2))
    return 0


def train(args: argparse.Namespace) -> dict[str, object]:
    """Load, fit, validate, write; return the summary printed by ``run``."""
    from pathlib import Path

    import numpy as np
    import torch

    from mbrl_control.data.store import TransitionStore
    from mbrl_control.models.checkpoint import save_checkpoint
    from mbrl_control.models.config import EnsembleConfig, TrainConfig
    from mbrl_control.models.cost_targets import transition_costs
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.models.evaluation import validate, write_report
    from mbrl_control.models.trainer import fit
    from mbrl_control.recording.metrics import MetricsLog
    from mbrl_control.tasks import get_task

    if args.threads:
        torch.set_num_threads(args.threads)
    task = get_task(args.task)
    data = TransitionStore(args.data).load()
    if len(data) == 0:
        raise ValueError(f"{args.data}: the store has no transitions")
    if data.obs.shape[1] != task.obs_dim or data.action.shape[1] != task.act_dim:
        raise ValueError(
            f"{args.data}: obs {data.obs.shape[1]} / action {data.action.shape[1]} dims do not "
            f"match task {task.name} ({task.obs_dim} / {task.act_dim})"
        )
    ood = None
    if args.ood_data:
        o = TransitionStore(args.ood_data).load()
        ood = (o.obs, o.action, o.next_obs)

    torch.manual_seed(args.seed)
    cfg = EnsembleConfig.for_task(  # sizes and each input's declared scale from the task
        task,
        seed=args.seed,
        members=args.members,
        hidden=args.hidden,
        layers=args.layers,
        activation=args.activation,
        probabilistic=not args.deterministic,
        reward_head=task.cost_source == "learned",  # the planner's cost is the learned head
    )
    model = Ensemble(cfg)
    cost = None
    if cfg.reward_head:
        cost = transition_costs(task, data.obs, data.action, data.next_obs, data.goal)
    train_cfg = TrainConfig.from_mapping(_train_config(args))
    rng = np.random.default_rng(args.seed)
    with MetricsLog(Path(args.out) / "metrics") as metrics_log:  # TensorBoard + CSV
        metrics = fit(
            model, data.obs, data.action, data.next_obs, data.episode_id, train_cfg,
            cost=cost, rng=rng, quiet=args.quiet, callback=metrics_log.callback("train"),
        )  # fmt: skip

        held = np.isin(data.episode_id, metrics["holdout_episodes"])
        rows = held if held.any() else np.ones(len(data), bool)
        report = validate(
            model, data.obs[rows], data.action[rows], data.next_obs[rows], data.episode_id[rows],
            ood=ood, obs_names=task.obs_names,
        )  # fmt: skip
        report["split"] = "holdout" if held.any() else "train (nothing held out)"
        report["uncertainty"] = _calibrate(model, data, metrics["holdout_episodes"])
        _log_validation(metrics_log, report, int(metrics["epochs"]))
    fit_summary = {k: v for k, v in metrics.items() if not isinstance(v, list)}
    report["fit"] = {**fit_summary, "train_loss": metrics["train_loss"],
                     "holdout_score": metrics["holdout_score"]}  # fmt: skip
    out = Path(args.out)
    json_path, png_path = write_report(report, out)
    provenance = {
        "task": task.name,
        "data": str(Path(args.data).resolve()),
        "ood_data": str(Path(args.ood_data).resolve()) if args.ood_data else None,
        "n_transitions": len(data),
        "cost": "learned (targets: the task critics' per-step cost)"
        if cost is not None
        else "critics",
        "n_episodes": len(np.unique(data.episode_id)),
        "holdout_episodes": metrics["holdout_episodes"],
        "train_config": train_cfg.to_dict(),
        "fit": fit_summary,
        "validation": {
            "holdout_nmse": report["holdout"]["nmse"],
            "holdout_nll": report["holdout"]["nll"],
            "within_2sigma": report["holdout"]["calibration"]["within_2sigma"],
            "rollout_k": report["rollout"]["k"],
            "rollout_nmse": report["rollout"]["nmse"],
            "disagreement_ratio_ood_to_in": report["disagreement"]["ratio_ood_to_in"],
            "coverage90_raw": _coverage90(report["uncertainty"], "raw"),
            "coverage90_calibrated": _coverage90(report["uncertainty"], "calibrated"),
        },
        "calibration": model.calibration_info or None,
    }
    ckpt = save_checkpoint(out / "model.pt", model, provenance)
    return {
        "checkpoint": str(ckpt),
        "report_json": str(json_path),
        "report_png": str(png_path),
        "epochs": metrics["epochs"],
        "best_epoch": metrics["best_epoch"],
        "samples_per_s": round(metrics["samples_per_s"], 1),
        **provenance["validation"],
    }
