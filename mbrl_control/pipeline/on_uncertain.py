"""The controller's ``on_uncertain`` reactions (``hold``, ``cautious``) in an offline evaluation.

:class:`OnUncertain` wraps an :class:`~mbrl_control.export.runtime.OnnxPlanner` in the order of
``mpc_controller``'s tick (:meth:`mbrl_control.control.core.ControllerCore.tick`), with the
same :class:`~mbrl_control.control.uncertainty_monitor.UncertaintyMonitor`: score the new
observation under the last applied plan's calibrated one-step predictive (windowed
surprise); ``cautious``: choose the live or the ``cautious_weights`` critic weights; plan;
``hold``: publish the task's safe action instead while the reaction lasts. Reactions last
``hold_time`` seconds of simulated time (control periods, not wall time). The planned action
is clipped to the task's bounds as the controller's action filter does; only an unchanged
planned action is scored (the prediction was for it). So a safety case or an evaluation
measures the runtime option a robot would run, on paired episodes.

It is also an episode observer (the protocol of
:class:`~mbrl_control.pipeline.evaluate.EpisodeObserver`): each episode result gets
``held_steps``, ``cautious_steps`` and ``reactions`` (reactions started), the summary
``held_fraction``, ``cautious_fraction`` (mean shares of the steps) and ``reactions_mean``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mbrl_control.control.config import (
    ControllerConfig,
    cautious_vector,
    parse_cautious_weights,
)
from mbrl_control.control.uncertainty_monitor import UncertaintyMonitor


class OnUncertain:
    """Policy ``(obs (O,), goal (G,)) -> action (A,)`` with the controller's reaction to
    uncertainty (see module doc).

    ``cfg``: the controller's parameters (``surprise_*``, ``disagreement_*``, ``hold_time``,
    ``on_uncertain``, ``cautious_weights`` are read; default: ``hold`` with the controller's
    thresholds). Raises ``ValueError`` for ``on_uncertain: report`` (nothing to measure), a
    ``cautious_weights`` critic the task lacks, or a planner file without the calibrated
    predictive (no surprise to react to)."""

    def __init__(self, planner: Any, task: Any, cfg: ControllerConfig | None = None) -> None:
        cfg = cfg or replace(ControllerConfig(), on_uncertain="hold")
        if cfg.on_uncertain == "report":
            raise ValueError("on_uncertain='report' changes no action: give 'hold' or 'cautious'")
        if not (getattr(planner, "metadata", {}) or {}).get("uncertainty"):
            raise ValueError("planner file has no calibrated predictive (pred_mean/pred_var): "
                             "nothing to react to; re-export it")  # fmt: skip
        self.planner, self.task, self.cfg = planner, task, cfg
        self.monitor = UncertaintyMonitor(cfg)
        self.low, self.high = task.low, task.high  # (A,)
        self.safe = np.asarray(task.safe_action, np.float32)
        self.dt = float(task.dt)
        self.live = np.asarray(task.default_weights, np.float32)  # (K,)
        self.cautious = cautious_vector(
            task.critic_names, self.live, parse_cautious_weights(cfg.cautious_weights)
        )
        self._step, self._held, self._careful, self._before = 0, 0, 0, 0

    def reset(self, seed: int | None = None) -> None:
        """New episode: the planner's own reset and a fresh monitor window."""
        self.planner.reset(seed)
        self.monitor.reset()
        self._step, self._held, self._careful, self._before = 0, 0, 0, self.monitor.holds

    def __call__(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        now = self._step * self.dt
        self._step += 1
        self.monitor.before_plan(self.planner, obs)
        caution = self.monitor.cautious_reason(now)
        self._careful += caution is not None
        self.planner.set_weights(self.cautious if caution else self.live)
        planned = np.asarray(self.planner.act(obs, goal), np.float32)
        self.monitor.after_plan(self.planner.last_info)
        if self.monitor.hold_reason(now) is not None:
            self._held += 1
            self.monitor.published(None, self.safe)
            return self.safe.copy()
        sent = np.clip(planned, self.low, self.high)
        self.monitor.published(planned, sent)
        return sent

    # ---- episode observer -----------------------------------------------------------------
    def on_reset(self, env: Any, obs: np.ndarray, info: dict[str, Any]) -> None:
        pass

    def on_step(self, env: Any, obs: np.ndarray, action: Any, cost: float, info: Any) -> None:
        pass

    def on_end(self, result: dict[str, Any]) -> dict[str, Any]:
        return {"held_steps": self._held, "cautious_steps": self._careful,
                "reactions": self.monitor.holds - self._before}  # fmt: skip

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        if not results:
            return {}

        def share(key: str) -> float:
            return float(np.mean([r[key] / max(1, r["steps"]) for r in results]))

        return {
            "held_fraction": share("held_steps"),
            "cautious_fraction": share("cautious_steps"),
            "reactions_mean": float(np.mean([r["reactions"] for r in results])),
        }
