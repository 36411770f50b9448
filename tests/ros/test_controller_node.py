"""mpc_controller as a real process: watchdog, bad states, limits, enable, reload.

The test process plays the robot (publishes /joint_states at 50 Hz from a probe node) and
watches /commands and /diagnostics; the controller runs a real exported planner file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

CONTROLLER = str(Path(sys.executable).with_name("mpc_controller"))
STATUS = "mpc_controller: planner"


def start_controller(spawn, ros_env, planner_dir: Path, *params: str, env=None, extra=(), exe=None):
    """Start ``mpc_controller`` (autostart, planner_a, limits ±2, state_timeout 0.2 s, noise
    seed 7: a test's commands must not depend on an OS-drawn seed); ``params`` are more
    ``name:=value`` overrides, ``extra`` more ``--ros-args`` words, ``exe`` another command
    line that runs the node."""
    argv = [*(exe or [CONTROLLER]), "--ros-args"]
    argv += ["-p", f"model_path:={planner_dir / 'planner_a.onnx'}"]
    for p in (
        "autostart:=true",
        "state_timeout:=0.2",
        "action_low:=[-2.0]",
        "action_high:=[2.0]",
        "seed:=7",
        *params,
    ):
        argv += ["-p", p]
    return spawn("mpc_controller", argv + list(extra), {**ros_env, **(env or {})})


_start = start_controller


def latest(diags: list, name: str = STATUS):
    """The newest received status named ``name`` (or None)."""
    for msg in reversed(diags):
        for status in msg.status:
            if status.name == name:
                return status
    return None


_latest = latest


def level_is(diags, level: int, contains: str = "", name: str = STATUS):
    """A predicate: the newest ``name`` status has ``level`` and ``contains`` in its message."""

    def check() -> bool:
        s = latest(diags, name)
        return s is not None and s.level == bytes([level]) and contains in s.message

    return check


_level_is = level_is


def parameter_msg(name: str, value):
    """An ``rcl_interfaces/Parameter`` for a Python value (bool, int, float, str, lists)."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue

    v = ParameterValue()
    if isinstance(value, bool):
        v.type, v.bool_value = ParameterType.PARAMETER_BOOL, value
    elif isinstance(value, int):
        v.type, v.integer_value = ParameterType.PARAMETER_INTEGER, value
    elif isinstance(value, float):
        v.type, v.double_value = ParameterType.PARAMETER_DOUBLE, value
    elif isinstance(value, str):
        v.type, v.string_value = ParameterType.PARAMETER_STRING, value
    elif value and all(isinstance(x, str) for x in value):
        v.type, v.string_array_value = ParameterType.PARAMETER_STRING_ARRAY, list(value)
    else:
        v.type, v.double_array_value = (
            ParameterType.PARAMETER_DOUBLE_ARRAY,
            [float(x) for x in value],
        )
    return Parameter(name=name, value=v)


def set_param(probe, name: str, value, node: str = "/mpc_controller"):
    """Set one parameter through the node's real parameter service; returns the result."""
    from rcl_interfaces.srv import SetParameters

    req = SetParameters.Request(parameters=[parameter_msg(name, value)])
    return probe.call(SetParameters, f"{node}/set_parameters", req).results[0]


def test_safety_behaviours(spawn, ros_env, ros_probe, planner_dir, joint_states) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray
    from std_srvs.srv import SetBool

    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    _start(spawn, ros_env, planner_dir)

    # normal operation: planned commands, within the action limits from parameters
    ros_probe.wait_for(_level_is(diags, 0, "planning"), 60, "OK while planning")
    n = len(commands)
    ros_probe.wait_for(lambda: len(commands) > n + 20, 30, "commands at the control rate")
    values = np.array([c.data[0] for c in commands[n:]])
    assert np.all(np.abs(values) <= 2.0 + 1e-9), values
    assert np.any(values != 0.0), "an untrained planner still plans non-zero forces"

    # watchdog: states stop -> ERROR and the safe action; recovers by itself
    joint_states.active = False
    ros_probe.wait_for(_level_is(diags, 2, "watchdog"), 10, "watchdog ERROR")
    n = len(commands)
    ros_probe.wait_for(lambda: len(commands) > n + 5, 10, "commands while stale")
    assert all(c.data[0] == 0.0 for c in commands[n + 1 :])
    joint_states.active = True
    ros_probe.wait_for(_level_is(diags, 0), 10, "recovery to OK")

    # bad state: NaN -> WARN naming the joint, safe action; missing joint likewise
    joint_states.set(position=[0.0, float("nan")])
    ros_probe.wait_for(_level_is(diags, 1, "cart_to_pole"), 10, "WARN naming cart_to_pole")
    n = len(commands)
    ros_probe.wait_for(lambda: len(commands) > n + 5, 10, "commands on bad state")
    assert all(c.data[0] == 0.0 for c in commands[n + 1 :])
    # a joint missing from every message goes stale: the watchdog names it
    joint_states.set(names=["slider_to_cart", "elbow"], position=[0.0, np.pi])
    ros_probe.wait_for(_level_is(diags, 2, "'cart_to_pole' stale"), 10, "ERROR for missing joint")
    joint_states.set(names=["slider_to_cart", "cart_to_pole"], position=[0.1, np.pi])
    ros_probe.wait_for(_level_is(diags, 0), 10, "recovery from a bad state")

    # ~/enable false -> safe action until enabled again
    resp = ros_probe.call(SetBool, "/mpc_controller/enable", SetBool.Request(data=False))
    assert resp.success
    ros_probe.wait_for(_level_is(diags, 1, "disabled"), 10, "disabled WARN")
    n = len(commands)
    ros_probe.wait_for(lambda: len(commands) > n + 5, 10, "commands while disabled")
    assert all(c.data[0] == 0.0 for c in commands[n + 1 :])
    ros_probe.call(SetBool, "/mpc_controller/enable", SetBool.Request(data=True))
    ros_probe.wait_for(_level_is(diags, 0, "planning"), 10, "re-enabled")


def test_reload_keeps_old_model_on_failure(
    spawn, ros_env, ros_probe, planner_dir, joint_states
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    from std_msgs.msg import Float64MultiArray
    from std_srvs.srv import Trigger

    from mbrl_control.ros.diagnostics import values_of

    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    _start(spawn, ros_env, planner_dir)
    ros_probe.wait_for(_level_is(diags, 0, "planning"), 60, "OK while planning")

    def set_path(path: str):
        value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=path)
        req = SetParameters.Request(parameters=[Parameter(name="model_path", value=value)])
        return ros_probe.call(SetParameters, "/mpc_controller/set_parameters", req).results[0]

    def reload() -> Trigger.Response:
        return ros_probe.call(Trigger, "/mpc_controller/reload_model", Trigger.Request())

    # a path outside model_dir is refused at the set, naming the reason
    result = set_path("/etc/passwd")
    assert not result.successful and "outside model_dir" in result.reason, result.reason
    for bad, reason in [("missing.onnx", "not found"), ("corrupt.onnx", "not a loadable ONNX")]:
        assert set_path(str(planner_dir / bad)).successful
        before = len(commands)
        resp = reload()
        assert not resp.success and reason in resp.message, resp.message
        assert "planner_a.onnx" in resp.message  # the live model is named as kept
        ros_probe.wait_for(
            lambda b=before: len(commands) > b + 5, 10, "commands after a failed reload"
        )
        assert "planner_a" in values_of(_latest(diags)).get("model_id", "")

    assert set_path(str(planner_dir / "planner_b.onnx")).successful
    resp = reload()
    assert resp.success, resp.message
    ros_probe.wait_for(
        lambda: "planner_b" in values_of(_latest(diags)).get("model_id", ""), 10, "model_id b"
    )
    n = len(commands)
    ros_probe.wait_for(lambda: len(commands) > n + 5, 10, "commands after the swap")
    ros_probe.wait_for(_level_is(diags, 0, "planning"), 30, "planning on the new model")


def test_runs_from_a_planner_whose_task_file_is_gone(
    spawn, ros_env, ros_probe, tmp_path, joint_states
) -> None:
    """Issue 15 slice 2: the planner file alone defines the task (``task`` unset); a
    ``task`` that disagrees with the planner's is refused at configure naming both."""
    import yaml
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    from mbrl_control.tasks import builtin_task_files, load_task_file

    data = yaml.safe_load(builtin_task_files()["cartpole_swingup"].read_text())
    data["name"] = "my_cartpole"
    task_file = tmp_path / "my_cartpole.task.yaml"
    task_file.write_text(yaml.safe_dump(data))
    task = load_task_file(task_file)
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig

    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(task.obs_dim, task.act_dim, members=2, hidden=16, layers=2))
    cfg = PlannerConfig(kind="icem", horizon=5, population=32, particles=2, iterations=1)
    planner = export_planner(model, task, cfg, tmp_path / "planner.onnx")
    task_file.unlink()

    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    argv = [CONTROLLER, "--ros-args", "-p", f"model_path:={planner}", "-p", "autostart:=true"]
    proc = spawn("mpc_controller", argv, ros_env)
    ros_probe.wait_for(_level_is(diags, 0, "planning"), 60, "OK while planning")
    n = len(commands)
    ros_probe.wait_for(lambda: len(commands) > n + 5, 30, "commands")
    assert latest(diags).hardware_id == "my_cartpole"
    proc.stop()

    argv += ["-p", "task:=cartpole_swingup"]
    proc = spawn("mpc_controller-2", argv, ros_env)
    ros_probe.wait_for(lambda: "refused" in proc.output(), 60, "configure refused")
    out = proc.output()
    assert "'my_cartpole'" in out and "'cartpole_swingup'" in out, out
