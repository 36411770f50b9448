"""Replay recorded robot data in the simulator: the data side of :mod:`mbrl_sim.calibration`.

Recorded episodes become joint trajectories (:class:`Recording`), from which K-step replay
windows are cut (:class:`Windows`); :class:`Replayer` drives one
:class:`~mbrl_sim.env.MbrlSimEnv` through them under an explicit draw and measures the
normalized error; :class:`DrawMaker` turns candidate multipliers into such a draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from mbrl_sim.profiles import _BOUNDS, DRProfile, Param


# ---- recorded data as joint trajectories ------------------------------------------------------
@dataclass
class Recording:
    """Recorded episodes as joint trajectories: per episode ``q (T+1, J)``, ``qd (T+1, J)``
    (m or rad, m/s or rad/s) and ``action (T, A)`` (as commanded, clipped to the bounds)."""

    q: list[np.ndarray]
    qd: list[np.ndarray]
    action: list[np.ndarray]
    episode_ids: list[int]

    def split(self, holdout: float) -> tuple[Recording, Recording]:
        """(fit, held-out): the last ``ceil(holdout × E)`` episodes held out when E >= 2."""
        n = len(self.q)
        k = math.ceil(holdout * n) if n >= 2 and holdout > 0 else 0
        k = min(k, n - 1)
        cut = n - k

        def part(sl: slice) -> Recording:
            return Recording(self.q[sl], self.qd[sl], self.action[sl], self.episode_ids[sl])

        return part(slice(0, cut)), part(slice(cut, n))


def load_recording(data: str | Path, task: Any, reader: Callable) -> Recording:
    """The store at ``data`` as a :class:`Recording` for ``task``.

    Raises ``ValueError`` (one line) when ``data`` is not a directory, holds no episodes, or
    its observation/action widths are not the task's.
    """
    from mbrl_control.data.store import TransitionStore

    if not Path(data).is_dir():
        raise ValueError(f"--data {data}: no such transition store directory")
    tr = TransitionStore(data).load()
    if not len(tr):
        raise ValueError(f"--data {data}: the transition store holds no episodes")
    if tr.obs.shape[1] != task.obs_dim or tr.action.shape[1] != task.act_dim:
        raise ValueError(
            f"--data {data}: observation/action widths {tr.obs.shape[1]}/{tr.action.shape[1]} "
            f"are not task {task.name!r}'s {task.obs_dim}/{task.act_dim}"
        )
    rec = Recording([], [], [], [])
    for ep in np.unique(tr.episode_id):
        rows = np.flatnonzero(tr.episode_id == ep)  # consecutive, in time order
        states = np.concatenate([tr.obs[rows], tr.next_obs[rows[-1:]]])  # (T+1, O)
        q, qd = reader(states)
        rec.q.append(q)
        rec.qd.append(qd)
        rec.action.append(np.clip(tr.action[rows], task.low, task.high).astype(np.float64))
        rec.episode_ids.append(int(ep))
    return rec


@dataclass
class Windows:
    """S replay windows of K steps: start states ``q0``/``qd0`` ``(S, J)``, commands
    ``action (S, D + K, A)`` (recorded actions t-D..t+K-1, D = max delay), recorded states
    ``target (S, K, 2J)`` (positions then velocities at t+1..t+K)."""

    q0: np.ndarray
    qd0: np.ndarray
    action: np.ndarray
    target: np.ndarray
    max_delay: int

    def __len__(self) -> int:
        return len(self.q0)


def make_windows(rec: Recording, horizon: int, max_delay: int, count: int) -> Windows:
    """Up to ``count`` windows spread evenly over every valid start of ``rec``.

    Raises ``ValueError`` when no episode is longer than ``max_delay + horizon`` steps."""
    valid = [
        (e, t) for e, a in enumerate(rec.action) for t in range(max_delay, len(a) - horizon + 1)
    ]
    if not valid:
        longest = max((len(a) for a in rec.action), default=0)
        raise ValueError(
            f"no replay window fits: episodes need more than max_delay + horizon = "
            f"{max_delay + horizon} steps, the longest has {longest}"
        )
    pick = np.unique(np.linspace(0, len(valid) - 1, min(count, len(valid))).round().astype(int))
    q0, qd0, act, tgt = [], [], [], []
    for i in pick:
        e, t = valid[i]
        q, qd = rec.q[e], rec.qd[e]
        q0.append(q[t])
        qd0.append(qd[t])
        act.append(rec.action[e][t - max_delay : t + horizon])
        tgt.append(np.concatenate([q[t + 1 : t + 1 + horizon], qd[t + 1 : t + 1 + horizon]], -1))
    return Windows(np.stack(q0), np.stack(qd0), np.stack(act), np.stack(tgt), max_delay)


# ---- replay in the simulator --------------------------------------------------------------------
class Replayer:
    """Replays :class:`Windows` in one :class:`~mbrl_sim.env.MbrlSimEnv` under explicit draws.

    ``scale (2J,)`` divides position and velocity errors; ``wrap (J,)`` marks joints whose
    positions are compared modulo 2π (read back from cos/sin).
    """

    def __init__(self, env: Any, scale: np.ndarray, wrap: np.ndarray) -> None:
        self.env, self.scale, self.wrap = env, scale, wrap

    def predict(self, draw: dict[str, Any], win: Windows) -> np.ndarray:
        """Simulated states ``(S, K, 2J)`` of every window under ``draw``."""
        env = self.env
        env.set_draw(draw)
        gain, d = np.asarray(draw["actuator_gain"]), int(draw["action_delay"])
        if d > win.max_delay:
            raise ValueError(f"action_delay {d} > the windows' max_delay {win.max_delay}")
        s, k = len(win), win.target.shape[1]
        out = np.empty(win.target.shape)
        for w in range(s):
            env.set_joint_state(win.q0[w], win.qd0[w])
            for i in range(k):
                env.simulate(gain * win.action[w, win.max_delay + i - d])
                q, qd = env.physical_joint_state()
                out[w, i] = np.concatenate([q, qd])
        return out

    def residuals(self, predicted: np.ndarray, win: Windows) -> np.ndarray:
        """``recorded - simulated`` ``(S, K, 2J)`` in joint units, angles wrapped to [-π, π)."""
        r = win.target - predicted
        j = len(self.wrap)
        r[..., :j][..., self.wrap] = (r[..., :j][..., self.wrap] + np.pi) % (2 * np.pi) - np.pi
        return r

    def error(self, draw: dict[str, Any], win: Windows) -> float:
        """The replay error: RMS of the normalized residuals over windows, steps and dims."""
        r = self.residuals(self.predict(draw, win), win) / self.scale
        return float(np.sqrt(np.mean(r**2)))


def angle_joints(task: Any, reader: Callable) -> np.ndarray:
    """``(J,)`` bool: joints the observation encodes as cos/sin (read back modulo 2π).

    Found through the public round trip ``obs_from_joints`` → ``reader``: a position of 4 rad
    comes back as 4 - 2π for exactly those joints."""
    j = len(task.joint_names)
    q, _ = reader(task.obs_from_joints(np.full(j, 4.0), np.zeros(j))[None])
    return np.abs(q[0] - 4.0) > 1e-3


def data_scale(rec: Recording, wrap: np.ndarray) -> np.ndarray:
    """Per-dimension std ``(2J,)`` of the recorded positions and velocities (floored at 1e-6);
    for an angle joint the std of its position about its circular mean."""
    q = np.concatenate(rec.q)
    qd = np.concatenate(rec.qd)
    mean = q.mean(0)
    circ = np.arctan2(np.sin(q).mean(0), np.cos(q).mean(0))
    dev = q - np.where(wrap, circ, mean)
    dev[:, wrap] = (dev[:, wrap] + np.pi) % (2 * np.pi) - np.pi
    std = np.concatenate([np.sqrt((dev**2).mean(0)), qd.std(0)])
    return np.maximum(std, 1e-6)


# ---- candidates -> draws ------------------------------------------------------------------------
class DrawMaker:
    """Draws (absolute SI, as :meth:`DRProfile.sample` makes them) for candidate multipliers.

    A candidate is turned into a point profile (every range ``low == high``) on top of
    ``base`` and sampled, so the multipliers mean exactly what they mean in a profile. Noise,
    jitter and pushes are 0 (replay is deterministic); contact friction is the base's mid.
    """

    def __init__(self, env: Any, base: DRProfile) -> None:
        sc = env.scene
        self._args = (
            len(sc.links),
            np.asarray(sc.spec.damping_ref),
            np.asarray(sc.spec.friction_ref),
            env.task.act_dim,
            sc.spec.push_ref,
        )
        zero = Param(0.0, 0.0)
        mid = (base.lateral_friction.low + base.lateral_friction.high) / 2
        self._base = replace(
            base,
            lateral_friction=Param(mid, mid),
            obs_noise_pos=zero,
            obs_noise_vel=zero,
            control_jitter=zero,
            push_prob=zero,
            push_force=zero,
        )

    def __call__(self, values: dict[str, float], delay: int) -> dict[str, Any]:
        # clipped to the profile's bounds: exp(log(x)) may round a fit on a bound past it
        point = {
            k: Param(*[min(max(float(v), _BOUNDS[k][0]), _BOUNDS[k][1])] * 2)
            for k, v in values.items()
        }
        profile = replace(self._base, **point, action_delay=Param(float(delay), float(delay)))
        return profile.sample(np.random.default_rng(0), *self._args)


def held_out_windows(held: Recording, horizon: int, max_delay: int, count: int) -> Windows | None:
    """Windows of the held-out episodes, or None when there are none or all are too short
    for a window (the held-out error is then not reported)."""
    if not held.q:
        return None
    try:
        return make_windows(held, horizon, max_delay, count)
    except ValueError:
        return None
