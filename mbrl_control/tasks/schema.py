"""Small validators for task files: each failure is one line naming the key and what is allowed.

``where`` is the dotted key path inside the file (``critics[2].margin``); the loader prefixes
the file name. All raise :class:`TaskFileError` (a ``ValueError``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any


class TaskFileError(ValueError):
    """A task file that cannot describe a task; the message names the file, key and fix."""


def mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TaskFileError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
    return value


def keys(
    value: Any,
    where: str,
    required: Collection[str] = (),
    optional: Collection[str] = (),
) -> Mapping[str, Any]:
    """``value`` as a mapping with exactly the ``required`` keys and some ``optional`` ones."""
    m = mapping(value, where)
    allowed = sorted({*required, *optional})
    unknown = sorted(str(k) for k in m if k not in allowed)
    if unknown:
        raise TaskFileError(f"{where}: unknown key(s) {unknown}; allowed: {allowed}")
    missing = sorted(k for k in required if k not in m)
    if missing:
        raise TaskFileError(f"{where}: missing required key(s) {missing}; allowed: {allowed}")
    return m


def choice(value: Any, where: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise TaskFileError(f"{where}={value!r}; allowed: {list(allowed)}")
    return str(value)


def string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise TaskFileError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def number(
    value: Any,
    where: str,
    low: float = -math.inf,
    high: float = math.inf,
    finite: bool = True,
    strict_low: bool = False,
) -> float:
    """A real number (YAML int or float, not bool) within ``[low, high]`` (``(low, high]`` when
    ``strict_low``); ``finite`` refuses ±inf and NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TaskFileError(f"{where}: expected a number, got {value!r}")
    x = float(value)
    if math.isnan(x) or (finite and math.isinf(x)):
        raise TaskFileError(f"{where}: expected a finite number, got {value!r}")
    if x < low or x > high or (strict_low and x == low):
        lo = "(" if strict_low else "["
        raise TaskFileError(f"{where}={value!r} outside the allowed range {lo}{low}, {high}]")
    return x


def integer(value: Any, where: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise TaskFileError(f"{where}: expected an integer >= {low}, got {value!r}")
    return int(value)


def seq(value: Any, where: str, length: int | None = None) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TaskFileError(f"{where}: expected a list, got {value!r}")
    if length is not None and len(value) != length:
        raise TaskFileError(f"{where}: expected {length} entries, got {len(value)}")
    return list(value)


def numbers(value: Any, where: str, length: int | None = None, **kw: Any) -> list[float]:
    """A list of numbers; a single number is broadcast when ``length`` is given."""
    if length is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * length
    return [number(v, f"{where}[{i}]", **kw) for i, v in enumerate(seq(value, where, length))]


def names(value: Any, where: str, allowed: Sequence[str] | None = None) -> list[str]:
    """A list of distinct non-empty strings, each one of ``allowed`` when given."""
    out = [string(v, f"{where}[{i}]") for i, v in enumerate(seq(value, where))]
    dup = sorted({n for n in out if out.count(n) > 1})
    if dup:
        raise TaskFileError(f"{where}: duplicate name(s) {dup}")
    if allowed is not None:
        for i, n in enumerate(out):
            choice(n, f"{where}[{i}]", allowed)
    return out
