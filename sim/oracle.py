"""The true simulator as a planner "model": the oracle that learned models are compared to.

:class:`SimulatorModel` follows the ensemble forward contract with one member and zero
variance: each row's joint state is set from its observation, the action is applied as the
env would (same actuator gain draw, no noise; the draw's action delay d only when the
observation's ``last_actions`` block holds the command it releases, k >= d: row's
``block[d-1]``, else no delay) and one control period is simulated.
It is slow (one PyBullet step per row) and meant for measuring, not for real time. It works
for any task file with a fixed base whose observation holds every joint's position (raw or
cos/sin) and velocity (:class:`JointStateReader`); other tasks get a one-line ``ValueError``.

The oracle plans inside the env's own PyBullet world and depends on exact restore:
:class:`OraclePolicy` takes :meth:`MbrlSimEnv.save_state` before planning and
:meth:`MbrlSimEnv.restore_state` after it, and the episode then continues bit for bit as if
no planning had happened (tested for both robots under every shipped profile). That holds
because the snapshot covers everything a step depends on (bodies, draw, goal, delay buffer,
realized command, ``last_actions`` history, generator) and the env steps Bullet one physics
step per call, so Bullet keeps no time accumulator that ``restoreState`` would miss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from mbrl_sim.bullet import pb
from mbrl_sim.env import MbrlSimEnv
from mbrl_sim.scenes import set_mimic_joints


class JointStateReader:
    """Joint positions and velocities behind observations: the inverse of
    ``task.obs_from_joints`` for a task file whose observation holds every joint's position
    (raw, or cos/sin: read back with ``atan2``) and velocity.

    ``reader(obs (B, O)) -> (q (B, J), qd (B, J))`` in ``task.joint_names`` order. Raises
    ``ValueError`` (one line naming the joints) when the observation lacks some of them.
    """

    def __init__(self, task: Any) -> None:
        layout = getattr(task, "layout", None)  # a FileTask's observation layout
        if layout is None:
            raise ValueError(
                f"task {task.name!r}: the oracle needs a task file (its observation layout)"
            )
        missing = [
            j
            for j in task.joint_names
            if (j not in layout.pos and j not in layout.cos) or j not in layout.vel
        ]
        if missing:
            raise ValueError(
                f"task {task.name!r}: the oracle needs full joint state in the observation "
                f"(every joint's position and velocity); missing for {missing}"
            )
        names = task.joint_names
        self._raw = [(k, layout.pos[j]) for k, j in enumerate(names) if j in layout.pos]
        self._angle = [
            (k, layout.cos[j], layout.sin[j]) for k, j in enumerate(names) if j in layout.cos
        ]
        self._vel = np.array([layout.vel[j] for j in names])
        self._joints = len(names)

    def __call__(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        obs = np.asarray(obs, np.float64)
        q = np.empty((*obs.shape[:-1], self._joints))
        for k, i in self._raw:
            q[..., k] = obs[..., i]
        for k, ci, si in self._angle:
            q[..., k] = np.arctan2(obs[..., si], obs[..., ci])
        return q, obs[..., self._vel]


def next_history(obs: np.ndarray, action: np.ndarray, steps: int) -> np.ndarray | None:
    """The ``last_actions`` blocks after ``action (B, A)`` from states ``obs (B, O)`` whose
    observation ends with a block of ``steps`` k actions: ``(B, k·A)``, the action then each
    row's block without its oldest entry; None when k = 0."""
    if steps <= 0:
        return None
    a = action.shape[-1]
    block = obs[..., obs.shape[-1] - steps * a :]
    return np.concatenate([action, block[..., : (steps - 1) * a]], axis=-1).astype(np.float32)


def released(obs: np.ndarray, action: np.ndarray, steps: int, delay: int) -> np.ndarray:
    """The commands ``(B, A)`` the env's delay buffer releases when ``action (B, A)`` is sent
    from ``obs (B, O)``: ``action`` itself for ``delay`` 0, the row's command ``delay`` steps
    back (its ``last_actions`` block entry ``delay - 1``) when the block of ``steps`` k >= delay
    holds it, else ``action`` (the delay is not visible: simulated without it)."""
    if delay <= 0 or delay > steps:
        return action
    a = action.shape[-1]
    block = obs[..., obs.shape[-1] - steps * a :]
    return block[..., (delay - 1) * a : delay * a].astype(np.float32)


class SimulatorModel(torch.nn.Module):
    """``forward(obs (1, B, O), action (1, B, A)) -> (next_obs (1, B, O), logvar zeros)``.

    For a task with a ``last_actions`` block (k > 0) each row's next block is its own block
    shifted by one with the row's action, clipped to the bounds, in front (what the env's
    history records), so every step of a rollout sees the actions of that rollout; with an
    action delay d <= k the row's command d steps back is the one simulated (:func:`released`).
    """

    members = 1

    def __init__(self, env: Any) -> None:
        super().__init__()
        self.env: MbrlSimEnv = env.unwrapped
        if not self.env.scene.spec.fixed_base:
            raise ValueError(
                f"task {self.env.task.name!r}: the oracle needs a fixed base (a floating "
                "base's pose is not in the observation)"
            )
        self.joints_from_obs = JointStateReader(self.env.task)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        env, sc = self.env, self.env.scene
        c, body = sc.client, sc.body
        out = np.empty(obs.shape[1:], np.float32)
        clipped = np.clip(action[0].numpy(), env.task.low, env.task.high)  # (B, A)
        steps, delay = env.task.action_history, int(env.dr.get("action_delay", 0))
        commands = released(obs[0].numpy(), clipped, steps, delay) * env._gain  # (B, A)
        positions, velocities = self.joints_from_obs(obs[0].numpy())  # (B, J) each
        history = next_history(obs[0].numpy(), clipped, steps)  # (B, k·A) or None
        for i, (q, qd) in enumerate(zip(positions, velocities)):
            for j, joint in enumerate(sc.joints):
                pb.resetJointState(body, joint, q[j], qd[j], physicsClientId=c)
            set_mimic_joints(sc)
            env.simulate(commands[i])  # the nominal control period, no push
            states = pb.getJointStates(body, sc.joints, physicsClientId=c)
            pos = np.array([s[0] for s in states])
            vel = np.array([s[1] for s in states])
            if history is None:
                out[i] = env.task.obs_from_joints(pos, vel)
            else:
                out[i] = env.task.obs_from_joints(pos, vel, past_actions=history[i])
        next_obs = torch.from_numpy(out)[None]
        return next_obs, torch.zeros_like(next_obs)


class OraclePolicy:
    """A planner over :class:`SimulatorModel`; the env's state is restored after planning."""

    def __init__(self, env: Any, planner: Any) -> None:
        self.env, self.planner = env.unwrapped, planner

    def reset(self, seed: int | None = None) -> None:
        """Forget the planner's warm start; with ``seed``, restart its noise stream too."""
        self.planner.reset(seed)

    def act(self, obs: np.ndarray, goal: np.ndarray | None = None) -> np.ndarray:
        snapshot = self.env.save_state()
        try:
            return self.planner.act(obs, goal)
        finally:
            self.env.restore_state(snapshot)
            self.env.free_state(snapshot)
