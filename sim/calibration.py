"""Calibrate the simulator from robot data: fit the physics to recorded transitions.

What is fitted: one scalar multiplier per category, with the meaning of
:class:`~mbrl_sim.profiles.DRProfile` (``mass_scale``, ``inertia_scale`` per link,
``joint_damping`` and ``joint_friction`` in multiples of the task's reference values,
``actuator_gain`` per actuator; one value shared by all links/joints/actuators), the integer
``action_delay`` (control steps), and the sensor noise ``obs_noise_pos``/``obs_noise_vel``.

How (:func:`calibrate`):

1. **Replay windows.** The store's observations are turned back into joint positions and
   velocities by :class:`~mbrl_sim.oracle.JointStateReader` (tasks whose observation lacks a
   joint's position or velocity are refused, one line). ``starts`` start rows t are spread
   evenly over the data (within one episode, t >= ``max_delay`` so every delayed command is a
   recorded one, t + K inside the episode). A candidate replays each window: the simulator is
   set to the recorded joint state at t and driven for K = ``horizon`` control periods
   (nominal period, no push) by ``gain × action[t + i - d]``; its joint positions and
   velocities at t+1..t+K are compared with the recorded ones, each dimension divided by the
   data's standard deviation (angle joints read as cos/sin compared modulo 2π). The
   **replay error** is the root mean square of these normalized errors (-).
2. **Search.** The five multipliers are searched by CMA-ES (:mod:`cma`) in log space inside
   the profile bounds (``mbrl_sim.profiles._BOUNDS``, lower bounds floored at 1e-3), from the
   base profile's mid values (damping/friction mids of 0 start at 0.1), step size
   ``sigma0`` (log units), seeded. ``action_delay`` is an outer loop over 0..``max_delay``:
   each delay gets an equal first share (half the budget in all), then the best delay's
   search continues with the rest of the ``evaluations`` budget; a few Levenberg–Marquardt
   steps (:func:`polish`) then finish the fit of the best delay. A multiplier with no effect
   on this robot (all reference values 0, or Coulomb friction on a robot whose every joint
   is motor-driven) is not searched and is reported as such.
3. **Noise from the residuals**, not from the replay error: see :func:`noise_from_residuals`.
4. **Identifiability** (:func:`local_analysis`): the Jacobian of the normalized replay
   residuals with respect to the log multipliers at the fit gives the Gauss–Newton
   covariance (standard errors σ, inflated by √K for the correlation inside a window) and its
   correlation matrix. Pairs with ``|corr| > corr_threshold`` are listed as identifiable only
   together, with the combination that is determined (``a/b`` for a positive correlation,
   ``a·b`` for a negative one) and its fitted value; directions of the log parameters the data
   barely constrain are listed too. On a cart-pole with free damping and friction, scaling
   every mass, the gain, the damping and the friction by one factor leaves the motion
   unchanged: only their ratios are identifiable. (CMA-ES's own final σ and correlation are
   reported beside it; within a practical budget they have not adapted to the error's shape.)

Output (:func:`write_outputs`): a DR profile YAML centred on the fit, each multiplier a
``loguniform`` range ``fit × exp(± max(2 σ, log 1.05))`` clipped to the bounds (σ: the
Gauss–Newton standard error in log units with the other multipliers at the fit: a profile
samples each independently, so it cannot follow a correlated valley), the delay and the
noise fixed at their estimates, the other keys (contact friction, control jitter, pushes)
copied from the base profile; and a JSON report beside it (``<out>.json``).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from mbrl_sim.profiles import _BOUNDS, DRProfile, Param, load_profile

PARAMS = ("mass_scale", "inertia_scale", "joint_damping", "joint_friction", "actuator_gain")
"""The multipliers CMA-ES searches (log space), in this order."""
LOG_FLOOR = 1e-3
"""Smallest multiplier searched (a log-space search cannot reach a bound of 0)."""
START_FLOOR = 0.1
"""Start value of a damping/friction multiplier whose base-profile mid is below it (e.g. 0)."""
MIN_HALF_WIDTH = math.log(1.05)
"""Smallest half-width (log units) of a calibrated range: ± 5 %."""


@dataclass(frozen=True)
class CalibrationConfig:
    """Knobs of :func:`calibrate` (defaults: ~1-2 min on one core for a cart-pole)."""

    horizon: int = 10
    """K: control steps replayed per window."""
    starts: int = 64
    """Replay windows used for the fit (spread evenly over the fit data)."""
    evaluations: int = 400
    """Error evaluations CMA-ES may spend over all delays."""
    max_delay: int = 3
    """Largest action delay (control steps) tried."""
    seed: int = 0
    sigma0: float = 0.5
    """CMA-ES initial step size in log units (0.5: a factor 1.65)."""
    holdout: float = 0.2
    """Share of episodes (the last ones) kept out of the fit to measure the error on; 0: none.
    With a single episode nothing is held out."""
    corr_threshold: float = 0.8
    noise_rows: int = 2000
    """One-step residual rows used for the noise estimate (spread evenly)."""

    def __post_init__(self) -> None:
        for key in ("horizon", "starts", "evaluations", "noise_rows"):
            if getattr(self, key) < 1:
                raise ValueError(f"CalibrationConfig.{key} must be >= 1, got {getattr(self, key)}")
        if not 0 <= self.max_delay <= int(_BOUNDS["action_delay"][1]):
            raise ValueError(
                f"CalibrationConfig.max_delay must be in [0, {int(_BOUNDS['action_delay'][1])}]"
                f", got {self.max_delay}"
            )
        if not 0.0 <= self.holdout < 1.0:
            raise ValueError(f"CalibrationConfig.holdout must be in [0, 1), got {self.holdout}")
        if not 0.0 < self.corr_threshold < 1.0:
            raise ValueError(
                f"CalibrationConfig.corr_threshold must be in (0, 1), got {self.corr_threshold}"
            )
        if self.sigma0 <= 0:
            raise ValueError(f"CalibrationConfig.sigma0 must be > 0, got {self.sigma0}")


# ---- recorded data as joint trajectories ------------------------------------------------------
@dataclass
class Recording:
    """Recorded episodes as joint trajectories: per episode ``q (T+1, J)``, ``qd (T+1, J)``
    (m or rad, m/s or rad/s) and ``action (T, A)`` (as commanded, clipped to the bounds)."""

    q: list[np.ndarray]
    qd: list[np.ndarray]
    action: list[np.ndarray]
    episode_ids: list[int]

    def split(self, holdout: float) -> tuple[Recording, Recording]:
        """(fit, held-out): the last ``ceil(holdout × E)`` episodes held out when E >= 2."""
        n = len(self.q)
        k = math.ceil(holdout * n) if n >= 2 and holdout > 0 else 0
        k = min(k, n - 1)
        cut = n - k

        def part(sl: slice) -> Recording:
            return Recording(self.q[sl], self.qd[sl], self.action[sl], self.episode_ids[sl])

        return part(slice(0, cut)), part(slice(cut, n))


def load_recording(data: str | Path, task: Any, reader: Callable) -> Recording:
    """The store at ``data`` as a :class:`Recording` for ``task``.

    Raises ``ValueError`` (one line) when ``data`` is not a directory, holds no episodes, or
    its observation/action widths are not the task's.
    """
    from mbrl_control.data.store import TransitionStore

    if not Path(data).is_dir():
        raise ValueError(f"--data {data}: no such transition store directory")
    tr = TransitionStore(data).load()
    if not len(tr):
        raise ValueError(f"--data {data}: the transition store holds no episodes")
    if tr.obs.shape[1] != task.obs_dim or tr.action.shape[1] != task.act_dim:
        raise ValueError(
            f"--data {data}: observation/action widths {tr.obs.shape[1]}/{tr.action.shape[1]} "
            f"are not task {task.name!r}'s {task.obs_dim}/{task.act_dim}"
        )
    rec = Recording([], [], [], [])
    for ep in np.unique(tr.episode_id):
        rows = np.flatnonzero(tr.episode_id == ep)  # consecutive, in time order
        states = np.concatenate([tr.obs[rows], tr.next_obs[rows[-1:]]])  # (T+1, O)
        q, qd = reader(states)
        rec.q.append(q)
        rec.qd.append(qd)
        rec.action.append(np.clip(tr.action[rows], task.low, task.high).astype(np.float64))
        rec.episode_ids.append(int(ep))
    return rec


@dataclass
class Windows:
    """S replay windows of K steps: start states ``q0``/``qd0`` ``(S, J)``, commands
    ``action (S, D + K, A)`` (recorded actions t-D..t+K-1, D = max delay), recorded states
    ``target (S, K, 2J)`` (positions then velocities at t+1..t+K)."""

    q0: np.ndarray
    qd0: np.ndarray
    action: np.ndarray
    target: np.ndarray
    max_delay: int

    def __len__(self) -> int:
        return len(self.q0)


def make_windows(rec: Recording, horizon: int, max_delay: int, count: int) -> Windows:
    """Up to ``count`` windows spread evenly over every valid start of ``rec``.

    Raises ``ValueError`` when no episode is longer than ``max_delay + horizon`` steps."""
    valid = [
        (e, t) for e, a in enumerate(rec.action) for t in range(max_delay, len(a) - horizon + 1)
    ]
    if not valid:
        longest = max((len(a) for a in rec.action), default=0)
        raise ValueError(
            f"no replay window fits: episodes need more than max_delay + horizon = "
            f"{max_delay + horizon} steps, the longest has {longest}"
        )
    pick = np.unique(np.linspace(0, len(valid) - 1, min(count, len(valid))).round().astype(int))
    q0, qd0, act, tgt = [], [], [], []
    for i in pick:
        e, t = valid[i]
        q, qd = rec.q[e], rec.qd[e]
        q0.append(q[t])
        qd0.append(qd[t])
        act.append(rec.action[e][t - max_delay : t + horizon])
        tgt.append(np.concatenate([q[t + 1 : t + 1 + horizon], qd[t + 1 : t + 1 + horizon]], -1))
    return Windows(np.stack(q0), np.stack(qd0), np.stack(act), np.stack(tgt), max_delay)


# ---- replay in the simulator --------------------------------------------------------------------
class Replayer:
    """Replays :class:`Windows` in one :class:`~mbrl_sim.env.MbrlSimEnv` under explicit draws.

    ``scale (2J,)`` divides position and velocity errors; ``wrap (J,)`` marks joints whose
    positions are compared modulo 2π (read back from cos/sin).
    """

    def __init__(self, env: Any, scale: np.ndarray, wrap: np.ndarray) -> None:
        self.env, self.scale, self.wrap = env, scale, wrap

    def predict(self, draw: dict[str, Any], win: Windows) -> np.ndarray:
        """Simulated states ``(S, K, 2J)`` of every window under ``draw``."""
        env = self.env
        env.set_draw(draw)
        gain, d = np.asarray(draw["actuator_gain"]), int(draw["action_delay"])
        if d > win.max_delay:
            raise ValueError(f"action_delay {d} > the windows' max_delay {win.max_delay}")
        s, k = len(win), win.target.shape[1]
        out = np.empty(win.target.shape)
        for w in range(s):
            env.set_joint_state(win.q0[w], win.qd0[w])
            for i in range(k):
                env.simulate(gain * win.action[w, win.max_delay + i - d])
                q, qd = env.physical_joint_state()
                out[w, i] = np.concatenate([q, qd])
        return out

    def residuals(self, predicted: np.ndarray, win: Windows) -> np.ndarray:
        """``recorded - simulated`` ``(S, K, 2J)`` in joint units, angles wrapped to [-π, π)."""
        r = win.target - predicted
        j = len(self.wrap)
        r[..., :j][..., self.wrap] = (r[..., :j][..., self.wrap] + np.pi) % (2 * np.pi) - np.pi
        return r

    def error(self, draw: dict[str, Any], win: Windows) -> float:
        """The replay error: RMS of the normalized residuals over windows, steps and dims."""
        r = self.residuals(self.predict(draw, win), win) / self.scale
        return float(np.sqrt(np.mean(r**2)))


def angle_joints(task: Any, reader: Callable) -> np.ndarray:
    """``(J,)`` bool: joints the observation encodes as cos/sin (read back modulo 2π).

    Found through the public round trip ``obs_from_joints`` → ``reader``: a position of 4 rad
    comes back as 4 - 2π for exactly those joints."""
    j = len(task.joint_names)
    q, _ = reader(task.obs_from_joints(np.full(j, 4.0), np.zeros(j))[None])
    return np.abs(q[0] - 4.0) > 1e-3


def data_scale(rec: Recording, wrap: np.ndarray) -> np.ndarray:
    """Per-dimension std ``(2J,)`` of the recorded positions and velocities (floored at 1e-6);
    for an angle joint the std of its position about its circular mean."""
    q = np.concatenate(rec.q)
    qd = np.concatenate(rec.qd)
    mean = q.mean(0)
    circ = np.arctan2(np.sin(q).mean(0), np.cos(q).mean(0))
    dev = q - np.where(wrap, circ, mean)
    dev[:, wrap] = (dev[:, wrap] + np.pi) % (2 * np.pi) - np.pi
    std = np.concatenate([np.sqrt((dev**2).mean(0)), qd.std(0)])
    return np.maximum(std, 1e-6)


# ---- candidates -> draws ------------------------------------------------------------------------
class DrawMaker:
    """Draws (absolute SI, as :meth:`DRProfile.sample` makes them) for candidate multipliers.

    A candidate is turned into a point profile (every range ``low == high``) on top of
    ``base`` and sampled, so the multipliers mean exactly what they mean in a profile. Noise,
    jitter and pushes are 0 (replay is deterministic); contact friction is the base's mid.
    """

    def __init__(self, env: Any, base: DRProfile) -> None:
        sc = env.scene
        self._args = (
            len(sc.links),
            np.asarray(sc.spec.damping_ref),
            np.asarray(sc.spec.friction_ref),
            env.task.act_dim,
            sc.spec.push_ref,
        )
        zero = Param(0.0, 0.0)
        mid = (base.lateral_friction.low + base.lateral_friction.high) / 2
        self._base = replace(
            base,
            lateral_friction=Param(mid, mid),
            obs_noise_pos=zero,
            obs_noise_vel=zero,
            control_jitter=zero,
            push_prob=zero,
            push_force=zero,
        )

    def __call__(self, values: dict[str, float], delay: int) -> dict[str, Any]:
        point = {k: Param(float(v), float(v)) for k, v in values.items()}
        profile = replace(self._base, **point, action_delay=Param(float(delay), float(delay)))
        return profile.sample(np.random.default_rng(0), *self._args)


def inert_params(env: Any) -> dict[str, str]:
    """Multipliers with no effect on this robot -> why (they are not searched)."""
    spec, sc = env.scene.spec, env.scene
    out = {}
    if not np.any(np.asarray(spec.damping_ref) > 0):
        out["joint_damping"] = "every joint's reference damping is 0"
    friction = np.asarray(spec.friction_ref)
    if not sc.free or not np.any(friction[list(sc.free_pos)] > 0):
        out["joint_friction"] = (
            "no joint with a non-zero reference friction is free of a motor (friction acts "
            "only on effort-commanded and passive joints)"
        )
    return out


def base_values(base: DRProfile) -> dict[str, float]:
    """The base profile's mid value of every multiplier (the search's start)."""
    out = {}
    for k in PARAMS:
        p = getattr(base, k)
        mid = (p.low + p.high) / 2
        if p.dist == "loguniform":
            mid = math.sqrt(p.low * p.high)
        out[k] = mid
    return out


# ---- the search ---------------------------------------------------------------------------------
def check_budget(n_params: int, cfg: CalibrationConfig) -> None:
    """``ValueError`` unless ``cfg.evaluations`` covers one CMA-ES generation per delay."""
    import cma

    pop = cma.CMAEvolutionStrategy(np.zeros(n_params), 1.0, {"verbose": -9}).popsize
    need = pop * (cfg.max_delay + 1)
    if cfg.evaluations < need:
        raise ValueError(
            f"evaluations={cfg.evaluations} is too small: need at least one CMA-ES generation "
            f"({pop}) for each of the {cfg.max_delay + 1} delays 0..{cfg.max_delay} = {need}"
        )


@dataclass
class _Search:
    """One CMA-ES run for one delay; ``best`` the lowest error seen and its multipliers."""

    delay: int
    es: Any
    best: float = math.inf
    best_x: np.ndarray | None = None
    evaluations: int = 0


@dataclass
class FitResult:
    """What :func:`fit` found (multipliers in linear units, σ and correlation in log units)."""

    values: dict[str, float]
    delay: int
    error: float
    sigma_cma: dict[str, float]
    """CMA-ES's final search standard deviations (log units): how far the search still
    spreads, not a statistical uncertainty."""
    correlation_cma: np.ndarray
    searched: list[str]
    delay_errors: dict[int, float]
    evaluations: int
    fixed: dict[str, float] = field(default_factory=dict)


def fit(
    objective: Callable[[dict[str, float], int], float],
    start: dict[str, float],
    searched: list[str],
    cfg: CalibrationConfig,
    progress: Callable[[int], None] = lambda n: None,
) -> FitResult:
    """Minimize ``objective(values, delay)`` over ``searched`` multipliers (log space, CMA-ES)
    and the delay 0..``cfg.max_delay``; the other multipliers stay at ``start``.

    Budget: each delay first gets ``evaluations / (2 (D+1))`` evaluations (at least one
    generation), then the best delay continues until ``cfg.evaluations`` are spent or
    CMA-ES stops on its own tolerances; never more than ``cfg.evaluations``. Raises
    ``ValueError`` when the budget does not cover one generation per delay.
    ``progress(n)`` is called after each generation.
    """
    import cma

    lo = np.array([math.log(max(_BOUNDS[k][0], LOG_FLOOR)) for k in searched])
    hi = np.array([math.log(_BOUNDS[k][1]) for k in searched])
    x0 = np.clip([math.log(max(start[k], LOG_FLOOR)) for k in searched], lo, hi)
    opts = {
        "seed": cfg.seed + 1,  # cma treats seed 0 as "random"
        "bounds": [lo.tolist(), hi.tolist()],
        "verbose": -9,
        "tolfun": 1e-9,
        "tolx": 1e-6,
    }

    def values_of(x: np.ndarray) -> dict[str, float]:
        x = np.clip(x, lo, hi)
        fitted = {k: min(math.exp(v), _BOUNDS[k][1]) for k, v in zip(searched, x)}
        return {**start, **fitted}

    def generation(s: _Search) -> None:
        xs = s.es.ask()
        fs = [objective(values_of(np.asarray(x)), s.delay) for x in xs]
        s.es.tell(xs, fs)
        s.evaluations += len(xs)
        i = int(np.argmin(fs))
        if fs[i] < s.best:
            s.best, s.best_x = float(fs[i]), np.asarray(xs[i], float)
        progress(len(xs))

    searches = [
        _Search(d, cma.CMAEvolutionStrategy(x0.tolist(), cfg.sigma0, opts))
        for d in range(cfg.max_delay + 1)
    ]
    pop = searches[0].es.popsize
    check_budget(len(searched), cfg)
    share = max(pop, cfg.evaluations // (2 * len(searches)))
    for s in searches:
        while s.evaluations + pop <= share and not s.es.stop():
            generation(s)
        if not s.evaluations:
            generation(s)
    win = min(searches, key=lambda s: s.best)
    used = sum(s.evaluations for s in searches)
    while used + pop <= cfg.evaluations and not win.es.stop():
        generation(win)
        used += pop
    corr = np.asarray(win.es.sm.correlation_matrix, float)
    stds = np.asarray(win.es.result.stds, float)
    return FitResult(
        values=values_of(win.best_x),
        delay=win.delay,
        error=win.best,
        sigma_cma={k: float(v) for k, v in zip(searched, stds)},
        correlation_cma=corr,
        searched=list(searched),
        delay_errors={s.delay: s.best for s in searches},
        evaluations=used,
        fixed={k: start[k] for k in PARAMS if k not in searched},
    )


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
) -> tuple[np.ndarray, np.ndarray]:
    """Residuals ``(M,)`` at ``values`` and their Jacobian ``(M, P)`` with respect to the log
    of ``params``, by central differences of ``step`` (2P + 1 calls of ``residual_fn``)."""
    r0 = residual_fn(values)
    cols = []
    for k in params:
        up, down = dict(values), dict(values)
        up[k] *= math.exp(step)
        down[k] *= math.exp(-step)
        cols.append((residual_fn(up) - residual_fn(down)) / (2 * step))
    return r0, np.stack(cols, 1)


def polish(
    residual_fn: Callable[[dict[str, float]], np.ndarray],
    values: dict[str, float],
    params: list[str],
    iterations: int = 5,
) -> tuple[dict[str, float], int]:
    """Levenberg–Marquardt steps in log space from the CMA-ES fit ``values``: a least-squares
    problem converges in a few such steps where CMA-ES would need hundreds of evaluations.
    Steps stay inside the search bounds; a step is kept only when it lowers the squared
    residual. Returns the polished values and the ``residual_fn`` calls spent."""
    lo = np.array([math.log(max(_BOUNDS[k][0], LOG_FLOOR)) for k in params])
    hi = np.array([math.log(_BOUNDS[k][1]) for k in params])
    calls, lam = 0, 1e-3
    for _ in range(iterations):
        r0, jac = jacobian(residual_fn, values, params)
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
    r0, jac = jacobian(residual_fn, values, params, step)
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


# ---- outputs ------------------------------------------------------------------------------------
def profile_mapping(
    result: FitResult, sigma: dict[str, float], noise: dict[str, Any], base: DRProfile
) -> dict[str, Any]:
    """The calibrated profile as a YAML mapping (see the module doc); ``sigma`` the standard
    error of each searched multiplier in log units, conditional on the others (a profile
    samples every multiplier independently: marginal errors along a direction the data cannot
    see would make it wider in the motion it produces than the data allow)."""
    out: dict[str, Any] = {}
    for k in PARAMS:
        v = result.values[k]
        if k not in result.searched:  # no effect on this robot: keep the base range
            p = getattr(base, k)
            out[k] = {"low": p.low, "high": p.high, "dist": p.dist}
            continue
        half = max(2 * sigma[k], MIN_HALF_WIDTH)
        lo = max(v * math.exp(-half), _BOUNDS[k][0], LOG_FLOOR)
        hi = min(v * math.exp(half), _BOUNDS[k][1])
        out[k] = {"low": _round(lo), "high": _round(hi), "dist": "loguniform"}
    out["action_delay"] = int(result.delay)
    for k in ("obs_noise_pos", "obs_noise_vel"):
        out[k] = _round(min(noise[k], _BOUNDS[k][1]))
    for k in ("lateral_friction", "control_jitter", "push_prob", "push_force"):
        p = getattr(base, k)
        out[k] = {"low": p.low, "high": p.high, "dist": p.dist}
    return out


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def report_path(out: str | Path) -> Path:
    """``calibrated.yaml`` -> ``calibrated.json`` (beside it)."""
    return Path(out).with_suffix(".json")


def write_outputs(out: str | Path, mapping: dict[str, Any], report: dict[str, Any]) -> None:
    """The profile YAML at ``out`` (checked to load with :func:`load_profile` before it is
    moved into place) and the report JSON beside it, each written atomically."""
    import yaml

    out = Path(out)
    head = (
        f"# Calibrated by `mbrl-control calibrate` for task {report['task']} from "
        f"{report['data']}\n# (base profile {report['base_profile']}); details: "
        f"{report_path(out).name}\n"
    )
    text = head + yaml.safe_dump(mapping, sort_keys=False, default_flow_style=None)
    DRProfile.from_mapping(yaml.safe_load(text), name=out.stem)  # refuse to write a bad one
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(out, text)
    _write_atomic(report_path(out), json.dumps(report, indent=2) + "\n")


def held_out_windows(held: Recording, cfg: CalibrationConfig) -> Windows | None:
    """Windows of the held-out episodes, or None when there are none or all are too short
    for a window (the held-out error is then not reported)."""
    if not held.q:
        return None
    try:
        return make_windows(held, cfg.horizon, cfg.max_delay, cfg.starts)
    except ValueError:
        return None


# ---- the whole run ------------------------------------------------------------------------------
def calibrate(
    task: str | Path,
    data: str | Path,
    out: str | Path,
    base_profile: str | Path | None = None,
    cfg: CalibrationConfig | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Fit ``task``'s simulator to the store at ``data``; write the profile ``out`` (YAML) and
    its report (``out`` with ``.json``); return the report dict.

    ``base_profile`` (default: the task's ``dr_profile``) gives the search's start, the
    "before" error and the keys that are not fitted. Raises ``ValueError`` (one line) for a
    task the simulator cannot replay (no URDF scene, a floating base, an observation without
    every joint's position and velocity) and for unusable data.
    """
    from mbrl_sim.env import MbrlSimEnv, task_profile
    from mbrl_sim.oracle import JointStateReader
    from tqdm import tqdm

    from mbrl_control.tasks import get_task

    cfg = cfg or CalibrationConfig()
    t0 = time.perf_counter()
    task_obj = get_task(task)
    try:
        reader = JointStateReader(task_obj)
    except ValueError as err:
        raise ValueError(f"cannot calibrate from {task}: {err}") from None
    base_ref = base_profile if base_profile is not None else task_profile(task_obj)
    base = load_profile(base_ref)
    rec = load_recording(data, task_obj, reader)

    env = MbrlSimEnv(task_obj, profile=base, seed=cfg.seed)
    try:
        if not env.scene.spec.fixed_base:
            raise ValueError(
                f"cannot calibrate from {task}: a floating base's pose is not in the observation"
            )
        env.reset(seed=cfg.seed)
        wrap = angle_joints(task_obj, reader)
        fit_rec, held = rec.split(cfg.holdout)
        scale = data_scale(fit_rec, wrap)
        replayer = Replayer(env, scale, wrap)
        make_draw = DrawMaker(env, base)
        win = make_windows(fit_rec, cfg.horizon, cfg.max_delay, cfg.starts)
        win_held = held_out_windows(held, cfg)
        start = base_values(base)
        for k in ("joint_damping", "joint_friction"):
            start[k] = max(start[k], START_FLOOR)
        inert = inert_params(env)
        searched = [k for k in PARAMS if k not in inert]
        check_budget(len(searched), cfg)
        base_delay = round((base.action_delay.low + base.action_delay.high) / 2)
        base_draw = make_draw(base_values(base), min(base_delay, cfg.max_delay))

        def objective(values: dict[str, float], delay: int) -> float:
            return replayer.error(make_draw(values, delay), win)

        with tqdm(total=cfg.evaluations, disable=quiet, unit="eval", desc="calibrate") as bar:
            result = fit(objective, start, searched, cfg, progress=bar.update)

        def residual_fn(values: dict[str, float]) -> np.ndarray:
            draw = make_draw(values, result.delay)
            return (replayer.residuals(replayer.predict(draw, win), win) / scale).ravel()

        result.values, polish_calls = polish(residual_fn, result.values, searched)
        result.error = replayer.error(make_draw(result.values, result.delay), win)
        fitted_draw = make_draw(result.values, result.delay)

        ident = local_analysis(residual_fn, result.values, searched, cfg.horizon)
        sigma = {k: float(v) for k, v in zip(searched, ident.sigma)}
        sigma_cond = {k: float(v) for k, v in zip(searched, ident.sigma_conditional)}

        one = make_windows(fit_rec, 1, cfg.max_delay, cfg.noise_rows)
        res = replayer.residuals(replayer.predict(fitted_draw, one), one)[:, 0]
        noise = noise_from_residuals(res, task_obj.dt)

        def errors(w: Windows | None) -> dict[str, float] | None:
            if w is None:
                return None
            return {
                "before": replayer.error(base_draw, w),
                "after": replayer.error(fitted_draw, w),
            }

        replay_error = {
            "metric": "RMS over windows, steps and joint dims of (recorded - simulated) / "
            "data std, horizon K steps",
            "horizon": cfg.horizon,
            "fit": errors(win),
            "holdout": errors(win_held),
        }
    finally:
        env.close()

    mapping = profile_mapping(result, sigma_cond, noise, base)
    report = {
        "task": str(task),
        "data": str(data),
        "out": str(out),
        "base_profile": str(base_ref),
        "fitted": {
            **{k: _round(result.values[k]) for k in result.searched},
            "action_delay": result.delay,
            "obs_noise_pos": noise["obs_noise_pos"],
            "obs_noise_vel": noise["obs_noise_vel"],
        },
        "not_searched": {k: {"value": result.values[k], "why": why} for k, why in inert.items()},
        "sigma_log": sigma,
        "sigma_log_conditional": sigma_cond,
        "correlation": {
            "params": searched,
            "matrix": np.round(ident.correlation, 4).tolist(),
            "source": "Gauss-Newton (J^T J of the replay residuals at the fit), log parameters",
        },
        "identifiable_only_together": together(ident, result.values, cfg.corr_threshold),
        "unidentifiable_directions": ident.sloppy,
        "cma": {
            "sigma_log": result.sigma_cma,
            "correlation": np.round(result.correlation_cma, 4).tolist(),
        },
        "delay_errors": {str(d): e for d, e in result.delay_errors.items()},
        "noise": noise,
        "replay_error": replay_error,
        "profile": mapping,
        "episodes": {"fit": len(fit_rec.q), "holdout": len(held.q)},
        "windows": {"fit": len(win), "holdout": len(win_held) if win_held else 0},
        "evaluations": cfg.evaluations,
        "evaluations_used": result.evaluations,
        "polish_evaluations": polish_calls,
        "seed": cfg.seed,
        "elapsed_s": round(time.perf_counter() - t0, 2),
    }
    write_outputs(out, mapping, report)
    return report
