"""Task files with the ``last_actions`` observation block, for the action-history tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from mbrl_control.tasks import builtin_task_files


def cartpole_with_history(tmp_path: Path, steps: int = 2, rate_weight: float = 0.05) -> Path:
    """The built-in cart-pole task file plus ``{feature: last_actions, steps}`` and an
    ``action_rate`` critic (weight ``rate_weight``; none when 0), written under ``tmp_path``."""
    data = yaml.safe_load(builtin_task_files()["cartpole_swingup"].read_text())
    data["name"] = "cartpole_history"
    data["observation"].append({"feature": "last_actions", "steps": steps})
    if rate_weight:
        data["critics"].append({"name": "rate", "kind": "action_rate", "weight": rate_weight})
    path = tmp_path / "cartpole_history.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
