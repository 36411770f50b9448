"""Configuration of a sampling MPC planner (frozen, validated at load).

Every size here is baked into the exported ONNX graph; only the critic weights are live.
Action noise scales (``init_std``, ``noise_sigma``) are fractions of the half action range
``(high - low) / 2``, so one config works for any action units.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from mbrl_control.models.config import from_mapping

KINDS = ("cem", "icem", "mppi", "shooting")
MAX_REFINE_STEPS = 20
"""Refinement steps are unrolled into the exported graph (a forward, an adjoint and a line
search of H steps each): beyond this the graph only grows (and one step costs about one
sampling iteration, docs/gradient_refinement.md)."""
UNROLLED_LIMITS = {"horizon": 1000, "iterations": 100}
"""Upper bounds of the sizes the exported graph unrolls (a larger value only builds a graph
that cannot run in real time, after minutes of export)."""
RETURN_MODES = ("best", "mean")
PROPAGATIONS = ("ts_inf", "mean")


@dataclass(frozen=True)
class PlannerConfig:
    """One planning step: optimizer kind, sizes and cost terms."""

    kind: str = "cem"
    """Optimizer: cem (PETS), icem (colored noise, kept elites), mppi, shooting (baseline)."""
    horizon: int = 15
    """Plan length H in control steps."""
    population: int = 400
    """Candidates N per iteration (iCEM: in the first iteration, then decaying)."""
    particles: int = 20
    """Particles P per candidate; a multiple of the ensemble size E (checked at build)."""
    iterations: int = 5
    """Optimizer iterations I (random shooting uses exactly one)."""
    elite_frac: float = 0.1
    """Fraction of the (first-iteration) population kept as elites (CEM, iCEM)."""
    momentum: float = 0.1
    """alpha: new = alpha * old + (1 - alpha) * elite statistic (CEM, iCEM, MPPI mean)."""
    init_std: float = 0.5
    """Initial sampling std per iteration-0 step, as a fraction of the half action range."""
    return_mode: str = "mean"
    """best: the lowest-cost candidate seen; mean: the final sampling mean (not shooting)."""
    propagation: str = "ts_inf"
    """ts_inf: each particle stays with one member; mean: every member on the same state."""
    aleatoric: bool = False
    """Sample the predicted Gaussian (needs state-noise input); False uses the mean."""
    uncertainty_weight: float = 0.0
    """Cost per unit of epistemic disagreement per step along the plan (conservative
    planning; the disagreement is in units of the one-step change's std, calibrated per
    step: :mod:`mbrl_control.uncertainty.quantities`)."""
    action_rate_weight: float = 0.0
    """Cost per unit of sum of squared action changes, including from the last action."""
    discount: float = 1.0
    """Per-step cost discount gamma in (0, 1]."""
    beta: float = 2.0
    """iCEM colored-noise exponent (0 white, 2 brown/smooth)."""
    keep_elites_frac: float = 0.3
    """iCEM: fraction of elites carried into the next iteration and the next time step."""
    population_decay: float = 1.25
    """iCEM: population shrinks as N / decay**i, never below 2 x elites."""
    temperature: float = 1.0
    """MPPI inverse-weighting temperature lambda (in cost units)."""
    noise_sigma: float = 0.5
    """MPPI sampling std as a fraction of the half action range."""
    smoothing: float = 0.0
    """MPPI AR(1) coefficient of the sampling noise along the horizon, in [0, 1)."""
    prior_frac: float = 0.0
    """Share of each iteration's population sampled around the policy's plan (TD-MPC2 policy
    prior; needs a policy; cem, icem, mppi). The first of them is the policy's plan itself."""
    prior_std: float = 0.1
    """Sampling std around the policy's plan, as a fraction of the half action range."""
    refine_steps: int = 0
    """Gradient steps on the sampled plan after the sampling iterations, inside the graph
    (:mod:`mbrl_control.planning.refine`; 0: none). Needs every critic, the model and the
    value head to declare their derivatives, and ``uncertainty_weight`` 0."""
    refine_step_size: float = 0.1
    """Largest change of one action per refinement step, as a fraction of the half action
    range (a line search also tries 1/2, 1/4 and 1/8 of it)."""
    seed: int = 0
    """Seed of the noise generator (torch reference and ONNX runtime)."""

    def __post_init__(self) -> None:
        _check_types(self)
        _one_of("kind", self.kind, KINDS)
        _one_of("return_mode", self.return_mode, RETURN_MODES)
        _one_of("propagation", self.propagation, PROPAGATIONS)
        if not 0 <= self.refine_steps <= MAX_REFINE_STEPS:
            raise ValueError(
                f"PlannerConfig.refine_steps must be in [0, {MAX_REFINE_STEPS}] (each step is "
                f"unrolled into the graph), got {self.refine_steps}"
            )
        for key, most in UNROLLED_LIMITS.items():
            if int(getattr(self, key)) > most:
                raise ValueError(
                    f"PlannerConfig.{key} must be <= {most} (unrolled into the graph), "
                    f"got {getattr(self, key)}"
                )
        _in_range("refine_step_size", self.refine_step_size, 0.0, 1.0, low_open=True)
        if self.refine_steps and self.uncertainty_weight:
            raise ValueError(
                "PlannerConfig.refine_steps > 0 needs uncertainty_weight = 0 (the disagreement "
                "term declares no derivative)"
            )
        for key in ("horizon", "population", "particles", "iterations"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"PlannerConfig.{key} must be >= 1, got {getattr(self, key)}")
        if self.kind == "shooting" and self.iterations != 1:
            raise ValueError("PlannerConfig.iterations must be 1 for kind='shooting'")
        _in_range("elite_frac", self.elite_frac, 0.0, 1.0, low_open=True)
        _in_range("momentum", self.momentum, 0.0, 1.0, high_open=True)
        _in_range("keep_elites_frac", self.keep_elites_frac, 0.0, 1.0)
        _in_range("discount", self.discount, 0.0, 1.0, low_open=True)
        _in_range("smoothing", self.smoothing, 0.0, 1.0, high_open=True)
        _in_range("prior_frac", self.prior_frac, 0.0, 1.0, high_open=True)
        if self.prior_frac and self.kind == "shooting":
            raise ValueError("PlannerConfig.prior_frac must be 0 for kind='shooting'")
        for key in ("init_std", "noise_sigma", "temperature", "population_decay", "prior_std"):
            if not float(getattr(self, key)) > 0.0:
                raise ValueError(f"PlannerConfig.{key} must be > 0, got {getattr(self, key)}")
        if self.population_decay < 1.0:
            raise ValueError(
                f"PlannerConfig.population_decay must be >= 1, got {self.population_decay}"
            )
        for key in ("uncertainty_weight", "action_rate_weight", "beta"):
            if float(getattr(self, key)) < 0.0:
                raise ValueError(f"PlannerConfig.{key} must be >= 0, got {getattr(self, key)}")
        if self.elites < 1:
            raise ValueError(
                f"PlannerConfig.elite_frac={self.elite_frac} x population={self.population} "
                "gives no elite; raise one of them"
            )
        if self.kind == "icem" and self.populations[-1] - self.kept_elites < 2:
            raise ValueError(
                f"PlannerConfig: the last iCEM population ({self.populations[-1]}) must exceed "
                f"the kept elites ({self.kept_elites}) by 2; lower keep_elites_frac"
            )
        if self.prior_counts[-1] > self.populations[-1] - self.kept_elites - 1:
            raise ValueError(
                f"PlannerConfig.prior_frac={self.prior_frac} leaves no freshly sampled "
                "candidate in the last iteration; lower prior_frac"
            )

    # ---- derived sizes (Python ints, fixed when the planner is built) -----------------
    @property
    def elites(self) -> int:
        """Elite count (from the first-iteration population)."""
        return int(self.elite_frac * self.population)

    @property
    def kept_elites(self) -> int:
        """iCEM elites carried over between iterations and time steps (0 for other kinds)."""
        return int(self.keep_elites_frac * self.elites) if self.kind == "icem" else 0

    @property
    def populations(self) -> tuple[int, ...]:
        """Sampled candidates per iteration ``(I,)`` (iCEM decays, others constant)."""
        if self.kind != "icem":
            return (self.population,) * self.iterations
        floor = min(self.population, 2 * self.elites)
        return tuple(
            max(floor, math.ceil(self.population / self.population_decay**i))
            for i in range(self.iterations)
        )

    @property
    def prior_counts(self) -> tuple[int, ...]:
        """Candidates sampled around the policy's plan per iteration ``(I,)``."""
        return tuple(int(self.prior_frac * n) for n in self.populations)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PlannerConfig:
        return from_mapping(cls, data)


def _check_types(cfg: PlannerConfig) -> None:
    """Each field holds its declared type: an int field an int (not a bool, not 2.5), a float
    field a finite real number (an int is fine), a str field a str, a bool field a bool;
    ``ValueError`` naming the field otherwise (values from YAML or JSON arrive unchecked)."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        kind = {"int": int, "float": float, "str": str, "bool": bool}[str(f.type)]
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind is int:  # numbers.Integral: numpy integers too
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        elif kind is float:
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            ok = ok and math.isfinite(value)
        else:
            ok = isinstance(value, str)
        if not ok:
            want = {"int": "an integer", "float": "a finite number", "str": "a string",
                    "bool": "true or false"}[str(f.type)]  # fmt: skip
            raise ValueError(f"PlannerConfig.{f.name} must be {want}, got {value!r}")


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"PlannerConfig.{key}={value!r}; allowed: {', '.join(allowed)}")


def _in_range(
    key: str,
    value: float,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    bad_low = value <= low if low_open else value < low
    bad_high = value >= high if high_open else value > high
    if bad_low or bad_high:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"PlannerConfig.{key}={value} must be in {interval}")
