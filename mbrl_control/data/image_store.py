"""Camera frames beside the transition store: one compressed ``.npz`` per episode.

The transition store's format is unchanged (``FORMAT.md``); frames live next to it::

    ROOT/episodes/ep_000007.npz   the transitions (TransitionStore)
    ROOT/images/ep_000007.npz     frames (T+1, S, S, 3) uint8, camera_json () unicode
    ROOT/images/.tmp-*            a write that never finished (ignored)

Frame ``t`` is what the camera saw with ``obs[t]`` of the same episode id (so
``frames[t+1]`` follows ``action[t]``). Files are ``np.savez_compressed`` (zlib; readable with
numpy alone, no pickle), written to a temp name, fsynced, then hard-linked to the final name:
an episode's frames are written once (append-only) and a crash leaves no torn file under an
``ep_`` name. docs/pixels.md has bytes/frame measured against PNG.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.data.store import EPISODE_NAME, TransitionStore

log = logging.getLogger(__name__)


@dataclass
class SequenceBatch:
    """``images (B, T, 3, S, S)`` uint8 (channel-first for torch), ``action (B, T, A)`` float32
    (``action[:, t]`` taken after ``images[:, t]``), ``obs (B, T, O)`` float32 (the state at
    each frame), ``episode (B,)`` and ``start (B,)`` (where each sequence was cut), and
    ``reward (B, T)`` float32, the reward of ``action[:, t]`` (``-task.cost`` of the stored
    transition), or None when the loader was given no task."""

    images: np.ndarray
    action: np.ndarray
    obs: np.ndarray
    episode: np.ndarray
    start: np.ndarray
    reward: np.ndarray | None = None


class ImageStore:
    """Frames of the episodes of the transition store at ``root`` (see module)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "images"
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, episode: int) -> Path:
        return self.dir / f"ep_{episode:06d}.npz"

    def episodes(self) -> list[int]:
        """Episode ids with frames, increasing (stray names ignored)."""
        ids = [EPISODE_NAME.fullmatch(p.name) for p in self.dir.glob("ep_*.npz")]
        return sorted(int(m.group(1)) for m in ids if m)

    def write(self, episode: int, frames: np.ndarray, camera: dict[str, Any]) -> Path:
        """Store ``frames (T+1, S, S, 3)`` uint8 of ``episode``; ``camera`` (JSON-serializable,
        e.g. the :class:`~mbrl_control.tasks.camera_section.CameraSpec` as a dict) is kept.

        Raises: ValueError on a wrong shape/dtype; FileExistsError if the episode has frames.
        """
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                f"episode {episode}: frames must be (T+1, H, W, 3) uint8, got "
                f"{frames.shape} {frames.dtype}"
            )
        camera_json = json.dumps(camera)
        tmp = self.dir / f".tmp-{os.getpid()}-{uuid.uuid4().hex}.npz"
        try:
            with tmp.open("wb") as fh:
                np.savez_compressed(fh, frames=frames, camera_json=np.array(camera_json))
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, self.path(episode))  # fails rather than overwrite
        finally:
            tmp.unlink(missing_ok=True)
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return self.path(episode)

    def read(self, episode: int) -> np.ndarray:
        """``(T+1, S, S, 3)`` uint8. Raises FileNotFoundError / ValueError (damaged file)."""
        path = self.path(episode)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no frames for episode {episode}")
        if not zipfile.is_zipfile(path):  # else numpy reads it as a pickle and says so
            raise ValueError(f"{path}: damaged frames file (not an .npz archive)")
        try:
            with np.load(path, allow_pickle=False) as z:
                frames = z["frames"]
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"{path}: damaged frames file ({err})") from None
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"{path}: damaged frames file (frames {frames.shape} {frames.dtype})")
        return frames

    def camera(self, episode: int) -> dict[str, Any]:
        with np.load(self.path(episode), allow_pickle=False) as z:
            return json.loads(str(z["camera_json"]))


