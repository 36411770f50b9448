"""The ``goal`` topic's message convention, shared by ``mpc_controller`` and the bag importer.

The type depends on the goal size G only: ``geometry_msgs/msg/PointStamped`` (x, y, z) for a
3-d goal, ``std_msgs/msg/Float64MultiArray`` (G values in ``data``) for any other G.
:func:`goal_values` reads either (rclpy messages or ``rosbags`` deserialized ones alike).
No rclpy here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

POINT_TYPE = "geometry_msgs/msg/PointStamped"
ARRAY_TYPE = "std_msgs/msg/Float64MultiArray"
GOAL_TOPIC = "goal"


def goal_msg_type(goal_dim: int) -> str:
    """The ROS type name of the ``goal`` topic for a G-d goal (G > 0)."""
    return POINT_TYPE if goal_dim == 3 else ARRAY_TYPE


def goal_values(msg: Any) -> np.ndarray:
    """The values ``(n,)`` float64 of a ``PointStamped`` (x, y, z) or ``Float64MultiArray``
    (``data``) goal message, unchecked (the reader checks size and finiteness)."""
    if hasattr(msg, "point"):
        p = msg.point
        return np.array([p.x, p.y, p.z], np.float64)
    return np.asarray(list(msg.data), np.float64).reshape(-1)
