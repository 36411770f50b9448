"""Parsing: substitution syntax, the YAML schema, and errors that name the bad tag/attribute."""

from __future__ import annotations

import pytest

from mbrl_control.launcher import parser
from mbrl_control.launcher.model import (
    DeclareArg,
    Group,
    LaunchError,
    Node,
    ParamFile,
    ParamValue,
    PushNamespace,
    SetConfig,
    Subst,
)
from mbrl_control.launcher.substitutions import evaluate, parse_template

# ---- substitutions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("plain", ("plain",)),
        ("", ()),
        ("$(var a)", (Subst("var", (("a",),)),)),
        ("x/$(var a)/y", ("x/", Subst("var", (("a",),)), "/y")),
        ("$(env HOME /tmp)", (Subst("env", (("HOME",), ("/tmp",))),)),
        ("$(env X '')", (Subst("env", (("X",), ())),)),
        ("$(env X 'a b')", (Subst("env", (("X",), ("a b",))),)),
        ("$(var $(var n))", (Subst("var", ((Subst("var", (("n",),)),),)),)),
        ("$(var a)_$(var b)", (Subst("var", (("a",),)), "_", Subst("var", (("b",),)))),
        (r"\$(var a)", ("$(var a)",)),
        ("cost $5", ("cost $5",)),
    ],
)
def test_template_syntax(text: str, parts: tuple) -> None:
    assert parse_template(text) == parts


def test_evaluate_var_env_and_defaults() -> None:
    configs, environ = {"task": "cartpole", "n": "task"}, {"HOME": "/home/u"}
    assert evaluate(parse_template("$(var task)-$(var $(var n))"), configs, environ) == (
        "cartpole-cartpole"
    )
    assert evaluate(parse_template("$(env HOME)/m"), configs, environ) == "/home/u/m"
    assert evaluate(parse_template("$(env NOPE /d)"), configs, environ) == "/d"
    assert evaluate(parse_template("$(var nope 'x y')"), configs, environ) == "x y"
    with pytest.raises(LaunchError, match=r"'nope' does not exist \(defined so far: n, task\)"):
        evaluate(parse_template("$(var nope)"), configs, environ)
    with pytest.raises(LaunchError, match="environment variable 'NOPE' is not set"):
        evaluate(parse_template("$(env NOPE)"), configs, environ)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("$(eval 1 + 1)", r"\$\(eval \.\.\.\) is not supported"),
        ("$(find-pkg-prefix x)", r"unsupported substitution \$\(find-pkg-prefix \.\.\.\)"),
        ("$(var)", r"\$\(var \.\.\.\) takes 1 or 2 argument\(s\), got 0"),
        ("$(find-pkg-share a b)", r"takes 1 argument\(s\), got 2"),
        ("$(var a", "expected '\\)'"),
        ("$(var 'a)", "unterminated '-quoted argument"),
        ("$( var a)", "expected a substitution name"),
    ],
)
def test_bad_substitutions(text: str, message: str) -> None:
    with pytest.raises(LaunchError, match=message):
        parse_template(text)


# ---- schema ---------------------------------------------------------------------------------


def test_parses_every_supported_tag(launch_file) -> None:
    launch = launch_file(
        """
        launch:
          - arg: {name: task, default: cartpole, description: the task}
          - arg: {name: must}
          - arg:
              name: profile
              default: default
              choice: [{value: default}, {value: wide}]
          - let: {name: dir, value: /tmp/$(var task)}
          - group:
              scoped: false
              if: $(var flag)
              children:
                - push-ros-namespace: {namespace: robot}
                - node:
                    pkg: demo
                    exec: talker
                    name: talker
                    namespace: ns
                    output: screen
                    on_exit: shutdown
                    args: --count 3
                    ros_args: --log-level debug
                    param:
                      - from: $(var dir)/p.yaml
                      - {name: task, value: $(var task), type: str}
                      - name: gains
                        param:
                          - {name: kp, value: 2.0}
                          - {name: list, value: [1, 2]}
                    remap:
                      - {from: chatter, to: /talk}
        """
    )
    arg, must, profile, let, group = launch.actions
    assert arg == DeclareArg("task", ("cartpole",), "the task", None)
    assert must.default is None and profile.choices == ("default", "wide")
    assert isinstance(let, SetConfig) and let.value == ("/tmp/", Subst("var", (("task",),)))
    assert isinstance(group, Group) and group.scoped is False
    assert group.condition is not None and group.condition.negate is False
    push, node = group.actions
    assert isinstance(push, PushNamespace) and push.namespace == ("robot",)
    assert isinstance(node, Node) and node.required and node.output == ("screen",)
    assert node.args == (("--count",), ("3",)) and node.ros_args == (("--log-level",), ("debug",))
    assert node.params == (
        ParamFile((Subst("var", (("dir",),)), "/p.yaml")),
        ParamValue(("task",), "$(var task)", "str"),
        ParamValue(("gains", ".", "kp"), 2.0, None),
        ParamValue(("gains", ".", "list"), (1, 2), None),
    )
    assert node.remaps == ((("chatter",), ("/talk",)),)


