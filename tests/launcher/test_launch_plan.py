"""Planning: launch arguments, scoping, and the exact command line of every node."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mbrl_control.launcher import paths, plan
from mbrl_control.launcher.model import LaunchError, NodeCommand

ARGS = """
launch:
  - arg: {name: task, default: cartpole_swingup, description: the task}
  - arg: {name: robot, description: which robot}
  - node:
      pkg: demo
      exec: talker
      name: $(var robot)_talker
      param:
        - {name: task, value: $(var task)}
"""


def test_arg_defaults_overrides_and_exact_argv(launch_file, prefix) -> None:
    exe = prefix.add_executable("demo", "talker")
    launch = launch_file(ARGS)
    (cmd,) = plan.plan(launch, {"robot": "arm"}, prefix.environ())
    assert cmd == NodeCommand(
        label="arm_talker",
        argv=(str(exe), "--ros-args", "-r", "__node:=arm_talker", "-p", 'task:="cartpole_swingup"'),
        output="log",
        required=False,
    )
    (cmd,) = plan.plan(launch, {"robot": "arm", "task": "reach"}, prefix.environ())
    assert cmd.argv[-1] == 'task:="reach"'


def test_missing_and_unknown_args_list_the_declared_ones(launch_file, prefix) -> None:
    prefix.add_executable("demo", "talker")
    launch = launch_file(ARGS)
    declared = (
        r"declared arguments:\n  task \(default: 'cartpole_swingup'\)  the task\n"
        r"  robot \(required\)  which robot"
    )
    with pytest.raises(
        LaunchError,
        match=r"missing required launch argument 'robot' \(give it "
        r"as robot:=VALUE\); " + declared,
    ):
        plan.plan(launch, {}, prefix.environ())
    with pytest.raises(LaunchError, match=r"unknown launch argument\(s\) rbot, tsk; " + declared):
        plan.plan(launch, {"robot": "a", "rbot": "b", "tsk": "c"}, prefix.environ())


def test_cli_arg_syntax() -> None:
    assert plan.parse_cli_args(["a:=1", "b:=", "c:=x:=y"]) == {"a": "1", "b": "", "c": "x:=y"}
    with pytest.raises(LaunchError, match="given as name:=value, got 'a=1'"):
        plan.parse_cli_args(["a=1"])


def test_full_node_command_in_upstream_order(launch_file, prefix, tmp_path) -> None:
    exe = prefix.add_executable("demo", "talker")
    params = tmp_path / "p.yaml"
    params.write_text("talker:\n  ros__parameters: {a: 1}\n")
    launch = launch_file(
        f"""
        launch:
          - let: {{name: n, value: '7'}}
          - node:
              pkg: demo
              exec: talker
              name: talker
              namespace: ns
              exec_name: speaker
              output: screen
              on_exit: shutdown
              args: --count $(var n)
              ros_args: --log-level debug
              param:
                - from: {params}
                - {{name: int, value: $(var n)}}
                - {{name: str_of_int, value: $(var n), type: str}}
                - {{name: literal, value: '7'}}
                - {{name: float, value: 1.5}}
                - {{name: flt, value: $(var n), type: float}}
                - {{name: flag, value: true}}
                - {{name: empty, value: ''}}
                - {{name: list, value: '$(var l "[1, 2]")'}}
                - {{name: strs, value: [a, 'b c']}}
              remap:
                - {{from: chatter, to: /talk}}
        """
    )
    (cmd,) = plan.plan(launch, {}, prefix.environ())
    assert cmd.label == "speaker" and cmd.output == "screen" and cmd.required
    assert cmd.argv == (
        str(exe), "--count", "7",
        "--ros-args", "--log-level", "debug",
        "--ros-args", "-r", "__node:=talker", "-r", "__ns:=/ns",
        "--params-file", str(params),
        "-p", "int:=7",
        "-p", 'str_of_int:="7"',
        "-p", 'literal:="7"',
        "-p", "float:=1.5",
        "-p", "flt:=7.0",
        "-p", "flag:=true",
        "-p", 'empty:=""',
        "-p", "list:=[1, 2]",
        "-p", 'strs:=["a", "b c"]',
        "-r", "chatter:=/talk",
    )  # fmt: skip


def test_namespaces_groups_and_scoping(launch_file, prefix) -> None:
    prefix.add_executable("demo", "n")
    launch = launch_file(
        """
        launch:
          - let: {name: x, value: outer}
          - group:
              - push-ros-namespace: {namespace: robot}
              - let: {name: x, value: inner}
              - node: {pkg: demo, exec: n, name: a, namespace: sub}
              - node: {pkg: demo, exec: n, name: b, namespace: /abs}
              - node: {pkg: demo, exec: n, name: c}
          - node: {pkg: demo, exec: n, name: $(var x)}
          - group:
              scoped: false
              children:
                - push-ros-namespace: {namespace: /top/}
          - node: {pkg: demo, exec: n}
        """
    )
    cmds = plan.plan(launch, {}, prefix.environ())
    ros = [c.argv[c.argv.index("--ros-args") + 1 :] for c in cmds]
    assert ros == [
        ("-r", "__node:=a", "-r", "__ns:=/robot/sub"),
        ("-r", "__node:=b", "-r", "__ns:=/abs"),
        ("-r", "__node:=c", "-r", "__ns:=/robot"),
        ("-r", "__node:=outer"),
        ("-r", "__ns:=/top"),
    ]
    assert [c.label for c in cmds] == ["a", "b", "c", "outer", "n"]


def test_conditions_include_and_duplicate_labels(launch_file, prefix, tmp_path) -> None:
    prefix.add_executable("demo", "n")
    launch_file(
        """
        launch:
          - arg: {name: who}
          - node: {pkg: demo, exec: n, name: $(var who)}
        """,
        name="inner.launch.yaml",
    )
    launch = launch_file(
        f"""
        launch:
          - arg: {{name: sim, default: 'true'}}
          - node: {{pkg: demo, exec: n, name: sim, if: $(var sim)}}
          - node: {{pkg: demo, exec: n, name: real, unless: $(var sim)}}
          - include:
              file: {tmp_path}/inner.launch.yaml
              arg: [{{name: who, value: sim}}]
        """
    )
    cmds = plan.plan(launch, {}, prefix.environ())
    assert [c.label for c in cmds] == ["sim", "sim-2"]
    assert [c.label for c in plan.plan(launch, {"sim": "False"}, prefix.environ())] == [
        "real",
        "sim",
    ]
    with pytest.raises(LaunchError, match="evaluated to 'maybe'; expected true, false, 1 or 0"):
        plan.plan(launch, {"sim": "maybe"}, prefix.environ())


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ("{exec: nope_not_here}", "executable 'nope_not_here' not found in PATH"),
        (
            "{pkg: demo, exec: missing}",
            r"executable 'missing' not found in package 'demo' "
            r"\(searched: .*/install/lib/demo/missing",
        ),
        ("{pkg: demo, exec: n, name: 'bad-name'}", "invalid node name 'bad-name'"),
        ("{pkg: demo, exec: n, namespace: 'a//b'}", "invalid namespace '/a//b'"),
        ("{pkg: demo, exec: n, output: own_log}", "output 'own_log' not supported"),
        (
            "{pkg: demo, exec: n, param: [{from: /no/such.yaml}]}",
            "parameter file not found: /no/such.yaml",
        ),
        (
            "{pkg: demo, exec: n, param: [{name: p, value: '$(var x \"{a: 1}\")'}]}",
            r"parameter 'p': '\{a: 1\}' reads as dict, not a ROS parameter value",
        ),
        (
            "{pkg: demo, exec: n, param: [{name: p, value: $(var x abc), type: int}]}",
            "'abc' is not a valid int",
        ),
        (
            "{pkg: demo, exec: n, param: [{name: p, value: $(find-pkg-share nope)}]}",
            r"\$\(find-pkg-share nope\): package not found",
        ),
    ],
)
def test_node_errors(launch_file, prefix, node: str, message: str) -> None:
    prefix.add_executable("demo", "n")
    launch = launch_file(f"launch:\n  - node: {node}\n")
    with pytest.raises(LaunchError, match=message):
        plan.plan(launch, {}, prefix.environ())


def test_executable_resolution_order(prefix, tmp_path) -> None:
    other = tmp_path / "other"
    first = prefix.add_executable("demo", "n")
    environ = {"AMENT_PREFIX_PATH": f"{prefix.root}:{other}", "PATH": ""}
    assert paths.find_executable("demo", "n", environ) == first
    # not in any ament prefix: the interpreter's directory (a venv's bin/), then PATH
    python = Path(sys.executable).name
    assert paths.find_executable("demo", python, environ) == Path(sys.executable)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "only_on_path"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert paths.find_executable("demo", "only_on_path", {"PATH": str(bindir)}) == tool
    assert paths.find_executable(None, str(tool), {}) == tool
    (prefix.root / "lib" / "demo" / "not_exec").write_text("")
    with pytest.raises(LaunchError, match="'not_exec' not found"):
        paths.find_executable("demo", "not_exec", environ)


def test_find_pkg_share_prefix_then_checkout(prefix) -> None:
    prefix.add_share_file("demo", "config/a.yaml")
    assert paths.find_package_share("demo", prefix.environ()) == prefix.root / "share" / "demo"
    # mbrl_control from this source checkout (pip install -e): the folder with package.xml
    repo = Path(__file__).resolve().parents[2]
    assert paths.find_package_share("mbrl_control", {}) == repo
    prefix.add_share_file("mbrl_control", "package.xml")
    assert (
        paths.find_package_share("mbrl_control", prefix.environ())
        == prefix.root / "share" / "mbrl_control"
    )
