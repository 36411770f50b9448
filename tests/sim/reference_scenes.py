"""The simulator scenes of the built-in tasks as they were before scenes came from task files
(frozen reference: ``sim/scenes.py`` ``SCENES`` at commit 24f711a).

The built-in task files' ``simulation:`` sections must reproduce these numbers field by field
(tests/sim/test_reference_scenes.py); their ``initial_state`` must draw from the same
distribution as the functions below. Do not edit except to follow an intended change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet_data

from mbrl_control.tasks.panda import HOME, Q_HIGH, Q_LOW

ASSETS = Path(__file__).resolve().parents[2] / "sim" / "assets"
InitialState = Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class SceneSpec:
    urdf: str
    control: str
    """``torque`` (now ``effort``) or ``velocity``."""
    physics_dt: float
    damping_ref: tuple[float, ...]
    friction_ref: tuple[float, ...]
    push_link: str
    push_ref: float
    push_planar: bool
    initial_state: InitialState
    max_force: tuple[float, ...] = ()
    ground: bool = False
    camera: tuple[float, float, float, tuple[float, float, float]] = (2.0, 0.0, -10.0, (0, 0, 0))


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
"""The old scenes, by task name; built with ``loadURDF(urdf, useFixedBase=True)`` (no flags)."""
