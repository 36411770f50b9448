"""Post-hoc recalibration of the ensemble's k-step predictive, fitted on held-out episodes.

Shape letters: S segments, K horizons (k = 1..K), P predicted dims.

The k-step predictive of a segment is the ensemble's own open-loop rollout under the recorded
actions, each member fed its own mean (as the TS∞ planner rollout), with the total predictive
variance of :func:`~mbrl_control.uncertainty.quantities.total_predictive` at each step (the
members' one-step variances there plus the spread of their k-step means). The raw spread is
several times too small at every k (the members share their errors), so a factor per horizon
and dim rescales it. Three recalibrations are measured (``pipeline/uncertainty_study.py``,
numbers in docs/uncertainty.md):

- ``variance_scaling``: ``c[k, d] = mean_s(err² / var)`` (the calibrated z has unit second
  moment);
- ``conformal``: split-conformal at ``level`` (default 0.9): ``c[k, d] = (q / z_level)²`` with
  q the ``ceil((n+1) level) / n`` empirical quantile of ``|err| / std`` (finite-sample
  coverage >= level for exchangeable episodes);
- ``isotonic``: Kuleshov et al. 2018: the empirical CDF of the PIT values ``Φ(err / std)``
  (the isotonic fit of the observed against the predicted CDF level), pooled over dims per k;
  its intervals are not a variance factor, so it is measured but not exported.

Chosen by measurement (docs/uncertainty.md): ``variance_scaling`` covered the held-out
cart-pole planner episodes closest to nominal at every k (90 % interval: 0.90 / 0.84 / 0.83
/ 0.84 at k = 1 / 5 / 10 / 25; conformal 0.89 / 0.81 / 0.81 / 0.81; isotonic 0.88 / 0.81 /
0.80 / 0.77), so it is the default of :func:`calibrate`.

``variance_scaling`` and ``conformal`` are a variance factor ``var_scale (K, P)``, which the
checkpoint stores and the planner graph multiplies into its disagreement and predictive
(:meth:`~mbrl_control.models.ensemble.Ensemble.set_calibration`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mbrl_control.uncertainty.quantities import epistemic_disagreement, total_predictive

METHODS = ("variance_scaling", "conformal", "isotonic")
EXPORTABLE = ("variance_scaling", "conformal")
LEVELS = (0.5, 0.9, 0.95)
"""Central-interval levels the reports state coverage for."""


def z_of(level: float) -> float:
    """Half-width in stds of the central Gaussian interval of probability ``level``."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


@dataclass(frozen=True)
class KStep:
    """k-step predictions on S segments: ``err (S, K, P)`` (truth - predictive mean, raw),
    ``var (S, K, P)`` uncalibrated total predictive variance, ``epistemic (S, K)`` uncalibrated
    disagreement, ``target_std (P,)``, and each segment's episode ``episode (S,)``."""

    err: np.ndarray
    var: np.ndarray
    epistemic: np.ndarray
    target_std: np.ndarray
    episode: np.ndarray

    @property
    def horizon(self) -> int:
        return self.err.shape[1]

    def take(self, rows: np.ndarray) -> KStep:
        """The segments ``rows`` (a boolean mask or indices)."""
        return KStep(self.err[rows], self.var[rows], self.epistemic[rows], self.target_std,
                     self.episode[rows])  # fmt: skip


