"""Execute parsed launch actions into the exact commands of the nodes to start.

Semantics follow upstream ``launch``/``launch_ros``: actions run in file order; ``arg``
keeps a value given on the command line, else takes its default; ``let`` sets a launch
configuration; ``push-ros-namespace`` sets the ``ros_namespace`` configuration that relative
node namespaces are prefixed with; a scoped ``group`` (the default) restores all launch
configurations after its children; ``include`` sets its ``arg`` values, then runs the file in
the same scope. A node's command is built as ``launch_ros.actions.Node`` builds it::

    EXE [args...] [--ros-args ros_args...] --ros-args [-r __node:=NAME] [-r __ns:=/NS]
        [--params-file FILE | -p NAME:=VALUE]... [-r FROM:=TO]...

Name/value parameters become ``-p`` rules whose YAML text rcl reads back with exactly the type
the launch file gives them (:mod:`mbrl_control.launcher.values`; upstream writes them unquoted
to a temporary parameter file, so rcl re-types strings such as ``'n'``: ros2/launch_ros#410).
Both forms apply in order after the files listed before them. A ``from`` file with
``allow_substs: true`` has its text substituted into a temporary file (upstream semantics).
A ``lifecycle_node`` with ``autostart`` gets ``NodeCommand.activate`` (its full name).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from mbrl_control.launcher import parser, values
from mbrl_control.launcher.model import (
    Action,
    Condition,
    DeclareArg,
    Group,
    Include,
    LaunchError,
    LaunchFile,
    Node,
    NodeCommand,
    ParamFile,
    ParamValue,
    PushNamespace,
    Scalar,
    SetConfig,
    Template,
)
from mbrl_control.launcher.paths import find_executable
from mbrl_control.launcher.substitutions import evaluate, is_literal, parse_template

OUTPUTS = ("screen", "log", "both")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_INCLUDE_DEPTH = 20


def declared_args(actions: Iterable[Action]) -> list[DeclareArg]:
    """Every ``arg`` in ``actions`` and their groups, in file order (includes not followed)."""
    out: list[DeclareArg] = []
    for action in actions:
        if isinstance(action, DeclareArg):
            out.append(action)
        elif isinstance(action, Group):
            out.extend(declared_args(action.actions))
    return out


def describe_args(args: Iterable[DeclareArg]) -> str:
    """One line per argument: name, default (or 'required') and description."""
    lines = []
    for arg in args:
        default = "required" if arg.default is None else f"default: {_show(arg.default)}"
        choices = f", one of: {', '.join(arg.choices)}" if arg.choices else ""
        desc = f"  {arg.description}" if arg.description else ""
        lines.append(f"  {arg.name} ({default}{choices}){desc}")
    return "\n".join(lines) or "  (none)"


def parse_cli_args(items: Iterable[str]) -> dict[str, str]:
    """``['task:=x', ...]`` -> ``{'task': 'x'}``; anything else is an error."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise LaunchError(f"launch arguments are given as name:=value, got {item!r}")
        out[name] = value
    return out


def plan(
    launch: LaunchFile, cli_args: Mapping[str, str], environ: Mapping[str, str]
) -> list[NodeCommand]:
    """The commands of every node ``launch`` starts, given ``name:=value`` arguments."""
    planner = _Planner(environ, declared_args(launch.actions))
    planner.run(launch.actions, dict(cli_args), depth=0)
    unknown = sorted(set(cli_args) - planner.seen_args)
    if unknown:
        raise LaunchError(
            f"unknown launch argument(s) {', '.join(unknown)}; declared arguments:\n"
            + describe_args(planner.top_args)
        )
    return _unique_labels(planner.commands)


