"""Run an exported pixel planner (:func:`mbrl_control.latent.export.export_pixel_planner`) with
numpy + onnxruntime only: the control path from camera frames, no torch.

``OnnxPixelPlanner(path).act(frame)`` takes the camera frame ``(64, 64, 3)`` uint8
(channel-last, as the pixel env, PNG and ``sensor_msgs/Image`` rgb8 hold it), feeds the graph
its carried filter state ``h, z``, the previous action and plan, and standard-normal noise
from a :class:`~mbrl_control.planning.noise.NoiseStream` drawn *after* each call (off the next
tick's critical path). The torch reference, :class:`mbrl_control.latent.agent.TorchPixelPlanner`,
built with the same seed draws the same noise, so both give the same actions to float rounding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.export.runtime import open_session  # no torch
from mbrl_control.planning.noise import NoiseStream  # numpy only

FORMAT_VERSION = 1
"""The pixel planner graph format this runtime reads."""
_REQUIRED = ("kind", "format_version", "deter", "stoch", "action_dim", "image_size",
             "action_low", "action_high", "planner_config", "noise_inputs", "carry")  # fmt: skip


class OnnxPixelPlanner:
    """A pixel planner ONNX file, ready to ``act`` on camera frames.

    Args: ``path``; ``threads`` (onnxruntime intra-op threads; 1 is the latency target's);
    ``seed`` of the noise stream (default: the planner config's). Raises ``FileNotFoundError``
    for a missing file, ``ValueError`` for a file that is not a loadable pixel planner (names
    what is wrong).
    """

    def __init__(self, path: str | Path, *, threads: int = 1, seed: int | None = None) -> None:
        self.path = Path(path)
        self._session = open_session(self.path, threads, "pixel planner")
        self.metadata = read_metadata(self._session, self.path)
        m = self.metadata
        self.image_size = int(m["image_size"])
        self._low = np.asarray(m["action_low"], np.float32)  # (A,)
        self._high = np.asarray(m["action_high"], np.float32)
        self._plan_shape = tuple(m["carry"]["plan"])  # (H, A)
        self._state_shapes = {"h": (1, int(m["deter"])), "z": (1, int(m["stoch"]))}
        shapes = {k: tuple(v) for k, v in m["noise_inputs"].items()}
        seed = int(m["planner_config"].get("seed", 0)) if seed is None else seed
        self._stream = NoiseStream(shapes, seed)
        self._outputs = [o.name for o in self._session.get_outputs()]
        self.last_return = float("nan")
        """The last ``act``'s predicted return of its plan (reward units over the horizon)."""
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """New episode: zero filter state, mid-range previous action and plan; with
        ``seed``, also restart the noise stream from it."""
        self._carry = {k: np.zeros(s, np.float32) for k, s in self._state_shapes.items()}
        # before the first frame: the range midpoint (normalized zero, as in training)
        self._prev_action = ((self._low + self._high) / 2)[None].astype(np.float32)
        self._plan = np.zeros(self._plan_shape, np.float32)
        self.last_return = float("nan")
        if seed is not None:
            self._stream.seed(seed)
        self._noise = self._stream.draw()

    @property
    def action_repeat(self) -> int:
        """Frames each action is held for (1 for files without the key): call :meth:`act` on
        every ``action_repeat``-th frame and apply its action until the next call."""
        return int(self.metadata.get("action_repeat", 1))

    @property
    def camera(self) -> dict[str, Any] | None:
        """The view the planner was trained on (the task ``camera`` section's keys, fitted:
        target and distance filled in), or None for files without it. Frames from another
        view are not what the world model learned: render with it, e.g.
        ``make_pixel_env(task, camera=CameraSpec(**planner.camera))``."""
        camera = self.metadata.get("camera")
        return dict(camera) if camera else None

    @property
    def action_low(self) -> np.ndarray:
        return self._low.copy()

    @property
    def action_high(self) -> np.ndarray:
        return self._high.copy()

    def act(self, frame: np.ndarray) -> np.ndarray:
        """Filter ``frame (S, S, 3)`` uint8 and plan: the action ``(A,)`` float32, task units.

        Raises ``ValueError`` for a frame of another shape or dtype. The previous action fed
        to the filter is this planner's own last action (the controller applies it).
        """
        frame = np.asarray(frame)
        s = self.image_size
        if frame.shape != (s, s, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be ({s}, {s}, 3) uint8, got {frame.shape} {frame.dtype}")
        feed = {
            "image": np.ascontiguousarray(frame.transpose(2, 0, 1)[None]),  # (1, 3, S, S)
            **self._carry,
            "prev_action": self._prev_action,
            "prev_plan": self._plan,
            **self._noise,
        }
        out = dict(zip(self._outputs, self._session.run(None, feed)))
        self._carry = {"h": out["h_next"], "z": out["z_next"]}
        self._plan = out["next_plan"]
        action = np.asarray(out["action"], np.float32).reshape(-1)
        self._prev_action = action[None].copy()
        self.last_return = float(out["plan_return"])
        self._noise = self._stream.draw()  # for the next tick
        return action.copy()


def read_metadata(session: Any, path: Path) -> dict[str, Any]:
    """The graph's JSON metadata; ``ValueError`` naming what is missing or of another kind."""
    props = session.get_modelmeta().custom_metadata_map
    missing = [k for k in _REQUIRED if k not in props]
    if missing and "default_weights" in props:  # what every state planner file carries
        raise ValueError(
            f"{path}: a state planner file (from mbrl-control export): it plans from joint "
            "states, not camera frames (mpc_controller runs it; pixel planners come from "
            "train-pixels)"
        )
    if missing:
        raise ValueError(f"{path}: not a pixel planner file (metadata lacks {missing})")
    try:
        meta = {k: json.loads(props[k]) for k in props}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: corrupt pixel planner metadata ({exc})") from exc
    if meta["kind"] != "latent_pixel_planner":
        raise ValueError(f"{path}: a {meta['kind']!r} graph, not a latent_pixel_planner")
    if meta["format_version"] != FORMAT_VERSION:
        raise ValueError(
            f"{path}: format_version {meta['format_version']}, this runtime reads {FORMAT_VERSION}"
        )
    return meta