def kstep_predictions(
    model: Any,
    obs: np.ndarray,
    action: np.ndarray,
    next_obs: np.ndarray,
    episode_id: np.ndarray,
    horizon: int = 25,
    max_segments: int = 2000,
) -> KStep:
    """Open-loop k-step predictions of ``model`` (an ``Ensemble``) for k = 1..K on segments of
    the episodes ``(N, ·)`` rows (rows of an episode consecutive, in time order). K is
    ``horizon``, or the longest episode's length if shorter; segments start at every row with K
    rows left in its episode, evenly thinned to ``max_segments``. ``ValueError`` without one."""
    import torch

    from mbrl_control.models.evaluation import member_rollout, segment_starts

    ids = np.asarray(episode_id).reshape(-1)
    _, counts = np.unique(ids, return_counts=True)
    k = min(int(horizon), int(counts.max()) if len(counts) else 0)
    starts = segment_starts(ids, k) if k > 0 else np.zeros(0, np.int64)
    if not len(starts):
        raise ValueError("no episode segment to predict on (empty data)")
    starts = starts[np.linspace(0, len(starts) - 1, min(max_segments, len(starts))).astype(int)]
    rows = starts[:, None] + np.arange(k)  # (S, K)
    p = model.cfg.predicted_dim
    obs_t = torch.as_tensor(np.asarray(obs, np.float32))
    act_t = torch.as_tensor(np.asarray(action, np.float32)).reshape(len(obs_t), -1)
    mean, var = member_rollout(model, obs_t[starts], act_t[torch.from_numpy(rows)])
    mean, var = mean[..., :p], var[..., :p]  # (E, S, K, P)
    mix, total = total_predictive(mean, var)
    truth = torch.as_tensor(np.asarray(next_obs, np.float32))[torch.from_numpy(rows)][..., :p]
    std = model.target_std.detach()
    return KStep(
        err=(truth - mix).numpy().astype(np.float64),
        var=total.numpy().astype(np.float64),
        epistemic=epistemic_disagreement(mean, std).numpy().astype(np.float64),
        target_std=std.numpy().astype(np.float64),
        episode=ids[starts],
    )


def fit_scale(data: KStep, method: str = "variance_scaling", level: float = 0.9) -> np.ndarray:
    """The variance factor ``(K, P)`` of an exportable ``method`` fitted on ``data``."""
    z2 = data.err**2 / data.var  # (S, K, P)
    if method == "variance_scaling":
        scale = z2.mean(0)
    elif method == "conformal":
        n = z2.shape[0]
        q = min(1.0, math.ceil((n + 1) * level) / n)
        scale = np.quantile(np.sqrt(z2), q, axis=0) ** 2 / z_of(level) ** 2
    else:
        raise ValueError(f"method={method!r} is not a variance factor; allowed: {EXPORTABLE}")
    return np.clip(scale, 1e-6, 1e12)


def fit_isotonic(data: KStep) -> np.ndarray:
    """The sorted calibration PIT values ``(K, S·P)`` per horizon: their empirical CDF is the
    isotonic recalibration map R (R(p) = share of PIT <= p)."""
    from scipy.stats import norm

    pit = norm.cdf(data.err / np.sqrt(data.var))  # (S, K, P)
    return np.sort(pit.transpose(1, 0, 2).reshape(data.horizon, -1), axis=1)


def interval_stats(
    data: KStep,
    method: str = "raw",
    fitted: np.ndarray | None = None,
    levels: Sequence[float] = LEVELS,
) -> dict[str, Any]:
    """Coverage and sharpness of central intervals on ``data`` per horizon k = 1..K.

    ``method``: ``raw`` (no calibration), ``variance_scaling`` / ``conformal`` (``fitted`` =
    the factor ``(K, P)``: both apply it the same way) or ``isotonic`` (``fitted`` =
    :func:`fit_isotonic`'s output).
    Returns ``{"coverage": {level: (K,)}, "sharpness": {level: (K,)}}``: the share of true
    values inside the interval (over segments and dims) and its mean width in units of
    ``target_std`` (averaged over dims).
    """
    from scipy.stats import norm

    std = np.sqrt(data.var)  # (S, K, P)
    cover, sharp = {}, {}
    for level in levels:
        if method == "isotonic":
            lo_p = np.array([np.quantile(f, 0.5 - level / 2) for f in fitted])  # (K,)
            hi_p = np.array([np.quantile(f, 0.5 + level / 2) for f in fitted])
            lo = norm.ppf(np.clip(lo_p, 1e-9, 1 - 1e-9))[None, :, None] * std
            hi = norm.ppf(np.clip(hi_p, 1e-9, 1 - 1e-9))[None, :, None] * std
        else:
            scale = np.ones_like(std) if method == "raw" else np.sqrt(fitted)[None]
            hi = z_of(level) * std * scale
            lo = -hi
        inside = (data.err >= lo) & (data.err <= hi)
        cover[str(level)] = inside.mean((0, 2)).tolist()
        sharp[str(level)] = ((hi - lo) / data.target_std).mean((0, 2)).tolist()
    return {"coverage": cover, "sharpness": sharp}


