"""ControllerCore and the task's goal kind (no ROS).

- ``fixed``: plans at once with the task's value (it used to wait for a ``goal`` message that
  nobody publishes); a goal sent anyway is refused, naming the fixed value.
- ``box``: any finite goal of G values, G != 3 included; wrong size and non-finite refused.
- ``topic``: waits for a goal; one outside ``[low, high]`` is refused naming value and box.
Real parts: task files, exported planners run by onnxruntime; times passed in explicitly.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from mbrl_control.control.core import ControllerConfig, ControllerCore, Level
from tests.control.goal_tasks import cartpole_with_goal, export_tiny_planner

J = ["slider_to_cart", "cart_to_pole"]
GOALS = {
    "fixed": {"kind": "fixed", "value": [0.25]},
    "box": {"kind": "box", "low": [-1.0, 0.0], "high": [1.0, 0.5]},
    "topic": {"kind": "topic", "low": [-1.0, 0.0], "high": [1.0, 0.5]},
    "topic3": {"kind": "topic", "low": [0.3, -0.3, 0.15], "high": [0.6, 0.3, 0.6]},
}


class _Planners(dict):
    """Planner path by ``GOALS`` key, exported on first use."""

    def __init__(self, d) -> None:
        super().__init__()
        self.d = d

    def __missing__(self, key: str) -> str:
        task_file = cartpole_with_goal(self.d, GOALS[key], name=f"cartpole_{key}")
        self[key] = path = str(export_tiny_planner(task_file, self.d / f"{key}.onnx"))
        return path


@pytest.fixture(scope="module")
def planners(tmp_path_factory) -> dict[str, str]:
    return _Planners(tmp_path_factory.mktemp("goals"))


def _core(path: str) -> ControllerCore:
    core = ControllerCore(ControllerConfig(model_path=path, on_deadline_miss="publish"))
    ok, message = core.reload(path)
    assert ok, message
    return core


def _tick(core: ControllerCore, t: float = 0.0):
    core.set_state(J, [0.1, 3.0], [0.0, 0.0], now=t)
    return core.tick(now=t + 0.001)


def test_fixed_goal_plans_at_once_with_the_tasks_value(planners) -> None:
    core = _core(planners["fixed"])
    _, status = _tick(core)
    assert status.level == Level.OK, status  # base: "waiting for a goal (topic 'goal')"
    np.testing.assert_array_equal(core.goal, np.float32([0.25]))
    why = core.set_goal([0.7])
    assert why is not None and "fixed goal [0.25]" in why and "[0.7]" in why, why
    np.testing.assert_array_equal(core.goal, np.float32([0.25]))
    assert core.diagnostics()["goal_kind"] == "fixed"


def test_box_goal_of_two_values(planners) -> None:
    from mbrl_control.control.goal import ARRAY_TYPE

    core = _core(planners["box"])
    assert core.goal_rule.msg_type == ARRAY_TYPE
    _, status = _tick(core)
    assert status.level == Level.WARN and "waiting for a goal" in status.message
    assert "std_msgs/msg/Float64MultiArray, 2 values" in status.message, status
    why = core.set_goal([0.1, 0.2, 0.3])
    assert why is not None and "3 values [0.1, 0.2, 0.3]" in why and "needs 2" in why, why
    why = core.set_goal([0.1, float("nan")])
    assert why is not None and "non-finite" in why and "nan" in why, why
    assert core.goal is None
    # box: the box is where training drew goals, not a limit on the robot's
    assert core.set_goal([5.0, -2.0]) is None
    _, status = _tick(core, 0.02)
    assert status.level == Level.OK, status
    np.testing.assert_array_equal(core.goal, np.float32([5.0, -2.0]))


def test_topic_goal_outside_the_box_is_refused_naming_value_and_box(planners) -> None:
    core = _core(planners["topic"])
    _, status = _tick(core)
    assert status.level == Level.WARN and "in low [-1, 0] high [1, 0.5]" in status.message
    why = core.set_goal([0.5, 0.75])
    assert why is not None, "a goal outside the box was taken"
    assert "[0.5, 0.75] outside the task's goal box low [-1, 0] high [1, 0.5]" in why, why
    assert core.goal is None
    assert _tick(core, 0.02)[1].level == Level.WARN
    assert core.set_goal([1.0, 0.5]) is None  # the box's corner is inside
    assert _tick(core, 0.04)[1].level == Level.OK
    assert core.set_goal([-1.5, 0.1]) is not None  # a refusal keeps the goal in use
    np.testing.assert_array_equal(core.goal, np.float32([1.0, 0.5]))
    assert _tick(core, 0.06)[1].level == Level.OK


def test_a_three_value_goal_is_a_point(planners) -> None:
    from mbrl_control.control.goal import POINT_TYPE

    core = _core(planners["topic3"])
    assert core.goal_rule.msg_type == POINT_TYPE
    assert core.set_goal([0.4, 0.0, 0.3]) is None
    assert _tick(core)[1].level == Level.OK
    # a bound written as 0.3 in the file takes a goal of exactly 0.3 (compared in float64)
    assert core.set_goal([0.3, -0.3, 0.15]) is None


def test_goal_messages_read_by_type() -> None:
    pytest.importorskip("geometry_msgs")
    from geometry_msgs.msg import Point, PointStamped
    from std_msgs.msg import Float64MultiArray

    from mbrl_control.control.goal import ARRAY_TYPE, POINT_TYPE, goal_msg_type, goal_values

    assert goal_msg_type(3) == POINT_TYPE and goal_msg_type(1) == goal_msg_type(7) == ARRAY_TYPE
    np.testing.assert_array_equal(
        goal_values(PointStamped(point=Point(x=1.0, y=2.0, z=3.0))), [1.0, 2.0, 3.0]
    )
    np.testing.assert_array_equal(goal_values(Float64MultiArray(data=[0.5, -1.0])), [0.5, -1.0])
    assert goal_values(Float64MultiArray()).shape == (0,)
