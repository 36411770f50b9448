"""Dyna-Q: tabular Q-learning plus ``n`` planning updates from a tabular model per real step.

Per real transition ``(s, a, r, s', terminal)`` (Sutton & Barto, 2018, section 8.2):

1. direct RL: ``Q[s, a] += alpha * (r + gamma * max_a' Q[s', a'] - Q[s, a])`` (no bootstrap
   past a terminal state);
2. model learning: the :class:`~mbrl_control.tabular.model.TabularModel` records the outcome;
3. planning: ``n`` times, draw a visited pair from the model, draw its outcome (by frequency)
   and apply the same update to it.

``n = 0`` is plain one-step Q-learning. Actions are epsilon-greedy with random tie-breaking
(all-zero initial values make early ties the rule). Every random draw comes from the one
seeded numpy ``Generator``. Numpy only.
"""

from __future__ import annotations

import numpy as np

from mbrl_control.tabular.model import TabularModel


class DynaQAgent:
    """Q-table ``(S, A)`` float64 with Dyna-Q learning (see module doc).

    Args: ``n_states``, ``n_actions``; ``planning_steps`` n >= 0; ``alpha`` in (0, 1];
    ``gamma`` in [0, 1]; ``epsilon`` in [0, 1]; ``model`` (default: a frequency model);
    ``seed`` of the agent's generator. Raises ``ValueError`` naming a bad argument.
    """

    def __init__(
        self,
        n_states: int,
        n_actions: int,
        *,
        planning_steps: int = 0,
        alpha: float = 0.1,
        gamma: float = 0.95,
        epsilon: float = 0.1,
        model: TabularModel | None = None,
        seed: int = 0,
    ) -> None:
        for name, value, ok in (
            ("n_states", n_states, n_states >= 1),
            ("n_actions", n_actions, n_actions >= 1),
            ("planning_steps", planning_steps, planning_steps >= 0),
            ("alpha", alpha, 0.0 < alpha <= 1.0),
            ("gamma", gamma, 0.0 <= gamma <= 1.0),
            ("epsilon", epsilon, 0.0 <= epsilon <= 1.0),
        ):
            if not ok:
                raise ValueError(f"DynaQAgent: {name}={value} is out of range")
        self.q = np.zeros((int(n_states), int(n_actions)))
        self.n = int(planning_steps)
        self.alpha, self.gamma, self.epsilon = float(alpha), float(gamma), float(epsilon)
        self.model = model if model is not None else TabularModel("frequency")
        self.rng = np.random.default_rng(seed)

    def act(self, state: int) -> int:
        """Epsilon-greedy action; ties among the best broken uniformly at random."""
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.q.shape[1]))
        return self._argmax_random(self.q[state])

    def greedy(self, state: int) -> int:
        """The best action, ties to the lowest index (deterministic: for evaluation)."""
        return int(np.argmax(self.q[state]))

    def learn(self, state: int, action: int, reward: float, next_state: int, terminal: bool):
        """Direct update, model update, then ``n`` planning updates (see module doc)."""
        self._update(state, action, reward, next_state, terminal)
        self.model.update(state, action, reward, next_state, terminal)
        for _ in range(self.n):
            s, a = self.model.sample_pair(self.rng)
            r, s2, done = self.model.sample(s, a, self.rng)
            self._update(s, a, r, s2, done)

    def _update(self, s: int, a: int, r: float, s2: int, terminal: bool) -> None:
        target = r if terminal else r + self.gamma * self.q[s2].max()
        self.q[s, a] += self.alpha * (target - self.q[s, a])

    def _argmax_random(self, values: np.ndarray) -> int:
        best = np.flatnonzero(values == values.max())
        return int(best[0] if len(best) == 1 else best[self.rng.integers(len(best))])
