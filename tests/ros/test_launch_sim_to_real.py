"""launch/sim_to_real.launch.yaml through ``mbrl-control launch``: both managed nodes come up.

The shipped file starts sim_node, and mpc_controller and finetune_node as ``lifecycle_node``
with ``autostart``; the runner configures and activates each over its ``change_state``
service. The string arguments (paths, profile) reach the nodes through the quoted
``allow_substs`` files, so both nodes load the pretrained folder they are pointed at.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest
from test_finetune_loop import _weak_live_model

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("mbrl-control"))


def test_sim_to_real_brings_both_managed_nodes_to_active(
    spawn, ros_env, ros_probe, tmp_path: Path
) -> None:
    """Both managed nodes reach active, and finetune_node records the sim robot's states: the
    launch puts it on sim_node's /clock (the states' stamps are sim time; on the wall clock
    every one was dropped as far from the clock)."""
    import json

    from diagnostic_msgs.msg import DiagnosticArray
    from lifecycle_msgs.msg import State
    from lifecycle_msgs.srv import GetState

    from mbrl_control.ros.diagnostics import values_of

    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")

    _weak_live_model(tmp_path)
    launch = spawn(
        "launch",
        [
            CLI,
            "launch",
            str(REPO / "launch" / "sim_to_real.launch.yaml"),
            f"model_dir:={tmp_path}",
            "profile:=none",
        ],
        ros_env,
    )
    for node in ("mpc_controller", "finetune_node"):
        line = f"[launch] {node}: lifecycle: /{node} is active"
        deadline = time.monotonic() + 180
        while line not in launch.output():
            assert launch.popen.poll() is None, launch.output()
            assert "lifecycle: transition" not in launch.output(), launch.output()
            assert time.monotonic() < deadline, f"no {line!r}:\n{launch.output()}"
            time.sleep(0.2)
        state = ros_probe.call(GetState, f"/{node}/get_state", GetState.Request())
        assert state.current_state.id == State.PRIMARY_STATE_ACTIVE, state

    def finetune_values() -> dict[str, str]:
        for array in reversed(list(diags)):
            for status in array.status:
                if status.name == "finetune_node":
                    return values_of(status)
        return {}

    def recorded() -> bool:
        return int(finetune_values().get("transitions_recorded", 0)) > 0

    ros_probe.wait_for(recorded, 120, f"finetune_node records transitions:\n{launch.output()}")
    dropped = json.loads(finetune_values()["dropped"])
    assert "stamp_far_from_clock" not in dropped, dropped
    launch.popen.send_signal(signal.SIGINT)
    assert launch.wait(timeout=60) in (0, 130)
