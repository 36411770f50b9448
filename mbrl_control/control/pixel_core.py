"""PixelControllerCore: camera frames in, safe commands out, with an ONNX pixel planner.

No rclpy and no torch here (numpy + onnxruntime through
:class:`~mbrl_control.latent.runtime.OnnxPixelPlanner`): the node decodes ``sensor_msgs/Image``
messages, hands over the frames and the times (s, on the node's clock) and publishes what
:meth:`tick` returns.

- The planner file alone defines the robot: its metadata names the task (safe action, bounds,
  command layout, control rate), the image size, the camera it was trained on and the action
  repeat. At construction the file is opened and checked (a state planner file, a missing or
  corrupt file, a task that cannot be built, a ``task`` parameter that is another task: one
  ``ValueError``/``FileNotFoundError`` naming it); :meth:`load` (lifecycle configure) opens
  the planner that runs and probes it on a blank frame.
- Action repeat: the planner was trained with each action held for ``action_repeat`` env
  steps, so it acts on every ``action_repeat``-th control tick, on the newest frame, and the
  ticks between publish the held action (clipped to the task's bounds by the shared
  :class:`~mbrl_control.control.safety.ActionFilter`).
- Every fault returns the task's safe action and a status naming why: disabled, no model, no
  image yet, the stale-image watchdog (newest frame older than ``image_timeout``), a planner
  exception or a non-finite action. After any of them the next tick plans at once; after
  the watchdog the planner also restarts (its filter state and its previous action are
  stale: the robot got the safe action meanwhile).
- Images are refused, never fatal: an undecodable message (encoding, size) or a frame of
  another size than the planner's (its camera is not this one) is counted and named, and the
  frame is dropped; the watchdog then decides.
- Noise seed: the planner's noise restarts at every (re)start (activate, ``~/enable`` on,
  ``~/reset``, images back after the watchdog) from ``cfg.seed``, or with -1 from a fresh seed
  drawn from the OS (reported as ``noise_seed``); applied by the planning thread.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mbrl_control.control.config import SEED_MAX
from mbrl_control.control.core import Level, Status
from mbrl_control.control.model_dir import ModelDir
from mbrl_control.control.pixel_config import PixelControllerConfig
from mbrl_control.control.safety import ActionFilter
from mbrl_control.control.stats import LatencyWindow
from mbrl_control.latent.runtime import OnnxPixelPlanner
from mbrl_control.tasks import Task, get_task


class PixelControllerCore:
    """Camera frames in, safe commands out (see module docstring).

    Thread-safety: :meth:`set_image` (executor thread) and :meth:`tick` (planning thread) may
    run concurrently; the shared frame and counters are guarded by one lock held only for
    short updates, never while the planner runs.
    """

    def __init__(self, cfg: PixelControllerConfig) -> None:
        self.cfg = cfg
        self._models = ModelDir(cfg.model_dir, cfg.model_path)
        if not cfg.model_path:
            raise ValueError(
                "model_path is empty: set it to a pixel planner file (mbrl-control train-pixels "
                "writes RUN/planner.onnx)"
            )
        self.path = self._models.resolve(cfg.model_path)
        first = OnnxPixelPlanner(self.path, threads=1)  # refuses other files in words
        self.task = self._task_for(cfg, first)
        self.action_repeat = max(1, first.action_repeat)
        self.image_size = first.image_size
        self.camera = first.camera
        rate = cfg.control_rate or self.task.control_hz
        self.period = 1.0 / rate
        self.safe_action = self.task.safe_action.astype(np.float64)
        self.filter = ActionFilter(self.task.low, self.task.high, 0.0, self.period)
        self.latency = LatencyWindow()
        self.image_to_command = LatencyWindow()
        self._lock = threading.Lock()
        self._planner: OnnxPixelPlanner | None = None
        self._frame: np.ndarray | None = None  # (S, S, 3) uint8, the newest accepted
        self._frame_time = -math.inf  # when it arrived (s, node clock)
        self._frame_count = 0  # accepted frames so far
        self._planned_frame = -1  # _frame_count of the frame the last plan used
        self._held: np.ndarray | None = None  # the action being repeated
        self._hold_left = 0  # ticks it is still held for
        self._stale = False  # the watchdog tripped: restart the planner when images return
        self._pending_seed: int | None = None
        self.noise_seed: int | None = None
        self.enabled = cfg.start_enabled
        self.ticks = 0
        self.plans = 0
        self.deadline_misses = 0
        self.reused_frames = 0
        self.images = 0
        self.rejected_images = 0
        self.last_rejected = ""
        self.last_return = math.nan
        self.status = Status(Level.ERROR, "no model loaded (configure)")

    def _task_for(self, cfg: PixelControllerConfig, planner: OnnxPixelPlanner) -> Task:
        """The task the file was trained on; ``ValueError`` naming the file when it cannot be
        built, its action size differs, or the ``task`` parameter names another task."""
        recorded = planner.metadata.get("task")
        if not isinstance(recorded, str) or not recorded:
            raise ValueError(f"{self.path}: the pixel planner's metadata names no task")
        if cfg.task:  # e.g. the task file of a planner that records only the task's name
            task = get_task(cfg.task)
            if task.name != recorded:
                raise ValueError(
                    f"{self.path}: refused: the planner was trained on task {recorded!r}, the "
                    f"task parameter says {task.name!r}"
                )
        else:
            try:
                task = get_task(recorded)
            except (ValueError, FileNotFoundError) as exc:
                raise ValueError(
                    f"{self.path}: its task {recorded!r} cannot be built ({exc}); give the "
                    "task file as the task parameter"
                ) from None
        if planner.action_low.shape != (task.act_dim,):
            raise ValueError(
                f"{self.path}: {planner.action_low.size} actions, task {task.name} has "
                f"{task.act_dim}"
            )
        return task

    # ---- parameters and model --------------------------------------------------------------
    def apply(self, cfg: PixelControllerConfig) -> None:
        """Use the live parameters of ``cfg`` (image_timeout, seed) from the next tick on."""
        with self._lock:
            self.cfg = cfg

    def load(self) -> tuple[bool, str]:
        """Open the planner that runs (lifecycle configure) and probe it on a blank frame.
        Returns ``(ok, message)``; on failure nothing changes."""
        try:
            planner = OnnxPixelPlanner(self.path, threads=self.cfg.threads)
            probe = planner.act(np.zeros((self.image_size,) * 2 + (3,), np.uint8))
            if probe.shape != (self.task.act_dim,) or not np.all(np.isfinite(probe)):
                raise ValueError(f"probe call returned {probe!r}; need {self.task.act_dim} finite")
            planner.reset()
        except (ValueError, FileNotFoundError, RuntimeError) as exc:
            return False, f"no model loaded: {exc}"
        with self._lock:
            self._planner = planner
            self._held, self._hold_left = None, 0
        self.status = Status(Level.WARN, "loaded: waiting for activate")
        return True, (
            f"loaded {self.path.name} (task {self.task.name}, {self.image_size} px frames, "
            f"action repeat {self.action_repeat}, control {1 / self.period:g} Hz)"
        )

    def unload(self) -> None:
        with self._lock:
            self._planner = None
        self.status = Status(Level.ERROR, "no model loaded (configure)")

    @property
    def has_model(self) -> bool:
        return self._planner is not None

    @property
    def model_id(self) -> str:
        return self.path.name if self._planner is not None else ""

    def request_restart(self) -> int:
        """From the next tick that plans: zero filter state, mid-range previous action, no
        warm start, noise from ``cfg.seed`` (-1: a fresh seed). Returns the seed."""
        with self._lock:
            seed = self.cfg.seed if self.cfg.seed >= 0 else secrets.randbelow(SEED_MAX + 1)
            self._pending_seed = self.noise_seed = seed
            self._held, self._hold_left = None, 0
        return seed

    def set_enabled(self, enabled: bool) -> None:
        """``~/enable``: off publishes the safe action; on (from off) restarts planning."""
        if enabled and not self.enabled:
            self.request_restart()
        self.enabled = enabled

    # ---- images ----------------------------------------------------------------------------
    def set_image(self, decode: Callable[[], np.ndarray], now: float) -> str | None:
        """Take the frame ``decode()`` gives (``(H, W, 3)`` uint8, e.g. ``image_array(msg)``)
        as the newest, received at ``now``. Returns None, or why it was refused (one line:
        undecodable, or not the planner's image size); a refused frame changes nothing."""
        try:
            frame = np.asarray(decode())
        except Exception as exc:  # whatever a malformed message raises: refused, not fatal
            reason = f"undecodable Image: {exc}"
        else:
            s = self.image_size
            if frame.shape == (s, s, 3) and frame.dtype == np.uint8:
                with self._lock:
                    self._frame, self._frame_time = frame, now
                    self._frame_count += 1
                    self.images += 1
                return None
            shape = "x".join(map(str, frame.shape[1::-1])) if frame.ndim >= 2 else frame.shape
            reason = (
                f"Image of {shape} px ({frame.dtype}): the planner was trained on {s}x{s} RGB "
                f"frames of its camera {json.dumps(self.camera)} (render with that view: "
                "sim_node camera_view:=<the planner file>)"
            )
        with self._lock:
            self.rejected_images += 1
            self.last_rejected = reason
        return reason

    # ---- the control tick ------------------------------------------------------------------
    def tick(self, now: float) -> tuple[np.ndarray, Status]:
        """One control step at ``now`` (s, the clock of :meth:`set_image`): the action
        ``(A,)`` to publish and the status behind it."""
        with self._lock:
            self.ticks += 1
            planner, cfg = self._planner, self.cfg
            frame, age, count = self._frame, now - self._frame_time, self._frame_count
        if not self.enabled:
            return self._safe(Level.WARN, "disabled via ~/enable: publishing the safe action")
        if planner is None:
            return self._safe(Level.ERROR, "no model loaded (configure)")
        if frame is None or age > cfg.image_timeout:
            self._stale = True
            what = f"newest camera image {age:.2f} s old" if frame is not None else "no image yet"
            return self._safe(Level.WARN, f"watchdog: {what} (image_timeout {cfg.image_timeout} s)")
        with self._lock:  # action repeat: hold the last plan's action
            held = self._held if self._hold_left > 0 else None
            self._hold_left -= int(held is not None)
        if held is not None:
            return held.copy(), self.status
        if self._stale:  # images are back: the planner's filter state is from before the gap
            self._stale = False
            self.request_restart()
        with self._lock:
            seed, self._pending_seed = self._pending_seed, None
        t0 = time.perf_counter()
        try:
            if seed is not None:
                planner.reset(seed=seed)
            action = np.asarray(planner.act(frame), np.float64)
        except Exception as exc:  # the controller never dies on a planner error
            return self._safe(Level.ERROR, f"planner raised {type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - t0
        if action.shape != self.safe_action.shape or not np.all(np.isfinite(action)):
            return self._safe(Level.ERROR, "planner returned a non-finite action")
        self.latency.add(elapsed)
        self.image_to_command.add(max(age, 0.0) + elapsed)
        self.last_return = planner.last_return
        with self._lock:
            self.plans += 1
            self.deadline_misses += int(elapsed > self.period)
            self.reused_frames += int(count == self._planned_frame)
            self._planned_frame = count
        sent = self.filter(action)
        with self._lock:
            self._held, self._hold_left = sent, self.action_repeat - 1
        self.status = Status(Level.OK, "planning")
        return sent.copy(), self.status

    def halt(self, level: Level, message: str) -> np.ndarray:
        """The safe action ``(A,)`` for a way out (deactivate, shutdown, signal, crash)."""
        return self._safe(level, message)[0]

    def _safe(self, level: Level, message: str) -> tuple[np.ndarray, Status]:
        self.filter.reset(self.safe_action)
        with self._lock:
            self._held, self._hold_left = None, 0  # the next good tick plans at once
        self.status = Status(level, message)
        return self.safe_action.copy(), self.status

    def diagnostics(self, now: float) -> dict[str, Any]:
        """Values for /diagnostics: latency, misses, images, model, camera."""
        e2e = self.image_to_command.summary()
        with self._lock:
            age = now - self._frame_time
            values: dict[str, Any] = {
                **self.latency.summary(),
                "image_to_command_p50_ms": e2e["p50_ms"],
                "image_to_command_p99_ms": e2e["p99_ms"],
                "ticks": self.ticks,
                "plans": self.plans,
                "deadline_misses": self.deadline_misses,
                "images": self.images,
                "rejected_images": self.rejected_images,
                "last_rejected": self.last_rejected,
                "reused_frames": self.reused_frames,
                "image_age_ms": age * 1e3 if math.isfinite(age) else "",
            }
        values.update(
            {
                "model_id": self.model_id,
                "model_path": str(self.path),
                "noise_seed": "" if self.noise_seed is None else self.noise_seed,
                "enabled": self.enabled,
                "control_rate_hz": 1.0 / self.period,
                "action_repeat": self.action_repeat,
                "image_size": self.image_size,
                "camera": json.dumps(self.camera),
                "plan_return": self.last_return,
            }
        )
        return values
