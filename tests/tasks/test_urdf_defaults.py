"""Task-file values taken from the URDF: joint types, ranges, speed limits, action bounds."""

from __future__ import annotations

import copy
import math
import shutil
from pathlib import Path

import pytest
import yaml

from mbrl_control.tasks import TaskFileError, load_task_file
from mbrl_control.tasks.portable import task_from_metadata

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "urdf"
ARM = FIXTURES / "fixture_arm" / "urdf" / "arm.urdf"

# the fixture arm, with everything the URDF gives left out
ARM_TASK = {
    "name": "arm_hold",
    "robot": {"urdf": str(ARM)},
    "joints": [{"name": "yaw"}, {"name": "slide"}, {"name": "elbow"}],
    "command": {"interface": "effort", "joints": ["slide", "yaw"]},
    "actions": [{"name": "force_slide"}, {"name": "tau_yaw"}],
    "control_rate": 50,
    "episode_steps": 100,
    "observation": [{"feature": "joint_positions"}, {"feature": "joint_velocities"}],
    "critics": [{"name": "hold", "kind": "joint_target", "joints": ["slide"], "target": [0.1]}],
}


def write(tmp_path: Path, data: dict, name: str = "t.task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def edited(**changes) -> dict:
    data = copy.deepcopy(ARM_TASK)
    data.update(changes)
    return data


def test_joints_and_effort_bounds_default_to_the_urdf(tmp_path):
    t = load_task_file(write(tmp_path, ARM_TASK))
    assert t.joint_names == ("yaw", "slide", "elbow")
    assert [t._joints[j].type for j in t.joint_names] == ["continuous", "prismatic", "revolute"]
    assert t.position_limits[1:] == ((-0.2, 0.3), (-2.0, 2.0))
    assert math.isinf(t.position_limits[0][0]) and math.isinf(t.position_limits[0][1])
    assert t.velocity_limits == (4.0, 0.5, 3.0)
    assert (t.action_low, t.action_high) == ((-50.0, -20.0), (50.0, 20.0))
    assert t.action_units == ("N", "N·m")
    assert t.obs_names[:4] == ("cos_yaw", "sin_yaw", "slide", "elbow")


@pytest.mark.parametrize(
    ("interface", "joints", "low", "high"),
    [
        ("velocity", ["slide", "yaw"], (-0.5, -4.0), (0.5, 4.0)),
        ("position", ["slide", "elbow"], (-0.2, -2.0), (0.3, 2.0)),
    ],
)
def test_action_bounds_follow_the_interface(tmp_path, interface, joints, low, high):
    t = load_task_file(write(tmp_path, edited(command={"interface": interface, "joints": joints})))
    assert (t.action_low, t.action_high) == (low, high)


def test_written_values_win_over_the_urdf(tmp_path):
    data = edited(
        joints=[
            {"name": "yaw", "type": "revolute", "position_range": [-3, 3]},
            {"name": "slide", "velocity_limit": 2.0},
            {"name": "elbow"},
        ],
        actions=[{"name": "force_slide", "low": -5.0}, {"name": "tau_yaw", "high": 1.0}],
    )
    t = load_task_file(write(tmp_path, data))
    assert t._joints["yaw"].type == "revolute" and t.position_limits[0] == (-3.0, 3.0)
    assert t.velocity_limits[:2] == (4.0, 2.0)
    assert (t.action_low, t.action_high) == ((-5.0, -20.0), (50.0, 1.0))


def test_no_bound_anywhere_names_the_key_to_write(tmp_path):
    data = edited(command={"interface": "effort", "joints": ["elbow"]}, actions=[{"name": "tau"}])
    with pytest.raises(TaskFileError) as e:  # elbow has effort="0": not given
        load_task_file(write(tmp_path, data))
    msg = str(e.value)
    assert "actions[0]: the URDF" in msg and "no effort limit for joint 'elbow'" in msg
    assert msg.endswith("write actions[0].low and actions[0].high") and "\n" not in msg
    data = edited(command={"interface": "position", "joints": ["yaw"]}, actions=[{"name": "q"}])
    with pytest.raises(TaskFileError, match=r"no position range limit for joint 'yaw'"):
        load_task_file(write(tmp_path, data))


def test_joint_the_urdf_lacks_is_refused_listing_its_movable_joints(tmp_path):
    data = edited(joints=[{"name": "yaw"}, {"name": "shoulder"}])
    with pytest.raises(TaskFileError) as e:
        load_task_file(write(tmp_path, data))
    assert "joints[1].name: the URDF" in str(e.value) and "has no joint 'shoulder'" in str(e.value)
    assert "movable joints: ['yaw', 'slide', 'elbow']" in str(e.value)  # not the mimic wrist
    data = edited(joints=[{"name": "yaw"}, {"name": "tip_joint", "type": "revolute"}])
    with pytest.raises(TaskFileError, match=r"'tip_joint' is a fixed joint in the URDF"):
        load_task_file(write(tmp_path, data))
    data = edited(joints=[{"name": "yaw"}, {"name": "wrist"}])
    with pytest.raises(
        TaskFileError, match=r"'wrist' is a mimic joint of 'elbow' .*: read 'elbow'"
    ):
        load_task_file(write(tmp_path, data))


def test_kind_mismatch_with_the_urdf_is_refused(tmp_path):
    data = edited(
        joints=[{"name": "yaw"}, {"name": "slide", "type": "revolute"}, {"name": "elbow"}]
    )
    with pytest.raises(TaskFileError, match=r"joints\[1\].type='revolute' but joint 'slide' is "):
        load_task_file(write(tmp_path, data))


def test_without_urdf_the_keys_stay_required(tmp_path):
    data = edited(robot={})
    with pytest.raises(TaskFileError, match=r"joints\[0\]: missing required key\(s\) \['type'\]"):
        load_task_file(write(tmp_path, data))
    data["joints"] = [
        {"name": "yaw", "type": "continuous"},
        {"name": "slide", "type": "prismatic"},
        {"name": "elbow", "type": "revolute"},
    ]
    with pytest.raises(TaskFileError) as e:
        load_task_file(write(tmp_path, data))
    assert str(e.value).endswith(
        "actions[0]: no low/high; write actions[0].low and actions[0].high (or set robot.urdf "
        "to take the effort limit of 'slide' from the URDF)"
    )


def test_missing_urdf_when_needed_is_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"robot\.urdf: no such file"):
        load_task_file(write(tmp_path, edited(robot={"urdf": "absent.urdf"})))


