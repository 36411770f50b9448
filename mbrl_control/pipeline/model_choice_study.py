"""The model-choice table (issue 20, the handbook's deterministic / stochastic / ensemble
discussion; ``mbrl-control ablation model``).

Three dynamics models of the task's planner size (hidden width, layers, activation of its
``planner`` section), trained on the **same** transitions with the **same** hold-out episodes,
initialization seed and batch seed:

- ``deterministic`` (D): one MLP with a mean-only head, trained with MSE (``EnsembleConfig(
  members=1, probabilistic=False)``). It has no predictive variance: its calibration cells
  are n/a and its disagreement is 0. (Its ``logvar`` output is a constant placeholder, the
  training deltas' variance; nothing here reads it as an uncertainty.)
- ``probabilistic`` (P): one MLP with a Gaussian head (mean + log-variance), trained with the
  Gaussian NLL: aleatoric variance only, so its disagreement is 0 as well.
- ``ensemble`` (PE): the task's own ensemble (5 members for cart-pole), Gaussian heads, each
  member on its own bootstrap resample: aleatoric variance plus member spread.

The single networks train on all training rows (no bootstrap: a one-member resample would
only drop a third of the data); the ensemble bootstraps as ``mbrl-control train`` does.

Per arm (JSON and markdown):

- one-step error on the held-out episodes: nMSE of the predicted change per predicted dim
  and its mean (:func:`~mbrl_control.models.evaluation.point_metrics`);
- open-loop k-step nMSE of the state at k = 1, 5, 10, 25 under the recorded actions
  (:func:`~mbrl_control.models.evaluation.rollout_errors`, member-mean propagation);
- calibration: the held-out episodes sorted by id, even positions fit the per-horizon
  variance scaling, odd positions test it; coverage of the 90 % central interval raw and
  calibrated per k (:func:`~mbrl_control.uncertainty.calibration.calibration_report`);
  ``None`` (n/a) for the deterministic arm;
- closed loop: the arm exported with the task's planner config
  (:func:`~mbrl_control.export.onnx_export.export_planner`) and run through onnxruntime on the
  same episode seeds ``seed .. seed + episodes - 1`` (paired: same initial states,
  randomization draws, pushes and planner noise seed), mean ± std return, success rate and
  the planner's latency p50 (:func:`~mbrl_control.pipeline.evaluate.evaluate`, 1 thread);
- training time (s, wall clock of :func:`~mbrl_control.models.trainer.fit`, early stopping
  included) and the epochs it ran;
- with ``ood``: one-step nMSE on the shifted store, the disagreement ratio shifted / in
  distribution (ensemble only) and the AUROC of the windowed surprise, shifted transitions
  against the test episodes' (probabilistic arms only).

Every arm's graph has the same planner sizes: with one member the planner's particles all
follow that member (without aleatoric sampling they are identical), so the model work per
planning step is the same as the ensemble's. The deterministic arm's graph is the torch
module traced as it is (the Gemm re-expression needs a Gaussian head), so its latency is
that of a slightly different graph layout.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

KS = (1, 5, 10, 25)
HOLDOUT_FRACTION = 0.2
"""Share of the store's episodes held out (at least 2: half calibrate, half test)."""
LEVEL = "0.9"
"""The interval whose coverage the table shows (the JSON has 0.5 / 0.9 / 0.95)."""


@dataclass(frozen=True)
class Arm:
    """One model choice: ``members`` (None: the task planner's), Gaussian head or not,
    per-member bootstrap or not."""

    name: str
    label: str
    members: int | None
    probabilistic: bool
    bootstrap: bool


ARMS = (
    Arm("deterministic", "deterministic MLP (D)", 1, False, False),
    Arm("probabilistic", "probabilistic MLP (P)", 1, True, False),
    Arm("ensemble", "probabilistic ensemble (PE)", None, True, True),
)


