"""Append-only, crash-safe transition store: one ``.npz`` file per episode.

On disk (readable with numpy alone; see ``FORMAT.md`` next to this file)::

    ROOT/episodes/ep_000000.npz   obs (T+1, O) f32, action (T, A) f32, goal (T, G) f32,
                                  meta_json () unicode: the episode's meta as JSON
    ROOT/episodes/.tmp-*          a write that never finished (ignored)

An episode is written to a temp file in the same folder, fsynced, then hard-linked to its
final name (atomic, and it fails instead of overwriting if another writer took the id), the
temp name is removed and the folder fsynced. A crash loses at most the episode being written.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EPISODE_GLOB = "ep_*.npz"


@dataclass
class Transitions:
    """All transitions of a store as flat arrays (B rows).

    obs ``(B, O)``, action ``(B, A)``, next_obs ``(B, O)``, goal ``(B, G)`` (G may be 0)
    float32; done ``(B,)`` bool (True on each episode's last transition); episode_id ``(B,)``
    int64; ``episodes`` the meta dict of every episode, in id order (with its ``"id"``).
    """

    obs: np.ndarray
    action: np.ndarray
    next_obs: np.ndarray
    done: np.ndarray
    episode_id: np.ndarray
    goal: np.ndarray
    episodes: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.obs)


class TransitionStore:
    """Episodes under ``root`` (created if missing); ``len(store)`` counts episodes."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "episodes"
        self.dir.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self._files())

    def _files(self) -> list[Path]:
        return sorted(self.dir.glob(EPISODE_GLOB))

    def append_episode(self, obs: np.ndarray, action: np.ndarray, meta: dict[str, Any]) -> int:
        """Write one episode atomically; return its id.

        Args: obs ``(T+1, O)``, action ``(T, A)``, meta JSON-serializable (``meta["goal"]``,
        a ``(G,)`` list, is stored per step as ``goal (T, G)``).
        """
        obs = np.asarray(obs, np.float32)
        action = np.asarray(action, np.float32)
        if obs.ndim != 2 or action.ndim != 2 or len(obs) != len(action) + 1 or len(action) < 1:
            raise ValueError(
                f"need obs (T+1, O) and action (T, A) with T >= 1, got {obs.shape} and "
                f"{action.shape}"
            )
        if not (np.isfinite(obs).all() and np.isfinite(action).all()):
            raise ValueError("episode has non-finite obs or action values")
        goal_vec = np.asarray(meta.get("goal", []), np.float32).reshape(-1)
        goal = np.broadcast_to(goal_vec, (len(action), goal_vec.size))
        meta_json = json.dumps(meta)  # fails early on non-serializable meta

        tmp = self.dir / f".tmp-{os.getpid()}-{uuid.uuid4().hex}.npz"
        with tmp.open("wb") as fh:
            np.savez(fh, obs=obs, action=action, goal=goal, meta_json=np.array(meta_json))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            ep = self._next_id()
            while True:
                try:
                    os.link(tmp, self.dir / f"ep_{ep:06d}.npz")
                    break
                except FileExistsError:
                    ep += 1
        finally:
            tmp.unlink()
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return ep

    def _next_id(self) -> int:
        files = self._files()
        return int(files[-1].stem[3:]) + 1 if files else 0

    def load(self) -> Transitions:
        """All episodes as :class:`Transitions` (empty arrays for an empty store)."""
        obs, act, nxt, done, eid, goal, metas = [], [], [], [], [], [], []
        for path in self._files():
            ep = int(path.stem[3:])
            try:
                with np.load(path, allow_pickle=False) as z:
                    o, a, g = z["obs"], z["action"], z["goal"]
                    meta = json.loads(str(z["meta_json"]))
            except Exception as err:
                raise ValueError(f"corrupt episode file {path}: {err}") from err
            t = len(a)
            obs.append(o[:-1])
            nxt.append(o[1:])
            act.append(a)
            goal.append(g)
            d = np.zeros(t, bool)
            d[-1] = True
            done.append(d)
            eid.append(np.full(t, ep, np.int64))
            metas.append({"id": ep, **meta})
        if not metas:
            empty = np.zeros((0, 0), np.float32)
            return Transitions(empty, empty, empty, np.zeros(0, bool), np.zeros(0, np.int64), empty)
        return Transitions(
            obs=np.concatenate(obs),
            action=np.concatenate(act),
            next_obs=np.concatenate(nxt),
            done=np.concatenate(done),
            episode_id=np.concatenate(eid),
            goal=np.concatenate(goal),
            episodes=metas,
        )

    def summary(self) -> dict[str, Any]:
        """Dataset statistics: counts, per-dimension obs/action stats, tasks and profiles."""
        data = self.load()
        out: dict[str, Any] = {
            "root": str(self.root),
            "episodes": len(data.episodes),
            "transitions": len(data),
            "unfinished_writes": len(list(self.dir.glob(".tmp-*"))),
        }
        if not len(data):
            return out
        out["tasks"] = sorted({str(m.get("task")) for m in data.episodes})
        profiles: dict[str, int] = {}
        for m in data.episodes:
            profiles[str(m.get("profile"))] = profiles.get(str(m.get("profile")), 0) + 1
        out["profiles"] = profiles
        for name, x in (("obs", data.obs), ("action", data.action)):
            out[name] = {
                "mean": x.mean(0).tolist(),
                "std": x.std(0).tolist(),
                "min": x.min(0).tolist(),
                "max": x.max(0).tolist(),
            }
        returns = [m["return"] for m in data.episodes if "return" in m]
        if returns:
            out["return"] = {"mean": float(np.mean(returns)), "std": float(np.std(returns))}
        return out
