"""Collect domain-randomized episodes into a :class:`TransitionStore`, in parallel.

Every episode gets its own seed from ``SeedSequence(seed).spawn(episodes)``, so the data
does not depend on the number of workers or on which worker ran which episode. Workers
(local processes, or Ray tasks) each keep one env and policy and return whole episodes; the
parent appends them to the store as they arrive (atomically, one file each).

With ``pixels=True`` each episode also carries the camera frame of every state, rendered by
the pixel env's camera (:func:`mbrl_sim.pixel_env.sim_camera`) on the same simulator, and
the parent stores them beside the transitions under the same episode id
(:class:`~mbrl_control.data.image_store.ImageStore`, what
:class:`~mbrl_control.data.image_store.SequenceLoader` reads). Rendering does not touch the
physics: the transitions are the same bytes as without frames.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mbrl_control.control.excitation import DEFAULT_LOOKAHEAD_S, ExcitationGuard, noisy_action
from mbrl_control.data.store import TransitionStore

if TYPE_CHECKING:
    from mbrl_control.tasks.camera_section import CameraSpec

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to build its env and policy."""

    task: str
    """A built-in task name or a task-file path."""
    profile: str
    policy: str
    """``random`` or ``planner:PATH`` (an exported planner ONNX file)."""
    noise: float = 0.0
    """Exploration noise of a planner policy: Gaussian, std = ``noise`` × half the action
    range, the noisy action clipped to the task's bounds, and withheld (the planner's own
    action sent) while a joint is at or heading for its limit
    (:class:`~mbrl_control.control.excitation.ExcitationGuard`): a safe excitation policy
    for recording on a robot, the planner's behaviour widened, inside the task's limits."""
    pixels: bool = False
    """Also render the camera frame of every state: ``frames (T+1, S, S, 3)`` uint8."""
    camera: CameraSpec | None = None
    """The frames' view (default: the task's ``camera`` section); only with ``pixels``."""
    noise_lookahead_s: float = DEFAULT_LOOKAHEAD_S
    """The noise guard's look-ahead (s): position + velocity × this must stay inside."""
    noise_guard: bool = True
    """False: the noise is never withheld (only to measure what the guard does)."""

    def __post_init__(self) -> None:
        if self.policy != "random" and not self.policy.startswith("planner:"):
            raise ValueError(f"policy={self.policy!r}; allowed: 'random', 'planner:PATH'")
        if not 0.0 <= self.noise <= 1.0 or (self.noise and self.policy == "random"):
            raise ValueError(
                f"noise={self.noise!r}: a fraction in [0, 1] of the action half-range, for a "
                "planner policy only"
            )
        if self.camera is not None and not self.pixels:
            raise ValueError("camera is the view of the frames: it needs pixels=True")
        if not (math.isfinite(self.noise_lookahead_s) and self.noise_lookahead_s >= 0):
            raise ValueError(
                f"noise_lookahead_s={self.noise_lookahead_s!r}: seconds, finite and >= 0"
            )


_CACHE: dict[WorkerConfig, tuple[Any, Any, Any]] = {}


def _env_and_planner(cfg: WorkerConfig) -> tuple[Any, Any, Any]:
    """This process's env, planner and pixel camera (None without ``cfg.pixels``) for
    ``cfg`` (built once per process)."""
    if cfg not in _CACHE:
        import mbrl_sim
        import torch

        torch.set_num_threads(1)
        env = mbrl_sim.make_env(cfg.task, cfg.profile)
        planner = None
        if cfg.policy.startswith("planner:"):
            from mbrl_control.export.runtime import OnnxPlanner

            planner = OnnxPlanner(cfg.policy.split(":", 1)[1], expected_task=env.unwrapped.task)
        camera = None
        if cfg.pixels:
            from mbrl_sim.pixel_env import sim_camera

            camera = sim_camera(env.unwrapped, cfg.camera)
        _CACHE[cfg] = (env, planner, camera)
    return _CACHE[cfg]


def pixel_camera_spec(cfg: WorkerConfig) -> dict[str, Any]:
    """The view ``cfg``'s frames are rendered from, fitted (target and distance resolved), as
    stored with them. Raises ``ValueError`` without ``cfg.pixels``."""
    import dataclasses

    camera = _env_and_planner(cfg)[2]
    if camera is None:
        raise ValueError("no frames without pixels=True")
    return dataclasses.asdict(camera.spec)


