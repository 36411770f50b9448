"""ROS parameter values: which type a launch-file value has, and how it reaches the node intact.

One rule for every path a value takes (``param`` name/value entries, list items, values
with substitutions, ``type:``):

- ``type: str|int|float|bool`` converts the (substituted) text;
- a **quoted** literal (``'n'``, ``"1e3"``, ``''``) is a string, always;
- a **plain** literal has the type ``ros2 launch`` ends up giving it: PyYAML's reading
  (``true``, ``yes``, ``50``, ``1.5``), and for the words PyYAML leaves as text the type rcl
  gives them (``n``/``y`` are booleans, ``1e3`` and ``inf`` doubles) -- :func:`rcl_plain`;
- a value **with substitutions** (quoted or not, as upstream: ``"$(var use_sim_time)"`` is
  the bool) is read after substitution as a plain YAML value, by the same rule
  (:func:`read_value`); write ``type: str`` to keep such a value a string.

Values reach the node as ``-p NAME:=TEXT`` where TEXT is YAML that rcl reads back as exactly
this value (:func:`to_rcl_yaml`: strings are always double-quoted). ``ros2 launch`` writes
strings unquoted, so rcl re-types ``'n'`` as a bool and ``'1e3'`` as a double
(ros2/launch_ros#410); this runner does not.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml

from mbrl_control.launcher.model import LaunchError

Scalar = str | int | float | bool


class Quoted(str):
    """A YAML scalar that was written in quotes (or as a ``|``/``>`` block): always a string."""


class QuoteLoader(yaml.SafeLoader):
    """PyYAML's safe loader that marks quoted string scalars as :class:`Quoted`."""


def _construct_str(loader: QuoteLoader, node: yaml.ScalarNode) -> str:
    value = loader.construct_scalar(node)
    return Quoted(value) if node.style in ("'", '"', "|", ">") else value


QuoteLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` that keeps the quoting of strings (raises ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=QuoteLoader)


# rcl_yaml_param_parser's words for booleans (plain scalars only; PyYAML lacks y/Y/n/N)
_RCL_TRUE = frozenset(["Y", "y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"])
_RCL_FALSE = frozenset(["N", "n", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"])
_RCL_INF = {".inf": math.inf, ".Inf": math.inf, ".INF": math.inf, "+.inf": math.inf}
_RCL_INF |= {"+.Inf": math.inf, "+.INF": math.inf, "-.inf": -math.inf, "-.Inf": -math.inf}
_RCL_INF |= {"-.INF": -math.inf, ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan}
# strtol(text, &end, 0) consuming everything: decimal, 0-prefixed octal, 0x hex
_C_INT = re.compile(r"[ \t\n\v\f\r]*[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
# strtod(text, &end) consuming everything: decimal, hex floats, inf/infinity/nan[(chars)]
_C_DEC = r"([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
_C_HEX = r"0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)([pP][+-]?[0-9]+)?"
_C_WORD = r"(?i:inf|infinity|nan(\([0-9A-Za-z_]*\))?)"
_C_FLOAT = re.compile(rf"[ \t\n\v\f\r]*([+-]?)({_C_HEX}|{_C_DEC}|{_C_WORD})")
_INT64 = 2**63


def rcl_plain(text: str) -> Scalar:
    """The type and value rcl gives the plain (unquoted) YAML scalar ``text``.

    Mirrors ``rcl_yaml_param_parser``: its boolean words, then ``strtol(text, &end, 0)``
    and its YAML ``.inf``/``.nan`` words and ``strtod`` (each must consume all of ``text``
    without ``ERANGE``), else a string.
    """
    if text in _RCL_TRUE or text in _RCL_FALSE:
        return text in _RCL_TRUE
    if _C_INT.fullmatch(text):
        value = _c_int(text)
        if -_INT64 <= value < _INT64:
            return value
    if text in _RCL_INF:
        return _RCL_INF[text]
    match = _C_FLOAT.fullmatch(text)
    if match:
        value = _c_float(match.group(2))
        if value is not None:
            return -value if match.group(1) == "-" else value
    return text


def _c_int(text: str) -> int:
    body = text.strip()
    sign = -1 if body.startswith("-") else 1
    body = body.lstrip("+-")
    if body[:2].lower() == "0x":
        return sign * int(body[2:], 16)
    if len(body) > 1 and body.startswith("0"):
        return sign * int(body[1:], 8)
    return sign * int(body)


def _c_float(body: str) -> float | None:
    """strtod's value for an unsigned matched ``body``, or None where strtod sets ERANGE."""
    low = body.lower()
    if low.startswith("inf"):
        return math.inf
    if low.startswith("nan"):
        return math.nan
    if low.startswith("0x"):
        mantissa = low[2:].split("p")[0]
        try:
            value = float.fromhex(body)
        except OverflowError:
            return None
    else:
        mantissa = low.split("e")[0]
        value = float(body)
        if math.isinf(value):
            return None  # overflow
    if value == 0.0 and re.search(r"[1-9a-f]", mantissa):
        return None  # underflow to zero
    if 0.0 < value < _DBL_MIN:
        return None  # subnormal result: glibc reports ERANGE
    return value


_DBL_MIN = 2.2250738585072014e-308


def natural(value: Scalar) -> Scalar:
    """The parameter value of one YAML scalar read by :func:`load_yaml` (see module doc)."""
    if isinstance(value, Quoted):
        return str(value)
    if isinstance(value, str):
        return rcl_plain(value)
    return value


def read_value(text: str) -> Scalar | tuple[Scalar, ...]:
    """The value of substituted text, read as YAML like a plain ``value:`` (module doc rules).

    ``''`` is the empty string. Raises :class:`LaunchError` for text that is not a scalar or
    a non-empty flat list of one type.
    """
    if not text:
        return ""
    try:
        value = load_yaml(text)
    except yaml.YAMLError:
        raise LaunchError(f"{text!r} is not valid YAML; quote the value or add type: str") from None
    if value is None:
        return text  # '~', 'null': rcl keeps the text
    if isinstance(value, (str, int, float, bool)):
        return natural(value)
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, (str, int, float, bool)) for v in value)
    ):
        return one_type([natural(v) for v in value])
    raise LaunchError(
        f"{text!r} reads as {type(value).__name__}, not a ROS parameter value "
        "(bool, int, float, str or a non-empty list of one of them); add type: str"
    )


def one_type(items: list[Scalar]) -> tuple[Scalar, ...]:
    """``items`` as a tuple, after checking they share one parameter type."""
    kinds = {type(v) for v in items}
    if len(kinds) != 1:
        raise LaunchError(f"list items must all be scalars of one type, got {items!r}")
    return tuple(items)


def convert(text: str, type_id: str) -> Scalar:
    """``text`` converted by a ``type:`` attribute (``str``, ``int``, ``float``, ``bool``)."""
    if type_id == "str":
        return text
    if type_id in ("int", "float"):
        try:
            return int(text) if type_id == "int" else float(text)
        except ValueError:
            raise LaunchError(f"{text!r} is not a valid {type_id}") from None
    if text.strip().lower() not in ("true", "false"):
        raise LaunchError(f"{text!r} is not a bool (true or false)")
    return text.strip().lower() == "true"


def to_rcl_yaml(value: Scalar | tuple[Scalar, ...]) -> str:
    """YAML text that rcl reads back as exactly ``value``, type included.

    Strings are double-quoted (characters YAML cannot carry raw are escaped), so no string
    turns into a bool or a number; doubles keep a decimal point or exponent; ``inf``/``nan``
    use YAML's ``.inf``/``.nan``. Raises :class:`LaunchError` for a string holding NUL (a
    command line cannot carry it) and for an integer outside int64 (rcl would make it a double).
    """
    if isinstance(value, tuple):
        return "[" + ", ".join(to_rcl_yaml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise LaunchError(f"integer {value} is outside the 64-bit range of ROS parameters")
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        return text if any(c in text for c in ".eEn") else text + ".0"
    if "\0" in value:
        raise LaunchError(f"string {value!r} contains a NUL character")
    return _UNPRINTABLE.sub(
        lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False)
    )


# characters outside YAML's printable set, and YAML's line breaks NEL/LS/PS, which a quoted
# scalar would fold (json.dumps already escapes the C0 controls)
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
