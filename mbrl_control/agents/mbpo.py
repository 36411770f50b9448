"""MBPO (Janner et al. 2019): SAC on short branched rollouts of the ensemble from real states.

Shape letters: B branches (rows), E members, O obs dim, G goal dim (0 for goal-free tasks),
A action dim, k rollout length. The agent's rows are the state with the goal appended,
``(·, O+G)`` (the model sees the first O columns; a branch keeps its goal).

Per epoch: (optionally) step the real env with the actor and refit the model every
``retrain_every`` real steps (its error on those steps, measured before the refit, is the
hold-out error that sets the real share); start B branches at real states and roll each out
for up to k steps, one random member per step, stopping a branch once the members disagree;
put the imagined transitions in the model buffer; take SAC steps on batches that mix real and
imagined rows, the real share falling from ``real_ratio_max`` to ``real_ratio_min`` as the
model's hold-out error falls. Costs come from the task (reward = -cost), or from the
model's learned reward head when it has one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mbrl_control.agents.buffer import ReplayBuffer
from mbrl_control.agents.config import MBPOConfig
from mbrl_control.agents.sac import SAC, Batch
from mbrl_control.models.config import TrainConfig
from mbrl_control.models.cost_targets import transition_costs
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.models.trainer import as_rows, fit, score_rows
from mbrl_control.planning.rollout import with_goal
from mbrl_control.tasks.base import Task
from mbrl_control.uncertainty.quantities import epistemic_disagreement

Callback = Callable[[int, dict[str, Any]], None]


# ---- schedules ---------------------------------------------------------------------------
def rollout_length(epoch: int, cfg: MBPOConfig) -> int:
    """Branch length at ``epoch``: 1 until ``cfg.ramp[0]``, linear up to k at ``[1]``."""
    a, b = cfg.ramp
    frac = 1.0 if b == a else min(max((epoch - a) / (b - a), 0.0), 1.0)
    return round(1 + frac * (cfg.rollout_length - 1))


def real_ratio(error: float, cfg: MBPOConfig) -> float:
    """Share of real rows per batch for a model hold-out error (normalized MSE).

    ``real_ratio_max`` at ``error >= error_high``, ``real_ratio_min`` at ``error <= error_low``,
    log-linear in between (a non-finite error counts as a poor model).
    """
    if not math.isfinite(error) or error >= cfg.error_high:
        return cfg.real_ratio_max
    span = math.log(cfg.error_high) - math.log(cfg.error_low)
    frac = min(max((math.log(max(error, 1e-12)) - math.log(cfg.error_low)) / span, 0.0), 1.0)
    return cfg.real_ratio_min + frac * (cfg.real_ratio_max - cfg.real_ratio_min)


# ---- model rollouts ----------------------------------------------------------------------
def disagreement(model: Ensemble, member_mean: torch.Tensor) -> torch.Tensor:
    """Epistemic disagreement ``(B,)`` of member means ``(E, B, O)``: the one definition
    (:func:`~mbrl_control.uncertainty.quantities.epistemic_disagreement`) that the planner
    penalty uses. Every branch step is a one-step prediction from the branch's current
    (imagined) state, so it is calibrated at horizon k = 1 (the model's ``var_scale[0]``)."""
    p = model.cfg.predicted_dim
    return epistemic_disagreement(member_mean[..., :p], model.target_std, model.var_scale[0])


@torch.no_grad()
def branch(
    model: Ensemble,
    agent: SAC,
    task: Task,
    start: torch.Tensor,
    length: int,
    threshold: float,
    generator: torch.Generator,
) -> tuple[Batch, torch.Tensor]:
    """Branched rollouts of the actor through the ensemble from real rows ``start (B, O+G)``.

    Each step uses one random member per row and samples its Gaussian; a row stops (for
    good) at the first step whose epistemic disagreement (:func:`disagreement`) exceeds
    ``threshold``, and that step is not kept. Returns the kept transitions ``(M, ·)``
    (M <= B·length) and each branch's kept length ``(B,)``.
    """
    e, b = model.members, start.shape[0]
    rows = torch.arange(b)
    obs, goal = start[:, : task.obs_dim], start[:, task.obs_dim :]  # (B, O), (B, G)
    alive, lengths = torch.ones(b, dtype=torch.bool), torch.zeros(b, dtype=torch.long)
    kept: list[Batch] = []
    for _ in range(length):
        x = with_goal(obs, goal)  # (B, O+G)
        action = agent.actor(x, agent.noise(b))[0]  # (B, A)
        mean, logvar = model(obs.expand(e, *obs.shape), action.expand(e, *action.shape))
        alive = alive & (disagreement(model, mean) <= threshold)  # (B,)
        member = torch.randint(e, (b,), generator=generator)  # one member per row
        eps = torch.randn(obs.shape, generator=generator)
        next_obs = mean[member, rows] + (0.5 * logvar[member, rows]).exp() * eps  # (B, O)
        if model.cfg.reward_head:
            cost = model.forward_cost(obs[None], action[None]).expand(e, b)[member, rows]
        else:
            cost = task.cost(obs, action, next_obs, goal)
        kept.append(
            {"obs": x, "action": action, "reward": -cost,
             "next_obs": with_goal(next_obs, goal), "alive": alive}
        )  # fmt: skip
        lengths += alive
        obs = next_obs
    mask = torch.cat([k.pop("alive") for k in kept])  # (length·B,)
    out = {key: torch.cat([k[key] for k in kept])[mask] for key in kept[0]}
    return out, lengths


def mixed_batch(
    real: ReplayBuffer, imagined: ReplayBuffer, ratio: float, size: int, rng: np.random.Generator
) -> Batch:
    """``size`` rows: ``round(ratio * size)`` real, the rest imagined (all real while the
    model buffer is empty)."""
    n_real = size if len(imagined) == 0 else round(ratio * size)
    parts = [real.sample(n_real, rng)] if n_real else []
    if n_real < size:
        parts.append(imagined.sample(size - n_real, rng))
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def model_error(model: Ensemble, real: ReplayBuffer, rows: int = 4096) -> float:
    """Normalized one-step MSE of the model (mean over members) on the newest ``rows`` real
    rows. Before each refit the loop measures it on the real steps taken since the last fit:
    the model's error where the current policy goes, on data it has not been trained on."""
    data, o = real.all(), model.cfg.obs_dim
    take = slice(max(0, len(real) - rows), len(real))
    obs, next_obs = data["obs"][take, :o], data["next_obs"][take, :o]
    sample = as_rows(model, obs, data["action"][take], next_obs)
    return float(score_rows(model, sample)[1].mean())


# ---- real steps --------------------------------------------------------------------------
class RealSteps:
    """The actor acting in a real (or simulated) env between epochs; tracks episode returns.

    Rows are ``(O+G)``: the env's observation with its episode goal (``reset`` info) appended.
    """

    def __init__(self, env: Any, seed: int) -> None:
        self.env, self.seed, self.episodes = env, seed, 0
        self.obs = self._reset()
        self.ret, self.returns = 0.0, []  # current and finished episode returns

    def _reset(self) -> np.ndarray:
        self.episodes += 1
        obs, info = self.env.reset(seed=self.seed + self.episodes)
        self.goal = np.asarray(info.get("goal", []), np.float32)  # (G,)
        return obs

    def run(self, agent: SAC, steps: int) -> tuple[Batch, np.ndarray]:
        """``steps`` steps of the exploring actor: the transitions ``(steps, ·)`` and the
        episode number of each ``(steps,)`` (episodes are contiguous and in time order)."""
        out: dict[str, list[Any]] = {"obs": [], "action": [], "reward": [], "next_obs": []}
        episode = []
        for _ in range(steps):
            x = np.concatenate([self.obs, self.goal]).astype(np.float32)
            action = agent.act(torch.as_tensor(x)[None])[0].numpy()
            next_obs, reward, terminated, truncated, _ = self.env.step(action)
            next_x = np.concatenate([next_obs, self.goal])
            for key, value in zip(out, (x, action, reward, next_x)):
                out[key].append(value)
            episode.append(self.episodes)
            self.ret += float(reward)
            self.obs = next_obs
            if terminated or truncated:
                self.returns.append(self.ret)
                self.ret, self.obs = 0.0, self._reset()
        rows = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in out.items()}
        return rows, np.asarray(episode, np.int64)

    def drain(self) -> list[float]:
        """Returns of the episodes finished since the last call."""
        done, self.returns = self.returns, []
        return done


