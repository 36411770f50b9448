"""The uncertainty study (issue 17): calibration per horizon, OOD detection, the MBPO stop.

Given a trained ensemble, held-out in-distribution episodes (collected by the planner, so on
its own state distribution) and episodes of a shifted profile (``reality_gap``, same
planner), it measures and returns as JSON:

- ``split``: the held-out episodes sorted by id; even positions fit the calibration, odd
  positions test it (:func:`~mbrl_control.uncertainty.calibration.split_episodes`);
- ``calibration``: for k in ``ks``, coverage of the 50/90/95 % central intervals and their
  sharpness (mean width / target std) on the test episodes, raw and for each method
  (variance scaling, split-conformal at 90 %, isotonic), Spearman(predicted std, |error|)
  per k (raw; a per-k rescaling leaves the ranks within k nearly unchanged), and the same
  coverage on the shifted episodes with the in-distribution fit;
- ``ood``: AUROC of the windowed surprise (one-step, calibrated; windows ``windows``
  transitions, trailing, within an episode) and of the windowed epistemic disagreement,
  shifted transitions against in-distribution test transitions;
- ``mbpo_stop``: percentiles of the calibrated one-step epistemic disagreement in
  distribution and shifted (what a branch stop threshold cuts).

``python -m mbrl_control.pipeline.uncertainty_study --checkpoint M --data D --ood-data S``
prints it (``--out`` also writes the calibrated checkpoint and the JSON).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.cli import ArgumentParser
from mbrl_control.uncertainty import calibration as cal
from mbrl_control.uncertainty.quantities import surprise, windowed

KS = (1, 5, 10, 25)
WINDOWS = (1, 10, 25, 50)


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve of a score (higher = more positive): the probability that a
    positive row scores above a negative one (ties count half)."""
    from scipy.stats import rankdata

    pos, neg = np.asarray(positive, np.float64), np.asarray(negative, np.float64)
    ranks = rankdata(np.r_[pos, neg])
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def one_step_scores(model: Any, obs, action, next_obs) -> tuple[np.ndarray, np.ndarray]:
    """Per-transition surprise (calibrated k = 1 predictive) and calibrated one-step epistemic
    disagreement, ``(N,)`` each, with the one definition of each."""
    import torch

    from mbrl_control.models.evaluation import member_predictions
    from mbrl_control.uncertainty.quantities import epistemic_disagreement, total_predictive

    p = model.cfg.predicted_dim
    mean, var = member_predictions(model, obs, action)
    mean, var = mean[..., :p].double(), var[..., :p].double()
    scale, std = model.var_scale[0].double(), model.target_std.double()
    mix, total = total_predictive(mean, var, scale)
    truth = torch.as_tensor(np.asarray(next_obs)[:, :p], dtype=torch.float64)
    return (
        surprise(truth, mix, total, std).numpy(),
        epistemic_disagreement(mean, std, scale).numpy(),
    )


def spearman_per_k(data: cal.KStep) -> list[float | None]:
    """Spearman correlation across segments of the predicted std and |error| (both in target
    std units, averaged over dims), per horizon."""
    from scipy.stats import spearmanr

    spread = (np.sqrt(data.var) / data.target_std).mean(-1)  # (S, K)
    err = (np.abs(data.err) / data.target_std).mean(-1)
    return [float(spearmanr(spread[:, k], err[:, k]).statistic) for k in range(data.horizon)]


def run_study(
    model: Any,
    data: Any,
    ood: Any,
    *,
    ks: Sequence[int] = KS,
    windows: Sequence[int] = WINDOWS,
    method: str = "variance_scaling",
    max_segments: int = 2000,
) -> dict[str, Any]:
    """The study (module doc) on ``data`` / ``ood`` (``Transitions`` of the store). Leaves
    ``model`` calibrated with ``method`` fitted on the calibration episodes."""
    horizon = max(ks)
    fit_ids, test_ids = cal.split_episodes(data.episode_id)
    rows = {"fit": np.isin(data.episode_id, fit_ids), "test": np.isin(data.episode_id, test_ids)}
    model.set_calibration(None)

    def kstep(sel, src):
        return cal.kstep_predictions(model, src.obs[sel], src.action[sel], src.next_obs[sel],
                                     src.episode_id[sel], horizon, max_segments)  # fmt: skip

    fit_on, test = kstep(rows["fit"], data), kstep(rows["test"], data)
    shifted = kstep(np.ones(len(ood.obs), bool), ood)
    idx = [k - 1 for k in ks if k <= test.horizon]
    fitted = {m: cal.fit_scale(fit_on, m) for m in cal.EXPORTABLE}
    fitted["isotonic"] = cal.fit_isotonic(fit_on)

    def at_ks(stats: dict[str, Any]) -> dict[str, Any]:
        return {
            part: {lvl: [v[i] for i in idx] for lvl, v in d.items()} for part, d in stats.items()
        }

    calib = {"k": [i + 1 for i in idx], "raw": at_ks(cal.interval_stats(test))}
    for m, f in fitted.items():
        calib[m] = at_ks(cal.interval_stats(test, m, f))
    calib["spearman_std_vs_error"] = [spearman_per_k(test)[i] for i in idx]
    calib["shifted_raw"] = at_ks(cal.interval_stats(shifted))
    calib["shifted_" + method] = at_ks(cal.interval_stats(shifted, method, fitted[method]))

    # install the chosen calibration, then score transitions one step at a time
    model.set_calibration(fitted[method], {"method": method, "episodes": fit_ids.tolist()})
    test_rows = rows["test"]
    s_in, d_in = one_step_scores(model, data.obs[test_rows], data.action[test_rows],
                                 data.next_obs[test_rows])  # fmt: skip
    s_out, d_out = one_step_scores(model, ood.obs, ood.action, ood.next_obs)
    ood_report: dict[str, Any] = {"windows": list(windows), "surprise_auroc": [],
                                  "disagreement_auroc": []}  # fmt: skip
    for w in windows:
        for name, a, b in (("surprise", s_out, s_in), ("disagreement", d_out, d_in)):
            pos = windowed(a, ood.episode_id, w)
            neg = windowed(b, data.episode_id[test_rows], w)
            ood_report[f"{name}_auroc"].append(auroc(pos, neg))
    ood_report["surprise_in"] = _percentiles(s_in)
    ood_report["surprise_shifted"] = _percentiles(s_out)
    ood_report["windowed_surprise"] = {}
    for w in windows:  # what a controller threshold on the windowed score would see
        a = windowed(s_in, data.episode_id[test_rows], w)
        b = windowed(s_out, ood.episode_id, w)
        ood_report["windowed_surprise"][str(w)] = {
            "in_p99": float(np.percentile(a, 99)), "in_max": float(a.max()),
            "shifted_p10": float(np.percentile(b, 10)), "shifted_p50": float(np.percentile(b, 50)),
            "shifted_share_above_in_max": float((b > a.max()).mean()),
        }  # fmt: skip
    return {
        "split": {"calibrate_episodes": fit_ids.tolist(), "test_episodes": test_ids.tolist(),
                  "shifted_episodes": np.unique(ood.episode_id).tolist(),
                  "segments": {"fit": len(fit_on.err), "test": len(test.err),
                               "shifted": len(shifted.err)}},
        "method": method,
        "var_scale_k1": fitted[method][0].tolist(),
        "calibration": calib,
        "ood": ood_report,
        "mbpo_stop": {"in_distribution": _percentiles(d_in), "shifted": _percentiles(d_out)},
    }  # fmt: skip


