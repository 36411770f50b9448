"""The planner graph's outputs, named once (no torch or numpy: the control path reads it).

Every place that produces or reads the planning step's outputs goes through this list: the
exported graph (``export.onnx_export.PlanStep.output_names`` and its ``forward``), the
runtime (``export.runtime.OnnxPlanner``) and the controller (``control.core``). Issues that
add outputs (plan visualization, refinement, ...) add them here, in :data:`INFO_OUTPUTS`,
with their shape and meaning, and compute them in ``PlanStep.forward``.

Outputs, in graph order (A action dim, H horizon, P predicted dims, k elites):

- ``action (A,)``: the action to apply now;
- ``next_plan (H, A)``: the warm-start carry (fed back as ``prev_plan``);
- ``plan_cost ()``: the returned plan's cost (:data:`~mbrl_control.planning.rollout.BIG_COST`
  when no rollout was finite);
- ``disagreement ()``: the returned plan's epistemic disagreement, calibrated, mean over the
  H steps (:mod:`mbrl_control.uncertainty.quantities`; dimensionless);
- ``pred_mean (P,)``: the ensemble's predictive mean of the next state under ``action``
  (raw units, predicted dims: the ``last_actions`` block is exact);
- ``pred_var (P,)``: its calibrated total predictive variance (raw units²), k = 1;
- ``plan_states (E, H, P)``: each ensemble member's predicted states (raw units, predicted
  dims) after steps 1..H of the lowest-cost candidate the optimizer rolled out (in
  ``return_mode="best"`` the returned plan itself; in ``mean`` mode the candidate the
  returned mean was refit towards), averaged over that member's particles. Taken from the
  rollout the planner ran anyway (no second rollout): what the controller publishes as
  ``~/plan`` and ``~/plan_markers`` (:mod:`mbrl_control.recording.plan_view`);
- ``next_<carry> ...``: further carries (iCEM ``next_elites (k, H, A)``).

Files exported before ``pred_mean``/``pred_var``/``plan_states`` existed lack them; readers
treat a missing info output as "not available".
"""

from __future__ import annotations

from collections.abc import Sequence

INFO_OUTPUTS: tuple[str, ...] = (
    "plan_cost",
    "disagreement",
    "pred_mean",
    "pred_var",
    "plan_states",
)
"""Per-step information outputs, in graph order (after ``action`` and ``next_plan``)."""
SCALAR_OUTPUTS: tuple[str, ...] = ("plan_cost", "disagreement")
"""The info outputs that are one number (``last_info`` of the planners)."""


def output_names(carry_names: Sequence[str]) -> list[str]:
    """The graph's output names for a planner with carries ``carry_names`` (``plan`` first)."""
    carried = [f"next_{k}" for k in carry_names]
    return ["action", carried[0], *INFO_OUTPUTS, *carried[1:]]
