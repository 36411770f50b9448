"""``collect --pixels``: every state's camera frame stored beside the transitions under the
same episode id (``OUT/images``), read back by ``SequenceLoader``; the transitions are the
bytes a state-only run writes; bad combinations are refused in one line."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from mbrl_sim.collect import WorkerConfig, collect
from mbrl_sim.pixel_env import make_pixel_env

from mbrl_control.cli import main
from mbrl_control.data.image_store import ImageStore, SequenceLoader
from mbrl_control.data.store import TransitionStore
from mbrl_control.tasks import get_task
from mbrl_control.tasks.camera_section import CameraSpec, parse_camera

TASK = "cartpole_swingup"
VIEW = {"target": [0.0, 0.0, 0.15], "distance": 1.4, "yaw": 0.0, "pitch": 0.0, "fov": 60.0,
        "size": 64, "supersample": 2}  # fmt: skip


@pytest.fixture(scope="module")
def pixel_planner(tmp_path_factory) -> str:
    """An untrained tiny pixel planner file of the cart-pole that records VIEW."""
    from mbrl_control.latent import WorldModel, WorldModelConfig
    from mbrl_control.latent.export import export_pixel_planner
    from mbrl_control.latent.planner import LatentPlannerConfig

    small = WorldModel(1, WorldModelConfig(depth=8, deter=32, stoch=8, hidden=32))
    plan = LatentPlannerConfig(horizon=2, iterations=1, population=8, elites=2)
    path = tmp_path_factory.mktemp("pixels") / "planner.onnx"
    export_pixel_planner(small, [-10.0], [10.0], plan, path, {"task": TASK, "camera": VIEW})
    return str(path)


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["collect", "--task", TASK, "--quiet", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_frames_beside_the_same_transitions_read_by_the_loader(tmp_path, caplog) -> None:
    state = collect(TASK, "default", 2, "random", 1, tmp_path / "s", seed=3, quiet=True)
    pix = collect(TASK, "default", 2, "random", 1, tmp_path / "p", seed=3, quiet=True,
                  pixels=True)  # fmt: skip
    # the transitions: the same bytes as the state-only run's; only that run has no frames
    names = sorted(p.name for p in (tmp_path / "s" / "episodes").iterdir())
    assert names == ["ep_000000.npz", "ep_000001.npz"]
    for name in names:
        want = (tmp_path / "s" / "episodes" / name).read_bytes()
        assert (tmp_path / "p" / "episodes" / name).read_bytes() == want
    assert not (tmp_path / "s" / "images").exists() and "frames" not in state
    # frames: T+1 per episode, same ids, the task's fitted camera kept with them
    data, images = TransitionStore(tmp_path / "p").load(), ImageStore(tmp_path / "p")
    assert images.episodes() == [0, 1]
    assert pix["frames"] == pix["transitions"] + 2
    for ep in (0, 1):
        frames = images.read(ep)
        assert frames.shape == ((data.episode_id == ep).sum() + 1, 64, 64, 3)
        assert images.camera(ep) == json.loads(json.dumps(pix["camera"]))
    assert pix["camera"]["distance"] > 5  # the fit: the whole rail of the built-in task
    # the loader takes every episode, without a warning, and pairs frames with states
    with caplog.at_level(logging.WARNING):
        loader = SequenceLoader(tmp_path / "p", length=8, task=get_task(TASK))
    assert loader.episodes == [0, 1] and not caplog.records
    batch = loader.sample(np.random.default_rng(0), 4)
    assert batch.images.shape == (4, 8, 3, 64, 64) and batch.reward.shape == (4, 8)
    for b in range(4):
        ep, s = int(batch.episode[b]), int(batch.start[b])
        rows = data.obs[data.episode_id == ep]
        np.testing.assert_array_equal(batch.obs[b], rows[s : s + 8])
        frames = images.read(ep)[s : s + 8].transpose(0, 3, 1, 2)
        np.testing.assert_array_equal(batch.images[b], frames)


def test_frame_t_is_the_camera_view_at_obs_t(tmp_path, capsys, pixel_planner) -> None:
    """Through the CLI with a pixel planner's view: replaying the stored actions from the
    episode's seed in the pixel env renders the stored frame t at the stored obs[t]."""
    out = tmp_path / "o"
    args = ["--episodes", "1", "--profile", "default", "--seed", "5", "--out", str(out)]
    code, stdout, err = _cli(capsys, *args, "--pixels", "--camera-view", pixel_planner)
    assert code == 0, err
    assert json.loads(stdout)["camera"] == VIEW and ImageStore(out).camera(0) == VIEW
    data, frames = TransitionStore(out).load(), ImageStore(out).read(0)
    obs = np.concatenate([data.obs, data.next_obs[-1:]])  # (T+1, O)
    assert len(np.unique(frames.reshape(len(frames), -1), axis=0)) > 50  # the scene moves

    env = make_pixel_env(TASK, camera=parse_camera(VIEW), profile="default")
    frame, info = env.reset(seed=data.episodes[0]["seed"])
    np.testing.assert_array_equal(frame, frames[0])
    np.testing.assert_allclose(info["state"], obs[0], atol=1e-6)
    for t, action in enumerate(data.action):
        frame, _, _, _, info = env.step(action)
        np.testing.assert_array_equal(frame, frames[t + 1], err_msg=f"frame {t + 1}")
        np.testing.assert_allclose(info["state"], obs[t + 1], atol=1e-6)
    env.close()