def plan_disagreement(
    model: Any, reference_planner: str, stores: dict[str, Any], out: Path, states: int = 150
) -> dict[str, Any]:
    """The planner graph's ``disagreement`` output (calibrated, mean over the horizon) when
    planning from ``states`` evenly spaced observations of each store: ``model`` exported
    with the task and planner config of ``reference_planner`` to ``out/planner_calibrated.onnx``
    and run by onnxruntime (fresh warm start per state). Percentiles per store."""
    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.planning.config import PlannerConfig
    from mbrl_control.tasks.portable import task_from_metadata

    ref = OnnxPlanner(reference_planner, validate=False)
    cfg = PlannerConfig.from_mapping(ref.metadata["planner_config"])
    task = task_from_metadata(ref.metadata["task"], reference_planner)
    path = export_planner(model, task, cfg, out / "planner_calibrated.onnx")
    planner = OnnxPlanner(path, seed=0)
    result: dict[str, Any] = {"planner": str(path), "states_per_store": states}
    for name, data in stores.items():
        values = []
        for row in np.linspace(0, len(data.obs) - 1, states).astype(int):
            planner.reset()
            planner.act(data.obs[row])
            values.append(planner.last_info["disagreement"])
        result[name] = _percentiles(np.asarray(values))
    return result


def _percentiles(x: np.ndarray) -> dict[str, float]:
    return {f"p{q}": float(np.percentile(x, q)) for q in (10, 50, 90, 99)}


def _rows(data: Any, mask: np.ndarray) -> Any:
    """The rows ``mask`` of a store's transitions (only obs is read by the plan probe)."""
    from types import SimpleNamespace

    return SimpleNamespace(obs=data.obs[mask])


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m mbrl_control.pipeline.uncertainty_study")
    parser.add_argument("--checkpoint", required=True, help="ensemble checkpoint (model.pt)")
    parser.add_argument("--data", required=True, help="held-out in-distribution store")
    parser.add_argument("--ood-data", required=True, help="store of a shifted profile")
    parser.add_argument("--method", choices=cal.EXPORTABLE, default="variance_scaling")
    parser.add_argument("--out", help="write uncertainty_study.json and model_calibrated.pt")
    parser.add_argument(
        "--planner", help="planner file whose config to export the calibrated model with "
        "(needs --out): also measures the graph's plan disagreement on both stores",
    )  # fmt: skip
    args = parser.parse_args(argv)
    import torch

    from mbrl_control.data.store import TransitionStore
    from mbrl_control.models.checkpoint import load_checkpoint, save_checkpoint

    torch.set_num_threads(1)
    model, prov = load_checkpoint(args.checkpoint)
    data, ood = TransitionStore(args.data).load(), TransitionStore(args.ood_data).load()
    report = run_study(model, data, ood, method=args.method)
    report["inputs"] = {"checkpoint": args.checkpoint, "data": args.data, "ood_data": args.ood_data}
    if args.planner and not args.out:
        parser.error("--planner needs --out (where the calibrated planner is written)")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        if args.planner:
            test_ids = report["split"]["test_episodes"]
            held = _rows(data, np.isin(data.episode_id, test_ids))
            report["plan_disagreement"] = plan_disagreement(
                model, args.planner, {"in_distribution": held, "shifted": ood}, out
            )
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        (out / "uncertainty_study.json").write_text(text + "\n")
        save_checkpoint(out / "model_calibrated.pt", model, {**prov, "calibrated_on": args.data})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
