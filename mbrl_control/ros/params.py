"""Declare a node's parameters from a frozen config dataclass; validate every set.

Each dataclass field becomes one ROS parameter of the same name, typed from its default,
described by ``field(metadata=param_meta(doc, range=..., read_only=..., choices=...))``.

The rules every node gets from here (start-up overrides, params files and live sets alike):

- An integer is accepted wherever a double or a double array is declared
  (``-p control_rate:=50``, ``-p action_low:=[-5]``, ``ros2 param set ... rate 50``).
- Doubles must be finite; ``range`` and ``choices`` are enforced; ``read_only`` sets are
  refused by rclpy itself.
- A bad start-up value raises :class:`ParameterError` whose text is one line naming the
  parameter and what it accepts (``run_node`` prints it and exits 2).
- A live set is validated first (types, ranges, choices, then the dataclass's own
  ``__post_init__`` via :class:`LiveConfig`) and refused with that reason if bad; no
  callback here lets an exception escape, so no parameter value can stop a node.

API:
- ``declare_config(node, cls) -> cls``: declare all fields, return the start-up config.
- ``declare_param(node, name, default, doc=..., range=..., read_only=..., choices=...)``:
  one parameter outside a dataclass (e.g. ``critics.<name>.weight``), same rules.
- ``LiveConfig(node, cls, apply=fn, check=fn)``: ``declare_config`` plus live updates:
  on a set of any of ``cls``'s fields, ``dataclasses.replace(current, ...)`` (so
  ``__post_init__`` validates) and ``check(candidate)`` (node-specific checks, raise
  ValueError) run in the on-set callback; a failure refuses the set with the message.
  After a successful set ``.config`` is the new config and ``apply(config, changed_names)``
  runs (its exceptions are logged, never raised).
- ``guarded_on_set(fn)`` / ``guarded_post_set(node, fn)``: wrap a node's own parameter
  callbacks so an exception refuses the set (on-set) or is logged (post-set).
"""

from __future__ import annotations

import array
import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter

C = TypeVar("C")
T = Parameter.Type

_TYPES = {bool: T.BOOL, int: T.INTEGER, float: T.DOUBLE, str: T.STRING}

# What each declared type accepts, for one-line error messages.
ACCEPTS = {
    T.BOOL: "true or false",
    T.INTEGER: "an integer",
    T.DOUBLE: "a finite number (integers are fine, e.g. 50 or 50.0)",
    T.STRING: "a string",
    T.DOUBLE_ARRAY: "a list of finite numbers (e.g. [-5, 5.0])",
    T.INTEGER_ARRAY: "a list of integers",
    T.STRING_ARRAY: "a list of strings",
    T.BOOL_ARRAY: "a list of true/false",
}


class ParameterError(ValueError):
    """A parameter value a node cannot accept; ``str()`` is one line naming it."""


@dataclasses.dataclass(frozen=True)
class _Spec:
    """The checks of one parameter declared through this module."""

    ptype: Parameter.Type
    range: tuple[float, float] | None = None
    choices: tuple[Any, ...] | None = None


def _type_name(value: Any) -> str:
    try:
        return T.from_parameter_value(value).name.lower()
    except TypeError:
        return type(value).__name__


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def widen(ptype: Parameter.Type, value: Any) -> Any:
    """Integers (or lists of them) as floats where ``ptype`` is a double (array); else as is."""
    if ptype == T.DOUBLE and _is_number(value):
        return float(value)
    seq = isinstance(value, (list, tuple, array.array))
    if ptype == T.DOUBLE_ARRAY and seq and all(_is_number(v) for v in value):
        return [float(v) for v in value]
    if isinstance(value, (tuple, array.array)):
        return list(value)
    return value


def coerce(name: str, spec: _Spec, value: Any) -> Any:
    """``value`` as ``spec.ptype`` (int -> float for doubles), checked against ``spec``.

    Raises:
        ParameterError: wrong type, non-finite double, out of ``range``, not in ``choices``.
    """
    ptype = spec.ptype
    value = widen(ptype, value)
    if value is None or not ptype.check(value) or (ptype == T.BOOL) != isinstance(value, bool):
        raise ParameterError(
            f"parameter {name!r} accepts {ACCEPTS.get(ptype, ptype.name.lower())}, "
            f"got {_type_name(value)} {value!r}"
        )
    items = value if isinstance(value, list) else [value]
    if ptype in (T.DOUBLE, T.DOUBLE_ARRAY) and not all(math.isfinite(v) for v in items):
        raise ParameterError(f"parameter {name!r} must be finite, got {value!r}")
    if spec.range is not None:
        lo, hi = spec.range
        if not all(lo <= v <= hi for v in items):
            raise ParameterError(f"parameter {name!r} must be in [{lo}, {hi}], got {value!r}")
    if spec.choices is not None and value not in spec.choices:
        allowed = ", ".join(repr(c) for c in spec.choices)
        raise ParameterError(f"parameter {name!r} must be one of {allowed}; got {value!r}")
    return value


