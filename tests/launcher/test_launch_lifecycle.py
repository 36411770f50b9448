"""``lifecycle_node`` + ``autostart`` through ``mbrl-control launch``: real rclpy lifecycle nodes.

Upstream (launch_ros on Jazzy, ``lifecycle_node`` YAML tag since 0.26.12) requests
``configure`` then ``activate`` over ``<node>/change_state`` once the service is up, and
reports a refused transition without ending the launch. The runner must do the same.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import textwrap

import pytest
from test_launch_run import _launch, _wait_for

pytestmark = pytest.mark.ros

LIFECYCLE = """\
#!{python}
import sys
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

rclpy.init(args=sys.argv)


class Demo(LifecycleNode):
    def on_configure(self, state):
        ok = self.get_parameter("ok").value
        print(f"{{self.get_fully_qualified_name()}} configure ok={{ok}}", flush=True)
        return TransitionCallbackReturn.SUCCESS if ok else TransitionCallbackReturn.FAILURE

    def on_activate(self, state):
        print(f"{{self.get_fully_qualified_name()}} activated", flush=True)
        return super().on_activate(state)


node = Demo("lc")
node.declare_parameter("ok", True)
try:
    rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
finally:
    rclpy.try_shutdown()
"""

LAUNCH = """
launch:
  - arg: {name: go, default: 'true'}
  - group:
      - push-ros-namespace: {namespace: robots}
      - lifecycle_node:
          {pkg: demo, exec: lc, name: a, namespace: '', output: screen, autostart: true}
  - lifecycle_node: {pkg: demo, exec: lc, name: b, namespace: '', output: screen}
  - lifecycle_node:
      pkg: demo
      exec: lc
      name: c
      namespace: cell
      output: screen
      autostart: $(var go)
      param: [{name: ok, value: false}]
"""


@pytest.fixture
def lc_env(ros_env, prefix, tmp_path) -> dict[str, str]:
    prefix.add_executable("demo", "lc", LIFECYCLE.format(python=sys.executable))
    return {**ros_env, "AMENT_PREFIX_PATH": str(prefix.root), "ROS_LOG_DIR": str(tmp_path)}


def test_autostart_configures_and_activates_and_reports_refusals(spawn, lc_env, tmp_path) -> None:
    path = tmp_path / "lc.launch.yaml"
    path.write_text(textwrap.dedent(LAUNCH))
    proc = _launch(spawn, lc_env, str(path), "go:=true")  # a launch argument, not an rcl remap
    _wait_for(proc, r"^\[launch\] a: lifecycle: /robots/a is active$")
    out = _wait_for(proc, r"^\[launch\] c: lifecycle: transition 'configure' of /cell/c failed")
    assert re.search(r"^\[a\] /robots/a configure ok=True$", out, re.MULTILINE)
    assert re.search(r"^\[a\] /robots/a activated$", out, re.MULTILINE)
    assert re.search(r"^\[c\] /cell/c configure ok=False$", out, re.MULTILINE)
    assert "/cell/c activated" not in out  # no activate after a refused configure
    assert "/b configure" not in out and "b: lifecycle" not in out  # no autostart asked
    assert "deprecated" not in out  # rcl read the runner's go:=true as a remap rule and warned
    # a refused transition does not end the launch; Ctrl-C does, cleanly
    assert proc.popen.poll() is None
    os.kill(proc.popen.pid, signal.SIGINT)
    assert proc.popen.wait(timeout=60) == 130
