"""The view a simulator renders pixel observations from: a task's own ``camera`` section, a
pixel planner's trained view, or an explicit camera mapping (``sim_node camera_view``).

A pixel planner learned from one view (``train-pixels`` uses a close view for the built-in
cart-pole, docs/pixels.md "The camera"); frames from another are not what its world model
knows. :func:`camera_view` turns the ``camera_view`` parameter into the
:class:`~mbrl_control.tasks.camera_section.CameraSpec` to render with. No torch (the planner
file is read by onnxruntime).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from mbrl_control.tasks.camera_section import KEYS, CameraSpec, parse_camera

EXAMPLE = "{target: [0, 0, 0.15], distance: 1.4, pitch: 0}"


def camera_view(value: str, where: str = "parameter 'camera_view'") -> CameraSpec | None:
    """``''``: None (the task's ``camera`` section). A path to a pixel planner ONNX file: the
    view it was trained on (``OnnxPixelPlanner.camera``). Else a YAML/JSON mapping of the
    ``camera`` section's keys, e.g. :data:`EXAMPLE`.

    Raises ``ValueError`` (one line naming ``where``): a file that is not a pixel planner or
    carries no camera, a mapping with a bad key or value, or text that is neither;
    ``FileNotFoundError`` for a missing ``.onnx`` path.
    """
    text = value.strip()
    if not text:
        return None
    if text.endswith(".onnx") or Path(text).is_file():
        from mbrl_control.latent.runtime import OnnxPixelPlanner

        try:
            camera = OnnxPixelPlanner(text).camera
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{where}: {exc}") from None
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if not camera:
            raise ValueError(f"{where}: {text} records no camera (exported before it did)")
        return parse_camera(camera, f"{where} ({text})")
    try:
        mapping = yaml.safe_load(text)
    except yaml.YAMLError:
        mapping = None
    if not isinstance(mapping, dict):
        raise ValueError(
            f"{where}: {value!r} is neither a pixel planner file nor a camera mapping; "
            f"allowed: '' (the task's camera), PLANNER.onnx, or e.g. {EXAMPLE} (keys: "
            f"{', '.join(KEYS)})"
        )
    return parse_camera(mapping, where)
