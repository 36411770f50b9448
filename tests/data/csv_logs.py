"""CSV logs written from a known trajectory: the real cart-pole simulator, sampled at 4x the
control rate, written as a lab's logger would (jittered stamps, one row per sample)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mbrl_sim
import numpy as np
import pybullet as pb

from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")
RATE = 4
"""Rows per control period."""
SUB = TASK.dt / RATE
"""Nominal time between rows (s)."""


@dataclass
class SimLog:
    """One simulated episode at ``RATE`` x the control rate: rows ``i = 0 .. RATE * steps``
    at nominal times ``i * SUB``; ``action[i]`` is the force in effect after row ``i``
    (``actions[i // RATE]``); ``obs_grid[k]`` the observation at control step ``k``."""

    pos: np.ndarray  # (N, J)
    vel: np.ndarray  # (N, J)
    action: np.ndarray  # (N, A)
    actions: np.ndarray  # (steps, A)
    obs: np.ndarray  # (N, O) observation of every row

    @property
    def n(self) -> int:
        return len(self.pos)


def simulate(seed: int, steps: int) -> SimLog:
    """Run ``mbrl_sim`` (no randomization) with random forces held for one control period,
    reading the joints every ``SUB`` seconds."""
    env = mbrl_sim.make_env("cartpole_swingup", "none", seed)
    try:
        env.reset(seed=seed)
        sc = env.scene
        rng = np.random.default_rng(seed)
        actions = rng.uniform(-8.0, 8.0, (steps, TASK.act_dim)).astype(np.float32)

        def read() -> tuple[np.ndarray, np.ndarray]:
            states = pb.getJointStates(sc.body, sc.joints, physicsClientId=sc.client)
            return np.array([s[0] for s in states]), np.array([s[1] for s in states])

        pos, vel = [], []
        p, v = read()
        pos.append(p)
        vel.append(v)
        for k in range(steps):
            for _ in range(RATE):
                env.simulate(actions[k].astype(np.float64), SUB)
                p, v = read()
                pos.append(p)
                vel.append(v)
    finally:
        env.close()
    pos, vel = np.array(pos), np.array(vel)
    action = np.concatenate([np.repeat(actions, RATE, 0), actions[-1:]])
    obs = np.stack([TASK.obs_from_joints(p, v) for p, v in zip(pos, vel)])
    return SimLog(pos, vel, action, actions, obs)


DEFAULT_HEADER = (
    "time",
    "slider_to_cart_pos",
    "cart_to_pole_pos",
    "slider_to_cart_vel",
    "cart_to_pole_vel",
    "slider_to_cart_cmd",
)


def write_csv(
    path: Path,
    columns: dict[str, np.ndarray],
    *,
    delimiter: str = ",",
    rows: np.ndarray | None = None,
    comment: str = "",
) -> Path:
    """A CSV file with ``columns`` (name -> (N,) values) in order; only ``rows`` if given."""
    names = list(columns)
    data = np.column_stack([np.asarray(columns[c], object) for c in names])
    keep = range(len(data)) if rows is None else rows
    with path.open("w") as fh:
        if comment:
            fh.write(f"# {comment}\n")
        fh.write(delimiter.join(names) + "\n")
        for i in keep:
            fh.write(delimiter.join(_cell(x) for x in data[i]) + "\n")
    return path


def _cell(x: object) -> str:
    if isinstance(x, str):
        return x
    return repr(float(x))


def default_columns(log: SimLog, t: np.ndarray) -> dict[str, np.ndarray]:
    """The default column names: ``time``, ``<joint>_pos``, ``<joint>_vel``, ``<joint>_cmd``."""
    return {
        "time": t,
        "slider_to_cart_pos": log.pos[:, 0].copy(),
        "cart_to_pole_pos": log.pos[:, 1].copy(),
        "slider_to_cart_vel": log.vel[:, 0].copy(),
        "cart_to_pole_vel": log.vel[:, 1].copy(),
        "slider_to_cart_cmd": log.action[:, 0].copy(),
    }


def jittered_times(n: int, seed: int, jitter: float = 0.1 * SUB) -> np.ndarray:
    """Nominal row times ``i * SUB`` plus uniform jitter of ±``jitter`` s."""
    rng = np.random.default_rng(1000 + seed)
    return np.arange(n) * SUB + rng.uniform(-jitter, jitter, n)