@dataclass
class _Planner:
    environ: Mapping[str, str]
    top_args: list[DeclareArg]
    seen_args: set[str] = field(default_factory=set)
    commands: list[NodeCommand] = field(default_factory=list)
    _temp_files: list[str] = field(default_factory=list)

    def run(self, actions: Iterable[Action], configs: dict[str, str], depth: int) -> None:
        for action in actions:
            if action.condition is not None and not self._holds(action.condition, configs):
                continue
            if isinstance(action, DeclareArg):
                self._declare(action, configs)
            elif isinstance(action, SetConfig):
                configs[self._eval(action.name, configs)] = self._eval(action.value, configs)
            elif isinstance(action, PushNamespace):
                pushed = self._eval(action.namespace, configs)
                configs["ros_namespace"] = _absolute(
                    _prefix_namespace(configs.get("ros_namespace"), pushed)
                )
            elif isinstance(action, Group):
                inner = dict(configs) if action.scoped else configs
                self.run(action.actions, inner, depth)
            elif isinstance(action, Include):
                self._include(action, configs, depth)
            else:
                self.commands.append(self._node(action, configs))

    def _eval(self, template: Template, configs: Mapping[str, str]) -> str:
        return evaluate(template, configs, self.environ)

    def _holds(self, condition: Condition, configs: Mapping[str, str]) -> bool:
        value = self._eval(condition.expression, configs).strip().lower()
        if value not in ("true", "1", "false", "0"):
            which = "unless" if condition.negate else "if"
            raise LaunchError(
                f"condition {which}={_show(condition.expression)} evaluated to {value!r}; "
                "expected true, false, 1 or 0"
            )
        return (value in ("true", "1")) != condition.negate

    def _declare(self, arg: DeclareArg, configs: dict[str, str]) -> None:
        self.seen_args.add(arg.name)
        if arg.name not in configs:
            if arg.default is None:
                raise LaunchError(
                    f"missing required launch argument {arg.name!r} (give it as "
                    f"{arg.name}:=VALUE); declared arguments:\n{describe_args(self.top_args)}"
                )
            configs[arg.name] = self._eval(arg.default, configs)
        if arg.choices is not None and configs[arg.name] not in arg.choices:
            raise LaunchError(
                f"launch argument {arg.name}={configs[arg.name]!r} is not one of "
                f"{', '.join(arg.choices)}"
            )

    def _include(self, action: Include, configs: dict[str, str], depth: int) -> None:
        if depth >= _MAX_INCLUDE_DEPTH:
            raise LaunchError(f"includes nested deeper than {_MAX_INCLUDE_DEPTH} (a cycle?)")
        path = Path(self._eval(action.file, configs))
        for name, value in action.args:
            configs[self._eval(name, configs)] = self._eval(value, configs)
        self.run(parser.load(path).actions, configs, depth + 1)

    def _node(self, node: Node, configs: Mapping[str, str]) -> NodeCommand:
        executable = self._eval(node.executable, configs)
        package = None if node.package is None else self._eval(node.package, configs)
        name = None if node.name is None else self._eval(node.name, configs)
        where = f"node {name or executable!r}"
        if name is not None and not _NAME.fullmatch(name):
            raise LaunchError(f"{where}: invalid node name {name!r} (letters, digits, _)")
        ns = None if node.namespace is None else self._eval(node.namespace, configs)
        ns = _absolute(_prefix_namespace(configs.get("ros_namespace"), ns))
        if ns is not None and ns != "/" and not all(map(_NAME.fullmatch, ns[1:].split("/"))):
            raise LaunchError(f"{where}: invalid namespace {ns!r}")
        output = "log" if node.output is None else self._eval(node.output, configs)
        if output not in OUTPUTS:
            raise LaunchError(f"{where}: output {output!r} not supported (use {OUTPUTS})")

        argv = [str(find_executable(package, executable, self.environ))]
        argv += [self._eval(a, configs) for a in node.args]
        if node.ros_args:
            argv += ["--ros-args", *(self._eval(a, configs) for a in node.ros_args)]
        argv.append("--ros-args")
        if name is not None:
            argv += ["-r", f"__node:={name}"]
        if ns is not None:
            argv += ["-r", f"__ns:={ns}"]
        self._temp_files = []
        for param in node.params:
            argv += self._param_rule(param, configs, where)
        for src, dst in node.remaps:
            argv += ["-r", f"{self._eval(src, configs)}:={self._eval(dst, configs)}"]

        label_source = node.exec_name if node.exec_name is not None else node.name
        label = executable if label_source is None else self._eval(label_source, configs)
        activate = None
        if node.lifecycle and self._autostart(node.autostart, configs, where):
            activate = ("" if ns in (None, "/") else ns) + "/" + (name or executable)
        return NodeCommand(
            Path(label).name,
            tuple(argv),
            output,
            node.required,
            activate=activate,
            temp_files=tuple(self._temp_files),
        )

    def _autostart(self, value: Template | bool, configs: Mapping[str, str], where: str) -> bool:
        if isinstance(value, bool):
            return value
        text = self._eval(value, configs).strip().lower()
        if text not in ("true", "false", "1", "0"):
            raise LaunchError(f"{where}: autostart evaluated to {text!r}; expected true or false")
        return text in ("true", "1")

    def _substituted_file(self, path: Path, configs: Mapping[str, str], where: str) -> str:
        """``allow_substs``: the file's text with substitutions performed, as a temp file."""
        try:
            text = self._eval(parse_template(path.read_text(encoding="utf-8")), configs)
        except LaunchError as exc:
            raise LaunchError(f"{where}: parameter file {path}: {exc}") from None
        try:
            tree = values.load_yaml(text)
        except Exception as exc:  # yaml.YAMLError and its marks
            raise LaunchError(
                f"{where}: parameter file {path} is not valid YAML after substitution: {exc}"
            ) from None
        if not isinstance(tree, dict):
            raise LaunchError(f"{where}: parameter file {path} must hold a mapping of node names")
        out = _write_temp(text)
        self._temp_files.append(out)
        return out

    def _param_rule(
        self, param: ParamValue | ParamFile, configs: Mapping[str, str], where: str
    ) -> list[str]:
        if isinstance(param, ParamFile):
            path = self._eval(param.path, configs)
            if not Path(path).is_file():
                raise LaunchError(f"{where}: parameter file not found: {path}")
            if param.allow_substs:
                path = self._substituted_file(Path(path), configs, where)
            return ["--params-file", path]
        name = self._eval(param.name, configs)
        try:
            text = values.to_rcl_yaml(_param_value(param, lambda t: self._eval(t, configs)))
        except LaunchError as exc:
            raise LaunchError(f"{where}: parameter {name!r}: {exc}") from None
        return ["-p", f"{name}:={text}"]


