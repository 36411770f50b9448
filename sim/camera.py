"""The pixel-observation camera: a task's ``camera`` section as PyBullet matrices, and frames.

:func:`fit_camera` fills a section's missing ``target``/``distance`` so the robot's whole
workspace is in view; :class:`PixelCamera` renders ``(S, S, 3)`` uint8 frames with PyBullet's
TinyRenderer (CPU, no display, no GPU), supersampled and box-averaged (anti-aliasing).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
from mbrl_sim.bullet import pb
from mbrl_sim.scenes import Scene

from mbrl_control.tasks.camera_section import CameraSpec

MARGIN = 1.08
"""Fitted views leave this factor of room around the workspace box."""
CONTINUOUS_ANGLES = (0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi)
"""Angles a continuous joint is swept through when fitting (rad)."""
MAX_CORNERS = 256
"""Joint-range corners swept at most; beyond, a seeded random subset of them."""


def _up_axis_view(target: np.ndarray, distance: float, spec: CameraSpec, client: int) -> np.ndarray:
    """The 4x4 world→eye matrix (eye: x right, y up, -z forward)."""
    v = pb.computeViewMatrixFromYawPitchRoll(
        target.tolist(), distance, spec.yaw, spec.pitch, 0.0, 2, physicsClientId=client
    )
    return np.asarray(v, np.float64).reshape(4, 4).T  # PyBullet is column-major


def workspace_box(scene: Scene, task_limits: tuple[tuple[float, float], ...]) -> np.ndarray:
    """``(2, 3)`` low/high corner (m) of every link's AABB over the task joints' ranges.

    Each joint is swept over its range ends (``task_limits``; where infinite, the URDF's
    limits; where none either, e.g. a continuous joint, :data:`CONTINUOUS_ANGLES`); the
    scene's state is restored after.
    """
    c, body = scene.client, scene.body
    values = []
    for j, (lo, hi) in zip(scene.joints, task_limits, strict=True):
        if not (np.isfinite(lo) and np.isfinite(hi)):
            lo, hi = pb.getJointInfo(body, j, physicsClientId=c)[8:10]
        values.append((lo, hi) if lo < hi else CONTINUOUS_ANGLES)
    corners = list(itertools.product(*values))
    if len(corners) > MAX_CORNERS:
        pick = np.random.default_rng(0).choice(len(corners), MAX_CORNERS, replace=False)
        corners = [corners[i] for i in sorted(pick)]
    saved = pb.saveState(physicsClientId=c)
    lows, highs = [], []
    try:
        for q in corners:
            for j, x in zip(scene.joints, q, strict=True):
                pb.resetJointState(body, j, float(x), 0.0, physicsClientId=c)
            for link in range(-1, pb.getNumJoints(body, physicsClientId=c)):
                lo, hi = pb.getAABB(body, link, physicsClientId=c)
                lows.append(lo)
                highs.append(hi)
    finally:
        pb.restoreState(saved, physicsClientId=c)
        pb.removeState(saved, physicsClientId=c)
    return np.stack([np.min(lows, axis=0), np.max(highs, axis=0)])


def fit_camera(spec: CameraSpec, box: np.ndarray, client: int) -> CameraSpec:
    """``spec`` with ``target`` (the box centre) and ``distance`` filled in where missing.

    The distance is the smallest at which all 8 corners of ``box`` ``(2, 3)`` project inside
    the square image with :data:`MARGIN` to spare, at the spec's yaw, pitch and fov.
    """
    if not spec.fitted:
        return spec
    target = np.asarray(spec.target if spec.target is not None else box.mean(axis=0))
    if spec.distance is not None:
        return replace(spec, target=tuple(float(x) for x in target))
    t = math.tan(math.radians(spec.fov) / 2) / MARGIN
    v1 = _up_axis_view(target, 1.0, spec, client)
    need = 0.1
    for corner in itertools.product(*box.T):
        x, y, z, _ = v1 @ np.array([*corner, 1.0])
        # at distance d the eye point moves back: depth = d - 1 - z; need |x|, |y| <= t * depth
        need = max(need, 1.0 + z + max(abs(x), abs(y)) / t)
    return replace(spec, target=tuple(float(x) for x in target), distance=float(need))


class PixelCamera:
    """Renders a scene through a fitted :class:`CameraSpec` as ``(S, S, 3)`` uint8 RGB.

    ``S = spec.size``; the image is rendered at ``S * spec.supersample`` px and each block is
    averaged. Near/far planes bracket the target at ``[0.02 d, 4 d]`` for distance ``d``.
    """

    def __init__(self, spec: CameraSpec, client: int) -> None:
        if spec.fitted:
            raise ValueError("PixelCamera: spec has no target/distance; call fit_camera first")
        self.spec, self.client = spec, client
        d = spec.distance
        view = _up_axis_view(np.asarray(spec.target), d, spec, client)
        self._view = view.T.reshape(-1).tolist()  # back to column-major
        self._proj = pb.computeProjectionMatrixFOV(
            spec.fov, 1.0, 0.02 * d, 4.0 * d, physicsClientId=client
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.spec.size, self.spec.size, 3)

    def render(self) -> np.ndarray:
        """The current scene ``(S, S, 3)`` uint8."""
        s, k = self.spec.size, self.spec.supersample
        n = s * k
        img = pb.getCameraImage(
            n,
            n,
            self._view,
            self._proj,
            renderer=pb.ER_TINY_RENDERER,
            flags=pb.ER_NO_SEGMENTATION_MASK,
            physicsClientId=self.client,
        )[2]
        rgb = np.asarray(img, np.uint8).reshape(n, n, 4)[..., :3]
        if k == 1:
            return rgb.copy()
        blocks = rgb.reshape(s, k, s, k, 3).astype(np.uint16).sum(axis=(1, 3))
        return ((blocks + (k * k) // 2) // (k * k)).astype(np.uint8)