def rollout(cfg: WorkerConfig, seed: int, observers: Sequence[Any] = ()) -> dict[str, Any]:
    """One episode: ``{"obs": (T+1, O), "action": (T, A), "meta": dict}``, with
    ``cfg.pixels`` also ``"frames": (T+1, S, S, 3)`` uint8 (frame t shows obs[t]).

    ``observers``: episode observers (:mod:`mbrl_control.pipeline.evaluate`'s protocol, e.g.
    its ``SafetyMonitor``), told of the reset and of every step; the keys their ``on_end``
    returns go into ``meta``."""
    env, planner, camera = _env_and_planner(cfg)
    task = env.unwrapped.task
    rng = np.random.default_rng((seed, 1))  # the random policy's (and the noise's) stream
    obs, info = env.reset(seed=seed)
    goal = np.asarray(info["goal"], np.float32)
    if planner is not None:  # its noise stream from the episode's seed: the data do not
        planner.reset(seed=seed)  # depend on which worker ran which episodes before
    guard = None
    if planner is not None and cfg.noise:
        guard = ExcitationGuard(task, cfg.noise_lookahead_s, enabled=cfg.noise_guard)
    for o in observers:
        o.on_reset(env, obs, info)
    observations, actions, ret, success = [obs], [], 0.0, False
    frames = None if camera is None else [camera.render()]
    done = False
    while not done:
        if planner is None:
            action = rng.uniform(task.low, task.high).astype(np.float32)
        else:
            action = np.asarray(planner.act(obs, goal=goal if task.goal_dim else None), np.float32)
            if guard is not None:  # noise drawn every step: the stream does not depend on it
                noisy = noisy_action(action, cfg.noise, task.low, task.high, rng)
                action = guard(obs, action, noisy)
        obs, reward, terminated, truncated, step_info = env.step(action)
        for o in observers:
            o.on_step(env, obs, action, -float(reward), step_info)
        observations.append(obs)
        if frames is not None:
            frames.append(camera.render())
        actions.append(np.clip(action, task.low, task.high))
        ret += reward
        success = success or step_info["is_success"]
        done = terminated or truncated
    meta = {
        "task": task.name,
        **({"task_file": cfg.task} if cfg.task != task.name else {}),
        "profile": cfg.profile,
        "policy": cfg.policy,
        **({"noise": cfg.noise, "noise_guard": guard.summary()} if guard is not None else {}),
        "seed": int(seed),
        "dr": info["dr"],
        "goal": info["goal"],
        "return": float(ret),
        "success": bool(success),
        "terminated": bool(terminated),
        "source": "sim",
    }
    for o in observers:
        extra = o.on_end({"return": float(ret), "steps": len(actions)})
        if clash := set(extra) & set(meta):
            raise ValueError(f"{type(o).__name__} adds keys already in meta: {sorted(clash)}")
        meta.update(extra)
    episode = {"obs": np.stack(observations), "action": np.stack(actions), "meta": meta}
    if frames is not None:
        episode["frames"] = np.stack(frames)
    return episode


def _rollout_job(job: tuple[WorkerConfig, int]) -> dict[str, Any]:
    return rollout(*job)


def episode_seeds(seed: int, episodes: int) -> list[int]:
    """One independent 32-bit seed per episode."""
    children = np.random.SeedSequence(seed).spawn(episodes)
    return [int(c.generate_state(1, np.uint32)[0]) for c in children]


def _quiet_worker() -> None:
    """Pool initializer: the parent already loaded the robot description and logged its
    warnings (missing meshes...) once; workers do not repeat them."""
    import logging

    logging.getLogger("mbrl_control.tasks.robot_description").setLevel(logging.ERROR)


