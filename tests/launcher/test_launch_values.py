"""``launcher.values``: our model of rcl's typing, and values that reach rcl unchanged.

Checked against real rcl in process (:mod:`rcl_check`).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rcl_check import rcl_params, same_value
from test_launch_param_types import BOOL_WORDS, NUMBER_LIKE

from mbrl_control.launcher import values
from mbrl_control.launcher.model import LaunchError

pytest.importorskip("rclpy")

# the edges of rcl's strtol/strtod typing: signs, octal/hex, YAML and C inf/nan, ranges
MORE_TOKENS = """
-0 +5 09 0X1f 0x 0x1p3 0x1.8p1 0x.8 +.inf -.inf .Inf .NaN Infinity NAN nan(x) -1e400 1e-400
1e-310 4.9e-324 2.2250738585072014e-308 99999999999999999999 9223372036854775807
9223372036854775808 -9223372036854775809 0o7 ~ null 2024-01-01 abc 1.2.3 +-1 0e0 00 0x0p0
0x1p-2000 1e 1e+ e3 .e3 0xg default
"""


def test_rcl_plain_matches_real_rcl() -> None:
    """Our model of rcl's typing of unquoted scalars, checked against rcl itself."""
    tokens = [*BOOL_WORDS.split(), *NUMBER_LIKE.split(), *MORE_TOKENS.split()]
    got = rcl_params(
        ["--ros-args", *(x for i, t in enumerate(tokens) for x in ("-p", f"p{i}:={t}"))]
    )
    for i, token in enumerate(tokens):
        assert same_value(values.rcl_plain(token), got[f"p{i}"]), (token, got[f"p{i}"])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"), max_size=12),
        min_size=1,
        max_size=20,
    )
)
def test_any_string_reaches_rcl_unchanged(texts: list[str]) -> None:
    argv = ["--ros-args"]
    for i, text in enumerate(texts):
        argv += ["-p", f"s{i}:={values.to_rcl_yaml(text)}"]
    argv += ["-p", f"all:={values.to_rcl_yaml(tuple(texts))}"]
    got = rcl_params(argv)
    for i, text in enumerate(texts):
        assert same_value(got[f"s{i}"], text)
    assert same_value(got["all"], texts)


def test_numbers_and_bools_reach_rcl_unchanged() -> None:
    items = [0, -7, 2**62, 1.0, -0.5, 1e300, 1e-300, 5e-324 * 2**60, math.inf, -math.inf, True]
    argv = ["--ros-args"]
    for i, item in enumerate(items):
        argv += ["-p", f"v{i}:={values.to_rcl_yaml(item)}"]
    argv += ["-p", f"nan:={values.to_rcl_yaml(math.nan)}"]
    got = rcl_params(argv)
    for i, item in enumerate(items):
        assert same_value(got[f"v{i}"], item), (item, got[f"v{i}"])
    assert math.isnan(got["nan"])


def test_values_rcl_cannot_carry_are_refused_not_retyped() -> None:
    with pytest.raises(LaunchError, match="outside the 64-bit range"):
        values.to_rcl_yaml(2**63)
    with pytest.raises(LaunchError, match="NUL"):
        values.to_rcl_yaml("a\0b")
