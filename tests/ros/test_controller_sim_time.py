"""With use_sim_time the control loop and the watchdog follow /clock (issue 14 item 8).

The probe publishes /clock at real-time factor 2 (20 ms of sim time every 10 ms), then holds
it still. Following /clock means: about 50 commands per simulated second (not per wall
second), none while the clock stands still, and no watchdog while sim time does not pass.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
from test_controller_node import level_is, start_controller

pytestmark = pytest.mark.ros


class ClockPublisher:
    """Publishes /clock from a thread: ``rtf`` sim seconds per wall second (0 = paused)."""

    def __init__(self, probe, rtf: float = 2.0, start: float = 100.0) -> None:
        from rosgraph_msgs.msg import Clock

        self._msg_type = Clock
        self._pub = probe.node.create_publisher(Clock, "/clock", 10)
        self.rtf, self.now = rtf, start
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from builtin_interfaces.msg import Time

        step = 0.005  # wall s between /clock messages
        last = time.monotonic()
        while not self._stop.wait(step):
            wall, last = time.monotonic() - last, time.monotonic()
            with self._lock:
                self.now += self.rtf * wall  # exactly rtf sim seconds per wall second
                sec = int(self.now)
                stamp = Time(sec=sec, nanosec=int((self.now - sec) * 1e9))
            self._pub.publish(self._msg_type(clock=stamp))

    def sim_time(self) -> float:
        with self._lock:
            return self.now

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def test_loop_and_watchdog_follow_clock(
    spawn, ros_env, ros_probe, planner_dir, joint_states
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    clock = ClockPublisher(ros_probe, rtf=2.0)
    try:
        commands = ros_probe.collect(Float64MultiArray, "/commands")
        diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
        proc = start_controller(
            spawn, ros_env, planner_dir, "use_sim_time:=true", "on_deadline_miss:=publish"
        )
        ros_probe.wait_for(level_is(diags, 0, "planning"), 60, "OK while planning")

        # real-time factor 2: commands per *simulated* second at the control rate (50 Hz)
        n0, t0 = len(commands), clock.sim_time()
        time.sleep(3.0)
        n1, t1 = len(commands), clock.sim_time()
        rate = (n1 - n0) / (t1 - t0)
        assert 35.0 < rate < 65.0, f"{rate:.1f} commands per sim second (50 expected)"

        # the clock stands still and no state arrives: no ticks, no watchdog
        clock.rtf = 0.0
        time.sleep(0.3)  # ticks in flight arrive
        joint_states.active = False
        n_cmd, n_diag = len(commands), len(diags)
        time.sleep(2.0)  # 10x state_timeout of wall time, zero sim time
        paused = len(commands) - n_cmd
        statuses = [s for m in diags[n_diag:] for s in m.status if s.name.endswith("planner")]
        assert paused <= 1, f"{paused} commands while sim time stood still"
        assert not any("watchdog" in s.message for s in statuses), [s.message for s in statuses]

        # sim time passes again without states: now the watchdog trips
        clock.rtf = 2.0
        ros_probe.wait_for(level_is(diags, 2, "watchdog"), 10, "watchdog on sim time")
        joint_states.active = True
        ros_probe.wait_for(level_is(diags, 0, "planning"), 10, "recovery")

        # a paused simulator does not stop diagnostics or the exit path (wall-clock wake-ups)
        clock.rtf = 0.0
        time.sleep(0.3)
        n_diag = len(diags)
        ros_probe.wait_for(lambda: len(diags) > n_diag, 5, "diagnostics while paused")
        proc.popen.send_signal(signal.SIGINT)
        proc.popen.wait(timeout=8)  # spawn's teardown would SIGKILL only after 10 s
        ros_probe.wait_for(lambda: commands[-1].data[0] == 0.0, 5, "the safe action last")
    finally:
        clock.close()
