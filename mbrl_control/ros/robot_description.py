"""Fetch a running robot's URDF: from its ``robot_description`` topic or a node's parameter.

``robot_state_publisher`` holds the URDF in its ``robot_description`` parameter and publishes
it once as ``std_msgs/msg/String`` on ``robot_description`` with transient-local durability,
so a late subscriber with the same durability receives it. :func:`fetch_robot_description`
subscribes that way, :func:`fetch_robot_description_parameter` asks the node's
``get_parameters`` service; both on a private context (the ROS domain from the environment),
waiting up to ``timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

DEFAULT_TOPIC = "robot_description"
DEFAULT_NODE = "robot_state_publisher"
PARAMETER = "robot_description"


@contextlib.contextmanager
def _private_node() -> Iterator[tuple[Any, Any]]:
    """A node ``mbrl_init_task`` and its executor on a context of their own."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(args=[], context=context)
    node = None
    try:
        node = rclpy.create_node("mbrl_init_task", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        yield node, executor
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)


def _spin_until(executor: Any, done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=min(0.1, max(0.0, deadline - time.monotonic())))
    return done()


def fetch_robot_description(topic: str = DEFAULT_TOPIC, timeout: float = 10.0) -> str:
    """The URDF text published on ``topic``.

    Raises ``TimeoutError`` (one line naming the topic) when nothing arrives in ``timeout``
    seconds, ``ValueError`` for an invalid topic name or an empty message.
    """
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String

    with _private_node() as (node, executor):
        qos = QoSProfile(
            depth=1,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
            reliability=ReliabilityPolicy.RELIABLE,
        )
        got: list[str] = []
        try:
            node.create_subscription(String, topic, lambda msg: got.append(msg.data), qos)
        except Exception as e:  # rclpy's InvalidTopicNameException and kin
            raise ValueError(f"invalid topic name {topic!r}: {e}") from None
        if not _spin_until(executor, lambda: bool(got), timeout):
            raise TimeoutError(
                f"no robot description on topic {node.resolve_topic_name(topic)!r} within "
                f"{timeout:g} s (is robot_state_publisher running on this ROS_DOMAIN_ID?)"
            )
        if not got[0].strip():
            raise ValueError(f"the robot description on topic {topic!r} is empty")
        return got[0]


def fetch_robot_description_parameter(
    node_name: str = DEFAULT_NODE, timeout: float = 10.0, parameter: str = PARAMETER
) -> str:
    """The string parameter ``parameter`` (``robot_description``) of the running node
    ``node_name`` (relative names resolve in the root namespace).

    Raises ``TimeoutError`` (no such node / service within ``timeout`` s, or no answer) or
    ``ValueError`` (the parameter is not set, not a string, or empty), one line each.
    """
    from rcl_interfaces.msg import ParameterType
    from rcl_interfaces.srv import GetParameters

    with _private_node() as (node, executor):
        service = f"{node_name.rstrip('/')}/get_parameters"
        try:
            client = node.create_client(GetParameters, service)
        except Exception as e:  # an invalid node name
            raise ValueError(f"invalid node name {node_name!r}: {e}") from None
        full = node.resolve_service_name(service)
        deadline = time.monotonic() + timeout
        if not _spin_until(executor, client.service_is_ready, timeout):
            raise TimeoutError(
                f"no node answers {full!r} within {timeout:g} s (is the node running on this "
                "ROS_DOMAIN_ID?)"
            )
        future = client.call_async(GetParameters.Request(names=[parameter]))
        if not _spin_until(executor, future.done, max(0.0, deadline - time.monotonic()) + 1.0):
            raise TimeoutError(f"{full!r} did not answer within {timeout:g} s")
        values = future.result().values
        where = f"parameter {parameter!r} of node {full.rsplit('/', 1)[0]!r}"
        if not values or values[0].type == ParameterType.PARAMETER_NOT_SET:
            raise ValueError(f"{where} is not set")
        if values[0].type != ParameterType.PARAMETER_STRING:
            raise ValueError(f"{where} is not a string (type {values[0].type})")
        if not values[0].string_value.strip():
            raise ValueError(f"{where} is empty")
        return values[0].string_value