def test_group_as_plain_list_and_alias_tag(launch_file) -> None:
    launch = launch_file(
        """
        launch:
          - group:
            - push_ros_namespace: {namespace: a}
        """
    )
    (group,) = launch.actions
    assert group.scoped is True and isinstance(group.actions[0], PushNamespace)


def test_cmdline_splitting_keeps_substitutions_with_adjacent_text(launch_file) -> None:
    launch = launch_file(
        """
        launch:
          - node: {exec: x, args: "-c $(var cfg)/a.yaml 'two words' $(var a) $(var a)b"}
        """
    )
    cfg, a = Subst("var", (("cfg",),)), Subst("var", (("a",),))
    assert launch.actions[0].args == (
        ("-c",),
        (cfg, "/a.yaml"),
        ("two words",),
        (a,),
        (a, "b"),
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "- executable: {cmd: ls}",
            r"launch > executable\[0\]: unknown or unsupported tag "
            r"'executable' \(supported: arg, let, node, lifecycle_node, group, push-ros-namespace",
        ),
        (
            "- node: {exec: x, respawn: 'true'}",
            r"node\[0\]: unsupported attribute\(s\) 'respawn' "
            r"for 'node' \(supported: pkg, exec, name",
        ),
        ("- arg: {name: a, defualt: x}", r"arg\[0\] 'a': unsupported attribute\(s\) 'defualt'"),
        (
            "- arg: {name: rate, default: 50.0}",
            r"attribute 'default' must be a string, got float "
            r"50.0 \(quote it: default: '50.0'\)",
        ),
        ("- arg: {default: x}", r"arg\[0\]: missing required attribute 'name'"),
        ("- node: {pkg: p}", "missing required attribute 'exec'"),
        ("- node: {exec: x, on_exit: restart}", "on_exit must be 'shutdown'"),
        ("- node: {exec: x, param: {name: a}}", "attribute 'param' must be a list of mappings"),
        (
            "- node: {exec: x, param: [{name: a, value: {k: v}}]}",
            "param value must be a scalar or a non-empty list",
        ),
        ("- node: {exec: x, param: [{name: a, value: [1, a]}]}", "must all have one type"),
        (
            "- node: {exec: x, param: [{name: a, value: 1, type: list_of_int}]}",
            "param type 'list_of_int' is not supported",
        ),
        ("- node: {exec: x, param: [{name: a, value: 1, type: float}]}", "1 is not a float"),
        ("- node: {exec: x, param: [{name: a}]}", "needs 'value' or nested 'param'"),
        (
            "- node: {exec: x, param: [{from: f, allow_substs: 'yes'}]}",
            "attribute 'allow_substs' must be true or false",
        ),
        (
            "- node: {exec: x, param: [{name: a, value: 1, allow_substs: true}]}",
            r"unsupported attribute\(s\) 'allow_substs' for 'param'",
        ),
        (
            "- lifecycle_node: {exec: x, name: a}",
            "lifecycle_node needs 'namespace'",
        ),
        (
            "- lifecycle_node: {exec: x, name: a, namespace: '', autostart: 1}",
            "attribute 'autostart' must be true, false or a substitution",
        ),
        ("- node: {exec: x, remap: [{from: a}]}", "missing required attribute 'to'"),
        ("- group: {scoped: 'yes', children: []}", "attribute 'scoped' must be true or false"),
        ("- group: {forwarding: false, children: []}", r"unsupported attribute\(s\) 'forwarding'"),
        ("- let: {name: a, value: x, if: a, unless: b}", "'if' and 'unless' cannot be used"),
        ("- {arg: {name: a}, let: {name: b, value: c}}", "exactly one key"),
        ("- node: {exec: x, args: \"'$(var a) b'\"}", "args: no closing quotation"),
        ("- let: {name: a, value: $(eval 1)}", r"let\[0\]: \$\(eval \.\.\.\) is not supported"),
    ],
)
def test_schema_errors_name_the_problem(launch_file, body: str, message: str) -> None:
    with pytest.raises(LaunchError, match=message):
        launch_file("launch:\n" + "\n".join("  " + line for line in body.splitlines()))


def test_root_must_be_launch(tmp_path) -> None:
    with pytest.raises(
        LaunchError, match=r"root must be a single 'launch:' key, found \['nodes'\]"
    ):
        parser.parse("nodes: []", tmp_path / "x.launch.yaml")
    with pytest.raises(LaunchError, match=r"only YAML launch files"):
        parser.parse("", tmp_path / "x.launch.py")
    with pytest.raises(LaunchError, match="cannot read launch file"):
        parser.load(tmp_path / "missing.launch.yaml")
