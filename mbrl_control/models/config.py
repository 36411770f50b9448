"""Configuration of the ensemble model and of its training (frozen, validated at load)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

T = TypeVar("T")

INPUT_STD_FLOOR = 0.1
"""The input normalizer's std is at least this fraction of each input's declared scale."""


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
    seed: int = 0
    """Seed of the weight initialization: the same config (seed included) gives bit-identical
    initial weights; the global torch RNG is neither read nor advanced."""
    action_history: int = 0
    """k of the task's ``last_actions`` observation block: the last ``k·A`` observation dims
    are the previous actions (newest first), shifted by :meth:`Ensemble.forward` instead of
    predicted and left out of the loss (:mod:`mbrl_control.tasks.action_history`)."""
    input_scale: tuple[float, ...] | None = None
    """Declared scale of each network input, ``(O + A,)`` raw units, obs first then actions
    (e.g. half the action range; see :meth:`for_task`). ``None``: 1 for every input. The
    input normalizer's std is floored at ``INPUT_STD_FLOOR * input_scale`` (see
    :meth:`input_std_floor`)."""

    def __post_init__(self) -> None:
        for key in ("obs_dim", "act_dim", "members", "hidden", "layers"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"EnsembleConfig.{key} must be >= 1, got {getattr(self, key)}")
        k = self.action_history
        if isinstance(k, bool) or not isinstance(k, int) or k < 0 or self.predicted_dim < 1:
            raise ValueError(
                f"EnsembleConfig.action_history must be an int >= 0 leaving at least one "
                f"predicted obs dim (obs_dim {self.obs_dim}, act_dim {self.act_dim}), got {k!r}"
            )
        if self.activation not in ("silu", "relu", "tanh", "elu"):
            raise ValueError(
                f"EnsembleConfig.activation={self.activation!r}; allowed: silu, relu, tanh, elu"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"EnsembleConfig.seed must be an int >= 0, got {self.seed!r}")
        if self.input_scale is not None:
            scale = tuple(float(x) for x in self.input_scale)  # JSON/checkpoint give lists
            d = self.obs_dim + self.act_dim
            if len(scale) != d or not all(math.isfinite(x) and x > 0 for x in scale):
                raise ValueError(
                    f"EnsembleConfig.input_scale must be {d} finite values > 0 (obs_dim + "
                    f"act_dim), got {list(self.input_scale)}"
                )
            object.__setattr__(self, "input_scale", scale)

    @property
    def history_dim(self) -> int:
        """Size ``k·A`` of the trailing observation block that is shifted, not predicted."""
        return self.action_history * self.act_dim

    @property
    def predicted_dim(self) -> int:
        """Observation dims the network predicts (and is trained on): ``O - k·A``."""
        return self.obs_dim - self.history_dim

    def input_std_floor(self) -> tuple[float, ...]:
        """Per-input floor ``(O + A,)`` of the input normalizer's std (raw units).

        An input whose training std is below ``INPUT_STD_FLOOR`` (a tenth) of its declared
        scale counts as not varied by the data (a locked joint, a constant goal, an unused
        command): dividing by its tiny std would turn a value the data never showed into a
        huge network input and a huge, falsely confident prediction. Floored, such a value
        stays a moderate input, and because no gradient ever reached that input's weights
        (its normalized training value is always 0), the members keep their different
        random weights there and disagree instead of agreeing on nonsense.
        """
        scale = self.input_scale or (1.0,) * (self.obs_dim + self.act_dim)
        return tuple(INPUT_STD_FLOOR * x for x in scale)

    @classmethod
    def for_task(cls, task: Any, **kwargs: Any) -> EnsembleConfig:
        """Config for ``task`` (anything with ``obs_dim``, ``act_dim``, ``low``, ``high`` and
        optionally ``action_history``): obs/action sizes, ``action_history`` and
        ``input_scale`` = 1 per observation, half the declared action range per action and per
        past action (1 where a bound is infinite); ``kwargs`` set the other fields
        (``obs_dim``/``act_dim`` in them, e.g. from a preset, must match the task)."""
        dims = {"obs_dim": int(task.obs_dim), "act_dim": int(task.act_dim)}
        for key, value in dims.items():
            if key in kwargs and int(kwargs[key]) != value:
                raise ValueError(f"EnsembleConfig.{key}={kwargs[key]} but the task has {value}")
        low = [float(x) for x in task.low]
        high = [float(x) for x in task.high]
        half = [
            (h - lo) / 2 if math.isfinite(h - lo) and h > lo else 1.0 for lo, h in zip(low, high)
        ]
        k = int(getattr(task, "action_history", 0) or 0)
        if "action_history" in kwargs and int(kwargs["action_history"]) != k:
            raise ValueError(
                f"EnsembleConfig.action_history={kwargs['action_history']} but the task has {k}"
            )
        o_joint = dims["obs_dim"] - k * dims["act_dim"]
        scale = (1.0,) * o_joint + tuple(half) * k + tuple(half)  # past actions scale as actions
        return cls(
            **{
                **kwargs,
                **dims,
                "action_history": k,
                "input_scale": kwargs.get("input_scale", scale),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> EnsembleConfig:
        return from_mapping(cls, data)


HOLDOUT_MODES = ("random", "newest")


@dataclass(frozen=True)
class TrainConfig:
    """How to train an :class:`~mbrl_control.models.ensemble.Ensemble` (see ``trainer.fit``).

    Defaults follow PETS / mbrl-lib for low-dimensional robots (cart-pole, pendulum).
    """

    lr: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 5e-5
    """L2 penalty on the layer weights (not on biases or log-variance bounds)."""
    batch_size: int = 256
    """Rows per member per gradient step (B)."""
    max_epochs: int = 200
    """Upper bound on epochs; an epoch is one pass over the (new) training rows."""
    patience: int = 10
    """Stop after this many epochs in which no member improved its hold-out score."""
    improvement_threshold: float = 0.01
    """A member improves when its hold-out MSE drops by more than this fraction of its best."""
    holdout_fraction: float = 0.1
    """Fraction of episodes held out for early stopping and validation (0 disables)."""
    holdout: str = "random"
    """Which episodes to hold out: ``random`` or ``newest`` (last to appear in the arrays)."""
    bootstrap: bool = True
    """Each member trains on its own resample (with replacement) of the training rows."""
    logvar_bound_weight: float = 0.01
    """Weight of ``sum(max_logvar) - sum(min_logvar)`` in the loss (PETS)."""
    beta_nll: float = 0.0
    """β of the β-NLL loss (Seitzer et al. 2022): each row's Gaussian NLL is weighted by its
    predicted variance to the power β (stop-gradient), in [0, 1]. 0 is the plain NLL; 0.5
    keeps badly-fit rows from being written off as noise; 1 weights the mean like MSE."""
    seed: int = 0
    """Seed of the numpy generator used when ``fit`` is given none."""

    def __post_init__(self) -> None:
        for key in ("lr", "batch_size", "max_epochs", "patience"):
            if not getattr(self, key) > 0:
                raise ValueError(f"TrainConfig.{key} must be > 0, got {getattr(self, key)}")
        for key in ("weight_decay", "improvement_threshold", "logvar_bound_weight"):
            if not getattr(self, key) >= 0:
                raise ValueError(f"TrainConfig.{key} must be >= 0, got {getattr(self, key)}")
        if not 0.0 <= self.beta_nll <= 1.0:
            raise ValueError(f"TrainConfig.beta_nll must be in [0, 1], got {self.beta_nll}")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError(
                f"TrainConfig.holdout_fraction must be in [0, 1), got {self.holdout_fraction}"
            )
        if self.holdout not in HOLDOUT_MODES:
            raise ValueError(
                f"TrainConfig.holdout={self.holdout!r}; allowed: {', '.join(HOLDOUT_MODES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TrainConfig:
        return from_mapping(cls, data)