def _write_temp(text: str) -> str:
    """Write ``text`` to a new ``launch_params_*.yaml`` file in the temp dir; its path."""
    fd, path = tempfile.mkstemp(prefix="launch_params_", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def _param_value(
    param: ParamValue, subst: Callable[[Template], str]
) -> Scalar | tuple[Scalar, ...]:
    """The typed value of a name/value param (rules in :mod:`mbrl_control.launcher.values`).

    ``type`` converts the substituted text; else a quoted literal stays a string, a plain
    literal gets rcl's type for its text, and a value with substitutions (quoted or not, as
    upstream) is read as a plain YAML value after substitution (``''`` stays ``''``).
    """

    def one(raw: Scalar) -> Scalar | tuple[Scalar, ...]:
        if not isinstance(raw, str):
            return raw
        template = parse_template(raw)
        text = subst(template)
        if param.type is not None:
            return values.convert(text, param.type)
        if not is_literal(template):
            return values.read_value(text)
        return text if isinstance(raw, values.Quoted) else values.rcl_plain(text)

    if not isinstance(param.value, tuple):
        return one(param.value)
    items = [one(v) for v in param.value]
    if any(isinstance(v, tuple) for v in items):
        raise LaunchError(f"list items must be scalars, got {items!r}")
    return values.one_type(items)  # type: ignore[arg-type]


def _prefix_namespace(base: str | None, ns: str | None) -> str | None:
    if ns is None:
        combined = base
    elif not base or ns.startswith("/"):
        combined = ns
    else:
        combined = ("" if base == "/" else base) + "/" + ns
    if combined is None:
        return None
    return combined.rstrip("/") or "/"


def _absolute(ns: str | None) -> str | None:
    return ns if ns is None or ns.startswith("/") else "/" + ns


def _unique_labels(commands: list[NodeCommand]) -> list[NodeCommand]:
    """Suffix repeated labels with -2, -3, ... so every output prefix names one process."""
    seen: dict[str, int] = {}
    out = []
    for cmd in commands:
        seen[cmd.label] = seen.get(cmd.label, 0) + 1
        if seen[cmd.label] > 1:
            cmd = replace(cmd, label=f"{cmd.label}-{seen[cmd.label]}")
        out.append(cmd)
    return out


def _show(template: Template) -> str:
    """A template written back roughly as in the file, for messages."""
    parts = []
    for part in template:
        if isinstance(part, str):
            parts.append(part)
        else:
            parts.append(f"$({part.name} {' '.join(_show(a) for a in part.args)})")
    return repr("".join(parts))
