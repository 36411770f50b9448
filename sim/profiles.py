"""Domain-randomization profiles: YAML files of parameter ranges, validated at load.

A profile (``sim/profiles/<name>.yaml``) maps parameter names to either a number (fixed) or
``{low, high, dist}`` with ``dist`` one of ``uniform``, ``loguniform``, ``normal`` (mean at
the centre, std a quarter of the range, clipped to it). Omitted parameters stay nominal.
:meth:`DRProfile.sample` draws one episode's values from a ``np.random.Generator``; the
draw is a JSON-serializable dict of plain floats, ints and lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.models.config import from_mapping

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
DISTRIBUTIONS = ("uniform", "loguniform", "normal")


@dataclass(frozen=True)
class Param:
    """One randomized parameter: ``low <= high`` and the distribution between them."""

    low: float
    high: float
    dist: str = "uniform"

    def __post_init__(self) -> None:
        if self.dist not in DISTRIBUTIONS:
            raise ValueError(f"dist={self.dist!r}; allowed: {list(DISTRIBUTIONS)}")
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or self.low > self.high:
            raise ValueError(f"impossible range low={self.low} > high={self.high}")
        if self.dist == "loguniform" and self.low <= 0:
            raise ValueError(f"loguniform needs low > 0, got low={self.low}")

    @classmethod
    def parse(cls, value: Any) -> Param:
        """A number (fixed value) or a mapping ``{low, high, dist}``."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(float(value), float(value))
        if isinstance(value, Mapping):
            p = from_mapping(cls, value)
            return cls(float(p.low), float(p.high), p.dist)
        raise ValueError(f"expected a number or {{low, high, dist}}, got {value!r}")

    def sample(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray | float:
        """``size`` draws (or one float when ``size`` is None)."""
        if self.low == self.high:
            x = np.full(size or 1, self.low)
        elif self.dist == "uniform":
            x = rng.uniform(self.low, self.high, size or 1)
        elif self.dist == "loguniform":
            x = np.exp(rng.uniform(np.log(self.low), np.log(self.high), size or 1))
        else:
            mid, std = (self.low + self.high) / 2, (self.high - self.low) / 4
            x = np.clip(rng.normal(mid, std, size or 1), self.low, self.high)
        return float(x[0]) if size is None else x


_ZERO, _HALF, _ONE = Param(0.0, 0.0), Param(0.5, 0.5), Param(1.0, 1.0)


# parameter -> (smallest allowed value, largest allowed value); checked on low and high.
_BOUNDS: dict[str, tuple[float, float]] = {
    "mass_scale": (1e-3, 100.0),
    "inertia_scale": (1e-3, 100.0),
    "joint_damping": (0.0, 1e3),
    "joint_friction": (0.0, 1e3),
    "lateral_friction": (0.0, 10.0),
    "actuator_gain": (1e-3, 10.0),
    "action_delay": (0.0, 20.0),
    "obs_noise_pos": (0.0, 10.0),
    "obs_noise_vel": (0.0, 100.0),
    "control_jitter": (0.0, 0.9),
    "push_prob": (0.0, 1.0),
    "push_force": (0.0, 1e3),
}


@dataclass(frozen=True)
class DRProfile:
    """Ranges of everything randomized at reset. Units are SI; scales are multiplicative."""

    name: str = "none"
    mass_scale: Param = _ONE
    """Per-link mass multiplier (-), drawn independently per link."""
    inertia_scale: Param = _ONE
    """Per-link inertia-diagonal multiplier (-), on top of the mass scale."""
    joint_damping: Param = _ZERO
    """Viscous joint damping per joint, in multiples of the task's reference damping
    (``simulation.joint_damping``; the ``none`` profile's 0 means no joint damping)."""
    joint_friction: Param = _ZERO
    """Coulomb joint friction per joint, in multiples of the task's reference friction
    (``simulation.joint_friction``). Acts on joints no motor drives (effort-commanded and
    passive joints); velocity/position motors hold their command through it (drawn, no
    effect there)."""
    lateral_friction: Param = _HALF
    """Contact (lateral) friction coefficient of every link (-)."""
    actuator_gain: Param = _ONE
    """Per actuated joint: realized command = gain × command (force or velocity)."""
    action_delay: Param = _ZERO
    """Whole control steps between a command and its effect: integer, uniform in [low, high]."""
    obs_noise_pos: Param = _ZERO
    """Std of Gaussian noise on measured joint positions (m or rad)."""
    obs_noise_vel: Param = _ZERO
    """Std of Gaussian noise on measured joint velocities (m/s or rad/s)."""
    control_jitter: Param = _ZERO
    """Half-width j of the per-step control period: dt × U(1 - j, 1 + j) (-)."""
    push_prob: Param = _ZERO
    """Probability per control step of a push on the task's push link (-)."""
    push_force: Param = _ZERO
    """Push magnitude in multiples of the task's reference push force
    (``simulation.push.force``); a push is horizontal, in a uniform direction (±x only when
    ``simulation.push.planar``), on ``simulation.push.link``, held for one control step."""

    def __post_init__(self) -> None:
        for key, (lo, hi) in _BOUNDS.items():
            p = getattr(self, key)
            if not isinstance(p, Param):
                raise ValueError(f"DRProfile.{key} must be a Param, got {p!r}")
            if p.low < lo or p.high > hi:
                raise ValueError(
                    f"DRProfile {self.name!r}: {key}=[{p.low}, {p.high}] outside the "
                    f"possible range [{lo}, {hi}]"
                )
        d = self.action_delay
        if d.low != int(d.low) or d.high != int(d.high):
            raise ValueError(f"DRProfile {self.name!r}: action_delay bounds must be integers")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], name: str = "custom") -> DRProfile:
        """Build from a YAML mapping; unknown keys and bad ranges raise naming the key."""
        allowed = sorted(_BOUNDS)
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise ValueError(f"DR profile {name!r}: unknown key(s) {unknown}; allowed: {allowed}")
        params = {}
        for key, value in data.items():
            try:
                params[key] = Param.parse(value)
            except (ValueError, TypeError) as err:
                raise ValueError(f"DR profile {name!r}, key {key!r}: {err}") from None
        return from_mapping(cls, {"name": name, **params})

    @classmethod
    def names(cls) -> list[str]:
        """Parameter names (the allowed YAML keys)."""
        return [f.name for f in fields(cls) if f.name != "name"]

    def sample(
        self,
        rng: np.random.Generator,
        n_links: int,
        damping_ref: np.ndarray,
        friction_ref: np.ndarray,
        n_actuated: int,
        push_ref: float,
    ) -> dict[str, Any]:
        """One episode's draw, in absolute SI units (scales stay multipliers).

        Per-link ``(n_links,)`` and per-joint ``(J,)`` (``J = len(damping_ref)``) values are
        lists, the rest scalars. The order of draws is fixed, so the same generator state
        gives the same dict.
        """
        n_joints = len(damping_ref)
        damping = self.joint_damping.sample(rng, n_joints) * np.asarray(damping_ref)
        friction = self.joint_friction.sample(rng, n_joints) * np.asarray(friction_ref)
        delay = int(rng.integers(int(self.action_delay.low), int(self.action_delay.high) + 1))
        return {
            "mass_scale": self.mass_scale.sample(rng, n_links).tolist(),
            "inertia_scale": self.inertia_scale.sample(rng, n_links).tolist(),
            "joint_damping": damping.tolist(),
            "joint_friction": friction.tolist(),
            "lateral_friction": self.lateral_friction.sample(rng),
            "actuator_gain": self.actuator_gain.sample(rng, n_actuated).tolist(),
            "action_delay": delay,
            "obs_noise_pos": self.obs_noise_pos.sample(rng),
            "obs_noise_vel": self.obs_noise_vel.sample(rng),
            "control_jitter": self.control_jitter.sample(rng),
            "push_prob": self.push_prob.sample(rng),
            "push_force": self.push_force.sample(rng) * push_ref,
        }


def load_profile(profile: str | Path) -> DRProfile:
    """A profile by name (``none``, ``nominal``, ``default``, ``wide``, ``reality_gap``) or YAML
    path."""
    import yaml

    path = Path(profile)
    if path.suffix not in (".yaml", ".yml"):
        path = PROFILE_DIR / f"{profile}.yaml"
        if not path.is_file():
            allowed = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
            raise ValueError(f"unknown DR profile {str(profile)!r}; allowed: {allowed}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, Mapping):
        raise ValueError(f"DR profile {str(path)!r} must be a mapping of parameter -> range")
    return DRProfile.from_mapping(data, name=path.stem)
