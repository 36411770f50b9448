"""``PixelControllerConfig``: the parameters of ``pixel_controller``, each live or read-only.

Every field is one ROS parameter of the same name (``mbrl_control.ros.params.declare_config``);
a read-only set is refused by rclpy, a live one is applied after :meth:`__post_init__`
accepts it (a refusal names the parameter and what it accepts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mbrl_control.control.config import SEED_MAX
from mbrl_control.control.params import autostart_field, param_meta, thread_priority_field


@dataclass(frozen=True)
class PixelControllerConfig:
    """Parameters of ``pixel_controller`` (each is a ROS parameter of the same name)."""

    model_path: str = field(
        default="",
        metadata=param_meta(
            "pixel planner ONNX file (from mbrl-control train-pixels: RUN/planner.onnx), inside "
            "model_dir (relative paths resolve there); read at start-up (its task, image size "
            "and camera), loaded at configure and by ~/reload_model (a file of another task, "
            "image size or camera view is refused there)"
        ),
    )
    model_dir: str = field(
        default="",
        metadata=param_meta(
            "directory model paths must lie in ('' = directory of model_path)", read_only=True
        ),
    )
    task: str = field(
        default="",
        metadata=param_meta(
            "'' = the task recorded in model_path; a built-in name or task file path must be "
            "that task (else start-up is refused naming both)",
            read_only=True,
        ),
    )
    control_rate: float = field(
        default=0.0,
        metadata=param_meta(
            "control ticks per second (0 = the task's rate); the planner decides on the first "
            "tick after a new frame, action_repeat ticks (its file says how many; one less to "
            "meet a frame) after its last decision, and the action is held between",
            range=(0.0, 1000.0),
            read_only=True,
        ),
    )
    image_timeout: float = field(
        default=0.5,
        metadata=param_meta(
            "s since the newest camera image before the watchdog publishes the safe action",
            range=(0.001, 10.0),
        ),
    )
    threads: int = field(
        default=1,
        metadata=param_meta("onnxruntime intra-op threads", read_only=True, range=(1, 64)),
    )
    start_enabled: bool = field(
        default=True,
        metadata=param_meta(
            "publish planned actions once active (else ~/enable first)", read_only=True
        ),
    )
    seed: int = field(
        default=-1,
        metadata=param_meta(
            "planner noise seed: the noise restarts from it at every (re)start (activate, "
            "~/enable on, ~/reset, images back after the watchdog); -1 = a fresh seed from the "
            "OS each time, reported on /diagnostics as noise_seed",
            range=(-1, SEED_MAX),
        ),
    )
    thread_priority: int = thread_priority_field()
    autostart: bool = autostart_field()

    def __post_init__(self) -> None:
        for name in ("control_rate", "image_timeout"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}={value!r}: need a finite value >= 0")
        if self.image_timeout <= 0:
            raise ValueError(f"image_timeout={self.image_timeout!r}: need a value > 0")
        if isinstance(self.seed, bool) or not -1 <= int(self.seed) <= SEED_MAX:
            raise ValueError(f"seed={self.seed!r}: need -1 (fresh each start) or 0..{SEED_MAX}")