def holdout_episodes(episode_id: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The held-out episode ids (sorted): ``max(2, round(fraction * n))`` of the ``n``
    episodes, drawn with ``seed``. ``ValueError`` when fewer than 3 episodes remain."""
    ids = np.unique(np.asarray(episode_id).reshape(-1))
    n_held = max(2, round(fraction * len(ids)))
    if len(ids) < n_held + 1:
        raise ValueError(
            f"the store has {len(ids)} episode(s); the model table needs at least 3 (2 held "
            f"out: one to calibrate, one to test; the rest to train)"
        )
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(ids, n_held, replace=False))


def _log(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def _warm_up(task: Any, sizes: dict[str, Any], data: Any) -> None:
    """One short throwaway fit, so that torch's one-time start-up costs (kernels, autograd,
    allocator) are not charged to whichever arm trains first."""
    from mbrl_control.models.config import EnsembleConfig, TrainConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.models.trainer import fit

    model = Ensemble(EnsembleConfig.for_task(task, **{**sizes, "members": 2}))
    n = min(len(data), 512)
    fit(model, data.obs[:n], data.action[:n], data.next_obs[:n], None,
        TrainConfig(max_epochs=2, holdout_fraction=0.0))  # fmt: skip


def _calibration(model: Any, data: Any, held: np.ndarray, ks: Sequence[int]) -> dict | None:
    """Variance scaling fitted on the even-position held-out episodes, coverage raw and
    calibrated on the odd ones (``calibration_report``); None without a segment."""
    from mbrl_control.uncertainty import calibration as cal

    fit_ids, test_ids = cal.split_episodes(held)
    fit, test = np.isin(data.episode_id, fit_ids), np.isin(data.episode_id, test_ids)
    try:
        cal.calibrate(model, data.obs[fit], data.action[fit], data.next_obs[fit],
                      data.episode_id[fit])  # fmt: skip
        report = cal.calibration_report(
            model, data.obs[test], data.action[test], data.next_obs[test],
            data.episode_id[test], ks,
        )  # fmt: skip
    except ValueError:  # episodes too short for a segment
        model.set_calibration(None)
        return None
    return {**report, "calibrate_episodes": fit_ids.tolist(), "test_episodes": test_ids.tolist()}


def _ood_scores(model: Any, data: Any, test_ids: np.ndarray, ood: Any, window: int) -> float:
    """AUROC of the windowed (``window`` transitions) calibrated surprise: the shifted
    store's transitions against the in-distribution test episodes'."""
    from mbrl_control.pipeline.uncertainty_study import auroc, one_step_scores
    from mbrl_control.uncertainty.quantities import windowed

    rows = np.isin(data.episode_id, test_ids)
    s_in, _ = one_step_scores(model, data.obs[rows], data.action[rows], data.next_obs[rows])
    s_out, _ = one_step_scores(model, ood.obs, ood.action, ood.next_obs)
    return auroc(windowed(s_out, ood.episode_id, window),
                 windowed(s_in, data.episode_id[rows], window))  # fmt: skip


def run_model_choice(
    task_ref: str,
    data_dir: str | Path,
    out: str | Path,
    *,
    ood_dir: str | Path | None = None,
    profile: str | None = None,
    episodes: int = 10,
    seed: int = 1000,
    train_seed: int = 0,
    max_epochs: int | None = None,
    ks: Sequence[int] = KS,
    holdout_fraction: float = HOLDOUT_FRACTION,
    threads: int = 1,
    quiet: bool = False,
) -> dict[str, Any]:
    """Train, score, export and evaluate the three arms (module doc); write
    ``out/model_choice.json`` and ``out/model_choice.md`` (plus each arm's ``model.pt`` and
    ``planner.onnx`` under ``out/<arm>/``) and return the JSON dict.

    Args: task_ref a built-in name or task file; data_dir the store to train on (e.g.
    random episodes on the task's profile); ood_dir an optional store of a shifted profile;
    profile of the closed-loop episodes (None: the task's ``dr_profile``); episodes, seed:
    the paired evaluation episodes' count and first seed; train_seed: initialization, split
    and batches of all arms; max_epochs: the training bound (None: ``TrainConfig``'s, with
    early stopping).
    """
    import torch

    from mbrl_control.control.config import ControllerConfig
    from mbrl_control.data.store import TransitionStore
    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.checkpoint import save_checkpoint
    from mbrl_control.models.config import EnsembleConfig, TrainConfig
    from mbrl_control.models.cost_targets import transition_costs
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.models.evaluation import validate
    from mbrl_control.models.trainer import fit
    from mbrl_control.pipeline.evaluate import evaluate
    from mbrl_control.planning.presets import planner_setup
    from mbrl_control.tasks import get_task

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task = get_task(task_ref)
    if profile is None:
        from mbrl_sim.env import task_profile

        profile = str(task_profile(task))
    data = TransitionStore(data_dir).load()
    stores = [("--data", data_dir, data)]
    ood = None
    if ood_dir is not None:
        ood = TransitionStore(ood_dir).load()
        stores.append(("--ood-data", ood_dir, ood))
    for flag, path, store in stores:
        if len(store) == 0:
            raise ValueError(f"{flag} {path}: the store has no transitions")
        if store.obs.shape[1] != task.obs_dim or store.action.shape[1] != task.act_dim:
            raise ValueError(
                f"{flag} {path}: obs {store.obs.shape[1]} / action {store.action.shape[1]} dims "
                f"do not match task {task.name} ({task.obs_dim} / {task.act_dim})"
            )
    held = holdout_episodes(data.episode_id, holdout_fraction, train_seed)
    rows = np.isin(data.episode_id, held)
    preset, sizes, planner_cfg = planner_setup(task)
    sizes = {k: v for k, v in sizes.items() if k not in ("obs_dim", "act_dim")}
    cost = None
    if task.cost_source == "learned":
        cost = transition_costs(task, data.obs, data.action, data.next_obs, data.goal)
    window = ControllerConfig().surprise_window
    ood_arrays = None if ood is None else (ood.obs, ood.action, ood.next_obs)

    _warm_up(task, sizes, data)  # the first arm's training time must not include torch's
    results = []
    for arm in ARMS:
        members = int(arm.members or sizes["members"])
        _log(quiet, f"model table: {arm.label}, {members} member(s)")
        cfg = EnsembleConfig.for_task(
            task, **{**sizes, "members": members}, seed=train_seed,
            probabilistic=arm.probabilistic, reward_head=cost is not None,
        )  # fmt: skip
        torch.manual_seed(train_seed)
        model = Ensemble(cfg)
        train_cfg = TrainConfig(
            seed=train_seed, bootstrap=arm.bootstrap,
            **({"max_epochs": max_epochs} if max_epochs else {}),
        )  # fmt: skip
        t0 = time.perf_counter()
        metrics = fit(
            model, data.obs, data.action, data.next_obs, data.episode_id, train_cfg,
            cost=cost, holdout_episodes=held.tolist(), rng=np.random.default_rng(train_seed),
            quiet=quiet,
        )  # fmt: skip
        train_s = time.perf_counter() - t0
        report = validate(
            model, data.obs[rows], data.action[rows], data.next_obs[rows],
            data.episode_id[rows], ood=ood_arrays, rollout_ks=ks, obs_names=task.obs_names,
        )  # fmt: skip
        calib = _calibration(model, data, held, ks) if arm.probabilistic else None
        row: dict[str, Any] = {
            "arm": arm.name,
            "label": arm.label,
            "members": members,
            "probabilistic": arm.probabilistic,
            "bootstrap": arm.bootstrap,
            "train_s": train_s,
            "epochs": metrics["epochs"],
            "best_epoch": metrics["best_epoch"],
            "one_step": {
                "nmse": report["holdout"]["nmse"],
                "nmse_per_dim": report["holdout"]["nmse_per_dim"],
                "nll": report["holdout"]["nll"] if arm.probabilistic else None,
            },
            "k_step": {"k": report["rollout"]["k"], "nmse": report["rollout"]["nmse"]},
            "calibration": calib,
            "coverage90": None if calib is None else {
                "k": calib["k"],
                "raw": calib["raw"]["coverage"][LEVEL],
                "calibrated": (calib["calibrated"] or {}).get("coverage", {}).get(LEVEL),
            },
            # one member: exactly 0 (the population variance of one mean)
            "disagreement_in": report["disagreement"]["in_distribution"]["mean"],
        }  # fmt: skip
        if ood is not None:
            ratio = report["disagreement"]["ratio_ood_to_in"] if members > 1 else None
            test_ids = np.asarray(calib["test_episodes"]) if calib else held
            row["ood"] = {
                "nmse": report["ood"]["nmse"],
                "disagreement_ratio": ratio,
                "surprise_window": window,
                "surprise_auroc": _ood_scores(model, data, test_ids, ood, window)
                if arm.probabilistic else None,
            }  # fmt: skip
        arm_dir = out / arm.name
        provenance = {
            "task": task.name,
            "data": str(Path(data_dir).resolve()),
            "holdout_episodes": held.tolist(),
            "train_config": train_cfg.to_dict(),
            "study": "model_choice",
            "arm": arm.name,
        }
        save_checkpoint(arm_dir / "model.pt", model, provenance)
        planner = export_planner(
            model, task, planner_cfg, arm_dir / "planner.onnx", provenance=provenance
        )
        summary = evaluate(planner, task_ref, profile, episodes, seed=seed, threads=threads,
                           quiet=quiet)  # fmt: skip
        row["closed_loop"] = {
            "mean_return": summary["mean_return"],
            "std_return": summary["std_return"],
            "returns": summary["returns"],
            "success_rate": summary["success_rate"],
            "successes": summary["successes"],
            "latency_p50_ms": summary["latency_ms"]["p50"],
            "latency_p99_ms": summary["latency_ms"]["p99"],
            "rail_hits": summary["rail_hits"],
        }
        row["planner"] = str(planner)
        results.append(row)
        obs_names = report["obs_names"]

    result = {
        "task": task.name,
        "task_ref": task_ref,
        "data": str(Path(data_dir).resolve()),
        "ood_data": None if ood_dir is None else str(Path(ood_dir).resolve()),
        "n_transitions": len(data),
        "n_episodes": len(np.unique(data.episode_id)),
        "holdout_episodes": held.tolist(),
        "n_holdout_rows": int(rows.sum()),
        "obs_names": obs_names,
        "train_seed": train_seed,
        "max_epochs": max_epochs or TrainConfig().max_epochs,
        "preset": preset,
        "model_sizes": sizes,
        "planner_config": planner_cfg.to_dict(),
        "profile": profile,
        "episodes": episodes,
        "episode_seeds": [seed, seed + episodes - 1],
        "ks": list(ks),
        "arms": results,
    }
    (out / "model_choice.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "model_choice.md").write_text(markdown_table(result) + "\n")
    return result


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def markdown_table(result: dict[str, Any]) -> str:
    """The study as markdown: accuracy, calibration, closed loop and cost, and (with
    ``--ood-data``) the shifted store, one row per arm."""
    arms = result["arms"]
    ks = arms[0]["k_step"]["k"]
    names = result["obs_names"]
    lines = [
        f"**Accuracy** ({result['task']}; held-out episodes {result['holdout_episodes']}, "
        f"{result['n_holdout_rows']} transitions; one-step: nMSE of the predicted change; "
        "k-step: open-loop nMSE of the state under the recorded actions)",
        "",
        "| model | one-step nMSE | " + " | ".join(names) + " | "
        + " | ".join(f"k={k}" for k in ks) + " |",
        "|---|---:|" + "---:|" * (len(names) + len(ks)),
    ]  # fmt: skip
    for a in arms:
        dims = " | ".join(_f(x, 4) for x in a["one_step"]["nmse_per_dim"])
        kstep = " | ".join(_f(x, 4) for x in a["k_step"]["nmse"])
        lines.append(f"| {a['label']} | {_f(a['one_step']['nmse'], 4)} | {dims} | {kstep} |")
    lines += [
        "",
        "**Calibration** (coverage of the 90 % central interval on the test half of the "
        "held-out episodes, raw → after per-horizon variance scaling fitted on the other "
        "half; nominal 0.90) and the one-step disagreement (members' std / the change's std, "
        "mean over held-out rows; 0 for one member)",
        "",
        "| model | " + " | ".join(f"k={k}" for k in ks) + " | disagreement |",
        "|---|" + "---:|" * (len(ks) + 1),
    ]
    for a in arms:
        cov = a["coverage90"]
        if cov is None:
            why = "n/a (no predictive variance)" if not a["probabilistic"] else "n/a (no segment)"
            cells = [why] * len(ks)
        else:
            cal = cov["calibrated"] or [None] * len(cov["raw"])
            by_k = {k: f"{_f(r, 2)} → {_f(c, 2)}" for k, r, c in zip(cov["k"], cov["raw"], cal)}
            cells = [by_k.get(k, "n/a") for k in ks]
        cells.append(_f(a["disagreement_in"], 4))
        lines.append(f"| {a['label']} | " + " | ".join(cells) + " |")
    first, last = result["episode_seeds"]
    lines += [
        "",
        f"**Closed loop and cost** (planner `{result['preset']}` of the task, "
        f"profile `{Path(result['profile']).stem}`, paired episode seeds {first}-{last}; "
        "training: wall clock with early stopping)",
        "",
        "| model | members | return (mean ± std) | success | training (s) | epochs | "
        "planner p50 (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for a in arms:
        c = a["closed_loop"]
        n = len(c["successes"])
        lines.append(
            f"| {a['label']} | {a['members']} | {c['mean_return']:.1f} ± {c['std_return']:.1f} | "
            f"{sum(c['successes'])}/{n} | {a['train_s']:.1f} | {a['epochs']} | "
            f"{c['latency_p50_ms']:.2f} |"
        )
    if result.get("ood_data"):
        window = arms[0]["ood"]["surprise_window"]
        lines += [
            "",
            f"**Shifted store** (`{result['ood_data']}`; disagreement: mean shifted / in "
            f"distribution; surprise AUROC: windowed over {window} transitions, shifted vs "
            "the test episodes)",
            "",
            "| model | one-step nMSE | disagreement ratio | surprise AUROC |",
            "|---|---:|---:|---:|",
        ]
        for a in arms:
            o = a["ood"]
            dis = "n/a (one member: 0)" if o["disagreement_ratio"] is None else (
                f"{o['disagreement_ratio']:.2f}")  # fmt: skip
            sur = "n/a (no predictive variance)" if o["surprise_auroc"] is None else (
                f"{o['surprise_auroc']:.3f}")  # fmt: skip
            lines.append(f"| {a['label']} | {o['nmse']:.4f} | {dis} | {sur} |")
    return "\n".join(lines)
