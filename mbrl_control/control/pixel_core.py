"""PixelControllerCore: camera frames in, safe commands out, with an ONNX pixel planner.

No rclpy and no torch here (numpy + onnxruntime through
:class:`~mbrl_control.latent.runtime.OnnxPixelPlanner`): the node decodes ``sensor_msgs/Image``
messages, hands over the frames and the times (s, on the node's clock) and publishes what
:meth:`tick` returns.

- The planner file alone defines the robot: its metadata names the task (safe action, bounds,
  command layout, control rate), the image size, the camera it was trained on and the action
  repeat. At construction the file is opened and checked (a state planner file, a missing or
  corrupt file, a task that cannot be built, a ``task`` parameter that is another task: one
  ``ValueError``/``FileNotFoundError`` naming it); :meth:`reload` (lifecycle configure,
  ``~/reload_model``) opens the planner that runs, checks it is for this robot and camera,
  probes it on a blank frame and swaps it in between two ticks
  (:class:`~mbrl_control.control.model_dir.ModelSwap`, shared with ``mpc_controller``); a
  file of another kind, task, image size or camera view, or a broken one, is refused in one
  line and the live planner keeps running. A swap starts the new planner's episode (zero
  filter state, noise from the seed) at the next decision; its action repeat is taken.
- Decisions follow the frames: the planner was trained with each action held for
  ``action_repeat`` (R) env steps, one new frame per decision. A tick decides (plans on the
  newest frame; the other ticks publish the held action, clipped to the task's bounds by the
  shared :class:`~mbrl_control.control.safety.ActionFilter`) when a frame newer than the last
  decision's is there and R ticks have passed, or R - 1 ticks when that frame is the only new
  one and the camera is not faster than the decisions (its frames come >= R - 0.5 ticks
  apart): the decisions lock to the camera's phase, so a frame waits at most one tick for
  its decision, and a faster camera still gets one decision every R ticks. A late frame is
  waited for (the action held) up to 2R ticks after the last decision; then the newest frame
  is planned on again (counted as ``reused_frames``), and past ``image_timeout`` the watchdog
  gives the safe action.
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
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.control.config import SEED_MAX
from mbrl_control.control.core import Level, Status
from mbrl_control.control.model_dir import ModelDir, ModelSwap
from mbrl_control.control.pixel_config import PixelControllerConfig
from mbrl_control.control.safety import ActionFilter
from mbrl_control.control.stats import LatencyWindow
from mbrl_control.latent.runtime import OnnxPixelPlanner
from mbrl_control.tasks import Task, get_task

FRAME_INTERVAL_WEIGHT = 0.2
"""Weight of the newest gap in the running mean of the camera's frame interval."""


