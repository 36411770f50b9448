"""The task file's ``csv_log`` section: how the columns of a lab's CSV log map to the task.

Every key is optional; what is left out uses the defaults below, which fit common logs
(``mbrl-control import --csv`` flags override the file key by key; docs/csv_logs.md):

- ``time_column`` (string): the time column. Default: the first of :data:`TIME_COLUMNS`
  present (case-insensitive).
- ``time_unit``: ``s`` | ``ms`` | ``us`` | ``ns`` (default ``s``).
- ``delimiter``: one character (``","``, ``";"``, ``"\\t"``, ``" "`` ...). Default: guessed
  from the header line.
- ``positions`` / ``velocities``: the column of each task joint, as a pattern with
  ``{joint}`` (``"{joint}_pos"``) or a mapping ``joint: column`` (joints not named there
  use the default patterns). ``velocities: derive`` computes them from the positions by
  finite differences (also done when a log has no velocity column).
- ``actions``: the column of each action, a pattern with ``{joint}`` (the command joint) or
  ``{action}`` (the action's name), or a mapping keyed by command joint or action name. The
  user chooses whether it is the commanded or the measured effort/velocity column.
- ``angle_unit``: ``rad`` | ``deg`` (default ``rad``): unit of the angular joints' positions
  and velocities, and of angular position/velocity actions, in the log.
- ``episode_column`` (string): a column whose value changes when a new episode (run) starts;
  each change is a reset of the segmentation rule (its time may go back).
- ``goal``: G column names, the task's goal at each episode's first row (needed when the
  task has a goal that is not ``fixed``).

No I/O here: the section is validated at load (errors name the key and what is allowed);
column names are matched against a log's header when it is imported
(:mod:`mbrl_control.data.csv_import`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mbrl_control.tasks import schema as s
from mbrl_control.tasks.schema import TaskFileError

KEYS = (
    "time_column",
    "time_unit",
    "delimiter",
    "positions",
    "velocities",
    "actions",
    "angle_unit",
    "episode_column",
    "goal",
)
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
"""Time unit -> seconds per unit."""
ANGLE_UNITS = ("rad", "deg")
TIME_COLUMNS = ("time", "t", "timestamp", "stamp", "time_s", "__time")
"""Default time column names, tried in order (``__time``: PlotJuggler's CSV export)."""
POSITION_PATTERNS = ("{joint}_pos", "{joint}_position", "/joint_states/{joint}/position")
VELOCITY_PATTERNS = ("{joint}_vel", "{joint}_velocity", "/joint_states/{joint}/velocity")
ACTION_PATTERNS = ("{joint}_cmd", "{joint}_command", "{action}")
"""Default action columns (commanded values), for every command interface."""
EFFORT_PATTERNS = ("{joint}_effort", "/joint_states/{joint}/effort")
"""Also tried for the actions of an effort-commanded task (the measured effort)."""
DERIVE = "derive"
"""``velocities: derive``: finite differences of the positions."""


@dataclass(frozen=True)
class ColumnMap:
    """Where the column of each key (a joint or an action) is: explicit ``columns`` first,
    then the first of ``patterns`` (``{joint}``/``{action}`` filled in) present in the log."""

    patterns: tuple[str, ...]
    columns: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CsvLogSpec:
    """The validated ``csv_log`` section (defaults where a key is absent)."""

    time_column: str | None = None
    time_unit: str = "s"
    delimiter: str | None = None
    positions: ColumnMap = ColumnMap(POSITION_PATTERNS)
    velocities: ColumnMap | None = ColumnMap(VELOCITY_PATTERNS)
    """``None``: derive velocities by finite differences."""
    actions: ColumnMap | None = None
    """``None``: the defaults for the task's interface (:func:`default_actions`)."""
    angle_unit: str = "rad"
    episode_column: str | None = None
    goal: tuple[str, ...] = ()


def default_actions(interface: str) -> ColumnMap:
    """The default action columns for a command interface."""
    extra = EFFORT_PATTERNS if interface == "effort" else ()
    return ColumnMap(ACTION_PATTERNS + extra)


def column_map(
    value: Any,
    where: str,
    keys: Sequence[str],
    placeholders: Sequence[str],
    defaults: Sequence[str],
) -> ColumnMap:
    """A pattern string (one of ``placeholders`` in braces) or a mapping ``key: column`` with
    each key one of ``keys``; a mapping keeps ``defaults`` for the keys it does not name.

    Raises: TaskFileError naming ``where``.
    """
    if isinstance(value, str):
        if not any("{" + p + "}" in value for p in placeholders):
            shown = " or ".join("{" + p + "}" for p in placeholders)
            raise TaskFileError(
                f"{where}={value!r}: a pattern needs {shown} (e.g. {{{placeholders[0]}}}_pos), "
                f"or give a mapping key: column"
            )
        try:
            value.format(**{p: "x" for p in placeholders})
        except (KeyError, IndexError, ValueError) as err:
            raise TaskFileError(
                f"{where}={value!r}: bad pattern ({err}); placeholders: "
                f"{['{' + p + '}' for p in placeholders]}"
            ) from None
        return ColumnMap((value,))
    m = s.mapping(value, where)
    columns: dict[str, str] = {}
    for k, col in m.items():
        s.choice(k, f"{where} key", list(keys))
        columns[str(k)] = s.string(col, f"{where}.{k}")
    return ColumnMap(tuple(defaults), columns)


def parse_column_option(text: str, where: str) -> Any:
    """A command-line mapping ``name=col,name2=col2`` as a dict, else ``text`` itself (a
    pattern or ``derive``), for :func:`column_map`."""
    if "=" not in text:
        return text
    out: dict[str, str] = {}
    for part in text.split(","):
        key, eq, col = part.partition("=")
        if not eq or not key.strip() or not col.strip():
            raise TaskFileError(f"{where}: expected name=column[,name=column...], got {text!r}")
        out[key.strip()] = col.strip()
    return out


def delimiter(value: Any, where: str) -> str:
    text = value.replace("\\t", "\t") if isinstance(value, str) else value
    if not isinstance(text, str) or len(text) != 1 or text in "\r\n\"'":
        raise TaskFileError(f"{where}={value!r}: expected one character such as ',' ';' '\\t' ' '")
    return text


def parse_csv_log(value: Any, task: Any, where: str = "csv_log") -> CsvLogSpec:
    """Validate the ``csv_log`` mapping of ``task``'s file (``where`` prefixes errors: the
    command line passes its flag names). Raises ``TaskFileError`` naming the key."""
    m = s.keys(value, where, (), KEYS)
    return spec_from_values(m, task, {k: f"{where}.{k}" for k in KEYS})


def spec_from_values(
    m: Mapping[str, Any], task: Any, where: Mapping[str, str], base: CsvLogSpec | None = None
) -> CsvLogSpec:
    """``base`` (default: all defaults) with the keys of ``m`` validated and replaced;
    ``where[key]`` names each key in errors (a task-file key or a command-line flag)."""
    joints = list(task.joint_names)
    act_keys = list(dict.fromkeys([*task.command_joints, *task.action_names]))
    out: dict[str, Any] = {}
    if "time_column" in m:
        out["time_column"] = s.string(m["time_column"], where["time_column"])
    if "time_unit" in m:
        out["time_unit"] = s.choice(m["time_unit"], where["time_unit"], list(TIME_UNITS))
    if "delimiter" in m:
        out["delimiter"] = delimiter(m["delimiter"], where["delimiter"])
    if "positions" in m:
        out["positions"] = column_map(
            m["positions"], where["positions"], joints, ("joint",), POSITION_PATTERNS
        )
    if "velocities" in m:
        v = m["velocities"]
        out["velocities"] = (
            None
            if v == DERIVE
            else column_map(v, where["velocities"], joints, ("joint",), VELOCITY_PATTERNS)
        )
    if "actions" in m:
        defaults = default_actions(getattr(task, "command_interface", "")).patterns
        out["actions"] = column_map(
            m["actions"], where["actions"], act_keys, ("joint", "action"), defaults
        )
    if "angle_unit" in m:
        out["angle_unit"] = s.choice(m["angle_unit"], where["angle_unit"], ANGLE_UNITS)
    if "episode_column" in m:
        out["episode_column"] = s.string(m["episode_column"], where["episode_column"])
    if "goal" in m:
        goal_dim = int(getattr(task, "goal_dim", 0))
        cols = s.names(m["goal"], where["goal"])
        if len(cols) != goal_dim:
            raise TaskFileError(
                f"{where['goal']}: task {task.name!r} has a goal of {goal_dim} values; "
                f"got {len(cols)} column(s)"
            )
        out["goal"] = tuple(cols)
    return replace(base or CsvLogSpec(), **out)
