"""Pieces every node of the package shares: lifecycle guards and QoS-event reports.

- :func:`guard_change_state`: rclpy raises inside a lifecycle node's ``~/change_state``
  service when asked for a transition the current state does not have (e.g. ``activate``
  while unconfigured, or an unknown transition id); the exception would end the node. The
  guard answers ``success=False`` and logs instead, as ``ros2 lifecycle set`` users expect.
- :func:`lifecycle_label`: the current state's label (``unconfigured``, ``active``, ...).
- :func:`incompatible_qos_message`: the one wording for an incompatible-QoS event, logged
  and put on /diagnostics by the nodes.
"""

from __future__ import annotations

from typing import Any

from rclpy.lifecycle import LifecycleNode
from rclpy.qos import qos_policy_name_from_kind


def lifecycle_label(node: LifecycleNode) -> str:
    """The label of ``node``'s current lifecycle state, e.g. ``'active'``."""
    return str(node._state_machine.current_state[1])


def guard_change_state(node: LifecycleNode) -> None:
    """Make ``node``'s ``~/change_state`` refuse (``success=False``, WARN) a transition the
    state machine does not have, instead of raising out of the executor."""
    service = node._service_change_state
    inner = service.callback

    def change_state(request: Any, response: Any) -> Any:
        try:
            return inner(request, response)
        except Exception as exc:
            t = request.transition
            node.get_logger().warning(
                f"lifecycle transition {t.label or t.id!r} refused in state "
                f"{lifecycle_label(node)}: {exc}"
            )
            response.success = False
            return response

    service.callback = change_state


def incompatible_qos_message(topic: str, side: str, info: Any) -> str:
    """One line for an incompatible-QoS event on ``topic``; ``side`` is ``'offers'`` for a
    publisher, ``'requests'`` for a subscription; ``info`` is rclpy's event status."""
    policy = qos_policy_name_from_kind(info.last_policy_kind)
    return (
        f"incompatible QoS on '{topic}': a peer's {policy} policy does not match what this "
        f"node {side} ({info.total_count} so far); that pair exchanges nothing"
    )
