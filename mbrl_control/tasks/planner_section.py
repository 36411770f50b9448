"""The task file's ``planner`` section: the preset and sizes this robot is planned with.

``planner: {preset: rt, horizon: 40, population: 32, model: {hidden: 128}}``: a preset of
:mod:`mbrl_control.planning.presets` (default ``rt``), overrides of its planner fields
(``PlannerConfig``: ``kind``, ``horizon``, ``population``, ``particles``, ``iterations``, …)
and of its ensemble sizes (``model``: ``members``, ``hidden``, ``layers``, ``activation``).
The combination is validated at load by building the planner config, so a bad value is one
line naming its key. ``pretrain``, ``export``, ``evaluate --oracle`` and ``ablation`` use it
unless given ``--preset``, which replaces the whole section.
"""

from __future__ import annotations

from typing import Any

from mbrl_control.tasks import schema as s
from mbrl_control.tasks.schema import TaskFileError

ACTIVATIONS = ("silu", "relu", "tanh", "elu")


def parse_planner(value: Any, task: Any) -> dict[str, Any]:
    """Validate the ``planner`` mapping of ``task``'s file; raises ``TaskFileError``.

    Returns the section as given (the preset applies at use, see ``planner_setup``).
    """
    from mbrl_control.planning.presets import MODEL_KEYS, PLANNER_KEYS, PLANNER_PRESETS

    m = s.keys(value, "planner", (), ("preset", "model", *PLANNER_KEYS))
    if not m:
        return {}
    out: dict[str, Any] = dict(m)
    name = s.choice(m.get("preset", "rt"), "planner.preset", sorted(PLANNER_PRESETS))
    if "model" in m:
        sizes = dict(s.keys(m["model"], "planner.model", (), MODEL_KEYS))
        for key in ("members", "hidden", "layers"):
            if key in sizes:
                sizes[key] = s.integer(sizes[key], f"planner.model.{key}")
        if "activation" in sizes:
            s.choice(sizes["activation"], "planner.model.activation", ACTIVATIONS)
        out["model"] = sizes
    from dataclasses import replace

    cfg = PLANNER_PRESETS[name][1]
    overrides = {k: v for k, v in m.items() if k in PLANNER_KEYS}
    try:
        built = replace(cfg, **overrides)
    except (TypeError, ValueError) as e:
        raise TaskFileError(f"planner: {e} (preset {name!r} with {overrides})") from None
    missing = task.critics_without_derivative if built.refine_steps else ()
    if missing:  # refused here, not after a pretraining, when the planner is exported
        raise TaskFileError(
            f"planner.refine_steps={built.refine_steps}: {', '.join(missing)} declare(s) no "
            "derivative (gradient refinement needs one for every critic; see "
            "docs/gradient_refinement.md); set refine_steps: 0"
        )
    return out
