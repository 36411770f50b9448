"""Pixel observations (sim/pixel_env.py, sim/camera.py, the task file's ``camera`` section)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env
from mbrl_sim.pixel_env import make_pixel_env

from mbrl_control.tasks.camera_section import CameraSpec, parse_camera
from mbrl_control.tasks.schema import TaskFileError
from mbrl_control.tasks.task_file import builtin_task_files, load_task_file


def _blue(frame: np.ndarray) -> np.ndarray:
    """Column indices of the cart's blue (rgba 0.2 0.3 0.8) pixels."""
    f = frame.astype(int)
    return np.nonzero(((f[..., 2] - f[..., 0]) > 60).any(axis=0))[0]


def test_cartpole_pixel_env_passes_gymnasium_checker() -> None:
    env = make_pixel_env("cartpole_swingup", seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker's warnings count as failures, except
        # its advice to rescale actions to [-1, 1]: the task's units (N) are kept on purpose
        warnings.filterwarnings("ignore", message=".*symmetric and normalized space")
        check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert env.observation_space.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    assert info["state"].shape == (5,)  # the state stays in info


def test_frame_stack_shapes_and_order(seed: int) -> None:
    env = make_pixel_env("cartpole_swingup", frame_stack=3, seed=seed)
    assert env.observation_space.shape == (3, 64, 64, 3)
    obs, _ = env.reset(seed=seed)
    assert np.array_equal(obs[0], obs[2])  # padded with the reset frame
    frames = [obs[-1]]
    for _ in range(4):
        obs, *_ = env.step(np.array([10.0], np.float32))
        frames.append(obs[-1])
    assert np.array_equal(obs, np.stack(frames[-3:]))  # oldest first
    with pytest.raises(ValueError, match="frame_stack"):
        make_pixel_env("cartpole_swingup", frame_stack=0)


def test_default_camera_sees_the_whole_rail_and_the_pole() -> None:
    env = make_pixel_env("cartpole_swingup", seed=0)
    env.reset(seed=0)
    sim = env.unwrapped.sim
    cols = {}
    for x in (-2.5, 0.0, 2.5):  # the task's position range ends and the centre
        sim.set_joint_state(np.array([x, 0.0]), np.zeros(2))
        frame = env.unwrapped.camera.render()
        cols[x] = _blue(frame)
        assert cols[x].size > 0, f"cart at x={x} not in view"
        assert cols[x].min() > 0 and cols[x].max() < 63, f"cart at x={x} touches the border"
    assert cols[-2.5].max() < cols[0.0].min() and cols[0.0].max() < cols[2.5].min()
    # the 2 cm pole (0.2 px wide at 64 px) is seen: every tilt changes pixels, at every place
    for x in (-2.4, -1.0, 0.5, 2.4):
        for theta in (0.3, 1.0, 2.0):
            sim.set_joint_state(np.array([x, 0.0]), np.zeros(2))
            a = env.unwrapped.camera.render().astype(int)
            sim.set_joint_state(np.array([x, theta]), np.zeros(2))
            b = env.unwrapped.camera.render().astype(int)
            changed = (np.abs(a - b).sum(axis=2) > 20).sum()
            assert changed >= 3, f"pole tilt {theta} at x={x} changes {changed} px"
    # upright vs hanging changes pixels above vs below the cart
    sim.set_joint_state(np.array([0.0, 0.0]), np.zeros(2))
    up = env.unwrapped.camera.render().astype(int)
    sim.set_joint_state(np.array([0.0, np.pi]), np.zeros(2))
    down = env.unwrapped.camera.render().astype(int)
    diff = np.abs(up - down).sum(axis=2)
    rows = np.nonzero(diff.max(axis=1) > 20)[0]
    assert rows.size >= 4 and rows.max() - rows.min() >= 6  # a pole length apart


def test_frames_are_deterministic_for_a_seed(seed: int) -> None:
    a, b = (make_pixel_env("cartpole_swingup", seed=seed) for _ in range(2))
    for env in (a, b):
        env.reset(seed=seed)
    for _ in range(5):
        oa, *_ = a.step(np.array([3.0], np.float32))
        ob, *_ = b.step(np.array([3.0], np.float32))
        assert np.array_equal(oa, ob)


def test_explicit_camera_and_supersample(tmp_path: Path) -> None:
    spec = CameraSpec(target=(0.0, 0.0, 0.0), distance=6.0, size=32, supersample=1)
    env = make_pixel_env("cartpole_swingup", camera=spec, seed=0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (32, 32, 3) and env.unwrapped.camera.spec == spec


def test_camera_section_in_a_task_file(tmp_path: Path) -> None:
    data = yaml.safe_load(builtin_task_files()["cartpole_swingup"].read_text())
    data["robot"]["urdf"] = "package://mbrl_sim/assets/cartpole.urdf"
    data["camera"] = {"yaw": 10, "pitch": -5, "fov": 50, "size": 48, "supersample": 2}
    path = tmp_path / "cam.task.yaml"
    path.write_text(yaml.safe_dump(data))
    task = load_task_file(path)
    assert task.camera == CameraSpec(yaw=10.0, pitch=-5.0, fov=50.0, size=48, supersample=2)
    env = make_pixel_env(task, seed=0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (48, 48, 3)
    assert env.unwrapped.camera.spec.distance is not None  # fitted


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ({"zoom": 2}, r"unknown key\(s\) \['zoom'\]"),
        ({"fov": 0}, r"camera.fov=0 outside"),
        ({"fov": 180}, r"camera.fov=180 outside"),
        ({"size": 4}, r"camera.size: expected an integer >= 8"),
        ({"supersample": 0}, r"camera.supersample: expected an integer >= 1"),
        ({"target": [0, 0]}, r"camera.target: expected 3 entries"),
        ({"distance": -1}, r"camera.distance=-1 outside"),
        ({"size": 512, "supersample": 4}, r"size \* supersample = 2048 px"),
        ("side", r"camera: expected a mapping"),
    ],
)
def test_camera_section_errors_name_the_key(section: object, match: str) -> None:
    with pytest.raises(TaskFileError, match=match):
        parse_camera(section)


def test_pixel_bench_prints_render_cost_and_bytes_per_frame(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from mbrl_control.bench import pixels

    assert pixels.main(["--steps", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["camera"]["size"] == 64 and out["camera"]["distance"] > 0
    assert [s["supersample"] for s in out["settings"]] == [1, 2, 4]
    for s in out["settings"]:
        assert s["render"]["median_ms"] > 0 and s["render"]["p99_ms"] >= s["render"]["median_ms"]
        b = s["bytes_per_frame"]
        assert b["raw"] == 64 * 64 * 3 and 0 < b["npz_compressed"] < b["raw"] and b["png"] > 0
