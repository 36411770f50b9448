"""PyBullet scenes built from a task file: its URDF, command interface and ``simulation:``.

:func:`~mbrl_sim.scene_spec.scene_spec` resolves a
:class:`~mbrl_control.tasks.task_file.FileTask` into a :class:`SceneSpec` (data: every default
of the ``simulation:`` section filled from the URDF); :func:`load_scene` builds it into a
PyBullet client and returns a :class:`Scene` with the body id, joint/link indices and the
nominal dynamics that domain randomization scales. The reference magnitudes give the profile
multipliers of ``joint_damping``, ``joint_friction`` and ``push_force`` their units per robot.

Actuation by ``command.interface`` (ros2_control's command interfaces):

- ``effort``: the command is a joint force/torque (``TORQUE_CONTROL``, re-applied every
  physics step); the task's joints are freed of PyBullet's default motors;
- ``velocity``: velocity motors (``VELOCITY_CONTROL``) with the ``motor_force`` limits;
- ``position``: position motors (``POSITION_CONTROL``) with the ``motor_force`` limits.

Task joints that are not commanded (passive joints) are freed. Coulomb friction acts on every
task joint that no velocity/position motor drives (a zero-velocity motor of the drawn force).
URDF joints the task does not read stay under PyBullet's default motors (held still), except
mimic joints of a moving leader (a task joint, or a mimic joint of one): each is freed and
coupled to its leader by a PyBullet **gear constraint** (velocity ratio = ``multiplier``,
position error corrected towards ``multiplier × q_leader + offset``) and set from its leader
at every reset. A mimic joint whose leader is held still is held still too (e.g. the Panda's
second finger), which keeps the mimic relation without a constraint.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pybullet_data
from mbrl_sim.bullet import pb
from mbrl_sim.scene_spec import (
    GRAVITY,
    INTERFACES,
    Camera,
    Mimic,
    SceneSpec,
    robot_description,
    scene_spec,
)

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_CAMERA_YAW, DEFAULT_CAMERA_PITCH = 30.0, -20.0
"""deg: the default render view of the robot's bounding box."""


@dataclass(frozen=True)
class Scene:
    """A loaded scene: indices and nominal dynamics of the randomized links."""

    spec: SceneSpec
    client: int
    body: int
    joints: tuple[int, ...]
    """PyBullet joint indices in ``task.joint_names`` order."""
    actuated: tuple[int, ...]
    """PyBullet joint indices in ``task.command_joints`` order."""
    actuated_pos: tuple[int, ...]
    """Position of each actuated joint within ``joints``."""
    free: tuple[int, ...]
    """Task joints no velocity/position motor drives (Coulomb friction acts on these)."""
    free_pos: tuple[int, ...]
    """Position of each ``free`` joint within ``joints``."""
    links: tuple[int, ...]
    """Links with mass, randomized per link."""
    mass: np.ndarray
    """Nominal mass per randomized link ``(L,)`` (kg)."""
    inertia: np.ndarray
    """Nominal inertia diagonal per randomized link ``(L, 3)`` (kg·m²)."""
    push_link: int
    substeps: int
    camera: Camera
    mimic: tuple[tuple[int, int, float, float], ...] = ()
    """``(joint, leader, multiplier, offset)`` of the coupled mimic joints (PyBullet indices;
    leaders before their followers)."""


def load_scene(task: Any, spec: SceneSpec | None = None) -> Scene:
    """Connect a DIRECT client and build ``task``'s robot (``spec`` default:
    :func:`scene_spec`); see :class:`Scene`. Raises as :func:`scene_spec`."""
    spec = scene_spec(task) if spec is None else spec
    if spec.control not in INTERFACES:
        raise ValueError(f"control={spec.control!r}; allowed: {list(INTERFACES)}")
    control_dt = task.dt
    substeps = round(control_dt / spec.physics_dt)
    if substeps < 1 or abs(substeps * spec.physics_dt - control_dt) > 1e-9:
        raise ValueError(f"control period {control_dt} s is not a multiple of {spec.physics_dt} s")
    desc = robot_description(task)
    client = pb.connect(pb.DIRECT)
    try:
        return _build(task, spec, desc, client, substeps)
    except BaseException:
        pb.disconnect(client)
        raise


