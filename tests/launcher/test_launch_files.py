"""The shipped launch and parameter files: commands, lifecycle autostart, and the parameters
each node really gets (read back through real rcl, :mod:`rcl_check`) against what it declares.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path

import pytest
from rcl_check import rcl_params, same_value

from mbrl_control.launcher import parser, plan

REPO = Path(__file__).resolve().parents[2]
NODES = ("sim_node", "mpc_controller", "finetune_node", "pixel_controller")
LAUNCH_FILES = (
    "sim_mpc.launch.yaml",
    "sim_to_real.launch.yaml",
    "two_robots.launch.yaml",
    "pixels.launch.yaml",
)
WORDS = ("n", "y", "yes", "off", "1e3", "0x10")  # strings rcl would re-type if unquoted


@pytest.fixture
def installed(prefix):
    """A fake colcon install of mbrl_control: executables, and the real config/launch files."""
    for node in NODES:
        prefix.add_executable("mbrl_control", node)
    for path in [*REPO.glob("config/*.yaml"), *REPO.glob("launch/*.launch.yaml")]:
        prefix.add_share_file("mbrl_control", f"{path.parent.name}/{path.name}", path.read_text())
    return prefix


def _declared(node: str, task: str = "cartpole_swingup") -> dict[str, type]:
    """Parameter name -> Python type as the node declares it (its config dataclass)."""
    pytest.importorskip("rclpy")
    if node == "sim_node":
        from mbrl_control.ros.sim_node import SimNodeConfig as cls
    elif node == "finetune_node":
        from mbrl_control.ros.finetune_node import FinetuneConfig as cls
    elif node == "pixel_controller":
        from mbrl_control.control.pixel_config import PixelControllerConfig as cls
    else:
        from mbrl_control.control.config import ControllerConfig as cls
    hints = typing.get_type_hints(cls)
    out = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    if node == "mpc_controller":
        from mbrl_control.control.config import critic_param
        from mbrl_control.tasks import get_task

        out |= {critic_param(c): float for c in get_task(task).critic_names}
    return out


def _node_name(argv: tuple[str, ...]) -> str:
    return next(a.split(":=", 1)[1] for a in argv if a.startswith("__node:="))


def _check_types(argv: tuple[str, ...]) -> dict[str, object]:
    """The node's parameters as rcl reads its command line; each must be declared, same type."""
    node = _node_name(argv)
    got = rcl_params(argv)
    declared = _declared(node)
    for name, value in got.items():
        assert name in declared, f"{node}: {name!r} is not a parameter of {node}"
        want = declared[name]
        origin = typing.get_origin(want) or want
        assert type(value) is origin, f"{node}: {name}={value!r} but declared {want}"
    return got


def test_sim_mpc_commands_and_lifecycle(installed) -> None:
    launch = parser.load(REPO / "launch" / "sim_mpc.launch.yaml")
    sim, ctrl = plan.plan(launch, {}, installed.environ())
    share = installed.root / "share" / "mbrl_control" / "config"
    assert (sim.label, sim.output, sim.required, sim.activate) == (
        "sim_node", "screen", True, None
    )  # fmt: skip
    assert (ctrl.label, ctrl.output, ctrl.required) == ("mpc_controller", "screen", True)
    assert ctrl.activate == "/mpc_controller"  # lifecycle_node autostart: true
    assert sim.argv[:6] == (
        str(installed.root / "lib" / "mbrl_control" / "sim_node"),
        "--ros-args", "-r", "__node:=sim_node", "--params-file", str(share / "sim_node.yaml"),
    )  # fmt: skip
    assert sim.argv[6:8] == ("--params-file", sim.temp_files[0])
    assert sim.argv[8:] == ("-p", "rate:=0.0", "-p", "real_time_factor:=1.0")
    assert ctrl.argv[-4:] == (
        "--params-file", str(share / "mpc_controller.yaml"),
        "--params-file", ctrl.temp_files[0],
    )  # fmt: skip