class PixelControllerCore:
    """Camera frames in, safe commands out (see module docstring).

    Thread-safety: :meth:`set_image` (executor thread), :meth:`reload`/:meth:`reload_async`
    (a loader thread) and :meth:`tick` (planning thread) may run concurrently; the shared
    frame, planner and counters are guarded by one lock held only for short updates, never
    while the planner runs or loads.
    """

    def __init__(self, cfg: PixelControllerConfig) -> None:
        self.cfg = cfg
        self._models = ModelDir(cfg.model_dir, cfg.model_path)
        if not cfg.model_path:
            raise ValueError(
                "model_path is empty: set it to a pixel planner file (mbrl-control train-pixels "
                "writes RUN/planner.onnx)"
            )
        self.path = self._models.resolve(cfg.model_path)  # the live planner's file
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
        self._swap = ModelSwap(self._load, self._swap_in, lambda: self._live_id)
        self._planner: OnnxPixelPlanner | None = None
        self._frame: np.ndarray | None = None  # (S, S, 3) uint8, the newest accepted
        self._frame_time = -math.inf  # when it arrived (s, node clock)
        self._frame_interval = math.nan  # running mean of the gaps between frames (s)
        self._frame_count = 0  # accepted frames so far
        self._planned_frame = -1  # _frame_count of the frame the last plan used
        self._held: np.ndarray | None = None  # the action being repeated (None: decide now)
        self._since = 0  # ticks since the last decision
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
    def check(self, cfg: PixelControllerConfig) -> None:
        """Raise ``ValueError`` unless ``cfg`` can be applied live (model_path inside model_dir)."""
        if cfg.model_path:
            self._models.resolve(cfg.model_path)

    def apply(self, cfg: PixelControllerConfig) -> None:
        """Use the live parameters of ``cfg`` (image_timeout, seed; model_path at the next
        :meth:`reload`) from the next tick on."""
        with self._lock:
            self.cfg = cfg

    def reload(self, path: str) -> tuple[bool, str]:
        """Load the pixel planner ``path`` and swap it in between two ticks (lifecycle
        configure, ``~/reload_model``); on any failure the live one keeps running. Blocks for
        the whole load (or use :meth:`reload_async`). Returns ``(ok, message)``."""
        return self._swap.reload(path)

    def reload_async(self, path: str, done: Callable[[bool, str], None]) -> threading.Thread:
        """:meth:`reload` in a thread of its own; ``done(ok, message)`` is called from it."""
        return self._swap.reload_async(path, done)

    def _load(self, path: str) -> tuple[OnnxPixelPlanner, str]:
        """Open, check and probe ``path`` (slow: never on the control thread): ``(planner,
        resolved path)``, or ``ValueError``/``FileNotFoundError`` naming the file."""
        where = self._models.resolve(path)
        planner = OnnxPixelPlanner(where, threads=self.cfg.threads)  # kind, corrupt, missing
        why = self._mismatch(planner)
        if why:
            raise ValueError(f"{where}: refused: {why}")
        probe = planner.act(np.zeros((self.image_size,) * 2 + (3,), np.uint8))
        if probe.shape != (self.task.act_dim,) or not np.all(np.isfinite(probe)):
            raise ValueError(
                f"{where}: probe call returned {probe!r}; need {self.task.act_dim} finite"
            )
        planner.reset()
        return planner, str(where)

    def _mismatch(self, planner: OnnxPixelPlanner) -> str | None:
        """Why ``planner`` cannot drive this controller's robot from its camera (None: it can):
        another task or action size, another image size or camera view."""
        recorded = planner.metadata.get("task")
        if recorded != self.task.name:
            task = self.task.name
            return f"the planner was trained on task {recorded!r}, this controller runs {task!r}"
        if planner.action_low.shape != (self.task.act_dim,):
            return (
                f"{planner.action_low.size} actions, task {self.task.name} has {self.task.act_dim}"
            )
        s, n = self.image_size, planner.image_size
        if n != s:
            return f"the planner takes {n}x{n} px frames, this controller's camera gives {s}x{s}"
        if json.dumps(planner.camera, sort_keys=True) != json.dumps(self.camera, sort_keys=True):
            return (
                f"the planner was trained on the camera view {json.dumps(planner.camera)}, this "
                f"controller's frames come from {json.dumps(self.camera)}"
            )
        return None

    def _swap_in(self, planner: OnnxPixelPlanner, model_id: str) -> None:
        """Make ``planner`` the live one between two ticks. Its episode starts at the next
        decision (zero filter state, noise from the seed); the held action stays until then,
        so the decisions keep the camera's phase."""
        with self._lock:
            first = self._planner is None
            self._planner, self.path = planner, Path(model_id)
            self.action_repeat = max(1, planner.action_repeat)
            self._restart_locked()
            self.last_return = math.nan
        if first:
            self.status = Status(Level.WARN, "loaded: waiting for activate")

    @property
    def _live_id(self) -> str:
        return str(self.path) if self._planner is not None else ""

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
        """The next tick plans, from zero filter state, mid-range previous action, no warm
        start, noise from ``cfg.seed`` (-1: a fresh seed). Returns the seed."""
        with self._lock:
            self._held = None
            return self._restart_locked()

    def _restart_locked(self) -> int:
        """(Under the lock) the next planner call starts an episode; returns its seed."""
        seed = self.cfg.seed if self.cfg.seed >= 0 else secrets.randbelow(SEED_MAX + 1)
        self._pending_seed = self.noise_seed = seed
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
                    gap = now - self._frame_time
                    if 0 < gap <= self.cfg.image_timeout:  # not across a stall
                        mean = self._frame_interval
                        w = FRAME_INTERVAL_WEIGHT
                        self._frame_interval = gap if math.isnan(mean) else mean + w * (gap - mean)
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
            self._since += 1
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
        with self._lock:
            held = self._held if not self._decision_due(count) else None
        if held is not None:  # action repeat: hold the last decision's action
            return held.copy(), self.status
        if self._stale:  # images are back: the planner's filter state is from before the gap
            self._stale = False
            self.request_restart()
        with self._lock:  # the planner and its restart together (a swap may have come)
            planner, seed, self._pending_seed = self._planner, self._pending_seed, None
        if planner is None:
            return self._safe(Level.ERROR, "no model loaded (configure)")
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
        sent = self.filter(action)
        with self._lock:
            self.plans += 1
            self.deadline_misses += int(elapsed > self.period)
            self.reused_frames += int(count == self._planned_frame)
            self._planned_frame = count
            self._held, self._since = sent, 0
        self.status = Status(Level.OK, "planning")
        return sent.copy(), self.status

    def _decision_due(self, count: int) -> bool:
        """(Under the lock) whether this tick replaces the held action, the newest accepted
        frame being number ``count`` (the rule: module docstring, "Decisions follow the
        frames")."""
        if self._held is None:  # a (re)start or a fault: decide at once
            return True
        r, since, new = self.action_repeat, self._since, count - self._planned_frame
        if new <= 0:  # the frame is late: hold for up to one more decision period
            return since >= 2 * r
        if since >= r:
            return True
        camera_in_step = self._frame_interval >= (r - 0.5) * self.period
        return since == r - 1 and new == 1 and camera_in_step

    def halt(self, level: Level, message: str) -> np.ndarray:
        """The safe action ``(A,)`` for a way out (deactivate, shutdown, signal, crash)."""
        return self._safe(level, message)[0]

    def _safe(self, level: Level, message: str) -> tuple[np.ndarray, Status]:
        self.filter.reset(self.safe_action)
        with self._lock:
            self._held = None  # the next good tick plans at once
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
