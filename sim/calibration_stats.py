"""Statistics of a calibration fit: Levenberg–Marquardt polish, Gauss–Newton uncertainty
and identifiability, sensor noise from one-step residuals (numpy only)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Identifiability:
    """The local (Gauss–Newton) analysis of the fit, in log parameters (order ``params``).

    ``sigma (P,)`` standard errors, ``correlation (P, P)``, ``sloppy``: directions the data
    barely constrain (unit vectors, per parameter, of the eigenvalues of JᵀJ below
    ``SLOPPY`` times the largest), e.g. scaling masses, gain, damping and friction together.
    """

    params: list[str]
    sigma: np.ndarray
    sigma_conditional: np.ndarray
    """Standard error of each parameter with the others held at the fit ``(P,)``."""
    correlation: np.ndarray
    sloppy: list[dict[str, float]]
    eigenvalues: np.ndarray


SLOPPY = 1e-3
"""An eigenvalue of JᵀJ below this share of the largest marks a direction the data cannot see."""


def jacobian(
    residual_fn: Callable[[dict[str, float]], np.ndarray],
    values: dict[str, float],
    params: list[str],
    step: float = 1e-3,
    log_bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Residuals ``(M,)`` at ``values`` and their Jacobian ``(M, P)`` with respect to the log
    of ``params``, by central differences of ``step`` (2P + 1 calls of ``residual_fn``); a
    parameter within ``step`` of one of its ``log_bounds`` (``(P,)`` lows and highs) gets a
    one-sided difference into the allowed range instead (a profile refuses values past its
    bounds, and a fit often ends on one)."""
    r0 = residual_fn(values)
    cols = []
    for i, k in enumerate(params):
        x = math.log(values[k])
        room_up = log_bounds is None or x + step <= log_bounds[1][i]
        room_down = log_bounds is None or x - step >= log_bounds[0][i]
        up, down = dict(values), dict(values)
        up[k] *= math.exp(step)
        down[k] *= math.exp(-step)
        if room_up and room_down:
            cols.append((residual_fn(up) - residual_fn(down)) / (2 * step))
        elif room_up:
            cols.append((residual_fn(up) - r0) / step)
        else:
            cols.append((r0 - residual_fn(down)) / step)
    return r0, np.stack(cols, 1)


def polish(
    residual_fn: Callable[[dict[str, float]], np.ndarray],
    values: dict[str, float],
    params: list[str],
    log_bounds: tuple[np.ndarray, np.ndarray],
    iterations: int = 5,
) -> tuple[dict[str, float], int]:
    """Levenberg–Marquardt steps in log space from the CMA-ES fit ``values``: a least-squares
    problem converges in a few such steps where CMA-ES would need hundreds of evaluations.
    Steps stay inside ``log_bounds`` (``(P,)`` lows and highs of the log parameters); a step is
    kept only when it lowers the squared residual. Returns the polished values and the
    ``residual_fn`` calls spent."""
    lo, hi = log_bounds
    calls, lam = 0, 1e-3
    for _ in range(iterations):
        r0, jac = jacobian(residual_fn, values, params, log_bounds=log_bounds)
        calls += 2 * len(params) + 1
        g, h = jac.T @ r0, jac.T @ jac
        x = np.log([values[k] for k in params])
        for _ in range(4):  # raise the damping until a step helps
            dx = np.linalg.solve(h + lam * np.diag(np.diag(h) + 1e-12), -g)
            trial = {**values, **dict(zip(params, np.exp(np.clip(x + dx, lo, hi))))}
            calls += 1
            if float(np.sum(residual_fn(trial) ** 2)) < float(r0 @ r0):
                values, lam = {k: float(v) for k, v in trial.items()}, lam / 3
                break
            lam *= 10
        else:
            break
    return values, calls


