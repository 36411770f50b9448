"""Parameter types through the launch runner: what the file says is what the node gets.

Each planned command line is handed to real rcl (:mod:`rcl_check`), exactly what a node
process does with it. A string in the launch file (a quoted literal, or ``type: str``)
arrives as a string, including the YAML 1.1 boolean words and float-looking text that
``ros2 launch`` re-types (ros2/launch_ros#410); plain values keep their natural types.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from rcl_check import rcl_params, same_value

from mbrl_control.launcher import parser, plan
from mbrl_control.launcher.model import LaunchError

pytest.importorskip("rclpy")

# YAML 1.1 boolean words (PyYAML knows all but y/Y/n/N; rcl knows all of them)
BOOL_WORDS = "y Y n N yes Yes YES no No NO on On ON off Off OFF true True TRUE false False FALSE"
# strings that look like numbers to someone (rcl, PyYAML or a human)
NUMBER_LIKE = "1e3 1E3 -1e-3 1.5 50 0x10 010 08 .5 5. inf -inf nan .inf .nan 1_000 1e400 0b1"


def _plan_one(tmp_path: Path, prefix, body: str, args: dict[str, str] | None = None):
    prefix.add_executable("demo", "n")
    path = tmp_path / "t.launch.yaml"
    path.write_text(textwrap.dedent(body))
    (cmd,) = plan.plan(parser.load(path), args or {}, prefix.environ())
    return cmd


def test_strings_arrive_as_strings(tmp_path, prefix) -> None:
    """Quoted literals, list items and ``type: str`` substitutions: never a bool or a number."""
    words = BOOL_WORDS.split() + NUMBER_LIKE.split()
    quoted = "\n".join(f"        - {{name: q{i}, value: '{w}'}}" for i, w in enumerate(words))
    typed = "\n".join(
        f"        - {{name: t{i}, value: $(var w{i}), type: str}}" for i in range(len(words))
    )
    args = "\n".join(f"  - arg: {{name: w{i}, default: '{w}'}}" for i, w in enumerate(words))
    listed = ", ".join(f"'{w}'" for w in words)
    cmd = _plan_one(
        tmp_path,
        prefix,
        f"""
launch:
{args}
  - node:
      pkg: demo
      exec: n
      param:
{quoted}
{typed}
        - {{name: words, value: [{listed}]}}
""",
    )
    got = rcl_params(cmd.argv)
    wrong = {
        f"{kind}:{word}": got[f"{kind}{i}"]
        for i, word in enumerate(words)
        for kind in ("q", "t")  # quoted literal; substituted with type: str
        if not same_value(got[f"{kind}{i}"], word)
    }
    assert not wrong, f"strings re-typed on the way to the node: {wrong}"
    assert same_value(got["words"], words)


def test_plain_and_substituted_values_keep_their_natural_types(tmp_path, prefix) -> None:
    """Unquoted values: the types ``ros2 launch`` gives them too (PyYAML, then rcl's words)."""
    cmd = _plan_one(
        tmp_path,
        prefix,
        """
        launch:
          - node:
              pkg: demo
              exec: n
              param:
                - {name: p_n, value: n}
                - {name: p_yes, value: yes}
                - {name: p_exp, value: 1e3}
                - {name: p_int, value: 50}
                - {name: p_float, value: 1.5}
                - {name: p_bools, value: [n, yes, off]}
                - {name: s_int, value: $(var undeclared 7)}
                - {name: s_bool, value: "$(var flag true)"}
                - {name: s_list, value: '$(var l "[0.5, 1e3]")'}
                - {name: s_float, value: $(var r 1e3), type: float}
        """,
    )
    got = rcl_params(cmd.argv)
    assert same_value(got["p_n"], False) and same_value(got["p_yes"], True)
    assert same_value(got["p_exp"], 1000.0) and same_value(got["p_int"], 50)
    assert same_value(got["p_float"], 1.5)
    assert same_value(got["p_bools"], [False, True, False])
    # substituted values are read as YAML (as upstream): "$(var flag)" is the bool
    assert same_value(got["s_int"], 7) and same_value(got["s_bool"], True)
    assert same_value(got["s_list"], [0.5, 1000.0]) and same_value(got["s_float"], 1000.0)


def test_a_float_list_with_an_int_item_is_refused(tmp_path, prefix) -> None:
    with pytest.raises(LaunchError, match="one type"):
        _plan_one(
            tmp_path,
            prefix,
            "launch:\n  - node: {pkg: demo, exec: n, param: [{name: a, value: [1.5, 2]}]}\n",
        )


def test_nested_param_names_reach_rcl_as_dotted_names(tmp_path, prefix) -> None:
    cmd = _plan_one(
        tmp_path,
        prefix,
        """
        launch:
          - node:
              pkg: demo
              exec: n
              param:
                - name: critics
                  param:
                    - name: tip_distance
                      param: [{name: weight, value: 2.0}]
                    - {name: action.weight, value: 0.5}
        """,
    )
    got = rcl_params(cmd.argv)
    assert got == {"critics.tip_distance.weight": 2.0, "critics.action.weight": 0.5}


def test_param_file_with_substitutions_keeps_quoted_strings(tmp_path, prefix) -> None:
    """``from`` + ``allow_substs``: the file's quoted substitutions stay strings in rcl."""
    template = tmp_path / "args.yaml"
    template.write_text(
        "/**:\n  ros__parameters:\n    profile: '$(var profile)'\n    rate: $(var rate)\n"
    )
    cmd = _plan_one(
        tmp_path,
        prefix,
        f"""
        launch:
          - arg: {{name: profile, default: n}}
          - arg: {{name: rate, default: '1e3'}}
          - node:
              pkg: demo
              exec: n
              param: [{{from: {template}, allow_substs: true}}]
        """,
    )
    (written,) = cmd.temp_files
    assert cmd.argv[-2:] == ("--params-file", written)
    assert "profile: 'n'" in Path(written).read_text()
    assert rcl_params(cmd.argv) == {"profile": "n", "rate": 1000.0}


def test_param_file_that_breaks_after_substitution_is_named(tmp_path, prefix) -> None:
    template = tmp_path / "args.yaml"
    template.write_text("/**:\n  ros__parameters:\n    path: '$(var p)'\n")
    with pytest.raises(LaunchError, match=r"args.yaml is not valid YAML after substitution"):
        _plan_one(
            tmp_path,
            prefix,
            f"""
            launch:
              - arg: {{name: p, default: "it's"}}
              - node: {{pkg: demo, exec: n, param: [{{from: {template}, allow_substs: true}}]}}
            """,
        )
