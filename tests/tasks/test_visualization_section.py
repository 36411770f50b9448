"""The task file's ``visualization`` section (issue 19): the frame and point of the plan the
controller shows. Errors name the key; a default the observation cannot give is dropped."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from test_task_file import MY_TASK, write

from mbrl_control.tasks import TaskFileError, get_task, load_task_file


def test_defaults_and_a_given_section(tmp_path):
    task = load_task_file(write(tmp_path, MY_TASK))
    assert (task.visualization.frame_id, task.visualization.point) == ("base_link", "tip")
    data = {**MY_TASK, "visualization": {"frame_id": "cart_base", "point": "tip"}}
    task = load_task_file(write(tmp_path, data))
    assert task.visualization.frame_id == "cart_base"
    obs = task.obs_from_joints(np.array([0.2, 0.0]), np.zeros(2))
    np.testing.assert_allclose(task.plan_point(obs), [0.2, 0.0, 0.5], atol=1e-6)
    assert get_task("panda_reach").visualization.frame_id == "panda_link0"


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ({"point": "elbow"}, r"visualization.point='elbow'; allowed \(points\): \['tip'\]"),
        ({"frame_id": "/world"}, "visualization.frame_id='/world': a tf2 frame name"),
        ({"frame_id": "my frame"}, "a tf2 frame name"),
        ({"colour": "red"}, r"visualization: unknown key\(s\) \['colour'\]"),
        ("tip", "visualization: expected a mapping"),
    ],
)
def test_bad_sections_are_refused_naming_the_key(tmp_path, section, match):
    with pytest.raises(TaskFileError, match=match):
        load_task_file(write(tmp_path, {**MY_TASK, "visualization": section}))


def test_a_point_the_observation_cannot_give(tmp_path):
    """The tip needs the pole angle: observed velocities only, the default point is dropped
    (no markers), a named one is refused naming what is missing."""
    data = copy.deepcopy(MY_TASK)
    data["observation"] = [{"feature": "joint_velocities"}]
    data["critics"] = [{"name": "still", "kind": "joint_velocity"}]
    data["success"] = []
    task = load_task_file(write(tmp_path, data))
    assert task.visualization.point is None and task.plan_point(np.zeros(2)) is None
    data["visualization"] = {"point": "tip"}
    with pytest.raises(TaskFileError, match=r"visualization\.point"):
        load_task_file(write(tmp_path, data))
