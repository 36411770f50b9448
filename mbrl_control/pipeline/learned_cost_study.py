"""A learned cost, measured: the planner with the ensemble's reward head as its cost (learned
from the recorded rewards only) against the same planner with the analytic cost, on paired
episodes of a gymnasium environment (Pendulum-v1).

The study, seeded end to end:

1. collect ``random_episodes`` random episodes (uniform actions held ``random_hold`` steps),
   recording ``(obs, action,
   next_obs, reward)``; the cost targets are the recorded ``-reward`` (never the analytic cost);
2. fit one ensemble with a reward head (:class:`~mbrl_control.models.config.EnsembleConfig`
   ``reward_head=True``) on them;
3. ``rounds`` times: run ``policy_episodes`` episodes with the learned-cost planner, add them
   to the data, refit warm for ``refit_epochs`` (the head learns the states its own planner
   visits, as PETS does for the dynamics: a head fitted on random data alone rates the fast
   spins it never saw as cheap, and its planner spins);
4. evaluate on ``eval_episodes`` paired episodes (the same start states, the same noise seed):
   the learned-cost planner and the analytic-cost planner, both on that one ensemble, so the
   cost is the only difference.

The result reports both mean returns and ``gap = (analytic - learned) / |analytic|`` (0: as
good; 0.1: 10 % worse), plus the head's error on fresh transitions of both planners. Only
environments with a known analytic cost can be compared (:data:`ANALYTIC_COSTS`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ENV_ID = "Pendulum-v1"


def pendulum_cost(obs: Any, action: Any, next_obs: Any) -> Any:
    """Pendulum-v1's cost in torch: ``theta^2 + 0.1 theta_dot^2 + 0.001 u^2`` with
    ``theta = atan2(sin, cos)`` from ``obs (B, 3) = [cos, sin, theta_dot]`` (``(B,)``)."""
    import torch

    theta = torch.atan2(obs[:, 1], obs[:, 0])
    return theta**2 + 0.1 * obs[:, 2] ** 2 + 0.001 * action[:, 0] ** 2


ANALYTIC_COSTS: dict[str, Callable[..., Any]] = {ENV_ID: pendulum_cost}
"""Environments the study can run: the analytic reference cost of each (its reward's negative)."""


@dataclass(frozen=True)
class LearnedCostConfig:
    """Sizes of the study (defaults: the CLI's; see module doc for the steps)."""

    env_id: str = ENV_ID
    random_episodes: int = 10
    random_hold: int = 1
    rounds: int = 2
    policy_episodes: int = 3
    eval_episodes: int = 5
    steps: int = 200
    epochs: int = 150
    refit_epochs: int = 50
    members: int = 5
    hidden: int = 64
    layers: int = 2
    planner: dict[str, Any] = field(
        default_factory=lambda: {
            "kind": "icem",
            "horizon": 15,
            "population": 48,
            "particles": 5,
            "iterations": 3,
        }
    )
    seed: int = 0

    def check(self) -> None:
        """``ValueError`` naming the first bad field."""
        if self.env_id not in ANALYTIC_COSTS:
            raise ValueError(
                f"learned-cost study: env {self.env_id!r} has no analytic cost to compare with; "
                f"allowed: {', '.join(ANALYTIC_COSTS)}"
            )
        for name in (
            "random_episodes",
            "random_hold",
            "eval_episodes",
            "steps",
            "epochs",
            "members",
        ):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"learned-cost study: {name} must be >= 1, got {getattr(self, name)}"
                )
        if self.rounds < 0 or self.policy_episodes < 0:
            raise ValueError("learned-cost study: rounds and policy_episodes must be >= 0")


class Transitions:
    """Growing arrays of ``obs (N, O)``, ``action (N, A)``, ``next_obs (N, O)``, ``cost (N,)``
    (the recorded ``-reward``) and ``episode (N,)``."""

    KEYS = ("obs", "action", "next_obs", "cost", "episode")

    def __init__(self) -> None:
        self.rows: dict[str, list] = {k: [] for k in self.KEYS}
        self.episodes = 0

    def add(self, obs, action, next_obs, reward) -> None:
        for key, value in zip(self.KEYS, (obs, action, next_obs, -float(reward), self.episodes)):
            self.rows[key].append(value)

    def end_episode(self) -> None:
        self.episodes += 1

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: np.asarray(v, np.float32) for k, v in self.rows.items() if k != "episode"}
        out["episode"] = np.asarray(self.rows["episode"], np.int64)
        return out


def env_seeds(seed: int, stream: str, count: int) -> list[int]:
    """``count`` environment reset seeds of one ``stream`` (``train`` / ``evaluate``) of a run:
    independent streams, so training never starts from an evaluation start state."""
    key = {"train": 0, "evaluate": 1}[stream]
    return [int(x) for x in np.random.SeedSequence([seed, key]).generate_state(count)]


class HeldRandom:
    """Uniformly random actions in ``[low, high]``, each held for ``hold`` steps (held actions
    pump energy into an underactuated system, so the data reaches fast and upright states)."""

    def __init__(self, low: Any, high: Any, hold: int, rng: np.random.Generator) -> None:
        self.low, self.high, self.hold, self.rng = low, high, int(hold), rng
        self.count, self.action = 0, None

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.count % self.hold == 0:
            self.action = self.rng.uniform(self.low, self.high)
        self.count += 1
        return self.action


