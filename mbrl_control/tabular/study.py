"""The Dyna-Q study: learning curves for n planning steps per real step, averaged over seeds.

``run_study(env_name, ns=(0, 5, 50), seeds=10, episodes=50)`` trains one
:class:`~mbrl_control.tabular.agent.DynaQAgent` per ``(n, model kind, seed)`` and records per
episode:

- ``steps``: real steps the episode took (Sutton & Barto's Fig. 8.2 y-axis);
- ``value_ratio``: the exact value of the agent's greedy policy at the start state over the
  optimal value (from the environment's known dynamics, :mod:`~mbrl_control.tabular.values`;
  1 = optimal), after the episode;
- ``greedy_steps`` (deterministic environments only): length of the greedy path from the start
  to the goal after the episode (``None``: it does not reach the goal in 4 x S steps).

Environments (:data:`ENVS`): ``maze`` (S&B's Dyna maze, optimal path 14), ``maze-slip``
(the maze where a move goes in a random direction with probability 0.2) and ``frozenlake``
(gymnasium's slippery 4x4 ``FrozenLake-v1``). On the stochastic ones the study also runs
``kind="last"`` (a model that keeps only the latest outcome of each pair) next to the
frequency model. Everything is seeded: seed ``i`` of a run uses ``base_seed + i`` for the
agent and the environment. Numpy and gymnasium only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mbrl_control.tabular.agent import DynaQAgent
from mbrl_control.tabular.maze import OPTIMAL_STEPS, DynaMaze
from mbrl_control.tabular.model import TabularModel
from mbrl_control.tabular.values import Dense, Table, dense, optimal_values, policy_values

ENVS = ("maze", "maze-slip", "frozenlake")
SLIP = 0.2
GAMMA = 0.95
ALPHA = 0.1
EPSILON = 0.1
NEAR = 0.9
"""Value ratio counted as near-optimal (``first_near``)."""
MAX_STEPS = {"maze": None, "maze-slip": 2000, "frozenlake": 100}
"""Episode step limits (a truncated episode is not terminal: it still bootstraps)."""


@dataclass
class EnvSpec:
    """An environment of the study with its exact dynamics ``P`` and start state."""

    name: str
    env: Any
    P: Table
    n_states: int
    n_actions: int
    start: int
    deterministic: bool
    model: Dense


def make_env(name: str) -> EnvSpec:
    """The study's environment ``name`` (one of :data:`ENVS`; ``ValueError`` otherwise)."""
    if name in ("maze", "maze-slip"):
        env: Any = DynaMaze(slip=SLIP if name == "maze-slip" else 0.0, max_steps=MAX_STEPS[name])
        P, start = env.P, env.reset(seed=0)[0]
    elif name == "frozenlake":
        import gymnasium

        env = gymnasium.make("FrozenLake-v1", is_slippery=True, max_episode_steps=100)
        P, start = env.unwrapped.P, int(env.reset(seed=0)[0])
    else:
        raise ValueError(f"unknown Dyna-Q environment {name!r}; allowed: {', '.join(ENVS)}")
    deterministic = all(len(out) == 1 for acts in P.values() for out in acts.values())
    n_states, n_actions = int(env.observation_space.n), int(env.action_space.n)
    return EnvSpec(
        name, env, P, n_states, n_actions, int(start), deterministic,
        dense(P, n_states, n_actions),
    )  # fmt: skip


def greedy_path_steps(spec: EnvSpec, policy: np.ndarray) -> int | None:
    """Steps of ``policy`` from the start to termination in a deterministic environment
    (``None`` if it does not terminate within ``4 * n_states`` steps)."""
    state = spec.start
    for step in range(1, 4 * spec.n_states + 1):
        _, state, _, done = spec.P[state][int(policy[state])][0]
        if done:
            return step
    return None


def train_agent(
    spec: EnvSpec, n: int, kind: str, seed: int, episodes: int, optimal: float
) -> dict[str, list]:
    """One agent's per-episode ``steps``, ``value_ratio`` and (deterministic env)
    ``greedy_steps`` over ``episodes`` episodes (see module doc)."""
    agent = DynaQAgent(
        spec.n_states, spec.n_actions, planning_steps=n, alpha=ALPHA, gamma=GAMMA,
        epsilon=EPSILON, model=TabularModel(kind), seed=seed,
    )  # fmt: skip
    env = spec.env
    env.reset(seed=seed)
    out: dict[str, list] = {
        "steps": [],
        "value_ratio": [],
        "estimate_ratio": [],
        "greedy_steps": [],
    }
    for _ in range(episodes):
        state, _ = env.reset()
        steps = 0
        while True:
            action = agent.act(int(state))
            nxt, reward, terminated, truncated, _ = env.step(action)
            agent.learn(int(state), action, float(reward), int(nxt), bool(terminated))
            state, steps = nxt, steps + 1
            if terminated or truncated:
                break
        policy = np.argmax(agent.q, axis=1)
        value = policy_values(spec.model, policy, GAMMA)[spec.start]
        out["steps"].append(steps)
        out["value_ratio"].append(round(float(value / optimal), 6))
        if spec.deterministic:
            out["greedy_steps"].append(greedy_path_steps(spec, policy))
    if not spec.deterministic:
        del out["greedy_steps"]
    return out


