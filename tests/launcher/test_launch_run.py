"""A real launch: two rclpy nodes started by ``mbrl-control launch`` on a private ROS domain."""

from __future__ import annotations

import os
import re
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

TALKER = """\
#!{python}
import sys
import rclpy
from rclpy.executors import ExternalShutdownException
from std_msgs.msg import String

rclpy.init(args=sys.argv)
node = rclpy.create_node("talker")
greeting = node.declare_parameter("greeting", "none").value
pub = node.create_publisher(String, "chatter", 10)
count = 0


def tick():
    global count
    count += 1
    pub.publish(String(data=f"{{greeting}} {{count}}"))
    print(f"{{node.get_fully_qualified_name()}} published {{count}}", flush=True)


node.create_timer(0.1, tick)
try:
    rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    print(f"{{node.get_fully_qualified_name()}} stopping", flush=True)
finally:
    rclpy.try_shutdown()
"""

LISTENER = """\
#!{python}
import sys
import rclpy
from std_msgs.msg import String

rclpy.init(args=sys.argv)
node = rclpy.create_node("listener")
heard = []
node.create_subscription(String, "chatter", lambda msg: heard.append(msg.data), 10)
while len(heard) < 3:
    rclpy.spin_once(node, timeout_sec=0.1)
print(f"heard {{heard[-1]}}", flush=True)
sys.exit(3)
"""


def _launch_file(tmp_path: Path, listener: bool) -> Path:
    """A launch file with a talker (remapped to /talk) and, optionally, a required listener."""
    text = """
        launch:
          - arg: {name: greeting, default: hi}
          - node:
              pkg: demo
              exec: talker
              name: speaker
              namespace: demo
              output: screen
              param: [{name: greeting, value: $(var greeting)}]
              remap: [{from: chatter, to: /talk}]
    """
    if listener:
        text += """
          - node:
              pkg: demo
              exec: listener
              output: screen
              on_exit: shutdown
              remap: [{from: chatter, to: /talk}]
        """
    path = tmp_path / "demo.launch.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def demo_env(ros_env, prefix, tmp_path) -> dict[str, str]:
    for name, body in (("talker", TALKER), ("listener", LISTENER)):
        prefix.add_executable("demo", name, body.format(python=sys.executable))
    return {**ros_env, "AMENT_PREFIX_PATH": str(prefix.root), "ROS_LOG_DIR": str(tmp_path)}


def _launch(spawn, env: dict[str, str], *argv: str):
    cmd = [sys.executable, "-m", "mbrl_control.cli", "launch", *argv]
    return spawn("launch", cmd, env=env)


def _wait_for(proc, pattern: str) -> str:
    """Block until ``pattern`` appears in the output (fails if the runner exits first)."""
    while not re.search(pattern, proc.output(), re.MULTILINE):
        assert proc.popen.poll() is None, f"runner exited before {pattern!r}:\n{proc.output()}"
        time.sleep(0.05)
    return proc.output()


def _pids(output: str) -> dict[str, int]:
    return {
        m[0]: int(m[1])
        for m in re.findall(r"\[launch\] (\S+): process started with pid (\d+)", output)
    }


def test_required_node_exit_shuts_down_the_others(spawn, demo_env, tmp_path) -> None:
    proc = _launch(spawn, demo_env, str(_launch_file(tmp_path, listener=True)), "greeting:=hello")
    rc = proc.popen.wait()
    out = proc.output()
    assert rc == 3, out  # the required listener's exit code
    assert re.search(r"^\[speaker\] /demo/speaker published \d+$", out, re.MULTILINE)
    assert re.search(r"^\[listener\] heard hello \d+$", out, re.MULTILINE)  # param + remap
    assert "[launch] listener is required: shutting down the others" in out
    assert re.search(r"^\[speaker\] /demo/speaker stopping$", out, re.MULTILINE)  # got SIGINT
    for pid in _pids(out).values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_sigint_stops_everything_with_130(spawn, demo_env, tmp_path) -> None:
    proc = _launch(spawn, demo_env, str(_launch_file(tmp_path, listener=False)))
    out = _wait_for(proc, r"^\[speaker\] /demo/speaker published 3$")
    pids = _pids(out)
    assert set(pids) == {"speaker"}
    os.kill(proc.popen.pid, signal.SIGINT)
    assert proc.popen.wait() == 130
    out = proc.output()
    assert "[launch] received SIGINT: shutting down" in out
    assert re.search(r"^\[speaker\] /demo/speaker stopping$", out, re.MULTILINE)
    assert "[launch] speaker: process exited with code 0" in out
    with pytest.raises(ProcessLookupError):
        os.kill(pids["speaker"], 0)


PRINTER = """\
#!{python}
import sys
import rclpy

rclpy.init(args=sys.argv)
node = rclpy.create_node("printer")
names = {names!r}
for name in names:  # declared as strings, as sim_node declares 'profile'
    value = node.declare_parameter(name, "unset").value
    print(f"{{name}}={{value!r}}", flush=True)
rclpy.try_shutdown()
"""


def test_string_parameters_reach_a_real_node_as_strings(spawn, ros_env, prefix, tmp_path) -> None:
    """``'n'``/``'y'``/``'1e3'`` in a launch file: a node declaring strings gets the strings
    (ros2 launch hands it a bool or a double and the declaration fails)."""
    words = ["n", "y", "yes", "off", "1e3", "1.5", "0x10"]
    names = [f"{kind}{i}" for kind in ("q", "t", "f") for i in range(len(words))]
    prefix.add_executable("demo", "printer", PRINTER.format(python=sys.executable, names=names))
    template = tmp_path / "args.yaml"
    template.write_text(
        "/**:\n  ros__parameters:\n"
        + "".join(f"    f{i}: '$(var w{i})'\n" for i in range(len(words)))
    )
    lines = ["launch:"]
    lines += [f"  - arg: {{name: w{i}, default: '{w}'}}" for i, w in enumerate(words)]
    lines += ["  - node:", "      pkg: demo", "      exec: printer", "      output: screen"]
    lines += ["      on_exit: shutdown", "      param:"]
    lines += [f"        - {{name: q{i}, value: '{w}'}}" for i, w in enumerate(words)]
    lines += [f"        - {{name: t{i}, value: $(var w{i}), type: str}}" for i in range(len(words))]
    lines += [f"        - {{from: {template}, allow_substs: true}}"]
    path = tmp_path / "strings.launch.yaml"
    path.write_text("\n".join(lines) + "\n")
    env = {**ros_env, "AMENT_PREFIX_PATH": str(prefix.root), "ROS_LOG_DIR": str(tmp_path)}
    proc = _launch(spawn, env, str(path))
    assert proc.popen.wait(timeout=60) == 0, proc.output()
    out = proc.output()
    for kind in ("q", "t", "f"):
        for i, word in enumerate(words):
            assert f"[printer] {kind}{i}={word!r}\n" in out, out
