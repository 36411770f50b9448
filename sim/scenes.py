"""PyBullet scenes per task: asset, actuation, physics step and reference magnitudes.

A :class:`SceneSpec` is data; :func:`load_scene` builds it into a PyBullet client and
returns a :class:`Scene` with the body id, joint/link indices and the nominal dynamics that
domain randomization scales. The reference magnitudes give the profile multipliers of
``joint_damping``, ``joint_friction`` and ``push_force`` their units per robot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet as pb
import pybullet_data

from mbrl_control.tasks.panda import HOME, Q_HIGH, Q_LOW

ASSETS = Path(__file__).resolve().parent / "assets"
InitialState = Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class SceneSpec:
    """How to build and drive one task's robot. Per-joint tuples follow ``task.joint_names``."""

    urdf: str
    control: str
    """``torque``: the command is a joint force/torque; ``velocity``: a joint velocity."""
    physics_dt: float
    """Physics step (s); the control period must be a whole multiple of it."""
    damping_ref: tuple[float, ...]
    """Reference viscous damping per joint (N·s/m or N·m·s/rad)."""
    friction_ref: tuple[float, ...]
    """Reference Coulomb friction per joint (N or N·m)."""
    push_link: str
    push_ref: float
    """Reference push force (N)."""
    push_planar: bool
    """Push along ±x only (planar robots) instead of any horizontal direction."""
    initial_state: InitialState
    max_force: tuple[float, ...] = ()
    """Velocity control only: motor force limit per actuated joint (N·m)."""
    ground: bool = False
    camera: tuple[float, float, float, tuple[float, float, float]] = (2.0, 0.0, -10.0, (0, 0, 0))
    """Render camera: distance (m), yaw (deg), pitch (deg), target (m)."""


def _cartpole_initial(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Hanging down (θ = π) near the rail centre, nearly at rest.
    q = np.array([rng.uniform(-0.1, 0.1), np.pi + rng.normal(0.0, 0.05)])
    return q, rng.normal(0.0, 0.01, 2)


def _panda_initial(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # The ready pose with a little spread, kept inside the joint limits.
    q = np.clip(HOME + rng.normal(0.0, 0.1, 7), Q_LOW + 0.05, Q_HIGH - 0.05)
    return q, np.zeros(7)


SCENES: dict[str, SceneSpec] = {
    "cartpole_swingup": SceneSpec(
        urdf=str(ASSETS / "cartpole.urdf"),
        control="torque",
        physics_dt=0.005,
        damping_ref=(0.1, 0.002),
        friction_ref=(0.3, 0.002),
        push_link="pole",
        push_ref=2.0,
        push_planar=True,
        initial_state=_cartpole_initial,
        camera=(3.0, 0.0, -5.0, (0.0, 0.0, 0.2)),
    ),
    "panda_reach": SceneSpec(
        urdf=str(Path(pybullet_data.getDataPath()) / "franka_panda" / "panda.urdf"),
        control="velocity",
        physics_dt=0.005,
        damping_ref=(0.5,) * 7,
        friction_ref=(0.5,) * 7,
        push_link="panda_hand",
        push_ref=20.0,
        push_planar=False,
        initial_state=_panda_initial,
        max_force=(87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0),
        ground=True,
        camera=(1.6, 50.0, -30.0, (0.3, 0.0, 0.4)),
    ),
}


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
    links: tuple[int, ...]
    """Links with mass, randomized per link."""
    mass: np.ndarray
    """Nominal mass per randomized link ``(L,)`` (kg)."""
    inertia: np.ndarray
    """Nominal inertia diagonal per randomized link ``(L, 3)`` (kg·m²)."""
    push_link: int
    substeps: int


def load_scene(
    spec: SceneSpec,
    joint_names: tuple[str, ...],
    command_joints: tuple[str, ...],
    control_dt: float,
) -> Scene:
    """Connect a DIRECT client, load ``spec`` and set the physics step; see :class:`Scene`."""
    substeps = round(control_dt / spec.physics_dt)
    if substeps < 1 or abs(substeps * spec.physics_dt - control_dt) > 1e-9:
        raise ValueError(f"control period {control_dt} s is not a multiple of {spec.physics_dt} s")
    client = pb.connect(pb.DIRECT)
    pb.setGravity(0, 0, -9.81, physicsClientId=client)
    # One physics step per stepSimulation call (MbrlSimEnv.simulate loops over the substeps).
    pb.setPhysicsEngineParameter(
        fixedTimeStep=spec.physics_dt, numSubSteps=0, physicsClientId=client
    )
    if spec.ground:
        pb.loadURDF(str(Path(pybullet_data.getDataPath()) / "plane.urdf"), physicsClientId=client)
    body = pb.loadURDF(spec.urdf, useFixedBase=True, physicsClientId=client)
    by_name, link_by_name = {}, {}
    for j in range(pb.getNumJoints(body, physicsClientId=client)):
        info = pb.getJointInfo(body, j, physicsClientId=client)
        by_name[info[1].decode()] = j
        link_by_name[info[12].decode()] = j
    links = tuple(
        j
        for j in range(pb.getNumJoints(body, physicsClientId=client))
        if pb.getDynamicsInfo(body, j, physicsClientId=client)[0] > 0
    )
    dyn = [pb.getDynamicsInfo(body, j, physicsClientId=client) for j in links]
    for j in range(-1, pb.getNumJoints(body, physicsClientId=client)):
        # PyBullet's default 0.04 link damping is not physics; joint damping is randomized.
        pb.changeDynamics(body, j, linearDamping=0.0, angularDamping=0.0, physicsClientId=client)
    joints = tuple(by_name[n] for n in joint_names)
    actuated = tuple(by_name[n] for n in command_joints)
    if spec.control == "torque":
        # Free the joints: PyBullet's default velocity motors would hold them.
        pb.setJointMotorControlArray(
            body,
            list(joints),
            pb.VELOCITY_CONTROL,
            forces=[0.0] * len(joints),
            physicsClientId=client,
        )
    return Scene(
        spec=spec,
        client=client,
        body=body,
        joints=joints,
        actuated=actuated,
        actuated_pos=tuple(joints.index(j) for j in actuated),
        links=links,
        mass=np.array([d[0] for d in dyn]),
        inertia=np.array([d[2] for d in dyn]),
        push_link=link_by_name[spec.push_link],
        substeps=substeps,
    )
