"""Task-file goal kinds: none, fixed, box, topic (docs/task_files.md, "goal").

``topic``: the robot takes goals only from its ``goal`` topic, inside the box; the simulator
samples training/evaluation goals from the box exactly as ``box`` does. The task exposes
``goal_kind``, ``goal_fixed``, ``goal_box`` (what the controller's goal rule reads) and they
survive the trip through an exported file's metadata.
"""

from __future__ import annotations

import numpy as np
import pytest

from mbrl_control.control.goal import GoalRule
from mbrl_control.tasks import TaskFileError, load_task_file
from mbrl_control.tasks.portable import task_from_metadata
from tests.control.goal_tasks import cartpole_with_goal

BOX = {"low": [-1.0, 0.3], "high": [1.0, 0.6]}


def test_topic_goal_parses_and_samples_like_box(tmp_path) -> None:
    topic = load_task_file(cartpole_with_goal(tmp_path, {"kind": "topic", **BOX}, "t_topic"))
    box = load_task_file(cartpole_with_goal(tmp_path, {"kind": "box", **BOX}, "t_box"))
    assert (topic.goal_kind, topic.goal_dim, topic.goal_fixed) == ("topic", 2, None)
    np.testing.assert_array_equal(topic.goal_box[0], BOX["low"])
    np.testing.assert_array_equal(topic.goal_box[1], BOX["high"])
    ra, rb = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(5):  # the same draws as box
        np.testing.assert_array_equal(topic.sample_goal(ra), box.sample_goal(rb))
    rng = np.random.default_rng(0)
    goals = np.stack([topic.sample_goal(rng) for _ in range(200)])
    assert goals.dtype == np.float32 and goals.shape == (200, 2)
    assert np.all(goals >= np.float32(BOX["low"])) and np.all(goals <= np.float32(BOX["high"]))
    assert goals[:, 0].min() < -0.5 and goals[:, 0].max() > 0.5  # spread over the box
    assert GoalRule.of(topic).kind == "topic" and GoalRule.of(box).kind == "box"


def test_fixed_and_none_expose_their_goal(tmp_path) -> None:
    fixed = load_task_file(cartpole_with_goal(tmp_path, {"kind": "fixed", "value": [0.2]}, "f"))
    assert (fixed.goal_kind, fixed.goal_dim, fixed.goal_box) == ("fixed", 1, None)
    np.testing.assert_array_equal(fixed.goal_fixed, np.float32([0.2]))
    np.testing.assert_array_equal(fixed.sample_goal(np.random.default_rng(0)), np.float32([0.2]))
    np.testing.assert_array_equal(GoalRule.of(fixed).initial(), np.float32([0.2]))
    none = load_task_file(cartpole_with_goal(tmp_path, {"kind": "none"}, "n"))
    assert (none.goal_kind, none.goal_dim) == ("none", 0)
    assert none.goal_fixed is None and none.goal_box is None
    assert none.sample_goal(np.random.default_rng(0)).shape == (0,)


@pytest.mark.parametrize(
    "goal, match",
    [
        ({"kind": "topic", "low": [0.0, 1.0], "high": [1.0, 0.5]}, "need low <= high"),
        ({"kind": "topic", "low": [0.0]}, "high"),
        ({"kind": "topic", "low": [0.0], "high": [1.0], "value": [0.5]}, "value"),
        ({"kind": "topic", "low": [0.0, 0.0], "high": [1.0]}, "goal.high"),
        ({"kind": "topic", "low": [], "high": []}, "kind topic needs at least one value"),
        ({"kind": "wish"}, "allowed: \\['none', 'fixed', 'box', 'topic'\\]"),
    ],
)
def test_bad_goals_are_refused_naming_the_key(tmp_path, goal, match) -> None:
    with pytest.raises(TaskFileError, match=match):
        load_task_file(cartpole_with_goal(tmp_path, goal, "bad"))


def test_topic_goal_task_round_trips_through_metadata(tmp_path) -> None:
    task = load_task_file(cartpole_with_goal(tmp_path, {"kind": "topic", **BOX}, "t_meta"))
    again = task_from_metadata(task.metadata(), "test")
    assert again.metadata()["definition"] == task.metadata()["definition"]
    assert again.goal_kind == "topic" and again.goal_dim == 2
    for mine, theirs in zip(again.goal_box, task.goal_box):
        np.testing.assert_array_equal(mine, theirs)
    assert GoalRule.of(again).check([1.5, 0.4])[1] is not None
    assert GoalRule.of(again).check([0.5, 0.4])[1] is None
