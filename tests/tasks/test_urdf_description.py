"""Robot descriptions as found in the wild: xacro, package:// and $(find), relative and missing
meshes, effort="0", continuous and mimic joints, inertias that need checking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mbrl_control.tasks import TaskFileError, load_task_file
from mbrl_control.tasks.robot_description import (
    RobotDescription,
    load_robot_description,
    load_urdf,
)
from mbrl_control.tasks.urdf_resolve import find_package

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "urdf"
ARM = FIXTURES / "fixture_arm" / "urdf" / "arm.urdf"
XACRO_ARM = FIXTURES / "fixture_arm" / "urdf" / "arm.urdf.xacro"
MESHES = FIXTURES / "fixture_arm" / "meshes"


def _link(name: str, mass: str | None = "1", inertia: str = 'ixx="1" iyy="1" izz="1"') -> str:
    if mass is None:
        return f'<link name="{name}"/>'
    inertia = f'<inertia {inertia} ixy="0" ixz="0" iyz="0"/>'
    return f'<link name="{name}"><inertial><mass value="{mass}"/>{inertia}</inertial></link>'


def _write(tmp_path: Path, body: str, name: str = "robot.urdf") -> Path:
    p = tmp_path / name
    p.write_text(f'<?xml version="1.0"?>\n<robot name="r">{body}</robot>\n')
    return p


def _joint(name: str, parent: str, child: str, kind: str = "revolute", extra: str = "") -> str:
    limit = '<limit lower="-1" upper="1" effort="1" velocity="1"/>' if kind == "revolute" else ""
    return (
        f'<joint name="{name}" type="{kind}"><parent link="{parent}"/><child link="{child}"/>'
        f'<axis xyz="0 0 1"/>{limit}{extra}</joint>'
    )


def test_fixture_meshes_resolved_missing_dropped_with_one_warning():
    d = load_urdf(ARM)
    assert isinstance(d, RobotDescription)
    assert d.source == ARM
    # the missing visual mesh: one warning line naming the file, its element removed
    assert len(d.warnings) == 1 and "\n" not in d.warnings[0]
    assert "missing_forearm.obj" in d.warnings[0] and "link3" in d.warnings[0]
    assert "missing_forearm" not in d.urdf_text
    # the relative path and the package:// URI made absolute
    assert f'filename="{MESHES / "box.obj"}"' in d.urdf_text
    assert f'filename="{MESHES / "base.obj"}"' in d.urdf_text
    assert "package://" not in d.urdf_text and "../meshes" not in d.urdf_text
    # link3 keeps its collision box
    assert d.urdf_text.count("<collision>") == 3


def test_fixture_joints_limits_mimic_continuous():
    t = load_urdf(ARM).tree
    assert t.root == "base_link"
    assert t.movable == ("yaw", "slide", "elbow", "wrist")
    assert t.independent == ("yaw", "slide", "elbow")
    yaw, slide, elbow, wrist = (t.joints[n] for n in t.movable)
    assert yaw.type == "continuous" and not yaw.has_range and yaw.effort == 20.0
    assert (slide.lower, slide.upper, slide.effort, slide.velocity) == (-0.2, 0.3, 50.0, 0.5)
    assert elbow.effort is None and elbow.velocity == 3.0  # effort="0": not given
    assert wrist.mimic is not None
    assert (wrist.mimic.joint, wrist.mimic.multiplier, wrist.mimic.offset) == ("elbow", -0.5, 0.1)
    assert [j.name for j in t.chain("tip")] == ["yaw", "slide", "elbow", "wrist", "tip_joint"]
    assert yaw.damping == 0.05


def test_model_is_yourdfpy_without_meshes_and_zero_limits_not_given():
    m = load_urdf(ARM).model
    import yourdfpy

    assert isinstance(m, yourdfpy.URDF)
    elbow = m.joint_map["elbow"]
    assert elbow.limit.effort is None and elbow.limit.velocity == 3.0
    assert m.joint_map["wrist"].mimic.joint == "elbow"
    assert m.link_map["link1"].inertial.mass == 1.0


def test_written_file_loads_in_pybullet(tmp_path):
    import pybullet as pb

    d = load_urdf(ARM)
    out = d.write(tmp_path / "scene")
    assert out == tmp_path / "scene" / "arm.urdf" and out.is_file()
    cid = pb.connect(pb.DIRECT)
    try:
        body = pb.loadURDF(str(out), useFixedBase=True, physicsClientId=cid)
        names = [
            pb.getJointInfo(body, i, physicsClientId=cid)[1].decode()
            for i in range(pb.getNumJoints(body, physicsClientId=cid))
        ]
        assert names == ["yaw", "slide", "elbow", "wrist", "tip_joint"]
        visuals = pb.getVisualShapeData(body, physicsClientId=cid)
        meshes = {Path(v[4].decode()).name for v in visuals if v[2] == pb.GEOM_MESH}
        assert meshes == {"base.obj", "box.obj"}  # the resolved meshes are loaded
    finally:
        pb.disconnect(cid)


def test_xacro_expanded_with_args_and_find_without_ros(monkeypatch):
    monkeypatch.delenv("ROS_PACKAGE_PATH", raising=False)
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    d = load_urdf(XACRO_ARM, {"reach": 0.5, "prefix": "r_"})
    assert d.tree.movable == ("r_shoulder", "r_elbow")
    assert d.tree.joints["r_elbow"].origin[0, 3] == pytest.approx(0.5)
    assert d.tree.joints["r_elbow"].velocity is None  # velocity="0"
    assert f'filename="{MESHES / "box.obj"}"' in d.urdf_text
    assert d.warnings == ()
    default = load_urdf(XACRO_ARM)
    assert default.tree.joints["elbow"].origin[0, 3] == pytest.approx(0.3)
    assert default.stem == "arm"


def test_xacro_args_from_task_file(tmp_path):
    task = tmp_path / "t.task.yaml"
    task.write_text(
        (Path(__file__).parent / "fixtures" / "urdf" / "xacro_task.yaml")
        .read_text()
        .replace("URDF", str(XACRO_ARM))
    )
    t = load_task_file(task)
    assert t.xacro_args == {"reach": "0.4", "prefix": "left_"}
    d = load_robot_description(t)
    assert "left_elbow" in d.tree.joints
    assert d.tree.joints["left_elbow"].origin[0, 3] == pytest.approx(0.4)


def test_xacro_args_refused_for_plain_urdf(tmp_path):
    task = tmp_path / "t.task.yaml"
    text = (FIXTURES / "xacro_task.yaml").read_text().replace("URDF", str(ARM))
    task.write_text(text)
    with pytest.raises(TaskFileError, match=r"robot.xacro_args: only for a robot.urdf ending"):
        load_task_file(task)


def test_package_lookup_order(tmp_path, monkeypatch):
    monkeypatch.delenv("ROS_PACKAGE_PATH", raising=False)
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    # (b) a Python package
    import pybullet_data

    assert find_package("pybullet_data") == Path(pybullet_data.getDataPath()).resolve()
    assert find_package("no_such_pkg_xyz", near=ARM) is None
    # (c) an ancestor of the URDF named like the package
    assert find_package("fixture_arm", near=ARM) == (FIXTURES / "fixture_arm").resolve()
    # (a) ROS_PACKAGE_PATH (a directory of packages) and AMENT_PREFIX_PATH share dirs win
    ros = tmp_path / "src" / "fixture_arm"
    ros.mkdir(parents=True)
    monkeypatch.setenv("ROS_PACKAGE_PATH", str(tmp_path / "src"))
    assert find_package("fixture_arm", near=ARM) == ros.resolve()
    monkeypatch.delenv("ROS_PACKAGE_PATH")
    share = tmp_path / "install" / "share" / "pybullet_data"
    share.mkdir(parents=True)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path / "install"))
    assert find_package("pybullet_data") == share.resolve()


def test_unresolvable_package_mesh_warns_and_is_dropped(tmp_path):
    body = (
        '<link name="base"><visual><geometry><mesh filename="package://nowhere_pkg/m.stl"/>'
        "</geometry></visual></link>"
    )
    d = load_urdf(_write(tmp_path, body))
    assert len(d.warnings) == 1
    assert "cannot resolve package 'nowhere_pkg'" in d.warnings[0]
    assert "ROS_PACKAGE_PATH" in d.warnings[0] and "<visual>" not in d.urdf_text


@pytest.mark.parametrize(
    ("link", "needle"),
    [
        (_link("l1", mass="0"), "mass 0.0 <= 0"),
        (_link("l1", mass=None), "no <inertial> mass"),
        (_link("l1", inertia='ixx="1" iyy="-1" izz="1"'), "not positive definite"),
        (_link("l1", inertia='ixx="0.1" iyy="0.1" izz="1"'), "triangle inequality"),
    ],
)
def test_inertia_of_moving_link_warns_naming_it(tmp_path, link, needle):
    d = load_urdf(_write(tmp_path, _link("base") + link + _joint("j1", "base", "l1")))
    assert len(d.warnings) == 1, d.warnings
    assert "link 'l1' (moved by joint 'j1')" in d.warnings[0] and needle in d.warnings[0]


def test_inertia_of_fixed_link_not_checked(tmp_path):
    body = _link("base", mass="0") + _link("l1", mass=None) + _joint("j", "base", "l1", "fixed")
    assert load_urdf(_write(tmp_path, body)).warnings == ()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            "<link name='a'/><joint name='j' type='revolute'><parent link='a'/></joint>",
            "needs <parent",
        ),
        (_link("a") + _joint("j", "a", "b"), "child link 'b' is not defined"),
        (_link("a") + _link("b") + _joint("j", "a", "b", "ball"), "type='ball'"),
        (_link("a") + _link("b"), "expected one root link"),
        (
            _link("a") + _link("b") + _joint("j", "a", "b", extra='<mimic joint="k"/>'),
            "mimic joint 'k' is not a movable joint",
        ),
    ],
)
def test_bad_urdf_one_line_naming_file(tmp_path, body, needle):
    p = _write(tmp_path, body)
    with pytest.raises(TaskFileError) as e:
        load_urdf(p)
    msg = str(e.value)
    assert msg.startswith(str(p)) and needle in msg and "\n" not in msg


def test_bad_xml_and_bad_xacro_and_missing_file(tmp_path):
    bad = tmp_path / "bad.urdf"
    bad.write_text("<robot><link name='a'></robot>")
    with pytest.raises(TaskFileError, match=r"bad.urdf: not valid XML"):
        load_urdf(bad)
    bad_x = tmp_path / "bad.urdf.xacro"
    bad_x.write_text(
        '<robot name="r" xmlns:xacro="http://www.ros.org/wiki/xacro"><link name="${nope}"/></robot>'
    )
    with pytest.raises(TaskFileError, match=r"bad.urdf.xacro: xacro failed") as e:
        load_urdf(bad_x)
    assert "\n" not in str(e.value)
    no_pkg = tmp_path / "find.urdf.xacro"
    no_pkg.write_text(
        '<robot name="r" xmlns:xacro="http://www.ros.org/wiki/xacro">'
        '<link name="a"><visual><geometry><mesh filename="$(find no_such_pkg_q)/m.stl"/>'
        "</geometry></visual></link></robot>"
    )
    with pytest.raises(TaskFileError, match=r"no_such_pkg_q") as e:
        load_urdf(no_pkg)
    assert "\n" not in str(e.value)
    with pytest.raises(FileNotFoundError, match="robot description not found"):
        load_urdf(tmp_path / "absent.urdf")


def test_cached_per_path_and_mtime(tmp_path):
    p = _write(tmp_path, _link("base"))
    a, b = load_urdf(p), load_urdf(p)
    assert a is b
    p.write_text(p.read_text().replace('name="r"', 'name="r2"'))
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    c = load_urdf(p)
    assert c is not a and c.tree.name == "r2"


def test_default_xml_namespace_is_ignored(tmp_path):
    p = tmp_path / "ns.urdf"
    body = _link("base") + _link("l1") + _joint("j1", "base", "l1")
    p.write_text(f'<robot xmlns="http://www.ros.org" name="r">{body}</robot>')
    d = load_urdf(p)
    assert d.tree.movable == ("j1",) and "xmlns" not in d.urdf_text