def test_pixels_launch_renders_the_planners_view_and_activates_the_controller(installed) -> None:
    launch = parser.load(REPO / "launch" / "pixels.launch.yaml")
    with pytest.raises(Exception, match="model_path"):  # required: nothing to control without
        plan.plan(launch, {}, installed.environ())
    sim, ctrl = plan.plan(launch, {"model_path": "RUN/planner.onnx"}, installed.environ())
    assert (sim.label, sim.required, sim.activate) == ("sim_node", True, None)
    assert (ctrl.label, ctrl.required, ctrl.activate) == ("pixel_controller", True,
                                                          "/pixel_controller")  # fmt: skip
    assert sim.argv[-4:] == ("-p", "camera_rate:=12.5", "-p", "real_time_factor:=1.0")
    assert same_value(_check_types(sim.argv)["camera_view"], "RUN/planner.onnx")
    assert same_value(_check_types(ctrl.argv)["model_path"], "RUN/planner.onnx")
    # the controller gets the simulator's task: a planner of another task is refused at start
    sim, ctrl = plan.plan(launch, {"model_path": "p.onnx", "task": "panda_reach"},
                          installed.environ())  # fmt: skip
    assert same_value(_check_types(sim.argv)["task"], "panda_reach")
    assert same_value(_check_types(ctrl.argv)["task"], "panda_reach")


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_shipped_launch_files_give_every_node_its_declared_types(installed, name) -> None:
    launch = parser.load(REPO / "launch" / name)
    environ = installed.environ(HOME="/home/u")
    args = {"rate": "50", "real_time_factor": "2"} if name != "two_robots.launch.yaml" else {}
    if name == "pixels.launch.yaml":
        args = {"camera_rate": "25", "real_time_factor": "2"}
    for word in WORDS:
        cmds = plan.plan(launch, {"profile": word, "model_path": word, **args}, environ)
        for cmd in cmds:
            got = _check_types(cmd.argv)
            if _node_name(cmd.argv) == "sim_node":
                assert same_value(got["profile"], word)
                if "rate" in args:
                    assert same_value(got["rate"], 50.0)
                if "camera_rate" in args:  # pixels: the camera from the planner's view
                    assert same_value(got["camera_rate"], 25.0)
                    assert same_value(got["camera_view"], word)
            elif _node_name(cmd.argv) == "mpc_controller":
                assert same_value(got["model_path"], word)
                assert same_value(got["state_timeout"], 0.1)
                # critic weights come from the planner file's task, not a file for every task
                assert not any(k.startswith("critics.") for k in got), sorted(got)
            elif _node_name(cmd.argv) == "pixel_controller":
                assert same_value(got["model_path"], word)
                assert same_value(got["image_timeout"], 0.5)
            else:
                assert same_value(got["planner"], word)


def test_two_robots_run_sim_mpc_in_two_namespaces(installed) -> None:
    launch = parser.load(REPO / "launch" / "two_robots.launch.yaml")
    cmds = plan.plan(launch, {}, installed.environ())
    ns = [next(a for a in c.argv if a.startswith("__ns:=")) for c in cmds]
    assert ns == ["__ns:=/robot1"] * 2 + ["__ns:=/robot2"] * 2
    activate = [c.activate for c in cmds]
    assert activate == [None, "/robot1/mpc_controller", None, "/robot2/mpc_controller"]


# declared parameters a config file may leave out: empty-list defaults (rcl cannot type [])
UNLISTED = {"mpc_controller": {"action_low", "action_high"}}


@pytest.mark.parametrize("node", NODES)
def test_config_files_list_every_parameter_and_apply_in_any_namespace(node) -> None:
    """config/<node>.yaml: every declared parameter with its declared type, and it reaches
    the node under a namespace too."""
    path = REPO / "config" / f"{node}.yaml"
    for ns in ("/", "/robot1", "/a/b"):
        argv = ("--ros-args", "-r", f"__node:={node}", "-r", f"__ns:={ns}", "--params-file", path)
        got = _check_types(tuple(map(str, argv)))
        missing = set(_declared(node)) - set(got) - UNLISTED.get(node, set())
        # critic weights are per task (defaults from the planner file's task): a config file
        # shared by every task lists none, else it re-weights same-named critics of other tasks
        missing = {m for m in missing if not m.startswith("critics.")}
        assert not missing, f"{path.name} lacks {sorted(missing)} (seen under {ns})"


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_launch_files_resolve_from_this_checkout(name: str, monkeypatch) -> None:
    """Without an ament prefix: config from the checkout, executables from the venv's bin/."""
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    monkeypatch.setenv("HOME", "/home/u")
    args = {"model_path": "planner.onnx"} if name == "pixels.launch.yaml" else {}  # required
    for cmd in plan.plan(parser.load(REPO / "launch" / name), args, dict(os.environ)):
        assert Path(cmd.argv[0]).name == _node_name(cmd.argv)
        params_file = cmd.argv[cmd.argv.index("--params-file") + 1]
        assert params_file == str(REPO / "config" / f"{_node_name(cmd.argv)}.yaml")
        for temp in cmd.temp_files:
            os.unlink(temp)