def test_pixels_with_two_workers_store_what_one_does(tmp_path) -> None:
    def by_seed(root):
        eps = TransitionStore(root).load().episodes
        return {m["seed"]: ImageStore(root).read(m["id"]) for m in eps}

    collect(TASK, "none", 3, "random", 1, tmp_path / "a", seed=7, quiet=True, pixels=True)
    two = collect(TASK, "none", 3, "random", 2, tmp_path / "b", seed=7, quiet=True, pixels=True)
    a, b = by_seed(tmp_path / "a"), by_seed(tmp_path / "b")
    assert sorted(a) == sorted(b) and len(a) == 3 and two["frames"] == two["transitions"] + 3
    for seed in a:
        np.testing.assert_array_equal(a[seed], b[seed])


def test_bad_combinations_are_refused_in_one_line(tmp_path, capsys, pixel_planner) -> None:
    out = tmp_path / "o"
    cases = [
        (["--camera-view", "{distance: 2}"], "--camera-view is the camera of --pixels"),
        (["--pixels", "--camera-view", "close"], "--camera-view: 'close' is neither"),
        (["--pixels", "--camera-view", str(tmp_path / "none.onnx")], "--camera-view"),
        (["--pixels", "--policy", f"planner:{pixel_planner}"], "pixel_controller"),
    ]
    for args, words in cases:
        code, _, err = _cli(capsys, "--episodes", "1", "--out", str(out), *args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and words in lines[0], err
        assert not (out / "images").exists() and not (out / "episodes").exists()
    # a pixel planner as the policy: the runtime's refusal names the node that runs it
    code, _, err = _cli(capsys, "--episodes", "1", "--out", str(out), "--policy",
                        f"planner:{pixel_planner}")  # fmt: skip
    assert code == 2 and "a pixel planner file" in err and "pixels.launch.yaml" in err, err

    # one store, one view: frames from another camera are refused before anything is written
    args = ["--episodes", "1", "--profile", "none", "--out", str(out), "--pixels"]
    assert _cli(capsys, *args)[0] == 0
    code, _, err = _cli(capsys, *args, "--camera-view", pixel_planner)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "another camera" in err, err
    assert "distance" in err and len(TransitionStore(out).load().episodes) == 1
    with pytest.raises(ValueError, match="needs pixels=True"):
        WorkerConfig(TASK, "none", "random", camera=CameraSpec())