def split_episodes(episode_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Held-out episodes split in two: sorted ids at even positions calibrate, odd ones test."""
    ids = np.unique(np.asarray(episode_id).reshape(-1))
    return ids[0::2], ids[1::2]


def calibrate(
    model: Any,
    obs: np.ndarray,
    action: np.ndarray,
    next_obs: np.ndarray,
    episode_id: np.ndarray,
    *,
    method: str = "variance_scaling",
    horizon: int = 25,
    level: float = 0.9,
    max_segments: int = 2000,
) -> dict[str, Any]:
    """Fit ``method`` on the held-out episodes given and install it in ``model``
    (``set_calibration``); returns the calibration info stored with the checkpoint
    (``method``, ``level``, ``horizon``, ``episodes``, ``segments``, ``var_scale`` lists)."""
    if method not in EXPORTABLE:
        raise ValueError(f"calibration method {method!r}; allowed: {', '.join(EXPORTABLE)}")
    data = kstep_predictions(model, obs, action, next_obs, episode_id, horizon, max_segments)
    scale = fit_scale(data, method, level)
    info = {
        "method": method,
        "level": level,
        "horizon": data.horizon,
        "episodes": [int(e) for e in np.unique(np.asarray(episode_id))],
        "segments": int(data.err.shape[0]),
    }
    model.set_calibration(scale, info)
    return {**info, "var_scale": scale.tolist()}


def scale_rows(var_scale: np.ndarray, horizon: int) -> np.ndarray:
    """A fitted ``var_scale (K', P)`` as rows for k = 1..horizon ``(horizon, P)`` (its last
    row beyond K', as the planner uses it)."""
    scale = np.asarray(var_scale, np.float64)
    return scale[np.minimum(np.arange(horizon), len(scale) - 1)]


def calibration_report(
    model: Any,
    obs: np.ndarray,
    action: np.ndarray,
    next_obs: np.ndarray,
    episode_id: np.ndarray,
    ks: Sequence[int] = (1, 5, 10, 25),
    max_segments: int = 2000,
) -> dict[str, Any]:
    """Raw and calibrated (the model's installed ``var_scale``) interval coverage and
    sharpness on these episodes at each k in ``ks`` that they allow, with the Spearman
    correlation of predicted std and |error| (JSON-ready; ``calibrated`` is None for an
    uncalibrated model). Pass episodes the calibration was not fitted on."""
    from scipy.stats import spearmanr

    data = kstep_predictions(model, obs, action, next_obs, episode_id, max(ks), max_segments)
    idx = [k - 1 for k in ks if k <= data.horizon]

    def at_ks(stats: dict[str, Any]) -> dict[str, Any]:
        return {part: {lvl: [v[i] for i in idx] for lvl, v in d.items()}
                for part, d in stats.items()}  # fmt: skip

    spread = (np.sqrt(data.var) / data.target_std).mean(-1)  # (S, K)
    err = (np.abs(data.err) / data.target_std).mean(-1)
    rho = [spearmanr(spread[:, i], err[:, i]).statistic for i in idx]
    info = dict(getattr(model, "calibration_info", {}) or {})
    calibrated = None
    if info:
        scale = scale_rows(model.var_scale.detach().cpu().numpy(), data.horizon)
        calibrated = at_ks(interval_stats(data, "variance_scaling", scale))  # any factor
    return {
        "k": [i + 1 for i in idx],
        "segments": int(data.err.shape[0]),
        "levels": list(LEVELS),
        "raw": at_ks(interval_stats(data)),
        "calibrated": calibrated,
        "calibration": info or None,
        "spearman_std_vs_error": [None if not np.isfinite(r) else float(r) for r in rho],
    }
