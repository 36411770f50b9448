"""Frames beside the transition store (mbrl_control/data/image_store.py): real pixel-env
episodes written, read back bit for bit, and cut into (B, T, 3, S, S) sequences."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from mbrl_sim.pixel_env import make_pixel_env

from mbrl_control.data.image_store import ImageStore, SequenceLoader
from mbrl_control.data.store import TransitionStore
from mbrl_control.tasks import get_task


def _record(
    root: Path, seed: int, episodes: int = 2, steps: int = 12, rewards: list | None = None
) -> list[np.ndarray]:
    """Random-action pixel episodes into a transition store + image store (the env's rewards
    appended to ``rewards``, one array per episode)."""
    env = make_pixel_env("cartpole_swingup", seed=seed)
    rng = np.random.default_rng(seed)
    store, images = TransitionStore(root), ImageStore(root)
    out = []
    for e in range(episodes):
        frame, info = env.reset(seed=seed + e)
        frames, obs, acts, rews = [frame], [info["state"]], [], []
        for _ in range(steps + e):  # unequal lengths
            a = rng.uniform(-10, 10, 1).astype(np.float32)
            frame, reward, _, _, info = env.step(a)
            rews.append(reward)
            frames.append(frame)
            obs.append(info["state"])
            acts.append(a)
        ep = store.append_episode(np.stack(obs), np.stack(acts), {"task": "cartpole_swingup"})
        images.write(ep, np.stack(frames), env.unwrapped.camera.spec.__dict__)
        out.append(np.stack(frames))
        if rewards is not None:
            rewards.append(np.array(rews, np.float32))
    return out


def test_frames_round_trip_and_store_format_unchanged(tmp_path: Path, seed: int) -> None:
    frames = _record(tmp_path, seed)
    images = ImageStore(tmp_path)
    assert images.episodes() == [0, 1]
    for ep, f in enumerate(frames):
        assert np.array_equal(images.read(ep), f) and images.read(ep).dtype == np.uint8
        assert images.camera(ep)["size"] == 64
    # the transition store still loads exactly as before, with the images folder beside it
    data = TransitionStore(tmp_path).load()
    assert len(data) == 12 + 13 and not data.skipped
    assert sorted(p.name for p in (tmp_path / "episodes").iterdir()) == [
        "ep_000000.npz",
        "ep_000001.npz",
    ]
    # compact: far below raw uint8 (12288 B/frame)
    size = sum(p.stat().st_size for p in (tmp_path / "images").glob("ep_*.npz"))
    assert size / sum(len(f) for f in frames) < 12288 / 4


def test_write_is_append_only_and_checks_shape(tmp_path: Path) -> None:
    images = ImageStore(tmp_path)
    f = np.zeros((3, 8, 8, 3), np.uint8)
    images.write(0, f, {})
    with pytest.raises(FileExistsError):
        images.write(0, f + 1, {})
    assert np.array_equal(images.read(0), f)  # not overwritten
    assert not list((tmp_path / "images").glob(".tmp-*"))
    with pytest.raises(ValueError, match=r"episode 1: frames must be \(T\+1, H, W, 3\) uint8"):
        images.write(1, np.zeros((3, 8, 8, 3), np.float32), {})
    with pytest.raises(ValueError, match="episode 2"):
        images.write(2, np.zeros((3, 8, 8)), {})


def test_sequences_line_up_with_actions_and_rewards(tmp_path: Path, seed: int) -> None:
    rewards: list[np.ndarray] = []
    frames = _record(tmp_path, seed, rewards=rewards)
    data = TransitionStore(tmp_path).load()
    assert SequenceLoader(tmp_path, length=5).sample(np.random.default_rng(0), 2).reward is None
    loader = SequenceLoader(tmp_path, length=5, task=get_task("cartpole_swingup"))
    batch = loader.sample(np.random.default_rng(seed), batch=16)
    assert batch.reward.shape == (16, 5) and batch.reward.dtype == np.float32
    assert batch.images.shape == (16, 5, 3, 64, 64) and batch.images.dtype == np.uint8
    assert batch.action.shape == (16, 5, 1) and batch.obs.shape == (16, 5, 5)
    for b in range(16):
        ep, s = int(batch.episode[b]), int(batch.start[b])
        want = frames[ep][s : s + 5].transpose(0, 3, 1, 2)
        assert np.array_equal(batch.images[b], want)
        rows = np.nonzero(data.episode_id == ep)[0]
        assert np.array_equal(batch.action[b], data.action[rows][s : s + 5])
        assert np.array_equal(batch.obs[b], data.obs[rows][s : s + 5])
        # the simulator's own rewards, recomputed from the stored states
        np.testing.assert_allclose(batch.reward[b], rewards[ep][s : s + 5], rtol=1e-5, atol=1e-5)


def test_loader_skips_episodes_without_usable_frames(
    tmp_path: Path, seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    _record(tmp_path, seed, episodes=1)
    store, images = TransitionStore(tmp_path), ImageStore(tmp_path)
    obs, act = np.zeros((4, 5), np.float32), np.zeros((3, 1), np.float32)
    store.append_episode(obs, act, {})  # ep 1: no frames
    store.append_episode(obs, act, {})  # ep 2: frame count unlike T+1
    images.write(2, np.zeros((2, 64, 64, 3), np.uint8), {})
    store.append_episode(obs, act, {})  # ep 3: torn file
    images.path(3).write_bytes(b"PK\x03\x04 torn")
    store.append_episode(obs, act, {})  # ep 4: a text file (numpy would call it a pickle)
    images.path(4).write_text("lab notes\n")
    (tmp_path / "images" / "notes.txt").write_text("stray")
    with caplog.at_level(logging.WARNING):
        loader = SequenceLoader(tmp_path, length=3)
    assert loader.episodes == [0]
    text = caplog.text
    assert "episode 1 has no frames" in text and "episode 2: 2 frames for 4 states" in text
    assert "ep_000003.npz: damaged frames file" in text
    assert "ep_000004.npz: damaged frames file (not an .npz archive)" in text
    with pytest.raises(ValueError, match="no episode with frames of >= 14 steps"):
        SequenceLoader(tmp_path, length=13)
