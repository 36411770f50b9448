"""Tasks: each robot's observation layout, action bounds, cost critics and ROS mapping.

A task is defined once here and used by the simulator (``mbrl_sim``), the planner (its
torch cost is exported inside the planner graph) and the ROS nodes (JointState -> obs,
action -> command). A task is either a built-in (shipped as a task file in
``tasks/builtin/<name>.task.yaml``) or a user's task file (docs/task_files.md). This module
imports numpy and PyYAML only; ``Task.score`` takes torch tensors but torch is imported lazily
by the caller that has them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from mbrl_control.data.joint_state_merge import BadJointState
from mbrl_control.tasks.base import Critic, Task
from mbrl_control.tasks.cartpole import CartpoleSwingup
from mbrl_control.tasks.panda import PandaReach
from mbrl_control.tasks.task_file import (
    BUILTIN_DIR,
    FileTask,
    TaskFileError,
    builtin_task_files,
    is_task_path,
    load_builtin,
    load_task_file,
)

TASKS: dict[str, Callable[[], Task]] = {
    name: partial(load_builtin, name) for name in builtin_task_files()
}
"""Built-in task name -> a factory of fresh instances, one per shipped task file in
``tasks/builtin/`` (tests/tasks/test_task_file_equivalence.py holds them equal to the former
Python classes)."""


def get_task(name_or_path: str | Path) -> Task:
    """A fresh task: a built-in by name, or a task file by path (``.yaml``/``.yml`` or a path
    with a separator).

    Raises: ``FileNotFoundError`` for a missing file, :class:`TaskFileError` for a bad one,
    ``ValueError`` for an unknown name (listing the allowed names).
    """
    text = str(name_or_path)
    if text in TASKS:
        return TASKS[text]()
    if isinstance(name_or_path, Path) or is_task_path(text):
        return load_task_file(text)
    if not TASKS:  # an install without the package data has no built-ins at all
        raise ValueError(
            f"unknown task {text!r}: no built-in task files in {BUILTIN_DIR} (installed "
            "without package data?); give a path to a .yaml task file"
        )
    raise ValueError(
        f"unknown task {text!r}; allowed: {sorted(TASKS)} or a path to a .yaml task file"
    )


__all__ = [
    "TASKS",
    "BadJointState",
    "CartpoleSwingup",
    "Critic",
    "FileTask",
    "PandaReach",
    "Task",
    "TaskFileError",
    "builtin_task_files",
    "get_task",
    "load_builtin",
    "load_task_file",
]
