"""Cart-pole swing-up: the pole starts hanging down and must be swung up and balanced.

The task is defined by its shipped task file ``builtin/cartpole_swingup.task.yaml`` (layout,
bounds, critics, success, initial states); :func:`CartpoleSwingup` builds it. The constants
below are the physical sizes other code (the simulator asset, analytic test systems) is built
with; a test holds them equal to the file.
"""

from __future__ import annotations

from mbrl_control.tasks.task_file import FileTask, load_builtin

POLE_LENGTH = 0.6
"""Hinge-to-tip length of the pole in metres (the sim's asset matches it)."""
RAIL_LIMIT = 2.0
"""|x| beyond which the rail critic charges (m); the rail ends at ±2.4 m."""
MAX_FORCE = 10.0
"""Force bound on the cart (N)."""
GRAVITY = 9.81
"""m/s²."""
UPRIGHT_ENERGY = GRAVITY * POLE_LENGTH / 2.0
"""Pole energy per unit mass at rest upright (uniform rod about its hinge), J/kg."""


def CartpoleSwingup() -> FileTask:
    """A fresh cart-pole swing-up task from its shipped task file."""
    return load_builtin("cartpole_swingup")


CartpoleSwingup.name = "cartpole_swingup"  # type: ignore[attr-defined]
