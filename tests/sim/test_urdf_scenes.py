"""Scenes built from any task file's URDF (tests/sim/fixtures/two_link_arm.*): the three command
interfaces, mimic joints, defaults from the URDF, the DR profile applied generically, the
generic oracle state mapping, gymnasium registration and one-line errors."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
import pybullet as pb
import pytest
import yaml
from mbrl_sim import TASK_FILE_ENV_ID, make_env
from mbrl_sim.oracle import JointStateReader, SimulatorModel
from mbrl_sim.profiles import DRProfile
from mbrl_sim.scenes import load_scene, scene_spec

from mbrl_control.tasks import TaskFileError, load_task_file
from mbrl_control.tasks.robot_description import load_robot_description

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ARM = FIXTURES / "two_link_arm.task.yaml"
NOMINAL = DRProfile.from_mapping({}, name="nominal")


def variant(tmp_path: Path, name: str = "arm_variant", **changes) -> Path:
    """The fixture task with top-level ``changes`` (``simulation``/``robot`` merged)."""
    data = yaml.safe_load(ARM.read_text())
    data["robot"]["urdf"] = str(FIXTURES / "two_link_arm.urdf")
    for key in ("robot", "simulation"):
        if key in changes:
            data[key] = {**data.get(key, {}), **changes.pop(key)}
    data.update(name=name, **changes)
    path = tmp_path / f"{name}.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def interface(tmp_path: Path, kind: str, bound: float) -> Path:
    actions = [{"name": f"{j}_cmd", "low": -bound, "high": bound} for j in ("shoulder", "elbow")]
    return variant(
        tmp_path, command={"interface": kind, "joints": ["shoulder", "elbow"]}, actions=actions
    )


def joints(env) -> tuple[np.ndarray, np.ndarray]:
    """True positions and velocities of all three URDF joints (the mimic flap last)."""
    sc = env.unwrapped.scene
    states = pb.getJointStates(sc.body, [0, 1, 2], physicsClientId=sc.client)
    return np.array([s[0] for s in states]), np.array([s[1] for s in states])


def test_missing_mesh_is_one_warning_and_the_rest_loads() -> None:
    desc = load_robot_description(load_task_file(ARM))
    assert len(desc.warnings) == 1 and "\n" not in desc.warnings[0]
    assert "forearm.stl" in desc.warnings[0] and "loading without it" in desc.warnings[0]
    env = make_env(ARM, NOMINAL, seed=0)
    obs, _ = env.reset()
    assert obs.shape == (5,) and np.isfinite(obs).all()  # cos/sin shoulder, elbow, 2 velocities
    env.close()


def test_defaults_come_from_the_urdf() -> None:
    spec = scene_spec(load_task_file(ARM))
    assert spec.control == "effort" and spec.physics_dt == 0.005  # 50 Hz: 4 steps of 5 ms
    assert spec.damping_ref == (0.05, 0.01)  # URDF <dynamics damping>, else the default 0.01
    assert spec.friction_ref == (0.02, 0.01)  # URDF <dynamics friction>, else 0.01
    assert spec.push_link == "forearm"  # the child link of the last command joint
    assert spec.push_ref == pytest.approx(0.1 * 1.6 * 9.81)  # 10 % of the robot's weight
    assert not spec.ground and spec.camera is None and spec.inertia_from == "urdf"
    floating = load_task_file(ARM)
    floating.fixed_base = False  # a floating base gets a ground plane unless told otherwise
    assert scene_spec(floating).ground and not scene_spec(floating).fixed_base
    assert [(m.joint, m.leader, m.multiplier, m.offset) for m in spec.mimic] == [
        ("tool_flap", "elbow", 0.5, 0.1)
    ]


def test_scene_geometry_inertia_base_pose_and_camera(tmp_path) -> None:
    path = variant(tmp_path, robot={"base_pose": {"xyz": [0.5, -0.2, 0.3], "rpy": [0, 0, 0.4]}})
    scene = load_scene(load_task_file(path))
    c = scene.client
    try:
        pos, orn = pb.getBasePositionAndOrientation(scene.body, physicsClientId=c)
        np.testing.assert_allclose(pos, [0.5, -0.2, 0.3], atol=1e-9)
        np.testing.assert_allclose(pb.getEulerFromQuaternion(orn), [0, 0, 0.4], atol=1e-9)
        # inertia_from: urdf -> the <inertial> diagonals as written
        np.testing.assert_allclose(scene.mass, [1.0, 0.5, 0.1])
        np.testing.assert_allclose(scene.inertia[0], [0.0209, 0.0209, 0.0005], rtol=1e-6)
        dist, _, _, target = scene.camera  # fitted to the robot's bounding box
        assert 0.5 <= dist < 5.0 and abs(target[0] - 0.5) < 0.5 and abs(target[1] + 0.2) < 0.5
    finally:
        pb.disconnect(c)


def test_effort_commands_are_joint_torques(tmp_path) -> None:
    """Holding the arm out sideways with its inverse-dynamics gravity torques keeps it there."""
    wide = [{"name": f"{j}_torque", "low": -20.0, "high": 20.0} for j in ("shoulder", "elbow")]
    path = variant(tmp_path, initial_state={"position": {"mean": [1.2, -0.6]}}, actions=wide)
    env = make_env(path, NOMINAL, seed=0)
    env.reset()
    sc = env.unwrapped.scene
    q, _ = joints(env)
    tau = pb.calculateInverseDynamics(
        sc.body, list(q), [0.0] * 3, [0.0] * 3, physicsClientId=sc.client
    )
    # the flap's torque reaches the elbow through the gear: its share is 0.5 x flap torque
    hold = np.array([tau[0], tau[1] + 0.5 * tau[2]], np.float32)
    assert np.abs(hold).max() > 1.0  # a pose that really loads the joints
    start = q.copy()
    for _ in range(10):
        env.step(hold)
    q, _ = joints(env)
    np.testing.assert_allclose(q[:2], start[:2], atol=0.03)
    free = make_env(path, NOMINAL, seed=0)  # without the torques it falls
    free.reset()
    for _ in range(10):
        free.step(np.zeros(2, np.float32))
    assert np.abs(joints(free)[0][:2] - start[:2]).max() > 0.2
    _, _, _, effort = env.unwrapped.joint_state()
    np.testing.assert_allclose(effort, hold, rtol=1e-6)  # effort reported: the realized torque
    env.close()
    free.close()


def test_velocity_interface_tracks_commanded_velocities(tmp_path) -> None:
    env = make_env(interface(tmp_path, "velocity", 3.0), NOMINAL, seed=0)
    env.reset()
    for _ in range(20):
        env.step(np.array([1.0, -0.5], np.float32))
    _, qd = joints(env)
    np.testing.assert_allclose(qd[:2], [1.0, -0.5], atol=1e-3)
    env.close()


def test_position_interface_reaches_commanded_positions(tmp_path) -> None:
    env = make_env(interface(tmp_path, "position", 2.5), NOMINAL, seed=0)
    env.reset()
    for _ in range(50):
        env.step(np.array([1.0, -0.5], np.float32))
    q, qd = joints(env)
    np.testing.assert_allclose(q[:2], [1.0, -0.5], atol=0.01)
    assert np.abs(qd).max() < 0.01
    env.close()


def test_motor_force_defaults_to_the_urdf_effort_limit(tmp_path) -> None:
    spec = scene_spec(load_task_file(interface(tmp_path, "velocity", 3.0)))
    assert spec.max_force == (20.0, 10.0)
    urdf = (FIXTURES / "two_link_arm.urdf").read_text().replace('effort="10"', 'effort="0"')
    (tmp_path / "arm.urdf").write_text(urdf)
    path = variant(
        tmp_path,
        command={"interface": "velocity", "joints": ["shoulder", "elbow"]},
        actions=[{"name": "a", "low": -1, "high": 1}, {"name": "b", "low": -1, "high": 1}],
        robot={"urdf": str(tmp_path / "arm.urdf")},
    )
    with pytest.raises(TaskFileError) as err:
        scene_spec(load_task_file(path))
    text = str(err.value)
    assert "\n" not in text and "simulation.motor_force: joint 'elbow' has no effort limit" in text
    path = variant(
        tmp_path,
        name="arm_given",
        command={"interface": "velocity", "joints": ["shoulder", "elbow"]},
        actions=[{"name": "a", "low": -1, "high": 1}, {"name": "b", "low": -1, "high": 1}],
        robot={"urdf": str(tmp_path / "arm.urdf")},
        simulation={"motor_force": [15.0, 7.0]},
    )
    assert scene_spec(load_task_file(path)).max_force == (15.0, 7.0)


def test_mimic_joint_follows_its_leader() -> None:
    env = make_env(ARM, NOMINAL, seed=3)
    env.reset()
    q, qd = joints(env)
    assert q[2] == pytest.approx(0.5 * q[1] + 0.1, abs=1e-9)  # set from the leader at reset
    for _ in range(40):
        env.step(np.array([3.0, 1.5], np.float32))
        q, qd = joints(env)
        assert q[2] == pytest.approx(0.5 * q[1] + 0.1, abs=2e-3)
        assert qd[2] == pytest.approx(0.5 * qd[1], abs=2e-2)
    assert abs(q[1]) > 1.0  # the elbow really moved
    env.close()


def test_mimic_joint_with_multiplier_zero_stays_at_its_offset(tmp_path) -> None:
    urdf = (FIXTURES / "two_link_arm.urdf").read_text()
    urdf = urdf.replace('multiplier="0.5" offset="0.1"', 'multiplier="0" offset="0.3"')
    (tmp_path / "arm.urdf").write_text(urdf)
    env = make_env(variant(tmp_path, robot={"urdf": str(tmp_path / "arm.urdf")}), NOMINAL, seed=1)
    env.reset()
    assert env.unwrapped.scene.mimic == ()  # nothing to couple
    for _ in range(20):
        env.step(np.array([3.0, 1.5], np.float32))
    q, _ = joints(env)
    assert abs(q[1]) > 0.5 and q[2] == pytest.approx(0.3, abs=1e-3)
    env.close()


def test_dr_profile_applies_to_any_robot() -> None:
    prof = DRProfile.from_mapping(
        {
            "mass_scale": {"low": 0.5, "high": 1.5},
            "joint_damping": 1.0,
            "joint_friction": 1.0,
            "push_prob": 1.0,
            "push_force": 1.0,
        },
        name="arm",
    )
    env = make_env(ARM, prof, seed=4)
    _, info = env.reset()
    dr, sc = info["dr"], env.unwrapped.scene
    c = sc.client
    for i, link in enumerate(sc.links):
        mass = pb.getDynamicsInfo(sc.body, link, physicsClientId=c)[0]
        assert mass == pytest.approx(sc.mass[i] * dr["mass_scale"][i])
    assert dr["joint_damping"] == pytest.approx([0.05, 0.01])  # 1 x the reference
    assert dr["joint_friction"] == pytest.approx([0.02, 0.01])
    assert dr["push_force"] == pytest.approx(0.1 * 1.6 * 9.81)
    before = joints(env)[1].copy()
    env.step(np.zeros(2, np.float32))  # pushed every step, on the forearm
    assert np.abs(joints(env)[1] - before).max() > 0.01
    env.close()


def test_actuator_gain_and_delay_apply_to_any_robot() -> None:
    prof = DRProfile.from_mapping(
        {"actuator_gain": {"low": 0.7, "high": 1.3}, "action_delay": 1}, name="gain_delay"
    )
    env = make_env(ARM, prof, seed=2)
    _, info = env.reset()
    gain = np.asarray(info["dr"]["actuator_gain"])
    command = np.array([2.0, -1.0], np.float32)
    env.step(command)
    assert env.unwrapped.joint_state()[3].tolist() == [0.0, 0.0]  # one step late: still safe
    env.step(command)
    np.testing.assert_allclose(env.unwrapped.joint_state()[3], gain * command, rtol=1e-6)
    assert abs(gain[0] - gain[1]) > 1e-3  # drawn per actuated joint
    env.close()


def test_the_task_files_dr_profile_is_the_default(tmp_path) -> None:
    (tmp_path / "heavy.yaml").write_text("mass_scale: 2.0\n")
    env = make_env(variant(tmp_path, dr_profile="heavy.yaml"), seed=0)  # next to the file
    _, info = env.reset()
    assert env.unwrapped.profile.name == "heavy" and info["dr"]["mass_scale"] == [2.0] * 3
    env.close()
    env = make_env(variant(tmp_path, dr_profile="none"), seed=0)
    assert env.unwrapped.profile.name == "none"
    env.close()


def test_nominal_profile_is_the_reference_physics() -> None:
    env = make_env(ARM, "nominal", seed=0)
    _, info = env.reset()
    assert info["dr"]["joint_damping"] == [0.05, 0.01]  # the URDF's <dynamics>, else 0.01
    assert info["dr"]["joint_friction"] == [0.02, 0.01]
    assert info["dr"]["mass_scale"] == [1.0] * 3 and info["dr"]["push_prob"] == 0.0
    env.close()


def test_reference_damping_slows_the_arm(tmp_path) -> None:
    """The profile's damping multiplier times the task's reference is the joint damping."""
    path = variant(
        tmp_path,
        simulation={"joint_damping": [0.5, 0.5]},
        initial_state={"velocity": {"mean": [4.0, 0.0]}},
    )
    speeds = []
    for multiplier in (0.0, 1.0):
        env = make_env(path, DRProfile.from_mapping({"joint_damping": multiplier}), seed=0)
        env.reset()
        for _ in range(5):
            env.step(np.zeros(2, np.float32))
        speeds.append(abs(joints(env)[1][0]))
        env.close()
    # shoulder I ≈ 0.56 kg·m²: 0.1 s at 0.5 N·m·s/rad takes ~10 % of the speed
    assert speeds[1] < 0.95 * speeds[0]


def test_oracle_maps_observations_back_to_joint_states() -> None:
    task = load_task_file(ARM)
    reader = JointStateReader(task)
    rng = np.random.default_rng(0)
    q = np.stack([rng.uniform(-3, 3, 20), rng.uniform(-2.5, 2.5, 20)], 1)
    qd = rng.normal(0, 2, (20, 2))
    obs = np.stack([task.obs_from_joints(a, b) for a, b in zip(q, qd)])
    got_q, got_qd = reader(obs)
    np.testing.assert_allclose(got_q, q, atol=1e-5)  # float32 observations
    np.testing.assert_allclose(got_qd, qd, atol=1e-5)
    env = make_env(ARM, NOMINAL, seed=0)
    obs0, _ = env.reset()
    model = SimulatorModel(env)
    import torch

    snapshot = env.unwrapped.save_state()
    nxt, logvar = model(torch.from_numpy(obs0)[None, None], torch.zeros(1, 1, 2))
    env.unwrapped.restore_state(snapshot)
    expect, *_ = env.step(np.zeros(2, np.float32))  # the same step, from the same state
    np.testing.assert_allclose(nxt[0, 0].numpy(), expect, atol=1e-5)
    assert float(logvar.abs().max()) == 0.0
    env.close()


def test_oracle_refuses_an_observation_without_full_joint_state(tmp_path) -> None:
    path = variant(
        tmp_path,
        observation=[{"feature": "joint_positions"}],
        critics=[
            {"name": "straight", "kind": "joint_target", "joints": ["elbow"], "target": [0.0]}
        ],
    )
    with pytest.raises(ValueError) as err:
        JointStateReader(load_task_file(path))
    text = str(err.value)
    assert "\n" not in text and "the oracle needs full joint state in the observation" in text
    assert "['shoulder', 'elbow']" in text


def test_gymnasium_id_takes_a_task_file() -> None:
    env = gymnasium.make(f"mbrl_sim:{TASK_FILE_ENV_ID}", task=str(ARM), profile="none")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (5,) and env.unwrapped.task.name == "two_link_arm"
    env.close()


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"robot": {"urdf": None}}, "cannot be simulated: the task sets no robot.urdf"),
        ({"simulation": {"push": {"link": "hand"}}}, "simulation.push.link='hand'; allowed"),
    ],
)
def test_scene_errors_are_one_line_naming_the_key(tmp_path, changes, needle) -> None:
    path = variant(tmp_path, **changes)
    if changes.get("robot", {}).get("urdf", "") is None:
        data = yaml.safe_load(path.read_text())
        data.pop("robot")
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ValueError) as err:
        make_env(path, NOMINAL, seed=0)
    text = str(err.value)
    assert "\n" not in text and needle in text and str(path) in text, text


def test_render_frames_the_robot() -> None:
    env = make_env(ARM, NOMINAL, seed=0, render_mode="rgb_array", image_size=(64, 48))
    env.reset()
    frame = env.render()
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
    assert frame.std() > 1.0  # something is in view
    env.close()
