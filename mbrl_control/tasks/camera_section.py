"""The task file's ``camera`` section: the camera of pixel observations (docs/pixels.md).

Not the ``simulation.camera`` of ``render()`` (a large debugging view): this one is what a
pixel-based agent sees, small and square. Every key is optional:

- ``target`` ``[x, y, z]`` (m, world frame) and ``distance`` (m, > 0): where the camera looks
  and from how far. Left out: fitted at env construction so the robot's whole workspace (every
  link over the joints' position ranges; continuous joints all the way round) is in view
  (:func:`mbrl_sim.camera.fit_camera`).
- ``yaw``, ``pitch`` (deg; PyBullet's ``computeViewMatrixFromYawPitchRoll`` convention, z up;
  negative pitch looks down). Default 0 and -10: from the side (along +y), a little above.
- ``fov`` (deg, vertical, in (0, 180)). Default 60.
- ``size`` (px): side of the square image. Default 64.
- ``supersample`` (integer >= 1): render ``size * supersample`` px square and average each
  ``supersample²`` block (anti-aliasing: a link thinner than a pixel, like the 2 cm cart-pole
  pole at 11 cm/px, still shows instead of vanishing). Default 2, by measurement on the
  cart-pole (``python -m mbrl_control.bench.pixels``; docs/pixels.md): at 1 a tilt of the pole
  can leave the image unchanged, at 2 every tilt tested changes >= 6 px, and 4 costs 5x the
  render time of 2 for no more.

No I/O here: validated at load (errors name the key and what is allowed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mbrl_control.tasks import schema as s

KEYS = ("target", "distance", "yaw", "pitch", "fov", "size", "supersample")
MAX_SIZE = 1024
"""Largest ``size`` and ``size * supersample`` (px)."""


@dataclass(frozen=True)
class CameraSpec:
    """The validated ``camera`` section (defaults where a key is absent)."""

    target: tuple[float, float, float] | None = None
    """m, world frame; ``None``: fitted to the workspace."""
    distance: float | None = None
    """m from the target; ``None``: fitted to the workspace."""
    yaw: float = 0.0
    """deg."""
    pitch: float = -10.0
    """deg (negative looks down)."""
    fov: float = 60.0
    """deg, vertical field of view."""
    size: int = 64
    """px, square image side."""
    supersample: int = 2
    """render at ``size * supersample`` px and box-average down."""

    @property
    def fitted(self) -> bool:
        """True when target or distance is left to :func:`mbrl_sim.camera.fit_camera`."""
        return self.target is None or self.distance is None


def parse_camera(value: Any, where: str = "camera") -> CameraSpec:
    """Validate a ``camera`` mapping; raises ``TaskFileError`` naming the key."""
    m = s.keys(value, where, (), KEYS)
    out: dict[str, Any] = {}
    if "target" in m:
        out["target"] = tuple(s.numbers(m["target"], f"{where}.target", 3))
    if "distance" in m:
        out["distance"] = s.number(m["distance"], f"{where}.distance", 0.0, strict_low=True)
    if "yaw" in m:
        out["yaw"] = s.number(m["yaw"], f"{where}.yaw")
    if "pitch" in m:
        out["pitch"] = s.number(m["pitch"], f"{where}.pitch", -89.9, 89.9)
    if "fov" in m:
        out["fov"] = s.number(m["fov"], f"{where}.fov", 0.0, 179.0, strict_low=True)
    if "size" in m:
        out["size"] = s.integer(m["size"], f"{where}.size", low=8)
    if "supersample" in m:
        out["supersample"] = s.integer(m["supersample"], f"{where}.supersample", low=1)
    spec = CameraSpec(**out)
    if spec.size * spec.supersample > MAX_SIZE:
        raise s.TaskFileError(
            f"{where}: size * supersample = {spec.size * spec.supersample} px; allowed <= "
            f"{MAX_SIZE}"
        )
    return spec
