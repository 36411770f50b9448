"""sim_node reports the simulator's ground-truth safety counts on /diagnostics (issue 16): rail
hits and safety stops from the true joint state, what a live-finetuning measurement reads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

SIM_NODE = str(Path(sys.executable).with_name("sim_node"))
NAME = "sim_node: ground truth"


def _latest(diags: list, name: str):
    for msg in reversed(diags):
        for s in msg.status:
            if s.name == name:
                return s, {kv.key: kv.value for kv in s.values}
    return None, {}


def test_ground_truth_counts_rail_hits_of_a_cart_pushed_into_the_rail_end(
    spawn, ros_env, ros_probe
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    argv = [SIM_NODE, "--ros-args", "-p", "real_time_factor:=4.0", "-p", "profile:=none"]
    spawn("sim_node", argv, ros_env)
    ros_probe.wait_for(lambda: _latest(diags, NAME)[0] is not None, 60, "ground-truth status")
    status, values = _latest(diags, NAME)
    assert status.level == bytes([0]) and int(values["rail_steps"]) == 0  # at rest: none
    assert int(values["rail_hit_episodes"]) == 0 and int(values["safety_stop_steps"]) == 0

    # full force to +x: the cart passes the rail critic's 2 m within the 4 s episode
    pub = ros_probe.node.create_publisher(Float64MultiArray, "/commands", 10)
    ros_probe.node.create_timer(0.01, lambda: pub.publish(Float64MultiArray(data=[10.0])))

    def hit_then_new_episode() -> bool:
        _, v = _latest(diags, NAME)
        return int(v.get("rail_hit_episodes", 0)) >= 1 and int(v.get("episodes", 0)) >= 1

    ros_probe.wait_for(hit_then_new_episode, 60, "an episode with a rail hit to end")
    status, values = _latest(diags, NAME)
    assert status.level == bytes([1]) and "rail hit" in status.message
    assert 0 < int(values["rail_steps"]) <= int(values["steps"])
    assert int(values["rail_hit_episodes"]) <= int(values["episodes"]) + 1
