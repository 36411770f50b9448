"""Planner presets: an ensemble shape and a planner configuration, sized for any task.

A preset names the ensemble's size (members, hidden width, layers, activation) and a
:class:`~mbrl_control.planning.config.PlannerConfig`; the model's input and output sizes
always come from the task. A robot chooses its preset in its task file's ``planner`` section
(``preset`` plus overrides of planner fields and ``model`` sizes, validated at load:
:mod:`mbrl_control.tasks.planner_section`); a command's ``--preset`` replaces the whole section.

Presets (sources: PETS, Chua et al. 2018; iCEM, Pinneri et al. 2020):

- ``pets``: the PETS paper's sizes: E5 × 4×200 SiLU, CEM with P20 particles, N400, 10 %
  elites, I5, H15, TS∞ with aleatoric sampling. Far from real time on a CPU; a reference.
- ``rt``: real time on a CPU: a 5 × 3×64 ensemble, iCEM with one particle per member (P5),
  N64, two warm-started iterations, H15.
- ``cartpole``/``arm``: ``pets`` (the names the built-ins used first).
- ``cartpole-rt``: ``rt`` with H40 (0.8 s at 50 Hz: a swing-up needs the look-ahead, not the
  samples) and N32. ``arm-rt``: ``rt`` with H10.
- ``cartpole-fast``: sub-millisecond planning, **for a planner with a learned terminal value
  and policy prior** (``export --agent agent.pt --prior-frac 0.25``; TD-MPC-style short
  horizon): ``rt`` with H3 and N16. Without a value it cannot see a swing-up (README,
  "Speed": the measured return and latency).

This module imports no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from mbrl_control.planning.config import PlannerConfig

PETS_MODEL: dict[str, Any] = {"members": 5, "hidden": 200, "layers": 4, "activation": "silu"}
PETS_PLANNER = PlannerConfig(
    kind="cem",
    horizon=15,
    population=400,
    particles=20,
    iterations=5,
    elite_frac=0.1,
    momentum=0.1,
    aleatoric=True,
)
RT_MODEL: dict[str, Any] = {"members": 5, "hidden": 64, "layers": 3, "activation": "silu"}
RT_PLANNER = PlannerConfig(
    kind="icem",
    horizon=15,
    population=64,
    particles=5,
    iterations=2,
    elite_frac=0.1,
    keep_elites_frac=0.5,
    population_decay=1.0,
    momentum=0.1,
    beta=2.0,
)

PLANNER_PRESETS: dict[str, tuple[dict[str, Any], PlannerConfig]] = {
    "pets": (PETS_MODEL, PETS_PLANNER),
    "rt": (RT_MODEL, RT_PLANNER),
    "cartpole": (PETS_MODEL, PETS_PLANNER),
    "arm": (PETS_MODEL, PETS_PLANNER),
    "cartpole-rt": (RT_MODEL, replace(RT_PLANNER, horizon=40, population=32)),
    "arm-rt": (RT_MODEL, replace(RT_PLANNER, horizon=10)),
    "cartpole-fast": (RT_MODEL, replace(RT_PLANNER, horizon=3, population=16)),
}
"""Preset name -> (ensemble sizes, planner config); the sizes carry no obs/act dims."""

DEFAULT_PRESET = "rt"
"""The preset of a task whose file has no ``planner`` section."""
MODEL_KEYS = ("members", "hidden", "layers", "activation")
"""Ensemble sizes a task's ``planner.model`` may override."""
PLANNER_KEYS = tuple(f.name for f in fields(PlannerConfig))
"""Planner fields a task's ``planner`` section may override."""


def planner_setup(
    task: Any, preset: str | None = None
) -> tuple[str, dict[str, Any], PlannerConfig]:
    """``(preset name, ensemble sizes, planner config)`` for ``task``.

    ``preset`` (a command's ``--preset``) wins and is used as it is; else the task's
    ``planner`` section (``task.planner``: ``preset``, planner-field overrides and ``model``
    sizes); else :data:`DEFAULT_PRESET`. Raises ``ValueError`` naming an unknown preset.
    """
    section: Mapping[str, Any] = {} if preset else (getattr(task, "planner", None) or {})
    name = preset or section.get("preset", DEFAULT_PRESET)
    if name not in PLANNER_PRESETS:
        raise ValueError(f"unknown planner preset {name!r}; allowed: {sorted(PLANNER_PRESETS)}")
    model, cfg = PLANNER_PRESETS[name]
    overrides = {k: v for k, v in section.items() if k in PLANNER_KEYS}
    return name, {**model, **section.get("model", {})}, replace(cfg, **overrides)


__all__ = [
    "DEFAULT_PRESET",
    "MODEL_KEYS",
    "PLANNER_KEYS",
    "PLANNER_PRESETS",
    "planner_setup",
]
