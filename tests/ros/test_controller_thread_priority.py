"""``thread_priority`` (ros2_control's): the planning thread under SCHED_FIFO in a real
``mpc_controller`` process, and the OS's refusal said once and on /diagnostics while the node
plans on with normal scheduling (the capability dropped with util-linux ``setpriv``)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from test_controller_node import CONTROLLER, STATUS, latest, start_controller

from mbrl_control.control.realtime import apply_thread_priority, thread_policy

pytestmark = pytest.mark.ros

SCHED_FIFO = 1  # /proc/<pid>/task/<tid>/stat field 41 (policy)


def _in_a_thread(priority: int) -> tuple[tuple[bool, str], str]:
    seen: dict = {}

    def body() -> None:
        seen["result"], seen["policy"] = apply_thread_priority(priority), thread_policy()

    t = threading.Thread(target=body)
    t.start()
    t.join()
    return seen["result"], seen["policy"]


def _fifo_threads(pid: int) -> list[int]:
    """Thread ids of process ``pid`` scheduled SCHED_FIFO."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        if int(fields[41 - 3]) == SCHED_FIFO:  # fields[0] is field 3 (state)
            out.append(int(task.name))
    return out


def test_apply_thread_priority_sets_the_calling_thread_only() -> None:
    assert apply_thread_priority(0) == (True, "normal")
    with pytest.raises(ValueError, match=r"0\.\.99"):
        apply_thread_priority(100)
    (applied, what), policy = _in_a_thread(10)
    assert thread_policy() == "normal"  # the caller's thread is untouched
    if applied:
        assert what == policy == "SCHED_FIFO 10"
    else:
        assert what.startswith("normal (SCHED_FIFO 10 refused: ") and policy == "normal"
        assert "CAP_SYS_NICE" in what


@pytest.mark.parametrize("refused", [False, True], ids=["applied", "refused"])
def test_planning_thread_runs_sched_fifo_or_says_why_not(
    refused, spawn, ros_env, ros_probe, planner_dir, joint_states
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    allowed = _in_a_thread(50)[0][0]
    if not refused and not allowed:
        pytest.skip("this OS refuses SCHED_FIFO to the test's user")
    exe = None
    if refused and allowed:  # drop the capability that allows it (util-linux setpriv)
        if shutil.which("setpriv") is None:
            pytest.skip("no setpriv to drop CAP_SYS_NICE")
        exe = ["setpriv", "--inh-caps=-sys_nice", "--bounding-set=-sys_nice", CONTROLLER]
    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    node = start_controller(spawn, ros_env, planner_dir, "thread_priority:=50", exe=exe)

    def scheduling() -> str | None:
        status = latest(diags, STATUS)
        values = {kv.key: kv.value for kv in status.values} if status else {}
        return values.get("scheduling")

    ros_probe.wait_for(lambda: scheduling() not in (None, "starting"), 60, "a status")
    n = len(commands)
    ros_probe.wait_for(lambda: len(commands) > n + 20, 30, "commands at the control rate")
    fifo = _fifo_threads(node.popen.pid)
    if refused:
        assert scheduling().startswith("normal (SCHED_FIFO 50 refused: "), scheduling()
        assert fifo == []
        assert node.output().count("thread_priority: normal (SCHED_FIFO 50 refused") == 1
    else:
        assert scheduling() == "SCHED_FIFO 50; switch interval 0.5 ms, gc frozen at start-up"
        assert len(fifo) == 1, fifo  # the planning thread; the executor and DDS stay normal
