"""A control loop in a thread of its own, woken by a timer (``mpc_controller``,
``pixel_controller``).

The timer's callback (on the executor, on the node's clock: ``/clock`` under use_sim_time)
only calls :meth:`TickThread.wake`; the tick itself runs in this thread, so the executor keeps
serving messages, services and diagnostics while a planner runs. A tick that runs late skips
the wake-ups it missed instead of queueing them. An exception in a tick goes to ``on_error``
and the loop goes on: the control thread never dies. ``priority`` > 0 puts the thread under
``SCHED_FIFO`` and the process under the realtime module's Python latency settings
(:mod:`mbrl_control.control.realtime`; a refusal goes to ``on_priority_refused``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from mbrl_control.control.realtime import apply_thread_priority, python_latency_settings


class TickThread:
    """Run ``tick()`` after each :meth:`wake`, until :meth:`stop`."""

    def __init__(
        self,
        tick: Callable[[], None],
        on_error: Callable[[Exception], None],
        priority: int = 0,
        on_priority_refused: Callable[[str], None] | None = None,
    ) -> None:
        self._tick, self._on_error = tick, on_error
        self._priority, self._on_refused = priority, on_priority_refused
        self.scheduling = "starting"
        """The planning thread's scheduling as applied (``"SCHED_FIFO 50"``, ``"normal"``,
        or ``"normal (SCHED_FIFO 50 refused: ...)"``)."""
        self._event = threading.Event()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="planning", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wake(self) -> None:
        """Ask for one tick (a timer callback)."""
        self._event.set()

    def stop(self, timeout: float = 5.0) -> None:
        """End the loop after the tick in flight, if any."""
        self._stop.set()
        self._event.set()
        self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        applied, self.scheduling = apply_thread_priority(self._priority)
        if applied and self._priority > 0:
            self.scheduling += f"; {python_latency_settings()}"
        self._ready.set()
        if not applied and self._on_refused is not None:
            self._on_refused(self.scheduling)
        while not self._stop.is_set():
            if not self._event.wait(0.5):
                continue
            self._event.clear()
            if self._stop.is_set():
                return
            try:
                self._tick()
            except Exception as exc:  # never let the control thread die
                self._on_error(exc)
