"""The controller's ``on_uncertain: hold`` in an offline evaluation.

:class:`UncertaintyHold` wraps an :class:`~mbrl_control.export.runtime.OnnxPlanner` the way
``mpc_controller``'s tick does (``mbrl_control.ros.controller_node``): the same
:class:`~mbrl_control.control.uncertainty_monitor.UncertaintyMonitor` scores each observation
under the last applied plan's calibrated one-step predictive, and while the windowed surprise
or the plan's disagreement is at its ERROR threshold the task's safe action is sent for
``hold_time`` seconds of simulated time (control periods, not wall time). The planner's action
is clipped to the task's bounds as the controller's action filter does; a clipped action is
not scored (the prediction was for the planned one). So a safety case or an evaluation
measures the runtime option a robot would run, on paired episodes.

It is also an episode observer (the protocol of
:class:`~mbrl_control.pipeline.evaluate.EpisodeObserver`): each episode result
gets ``held_steps`` and ``holds`` (hold decisions), the summary ``held_fraction`` (mean share
of held steps) and ``holds_mean``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mbrl_control.control.config import ControllerConfig
from mbrl_control.control.uncertainty_monitor import UncertaintyMonitor


class UncertaintyHold:
    """Policy ``(obs (O,), goal (G,)) -> action (A,)`` with the controller's hold (see module doc).

    ``cfg``: the controller's parameters (only ``surprise_*``, ``disagreement_*`` and
    ``hold_time`` are read; ``on_uncertain`` is forced to ``hold``). Raises ``ValueError`` for
    a planner file without the calibrated predictive outputs (no surprise to hold on)."""

    def __init__(self, planner: Any, task: Any, cfg: ControllerConfig | None = None) -> None:
        if not (getattr(planner, "metadata", {}) or {}).get("uncertainty"):
            raise ValueError(
                "planner file has no calibrated predictive (pred_mean/pred_var): "
                "nothing to hold on; re-export it"
            )
        self.planner, self.task = planner, task
        self.cfg = replace(cfg or ControllerConfig(), on_uncertain="hold")
        self.monitor = UncertaintyMonitor(self.cfg)
        self.low, self.high = task.low, task.high  # (A,)
        self.safe = np.asarray(task.safe_action, np.float32)
        self.dt = float(task.dt)
        self._step, self._held, self._holds_before = 0, 0, 0

    def reset(self, seed: int | None = None) -> None:
        """New episode: the planner's own reset and a fresh monitor window."""
        self.planner.reset(seed)
        self.monitor.reset()
        self._step, self._held, self._holds_before = 0, 0, self.monitor.holds

    def __call__(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        now = self._step * self.dt
        self._step += 1
        self.monitor.before_plan(self.planner, obs)
        if self.monitor.hold_reason(now) is not None:
            self._held += 1
            self.monitor.published(None, self.safe)
            return self.safe.copy()
        planned = np.asarray(self.planner.act(obs, goal), np.float32)
        self.monitor.after_plan(self.planner.last_info)
        sent = np.clip(planned, self.low, self.high)
        self.monitor.published(planned, sent)
        return sent

    # ---- episode observer -----------------------------------------------------------------
    def on_reset(self, env: Any, obs: np.ndarray, info: dict[str, Any]) -> None:
        pass

    def on_step(self, env: Any, obs: np.ndarray, action: Any, cost: float, info: Any) -> None:
        pass

    def on_end(self, result: dict[str, Any]) -> dict[str, Any]:
        return {"held_steps": self._held, "holds": self.monitor.holds - self._holds_before}

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        if not results:
            return {}
        share = [r["held_steps"] / max(1, r["steps"]) for r in results]
        return {
            "held_fraction": float(np.mean(share)),
            "holds_mean": float(np.mean([r["holds"] for r in results])),
        }
