"""The two uncertainty quantities of an ensemble prediction, and the surprise score.

Each is defined here once; the planner penalty (``planning.rollout``), the MBPO branch stop
(``agents.mbpo``), the validation report (``models.evaluation``), the exported planner graph
and the controller's ``/diagnostics`` all call these functions. The functions use only array
arithmetic common to numpy and torch (no import of either), so the control path (numpy +
onnxruntime) and the traced graph share them.

Shape letters: E members, ``...`` any leading rows, P predicted dims (the observation without
the ``last_actions`` block, which is shifted exactly and never predicted:
``EnsembleConfig.predicted_dim``; callers slice ``[..., :P]`` first). ``target_std (P,)`` is the
std of the model's regression target, the one-step change of each dim in the training data
(the ensemble's output-normalizer std, ``Ensemble.target_std``). ``var_scale (P,)`` is the
calibration's variance factor at the prediction's horizon (``uncertainty.calibration``; 1 when
uncalibrated).

**Epistemic disagreement** (dimensionless; 1.0 = the members' means are one typical one-step
change apart)::

    dis = mean_d( std_e(mu[e, d]) * sqrt(var_scale[d]) / target_std[d] )

``std_e`` is the population std over the E members (ddof 0). Averaged over the P predicted
dims (not per joint); one number per row.

**Total predictive variance** (raw units squared, per dim): the moment-matched variance of the
equal-weight mixture of the member Gaussians, times the calibration factor::

    var[d] = var_scale[d] * ( mean_e(v[e, d]) + var_e(mu[e, d]) )

**Surprise** (nats per predicted dim): the Gaussian negative log-likelihood of what was
actually observed under the (calibrated) total predictive, with error and std measured in
units of ``target_std`` (so the number does not depend on the dims' units), averaged over the
P dims; the windowed surprise is its mean over the last W transitions (:class:`SurpriseWindow`).
A calibrated model that is right about itself scores about ``0.5 log(2 pi e) + mean log
(std / target_std)`` on average; a shifted system scores more.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

LOG_2PI = math.log(2.0 * math.pi)
VAR_FLOOR = 1e-12
"""Variances are floored here in the surprise (a zero variance is not a license for inf)."""


def _population_var(x: Any) -> Any:
    """Variance over axis 0 with ddof 0 (numpy or torch), ``(E, ...) -> (...)``."""
    return ((x - x.mean(0)) ** 2).mean(0)


def epistemic_disagreement(member_mean: Any, target_std: Any, var_scale: Any = None) -> Any:
    """Epistemic disagreement ``(...)`` of member means ``(E, ..., P)`` (see module doc).

    ``target_std (P,)`` > 0; ``var_scale`` broadcastable to ``(..., P)`` or None (= 1).
    """
    std = _population_var(member_mean) ** 0.5  # (..., P)
    if var_scale is not None:
        std = std * var_scale**0.5
    return (std / target_std).mean(-1)


def total_predictive(member_mean: Any, member_var: Any, var_scale: Any = None) -> tuple[Any, Any]:
    """Mixture mean and total predictive variance ``(..., P)`` each of member means and
    variances ``(E, ..., P)`` (raw units; see module doc)."""
    var = member_var.mean(0) + _population_var(member_mean)
    if var_scale is not None:
        var = var * var_scale
    return member_mean.mean(0), var


def surprise(observed: Any, mean: Any, var: Any, target_std: Any) -> Any:
    """Surprise ``(...)`` in nats per dim of ``observed (..., P)`` under the Gaussian
    ``mean, var (..., P)`` (raw units), error and std in units of ``target_std (P,)``."""
    z_var = var / target_std**2
    z_var = z_var * (z_var > VAR_FLOOR) + VAR_FLOOR * (z_var <= VAR_FLOOR)
    err2 = ((observed - mean) / target_std) ** 2
    log_var = _log(z_var)
    return (0.5 * (LOG_2PI + log_var + err2 / z_var)).mean(-1)


def _log(x: Any) -> Any:
    """Natural log of a numpy array or torch tensor (no import of either here)."""
    return x.log() if hasattr(x, "log") else __import__("numpy").log(x)


class SurpriseWindow:
    """Running mean of the last ``window`` surprise values (the windowed surprise score).

    ``add(x)`` appends one transition's surprise (non-finite values count as ``cap``);
    ``value`` is the mean of the kept ones (None while empty); ``clear()`` forgets them (a new
    episode, a model swap, a gap in the state stream).
    """

    def __init__(self, window: int, cap: float = 1e6) -> None:
        if int(window) < 1:
            raise ValueError(f"surprise window must be >= 1 transition, got {window}")
        self.window, self.cap = int(window), float(cap)
        self._values: deque[float] = deque(maxlen=self.window)

    def add(self, value: float) -> None:
        v = float(value)
        self._values.append(min(v, self.cap) if math.isfinite(v) else self.cap)

    @property
    def value(self) -> float | None:
        return sum(self._values) / len(self._values) if self._values else None

    def __len__(self) -> int:
        return len(self._values)

    @property
    def full(self) -> bool:
        return len(self._values) == self.window

    def clear(self) -> None:
        self._values.clear()


def windowed(values: Any, episode_id: Any, window: int) -> Any:
    """Trailing mean over ``window`` rows of ``values (N,)`` within each episode (numpy;
    rows of an episode consecutive, in time order): row t averages rows max(start, t-W+1)..t.
    """
    import numpy as np

    v = np.asarray(values, np.float64).reshape(-1)
    ids = np.asarray(episode_id).reshape(-1)
    out = np.empty_like(v)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(v)]
    for s, e in zip(starts, ends):
        c = np.cumsum(np.r_[0.0, v[s:e]])
        t = np.arange(1, e - s + 1)
        lo = np.maximum(t - window, 0)
        out[s:e] = (c[t] - c[lo]) / (t - lo)
    return out
