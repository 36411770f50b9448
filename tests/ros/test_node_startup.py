"""Node executables at start-up and under live parameter sets (real processes).

- Bad start-up values / arguments: one line ``<node>: error: ...`` naming the parameter,
  exit code 2, no traceback (``--debug`` adds it).
- Integers wherever a double (array) is declared: ``-p control_rate:=50``,
  ``-p action_low:=[-5]``, ``-p rate:=50`` at start-up, and INTEGER values through the
  parameter service (what ``ros2 param set /node x 2`` sends) for live doubles.
- Live sets: read-only parameters refused, bad values (NaN, out of range, wrong type)
  refused with a reason, the node still answering afterwards.
- ``--help``: plain text, no reStructuredText markup.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters

pytestmark = pytest.mark.ros

NODES = ("mpc_controller", "sim_node", "finetune_node", "pixel_controller")
BIN = Path(sys.executable).parent


def _exe(name: str) -> str:
    return str(BIN / name)


# (executable, arguments, text the error line must contain)
BAD_STARTUP = [
    ("mpc_controller", "--ros-args -p mode:=foo", "'mode'"),
    ("mpc_controller", "--ros-args -p action_low:=[1.0] -p action_high:=[-1.0]", "action_low"),
    ("mpc_controller", "--ros-args -p control_rate:=abc", "'control_rate'"),
    ("mpc_controller", "--ros-args -p state_timeout:=-1", "'state_timeout'"),
    ("mpc_controller", "--ros-args -p on_deadline_miss:=bogus", "'on_deadline_miss'"),
    ("mpc_controller", "--ros-args -p threads:=1.5", "'threads'"),
    ("mpc_controller", "--ros-args -p task:=nope", "nope"),
    ("mpc_controller", "", "model_path"),  # task '' = the planner's: needs the planner file
    ("mpc_controller", "--ros-args -p model_path:=/nonexistent/p.onnx", "p.onnx"),
    ("mpc_controller", "--bogus", "'--bogus'"),
    ("mpc_controller", "--ros-args -p foo", "-p foo"),
    ("sim_node", "--ros-args -p rate:=fast", "'rate'"),
    ("sim_node", "--ros-args -p real_time_factor:=0", "'real_time_factor'"),
    ("sim_node", "--ros-args -p seed:=1.5", "'seed'"),
    ("sim_node", "--ros-args -p auto_reset:=3", "'auto_reset'"),
    ("sim_node", "--ros-args -p profile:=nope", "profile"),
    ("sim_node", "--ros-args --params-file /nonexistent/params.yaml", "params file"),
    ("finetune_node", "--ros-args -p retrain_every:=1.5", "'retrain_every'"),
    ("finetune_node", "--ros-args -p real_ratio:=2", "'real_ratio'"),
    ("finetune_node", "", "'data_dir'"),
    ("pixel_controller", "", "model_path"),
    ("pixel_controller", "--ros-args -p model_path:=/nonexistent/p.onnx", "p.onnx"),
    ("pixel_controller", "--ros-args -p image_timeout:=0", "'image_timeout'"),
    ("pixel_controller", "--ros-args -p control_rate:=-5", "'control_rate'"),
    ("sim_node", "--ros-args -p camera_rate:=10.0 -p camera_view:=bogus", "'camera_view'"),
    ("sim_node", "--ros-args -p camera_view:=/nonexistent/p.onnx", "camera_rate"),
    ("sim_node", "--ros-args -p camera_rate:=10.0 -p camera_view:=/nonexistent/p.onnx", "p.onnx"),
]


def _start(exe: str, args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_exe(exe), *args.split()], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.parametrize(
    ("exe", "args", "names"), BAD_STARTUP, ids=[f"{e} {a}" for e, a, _ in BAD_STARTUP]
)
def test_bad_startup_is_one_line_and_exit_2(exe, args, names, ros_env) -> None:
    env = {**ros_env}
    env.pop("MBRL_CONTROL_DEBUG", None)
    done = _start(exe, args, env)
    errors = [line for line in done.stderr.splitlines() if line.startswith(f"{exe}: error:")]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert len(errors) == 1, done.stderr
    assert errors[0] == done.stderr.strip().splitlines()[-1]
    assert names in errors[0], errors[0]


def test_debug_adds_the_traceback(ros_env) -> None:
    done = _start("mpc_controller", "--debug --ros-args -p mode:=foo", ros_env)
    assert done.returncode == 2 and "Traceback" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("mpc_controller: error:")


@pytest.mark.parametrize("exe", NODES)
def test_help_is_plain_text(exe, ros_env) -> None:
    done = _start(exe, "--help", ros_env)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith(f"usage: {exe}") and "parameters" in text
    for markup in (":class:", ":func:", ":mod:", "``"):
        assert markup not in text, f"{exe} --help shows {markup!r}"


# ---- integers for doubles, live sets -------------------------------------------------------
def _value(msg: ParameterValue):
    return {
        ParameterType.PARAMETER_BOOL: msg.bool_value,
        ParameterType.PARAMETER_INTEGER: msg.integer_value,
        ParameterType.PARAMETER_DOUBLE: msg.double_value,
        ParameterType.PARAMETER_STRING: msg.string_value,
        ParameterType.PARAMETER_DOUBLE_ARRAY: list(msg.double_array_value),
        ParameterType.PARAMETER_INTEGER_ARRAY: list(msg.integer_array_value),
    }.get(msg.type)


def _get(probe, node: str, *names: str) -> dict[str, tuple[int, object]]:
    response = probe.call(
        GetParameters, f"/{node}/get_parameters", GetParameters.Request(names=list(names))
    )
    return {n: (v.type, _value(v)) for n, v in zip(names, response.values, strict=True)}


def _set(probe, node: str, name: str, value: ParameterValue):
    request = SetParameters.Request(parameters=[ParameterMsg(name=name, value=value)])
    return probe.call(SetParameters, f"/{node}/set_parameters", request).results[0]


def _int(v: int) -> ParameterValue:
    return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=v)


def _double(v: float) -> ParameterValue:
    return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=v)


def _string(v: str) -> ParameterValue:
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=v)


def test_controller_takes_integers_for_doubles_and_refuses_bad_live_values(
    ros_env, ros_probe, spawn
) -> None:
    args = ["--ros-args", "-p", "task:=cartpole_swingup",
            "-p", "control_rate:=50", "-p", "state_timeout:=1",
            "-p", "action_low:=[-5]", "-p", "action_high:=[5]"]  # fmt: skip
    proc = spawn("mpc_controller", [_exe("mpc_controller"), *args], env=ros_env)
    got = _get(ros_probe, "mpc_controller", "control_rate", "state_timeout", "action_low")
    assert got["control_rate"] == (ParameterType.PARAMETER_DOUBLE, 50.0)
    assert got["state_timeout"] == (ParameterType.PARAMETER_DOUBLE, 1.0)
    assert got["action_low"] == (ParameterType.PARAMETER_DOUBLE_ARRAY, [-5.0])

    # live: an INTEGER for a live double is taken as that double (ros2 param set ... 2)
    assert _set(ros_probe, "mpc_controller", "state_timeout", _int(2)).successful
    assert _get(ros_probe, "mpc_controller", "state_timeout")["state_timeout"] == (
        ParameterType.PARAMETER_DOUBLE, 2.0,
    )  # fmt: skip
    # refused, each with a reason, and the node keeps answering
    refused = {
        "control_rate": _int(25),  # read-only
        "task": _string("panda_reach"),  # read-only
        "state_timeout": _double(math.nan),
        "max_action_rate": _double(-1.0),  # out of range
        "on_deadline_miss": _string("bogus"),  # not a choice
        "allow_extra_joints": _string("yes"),  # wrong type
    }
    for name, value in refused.items():
        result = _set(ros_probe, "mpc_controller", name, value)
        assert not result.successful and result.reason, name
    assert _get(ros_probe, "mpc_controller", "state_timeout")["state_timeout"][1] == 2.0
    assert proc.popen.poll() is None, proc.output()


def test_sim_node_takes_an_integer_rate(ros_env, ros_probe, spawn) -> None:
    from mbrl_control.tasks import get_task

    rate = int(get_task("cartpole_swingup").control_hz)
    args = ["--ros-args", "-p", f"rate:={rate}", "-p", "real_time_factor:=1"]
    proc = spawn("sim_node", [_exe("sim_node"), *args], env=ros_env)
    got = _get(ros_probe, "sim_node", "rate", "real_time_factor")
    assert got["rate"] == (ParameterType.PARAMETER_DOUBLE, float(rate))
    assert got["real_time_factor"] == (ParameterType.PARAMETER_DOUBLE, 1.0)
    assert _set(ros_probe, "sim_node", "real_time_factor", _int(2)).successful
    assert _get(ros_probe, "sim_node", "real_time_factor")["real_time_factor"][1] == 2.0
    assert not _set(ros_probe, "sim_node", "rate", _int(rate)).successful  # read-only
    assert not _set(ros_probe, "sim_node", "real_time_factor", _double(math.inf)).successful
    assert proc.popen.poll() is None, proc.output()


# ---- the helpers themselves, in-process (mbrl_control.ros.params) ---------------------------
@pytest.fixture
def node(ros_env):
    import rclpy
    from rclpy.node import Node

    context = rclpy.Context()
    rclpy.init(
        context=context, args=["test", "--ros-args", "-p", "gain:=3", "-p", "limits:=[-2, 2]"]
    )
    n = Node("params_test", context=context)
    yield n
    n.destroy_node()
    rclpy.try_shutdown(context=context)


def _config_cls():
    from dataclasses import dataclass, field

    from mbrl_control.control.params import param_meta

    @dataclass(frozen=True)
    class Cfg:
        gain: float = field(default=1.0, metadata=param_meta("gain", range=(0.0, 10.0)))
        limits: list[float] = field(default_factory=list, metadata=param_meta("limits"))
        mode: str = field(default="a", metadata=param_meta("mode", choices=("a", "b")))
        name: str = field(default="x", metadata=param_meta("fixed", read_only=True))
        empty: list[float] = field(default_factory=list, metadata=param_meta("unset list"))

        def __post_init__(self) -> None:
            if len(self.limits) not in (0, 2):
                raise ValueError(f"limits needs 0 or 2 entries, got {len(self.limits)}")

    return Cfg


def test_live_config_coerces_validates_and_never_raises(node) -> None:
    from rclpy.parameter import Parameter

    from mbrl_control.ros.params import LiveConfig

    applied, boom = [], {"on": False}

    def apply(cfg, changed):
        if boom["on"]:
            raise RuntimeError("apply failed")
        applied.append((cfg.gain, sorted(changed)))

    def check(cfg):
        if cfg.gain == 7.0:
            raise ValueError("gain 7 is unlucky")

    live = LiveConfig(node, _config_cls(), apply=apply, check=check)
    assert live.config.gain == 3.0 and live.config.limits == [-2.0, 2.0]  # ints from -p
    assert (
        live.config.empty == [] and node.get_parameter("empty").type_ == Parameter.Type.DOUBLE_ARRAY
    )
    d = node.describe_parameter("gain")
    assert (
        d.floating_point_range[0].from_value == 0.0 and d.floating_point_range[0].to_value == 10.0
    )
    assert "a, b" in node.describe_parameter("mode").additional_constraints
    assert node.describe_parameter("name").read_only

    def ok(name, value):
        return node.set_parameters([Parameter(name, value=value)])[0]

    assert ok("gain", 4).successful and live.config.gain == 4.0  # INTEGER for a DOUBLE
    assert ok("limits", [-1, 1]).successful and live.config.limits == [-1.0, 1.0]
    assert applied[-2:] == [(4.0, ["gain"]), (4.0, ["limits"])]
    for name, value, why in [
        ("gain", 11.0, "range"),
        ("gain", math.nan, "range"),
        ("limits", [math.nan, 1.0], "finite"),
        ("gain", 7, "unlucky"),
        ("limits", [1.0], "0 or 2"),
        ("mode", "c", "one of"),
        ("name", "y", "read-only"),
        ("gain", "high", "type"),
    ]:
        result = ok(name, value)
        assert not result.successful and why in result.reason, (name, result.reason)
    assert live.config.gain == 4.0 and live.config.mode == "a"
    boom["on"] = True  # a failing apply is logged; the set itself stands, nothing raises
    assert ok("gain", 5.0).successful and live.config.gain == 5.0


def test_param_meta_refuses_unknown_keys() -> None:
    from mbrl_control.control.params import param_meta

    with pytest.raises(TypeError, match="rnage"):
        param_meta("doc", rnage=(0, 1))


def test_an_undeclared_override_is_named_in_a_warning(ros_env) -> None:
    import rclpy
    from rclpy.node import Node

    from mbrl_control.ros.params import declare_config
    from mbrl_control.ros.spin import warn_unknown_overrides

    context = rclpy.Context()
    rclpy.init(context=context, args=["t", "--ros-args", "-p", "gian:=3", "-p", "gain:=2"])
    node = Node("typo_test", context=context)
    try:
        declare_config(node, _config_cls())
        assert warn_unknown_overrides(node) == ["gian"]
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
