"""mbrl_control: model-based RL control for ROS 2.

The public Python API works on arrays from any gymnasium environment::

    from mbrl_control import Ensemble, EnsembleConfig, build_planner, OnnxPlanner
    from mbrl_control import Task, Critic, get_task, load_task_file  # robots as task files
    from mbrl_control import GymTask  # any gymnasium env: GymTask.from_env(env, cost=fn)

docs/python_api.md walks through gymnasium's Pendulum-v1 end to end.

Importing this package imports neither torch nor rclpy; the names below load their room
on first use, so the control path (``OnnxPlanner``) stays numpy + onnxruntime only.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (loaded lazily, see module docstring)
_API = {
    "Ensemble": "mbrl_control.models.ensemble",
    "EnsembleConfig": "mbrl_control.models.config",
    "TrainConfig": "mbrl_control.models.config",
    "fit": "mbrl_control.models.trainer",
    "load_checkpoint": "mbrl_control.models.checkpoint",
    "save_checkpoint": "mbrl_control.models.checkpoint",
    "PlannerConfig": "mbrl_control.planning.config",
    "build_planner": "mbrl_control.planning.planner",
    "export_planner": "mbrl_control.export.onnx_export",
    "OnnxPlanner": "mbrl_control.export.runtime",
    "get_task": "mbrl_control.tasks",
    "Task": "mbrl_control.tasks.base",
    "Critic": "mbrl_control.tasks.base",
    "GymTask": "mbrl_control.tasks.gym_task",
    "FileTask": "mbrl_control.tasks.task_file",
    "TaskFileError": "mbrl_control.tasks.schema",
    "load_task_file": "mbrl_control.tasks.task_file",
}

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'mbrl_control' has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)
