"""Configuration of the ensemble model and of its training (frozen, validated at load)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

T = TypeVar("T")


def from_mapping(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys by name."""
    allowed = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    return cls(**data)


@dataclass(frozen=True)
class EnsembleConfig:
    """Shape of the probabilistic ensemble."""

    obs_dim: int
    """Observation size O."""
    act_dim: int
    """Action size A."""
    members: int = 5
    """Ensemble size E (4-7 recommended: disagreement needs several members)."""
    hidden: int = 200
    """Width W of each hidden layer."""
    layers: int = 4
    """Number of hidden layers."""
    activation: str = "silu"
    """One of silu, relu, tanh, elu."""
    probabilistic: bool = True
    """Gaussian head (mean + log-variance); False gives a deterministic mean-only head."""
    reward_head: bool = False
    """Also predict the per-step cost (for tasks without a closed-form cost)."""

    def __post_init__(self) -> None:
        for key in ("obs_dim", "act_dim", "members", "hidden", "layers"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"EnsembleConfig.{key} must be >= 1, got {getattr(self, key)}")
        if self.activation not in ("silu", "relu", "tanh", "elu"):
            raise ValueError(
                f"EnsembleConfig.activation={self.activation!r}; allowed: silu, relu, tanh, elu"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> EnsembleConfig:
        return from_mapping(cls, data)
