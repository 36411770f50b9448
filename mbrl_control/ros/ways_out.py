"""The ways out of a node that commands a robot: each publishes the safe action first.

Shared by ``mpc_controller`` and ``pixel_controller``:

- :func:`install_exit_handlers`: Python handlers for :data:`EXIT_SIGNALS` that call the
  node's halt (publish the safe action) and then end the spin. rclpy's own handlers shut the
  context down before any Python code runs, and then nothing could be published.
- :func:`publish_acked`: publish a last message and wait (at most :data:`ACK_TIMEOUT`) for
  reliable subscribers to acknowledge it, as the process may exit next.
- :class:`SafeLifecycle`: the lifecycle callbacks every way out goes through (deactivate,
  cleanup, shutdown, error), the halt they share, and the controllers' common plumbing
  (``~/enable``, ``~/reload_model`` answered off the executor, one log call per severity,
  publishing ``/diagnostics``).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable
from typing import Any

from rclpy.duration import Duration
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool

from mbrl_control.control.core import Level
from mbrl_control.ros.diagnostics import array_of

ACK_TIMEOUT = 1.0  # s to wait for subscribers to acknowledge the safe action on a way out
EXIT_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")


def install_exit_handlers(halt: Callable[[str], None]) -> None:
    """On each of :data:`EXIT_SIGNALS`: ``halt("<SIGNAL>: publishing the safe action and
    exiting")``, then ``KeyboardInterrupt`` (ends the executor's spin; ``run_node`` then
    destroys the node). Outside the main thread, or for a signal the platform lacks, rclpy's
    handling stays."""

    def on_signal(signum: int, frame: Any) -> None:
        halt(f"{signal.Signals(signum).name}: publishing the safe action and exiting")
        raise KeyboardInterrupt

    for name in EXIT_SIGNALS:
        with contextlib.suppress(ValueError, OSError, AttributeError):
            signal.signal(getattr(signal, name), on_signal)


def publish_acked(publisher: Any, msg: Any, who: str) -> bool:
    """Publish ``msg`` and wait for reliable subscribers to acknowledge it. Returns False
    (and says so on stderr, naming ``who``) when the context is already gone."""
    try:
        publisher.publish(msg)
        publisher.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT))
    except Exception as exc:  # context already gone: nothing more can be sent
        print(f"{who}: could not publish the safe action: {exc!r}", file=sys.stderr)
        return False
    return True


class _Deferred:
    """A service callback's answer that another thread sends later (see ``_deferred``)."""

    def __init__(self, request: Any, response: Any) -> None:
        self.request, self.response = request, response


class SafeLifecycle:
    """Mixin for a lifecycle node that commands a robot (put it before ``LifecycleNode`` in
    the bases): deactivate, shutdown and error halt (stop the ticks, publish the safe action,
    acknowledged), cleanup and shutdown unload the core.

    The node provides ``node_name`` (str), ``core`` (``halt(level, reason) -> action``,
    ``unload()``, ``set_enabled(bool)``, ``enabled``, ``task.command_from_action``,
    ``reload_async(path, done)`` for ``~/reload_model``), a ``model_path`` parameter,
    ``pub_cmd``, ``pub_diag``, ``_tick_lock``, ``_tick_timer`` (a timer or None), ``_active``
    and ``_statuses()`` (its diagnostic statuses).
    """

    node_name = "controller"

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._halt("deactivated: publishing the safe action")
        return super().on_deactivate(state)  # type: ignore[misc]

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.unload()  # type: ignore[attr-defined]
        self._publish_diagnostics()  # type: ignore[attr-defined]
        return super().on_cleanup(state)  # type: ignore[misc]

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._halt("shut down: publishing the safe action")
        self.core.unload()  # type: ignore[attr-defined]
        return super().on_shutdown(state)  # type: ignore[misc]

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._halt("lifecycle error: publishing the safe action")
        return super().on_error(state)  # type: ignore[misc]

    def _halt(self, reason: str) -> None:
        """Stop the ticks and publish the safe action (the first thing on every way out)."""
        node: Any = self
        with node._tick_lock:  # waits for a tick in flight; none starts after this
            node._active = False
            if node._tick_timer is not None:
                node.destroy_timer(node._tick_timer)
                node._tick_timer = None
            action = node.core.halt(Level.WARN, reason)
            # the process may exit next: reliable subscribers acknowledge it first
            msg = Float64MultiArray(data=node.core.task.command_from_action(action))
            if not publish_acked(node.pub_cmd, msg, self.node_name):
                return
        node.get_logger().warning(reason)
        node._publish_diagnostics()

    def _log(self, ok: bool, message: str) -> None:
        node: Any = self
        if ok:  # rclpy fixes a call site's severity: one call per severity
            node.get_logger().info(message)
        else:
            node.get_logger().error(message)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        node: Any = self
        node.core.set_enabled(bool(request.data))
        response.success, response.message = True, f"enabled={node.core.enabled}"
        return response

    def _deferred(self, srv_type: Any, name: str, start: Any) -> None:
        """A service answered off the executor: ``start(request, response, reply)`` returns at
        once and ``reply(response)`` sends the answer later from any thread.

        rclpy sends a callback's return value with the request's header right after the
        callback; the callback returns a :class:`_Deferred` instead and the service's
        ``send_response`` hands it to ``start`` together with that header.
        """
        node: Any = self
        srv = node.create_service(srv_type, name, lambda req, resp: _Deferred(req, resp))
        send = srv.send_response

        def send_response(response: Any, header: Any) -> None:
            if not isinstance(response, _Deferred):
                send(response, header)
                return
            try:
                start(response.request, response.response, lambda r: send(r, header))
            except Exception as exc:  # never let a service call stop the node
                node.get_logger().error(f"{name} failed: {exc!r}")

        srv.send_response = send_response  # type: ignore[method-assign]

    def _on_reload(self, request: Any, response: Any, reply: Any) -> None:
        """``~/reload_model`` (std_srvs/Trigger, wired with :meth:`_deferred`): load the file
        ``model_path`` names off the executor and swap it in; answered when done."""

        def done(ok: bool, message: str) -> None:
            self._log(ok, message)
            response.success, response.message = ok, message
            reply(response)
            self._publish_diagnostics()

        node: Any = self
        node.core.reload_async(node.get_parameter("model_path").value, done)

    def _publish_diagnostics(self) -> None:
        node: Any = self
        try:
            node.pub_diag.publish(array_of(node, node._statuses()))
        except Exception as exc:  # diagnostics must never stop the node
            node.get_logger().error(f"diagnostics failed: {exc!r}", throttle_duration_sec=5.0)
