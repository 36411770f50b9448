"""Real-time scheduling of a control loop's thread (ros2_control's ``thread_priority``).

ros2_control's controller manager runs its update loop under ``SCHED_FIFO`` (priority 50 by
default) when the OS allows it, and warns and goes on otherwise. Here the planning thread of
``mpc_controller`` and ``pixel_controller`` does the same with the ``thread_priority``
parameter (0, the default, leaves the thread to the OS's normal scheduler). A ``SCHED_FIFO``
thread runs before every normal thread on its core, so the niced retraining jobs of
``finetune_node`` and other work on the same 2 cores no longer stretch a planning step; the
kernel's real-time throttling (``/proc/sys/kernel/sched_rt_runtime_us``, 95 % by default)
still leaves the rest of the system a share. Linux only.

A Python thread also waits for the interpreter lock. Once the planning thread runs under
``SCHED_FIFO``, :func:`python_latency_settings` shortens the lock's switch interval from 5 ms
to 0.5 ms (a thread holding it, e.g. the executor building plan markers, hands it over within
0.5 ms) and freezes the objects alive at start-up out of the garbage collector's scans
(``gc.freeze``: a full collection no longer walks them while the planner waits).
"""

from __future__ import annotations

import gc
import os
import sys

SWITCH_INTERVAL_S = 0.0005
"""The interpreter lock's switch interval under :func:`python_latency_settings` (Python's
default: 0.005 s)."""


def apply_thread_priority(priority: int) -> tuple[bool, str]:
    """Put the **calling thread** under ``SCHED_FIFO`` at ``priority`` (1-99); 0 leaves it.

    Returns ``(applied, description)``: ``(True, "SCHED_FIFO 50")``, ``(True, "normal")`` for
    0, or ``(False, "normal (SCHED_FIFO 50 refused: <reason>)")`` when the OS refuses (no
    ``CAP_SYS_NICE``, an ``ulimit -r`` below the priority, not Linux). Raises ``ValueError``
    for a priority outside 0-99 (the parameter's range refuses it first).
    """
    if not 0 <= int(priority) <= 99:
        raise ValueError(f"thread_priority={priority} must be in 0..99")
    if priority == 0:
        return True, "normal"
    try:  # pid 0: the calling thread (Linux schedules threads, not processes)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(priority)))
    except (OSError, AttributeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        hint = "needs CAP_SYS_NICE or an rtprio limit (ulimit -r) >= the priority"
        return False, f"normal (SCHED_FIFO {priority} refused: {reason}; {hint})"
    return True, f"SCHED_FIFO {priority}"


def thread_policy() -> str:
    """The calling thread's policy and priority, e.g. ``"SCHED_FIFO 50"`` or ``"normal"``."""
    policy = os.sched_getscheduler(0)
    if policy == os.SCHED_FIFO:
        return f"SCHED_FIFO {os.sched_getparam(0).sched_priority}"
    return "normal"


def python_latency_settings() -> str:
    """Process-wide: the interpreter lock's switch interval to :data:`SWITCH_INTERVAL_S` and
    ``gc.freeze()`` (see module). Returns what was set, for /diagnostics."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.freeze()
    return f"switch interval {SWITCH_INTERVAL_S * 1e3:g} ms, gc frozen at start-up"
