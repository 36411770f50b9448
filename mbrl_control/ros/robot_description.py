"""Fetch a running robot's URDF from its ``robot_description`` topic.

``robot_state_publisher`` publishes the URDF once as ``std_msgs/msg/String`` on
``robot_description`` with transient-local durability, so a late subscriber with the same
durability receives it. :func:`fetch_robot_description` subscribes that way on a private
context (the caller's ROS domain from the environment), waits up to ``timeout`` seconds and
returns the text.
"""

from __future__ import annotations

import time

DEFAULT_TOPIC = "robot_description"


def fetch_robot_description(topic: str = DEFAULT_TOPIC, timeout: float = 10.0) -> str:
    """The URDF text published on ``topic``.

    Raises ``TimeoutError`` (one line naming the topic) when nothing arrives in ``timeout``
    seconds, ``ValueError`` for an invalid topic name or an empty message.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String

    context = rclpy.Context()
    rclpy.init(context=context)
    node = None
    try:
        node = rclpy.create_node("mbrl_init_task", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
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
        deadline = time.monotonic() + timeout
        while not got and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=min(0.1, max(0.0, deadline - time.monotonic())))
        if not got:
            raise TimeoutError(
                f"no robot description on topic {node.resolve_topic_name(topic)!r} within "
                f"{timeout:g} s (is robot_state_publisher running on this ROS_DOMAIN_ID?)"
            )
        if not got[0].strip():
            raise ValueError(f"the robot description on topic {topic!r} is empty")
        return got[0]
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
