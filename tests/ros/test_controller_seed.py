"""Deterministic mode as real processes (issue 18): ``seed`` gives bit-identical commands.

The test process plays robot and simulator clock: under ``use_sim_time`` it steps /clock in
lockstep with the joint states it publishes, so every control tick plans from exactly one
known state. Two controller processes with ``seed:=5`` get the same states; the commands of
the first process's three episodes (fresh, after ``~/reset``, after ``~/reload_model``) and
of the second process must all be equal bit for bit, and equal to the Python API
(``OnnxPlanner(path, seed=5)``) on the same observations.

Lockstep: for step k the clock goes to ``T_k - 2 ms``, the state follows, then the clock goes
to ``T_k`` (a tick). With ``state_timeout`` 5 ms a state that DDS delivers out of that order
is stale at the tick, which then publishes the safe action without calling the planner (no
noise drawn, no warm start moved): the step is repeated at the next tick, so delivery order
cannot change the commands compared.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import TASK
from test_controller_node import start_controller

pytestmark = pytest.mark.ros

PERIOD_NS = round(TASK.dt * 1e9)  # the control period: one tick per clock step
LEAD_NS = 2_000_000  # the state arrives 2 ms of sim time before its tick
GAP = 0.02  # wall s between the clock and state messages of one step
STEPS = 8
RETRIES = 5


def _states() -> list[tuple[list[float], list[float]]]:
    rng = np.random.default_rng(7)
    pos = np.c_[rng.uniform(-0.5, 0.5, STEPS), np.pi + rng.uniform(-0.6, 0.6, STEPS)]
    vel = rng.uniform(-1.0, 1.0, (STEPS, 2))
    return [(list(p), list(v)) for p, v in zip(pos, vel)]


class Lockstep:
    """Drives one controller: /clock and /joint_states from the probe, /commands back."""

    def __init__(self, probe, commands: list) -> None:
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import JointState

        self.probe, self.commands = probe, commands
        self._clock_type, self._state_type = Clock, JointState
        self._clock = probe.node.create_publisher(Clock, "/clock", 10)
        self._state = probe.node.create_publisher(JointState, "/joint_states", 10)
        self.now_ns = 100 * 10**9  # a multiple of the period: ticks fall on T_k

    def clock(self, ns: int) -> None:
        from builtin_interfaces.msg import Time

        self._clock.publish(self._clock_type(clock=Time(sec=ns // 10**9, nanosec=ns % 10**9)))

    def start(self) -> None:
        """The first /clock (repeated until the new publisher is discovered): the jump from
        sim time 0 is one tick without a state (the safe action), not part of an episode."""

        def ticked() -> bool:
            self.clock(self.now_ns)
            return len(self.commands) > 0

        self.probe.wait_for(ticked, 20, "the tick of the first /clock")
        time.sleep(0.3)  # a second tick of that jump, if any, has arrived

    def tick(self) -> list[float]:
        """Advance one period; the command of that tick."""
        n = len(self.commands)
        self.now_ns += PERIOD_NS
        self.clock(self.now_ns)
        self.probe.wait_for(lambda: len(self.commands) > n, 20, "a command for the tick")
        return list(self.commands[n].data)

    def episode(self) -> np.ndarray:
        """One command per state of :func:`_states`, each planned from that state."""
        out = []
        for pos, vel in _states():
            for _ in range(RETRIES):
                self.clock(self.now_ns + PERIOD_NS - LEAD_NS)
                time.sleep(GAP)
                self._state.publish(self._state_type(name=list(TASK.joint_names),
                                                     position=pos, velocity=vel))  # fmt: skip
                time.sleep(GAP)
                command = self.tick()
                if command != list(TASK.safe_action):  # else: the state was not in time
                    out.append(command)
                    break
            else:
                raise AssertionError(f"{RETRIES} ticks without a plan from state {pos}, {vel}")
        return np.array(out)


def _controller(spawn, ros_env, ros_probe, planner_dir):
    """A started, active controller with seed 5 on sim time: its process and lockstep driver."""
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    proc = start_controller(
        spawn, ros_env, planner_dir, "use_sim_time:=true", "seed:=5",
        "on_deadline_miss:=publish", "state_timeout:=0.005",
        "action_low:=[-10.0]", "action_high:=[10.0]",  # the task's bounds: no clipping
    )  # fmt: skip

    def active() -> bool:
        values = {kv.key: kv.value for m in diags[-3:] for s in m.status for kv in s.values}
        return values.get("lifecycle_state") == "active" and values.get("noise_seed") == "5"

    ros_probe.wait_for(active, 60, "the controller active with noise_seed 5")
    drive = Lockstep(ros_probe, commands)
    drive.start()
    return proc, drive


def test_same_seed_same_commands_across_processes_reset_and_reload(
    spawn, ros_env, ros_probe, planner_dir
) -> None:
    from std_srvs.srv import Trigger

    from mbrl_control.export.runtime import OnnxPlanner

    proc, first = _controller(spawn, ros_env, ros_probe, planner_dir)
    fresh = first.episode()
    answer = ros_probe.call(Trigger, "/mpc_controller/reset", Trigger.Request())
    assert answer.success and "noise seed 5" in answer.message, answer.message
    after_reset = first.episode()
    answer = ros_probe.call(Trigger, "/mpc_controller/reload_model", Trigger.Request())
    assert answer.success, answer.message
    after_reload = first.episode()
    proc.stop()  # its safe action on exit is acknowledged before it exits

    _, second = _controller(spawn, ros_env, ros_probe, planner_dir)
    other_process = second.episode()

    assert len(np.unique(fresh)) >= STEPS // 2  # commands vary with state, noise, warm start
    np.testing.assert_array_equal(after_reset, fresh)
    np.testing.assert_array_equal(after_reload, fresh)
    np.testing.assert_array_equal(other_process, fresh)

    # the Python API, same seed, same observations
    api = OnnxPlanner(planner_dir / "planner_a.onnx", threads=1, seed=5)
    obs = [TASK.obs_from_joints(np.array(p), np.array(v)) for p, v in _states()]
    expected = [TASK.command_from_action(np.asarray(api.act(o), np.float64)) for o in obs]
    np.testing.assert_array_equal(fresh, np.array(expected))
