"""Calibrate the simulator from robot data: fit the physics to recorded transitions.

This module runs the fit (CMA-ES, budget, outputs); the replay of recorded data is
:mod:`mbrl_sim.calibration_replay`, the statistics :mod:`mbrl_sim.calibration_stats`.

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
   steps (:func:`~mbrl_sim.calibration_stats.polish`) then finish the fit of every delay whose
   error came within ``CONTENDER`` × the lowest, and the lowest polished error wins.
   A multiplier with no effect on this robot (all reference values 0, or Coulomb friction on
   a robot whose every joint is motor-driven) is not searched and is reported as such.
3. **Noise from the residuals**, not from the replay error: see
   :func:`~mbrl_sim.calibration_stats.noise_from_residuals`.
4. **Identifiability** (:func:`~mbrl_sim.calibration_stats.local_analysis`): the Jacobian of the
   normalized replay residuals with respect to the log multipliers at the fit gives the
   Gauss–Newton covariance (standard errors σ, inflated by √K for the correlation inside a
   window) and its correlation matrix. Pairs with ``|corr| > corr_threshold`` are listed as
   identifiable only together, with the combination that is determined (``a/b`` for a positive
   correlation, ``a·b`` for a negative one) and its fitted value; directions of the log
   parameters the data barely constrain are listed too. On a cart-pole with free damping and
   friction, scaling every mass, the gain, the damping and the friction by one factor leaves the
   motion unchanged: only their ratios are identifiable. (CMA-ES's own final σ and correlation
   are reported beside it; within a practical budget they have not adapted to the error's
   shape.)

Output (:func:`write_outputs`): a DR profile YAML centred on the fit, each multiplier a
``loguniform`` range ``fit × exp(± max(2 σ, log 1.05))`` clipped to the bounds (σ: the
Gauss–Newton standard error in log units with the other multipliers at the fit: a profile
samples each independently, so it cannot follow a correlated valley); a multiplier the data do
not pin within a factor 2 (2σ > log 2: ``undetermined``) keeps the base range; the delay and the
noise fixed at their estimates, the other keys (contact friction, control jitter, pushes)
copied from the base profile; and a JSON report beside it (``<out>.json``).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mbrl_sim.calibration_replay import (
    DrawMaker,
    Replayer,
    Windows,
    angle_joints,
    data_scale,
    held_out_windows,
    load_recording,
    make_windows,
)
from mbrl_sim.calibration_stats import (
    identifiable,
    local_analysis,
    noise_from_residuals,
    polish,
    together,
)
from mbrl_sim.profiles import _BOUNDS, DRProfile, load_profile

PARAMS = ("mass_scale", "inertia_scale", "joint_damping", "joint_friction", "actuator_gain")
"""The multipliers CMA-ES searches (log space), in this order."""
LOG_FLOOR = 1e-3
"""Smallest multiplier searched (a log-space search cannot reach a bound of 0)."""
START_FLOOR = 0.1
"""Start value of a damping/friction multiplier whose base-profile mid is below it (e.g. 0)."""
CONTENDER = 1.5
"""A delay whose CMA-ES error is within this factor of the lowest is polished too; the delay
with the lowest polished error wins (a short search alone can rank close delays wrongly)."""
MIN_HALF_WIDTH = math.log(1.05)
"""Smallest half-width (log units) of a calibrated range: ± 5 %."""
MAX_HALF_WIDTH = math.log(2.0)
"""A multiplier whose 2σ range would be wider than × / ÷ 2 keeps the base profile's range (e.g.
joint damping next to Coulomb friction and control jitter: σ of 20 log units)."""


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
def log_bounds(params: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Lows and highs ``(P,)`` of the log multipliers: the profile bounds, lows floored at
    :data:`LOG_FLOOR`."""
    lo = np.array([math.log(max(_BOUNDS[k][0], LOG_FLOOR)) for k in params])
    hi = np.array([math.log(_BOUNDS[k][1]) for k in params])
    return lo, hi


