"""Configuration of the SAC agent and of the MBPO loop (frozen, validated at load)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mbrl_control.models.config import from_mapping


@dataclass(frozen=True)
class SACConfig:
    """Soft actor-critic sizes and rates (Haarnoja et al. 2018, automatic entropy)."""

    hidden: int = 128
    """Width of the actor's and each critic's hidden layers."""
    layers: int = 2
    """Hidden layers of the actor, of each critic and of the state-value head."""
    value_hidden: int = 64
    """Width of the state-value head ``V(s)``, the planner's terminal value. It runs on every
    particle of every candidate at the horizon (P·N rows per optimizer iteration), so it is
    one small MLP instead of the actor plus twin critics it is distilled from."""
    gamma: float = 0.99
    """Discount per control step; the planner discounts its terminal value by gamma**H."""
    tau: float = 0.005
    """Polyak rate of the target critics: target = (1 - tau) target + tau online."""
    lr: float = 1e-4
    """Adam learning rate of actor, critics, temperature and value head. (The SAC paper's
    3e-4 left the cart-pole swing-up policy oscillating between good and failed
    swing-ups from one evaluation to the next; see docs/value_bootstrapping.md.)"""
    init_alpha: float = 0.1
    """Initial entropy temperature."""
    target_entropy_scale: float = 1.0
    """Target entropy = -scale * A (the usual -A at 1.0)."""
    log_std_min: float = -5.0
    """Lower clamp of the actor's pre-squash log std."""
    log_std_max: float = 2.0
    """Upper clamp of the actor's pre-squash log std."""

    def __post_init__(self) -> None:
        for key in ("hidden", "layers", "value_hidden"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"SACConfig.{key} must be >= 1, got {getattr(self, key)}")
        if not 0.0 < self.gamma < 1.0:
            raise ValueError(f"SACConfig.gamma must be in (0, 1), got {self.gamma}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"SACConfig.tau must be in (0, 1], got {self.tau}")
        for key in ("lr", "init_alpha"):
            if not getattr(self, key) > 0.0:
                raise ValueError(f"SACConfig.{key} must be > 0, got {getattr(self, key)}")
        if self.log_std_min >= self.log_std_max:
            raise ValueError(
                f"SACConfig.log_std_min={self.log_std_min} must be < log_std_max={self.log_std_max}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SACConfig:
        return from_mapping(cls, data)


@dataclass(frozen=True)
class MBPOConfig:
    """Model-based policy optimization (Janner et al. 2019) over a trained ensemble."""

    epochs: int = 100
    """Outer epochs; each: real steps (optional), model branches, SAC updates."""
    rollout_length: int = 5
    """k: the longest branched model rollout."""
    length_ramp: tuple[int, int] | None = None
    """Epochs ``(a, b)``: the rollout length grows linearly from 1 at epoch a to k at b
    (None: over the first third of the epochs, see :attr:`ramp`)."""
    branches: int = 2000
    """Model rollouts started from real states per epoch."""
    disagreement_threshold: float = 0.05
    """A branch stops once the epistemic disagreement of its step exceeds this: the std of
    the members' mean predictions in units of the one-step change's std, averaged over the
    predicted dims, calibrated at k = 1 (:mod:`mbrl_control.uncertainty.quantities`; the
    planner penalty's quantity). Default 0.05: just above the 99th percentile (0.041) of the
    cart-pole model's calibrated one-step disagreement on held-out planner episodes (median
    0.014), so a branch stops where the members disagree more than on any real state
    (docs/uncertainty.md). The old default 0.5 (variance units) never fired at k <= 5."""
    model_buffer: int = 200_000
    """Capacity of the imagined-transition buffer (FIFO)."""
    real_ratio_max: float = 1.0
    """Share of real rows in a batch while the model is poor (hold-out error >= error_high)."""
    real_ratio_min: float = 0.05
    """Share of real rows once the model is good (hold-out error <= error_low)."""
    error_high: float = 0.1
    """Hold-out normalized MSE at which the batches are all real (log-linear in between)."""
    error_low: float = 0.005
    """Hold-out normalized MSE at which the real share reaches ``real_ratio_min``."""
    updates_per_epoch: int = 500
    """SAC gradient steps per epoch."""
    batch_size: int = 256
    """Rows per SAC update (B)."""
    env_steps_per_epoch: int = 0
    """Real environment steps per epoch with the current actor (0: learn from the data only)."""
    retrain_every: int = 1000
    """Real steps between model refits (warm start, all real data)."""
    retrain_epochs: int = 20
    """Max epochs of each model refit."""
    seed: int = 0
    """Seed of the torch and numpy generators of the loop."""

    def __post_init__(self) -> None:
        for key in ("epochs", "rollout_length", "branches", "model_buffer", "updates_per_epoch"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"MBPOConfig.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("batch_size", "retrain_every", "retrain_epochs"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"MBPOConfig.{key} must be >= 1, got {getattr(self, key)}")
        if self.env_steps_per_epoch < 0:
            raise ValueError(
                f"MBPOConfig.env_steps_per_epoch must be >= 0, got {self.env_steps_per_epoch}"
            )
        a, b = self.ramp
        if not 0 <= a <= b:
            raise ValueError(f"MBPOConfig.length_ramp={self.length_ramp} needs 0 <= a <= b")
        if not 0.0 < self.real_ratio_min <= self.real_ratio_max <= 1.0:
            raise ValueError(
                "MBPOConfig needs 0 < real_ratio_min <= real_ratio_max <= 1, got "
                f"{self.real_ratio_min}, {self.real_ratio_max}"
            )
        if not 0.0 < self.error_low < self.error_high:
            raise ValueError(
                f"MBPOConfig needs 0 < error_low < error_high, got {self.error_low}, "
                f"{self.error_high}"
            )
        if not self.disagreement_threshold > 0.0:
            raise ValueError(
                f"MBPOConfig.disagreement_threshold must be > 0, got {self.disagreement_threshold}"
            )

    @property
    def ramp(self) -> tuple[int, int]:
        """The epochs ``(a, b)`` of the rollout-length ramp (``length_ramp`` resolved)."""
        return self.length_ramp or (0, max(1, self.epochs // 3))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MBPOConfig:
        data = dict(data)
        if data.get("length_ramp") is not None:
            data["length_ramp"] = tuple(data["length_ramp"])
        return from_mapping(cls, data)
