"""Validation report of a trained ensemble: accuracy, calibration, compounding error, OOD.

Shape letters: E members, N rows, O obs dim, A action dim, S rollout segments, K rollout steps.

Point metrics use the ensemble's moment-matched predictive (the Gaussian with the mean and
variance of the equal-weight mixture of the E member Gaussians). Errors are in raw observation
units; ``nmse`` divides them by a data variance so that dimensions are comparable (stated per
metric). Rows of one episode must be consecutive and in time order (as the transition store
writes them) for the k-step rollouts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mbrl_control.models.ensemble import Ensemble, mixture_moments
from mbrl_control.uncertainty.calibration import calibration_report
from mbrl_control.uncertainty.quantities import epistemic_disagreement

NOMINAL = {1: math.erf(1 / math.sqrt(2)), 2: math.erf(2 / math.sqrt(2))}  # 0.6827, 0.9545
CHUNK = 16384
VAR_FLOOR = 1e-6
"""A dimension's reference variance in the normalized errors is at least this fraction of
the largest dimension's (and at least 1e-12)."""
"""Rows per forward pass."""

StepFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def reference_variance(x: torch.Tensor) -> torch.Tensor:
    """Per-dimension variance of ``x (N, D)`` used to normalize errors, ``(D,)``, floored at
    ``VAR_FLOOR`` times the largest dimension's: a (near-)constant dimension (a locked
    joint) would otherwise divide a rounding-level error by ~0 and swamp every mean."""
    var = x.var(0)
    return var.clamp_min(max(VAR_FLOOR * float(var.max()), 1e-12))


def _tensor(x: Any) -> torch.Tensor:
    """Array or tensor as a float32 tensor."""
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)


@torch.no_grad()
def member_predictions(model: Ensemble, obs: Any, action: Any) -> tuple[torch.Tensor, ...]:
    """Per-member next-obs mean and variance ``(E, N, O)`` each, computed in chunks."""
    obs = _tensor(obs)
    action = _tensor(action).reshape(obs.shape[0], -1)
    parts = [
        model.predict(obs[i : i + CHUNK], action[i : i + CHUNK]) for i in range(0, len(obs), CHUNK)
    ]
    return torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 1)


def point_metrics(
    mean: torch.Tensor, var: torch.Tensor, obs: torch.Tensor, next_obs: torch.Tensor
) -> dict[str, Any]:
    """One-step metrics of member predictions ``mean, var (E, N, O)`` against ``next_obs (N, O)``.

    ``mse_per_dim`` is the squared error of the predictive mean (raw units²); ``nmse_per_dim``
    divides it by the variance of the true change ``next_obs - obs`` (1.0 = no better than
    predicting the average change; floored, see :func:`reference_variance`). ``nll`` is the
    Gaussian NLL of the moment-matched predictive in nats per dimension.
    ``within_{1,2}sigma`` is the fraction of true values inside the predictive ±1σ / ±2σ
    interval (nominal 0.683 / 0.954 when calibrated).
    """
    mu, v = mixture_moments(mean, var)  # (N, O) each
    err = next_obs - mu
    mse = err.square().mean(0)  # (O,)
    delta_var = reference_variance(next_obs - obs)
    nll = 0.5 * (math.log(2 * math.pi) + v.log() + err.square() / v)
    z = err.abs() / v.sqrt()
    w1, w2 = (z <= 1).float().mean(0), (z <= 2).float().mean(0)  # (O,)
    return {
        "mse_per_dim": mse.tolist(),
        "nmse_per_dim": (mse / delta_var).tolist(),
        "mse": float(mse.mean()),
        "nmse": float((mse / delta_var).mean()),
        "nll": float(nll.mean()),
        "calibration": {
            "within_1sigma": float(w1.mean()),
            "within_2sigma": float(w2.mean()),
            "nominal_1sigma": NOMINAL[1],
            "nominal_2sigma": NOMINAL[2],
            "within_1sigma_per_dim": w1.tolist(),
            "within_2sigma_per_dim": w2.tolist(),
        },
    }