def test_explicit_task_does_not_read_the_urdf(tmp_path):
    """Everything written: the URDF is not read (a file that is not even XML loads)."""
    (tmp_path / "robot.urdf").write_text("not xml")
    data = edited(
        robot={"urdf": "robot.urdf"},
        joints=[
            {"name": "yaw", "type": "continuous", "velocity_limit": 4},
            {"name": "slide", "type": "prismatic", "position_range": [-1, 1], "velocity_limit": 1},
        ],
        actions=[{"name": "f", "low": -1, "high": 1}, {"name": "t", "low": -1, "high": 1}],
    )
    assert load_task_file(write(tmp_path, data)).action_high == (1.0, 1.0)


def test_defaulted_definition_travels_without_the_urdf(tmp_path):
    """The values taken from the URDF are written into the definition the planner file
    carries: the task rebuilds equal after the URDF is gone."""
    shutil.copytree(FIXTURES / "fixture_arm", tmp_path / "fixture_arm")
    data = edited(robot={"urdf": "fixture_arm/urdf/arm.urdf"})
    t = load_task_file(write(tmp_path, data))
    assert t.definition["joints"][1] == {
        "name": "slide",
        "type": "prismatic",
        "position_range": [-0.2, 0.3],
        "velocity_limit": 0.5,
    }
    assert t.definition["actions"][0] == {"name": "force_slide", "low": -50.0, "high": 50.0}
    meta = t.metadata()
    shutil.rmtree(tmp_path / "fixture_arm")
    rebuilt = task_from_metadata(meta)
    assert rebuilt.metadata() == meta
    assert rebuilt.position_limits == t.position_limits


def test_xacro_task_takes_defaults(tmp_path):
    xacro = FIXTURES / "fixture_arm" / "urdf" / "arm.urdf.xacro"
    data = edited(
        robot={"urdf": str(xacro), "xacro_args": {"prefix": "l_"}},
        joints=[{"name": "l_shoulder"}, {"name": "l_elbow"}],
        command={"interface": "effort", "joints": ["l_shoulder", "l_elbow"]},
        actions=[{"name": "tau1"}, {"name": "tau2"}],
        critics=[{"name": "c", "kind": "joint_target", "joints": ["l_shoulder"], "target": [0]}],
    )
    t = load_task_file(write(tmp_path, data))
    assert t.action_high == (10.0, 5.0) and t.position_limits[0] == (-1.5, 1.5)
    assert math.isinf(t.velocity_limits[1])  # velocity="0" in the xacro: not given
