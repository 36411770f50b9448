"""Safe excitation: a planner's action plus bounded exploration noise, the noise withheld near
the joints' limits.

Recording on a robot for calibration or finetuning widens the planner's behaviour with
Gaussian noise (:func:`noisy_action`: std = ``noise`` × half the action range, clipped to the
bounds). Bounded in action is not bounded in state: a run of same-signed noise pushes a
cart-pole's cart past its rail critic's limit. :class:`ExcitationGuard` withholds the noise
(the planner's own action is sent) whenever a joint is at, or heading for, its limit:

    noise allowed  <=>  for every guarded joint j:
                        low_j <= q_j <= high_j  and  low_j <= q_j + qd_j · lookahead <= high_j

(:func:`noise_allowed`). The **inner limits** ``[low_j, high_j]`` of a joint are its
``position_range`` from the task file, tightened to ``±limit`` when a ``rail`` critic names
it (cart-pole: the slider's range is ±2.5 m, its rail critic's limit 2.0 m, so ±2.0 m); a
joint with neither finite is not guarded. ``lookahead`` defaults to
:data:`DEFAULT_LOOKAHEAD_S` (0.3 s). A non-finite reading never allows noise.

``q`` and ``qd`` are read from the observation (the task file's layout: raw positions and
velocities). A joint whose position the observation does not hold is not guarded; one whose
velocity it does not hold is guarded on its position alone; either is said once per task in
one log line. A task that is not a task file (no observation layout) guards nothing.

Every place that adds exploration noise to a planner's action uses this module:
:func:`mbrl_sim.collect.rollout` (``collect --noise``, and through it the sim-to-real
pipeline's calibration recording and the demo). Numpy only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_LOOKAHEAD_S = 0.3
"""How far ahead (s) a joint's position is extrapolated with its velocity."""

_log = logging.getLogger(__name__)
_said: set[tuple[str, tuple[str, ...], tuple[str, ...]]] = set()


