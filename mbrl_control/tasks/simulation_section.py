"""The task file's ``simulation`` section: how ``mbrl_sim`` builds and drives the robot.

Every key is optional. What is given is validated here, at load, without reading the URDF
(a planner file rebuilds its task where the URDF may be absent); what is left out stays
``None`` and ``mbrl_sim.scenes`` fills it from the URDF when it builds the scene:

- ``physics_dt`` (s): the physics step; must divide the control period. Default: the
  largest step <= 5 ms that divides it.
- ``ground`` (bool): a ground plane at z = 0. Default: on for a floating base, off for a
  fixed one.
- ``joint_damping`` / ``joint_friction``: the reference viscous damping (N·s/m or N·m·s/rad)
  and Coulomb friction (N or N·m) per task joint (``joints`` order; one number broadcasts)
  that the DR profile's ``joint_damping``/``joint_friction`` multipliers scale. Default: the
  URDF's ``<dynamics damping friction>`` where positive, else :data:`DEFAULT_DAMPING` /
  :data:`DEFAULT_FRICTION`.
- ``motor_force``: the motor force limit per command joint (N or N·m) of the velocity and
  position interfaces. Default: the URDF's effort limit.
- ``push``: ``{link, force, planar}``, the link DR pushes act on (default: the child link of
  the last command joint), the reference push force (N, default 10 % of the robot's weight)
  that the profile's ``push_force`` multiplier scales, and whether pushes are along ±x only.
- ``camera``: ``{distance, yaw, pitch, target}`` (m, deg, deg, m) of ``render``. Default: the
  robot's bounding box seen from yaw 30°, pitch −20°.
- ``inertia_from``: ``urdf`` (default: the links' ``<inertial>`` as written) or ``collision``
  (PyBullet's default: inertia computed from the mass and the collision shapes; the built-ins
  were tuned with it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mbrl_control.tasks import schema as s
from mbrl_control.tasks.schema import TaskFileError

KEYS = (
    "physics_dt",
    "ground",
    "joint_damping",
    "joint_friction",
    "motor_force",
    "push",
    "camera",
    "inertia_from",
)
INERTIA_SOURCES = ("urdf", "collision")
PUSH_KEYS = ("link", "force", "planar")
CAMERA_KEYS = ("distance", "yaw", "pitch", "target")
MAX_PHYSICS_DT = 0.005
"""Upper bound of the default physics step (s)."""
DEFAULT_DAMPING = 0.01
"""Reference joint damping when the URDF gives none (N·s/m or N·m·s/rad)."""
DEFAULT_FRICTION = 0.01
"""Reference Coulomb joint friction when the URDF gives none (N or N·m)."""


@dataclass(frozen=True)
class Camera:
    distance: float
    """m from the target."""
    yaw: float
    """deg."""
    pitch: float
    """deg (negative looks down)."""
    target: tuple[float, float, float]
    """m, world frame."""


@dataclass(frozen=True)
class SimulationSection:
    """The parsed ``simulation`` section; ``None`` = the default from the URDF (see module)."""

    physics_dt: float
    ground: bool | None = None
    joint_damping: tuple[float, ...] | None = None
    """``(J,)``."""
    joint_friction: tuple[float, ...] | None = None
    """``(J,)``."""
    motor_force: tuple[float, ...] | None = None
    """``(A,)``; only for the velocity and position interfaces."""
    push_link: str | None = None
    push_force: float | None = None
    push_planar: bool = False
    camera: Camera | None = None
    inertia_from: str = "urdf"


def default_physics_dt(control_dt: float) -> float:
    """The largest step <= :data:`MAX_PHYSICS_DT` that divides ``control_dt`` (s)."""
    return control_dt / math.ceil(control_dt / MAX_PHYSICS_DT - 1e-9)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise TaskFileError(f"{where}={value!r}; allowed: [true, false]")
    return value


def parse_simulation(value: Any, task: Any) -> SimulationSection:
    """Validate the ``simulation`` mapping of ``task``'s file (its joints, command interface
    and control rate are parsed already). Raises ``TaskFileError`` naming the key."""
    m = s.keys(value, "simulation", (), KEYS)
    n_joints, n_act = len(task.joint_names), len(task.command_joints)
    control_dt = 1.0 / task.control_hz
    if "physics_dt" in m:
        dt = s.number(m["physics_dt"], "simulation.physics_dt", 0.0, strict_low=True)
        steps = round(control_dt / dt)
        if steps < 1 or abs(steps * dt - control_dt) > 1e-9 * max(1.0, control_dt):
            raise TaskFileError(
                f"simulation.physics_dt={dt} must divide the control period {control_dt} s "
                f"(control_rate {task.control_hz} Hz), e.g. {default_physics_dt(control_dt)}"
            )
    else:
        dt = default_physics_dt(control_dt)
    out: dict[str, Any] = {"physics_dt": dt}
    if "ground" in m:
        out["ground"] = _bool(m["ground"], "simulation.ground")
    for key in ("joint_damping", "joint_friction"):
        if key in m:
            out[key] = tuple(s.numbers(m[key], f"simulation.{key}", n_joints, low=0.0))
    if "motor_force" in m:
        if task.command_interface == "effort":
            raise TaskFileError(
                "simulation.motor_force: only for the velocity and position interfaces (an "
                "effort command is the force itself)"
            )
        out["motor_force"] = tuple(
            s.numbers(m["motor_force"], "simulation.motor_force", n_act, low=0.0, strict_low=True)
        )
    if "push" in m:
        p = s.keys(m["push"], "simulation.push", (), PUSH_KEYS)
        if "link" in p:
            out["push_link"] = s.string(p["link"], "simulation.push.link")
        if "force" in p:
            out["push_force"] = s.number(p["force"], "simulation.push.force", low=0.0)
        out["push_planar"] = _bool(p.get("planar", False), "simulation.push.planar")
    if "camera" in m:
        c = s.keys(m["camera"], "simulation.camera", CAMERA_KEYS)
        out["camera"] = Camera(
            distance=s.number(c["distance"], "simulation.camera.distance", 0.0, strict_low=True),
            yaw=s.number(c["yaw"], "simulation.camera.yaw"),
            pitch=s.number(c["pitch"], "simulation.camera.pitch"),
            target=tuple(s.numbers(c["target"], "simulation.camera.target", 3)),
        )
    if "inertia_from" in m:
        out["inertia_from"] = s.choice(
            m["inertia_from"], "simulation.inertia_from", INERTIA_SOURCES
        )
    return SimulationSection(**out)