# ---- the loop ----------------------------------------------------------------------------
def train_mbpo(
    agent: SAC,
    model: Ensemble,
    task: Task,
    real: ReplayBuffer,
    cfg: MBPOConfig = MBPOConfig(),  # noqa: B008  (frozen dataclass: immutable default)
    *,
    env: Any | None = None,
    quiet: bool = True,
    callback: Callback | None = None,
) -> dict[str, Any]:
    """Train ``agent`` MBPO-style; ``real`` holds the real transitions as ``(O+G)`` rows
    (grows with ``env``).

    ``model`` is refit in place every ``cfg.retrain_every`` real steps when ``env`` is given.
    Returns ``history`` (one dict per epoch: ``rollout_length``, ``mean_branch_length``,
    ``imagined_return`` (mean reward sum of a branch), ``real_ratio``, ``model_error``,
    ``model_rows``, ``real_rows``, ``critic_loss``, ``actor_loss``, ``alpha``, ``entropy``,
    ``q``, ``real_returns`` finished this epoch), ``real_steps`` and ``model_refits``.
    """
    rng = np.random.default_rng(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    imagined = ReplayBuffer(cfg.model_buffer, task.obs_dim + task.goal_dim, task.act_dim)
    stepper = RealSteps(env, cfg.seed) if env is not None and cfg.env_steps_per_epoch else None
    error, since_refit, refits, real_steps = model_error(model, real), 0, 0, 0
    history: list[dict[str, Any]] = []
    bar = tqdm(range(cfg.epochs), disable=quiet, desc="mbpo", unit="epoch")
    for epoch in bar:
        # real steps, and a model refit every retrain_every of them
        if stepper is not None:
            real.add(stepper.run(agent, cfg.env_steps_per_epoch)[0])
            real_steps += cfg.env_steps_per_epoch
            since_refit += cfg.env_steps_per_epoch
            if since_refit >= cfg.retrain_every:
                # the error that sets the real share: on the real steps the model has not seen
                error = model_error(model, real, rows=since_refit)
                data, o = real.all(), task.obs_dim
                train_cfg = TrainConfig(max_epochs=cfg.retrain_epochs, seed=cfg.seed + epoch)
                obs, next_obs = data["obs"][:, :o], data["next_obs"][:, :o]
                cost = None  # a reward-head model (cost: learned) trains its head too
                if model.cfg.reward_head:
                    goal = data["obs"][:, o:] if task.goal_dim else None
                    cost = transition_costs(task, obs, data["action"], next_obs, goal)
                fit(model, obs, data["action"], next_obs, cfg=train_cfg, cost=cost, rng=rng)
                since_refit, refits = 0, refits + 1
        # branched model rollouts from real states into the model buffer
        k = rollout_length(epoch, cfg)
        start = real.sample(cfg.branches, rng)["obs"]
        rows, lengths = branch(model, agent, task, start, k, cfg.disagreement_threshold, generator)
        imagined.add(rows)
        branch_return = torch.zeros(cfg.branches).index_add_(
            0, _branch_index(lengths), rows["reward"]
        )
        # SAC on real / imagined mixes
        ratio = real_ratio(error, cfg)
        metrics = [
            agent.update(mixed_batch(real, imagined, ratio, cfg.batch_size, rng))
            for _ in range(cfg.updates_per_epoch)
        ]
        info = {
            "epoch": epoch,
            "rollout_length": k,
            "mean_branch_length": float(lengths.float().mean()),
            "imagined_return": float(branch_return.mean()),
            "real_ratio": ratio,
            "model_error": error,
            "model_rows": len(imagined),
            "real_rows": len(real),
            **{key: float(torch.stack([m[key] for m in metrics]).mean()) for key in metrics[0]},
            "real_returns": [] if stepper is None else stepper.drain(),
        }
        history.append(info)
        bar.set_postfix(critic=f"{info['critic_loss']:.3f}", k=k, real=f"{ratio:.2f}")
        if callback is not None:
            callback(epoch, info)
    bar.close()
    return {"history": history, "real_steps": real_steps, "model_refits": refits}


def _branch_index(lengths: torch.Tensor) -> torch.Tensor:
    """Branch id of each kept row of :func:`branch` (rows are step-major, then branch)."""
    steps = int(lengths.max()) if lengths.numel() else 0
    alive = torch.arange(steps)[:, None] < lengths[None, :]  # (k, B)
    return torch.arange(lengths.shape[0]).expand(steps, -1)[alive]