def run_study(
    env_name: str,
    ns: Sequence[int] = (0, 5, 50),
    seeds: int = 10,
    episodes: int = 50,
    base_seed: int = 0,
    by_episode: int = 5,
    kinds: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Curves and summary of Dyna-Q on ``env_name`` (JSON-ready dict; see module doc).

    ``runs[label]`` per ``label = "n=<n>"`` (plus ``"n=<n>, last"`` on stochastic
    environments) holds the per-seed lists and their means; ``summary[label]`` the numbers
    the README cites (see :func:`summarize`). ``kinds`` overrides the model kinds (default:
    ``frequency``, and ``last`` too on a stochastic environment). Raises ``ValueError`` for an
    unknown environment, ``seeds < 1``, ``episodes < 1`` or a negative n.
    """
    if seeds < 1 or episodes < 1 or any(n < 0 for n in ns):
        raise ValueError(f"need seeds >= 1, episodes >= 1, n >= 0; got {seeds}, {episodes}, {ns}")
    spec = make_env(env_name)
    optimal = float(optimal_values(spec.model, GAMMA)[spec.start])
    if kinds is None:
        kinds = ("frequency",) if spec.deterministic else ("frequency", "last")
    runs: dict[str, Any] = {}
    for kind in kinds:
        for n in ns:
            label = f"n={n}" if kind == "frequency" else f"n={n}, last"
            per_seed = [
                train_agent(spec, n, kind, base_seed + i, episodes, optimal) for i in range(seeds)
            ]
            runs[label] = _pool(per_seed)
    return {
        "env": env_name,
        "config": {
            "ns": list(ns),
            "seeds": seeds,
            "episodes": episodes,
            "base_seed": base_seed,
            "alpha": ALPHA,
            "gamma": GAMMA,
            "epsilon": EPSILON,
            "slip": SLIP,
            "max_steps": MAX_STEPS[env_name],
            "by_episode": by_episode,
        },
        "optimal_value": optimal,
        "optimal_steps": OPTIMAL_STEPS if env_name == "maze" else None,
        "runs": runs,
        "summary": {label: summarize(run, episodes, by_episode) for label, run in runs.items()},
    }


def _pool(per_seed: list[dict[str, list]]) -> dict[str, Any]:
    """Per-seed lists side by side, plus the seed means of steps and value ratio."""
    run: dict[str, Any] = {key: [r[key] for r in per_seed] for key in per_seed[0]}
    run["steps_mean"] = np.mean(run["steps"], axis=0).round(2).tolist()
    run["value_ratio_mean"] = np.mean(run["value_ratio"], axis=0).round(4).tolist()
    return run


def summarize(run: dict[str, Any], episodes: int, by_episode: int) -> dict[str, Any]:
    """Per run: ``value_ratio_at`` (seed mean after episode ``by_episode``),
    ``first_near`` per seed (first episode whose greedy policy is worth >= 0.9 of the optimal
    value; on the maze: a greedy path at most 2 steps longer than the shortest) and its mean,
    ``first_optimal`` per seed (first episode whose greedy policy is optimal, value ratio
    >= 0.999; ``None`` if never) and its mean with ``None`` counted as ``episodes + 1``
    (censored: a bound in the run's disfavour); on the deterministic maze also
    ``greedy_steps_at`` (per seed) and ``optimal_at`` (share of seeds whose greedy path is
    optimal after ``by_episode``)."""
    k = min(by_episode, episodes) - 1
    firsts = [
        next((i + 1 for i, v in enumerate(ratios) if v >= 0.999), None)
        for ratios in run["value_ratio"]
    ]
    near = [
        next((i + 1 for i, v in enumerate(ratios) if v >= NEAR), None)
        for ratios in run["value_ratio"]
    ]
    out: dict[str, Any] = {
        "first_near": near,
        "first_near_mean": float(np.mean([f or episodes + 1 for f in near])),
        "value_ratio_at": float(np.mean([r[k] for r in run["value_ratio"]]).round(4)),
        "first_optimal": firsts,
        "first_optimal_mean": float(np.mean([f or episodes + 1 for f in firsts])),
    }
    if "greedy_steps" in run:
        at = [g[k] for g in run["greedy_steps"]]
        out["greedy_steps_at"] = at
        out["optimal_at"] = float(np.mean([s == OPTIMAL_STEPS for s in at]))
    return out
