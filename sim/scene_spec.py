"""A task file's simulator scene as data: :func:`scene_spec` resolves the ``simulation:``
section of a :class:`~mbrl_control.tasks.task_file.FileTask` with ``robot.urdf`` into a
:class:`SceneSpec`, every default filled from the URDF (see
:mod:`mbrl_control.tasks.simulation_section`). No PyBullet here: command-line and node
parameter checks validate a scene without loading the physics engine (:mod:`mbrl_sim.scenes`
builds it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mbrl_control.tasks.schema import TaskFileError
from mbrl_control.tasks.simulation_section import DEFAULT_DAMPING, DEFAULT_FRICTION

INTERFACES = ("effort", "velocity", "position")
PUSH_WEIGHT_SHARE = 0.1
"""Default reference push force: this share of the robot's weight (N)."""
GRAVITY = 9.81

Camera = tuple[float, float, float, tuple[float, float, float]]


@dataclass(frozen=True)
class Mimic:
    """A URDF mimic joint: ``q = multiplier × q_leader + offset``."""

    joint: str
    leader: str
    multiplier: float
    offset: float


@dataclass(frozen=True)
class SceneSpec:
    """How to build and drive one task's robot. Per-joint tuples follow ``task.joint_names``,
    per-actuator tuples ``task.command_joints``."""

    urdf: str
    """The robot description file the task names (resolved path)."""
    control: str
    """The command interface: ``effort``, ``velocity`` or ``position``."""
    physics_dt: float
    """Physics step (s); the control period is a whole multiple of it."""
    damping_ref: tuple[float, ...]
    """Reference viscous damping per joint (N·s/m or N·m·s/rad)."""
    friction_ref: tuple[float, ...]
    """Reference Coulomb friction per joint (N or N·m)."""
    push_link: str
    push_ref: float
    """Reference push force (N)."""
    push_planar: bool
    """Push along ±x only (planar robots) instead of any horizontal direction."""
    max_force: tuple[float, ...] = ()
    """Velocity/position control: motor force limit per command joint (N or N·m)."""
    ground: bool = False
    camera: Camera | None = None
    """Render camera: distance (m), yaw (deg), pitch (deg), target (m); None: fitted to the
    robot's bounding box at load (:attr:`Scene.camera`)."""
    fixed_base: bool = True
    base_pose: tuple[tuple[float, float, float], tuple[float, float, float]] = (
        (0.0, 0.0, 0.0),
        (0.0, 0.0, 0.0),
    )
    """Base position (m) and URDF roll-pitch-yaw (rad) in the world."""
    inertia_from: str = "urdf"
    """``urdf`` (the ``<inertial>`` tensors) or ``collision`` (PyBullet computes them)."""
    mimic: tuple[Mimic, ...] = ()


def robot_description(task: Any) -> Any:
    """``task``'s :class:`~mbrl_control.tasks.robot_description.RobotDescription`; a task
    without ``robot.urdf`` raises ``ValueError`` (one line: it cannot be simulated)."""
    from mbrl_control.tasks.robot_description import load_robot_description

    if getattr(task, "urdf", None) is None:
        where = getattr(task, "path", None) or f"task {task.name!r}"
        raise ValueError(
            f"{where}: cannot be simulated: the task sets no robot.urdf (the simulator builds "
            "the scene from the robot's URDF)"
        )
    return load_robot_description(task)


def scene_spec(task: Any) -> SceneSpec:
    """The :class:`SceneSpec` of a task file with ``robot.urdf``: its ``simulation:`` section
    with every default filled from the URDF.

    Raises ``ValueError`` (no ``robot.urdf``), ``FileNotFoundError`` (URDF missing) or
    :class:`TaskFileError` (one line naming the file and key: a task joint or push link not in
    the URDF, no effort limit where a motor force is needed).
    """
    desc = robot_description(task)
    tree, sim = desc.tree, task.simulation
    where = f"{task.path}: " if getattr(task, "path", None) else ""
    for i, name in enumerate(task.joint_names):
        j = tree.joints.get(name)
        if j is None or not j.movable:
            raise TaskFileError(
                f"{where}joints[{i}].name={name!r} is not a movable joint of {desc.source}; "
                f"allowed: {list(tree.independent)}"
            )
        if j.mimic is not None:
            raise TaskFileError(
                f"{where}joints[{i}].name={name!r} is a mimic joint of {j.mimic.joint!r} in "
                f"{desc.source}: read its leader instead"
            )

    def reference(given: tuple[float, ...] | None, attr: str, default: float) -> tuple:
        if given is not None:
            return tuple(given)
        values = [getattr(tree.joints[n], attr) for n in task.joint_names]
        return tuple(float(v) if v is not None and v > 0 else default for v in values)

    max_force: tuple[float, ...] = ()
    if task.command_interface != "effort":
        if sim.motor_force is not None:
            max_force = tuple(sim.motor_force)
        else:
            limits = []
            for name in task.command_joints:
                effort = tree.joints[name].effort
                if effort is None:
                    raise TaskFileError(
                        f"{where}simulation.motor_force: joint {name!r} has no effort limit in "
                        f"{desc.source} (effort absent or 0); give the motor forces (N or N·m)"
                    )
                limits.append(float(effort))
            max_force = tuple(limits)
    if sim.push_link is not None:
        if sim.push_link not in tree.links:
            raise TaskFileError(
                f"{where}simulation.push.link={sim.push_link!r}; allowed (links of "
                f"{desc.source.name}): {sorted(tree.links)}"
            )
        push_link = sim.push_link
    else:
        push_link = tree.joints[task.command_joints[-1]].child
    if sim.push_force is not None:
        push_ref = sim.push_force
    else:
        mass = sum(link.mass or 0.0 for link in tree.links.values())
        push_ref = round(PUSH_WEIGHT_SHARE * mass * GRAVITY, 6)
    camera = None
    if sim.camera is not None:
        c = sim.camera
        camera = (c.distance, c.yaw, c.pitch, tuple(c.target))
    mimic = tuple(
        Mimic(name, j.mimic.joint, float(j.mimic.multiplier), float(j.mimic.offset))
        for name, j in tree.joints.items()
        if j.movable and j.mimic is not None
    )
    return SceneSpec(
        urdf=str(desc.source),
        control=task.command_interface,
        physics_dt=sim.physics_dt,
        damping_ref=reference(sim.joint_damping, "damping", DEFAULT_DAMPING),
        friction_ref=reference(sim.joint_friction, "friction", DEFAULT_FRICTION),
        push_link=push_link,
        push_ref=float(push_ref),
        push_planar=sim.push_planar,
        max_force=max_force,
        ground=sim.ground if sim.ground is not None else not task.fixed_base,
        camera=camera,
        fixed_base=task.fixed_base,
        base_pose=(tuple(task.base_pose[0]), tuple(task.base_pose[1])),
        inertia_from=sim.inertia_from,
        mimic=mimic,
    )


__all__ = [
    "GRAVITY",
    "INTERFACES",
    "Camera",
    "Mimic",
    "SceneSpec",
    "robot_description",
    "scene_spec",
]