def disagreement_rows(model: Ensemble, mean: torch.Tensor) -> torch.Tensor:
    """Epistemic disagreement ``(...)`` of one-step member means ``(E, ..., P)`` (the
    predicted dims) as :func:`~mbrl_control.uncertainty.quantities.epistemic_disagreement`
    defines it, calibrated at k = 1: the planner penalty's and the MBPO stop's quantity."""
    p = mean.shape[-1]
    return epistemic_disagreement(mean, model.target_std[:p], model.var_scale[0, :p])


def disagreement(model: Ensemble, mean: torch.Tensor) -> dict[str, float]:
    """:func:`disagreement_rows` of one-step member means ``(E, N, P)``: its mean, median and
    90th percentile over the N rows."""
    spread = disagreement_rows(model, mean)  # (N,)
    return {
        "mean": float(spread.mean()),
        "median": float(spread.median()),
        "p90": float(torch.quantile(spread, 0.9)),
    }


def segment_starts(episode_id: np.ndarray, k: int) -> np.ndarray:
    """Rows ``t`` such that rows ``t .. t+k-1`` lie in one episode, ``(S,)``."""
    n = len(episode_id)
    if k > n:
        return np.zeros(0, dtype=np.int64)
    t = np.arange(n - k + 1)
    same = episode_id[t] == episode_id[t + k - 1]
    # episodes are contiguous, so equal ids at both ends means no episode boundary between
    return t[same]


