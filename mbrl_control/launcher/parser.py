"""Read a ROS 2 YAML launch file into :mod:`mbrl_control.launcher.model` actions.

Follows the upstream ``launch_yaml`` schema: the root is ``launch:`` holding a list of
one-key mappings (``- node: {...}``); a ``group`` holds ``children:``; attributes are plain
YAML keys and list-valued sub-entities (``param``, ``remap``, ``arg``, ``choice``) are lists of
mappings. As upstream, string attributes must be YAML strings (``default: '50.0'``, not
``50.0``), and every key must be understood: an unknown tag or attribute is an error that
names it and lists what this runner supports.
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from mbrl_control.launcher.model import (
    Action,
    Condition,
    DeclareArg,
    Group,
    Include,
    LaunchError,
    LaunchFile,
    Node,
    ParamFile,
    ParamValue,
    PushNamespace,
    Scalar,
    SetConfig,
    Subst,
    Template,
)
from mbrl_control.launcher.substitutions import parse_template
from mbrl_control.launcher.values import load_yaml, natural

PARAM_TYPES = ("str", "int", "float", "bool")
_SCALARS = (str, int, float, bool)


def load(path: str | Path) -> LaunchFile:
    """Parse the launch file at ``path`` (raises :class:`LaunchError`)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise LaunchError(f"cannot read launch file {path}: {exc.strerror}") from exc
    return parse(text, path)


def parse(text: str, path: Path) -> LaunchFile:
    """Parse launch-file ``text``; ``path`` names it in errors and anchors relative includes."""
    if not path.name.endswith((".launch.yaml", ".launch.yml", ".yaml", ".yml")):
        raise LaunchError(f"{path}: only YAML launch files (*.launch.yaml) can be run here")
    try:
        tree = load_yaml(text)
    except yaml.YAMLError as exc:
        raise LaunchError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(tree, dict) or list(tree) != ["launch"]:
        found = list(tree) if isinstance(tree, dict) else type(tree).__name__
        raise LaunchError(f"{path}: the root must be a single 'launch:' key, found {found}")
    root = _Entity("launch", tree["launch"], f"{path}: launch")
    actions = _parse_children(root)
    root.finish(())
    return LaunchFile(path=path, actions=actions)


class _Entity:
    """One tag's YAML value, tracking which keys were read (unknown keys are errors)."""

    def __init__(self, tag: str, element: Any, where: str) -> None:
        if element is None:
            element = {}
        if not isinstance(element, (dict, list)):
            raise LaunchError(
                f"{where}: expected a mapping of attributes, got {type(element).__name__}"
            )
        self.tag, self.element, self.where = tag, element, where
        self._read: set[str] = set()

    def error(self, message: str) -> LaunchError:
        return LaunchError(f"{self.where}: {message}")

    def raw(self, name: str) -> Any:
        """The attribute's YAML value, or None when absent (lists carry no attributes)."""
        if isinstance(self.element, list) or name not in self.element:
            return None
        self._read.add(name)
        return self.element[name]

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.raw(name)
        if value is None:
            if required:
                raise self.error(f"missing required attribute {name!r}")
            return None
        if not isinstance(value, str):
            raise self.error(
                f"attribute {name!r} must be a string, got {type(value).__name__} {value!r} "
                f"(quote it: {name}: '{value}')"
            )
        return value

    def template(self, name: str, *, required: bool = False) -> Template | None:
        value = self.text(name, required=required)
        return None if value is None else self.parse(value)

    def parse(self, value: str) -> Template:
        try:
            return parse_template(value)
        except LaunchError as exc:
            raise self.error(str(exc)) from None

    def boolean(self, name: str) -> bool | None:
        value = self.raw(name)
        if value is not None and not isinstance(value, bool):
            raise self.error(f"attribute {name!r} must be true or false, got {value!r}")
        return value

    def entities(self, name: str) -> list[_Entity]:
        """A list-of-mappings attribute (``param``, ``remap``, ...) as sub-entities."""
        value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(f"attribute {name!r} must be a list of mappings")
        return [_Entity(name, v, f"{self.where} > {name}[{i}]") for i, v in enumerate(value)]

    def children(self) -> list[tuple[str, Any, str]]:
        """``(tag, value, where)`` for each child entity."""
        if isinstance(self.element, dict):
            if "children" not in self.element:
                raise self.error("expected a 'children:' list")
            self._read.add("children")
            items = self.element["children"]
        else:
            items = self.element
        if not isinstance(items, list):
            raise self.error(f"children must be a list, got {type(items).__name__}")
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or len(item) != 1:
                raise self.error(
                    f"child {i} must be a mapping with exactly one key (the tag), got {item!r}"
                )
            ((tag, value),) = item.items()
            out.append((tag, value, f"{self.where} > {tag}[{i}]"))
        return out

    def condition(self) -> Condition | None:
        when, unless = self.template("if"), self.template("unless")
        if when is not None and unless is not None:
            raise self.error("'if' and 'unless' cannot be used together")
        if when is not None:
            return Condition(when, negate=False)
        return None if unless is None else Condition(unless, negate=True)

    def finish(self, supported: tuple[str, ...]) -> None:
        """Fail on keys nobody read, naming them and the supported ones."""
        if isinstance(self.element, list):
            return
        unknown = sorted(set(self.element) - self._read)
        if unknown:
            allowed = ", ".join(supported) or "none"
            raise self.error(
                f"unsupported attribute(s) {', '.join(map(repr, unknown))} for '{self.tag}' "
                f"(supported: {allowed})"
            )


