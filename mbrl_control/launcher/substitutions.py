"""``$(...)`` substitutions: parse attribute strings into templates, evaluate templates.

The grammar follows upstream ``launch/share/launch/frontend/grammar.lark``: text outside a
substitution is literal (``\\x`` escapes any character); a substitution is
``$(name arg arg ...)`` with single spaces between arguments; an argument is a run of
characters without spaces, quotes or parentheses (nested substitutions allowed) or a quoted
``'...'`` / ``"..."`` template that may contain spaces and nested substitutions.

Supported substitutions: ``var NAME [DEFAULT]``, ``env NAME [DEFAULT]``,
``find-pkg-share PKG``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mbrl_control.launcher.model import LaunchError, Subst, Template
from mbrl_control.launcher.paths import find_package_share

# name -> (min args, max args)
SUPPORTED: dict[str, tuple[int, int]] = {"var": (1, 2), "env": (1, 2), "find-pkg-share": (1, 1)}
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_QUOTES = "'\""


def parse_template(text: str) -> Template:
    """Parse ``text`` into literal parts and substitutions (raises :class:`LaunchError`)."""
    reader = _Reader(text)
    parts = reader.template(end=None)
    return _merge(parts)


def is_literal(template: Template) -> bool:
    """True when ``template`` has no substitution in it."""
    return all(isinstance(p, str) for p in template)


def evaluate(template: Template, configs: Mapping[str, str], environ: Mapping[str, str]) -> str:
    """Perform every substitution in ``template`` and concatenate the result."""
    out = []
    for part in template:
        out.append(part if isinstance(part, str) else _perform(part, configs, environ))
    return "".join(out)


def _perform(sub: Subst, configs: Mapping[str, str], environ: Mapping[str, str]) -> str:
    args = [evaluate(a, configs, environ) for a in sub.args]
    if sub.name == "var":
        if args[0] in configs:
            return configs[args[0]]
        if len(args) == 2:
            return args[1]
        known = ", ".join(sorted(configs)) or "none"
        raise LaunchError(
            f"$(var {args[0]}): launch configuration {args[0]!r} does not exist "
            f"(defined so far: {known})"
        )
    if sub.name == "env":
        if args[0] in environ:
            return environ[args[0]]
        if len(args) == 2:
            return args[1]
        raise LaunchError(f"$(env {args[0]}): environment variable {args[0]!r} is not set")
    return str(find_package_share(args[0], environ))  # find-pkg-share


class _Reader:
    """Recursive-descent reader over one attribute string."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def _error(self, what: str) -> LaunchError:
        return LaunchError(f"bad substitution syntax in {self.text!r} at column {self.pos}: {what}")

    def _peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def template(self, end: str | None) -> list[str | Subst]:
        """Text and substitutions up to ``end`` (a quote) or the end of the string."""
        parts: list[str | Subst] = []
        while self.pos < len(self.text):
            char = self._peek()
            if end is not None and char == end:
                return parts
            if self._peek(2) == "$(":
                parts.append(self.substitution())
            elif char == "\\" and self.pos + 1 < len(self.text):
                parts.append(self.text[self.pos + 1])
                self.pos += 2
            else:
                parts.append(char)
                self.pos += 1
        if end is not None:
            raise self._error(f"unterminated {end}-quoted argument")
        return parts

    def substitution(self) -> Subst:
        start = self.pos
        self.pos += 2  # "$("
        match = _IDENT.match(self.text, self.pos)
        if not match:
            raise self._error("expected a substitution name after '$('")
        name = match.group()
        self.pos = match.end()
        args: list[Template] = []
        while self._peek() == " ":
            self.pos += 1
            args.append(_merge(self.argument()))
        if self._peek() != ")":
            raise self._error(f"expected ')' to close the substitution started at column {start}")
        self.pos += 1
        _check_substitution(name, len(args))
        return Subst(name, tuple(args))

    def argument(self) -> list[str | Subst]:
        char = self._peek()
        if char in _QUOTES and char:
            self.pos += 1
            parts = self.template(end=char)
            self.pos += 1
            return parts
        parts: list[str | Subst] = []
        while self.pos < len(self.text):
            char = self._peek()
            if self._peek(2) == "$(":
                parts.append(self.substitution())
            elif char == "\\" and self.pos + 1 < len(self.text):
                parts.append(self.text[self.pos + 1])
                self.pos += 2
            elif char in " ()" or char in _QUOTES:
                break
            else:
                parts.append(char)
                self.pos += 1
        if not parts:
            raise self._error("empty substitution argument")
        return parts


def _check_substitution(name: str, n_args: int) -> None:
    supported = ", ".join(f"$({n} ...)" for n in SUPPORTED)
    if name == "eval":
        raise LaunchError(
            "$(eval ...) is not supported by mbrl-control launch (it would run Python "
            f"expressions); supported substitutions: {supported}"
        )
    if name not in SUPPORTED:
        raise LaunchError(f"unsupported substitution $({name} ...); supported: {supported}")
    low, high = SUPPORTED[name]
    if not low <= n_args <= high:
        want = str(low) if low == high else f"{low} or {high}"
        raise LaunchError(f"$({name} ...) takes {want} argument(s), got {n_args}")


def _merge(parts: list[str | Subst]) -> Template:
    """Join adjacent characters into single strings."""
    merged: list[str | Subst] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return tuple(merged)
