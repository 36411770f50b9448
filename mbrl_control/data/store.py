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
import logging
import os
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EPISODE_GLOB = "ep_*.npz"
EPISODE_NAME = re.compile(r"ep_(\d+)\.npz")
"""An episode file's whole name; its number is the episode id."""

log = logging.getLogger(__name__)


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
    skipped: list[dict[str, str]] = field(default_factory=list)
    """Files in the store that were not loaded: ``{"file", "reason"}`` each (also logged)."""

    def __len__(self) -> int:
        return len(self.obs)


class TransitionStore:
    """Episodes under ``root`` (created if missing); ``len(store)`` counts episodes."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "episodes"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._next: int | None = None  # the id after this writer's last episode

    def __len__(self) -> int:
        return len(self._files())

    def _files(self) -> list[Path]:
        """Episode files (names matching ``ep_<digits>.npz``), in id order."""
        return [p for _, p in self._numbered()]

    def _numbered(self) -> list[tuple[int, Path]]:
        out = []
        for p in self.dir.iterdir():
            m = EPISODE_NAME.fullmatch(p.name)
            if m and p.is_file():
                out.append((int(m.group(1)), p))
        return sorted(out)

    def stray_files(self) -> list[Path]:
        """Files in ``episodes/`` that are neither episodes nor unfinished writes."""
        return sorted(
            p
            for p in self.dir.iterdir()
            if not EPISODE_NAME.fullmatch(p.name) and not p.name.startswith(".tmp-")
        )

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
            # the folder is listed once per writer: then the id after its last episode (a
            # link to a taken id fails, and the next is tried, as with several writers)
            ep = self._next_id() if self._next is None else self._next
            while True:
                try:
                    os.link(tmp, self.dir / f"ep_{ep:06d}.npz")
                    break
                except FileExistsError:
                    ep += 1
        finally:
            tmp.unlink()
        self._next = ep + 1
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return ep

    def _next_id(self) -> int:
        files = self._numbered()
        return files[-1][0] + 1 if files else 0

    def episode_metas(self) -> list[dict[str, Any]]:
        """Every episode's metadata, in id order, with its ``"id"``: only ``meta_json`` is
        read from each file (no arrays are loaded), so it is cheap on a large store.

        Files :meth:`load` would skip for a torn zip, a missing or non-JSON-object
        ``meta_json`` are left out here too (silently: :meth:`load` warns about them); the
        arrays are not checked.
        """
        out = []
        for ep, path in self._numbered():
            try:
                with np.load(path, allow_pickle=False) as z:
                    meta = json.loads(str(z["meta_json"]))
            except Exception:  # torn, empty, not a zip, no meta_json: as load() skips it
                continue
            if isinstance(meta, dict):
                out.append({"id": ep, **meta})
        return out

    def load(self) -> Transitions:
        """All episodes as :class:`Transitions` (empty arrays for an empty store).

        Never fails on one bad file: a file whose name is not ``ep_<digits>.npz`` is ignored
        and a damaged episode (torn, empty, unreadable, inconsistent shapes, non-finite
        values, shapes unlike the other episodes') is skipped, each with a warning naming
        the file; both are listed in ``Transitions.skipped``.
        """
        obs, act, nxt, done, eid, goal, metas = [], [], [], [], [], [], []
        skipped: list[dict[str, str]] = []
        for path in self.stray_files():
            reason = "name is not ep_<digits>.npz: ignored"
            log.warning("transition store: %s: %s", path, reason)
            skipped.append({"file": str(path), "reason": reason})
        dims: tuple[int, int, int] | None = None
        for ep, path in self._numbered():
            try:
                o, a, g, meta = _read_episode(path)
                if dims is not None and (o.shape[1], a.shape[1], g.shape[1]) != dims:
                    raise ValueError(
                        f"obs/action/goal widths {(o.shape[1], a.shape[1], g.shape[1])} differ "
                        f"from the store's {dims}"
                    )
            except Exception as err:
                reason = f"damaged episode skipped: {err}"
                log.warning("transition store: %s: %s", path, reason)
                skipped.append({"file": str(path), "reason": reason})
                continue
            dims = (o.shape[1], a.shape[1], g.shape[1])
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
            return Transitions(
                empty,
                empty,
                empty,
                np.zeros(0, bool),
                np.zeros(0, np.int64),
                empty,
                skipped=skipped,
            )
        return Transitions(
            obs=np.concatenate(obs),
            action=np.concatenate(act),
            next_obs=np.concatenate(nxt),
            done=np.concatenate(done),
            episode_id=np.concatenate(eid),
            goal=np.concatenate(goal),
            episodes=metas,
            skipped=skipped,
        )

    def summary(self) -> dict[str, Any]:
        """Dataset statistics: counts, per-dimension obs/action stats, tasks and profiles."""
        data = self.load()
        out: dict[str, Any] = {
            "root": str(self.root),
            "episodes": len(data.episodes),
            "transitions": len(data),
            "unfinished_writes": len(list(self.dir.glob(".tmp-*"))),
            "skipped": data.skipped,
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


def _read_episode(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """``(obs (T+1, O), action (T, A), goal (T, G), meta)`` of one file, checked.

    Raises:
        ValueError: unreadable (torn, empty, not a zip), missing arrays, inconsistent
            shapes, no transitions, non-finite values or meta not a JSON object.
    """
    if path.stat().st_size == 0:
        raise ValueError("file is empty (0 bytes)")
    if not zipfile.is_zipfile(path):  # else numpy reads it as a pickle and says so
        raise ValueError("not an .npz archive (a torn write, or not written by np.savez)")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"obs", "action", "goal", "meta_json"} - set(z.files)
            if missing:
                raise ValueError(f"missing arrays {sorted(missing)}")
            o, a, g = z["obs"], z["action"], z["goal"]
            meta = json.loads(str(z["meta_json"]))
    except ValueError:
        raise
    except Exception as err:
        raise ValueError(f"unreadable ({type(err).__name__}: {err})") from err
    if o.ndim != 2 or a.ndim != 2 or g.ndim != 2:
        raise ValueError(f"arrays must be 2-D, got obs {o.shape}, action {a.shape}, goal {g.shape}")
    if len(a) < 1:
        raise ValueError(f"no transitions (obs {o.shape}, action {a.shape})")
    if len(o) != len(a) + 1 or len(g) != len(a):
        raise ValueError(f"inconsistent lengths: obs {o.shape}, action {a.shape}, goal {g.shape}")
    if not (np.isfinite(o).all() and np.isfinite(a).all() and np.isfinite(g).all()):
        raise ValueError("non-finite values")
    if not isinstance(meta, dict):
        raise ValueError("meta_json is not a JSON object")
    return o.astype(np.float32), a.astype(np.float32), g.astype(np.float32), meta