def _parse_children(entity: _Entity) -> tuple[Action, ...]:
    actions = []
    for tag, value, where in entity.children():
        if tag not in _TAGS:
            supported = ", ".join(_TAGS)
            raise LaunchError(
                f"{where}: unknown or unsupported tag {tag!r} (supported: {supported})"
            )
        parse_fn, attrs = _TAGS[tag]
        child = _Entity(tag, value, where)
        actions.append(parse_fn(child))
        child.finish((*attrs, "if", "unless"))
    return tuple(actions)


def _parse_arg(e: _Entity) -> DeclareArg:
    name = e.text("name", required=True)
    assert name is not None
    choices = None
    if e.raw("choice") is not None:
        choice_entities = e.entities("choice")
        choices = tuple(c.text("value", required=True) or "" for c in choice_entities)
        for c in choice_entities:
            c.finish(("value",))
    e.where += f" {name!r}"
    return DeclareArg(
        name=_unescape(name),
        default=e.template("default"),
        description=_unescape(e.text("description") or ""),
        choices=choices,
        condition=e.condition(),
    )


def _parse_let(e: _Entity) -> SetConfig:
    return SetConfig(
        name=e.template("name", required=True) or (),
        value=e.template("value", required=True) or (),
        condition=e.condition(),
    )


def _parse_push_namespace(e: _Entity) -> PushNamespace:
    return PushNamespace(
        namespace=e.template("namespace", required=True) or (), condition=e.condition()
    )


def _parse_group(e: _Entity) -> Group:
    scoped = e.boolean("scoped")
    return Group(
        actions=_parse_children(e),
        scoped=True if scoped is None else scoped,
        condition=e.condition(),
    )


def _parse_include(e: _Entity) -> Include:
    args = []
    for a in e.entities("arg"):
        args.append(
            (a.template("name", required=True) or (), a.template("value", required=True) or ())
        )
        a.finish(("name", "value"))
    return Include(
        file=e.template("file", required=True) or (), args=tuple(args), condition=e.condition()
    )


def _parse_node(e: _Entity) -> Node:
    on_exit = e.text("on_exit")
    if on_exit not in (None, "shutdown"):
        raise e.error(f"on_exit must be 'shutdown' (the only upstream value), got {on_exit!r}")
    remaps = []
    for r in e.entities("remap"):
        remaps.append(
            (r.template("from", required=True) or (), r.template("to", required=True) or ())
        )
        r.finish(("from", "to"))
    args, ros_args = e.text("args"), e.text("ros_args")
    return Node(
        executable=e.template("exec", required=True) or (),
        package=e.template("pkg"),
        name=e.template("name"),
        namespace=e.template("namespace"),
        exec_name=e.template("exec_name"),
        output=e.template("output"),
        params=tuple(_parse_params(e.entities("param"), prefix=())),
        remaps=tuple(remaps),
        args=() if args is None else _split_cmdline(e, "args", args),
        ros_args=() if ros_args is None else _split_cmdline(e, "ros_args", ros_args),
        required=on_exit == "shutdown",
        condition=e.condition(),
    )


def _parse_lifecycle_node(e: _Entity) -> Node:
    """``lifecycle_node`` (launch_ros >= 0.26.12 on Jazzy): a node plus ``autostart``.

    As upstream ``LifecycleNode``, ``name`` and ``namespace`` are required (``namespace: ''``
    for none); ``autostart`` is true/false or a substitution that evaluates to one.
    """
    for required in ("name", "namespace"):
        if e.raw(required) is None:
            raise e.error(
                f"lifecycle_node needs {required!r} (upstream LifecycleNode requires name and "
                "namespace; write namespace: '' for none)"
            )
    node = _parse_node(e)
    raw = e.raw("autostart")
    if raw is None or isinstance(raw, bool):
        autostart: Template | bool = bool(raw)
    elif isinstance(raw, str):
        autostart = e.parse(raw)
    else:
        raise e.error(f"attribute 'autostart' must be true, false or a substitution, got {raw!r}")
    return replace(node, lifecycle=True, autostart=autostart)


