"""The package's nodes as processes for the ROS benchmarks, and what ``/proc`` says about them.

One home for what ``bench finetune-cycle`` and ``bench soak`` both do: build a node's argv
(``<venv>/bin/<node> --ros-args -p k:=v ...``), an environment on a private ROS domain
(loopback discovery), start a node with its output in a log file, stop nodes (SIGINT, then
SIGKILL after a grace period), read a process's resident memory and the machine's CPU
model from ``/proc`` (Linux; psutil is not a dependency), and, from the bench's own rclpy
node, hold the goal a goal task's controller waits for; run a measurement in the ``--keep``
folder or a temporary one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any


def measure_in_workdir(keep: str | None, measure: Callable[[Path], dict]) -> dict:
    """``measure(work)`` in folder ``keep`` (created; the nodes' logs, data and models stay
    there) or, when ``keep`` is empty, in a temporary folder removed afterwards."""
    if keep:
        work = Path(keep)
        work.mkdir(parents=True, exist_ok=True)
        return measure(work)
    with tempfile.TemporaryDirectory() as tmp:
        return measure(Path(tmp))


def ros_env(domain: int) -> dict[str, str]:
    """This process's environment on ROS domain ``domain`` with loopback-only discovery."""
    return dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")


def node_argv(name: str, params: Mapping[str, Any]) -> list[str]:
    """The argv that starts console script ``name`` (beside this Python) with ``params`` as
    ``-p key:=value`` ROS parameters (values formatted with ``str``)."""
    argv = [str(Path(sys.executable).parent / name), "--ros-args"]
    for key, value in params.items():
        argv += ["-p", f"{key}:={value}"]
    return argv


def spawn(argv: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen:
    """Start ``argv`` with stdout and stderr in ``log`` (created or truncated).

    A bench started in the background (``nohup ... &`` from a script) has SIGINT ignored, and
    an ignored signal is inherited: its nodes would then skip :func:`stop`'s SIGINT, their
    clean way out, and be killed. The child gets SIGINT's default back in that case."""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    restore = (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if ignored else None
    with log.open("w") as fh:
        return subprocess.Popen(
            argv, env=dict(env), stdout=fh, stderr=subprocess.STDOUT, preexec_fn=restore
        )


def stop(procs: Iterable[subprocess.Popen], grace: float = 20.0) -> None:
    """SIGINT every process still running (the nodes' clean way out: the controller publishes
    its safe action), wait up to ``grace`` s each, then SIGKILL."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def rss_mib(pid: int) -> float | None:
    """Resident memory (``VmRSS`` of ``/proc/<pid>/status``) in MiB; None once the process
    is gone (or is a zombie, which has no VmRSS line)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0  # kB
    return None


def cpu_seconds(pid: int) -> tuple[float, float] | None:
    """CPU time (user + system, s) of ``pid`` itself and of its children it has waited for
    (``/proc/<pid>/stat`` utime+stime, cutime+cstime); None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])  # fields 14..17
    tick = os.sysconf("SC_CLK_TCK")
    return (utime + stime) / tick, (cutime + cstime) / tick


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid`` (``/proc/<pid>/task/*/children``); [] if gone."""
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(set(out))


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    found: list[int] = []
    todo = children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children(child)
    return sorted(found)


def cpu_model() -> str:
    """The first ``model name`` of ``/proc/cpuinfo`` ('' where there is none, e.g. on ARM
    kernels that print ``Hardware``/``CPU part`` only)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware"):
            return value.strip()
    return ""


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages of ``/proc/loadavg`` ([] if unreadable)."""
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return []


def cpu_times() -> dict[str, int] | None:
    """The host's aggregate CPU time counters (clock ticks) of ``/proc/stat``'s ``cpu`` line:
    ``total`` and ``steal`` (time the hypervisor ran something else while a vCPU wanted to
    run); None if unreadable."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        values = [int(v) for v in fields[1:]]
    except (OSError, ValueError, IndexError):
        return None
    if fields[0] != "cpu" or len(values) < 8:
        return None
    return {"total": sum(values[:8]), "steal": values[7]}


def steal_share(start: dict[str, int] | None, end: dict[str, int] | None) -> float | None:
    """The share of the host's CPU time the hypervisor stole between two :func:`cpu_times`
    readings (None without both or without elapsed time)."""
    if not start or not end or end["total"] <= start["total"]:
        return None
    return round((end["steal"] - start["steal"]) / (end["total"] - start["total"]), 5)


def hold_goal(node: Any, task: Any, rng: Any, period: float = 0.5) -> list[float] | None:
    """Publish one goal drawn by ``task.sample_goal(rng)`` on ``/goal`` every ``period`` s from
    the rclpy ``node``, for a task whose controller waits for a goal (goal kind box or topic,
    :class:`~mbrl_control.control.goal.GoalRule`): returns its values. Other tasks (no goal,
    a fixed one): publishes nothing, returns None."""
    from geometry_msgs.msg import Point, PointStamped
    from std_msgs.msg import Float64MultiArray

    from mbrl_control.control.goal import POINT_TYPE, GoalRule

    rule = GoalRule.of(task)
    if rule.initial() is not None:
        return None
    values = [float(v) for v in task.sample_goal(rng)]
    if rule.msg_type == POINT_TYPE:
        pub = node.create_publisher(PointStamped, "/goal", 10)
        goal: Any = PointStamped(point=Point(x=values[0], y=values[1], z=values[2]))
    else:
        pub = node.create_publisher(Float64MultiArray, "/goal", 10)
        goal = Float64MultiArray(data=values)
    node.create_timer(period, lambda: pub.publish(goal))
    return values


__all__ = [
    "children",
    "cpu_model",
    "cpu_seconds",
    "descendants",
    "hold_goal",
    "load_average",
    "node_argv",
    "ros_env",
    "rss_mib",
    "spawn",
    "stop",
]
