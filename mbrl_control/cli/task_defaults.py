"""Defaults a command takes from its task: the DR profile and the planner preset.

A robot's task file says which domain-randomization profile (``dr_profile``) and which
planner preset (``planner`` section) it runs with; commands use them unless ``--profile`` /
``--preset`` say otherwise. Standard library at import time (``--help`` stays fast).
"""

from __future__ import annotations

PROFILE_HELP = "domain-randomization profile, a name or YAML path (default: the task's dr_profile)"
TASK_HELP = "built-in task name (e.g. cartpole_swingup) or task file (my_robot.task.yaml)"
PRESET_HELP = "planner preset (default: the task file's planner section, else rt)"


def task_profile(task: str, profile: str | None) -> str:
    """``profile`` when given, else the task's ``dr_profile`` (a path relative to the task
    file made absolute). Raises what :func:`~mbrl_control.tasks.get_task` raises."""
    if profile:
        return profile
    from mbrl_sim.env import task_profile as profile_of

    from mbrl_control.tasks import get_task

    return str(profile_of(get_task(task)))