def local_analysis(
    residual_fn: Callable[[dict[str, float]], np.ndarray],
    values: dict[str, float],
    params: list[str],
    horizon: int,
    step: float = 1e-3,
    log_bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> Identifiability:
    """Gauss–Newton uncertainty of the fit ``values`` of ``params``.

    ``residual_fn(values) -> (M,)`` normalized residuals. The Jacobian J ``(M, P)`` by central
    differences of ``step`` in log space (2P replays); covariance ``s² (JᵀJ)⁻¹ · K`` with
    ``s²`` the mean squared residual: the factor K (= ``horizon``) counts a window's K
    strongly correlated steps as one independent sample (conservative). Correlations do not
    depend on these factors. Why not CMA-ES's covariance: within a practical budget the
    search distribution has not adapted to the error's shape (on a cart-pole, 300 evaluations:
    CMA says corr(mass, gain) = 0.87, Gauss–Newton 1.00, the exact degeneracy).
    """
    r0, jac = jacobian(residual_fn, values, params, step, log_bounds)
    hess = jac.T @ jac  # (P, P)
    dof = max(len(r0) - len(params), 1)
    s2k = float(r0 @ r0) / dof * horizon
    # a tiny ridge keeps an exactly flat direction in the covariance (huge, finite variance)
    # instead of dropping it as a pseudo-inverse would
    ridge = 1e-9 * max(float(np.trace(hess)) / len(params), 1e-300)
    cov = s2k * np.linalg.inv(hess + ridge * np.eye(len(params)))
    sigma = np.sqrt(np.maximum(np.diag(cov), 0.0))
    conditional = np.sqrt(s2k / np.maximum(np.diag(hess), 1e-300))
    denom = np.outer(sigma, sigma)
    corr = np.divide(cov, denom, out=np.eye(len(params)), where=denom > 0)
    w, vecs = np.linalg.eigh(hess)
    sloppy = []
    for i in np.flatnonzero(w < SLOPPY * max(w.max(), 1e-300)):
        v = vecs[:, i] * np.sign(vecs[np.argmax(np.abs(vecs[:, i])), i])  # largest part > 0
        sloppy.append({k: round(float(x), 3) for k, x in zip(params, v)})
    return Identifiability(list(params), sigma, conditional, np.clip(corr, -1, 1), sloppy, w)


SLOPPY_SHARE = 0.2
"""A parameter whose component in an unidentifiable direction exceeds this is unidentifiable."""


def identifiable(ident: Identifiability, pairs: list[dict[str, Any]]) -> list[str]:
    """Parameters the data determine on their own: in no pair of :func:`together` and with a
    component below :data:`SLOPPY_SHARE` in every unidentifiable (sloppy) direction."""
    paired = {k for p in pairs for k in p["params"]}
    return [
        k
        for k in ident.params
        if k not in paired and all(abs(d[k]) < SLOPPY_SHARE for d in ident.sloppy)
    ]


def together(
    ident: Identifiability, values: dict[str, float], threshold: float
) -> list[dict[str, Any]]:
    """Pairs with ``|corr| > threshold``: identifiable only together.

    Each: ``{"params": [a, b], "corr": c, "combination": "a/b" or "a*b", "value": v}`` (the
    determined combination: the ratio for a positive log-correlation, else the product)."""
    out = []
    names, c = ident.params, ident.correlation
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if abs(c[i, j]) > threshold:
                a, b = names[i], names[j]
                va, vb = values[a], values[b]
                pos = c[i, j] > 0
                out.append(
                    {
                        "params": [a, b],
                        "corr": round(float(c[i, j]), 4),
                        "combination": f"{a}/{b}" if pos else f"{a}*{b}",
                        "value": float(va / vb if pos else va * vb),
                    }
                )
    return out


# ---- noise ------------------------------------------------------------------------------------
def noise_from_residuals(residuals: np.ndarray, dt: float) -> dict[str, Any]:
    """Sensor noise std from one-step residuals ``(N, 2J)`` (recorded - simulated, from each
    recorded state with the fitted physics).

    With white measurement noise of std σ_q, σ_v on positions and velocities, a one-step
    residual is ``n_{t+1} - n_t`` plus model/process error, so its variance is 2σ_v² for a
    velocity and 2σ_q² + dt²σ_v² for a position (the noisy start velocity moves the position
    by dt·n_v). Estimator: a robust std per dimension, ``s = 1.4826 · MAD`` (insensitive to
    rare pushes and outliers), then ``σ_v² = s_v² / 2`` and ``σ_q² = (s_q² - dt² σ_v²) / 2``
    per joint, pooled over joints as the mean variance (the profile has one σ for all joints).
    Bias: upward by half the variance of whatever the fitted simulator does not explain in
    one step (model error, control jitter, unmodelled disturbances); with a good fit that is
    small next to the noise. MAD is exact for Gaussian residuals.
    """
    j = residuals.shape[1] // 2
    med = np.median(residuals, 0)
    s = 1.4826 * np.median(np.abs(residuals - med), 0)
    var_v = s[j:] ** 2 / 2
    var_q = np.maximum(s[:j] ** 2 - dt**2 * var_v, 0.0) / 2
    return {
        "obs_noise_pos": float(np.sqrt(var_q.mean())),
        "obs_noise_vel": float(np.sqrt(var_v.mean())),
        "per_joint_pos": np.sqrt(var_q).tolist(),
        "per_joint_vel": np.sqrt(var_v).tolist(),
        "rows": len(residuals),
        "estimator": "1.4826*MAD of one-step residuals / sqrt(2), pooled over joints",
    }