def check_budget(n_params: int, cfg: CalibrationConfig) -> None:
    """``ValueError`` unless ``cfg.evaluations`` covers one CMA-ES generation per delay."""
    import cma

    pop = cma.CMAEvolutionStrategy(np.zeros(n_params), 1.0, {"verbose": -9, "seed": np.nan}).popsize
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
    """The lowest error CMA-ES reached for each delay."""
    delay_values: dict[int, dict[str, float]]
    """The multipliers of that lowest error, per delay."""
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
    CMA-ES stops on its own tolerances; never more than ``cfg.evaluations``. Each delay's
    search draws from its own generator seeded by ``(cfg.seed, delay)`` (numpy's global one is
    not touched), so a seed gives the same fit. Raises
    ``ValueError`` when the budget does not cover one generation per delay.
    ``progress(n)`` is called after each generation.
    """
    import cma

    lo, hi = log_bounds(searched)
    x0 = np.clip([math.log(max(start[k], LOG_FLOOR)) for k in searched], lo, hi)
    opts = {
        "seed": np.nan,  # leave numpy's global generator alone: each search has its own
        "bounds": [lo.tolist(), hi.tolist()],
        "verbose": -9,
        "tolfun": 1e-9,
        "tolx": 1e-6,
    }

    def own_randn(delay: int) -> Callable[..., np.ndarray]:
        rng = np.random.default_rng((cfg.seed, delay))
        return lambda *shape: rng.standard_normal(shape)

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
        _Search(
            d, cma.CMAEvolutionStrategy(x0.tolist(), cfg.sigma0, {**opts, "randn": own_randn(d)})
        )
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
        delay_values={s.delay: values_of(s.best_x) for s in searches},
        evaluations=used,
        fixed={k: start[k] for k in PARAMS if k not in searched},
    )


# ---- outputs ------------------------------------------------------------------------------------
def undetermined(sigma: float) -> bool:
    """True when ``2 sigma`` (log units) exceeds :data:`MAX_HALF_WIDTH`: the data do not pin
    the multiplier within a factor of 2, and the profile keeps the base range for it."""
    return 2 * sigma > MAX_HALF_WIDTH


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
        if k not in result.searched or undetermined(sigma[k]):  # the data say nothing
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
        win_held = held_out_windows(held, cfg.horizon, cfg.max_delay, cfg.starts)
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

        def residuals_at(delay: int) -> Callable[[dict[str, float]], np.ndarray]:
            def residual_fn(values: dict[str, float]) -> np.ndarray:
                draw = make_draw(values, delay)
                return (replayer.residuals(replayer.predict(draw, win), win) / scale).ravel()

            return residual_fn

        # ---- polish every delay whose search came close, then keep the best ----
        polished, polish_calls = {}, 0
        lowest = min(result.delay_errors.values())
        for d, err in result.delay_errors.items():
            if err <= CONTENDER * lowest:
                vals, calls = polish(
                    residuals_at(d), result.delay_values[d], searched, log_bounds(searched)
                )
                polish_calls += calls
                polished[d] = (replayer.error(make_draw(vals, d), win), vals)
        result.delay = min(polished, key=lambda d: polished[d][0])
        result.error, result.values = polished[result.delay]
        residual_fn = residuals_at(result.delay)
        fitted_draw = make_draw(result.values, result.delay)

        ident = local_analysis(
            residual_fn, result.values, searched, cfg.horizon, log_bounds=log_bounds(searched)
        )
        sigma = {k: float(v) for k, v in zip(searched, ident.sigma)}
        sigma_cond = {k: float(v) for k, v in zip(searched, ident.sigma_conditional)}
        pairs = together(ident, result.values, cfg.corr_threshold)

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
        "identifiable_only_together": pairs,
        "identifiable": identifiable(ident, pairs),
        "undetermined": [k for k in searched if undetermined(sigma_cond[k])],
        "unidentifiable_directions": ident.sloppy,
        "cma": {
            "sigma_log": result.sigma_cma,
            "correlation": np.round(result.correlation_cma, 4).tolist(),
        },
        "delay_errors": {
            "cma": {str(d): e for d, e in result.delay_errors.items()},
            "polished": {str(d): e for d, (e, _) in polished.items()},
        },
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
