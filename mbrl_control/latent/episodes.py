"""Pixel episodes: run a frame policy in a pixel env, score it, and store frames + transitions.

One episode is a :class:`PixelEpisode`; :func:`store_episode` appends it to a transition store
(``ROOT/episodes``) and its frames beside it (:class:`~mbrl_control.data.image_store.ImageStore`,
``ROOT/images``) under the same episode id, what
:class:`~mbrl_control.data.image_store.SequenceLoader` reads back for training.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

FramePolicy = Callable[[np.ndarray], np.ndarray]
"""``frame (S, S, 3) uint8 -> action (A,)`` in task units (or, for a policy that reads the
state, ``state (O,) -> action (A,)``: see :func:`run_pixel_episode`'s ``reads``)."""


@dataclass
class PixelEpisode:
    """``frames (T+1, S, S, 3)`` uint8, ``states (T+1, O)`` (the simulator's, never the
    agent's input), ``actions (T, A)`` as applied (clipped to the bounds), ``rewards (T,)``,
    ``goal (G,)``; ``success`` by the task's ``episode_success`` rule on the states (``final``:
    the success condition held over most of the last 10 % of steps, as
    :func:`mbrl_control.pipeline.evaluate.run_episode` scores state episodes)."""

    frames: np.ndarray
    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    goal: np.ndarray
    success: bool
    steps: int
    """Env steps taken (``T`` times the action repeat, less where the episode ended early)."""

    @property
    def total(self) -> float:
        """The return: sum of rewards (= -sum of task costs)."""
        return float(self.rewards.sum())


def upright_start(task: Any, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A balance start for a pendulum-on-cart task whose own initial state hangs down: the
    task's draw (positions, velocities ``(J,)``) with the last joint turned by pi, so the
    cart-pole's ``theta = pi + eps`` becomes ``eps`` (upright, same spread: 0.05 rad std).

    Raises ``ValueError`` if the task's drawn last-joint angle is not near pi (not hanging).
    """
    q, qd = task.sample_initial_state(rng)
    if abs(q[-1] - math.pi) > 0.5:
        raise ValueError(
            f"task {task.name!r}: a balance start turns a hanging pendulum upright, but its "
            f"initial {task.joint_names[-1]} is {q[-1]:.2f} rad, not near pi "
            "(--start task uses the task's own initial states)"
        )
    q = q.copy()
    q[-1] -= math.pi
    return q, qd


def run_pixel_episode(
    env: Any,
    policy: FramePolicy,
    seed: int,
    initial_state: tuple[np.ndarray, np.ndarray] | None = None,
    action_repeat: int = 1,
    reads: str = "frame",
) -> PixelEpisode:
    """One episode of ``policy`` in the pixel env ``env``
    (:func:`mbrl_sim.pixel_env.make_pixel_env`, ``frame_stack=1``), reset with ``seed`` (and
    ``initial_state`` positions/velocities ``(J,)``, else the task's draw), until it
    terminates or truncates.

    ``action_repeat`` k: the policy sees every k-th frame and its action is held for k env
    steps (PlaNet's action repeat); the episode then holds those frames and states, one action
    per k steps, and each reward is the sum over its k steps (``total`` is the env's return).
    Success is judged on every env step. ``reads="state"``: the policy is given the
    simulator's state observation ``info["state"] (O,)`` instead of the frame (a state planner
    as a behaviour policy: ``train-pixels --teacher``); what is stored is the same."""
    if reads not in ("frame", "state"):
        raise ValueError(f"reads={reads!r}; allowed: 'frame', 'state'")
    sim = env.unwrapped.sim
    task, low, high = sim.task, sim.task.low, sim.task.high
    options = None if initial_state is None else {"initial_state": initial_state}
    frame, info = env.reset(seed=seed, options=options)
    goal = np.asarray(info.get("goal", []), np.float32)
    frames, states, actions, rewards, ok = [frame], [info["state"]], [], [], []
    done = False
    while not done:
        seen = frame if reads == "frame" else states[-1]
        action = np.clip(np.asarray(policy(seen), np.float32).reshape(low.shape), low, high)
        total = 0.0
        for _ in range(action_repeat):
            frame, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            ok.append(task.is_success(info["state"], goal))
            done = terminated or truncated
            if done:
                break
        frames.append(frame)
        states.append(info["state"])
        actions.append(action)
        rewards.append(total)
    tail = max(1, len(ok) // 10)
    rule = getattr(task, "episode_success", "final")
    success = any(ok) if rule == "reached" else bool(np.mean(ok[-tail:]) > 0.5)
    return PixelEpisode(
        frames=np.stack(frames),
        states=np.stack(states).astype(np.float32),
        actions=np.stack(actions),
        rewards=np.asarray(rewards, np.float32),
        goal=goal,
        success=success,
        steps=len(ok),
    )


def store_episode(
    episode: PixelEpisode, root: Any, camera: Any, meta: dict[str, Any] | None = None
) -> int:
    """Append ``episode`` to the transition store at ``root`` and its frames to the image store
    beside it (``camera``: the :class:`~mbrl_control.tasks.camera_section.CameraSpec` used,
    kept with the frames); ``meta`` (JSON values) joins the episode's metadata. Returns the
    episode id. Transitions are written first: a crash in between leaves an episode without
    frames, which the sequence loader skips with a warning."""
    from mbrl_control.data.image_store import ImageStore
    from mbrl_control.data.store import TransitionStore

    full = {"goal": episode.goal.tolist(), "return": episode.total, **(meta or {})}
    ep = TransitionStore(root).append_episode(episode.states, episode.actions, full)
    cam = dataclasses.asdict(camera) if dataclasses.is_dataclass(camera) else dict(camera)
    ImageStore(root).write(ep, episode.frames, cam)
    return ep
