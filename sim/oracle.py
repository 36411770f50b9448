"""The true simulator as a planner "model": the oracle that learned models are compared to.

:class:`SimulatorModel` follows the ensemble forward contract with one member and zero
variance: each row's joint state is set from its observation, the action is applied as the
env would (same actuator gain draw, no delay, no noise) and one control period is simulated.
It is slow (one PyBullet step per row) and meant for measuring, not for real time.

The oracle plans inside the env's own PyBullet world and depends on exact restore:
:class:`OraclePolicy` takes :meth:`MbrlSimEnv.save_state` before planning and
:meth:`MbrlSimEnv.restore_state` after it, and the episode then continues bit for bit as if
no planning had happened (tested for both robots under every shipped profile). That holds
because the snapshot covers everything a step depends on (bodies, draw, goal, delay buffer,
realized command, generator) and the env steps Bullet one physics step per call, so Bullet
keeps no time accumulator that ``restoreState`` would miss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pybullet as pb
import torch
from mbrl_sim.env import MbrlSimEnv


def _joints_from_obs(task_name: str, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions/velocities ``(J,)`` behind an observation (inverse of obs_from_joints)."""
    if task_name == "cartpole_swingup":
        x, cos_t, sin_t, x_dot, theta_dot = obs
        return np.array([x, np.arctan2(sin_t, cos_t)]), np.array([x_dot, theta_dot])
    if task_name == "panda_reach":
        return obs[:7], obs[7:14]
    raise ValueError(f"no oracle state mapping for task {task_name!r}")


class SimulatorModel(torch.nn.Module):
    """``forward(obs (1, B, O), action (1, B, A)) -> (next_obs (1, B, O), logvar zeros)``."""

    members = 1

    def __init__(self, env: Any) -> None:
        super().__init__()
        self.env: MbrlSimEnv = env.unwrapped

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        env, sc = self.env, self.env.scene
        c, body = sc.client, sc.body
        out = np.empty(obs.shape[1:], np.float32)
        commands = np.clip(action[0].numpy(), env.task.low, env.task.high) * env._gain  # (B, A)
        for i, row in enumerate(obs[0].numpy()):
            q, qd = _joints_from_obs(env.task.name, row)
            for j, joint in enumerate(sc.joints):
                pb.resetJointState(body, joint, q[j], qd[j], physicsClientId=c)
            env.simulate(commands[i])  # the nominal control period, no push
            states = pb.getJointStates(body, sc.joints, physicsClientId=c)
            pos = np.array([s[0] for s in states])
            vel = np.array([s[1] for s in states])
            out[i] = env.task.obs_from_joints(pos, vel)
        next_obs = torch.from_numpy(out)[None]
        return next_obs, torch.zeros_like(next_obs)


class OraclePolicy:
    """A planner over :class:`SimulatorModel`; the env's state is restored after planning."""

    def __init__(self, env: Any, planner: Any) -> None:
        self.env, self.planner = env.unwrapped, planner

    def reset(self) -> None:
        self.planner.reset()

    def act(self, obs: np.ndarray, goal: np.ndarray | None = None) -> np.ndarray:
        snapshot = self.env.save_state()
        try:
            return self.planner.act(obs, goal)
        finally:
            self.env.restore_state(snapshot)
            self.env.free_state(snapshot)
