"""Docstrings as plain help text (no reStructuredText markup). Standard library only."""

from __future__ import annotations

import re

# Sphinx roles (:class:`~a.B`, :func:`f`) and ``literals`` -> plain text
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")
_SINGLE = re.compile(r"(?<![`\w])`([^`]+)`(?![`\w])")


def plain(text: str) -> str:
    """``text`` without reStructuredText markup (``:class:`a.X``` -> ``X``, ````x```` -> ``x``)."""
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    text = _LITERAL.sub(r"\1", text)
    return _SINGLE.sub(r"\1", text)