def noisy_action(
    action: np.ndarray, noise: float, low: np.ndarray, high: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``action (A,)`` plus Gaussian noise of std ``noise`` × half the range, clipped into
    ``[low, high]`` (float32); draws one ``(A,)`` standard normal from ``rng``."""
    low, high = np.asarray(low), np.asarray(high)
    half = (high - low) / 2
    return np.clip(action + noise * half * rng.standard_normal(len(low)), low, high).astype(
        np.float32
    )


def noise_allowed(
    q: np.ndarray, qd: np.ndarray, low: np.ndarray, high: np.ndarray, lookahead_s: float
) -> bool:
    """True when every position ``q (J,)`` and its extrapolation ``q + qd · lookahead_s`` lie
    inside ``[low, high] (J,)`` (±inf: open); False for any NaN. ``J = 0``: True."""
    q, qd = np.asarray(q, np.float64), np.asarray(qd, np.float64)
    ahead = q + qd * lookahead_s
    inside = (q >= low) & (q <= high) & (ahead >= low) & (ahead <= high)
    return bool(np.all(inside))


@dataclass(frozen=True)
class GuardedJoints:
    """The joints a guard watches, with their observation indices and inner limits."""

    names: tuple[str, ...]
    pos: np.ndarray
    """Observation index of each one's position ``(J,)``."""
    vel: np.ndarray
    """Observation index of each one's velocity ``(J,)``; -1 where not observed (qd = 0)."""
    low: np.ndarray
    high: np.ndarray
    unobserved: tuple[str, ...] = ()
    """Joints with a finite inner limit whose position the observation lacks: not guarded."""
    no_velocity: tuple[str, ...] = ()
    """Guarded joints whose velocity the observation lacks: position alone."""


def guarded_joints(task: Any) -> GuardedJoints:
    """The joints of ``task`` with a finite inner limit (``position_range``, tightened by its
    ``rail`` critics) and how to read them from its observation."""
    from mbrl_control.pipeline.evaluate import rail_limits

    names = tuple(getattr(task, "joint_names", ()))
    limits = getattr(task, "position_limits", None) or [(-np.inf, np.inf)] * len(names)
    low = np.array([lo for lo, _ in limits], np.float64)
    high = np.array([hi for _, hi in limits], np.float64)
    for j, lim in rail_limits(task):
        low[j], high[j] = max(low[j], -lim), min(high[j], lim)
    bounded = [k for k in range(len(names)) if np.isfinite(low[k]) or np.isfinite(high[k])]
    layout = getattr(task, "layout", None)  # a task file's observation layout
    pos_at = {} if layout is None else layout.pos
    vel_at = {} if layout is None else layout.vel
    kept = [k for k in bounded if names[k] in pos_at]
    return GuardedJoints(
        names=tuple(names[k] for k in kept),
        pos=np.array([pos_at[names[k]] for k in kept], int),
        vel=np.array([vel_at.get(names[k], -1) for k in kept], int),
        low=low[kept],
        high=high[kept],
        unobserved=tuple(names[k] for k in bounded if names[k] not in pos_at),
        no_velocity=tuple(names[k] for k in kept if names[k] not in vel_at),
    )


class ExcitationGuard:
    """Per step, ``guard(obs, action, noisy)`` returns ``noisy`` (the planner's ``action``
    plus exploration noise) when :func:`noise_allowed` holds for ``obs (O,)``, else
    ``action``. With ``enabled=False`` it always returns ``noisy`` and only counts (the
    unguarded baseline of a measurement).

    Counts since construction: ``steps``, ``flagged`` (steps the rule withheld the noise, or
    would have when disabled) and :meth:`summary`. One guard per episode."""

    def __init__(
        self, task: Any, lookahead_s: float = DEFAULT_LOOKAHEAD_S, enabled: bool = True
    ) -> None:
        if not (np.isfinite(lookahead_s) and lookahead_s >= 0):
            raise ValueError(f"lookahead_s must be finite and >= 0, got {lookahead_s!r}")
        self.joints = guarded_joints(task)
        self.lookahead_s = float(lookahead_s)
        self.enabled = bool(enabled)
        self.steps = self.flagged = 0
        self._sq = 0.0  # sum of squared sent - planner action, in half ranges
        half = (np.asarray(task.high, np.float64) - np.asarray(task.low, np.float64)) / 2
        self._half = np.where(half > 0, half, 1.0)
        self._say_once(task)

    def _say_once(self, task: Any) -> None:
        j = self.joints
        key = (str(getattr(task, "name", "")), j.unobserved, j.no_velocity)
        if (j.unobserved or j.no_velocity or not j.names) and key not in _said:
            _said.add(key)
            _log.warning(
                "exploration-noise guard, task %s: guarded %s; not guarded (position not "
                "observed) %s; position only (velocity not observed) %s",
                key[0], list(j.names) or "none", list(j.unobserved) or "none",
                list(j.no_velocity) or "none",
            )  # fmt: skip

    def allows(self, obs: np.ndarray) -> bool:
        """:func:`noise_allowed` for the guarded joints' positions and velocities in ``obs``."""
        j, x = self.joints, np.asarray(obs, np.float64)
        q = x[j.pos]
        qd = np.where(j.vel >= 0, x[np.maximum(j.vel, 0)], 0.0)
        return noise_allowed(q, qd, j.low, j.high, self.lookahead_s)

    def __call__(self, obs: np.ndarray, action: np.ndarray, noisy: np.ndarray) -> np.ndarray:
        allowed = self.allows(obs)
        self.steps += 1
        self.flagged += int(not allowed)
        sent = noisy if allowed or not self.enabled else np.asarray(action, np.float32)
        self._sq += float(np.mean(((np.asarray(sent) - action) / self._half) ** 2))
        return sent

    def summary(self) -> dict[str, Any]:
        """``enabled``, ``lookahead_s``, ``steps``, ``withheld_steps`` (``flagged_steps``
        when disabled), ``injected_rms`` (RMS of sent - planner action, in half ranges)."""
        return {
            "enabled": self.enabled,
            "lookahead_s": self.lookahead_s,
            "steps": self.steps,
            ("withheld_steps" if self.enabled else "flagged_steps"): self.flagged,
            "injected_rms": float(np.sqrt(self._sq / max(1, self.steps))),
        }
