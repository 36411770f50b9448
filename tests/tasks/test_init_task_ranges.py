"""The ``init-task`` scaffold works with its own simulator at the joints' hard stops.

A task's ``position_range``/``velocity_limit`` are validity ranges: a state outside them is
refused as impossible (``mpc_controller`` holds the safe action, sim_node and ``evaluate``
count a safety stop). PyBullet's joints overshoot a hard stop pushed with full effort (the
elbow at 2.0014 against a URDF limit of 2), so the scaffold writes them with slack beyond the
URDF's limits, as the built-in tasks do; the action bounds stay the URDF's.
"""

from __future__ import annotations

import numpy as np
import pytest

from mbrl_control.cli import main
from mbrl_control.pipeline.evaluate import SafetyCheck
from mbrl_control.tasks import load_task_file
from mbrl_control.tasks.urdf_scaffold import RANGE_SLACK, SPEED_FACTOR

# two revolute links with hard stops, both actuated. mbrl_sim does not cap joint speeds at the
# URDF's velocity (PyBullet applies it to no torque-driven joint), so the speed limits here
# are ones these motors cannot exceed twofold (peaks ~11 and ~12 rad/s in the episode below).
TWO_LINK = """<?xml version="1.0"?>
<robot name="my2link">
  <link name="base"/>
  <link name="upper"><inertial><origin xyz="0 0 0.25"/><mass value="1"/>
    <inertia ixx="0.02" iyy="0.02" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="lower"><inertial><origin xyz="0 0 0.25"/><mass value="0.5"/>
    <inertia ixx="0.01" iyy="0.01" izz="0.0005" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="tip"/>
  <joint name="shoulder" type="revolute"><parent link="base"/><child link="upper"/>
    <origin xyz="0 0 0.1"/><axis xyz="0 1 0"/>
    <limit lower="-1.5" upper="1.5" effort="10" velocity="8"/></joint>
  <joint name="elbow" type="revolute"><parent link="upper"/><child link="lower"/>
    <origin xyz="0 0 0.5"/><axis xyz="0 1 0"/>
    <limit lower="-2" upper="2" effort="5" velocity="10"/></joint>
  <joint name="tip_joint" type="fixed"><parent link="lower"/><child link="tip"/>
    <origin xyz="0 0 0.5"/></joint>
</robot>
"""
URDF_LOW, URDF_HIGH = np.array([-1.5, -2.0]), np.array([1.5, 2.0])
URDF_SPEED = np.array([8.0, 10.0])


@pytest.fixture
def task(tmp_path):
    (tmp_path / "my2link.urdf").write_text(TWO_LINK)
    out = tmp_path / "my.task.yaml"
    assert main(["init-task", "--urdf", str(tmp_path / "my2link.urdf"), "--out", str(out)]) == 0
    return load_task_file(out)


def test_scaffold_ranges_have_slack_and_action_bounds_do_not(task):
    lo, hi, vmax = task.joint_ranges
    np.testing.assert_allclose(lo, URDF_LOW - RANGE_SLACK)
    np.testing.assert_allclose(hi, URDF_HIGH + RANGE_SLACK)
    np.testing.assert_allclose(vmax, SPEED_FACTOR * URDF_SPEED)
    assert (task.action_low, task.action_high) == ((-10.0, -5.0), (10.0, 5.0))  # the URDF's
    # initial states stay inside the URDF's own limits (clip_margin = the slack)
    rng = np.random.default_rng(0)
    for _ in range(200):
        q, _ = task.sample_initial_state(rng)
        assert np.all((q >= URDF_LOW) & (q <= URDF_HIGH))


def test_scaffold_accepts_its_simulator_at_the_hard_stops(task, seeds):
    """A whole episode with the shoulder pushed into its lower stop and the elbow into its
    upper one at full effort: the joints overshoot the URDF's limits, yet no true state and
    no observation is outside the task's ranges (the old scaffold, with the URDF's limits
    exactly, had a safety stop on nearly every step)."""
    from mbrl_sim import make_env

    check = SafetyCheck(task)
    lo, hi, vmax = task.joint_ranges
    q_at = [task.obs_names.index(n) for n in task.joint_names]
    qd_at = [task.obs_names.index(f"{n}_dot") for n in task.joint_names]
    action = np.array([task.action_low[0], task.action_high[1]], np.float32)
    env = make_env(task, seed=seeds(61))
    try:
        obs, _ = env.reset(seed=seeds(61))
        sim = env.unwrapped
        overshoot = np.zeros(2)
        for step in range(task.episode_steps):
            obs, _, terminated, truncated, _ = env.step(action)
            q, qd = sim.physical_joint_state()
            overshoot = np.maximum(overshoot, np.maximum(URDF_LOW - q, q - URDF_HIGH))
            assert check(q, qd) == (False, False), (step, q.tolist(), qd.tolist())
            _, mq, mqd, _ = sim.joint_state()  # the measurement behind the observation
            for pos, vel in ((mq, mqd), (obs[q_at], obs[qd_at])):
                assert np.all((pos >= lo) & (pos <= hi)), (step, pos.tolist())
                assert np.all(np.abs(vel) <= vmax), (step, vel.tolist())
            if terminated or truncated:
                break
        assert step + 1 == task.episode_steps
        assert np.all(overshoot > 0.0), overshoot  # both joints really were past their stops
    finally:
        env.close()
