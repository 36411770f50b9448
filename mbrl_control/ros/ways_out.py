"""The ways out of a node that commands a robot: each publishes the safe action first.

Shared by ``mpc_controller`` and ``pixel_controller``:

- :func:`install_exit_handlers`: Python handlers for :data:`EXIT_SIGNALS` that call the
  node's halt (publish the safe action) and then end the spin. rclpy's own handlers shut the
  context down before any Python code runs, and then nothing could be published.
- :func:`publish_acked`: publish a last message and wait (at most :data:`ACK_TIMEOUT`) for
  reliable subscribers to acknowledge it, as the process may exit next.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable
from typing import Any

from rclpy.duration import Duration

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