@torch.no_grad()
def open_loop_rollout(
    step: StepFn, members: int, obs0: torch.Tensor, actions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Feed the model its own predictions under the recorded actions.

    Args: ``step(obs (E, S, O), action (E, S, A)) -> (mean (E, S, O), logvar)`` (an
    :class:`Ensemble`), obs0 ``(S, O)`` start states, actions ``(S, K, A)`` real actions.
    Returns: predicted states ``(S, K, O)`` with ensemble-mean propagation (every member
    predicts from the same state, the next state is the mean of their means; entry k-1 is
    the k-step prediction), and the members' spread ``(S, K, O)``: the variance across
    members of their own k-step predictions, each member fed its own mean prediction (the
    ensemble's epistemic estimate of its k-step error). One model call per step does both.
    Third: the members' one-step means ``(E, S, K, O)`` from the shared (ensemble-mean) state
    at each step: what an MBPO branch's disagreement stop sees at its k-th step.
    """
    s = obs0.shape[0]
    mean_state, own = obs0, obs0.expand(members, *obs0.shape)  # (S, O), (E, S, O)
    out, spread, shared = [], [], []
    for i in range(actions.shape[1]):  # loop over time only
        a = actions[:, i].expand(members, s, -1)  # (E, S, A)
        both = torch.cat([mean_state.expand(members, *mean_state.shape), own], dim=1)
        mean, _ = step(both, torch.cat([a, a], dim=1))  # (E, 2S, O)
        shared.append(mean[:, :s])
        mean_state, own = mean[:, :s].mean(0), mean[:, s:]
        out.append(mean_state)
        spread.append(own.var(0, unbiased=False))
    return torch.stack(out, 1), torch.stack(spread, 1), torch.stack(shared, 2)


@torch.no_grad()
def member_rollout(
    step: StepFn, obs0: torch.Tensor, actions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each member fed its own mean prediction under the recorded actions (as a TS∞ particle
    that follows its member's mean): obs0 ``(S, O)``, actions ``(S, K, A)`` ->
    member means and variances ``(E, S, K, O)`` each (entry k-1: the k-step prediction, with
    the member's one-step variance at that step)."""
    members = step.members
    own = obs0.expand(members, *obs0.shape)  # (E, S, O)
    means, variances = [], []
    for i in range(actions.shape[1]):  # loop over time only
        own, logvar = step(own, actions[:, i].expand(members, *actions[:, i].shape))
        means.append(own)
        variances.append(logvar.exp())
    return torch.stack(means, 2), torch.stack(variances, 2)


def rollout_errors(
    step: StepFn,
    members: int,
    obs: np.ndarray,
    action: np.ndarray,
    next_obs: np.ndarray,
    episode_id: np.ndarray,
    ks: Sequence[int],
    max_segments: int = 2000,
    predicted_dim: int | None = None,
    stop_threshold: float | None = None,
) -> dict[str, Any]:
    """k-step open-loop error for each k in ``ks``, on one common set of episode segments.

    Segments start at rows with at least ``max(k)`` rows left in their episode (the largest k
    any episode allows; longer ks are listed in ``skipped_k``), evenly thinned to at most
    ``max_segments``. ``mse[k]`` is the squared error of the k-step prediction against the
    recorded ``next_obs`` (raw units², mean over dims); ``nmse`` divides per dim by the
    variance of the observations first. ``spread_nmse`` is the members' spread in the same
    units as ``nmse`` (equal values: the ensemble knows how wrong its mean is), and
    ``error_spread_corr`` the Spearman rank correlation across segments of the k-step error
    with the spread (does disagreement tell the worse predictions apart?). Only the first
    ``predicted_dim`` dims are scored (default all: the shifted ``last_actions`` block is exact).

    For an ensemble (``step`` with ``target_std`` and ``var_scale``, as :class:`Ensemble`), also
    the MBPO branch stop's quantity along the same rollout: ``stop_disagreement`` (mean over
    segments) and ``stop_disagreement_p90`` at each k, the calibrated one-step epistemic
    disagreement (:func:`disagreement`, the planner penalty's and the stop's definition) of the
    members' predictions from the shared state at step k; ``error_disagreement_corr`` its
    Spearman correlation with the k-step error; with ``stop_threshold`` (MBPO's
    ``disagreement_threshold``), ``stopped_by_k``: the share of segments an MBPO branch along
    them would have stopped at or before step k.
    """
    ks = sorted(set(int(k) for k in ks))
    usable = [k for k in ks if len(segment_starts(episode_id, k))]
    result: dict[str, Any] = {"k": usable, "skipped_k": [k for k in ks if k not in usable]}
    if not usable:
        return {**result, "segments": 0, "mse": [], "nmse": [], "mse_per_dim": []}
    horizon = usable[-1]
    starts = segment_starts(episode_id, horizon)
    starts = starts[np.linspace(0, len(starts) - 1, min(max_segments, len(starts))).astype(int)]
    steps = starts[:, None] + np.arange(horizon)  # (S, K) row of each step
    rows = torch.from_numpy(steps)
    act = _tensor(action).reshape(len(action), -1)[rows]  # (S, K, A)
    obs0 = _tensor(obs)[torch.from_numpy(starts)]
    pred, spread, shared = open_loop_rollout(step, members, obs0, act)
    p = pred.shape[-1] if predicted_dim is None else predicted_dim
    pred, spread = pred[..., :p], spread[..., :p]
    truth = _tensor(next_obs)[rows][..., :p]  # (S, K, O')
    obs_var = reference_variance(_tensor(obs)[:, :p])  # (O',)
    sq_err = (pred - truth).square()  # (S, K, O)
    seg_err, seg_spread = ((x / obs_var).mean(-1) for x in (sq_err, spread))  # (S, K) each
    sq = sq_err.mean(0)  # (K, O)
    idx = [k - 1 for k in usable]
    result.update({
        "segments": len(starts),
        "mse": sq[idx].mean(-1).tolist(),
        "nmse": (sq[idx] / obs_var).mean(-1).tolist(),
        "mse_per_dim": sq[idx].tolist(),
        "spread_nmse": seg_spread[:, idx].mean(0).tolist(),
        "error_spread_corr": [_rank_corr(seg_err[:, i], seg_spread[:, i]) for i in idx],
    })  # fmt: skip
    if isinstance(step, Ensemble):
        dis = disagreement_rows(step, shared[..., :p])  # (S, K)
        result["stop_disagreement"] = dis[:, idx].mean(0).tolist()
        result["stop_disagreement_p90"] = torch.quantile(dis[:, idx], 0.9, dim=0).tolist()
        result["error_disagreement_corr"] = [_rank_corr(seg_err[:, i], dis[:, i]) for i in idx]
        if stop_threshold is not None:
            fired = (dis > stop_threshold).cummax(1).values  # (S, K): stopped at or before k
            result["stop_threshold"] = stop_threshold
            result["stopped_by_k"] = fired[:, idx].float().mean(0).tolist()
    return result


def _rank_corr(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Spearman correlation of two ``(S,)`` samples (None for fewer than 3 rows or a
    sample constant up to float rounding)."""
    from scipy.stats import spearmanr

    if a.numel() < 3 or any(float(x.std()) <= 1e-6 * float(x.abs().mean()) for x in (a, b)):
        return None
    return float(spearmanr(a.numpy(), b.numpy()).statistic)


def validate(
    model: Ensemble,
    obs: Any,
    action: Any,
    next_obs: Any,
    episode_id: Any,
    *,
    ood: tuple[Any, Any, Any] | None = None,
    rollout_ks: Sequence[int] = (1, 5, 10, 25),
    obs_names: Sequence[str] | None = None,
    max_segments: int = 2000,
) -> dict[str, Any]:
    """Validation report on hold-out episodes (JSON-ready dict).

    Args:
        model: trained ensemble.
        obs, action, next_obs, episode_id: hold-out transitions ``(N, O)``, ``(N, A)``,
            ``(N, O)``, ``(N,)``; rows of an episode consecutive and in time order.
        ood: ``(obs, action, next_obs)`` from another distribution (e.g. a wider
            randomization profile) for the disagreement comparison and OOD accuracy.
        rollout_ks: horizons of the open-loop compounding-error curve.
        obs_names: labels of the O observation dims (for the plot).

    Returns: ``{"holdout": point metrics, "rollout": k-step errors, "disagreement":
    {"in_distribution", "ood", "ratio_ood_to_in"}, "ood": point metrics | None,
    "uncertainty": k-step interval coverage raw vs calibrated, ...}`` (see
    :func:`point_metrics`, :func:`rollout_errors`, :func:`disagreement`,
    :func:`~mbrl_control.uncertainty.calibration.calibration_report`).
    """
    model.eval()
    p = model.cfg.predicted_dim  # the shifted last_actions block is exact: not scored
    obs_t, next_t = _tensor(obs), _tensor(next_obs)
    ids = np.asarray(episode_id).reshape(-1)
    mean, var = member_predictions(model, obs_t, action)
    names = list(obs_names) if obs_names else [f"obs{i}" for i in range(obs_t.shape[1])]
    report: dict[str, Any] = {
        "members": model.members,
        "obs_dim": model.cfg.obs_dim,
        "predicted_dim": p,
        "obs_names": names[:p],
        "n_rows": int(obs_t.shape[0]),
        "n_episodes": len(np.unique(ids)),
        "holdout": point_metrics(mean[..., :p], var[..., :p], obs_t[:, :p], next_t[:, :p]),
        "rollout": rollout_errors(
            model,
            model.members,
            np.asarray(obs),
            np.asarray(action),
            np.asarray(next_obs),
            ids,
            rollout_ks,
            max_segments,
            p,
        ),
    }
    dis_in = disagreement(model, mean[..., :p])
    dis: dict[str, Any] = {"in_distribution": dis_in, "ood": None, "ratio_ood_to_in": None}
    report["ood"] = None
    if ood is not None:
        o_obs, o_act, o_next = (_tensor(x) for x in ood)
        o_mean, o_var = member_predictions(model, o_obs, o_act)
        report["ood"] = {
            "n_rows": int(o_obs.shape[0]),
            **point_metrics(o_mean[..., :p], o_var[..., :p], o_obs[:, :p], o_next[:, :p]),
        }
        dis["ood"] = disagreement(model, o_mean[..., :p])
        dis["ratio_ood_to_in"] = dis["ood"]["mean"] / max(dis_in["mean"], 1e-12)
    report["disagreement"] = dis
    try:  # k-step interval coverage, raw and (a calibrated model) calibrated
        report["uncertainty"] = calibration_report(
            model, np.asarray(obs), np.asarray(action), np.asarray(next_obs), ids, rollout_ks,
            max_segments,
        )  # fmt: skip
    except ValueError:  # no episode segment (empty data)
        report["uncertainty"] = None
    return report


def write_report(report: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``model_report.json`` and ``model_report.png`` into ``out_dir``; return both paths."""
    from mbrl_control.diagnostics.model_report import plot_model_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "model_report.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    png_path = plot_model_report(report, out / "model_report.png")
    return json_path, png_path
