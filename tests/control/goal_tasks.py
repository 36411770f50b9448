"""Cart-pole task files with a goal of any kind and size, and tiny planners for them.

No critic reads these goals: they exist to drive the controller's goal handling (topic type
by G, the goal kinds), with a real exported planner that takes a ``(G,)`` goal input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mbrl_control.tasks import builtin_task_files


def cartpole_with_goal(
    tmp_path: Path, goal: dict[str, Any], name: str = "cartpole_goal", history: int = 0
) -> Path:
    """The built-in cart-pole task file with ``goal`` (a task-file goal mapping) and, when
    ``history`` > 0, a ``last_actions`` block of that many steps; written under ``tmp_path``."""
    data = yaml.safe_load(builtin_task_files()["cartpole_swingup"].read_text())
    data["name"] = name
    data["goal"] = goal
    if history:
        data["observation"].append({"feature": "last_actions", "steps": history})
    path = Path(tmp_path) / f"{name}.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def export_tiny_planner(task_file: Path, path: Path, seed: int = 0) -> Path:
    """An untrained 2-member ensemble behind a one-iteration iCEM step for the task in
    ``task_file`` (its whole definition travels in the file): real ONNX, under a second."""
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig
    from mbrl_control.tasks import load_task_file

    task = load_task_file(task_file)
    torch.manual_seed(seed)
    k = getattr(task, "action_history", 0)
    kwargs = {"action_history": k} if k else {}
    model = Ensemble(
        EnsembleConfig(task.obs_dim, task.act_dim, members=2, hidden=16, layers=2, **kwargs)
    )
    cfg = PlannerConfig(kind="icem", horizon=5, population=32, particles=2, iterations=1)
    return export_planner(model, task, cfg, path, provenance={"test": seed})