def make_descriptor(
    name: str,
    spec: _Spec,
    doc: str = "",
    read_only: bool = False,
) -> ParameterDescriptor:
    """The static ROS descriptor: type, description, read-only flag, range, choices."""
    d = ParameterDescriptor(name=name, type=spec.ptype.value, description=doc, read_only=read_only)
    if spec.range is not None:
        lo, hi = spec.range
        if spec.ptype == T.DOUBLE:
            d.floating_point_range = [
                FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)
            ]
        elif spec.ptype == T.INTEGER:
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
        else:  # arrays: ROS ranges are scalar-only, say it in words
            d.additional_constraints = f"every element in [{lo}, {hi}]"
    if spec.choices is not None:
        d.additional_constraints = "one of: " + ", ".join(str(c) for c in spec.choices)
    return d


# ---- per-node hooks: int -> double coercion and spec checks on every live set ------------
class _Registry:
    """The specs of one node's parameters and the two hooks that enforce them."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.specs: dict[str, _Spec] = {}
        node.add_pre_set_parameters_callback(self._pre_set)
        node.add_on_set_parameters_callback(guarded_on_set(self._on_set))

    def _pre_set(self, params: list[Parameter]) -> list[Parameter]:
        """Turn INTEGER (arrays) into DOUBLE (arrays) where a double is declared."""
        out = []
        for p in params:
            spec = self.specs.get(p.name)
            if spec is not None and p.type_ in (T.INTEGER, T.INTEGER_ARRAY):
                value = widen(spec.ptype, p.value)
                if spec.ptype.check(value):  # else keep it: the type check refuses it
                    p = Parameter(p.name, spec.ptype, value)
            out.append(p)
        return out

    def _on_set(self, params: list[Parameter]) -> SetParametersResult:
        for p in params:
            spec = self.specs.get(p.name)
            if spec is not None and p.type_ != T.NOT_SET:
                coerce(p.name, spec, p.value)  # ParameterError -> refused by the guard
        return SetParametersResult(successful=True)


def _registry(node: Node) -> _Registry:
    reg = node.__dict__.get("_mbrl_param_registry")
    if reg is None:
        reg = _Registry(node)
        node.__dict__["_mbrl_param_registry"] = reg
    return reg


def declare_param(
    node: Node,
    name: str,
    default: Any,
    *,
    doc: str = "",
    range: tuple[float, float] | None = None,
    read_only: bool = False,
    choices: Iterable[Any] | None = None,
    ptype: Parameter.Type | None = None,
) -> Any:
    """Declare one parameter with the module's rules; return its start-up value.

    ``ptype`` is needed only for an empty-list default (it carries no element type).
    Overrides of any type are read first (a dynamically typed probe declaration), coerced
    and checked here, then the parameter is re-declared statically typed with its descriptor.

    Raises:
        ParameterError: the start-up value is of the wrong type, non-finite, out of range or
            not one of ``choices`` (one line naming the parameter and what it accepts).
    """
    if ptype is None:
        ptype = T.from_parameter_value(default)
    spec = _Spec(ptype, tuple(range) if range else None, tuple(choices) if choices else None)
    registry = _registry(node)
    # 1. probe: read the override whatever its type (a static declaration would throw)
    probe = ParameterDescriptor(dynamic_typing=True)
    override = node.declare_parameter(name, None, probe).value
    node.undeclare_parameter(name)
    # 2. coerce and check (the default too: a bad default is a bug worth one line)
    value = coerce(name, spec, default if override is None else override)
    # 3. the real declaration, statically typed, with the coerced value
    descriptor = make_descriptor(name, spec, doc, read_only)
    try:
        if value == []:  # rclpy infers a byte array from []: declare, then retype it
            node.declare_parameter(name, [], ParameterDescriptor(), ignore_override=True)
            node.set_descriptor(name, descriptor, Parameter(name, ptype, []).get_parameter_value())
        else:
            node.declare_parameter(name, value, descriptor, ignore_override=True)
    except ParameterException as exc:  # a descriptor refused it: still one line
        raise ParameterError(f"parameter {name!r}: {exc}") from None
    registry.specs[name] = spec
    return value


# ---- dataclass configs ---------------------------------------------------------------------
def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def _field_type(f: dataclasses.Field, default: Any) -> Parameter.Type:
    if isinstance(default, list):
        return T.DOUBLE_ARRAY if "float" in str(f.type) else T.STRING_ARRAY
    return _TYPES[type(default)]


def _build(cls: type[C], values: dict[str, Any], where: str) -> C:
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"{where}: {exc}") from None


def declare_config(node: Node, cls: type[C]) -> C:
    """Declare every field of ``cls`` as a parameter and build ``cls`` from the values.

    Raises:
        ParameterError: a bad start-up value (see :func:`declare_param`) or a combination
            the dataclass's ``__post_init__`` refuses (its message, prefixed by the node name).
    """
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        default = _default(f)
        meta = f.metadata
        values[f.name] = declare_param(
            node,
            f.name,
            default,
            doc=meta.get("doc", ""),
            range=meta.get("range"),
            read_only=bool(meta.get("read_only", False)),
            choices=meta.get("choices"),
            ptype=_field_type(f, default),
        )
    return _build(cls, values, "invalid parameters")


# ---- callbacks that cannot stop a node --------------------------------------------------------
def guarded_on_set(
    fn: Callable[[list[Parameter]], SetParametersResult | None],
) -> Callable[[list[Parameter]], SetParametersResult]:
    """Wrap an on-set callback: an exception refuses the set with its message as reason."""

    def on_set(params: list[Parameter]) -> SetParametersResult:
        try:
            result = fn(params)
        except Exception as exc:
            msg = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            return SetParametersResult(successful=False, reason=msg)
        return result if result is not None else SetParametersResult(successful=True)

    return on_set


def guarded_post_set(
    node: Node, fn: Callable[[list[Parameter]], None]
) -> Callable[[list[Parameter]], None]:
    """Wrap a post-set callback: an exception is logged as an error, never raised."""

    def post_set(params: list[Parameter]) -> None:
        try:
            fn(params)
        except Exception as exc:
            names = ", ".join(p.name for p in params)
            node.get_logger().error(f"applying parameter(s) {names} failed: {exc!r}")

    return post_set


class LiveConfig(Generic[C]):
    """A node's config dataclass, declared as parameters and kept valid under live sets.

    Args:
        node: the node (plain or lifecycle).
        cls: a frozen dataclass whose fields use ``param_meta``.
        apply: ``apply(new_config, changed_field_names)`` after a successful set.
        check: ``check(candidate)`` raises ValueError for node-specific rules (e.g. an
            action-limit length that must match the task); runs at start-up and on every set.

    Raises:
        ParameterError: at construction, for a bad start-up value.
    """

    def __init__(
        self,
        node: Node,
        cls: type[C],
        apply: Callable[[C, frozenset[str]], None] | None = None,
        check: Callable[[C], None] | None = None,
    ) -> None:
        self.node = node
        self.cls = cls
        self.names = frozenset(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
        self._apply = apply
        self._check = check
        self.config: C = declare_config(node, cls)
        if check is not None:
            try:
                check(self.config)
            except ValueError as exc:
                raise ParameterError(f"invalid parameters: {exc}") from None
        node.add_on_set_parameters_callback(guarded_on_set(self._on_set))
        node.add_post_set_parameters_callback(guarded_post_set(node, self._post_set))

    def candidate(self, params: list[Parameter]) -> C | None:
        """The config after ``params`` (None if none of them is ours); raises ValueError."""
        updates = {p.name: p.value for p in params if p.name in self.names}
        if not updates:
            return None
        spec = _registry(self.node).specs
        updates = {k: coerce(k, spec[k], v) for k, v in updates.items()}
        new = dataclasses.replace(self.config, **updates)  # type: ignore[type-var]
        if self._check is not None:
            self._check(new)
        return new

    def _on_set(self, params: list[Parameter]) -> SetParametersResult:
        self.candidate(params)  # raises -> refused by the guard
        return SetParametersResult(successful=True)

    def _post_set(self, params: list[Parameter]) -> None:
        new = self.candidate(params)
        if new is None:
            return
        changed = frozenset(p.name for p in params if p.name in self.names)
        self.config = new
        if self._apply is not None:
            self._apply(new, changed)