def _build(task: Any, spec: SceneSpec, desc: Any, client: int, substeps: int) -> Scene:
    c = {"physicsClientId": client}
    pb.setGravity(0, 0, -GRAVITY, **c)
    # One physics step per stepSimulation call (MbrlSimEnv.simulate loops over the substeps).
    pb.setPhysicsEngineParameter(fixedTimeStep=spec.physics_dt, numSubSteps=0, **c)
    if spec.ground:
        pb.loadURDF(str(Path(pybullet_data.getDataPath()) / "plane.urdf"), **c)
    flags = pb.URDF_USE_INERTIA_FROM_FILE if spec.inertia_from == "urdf" else 0
    xyz, rpy = spec.base_pose
    with tempfile.TemporaryDirectory(prefix="mbrl_sim_") as tmp:
        # mesh file names in the description are absolute: the copy loads from anywhere
        body = pb.loadURDF(
            str(desc.write(tmp)),
            basePosition=list(xyz),
            baseOrientation=pb.getQuaternionFromEuler(list(rpy)),
            useFixedBase=spec.fixed_base,
            flags=flags,
            **c,
        )
    n = pb.getNumJoints(body, **c)
    by_name = {}
    link_by_name = {pb.getBodyInfo(body, **c)[0].decode(): -1}
    for j in range(n):
        info = pb.getJointInfo(body, j, **c)
        by_name[info[1].decode()] = j
        link_by_name[info[12].decode()] = j
    first = -1 if not spec.fixed_base else 0
    links = tuple(j for j in range(first, n) if pb.getDynamicsInfo(body, j, **c)[0] > 0)
    dyn = [pb.getDynamicsInfo(body, j, **c) for j in links]
    for j in range(-1, n):
        # PyBullet's default 0.04 link damping is not physics; joint damping is randomized.
        pb.changeDynamics(body, j, linearDamping=0.0, angularDamping=0.0, **c)
    joints = tuple(by_name[name] for name in task.joint_names)
    actuated = tuple(by_name[name] for name in task.command_joints)
    motor = set() if spec.control == "effort" else set(actuated)
    free = tuple(j for j in joints if j not in motor)
    # Mimic joints of a moving leader (a task joint, or a mimic joint of one) are coupled; a
    # leader PyBullet's default motor holds still keeps its follower still too (no coupling
    # needed, and the physics of such robots stays as it was).
    moving, coupled = set(joints), []
    for m in spec.mimic:  # multiplier 0: a constant joint, held at its offset
        if m.multiplier == 0:
            pb.resetJointState(body, by_name[m.joint], m.offset, 0.0, **c)
    for _ in spec.mimic:  # enough passes for chains of mimics listed in any order
        for m in spec.mimic:
            j, leader = by_name[m.joint], by_name[m.leader]
            if m.multiplier != 0 and leader in moving and j not in moving:
                moving.add(j)
                coupled.append((j, leader, m.multiplier, m.offset))
    mimic = tuple(coupled)
    # Free the joints no motor drives (PyBullet's default velocity motors would hold them).
    released = [*free, *(m[0] for m in mimic if m[0] not in motor)]
    if released:
        pb.setJointMotorControlArray(
            body, released, pb.VELOCITY_CONTROL, forces=[0.0] * len(released), **c
        )
    for joint, leader, ratio, offset in mimic:
        _gear(body, joint, leader, ratio, offset, client)
    camera = spec.camera if spec.camera is not None else _fit_camera(body, n, client)
    return Scene(
        spec=spec,
        client=client,
        body=body,
        joints=joints,
        actuated=actuated,
        actuated_pos=tuple(joints.index(j) for j in actuated),
        free=free,
        free_pos=tuple(joints.index(j) for j in free),
        links=links,
        mass=np.array([d[0] for d in dyn]),
        inertia=np.array([d[2] for d in dyn]).reshape(len(dyn), 3),
        push_link=link_by_name[spec.push_link],
        substeps=substeps,
        camera=camera,
        mimic=mimic,
    )


def _gear(body: int, joint: int, leader: int, ratio: float, offset: float, client: int) -> None:
    """Couple ``joint`` to ``leader``: ``q = ratio × q_leader + offset`` (a gear constraint:
    Bullet holds ``ratio × q̇_leader − q̇ = 0`` and corrects the position error)."""
    cid = pb.createConstraint(
        body,
        leader,
        body,
        joint,
        jointType=pb.JOINT_GEAR,
        jointAxis=[0, 0, 1],
        parentFramePosition=[0, 0, 0],
        childFramePosition=[0, 0, 0],
        physicsClientId=client,
    )
    # Bullet's gear row: q_leader + gearRatio × q = relativePositionTarget (erp corrects drift)
    pb.changeConstraint(
        cid,
        gearRatio=-1.0 / ratio,
        relativePositionTarget=-offset / ratio,
        erp=0.2,
        maxForce=1e6,
        physicsClientId=client,
    )


def _fit_camera(body: int, n_joints: int, client: int) -> Camera:
    """A view of the robot's bounding box (at its current pose) from the default angles."""
    lows, highs = [], []
    for j in range(-1, n_joints):
        lo, hi = pb.getAABB(body, j, physicsClientId=client)
        lows.append(lo)
        highs.append(hi)
    lo, hi = np.min(lows, axis=0), np.max(highs, axis=0)
    diagonal = float(np.linalg.norm(hi - lo))
    target = tuple(float(x) for x in (lo + hi) / 2)
    return (max(0.5, 1.5 * diagonal), DEFAULT_CAMERA_YAW, DEFAULT_CAMERA_PITCH, target)


def set_mimic_joints(scene: Scene) -> None:
    """Put each mimic joint where its leader says (after the task joints were reset)."""
    c = scene.client
    for joint, leader, ratio, offset in scene.mimic:
        q, qd = pb.getJointState(scene.body, leader, physicsClientId=c)[:2]
        pb.resetJointState(scene.body, joint, ratio * q + offset, ratio * qd, physicsClientId=c)


__all__ = ["ASSETS", "Mimic", "Scene", "SceneSpec", "load_scene", "scene_spec", "set_mimic_joints"]
