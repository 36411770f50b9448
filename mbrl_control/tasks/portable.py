"""A task travels inside an exported file: its whole definition as JSON, rebuilt without the file.

``export_planner``/``export_policy`` store ``Task.metadata()``; for a :class:`FileTask` that
includes ``definition`` (the task file's parsed YAML, JSON-safe: non-finite numbers such as
``.inf`` ranges become ``{"$float": "inf"}``, never the non-standard ``Infinity``) and
``source`` (the task file's path, provenance only: it is never read again).
:func:`task_from_metadata` rebuilds an equal :class:`FileTask` from that; files written before
the definition travelled are rebuilt by name from the built-ins, checked against the recorded
observation/action contract.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mbrl_control.tasks.base import Task

CONTRACT_KEYS = (
    "task",
    "obs_names",
    "action_names",
    "action_units",
    "action_low",
    "action_high",
    "control_hz",
    "goal_dim",
    "joint_names",
    "critics",
)
"""The ``Task.metadata()`` entries a rebuilt task must reproduce exactly."""
_TAG = "$float"


def encode_definition(value: Any) -> Any:
    """``value`` (parsed YAML: dicts, lists, str, int, float, bool, None) as strict JSON data:
    NaN and ±inf floats become ``{"$float": "nan" | "inf" | "-inf"}``."""
    if isinstance(value, float) and not math.isfinite(value):
        return {_TAG: repr(value)}  # 'inf', '-inf', 'nan'
    if isinstance(value, dict):
        return {str(k): encode_definition(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_definition(v) for v in value]
    return value


def decode_definition(value: Any) -> Any:
    """Inverse of :func:`encode_definition`."""
    if isinstance(value, dict):
        if set(value) == {_TAG}:
            return float(value[_TAG])
        return {k: decode_definition(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_definition(v) for v in value]
    return value


def task_from_metadata(meta: dict[str, Any], where: str = "model file") -> Task:
    """The task recorded in an exported file's metadata (the whole metadata or its ``task``
    entry): a :class:`FileTask` rebuilt from ``definition`` (no file needed), or for older
    files a built-in by name.

    Raises ``ValueError`` naming ``where`` when the definition is invalid, the name is not a
    built-in (older files), or the rebuilt task's contract differs from the recorded one.
    """
    from mbrl_control.tasks import TASKS, TaskFileError
    from mbrl_control.tasks.task_file import FileTask

    rec = meta.get("task", meta) if isinstance(meta.get("task"), dict) else meta
    name = rec.get("task")
    if "definition" in rec:
        source = Path(rec.get("source") or f"<{where}>")
        try:
            task: Task = FileTask(decode_definition(rec["definition"]), source)
        except TaskFileError as e:
            raise ValueError(f"{where}: task {name!r} recorded in it is invalid: {e}") from None
    elif name in TASKS:
        task = TASKS[name]()
    elif rec.get("origin") == "gymnasium":
        raise ValueError(
            f"{where}: task {name!r} was exported from Python (GymTask): it has no task file, "
            "and ROS nodes and finetuning need one (export with a task file's task)"
        )
    else:
        raise ValueError(
            f"{where}: task {name!r} is not a built-in and the file predates task definitions "
            "in metadata; export it again"
        )
    got = task.metadata()
    for key in CONTRACT_KEYS:
        if key in rec and got.get(key) != rec[key]:
            raise ValueError(
                f"{where}: the task {name!r} rebuilt from it differs in {key} "
                f"({got.get(key)} vs recorded {rec[key]}); export it again"
            )
    return task


def disagreement(expected: Task, recorded: dict[str, Any], said_by: str) -> str | None:
    """Why the task ``recorded`` in a file (its ``task`` metadata entry) is not ``expected``
    (which ``said_by`` names, e.g. "the task parameter"): one line naming both tasks, or None
    when the names and the observation/action contract agree."""
    name = recorded.get("task")
    if name != expected.name:
        return f"the file is for task {name!r} but {said_by} is {expected.name!r}"
    mine = expected.metadata()
    for key in CONTRACT_KEYS:
        if key in recorded and mine.get(key) != recorded[key]:
            return (
                f"the file's task {name!r} and {said_by} {expected.name!r} differ in {key} "
                f"({recorded[key]} vs {mine.get(key)})"
            )
    return None