def _local(cfg: WorkerConfig, seeds: list[int], workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        for s in seeds:
            yield rollout(cfg, s)
        return
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    with ctx.Pool(workers, initializer=_quiet_worker) as pool:
        yield from pool.imap_unordered(_rollout_job, [(cfg, s) for s in seeds])


def _ray(cfg: WorkerConfig, seeds: list[int], workers: int) -> Iterator[dict[str, Any]]:
    import os

    import ray

    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init()
        else:
            ray.init(num_cpus=max(workers, 1), include_dashboard=False)
    remote = ray.remote(num_cpus=1)(rollout)
    pending = [remote.remote(cfg, s) for s in seeds]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        yield ray.get(ready[0])


def collect(
    task: str,
    profile: str,
    episodes: int,
    policy: str,
    workers: int,
    out: str | Path,
    seed: int = 0,
    backend: str = "local",
    quiet: bool = False,
    noise: float = 0.0,
    pixels: bool = False,
    camera: CameraSpec | None = None,
    noise_lookahead_s: float = DEFAULT_LOOKAHEAD_S,
) -> dict[str, Any]:
    """Collect ``episodes`` episodes of ``task`` (a built-in name or a task-file path) into
    the store at ``out``; return a summary dict. ``noise``: a planner policy's exploration
    noise (:attr:`WorkerConfig.noise`, withheld near the joints' limits: look-ahead
    ``noise_lookahead_s``). ``pixels``: also store each episode's camera frames
    beside it (``OUT/images``, from ``camera``, default the task's ``camera`` section); a
    store's frames share one view, so a store with frames from another view is refused."""
    from mbrl_sim.profiles import load_profile
    from mbrl_sim.scene_spec import scene_spec
    from tqdm import tqdm

    from mbrl_control.tasks import get_task

    # fail fast on bad names and scenes before starting workers (and log the robot
    # description's warnings here, once)
    scene_spec(get_task(task))
    load_profile(profile)
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}; allowed: {list(BACKENDS)}")
    if episodes < 1 or workers < 1:
        raise ValueError(f"episodes and workers must be >= 1, got {episodes}, {workers}")
    cfg = WorkerConfig(task, profile, policy, noise, pixels, camera, noise_lookahead_s)
    images, view, frames = None, None, 0
    if pixels:  # the fitted view; workers=1 reuses this env
        view = pixel_camera_spec(cfg)
        images = _image_store(out, view)
    store = TransitionStore(out)
    seeds = episode_seeds(seed, episodes)
    runner = _local if backend == "local" else _ray
    start, steps, ids, returns = time.perf_counter(), 0, [], []
    with tqdm(total=episodes, disable=quiet, unit="ep", desc=f"collect {task}") as bar:
        for ep in runner(cfg, seeds, workers):
            ids.append(store.append_episode(ep["obs"], ep["action"], ep["meta"]))
            if images is not None:  # after the transitions, as store_episode does
                images.write(ids[-1], ep["frames"], view)
                frames += len(ep["frames"])
            steps += len(ep["action"])
            returns.append(ep["meta"]["return"])
            bar.update(1)
    elapsed = time.perf_counter() - start
    return {
        "out": str(out),
        "task": task,
        "profile": profile,
        "policy": policy,
        "backend": backend,
        "workers": workers,
        "episodes_written": len(ids),
        "episode_ids": [min(ids), max(ids)],
        "transitions": steps,
        "store_episodes": len(store),
        "return_mean": float(np.mean(returns)),
        "elapsed_s": round(elapsed, 3),
        "env_steps_per_s": round(steps / elapsed, 1) if elapsed > 0 else math.inf,
        **({"frames": frames, "camera": view} if pixels else {}),
    }


def _image_store(out: str | Path, view: dict[str, Any]) -> Any:
    """The frames store of ``out``; refuses one whose frames came from another view (a
    sequence loader stacks frames of one size and a world model learns one view)."""
    import json

    from mbrl_control.data.image_store import ImageStore

    if (Path(out) / "images").is_dir():
        have = ImageStore(out).episodes()
        if have:
            old = ImageStore(out).camera(have[-1])
            new = json.loads(json.dumps(view))  # tuples as the stored JSON has them
            diff = [f"{k} {old.get(k)} there, {new.get(k)} here" for k in new
                    if old.get(k) != new.get(k)]  # fmt: skip
            if diff:
                raise ValueError(
                    f"{out}: its frames are from another camera ({'; '.join(diff)}); one "
                    "store holds one view: collect into another --out or use its camera"
                )
    return ImageStore(out)