def _parse_params(entities: list[_Entity], prefix: Template) -> list[ParamValue | ParamFile]:
    out: list[ParamValue | ParamFile] = []
    for p in entities:
        source, name = p.template("from"), p.template("name")
        if source is not None:
            if name is not None or prefix:
                raise p.error("'from' cannot be combined with 'name' or used in a nested param")
            out.append(ParamFile(source, allow_substs=bool(p.boolean("allow_substs"))))
            p.finish(("from", "allow_substs"))
            continue
        if name is None:
            raise p.error("a param needs either 'name' (with 'value' or nested 'param') or 'from'")
        full = (*prefix, ".", *name) if prefix else name
        nested = p.entities("param")
        value = p.raw("value")
        type_id = p.text("type")
        if nested:
            if value is not None or type_id is not None:
                raise p.error("a param with nested 'param' entries cannot have 'value' or 'type'")
            out.extend(_parse_params(nested, prefix=full))
        elif value is None:
            raise p.error("a param with 'name' needs 'value' or nested 'param' entries")
        else:
            out.append(ParamValue(full, _param_value(p, value, type_id), type_id))
        p.finish(("name", "value", "type", "param", "from"))
    return out


def _param_value(p: _Entity, value: Any, type_id: str | None) -> Scalar | tuple[Scalar, ...]:
    if type_id is not None and type_id not in PARAM_TYPES:
        raise p.error(
            f"param type {type_id!r} is not supported (supported: {', '.join(PARAM_TYPES)})"
        )
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, _SCALARS) for v in items):
        raise p.error(f"param value must be a scalar or a non-empty list of scalars, got {value!r}")
    if isinstance(value, list):
        if type_id is not None:
            raise p.error("'type' applies to scalar values only")
        kinds = {type(natural(v)) for v in items if not isinstance(v, str) or not _has_subst(v)}
        if len(kinds) > 1:
            raise p.error(f"param list items must all have one type, got {value!r}")
        return tuple(items)
    if type_id == "str" and not isinstance(value, str):
        raise p.error(f"param value {value!r} is not a str (quote it)")
    if type_id not in (None, "str") and not isinstance(value, (str, _TYPE_OF[type_id])):
        raise p.error(f"param value {value!r} is not a {type_id}")
    return value


_TYPE_OF = {"int": int, "float": float, "bool": bool}


def _has_subst(text: str) -> bool:
    return any(isinstance(part, Subst) for part in parse_template(text))


def _unescape(text: str) -> str:
    return "".join(p for p in parse_template(text) if isinstance(p, str)) if "\\" in text else text


def _split_cmdline(e: _Entity, name: str, text: str) -> tuple[Template, ...]:
    """Split ``args``/``ros_args`` into argv items as upstream does: each text run is split
    shell-style on its own, and a substitution sticks to the text it touches
    (``$(var dir)/a.yaml`` is one item; quotes cannot span a substitution)."""
    try:
        return _split_template(e.parse(text))
    except ValueError as exc:
        raise e.error(f"{name}: {str(exc).lower()} in {text!r}") from None


def _split_template(template: Template) -> tuple[Template, ...]:
    result: list[Template] = []
    current: list[str | Subst] = []

    def close() -> None:
        if current:
            result.append(tuple(current))
            current.clear()

    for part in template:
        if isinstance(part, Subst):
            current.append(part)
            continue
        tokens = shlex.split(part)
        if part[:1].isspace() or not tokens:
            close()
        if not tokens:
            continue
        current.append(tokens[0])
        if len(tokens) > 1:
            close()
            result.extend((t,) for t in tokens[1:-1])
            current.append(tokens[-1])
        if part[-1:].isspace():
            close()
    close()
    return tuple(result)


_NODE_ATTRS = (
    "pkg",
    "exec",
    "name",
    "namespace",
    "exec_name",
    "output",
    "param",
    "remap",
    "ros_args",
    "args",
    "on_exit",
)
_TAGS = {
    "arg": (_parse_arg, ("name", "default", "description", "choice")),
    "let": (_parse_let, ("name", "value")),
    "node": (_parse_node, _NODE_ATTRS),
    "lifecycle_node": (_parse_lifecycle_node, (*_NODE_ATTRS, "autostart")),
    "group": (_parse_group, ("scoped", "children")),
    "push-ros-namespace": (_parse_push_namespace, ("namespace",)),
    "push_ros_namespace": (_parse_push_namespace, ("namespace",)),
    "include": (_parse_include, ("file", "arg")),
}