def run_episode(env: Any, policy: Callable[[np.ndarray], np.ndarray], seed: int, steps: int,
                record: Transitions | None = None) -> float:  # fmt: skip
    """Return (sum of rewards) of one ``steps``-step episode from ``env.reset(seed=seed)``;
    transitions go to ``record`` when given."""
    obs, _ = env.reset(seed=seed)
    total = 0.0
    for _ in range(steps):
        action = np.asarray(policy(obs), np.float32)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        if record is not None:
            record.add(obs, action, next_obs, reward)
        obs = next_obs
        if terminated or truncated:
            break
    if record is not None:
        record.end_episode()
    return total


def run_learned_cost_study(
    out: str | Path,
    cfg: LearnedCostConfig = LearnedCostConfig(),
    quiet: bool = True,
) -> dict[str, Any]:
    """Run the study (module doc); returns a JSON-ready dict. Every planner runs exported,
    through onnxruntime (``OUT/learned_round<k>.onnx``, ``OUT/analytic.onnx``,
    ``OUT/learned.onnx``: what the controller would run). ``ValueError`` for a bad ``cfg``
    (see :meth:`LearnedCostConfig.check`). Torch runs on one intra-op thread meanwhile (the
    tensors are small; two threads fighting over two shared cores run many times slower)."""
    import torch

    cfg.check()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(Path(out), cfg, quiet)
    finally:
        torch.set_num_threads(threads)


def _run(out: Path, cfg: LearnedCostConfig, quiet: bool) -> dict[str, Any]:
    import gymnasium
    import torch

    from mbrl_control import (
        Ensemble,
        EnsembleConfig,
        GymTask,
        OnnxPlanner,
        PlannerConfig,
        TrainConfig,
        export_planner,
        fit,
    )

    out.mkdir(parents=True, exist_ok=True)

    def planner(model: Any, task: Any, name: str) -> Any:
        return OnnxPlanner(
            export_planner(model, task, planner_cfg, out / f"{name}.onnx"), seed=cfg.seed
        )

    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    env = gymnasium.make(cfg.env_id)
    analytic_task = GymTask.from_env(env, cost=ANALYTIC_COSTS[cfg.env_id])
    learned_task = GymTask.from_env(env, cost="learned")
    planner_cfg = PlannerConfig(**cfg.planner)
    rng = np.random.default_rng(cfg.seed)
    low, high = analytic_task.low, analytic_task.high
    data = Transitions()
    episodes = cfg.random_episodes + cfg.rounds * cfg.policy_episodes
    seeds = iter(env_seeds(cfg.seed, "train", episodes))
    for _ in range(cfg.random_episodes):
        run_episode(env, HeldRandom(low, high, cfg.random_hold, rng), next(seeds), cfg.steps, data)

    def train(model: Any | None = None) -> Any:
        """A fresh ensemble fitted for ``epochs``, or ``model`` warm-started for
        ``refit_epochs`` on all the data so far."""
        arrays = data.arrays()
        epochs = cfg.epochs if model is None else cfg.refit_epochs
        if model is None:
            model = Ensemble(
                EnsembleConfig.for_task(
                    learned_task, members=cfg.members, hidden=cfg.hidden, layers=cfg.layers,
                    reward_head=True, seed=cfg.seed,
                )
            )  # fmt: skip
        fit(
            model, arrays["obs"], arrays["action"], arrays["next_obs"], arrays["episode"],
            TrainConfig(max_epochs=epochs, seed=cfg.seed), cost=arrays["cost"],
        )  # fmt: skip
        return model.eval()

    model = train()
    for k in range(cfg.rounds):
        policy = planner(model, learned_task, f"learned_round{k}")
        for _ in range(cfg.policy_episodes):
            policy.reset()
            run_episode(env, policy.act, next(seeds), cfg.steps, data)
        model = train(model)
    trained = time.perf_counter()

    eval_seeds = env_seeds(cfg.seed, "evaluate", cfg.eval_episodes)
    returns: dict[str, list[float]] = {}
    fresh: dict[str, Transitions] = {}
    for label, task in (("analytic", analytic_task), ("learned", learned_task)):
        policy = planner(model, task, label)
        fresh[label] = Transitions()
        returns[label] = []
        for s in eval_seeds:
            policy.reset(seed=cfg.seed)
            returns[label].append(
                round(run_episode(env, policy.act, s, cfg.steps, fresh[label]), 2)
            )
            if not quiet:
                print(f"{label} episode {s}: {returns[label][-1]:.1f}", flush=True)
    analytic, learned = float(np.mean(returns["analytic"])), float(np.mean(returns["learned"]))
    return {
        "env": cfg.env_id,
        "config": asdict(cfg),
        "transitions": len(data.rows["obs"]),
        "returns": returns,
        "mean_return": {"analytic": round(analytic, 2), "learned": round(learned, 2)},
        "gap": round((analytic - learned) / abs(analytic), 4),
        "paired_gaps": [round(a - b, 2) for a, b in zip(returns["analytic"], returns["learned"])],
        "head_error": {label: head_error(model, rows) for label, rows in fresh.items()},
        "seconds": {
            "train": round(trained - started, 1),
            "evaluate": round(time.perf_counter() - trained, 1),
        },
    }


def head_error(model: Any, rows: Transitions) -> dict[str, float]:
    """The reward head (member mean) against the recorded costs of fresh transitions: RMSE
    and RMSE over the costs' standard deviation."""
    import torch

    arrays = rows.arrays()
    with torch.no_grad():
        e = model.members
        obs = torch.as_tensor(arrays["obs"]).expand(e, -1, -1)
        act = torch.as_tensor(arrays["action"]).expand(e, -1, -1)
        predicted = model.forward_cost(obs, act).mean(0).numpy()
    rmse = float(np.sqrt(np.mean((predicted - arrays["cost"]) ** 2)))
    return {
        "rmse": round(rmse, 4),
        "relative": round(rmse / float(arrays["cost"].std() + 1e-12), 4),
    }
