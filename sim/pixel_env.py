"""Pixel observations: a task's env seen through its ``camera`` section (docs/pixels.md).

``make_pixel_env(task, frame_stack=k)`` is :func:`mbrl_sim.make_env` with the observation
replaced by the camera frame ``(S, S, 3)`` uint8 (channel-last: what ``render()``, PNG and
``sensor_msgs/Image`` rgb8 hold; :mod:`mbrl_control.data.image_store` hands torch
``(B, T, 3, S, S)``). With ``frame_stack = k > 1`` gymnasium's own
:class:`~gymnasium.wrappers.FrameStackObservation` stacks the last k frames ``(k, S, S, 3)``,
oldest first, the reset frame repeated at the start. Actions, rewards and termination are
the state env's; its state observation ``(O,)`` stays available as ``info["state"]`` (for
reward heads, oracles and evaluation, never the agent's input).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import gymnasium
import numpy as np
from mbrl_sim.camera import PixelCamera, fit_camera, workspace_box

from mbrl_control.tasks.camera_section import CameraSpec


def sim_camera(sim: Any, spec: CameraSpec | None = None) -> PixelCamera:
    """The pixel camera of a :class:`~mbrl_sim.env.MbrlSimEnv` ``sim``: ``spec`` (default: the
    task's ``camera`` section, or all defaults for a task without one), its missing
    target/distance fitted to the workspace (every link over the joints' ranges)."""
    spec = spec or getattr(sim.task, "camera", None) or CameraSpec()
    if spec.fitted:
        limits = sim.task.position_limits or [(-np.inf, np.inf)] * len(sim.scene.joints)
        box = workspace_box(sim.scene, tuple(limits))
        spec = fit_camera(spec, box, sim.scene.client)
    return PixelCamera(spec, sim.scene.client)


class MbrlPixelEnv(gymnasium.Env):
    """A :class:`~mbrl_sim.env.MbrlSimEnv` (``sim``) observed through its camera.

    A gymnasium env of its own (not a wrapper), so ``env.unwrapped`` is this env and
    gymnasium's checker sees it whole; the state env is :attr:`sim`. ``camera``: a
    :class:`CameraSpec` (default: the task's ``camera`` section; see :func:`sim_camera`).
    Observation space ``Box(0, 255, (S, S, 3), uint8)``; ``info["state"]`` is the state ``(O,)``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, sim: Any, camera: CameraSpec | None = None) -> None:
        self.sim = sim
        self.camera = sim_camera(sim, camera)
        self.observation_space = gymnasium.spaces.Box(0, 255, self.camera.shape, np.uint8)
        self.action_space = sim.action_space
        self.render_mode = sim.render_mode
        self.metadata = sim.metadata

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        state, info = self.sim.reset(seed=seed, options=options)
        return self.camera.render(), {**info, "state": state}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        state, reward, terminated, truncated, info = self.sim.step(action)
        return self.camera.render(), reward, terminated, truncated, {**info, "state": state}

    def render(self) -> np.ndarray | None:
        """The state env's (large) debugging view; the observation is :attr:`camera`'s."""
        return self.sim.render()

    def close(self) -> None:
        self.sim.close()


def make_pixel_env(
    task: str | Path | Any,
    frame_stack: int = 1,
    camera: CameraSpec | None = None,
    profile: str | Path | Any = None,
    seed: int | None = None,
    **kwargs: Any,
) -> gymnasium.Env:
    """The randomized env of ``task`` with pixel observations (see module).

    Raises: ValueError if ``frame_stack`` < 1.
    """
    from mbrl_sim import make_env

    if isinstance(frame_stack, bool) or not isinstance(frame_stack, int) or frame_stack < 1:
        raise ValueError(f"frame_stack={frame_stack!r}; allowed: an integer >= 1")
    env: gymnasium.Env = MbrlPixelEnv(make_env(task, profile=profile, seed=seed, **kwargs), camera)
    if frame_stack > 1:
        env = gymnasium.wrappers.FrameStackObservation(env, frame_stack)
    return env
