"""Parsed launch actions: the data the parser produces and the planner executes.

A value that may contain substitutions is a :data:`Template`: a tuple of literal text and
:class:`Subst` parts, e.g. ``"$(var task).yaml"`` -> ``(Subst("var", (("task",),)), ".yaml")``.
Nothing here performs a substitution or touches the file system.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Subst:
    """One ``$(name arg ...)`` substitution; each argument is itself a template."""

    name: str
    args: tuple[Template, ...]


Template = tuple[str | Subst, ...]
"""Literal text and substitutions, concatenated when evaluated."""

Scalar = str | int | float | bool
"""A YAML scalar as written in the launch file (strings may hold substitutions)."""


@dataclass(frozen=True)
class Condition:
    """An ``if`` (``negate=False``) or ``unless`` (``negate=True``) attribute."""

    expression: Template
    negate: bool


@dataclass(frozen=True)
class DeclareArg:
    """``arg``: a launch argument, required when it has no default."""

    name: str
    default: Template | None
    description: str
    choices: tuple[str, ...] | None
    condition: Condition | None = None


@dataclass(frozen=True)
class SetConfig:
    """``let``: set a launch configuration."""

    name: Template
    value: Template
    condition: Condition | None = None


@dataclass(frozen=True)
class PushNamespace:
    """``push-ros-namespace`` (alias ``push_ros_namespace``): prefix the nodes that follow."""

    namespace: Template
    condition: Condition | None = None


@dataclass(frozen=True)
class ParamValue:
    """A ``param`` entry with ``name``/``value`` (nested ``param`` lists are flattened).

    ``value`` is a scalar, or a list of scalars; strings may hold substitutions, and a
    string written in quotes is a :class:`mbrl_control.launcher.values.Quoted` (it stays a
    string; see :mod:`mbrl_control.launcher.values`). ``type`` is the upstream type
    identifier (``str``, ``int``, ``float``, ``bool``) or None for the YAML rules.
    """

    name: Template
    value: Scalar | tuple[Scalar, ...]
    type: str | None


@dataclass(frozen=True)
class ParamFile:
    """A ``param`` entry with ``from``: a parameter YAML file.

    With ``allow_substs`` the file's text has its ``$(...)`` substitutions performed first
    (upstream semantics: a text substitution, then the result must be valid YAML).
    """

    path: Template
    allow_substs: bool = False


@dataclass(frozen=True)
class Node:
    """``node`` (or ``lifecycle_node``, then ``lifecycle`` is True): one ROS node process.

    ``autostart`` (lifecycle nodes only) asks the runner to configure and activate the node
    once its ``change_state`` service appears, as upstream ``LifecycleNode(autostart=True)``.
    """

    executable: Template
    package: Template | None = None
    name: Template | None = None
    namespace: Template | None = None
    exec_name: Template | None = None
    output: Template | None = None
    params: tuple[ParamValue | ParamFile, ...] = ()
    remaps: tuple[tuple[Template, Template], ...] = ()
    args: tuple[Template, ...] = ()
    ros_args: tuple[Template, ...] = ()
    required: bool = False
    condition: Condition | None = None
    lifecycle: bool = False
    autostart: Template | bool = False


@dataclass(frozen=True)
class Group:
    """``group``: child actions; ``scoped`` groups restore configurations afterwards."""

    actions: tuple[Action, ...]
    scoped: bool = True
    condition: Condition | None = None


@dataclass(frozen=True)
class Include:
    """``include``: another YAML launch file, with ``arg`` name/value pairs set first."""

    file: Template
    args: tuple[tuple[Template, Template], ...] = ()
    condition: Condition | None = None


Action = DeclareArg | SetConfig | PushNamespace | Node | Group | Include


@dataclass(frozen=True)
class LaunchFile:
    """A parsed launch file: its path and its top-level actions in order."""

    path: Path
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class NodeCommand:
    """A node ready to start: the label its output is prefixed with and its full argv.

    ``activate`` is the fully qualified name of a lifecycle node to bring to active after
    start (``autostart``), else None. ``temp_files`` were written for this command
    (substituted parameter files) and may be deleted once it has exited.
    """

    label: str
    argv: tuple[str, ...]
    output: str
    required: bool
    activate: str | None = None
    temp_files: tuple[str, ...] = ()


class LaunchError(Exception):
    """A launch file or launch argument problem; the message says what and where."""
