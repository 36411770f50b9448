"""The controller's watch on its model: windowed surprise and epistemic disagreement, their
WARN/ERROR levels, and the optional hold of the safe action (no torch, no rclpy).

Surprise: after a tick that published the planner's action unchanged (not clipped or
rate-limited by the action filter, not replaced by the safe action), the next tick's
observation is scored under that plan's calibrated one-step predictive
(:meth:`~mbrl_control.export.runtime.OnnxPlanner.surprise`, nats per predicted dim) and
joins a window of the last ``surprise_window`` transitions; the score is their mean. Ticks
whose action was not the planned one are not scored (the prediction was for another action).
Disagreement: the graph's ``disagreement`` output of the last plan (calibrated, dimensionless:
:mod:`mbrl_control.uncertainty.quantities`).

Levels (values of ``diagnostic_msgs/DiagnosticStatus``): ERROR when either score is at or
above its ``*_error`` parameter, WARN at ``*_warn``, else OK. The reaction to an ERROR
(``on_uncertain``) lasts ``hold_time`` s and starts again while a score stays above:

- ``hold``: the safe action is published (the surprise window is emptied: the held ticks
  cannot be scored), decided after the tick's plan (:meth:`hold_reason`);
- ``cautious``: the planner plans with ``cautious_weights`` (e.g. a rail-margin critic that is
  0 otherwise: constraint tightening where the model is detected wrong), decided before the
  tick's plan (:meth:`cautious_reason`); its actions are published and scored as usual.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mbrl_control.control.config import ControllerConfig
from mbrl_control.uncertainty.quantities import SurpriseWindow

OK, WARN, ERROR = 0, 1, 2


class UncertaintyMonitor:
    """See the module docstring. Not thread-safe: the controller calls it from its tick."""

    def __init__(self, cfg: ControllerConfig) -> None:
        self.cfg = cfg
        self.window = SurpriseWindow(cfg.surprise_window)
        self.disagreement: float | None = None
        self._scorable = False  # the last published action is the one the planner predicted
        self._hold_until: float | None = None
        self.holds = 0  # reactions started ('hold' or 'cautious'): uncertainty_holds

    def configure(self, cfg: ControllerConfig) -> None:
        """New parameters (a new window length starts an empty window)."""
        if cfg.surprise_window != self.cfg.surprise_window:
            self.window = SurpriseWindow(cfg.surprise_window)
        self.cfg = cfg

    def reset(self) -> None:
        """Forget everything (model swap, restart): the scores describe the old model/run."""
        self.window.clear()
        self.disagreement, self._scorable, self._hold_until = None, False, None

    def before_plan(self, planner: Any, obs: np.ndarray) -> None:
        """Score ``obs (O,)`` under the last plan's prediction if that plan was applied."""
        if self._scorable and callable(getattr(planner, "surprise", None)):
            value = planner.surprise(obs)
            if value is not None:
                self.window.add(value)
        self._scorable = False

    def after_plan(self, info: dict[str, float]) -> None:
        """The plan's ``last_info`` (its ``disagreement``, when the planner reports one)."""
        d = info.get("disagreement")
        self.disagreement = None if d is None else float(d)

    def published(self, planned: np.ndarray | None, sent: np.ndarray) -> None:
        """The tick published ``sent``; ``planned`` is the planner's action (None: safe)."""
        self._scorable = planned is not None and bool(np.allclose(planned, sent, atol=1e-6))

    @property
    def surprise(self) -> float | None:
        return self.window.value

    def level(self) -> tuple[int, str]:
        """``(level, message)`` of the two scores against their thresholds."""
        cfg, worst, parts = self.cfg, OK, []
        for name, value, warn, error, unit in (
            ("surprise", self.surprise, cfg.surprise_warn, cfg.surprise_error,
             f"nats/dim over {len(self.window)} transitions"),
            ("disagreement", self.disagreement, cfg.disagreement_warn, cfg.disagreement_error,
             "x one-step std"),
        ):  # fmt: skip
            if value is None:
                continue
            lvl = ERROR if value >= error else WARN if value >= warn else OK
            if lvl:
                bound = error if lvl == ERROR else warn
                parts.append(f"{name} {value:.3g} >= {bound:g} ({unit})")
            worst = max(worst, lvl)
        if worst == OK:
            return OK, "model within its uncertainty thresholds"
        return worst, "; ".join(parts)

    def hold_reason(self, now: float) -> str | None:
        """Why the safe action is held at ``now`` (s), or None (plan as usual)."""
        return self._react(now, "hold", "holding the safe action")

    def cautious_reason(self, now: float) -> str | None:
        """Why the planner uses ``cautious_weights`` at ``now`` (s), or None (live weights)."""
        return self._react(now, "cautious", "planning with the cautious critic weights")

    def _react(self, now: float, mode: str, what: str) -> str | None:
        """The reaction ``mode`` at ``now``: its reason while it lasts, else None."""
        if self.cfg.on_uncertain != mode:
            return None
        if self._hold_until is not None and now < self._hold_until:
            return f"{what} ({self._hold_until - now:.2f} s left): {self._why}"
        self._hold_until = None
        level, message = self.level()
        if level < ERROR:
            return None
        self._hold_until, self._why = now + self.cfg.hold_time, message
        self.holds += 1
        if mode == "hold":  # the held ticks are not scorable; start afresh after the hold
            self.window.clear()
        return f"{what} for {self.cfg.hold_time:g} s: {message}"

    def values(self) -> dict[str, Any]:
        """/diagnostics values ('' when not yet known)."""
        level, _ = self.level()
        return {
            "surprise": "" if self.surprise is None else self.surprise,
            "surprise_transitions": len(self.window),
            "surprise_window": self.window.window,
            "epistemic_disagreement": "" if self.disagreement is None else self.disagreement,
            "uncertainty_level": ("OK", "WARN", "ERROR")[level],
            "on_uncertain": self.cfg.on_uncertain,
            "uncertainty_holds": self.holds,
        }
