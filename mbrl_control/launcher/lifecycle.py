"""Bring launched lifecycle nodes to ``active``, as upstream ``LifecycleNode(autostart=True)``.

Upstream (launch_ros, Jazzy >= 0.26.7; YAML tag ``lifecycle_node`` from 0.26.12) waits for the
node's ``<fqn>/change_state`` service, then requests ``configure`` and, once the node is
``inactive``, ``activate``; a refused transition is logged and the launch goes on. Here one
thread per node does the same over its own rclpy context (no signal handlers, so the runner
keeps Ctrl-C), starting from the node's current state (``<fqn>/get_state``): a node that is
already ``inactive`` is only activated, one already ``active`` is left alone. Every outcome is
reported on the runner's log.

rclpy is imported only when a launch file asks for autostart.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

_WAIT_S = 1.0  # service-wait and response-poll period; each period rechecks ``alive``
_NOTICE_S = 15.0  # say once that a service is still missing after this long


class Activator:
    """Configure and activate lifecycle nodes in background threads (see module doc)."""

    def __init__(self, environ: Mapping[str, str], say: Callable[[str], None]) -> None:
        import lifecycle_msgs.srv  # noqa: F401 - fail here, not in a thread, when missing
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        self._say = say
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._context = rclpy.Context()
        domain = environ.get("ROS_DOMAIN_ID", "").strip()
        rclpy.init(
            args=[],  # not sys.argv: the launcher's name:=value arguments are not rcl remaps
            context=self._context,
            domain_id=int(domain) if domain.isdigit() else None,
            signal_handler_options=SignalHandlerOptions.NO,
        )
        self._node = rclpy.create_node(f"mbrl_launch_{os.getpid()}", context=self._context)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self._spin = threading.Thread(target=self._spin_until_shutdown, daemon=True)
        self._spin.start()

    def _spin_until_shutdown(self) -> None:
        from rclpy.executors import ExternalShutdownException

        with contextlib.suppress(ExternalShutdownException):
            self._executor.spin()

    def activate(self, label: str, fqn: str, alive: Callable[[], bool]) -> threading.Thread:
        """Bring node ``fqn`` to active in a thread while ``alive()`` holds; returns it."""
        thread = threading.Thread(target=self._bring_up, args=(label, fqn, alive), daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def close(self) -> None:
        """Stop waiting, shut the rclpy context down and join the threads."""
        import rclpy

        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2 * _WAIT_S + 1.0)
        self._executor.shutdown(timeout_sec=1.0)
        self._node.destroy_node()
        rclpy.try_shutdown(context=self._context)
        self._spin.join(timeout=2.0)

    def _bring_up(self, label: str, fqn: str, alive: Callable[[], bool]) -> None:
        from lifecycle_msgs.msg import State, Transition
        from lifecycle_msgs.srv import ChangeState, GetState

        def running() -> bool:
            return alive() and not self._stop.is_set()

        try:
            state = self._call(GetState, f"{fqn}/get_state", GetState.Request(), running)
            if state is None:
                return
            current = state.current_state.id
            steps = []
            if current == State.PRIMARY_STATE_UNCONFIGURED:
                steps = [("configure", Transition.TRANSITION_CONFIGURE)]
            if current in (State.PRIMARY_STATE_UNCONFIGURED, State.PRIMARY_STATE_INACTIVE):
                steps.append(("activate", Transition.TRANSITION_ACTIVATE))
            elif current != State.PRIMARY_STATE_ACTIVE:
                self._say(
                    f"{label}: lifecycle: {fqn} is {state.current_state.label!r}; "
                    "cannot autostart it"
                )
                return
            for name, transition_id in steps:
                request = ChangeState.Request()
                request.transition.id = transition_id
                answer = self._call(ChangeState, f"{fqn}/change_state", request, running)
                if answer is None:
                    return
                if not answer.success:
                    self._say(
                        f"{label}: lifecycle: transition {name!r} of {fqn} failed; the node "
                        "refused it (see its log) and stays where it was"
                    )
                    return
            self._say(f"{label}: lifecycle: {fqn} is active")
        except Exception as exc:  # a broken graph must not take the runner down
            self._say(f"{label}: lifecycle: bringing {fqn} up failed: {exc}")

    def _call(self, srv_type: Any, name: str, request: Any, running: Callable[[], bool]) -> Any:
        """The service's response, or None once ``running()`` is false (node gone, shutdown)."""
        client = self._node.create_client(srv_type, name)
        try:
            waited = 0.0
            while not client.wait_for_service(timeout_sec=_WAIT_S):
                if not running():
                    return None
                waited += _WAIT_S
                if waited == _NOTICE_S:
                    self._say(f"lifecycle: still waiting for {name} (is it a lifecycle node?)")
            future = client.call_async(request)
            done = threading.Event()
            future.add_done_callback(lambda _f: done.set())
            while not done.wait(_WAIT_S):
                if not running():
                    future.cancel()
                    return None
            return future.result()
        finally:
            self._node.destroy_client(client)
