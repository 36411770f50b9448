"""sim_node's camera_view parameter (mbrl_control/latent/camera_view.py): '' keeps the task's
camera, a pixel planner file gives the view it was trained on, a mapping gives that view;
anything else is refused in one line naming the parameter."""

from __future__ import annotations

import pytest

from mbrl_control.latent import WorldModel, WorldModelConfig
from mbrl_control.latent.camera_view import camera_view
from mbrl_control.latent.planner import LatentPlannerConfig
from mbrl_control.tasks.camera_section import CameraSpec

VIEW = {"target": [0.0, 0.0, 0.15], "distance": 1.4, "yaw": 0.0, "pitch": 0.0, "fov": 60.0,
        "size": 64, "supersample": 2}  # fmt: skip


def test_camera_view_from_a_planner_file_a_mapping_or_the_task(tmp_path) -> None:
    from mbrl_control.latent.export import export_filter_step, export_pixel_planner

    small = WorldModel(1, WorldModelConfig(depth=8, deter=32, stoch=8, hidden=32))
    plan = LatentPlannerConfig(horizon=2, iterations=1, population=8, elites=2)
    path = export_pixel_planner(small, [-10.0], [10.0], plan, tmp_path / "p.onnx",
                                {"task": "cartpole_swingup", "camera": VIEW})  # fmt: skip
    want = CameraSpec(target=(0.0, 0.0, 0.15), distance=1.4, pitch=0.0)
    assert camera_view(str(path)) == want
    assert camera_view("{target: [0, 0, 0.15], distance: 1.4, pitch: 0}") == want
    assert camera_view("") is None and camera_view("  ") is None

    bare = export_pixel_planner(small, [-10.0], [10.0], plan, tmp_path / "bare.onnx")
    with pytest.raises(ValueError, match="records no camera"):
        camera_view(str(bare))
    with pytest.raises(ValueError, match=r"parameter 'camera_view'.*not a pixel planner"):
        camera_view(str(export_filter_step(small, tmp_path / "filter.onnx")))
    with pytest.raises(FileNotFoundError, match="parameter 'camera_view'"):
        camera_view(str(tmp_path / "none.onnx"))
    with pytest.raises(ValueError, match="fov"):
        camera_view("{fov: 500}")
    with pytest.raises(ValueError, match="neither a pixel planner file nor a camera mapping"):
        camera_view("close")