class SequenceLoader:
    """Random fixed-length sequences of frames with their actions, for world-model training.

    Pairs each episode of the transition store at ``root`` with its frames (episodes without
    frames, with a frame count unlike ``T+1``, or shorter than ``length + 1`` frames are
    skipped with a warning naming them); frames stay in memory as uint8. With ``task`` (a
    :class:`~mbrl_control.tasks.base.Task`), each transition's reward ``-task.cost(obs,
    action, next_obs, goal)`` (default critic weights, as the simulator scores) is computed
    once here, for the reward head.

    Raises: ValueError if no episode qualifies.
    """

    def __init__(self, root: str | Path, length: int, task: Any = None) -> None:
        if length < 1:
            raise ValueError(f"length={length}; allowed: >= 1")
        self.length = length
        images = ImageStore(root)
        data = TransitionStore(root).load()
        have = set(images.episodes())
        self._eps: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = []
        for ep in np.unique(data.episode_id):
            ep = int(ep)
            rows = data.episode_id == ep
            obs_t, act = data.obs[rows], data.action[rows]
            obs = np.concatenate([obs_t, data.next_obs[rows][-1:]])  # (T+1, O)
            if ep not in have:
                log.warning("episode %d has no frames in %s; skipped", ep, images.dir)
                continue
            try:
                frames = images.read(ep)
            except ValueError as err:
                log.warning("%s; skipped", err)
                continue
            if len(frames) != len(obs) or len(frames) < length + 1:
                log.warning(
                    "episode %d: %d frames for %d states (need equal, >= %d); skipped",
                    ep,
                    len(frames),
                    len(obs),
                    length + 1,
                )
                continue
            reward = None if task is None else _rewards(task, obs, act, data.goal[rows])
            self._eps.append((ep, frames, act, obs, reward))
        if not self._eps:
            raise ValueError(f"{root}: no episode with frames of >= {length + 1} steps")

    @property
    def episodes(self) -> list[int]:
        return [e[0] for e in self._eps]

    def median_frame(self, rng: np.random.Generator, frames: int = 1024) -> np.ndarray:
        """The per-pixel median of ``frames`` stored frames drawn at random (all when fewer):
        uint8 ``(3, S, S)``, the scene's background where the robot is not most of the time
        (the foreground weighting of :class:`~mbrl_control.latent.world_model.WorldModel`)."""
        every = [(i, t) for i, e in enumerate(self._eps) for t in range(len(e[1]))]
        pick = rng.choice(len(every), min(frames, len(every)), replace=False)
        stack = np.stack([self._eps[every[k][0]][1][every[k][1]] for k in pick])  # (F, S, S, 3)
        return np.median(stack, 0).round().astype(np.uint8).transpose(2, 0, 1)

    def sample(self, rng: np.random.Generator, batch: int) -> SequenceBatch:
        """``batch`` sequences of ``length`` steps, episodes weighted by their length."""
        T = self.length
        starts_per_ep = np.array([len(e[2]) - T + 1 for e in self._eps])  # action rows
        which = rng.choice(len(self._eps), batch, p=starts_per_ep / starts_per_ep.sum())
        start = np.array([rng.integers(starts_per_ep[i]) for i in which])
        images, action, obs, reward = [], [], [], []
        for i, s in zip(which, start, strict=True):
            _, frames, act, o, r = self._eps[i]
            images.append(frames[s : s + T])
            action.append(act[s : s + T])
            obs.append(o[s : s + T])
            reward.append(None if r is None else r[s : s + T])
        return SequenceBatch(
            images=np.stack(images).transpose(0, 1, 4, 2, 3),  # (B, T, 3, S, S)
            action=np.stack(action).astype(np.float32),
            obs=np.stack(obs).astype(np.float32),
            episode=np.array([self._eps[i][0] for i in which]),
            start=start,
            reward=None if reward[0] is None else np.stack(reward).astype(np.float32),
        )


def _rewards(task: Any, obs: np.ndarray, action: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """``-task.cost`` of an episode's transitions: obs ``(T+1, O)``, action ``(T, A)``, goal
    ``(T, G)`` -> ``(T,)`` float32."""
    import torch

    with torch.inference_mode():
        o, a, g = (torch.as_tensor(np.asarray(x, np.float32)) for x in (obs, action, goal))
        return (-task.cost(o[:-1], a, o[1:], g)).numpy().astype(np.float32)
