"""A tabular model of a discrete environment: what followed each ``(state, action)`` seen.

``TabularModel(kind="frequency")`` counts every outcome ``(reward, next_state, terminal)`` of
each pair and :meth:`sample` draws one with probability ``count / total`` (the maximum-
likelihood model of a stochastic environment). ``kind="last"`` keeps only the latest outcome
of each pair (Sutton & Barto's Dyna-Q model; exact for a deterministic environment, biased
for a stochastic one). For a deterministic environment the two are the same model.

:meth:`sample_pair` draws a previously seen ``(state, action)`` as Dyna-Q's planning does: a
uniformly random visited state, then a uniformly random action taken there. Random draws come
from the numpy ``Generator`` passed in (seeded by the caller). Numpy only.
"""

from __future__ import annotations

import numpy as np

KINDS = ("frequency", "last")
Outcome = tuple[float, int, bool]
"""``(reward, next_state, terminal)``."""


class TabularModel:
    """Outcomes of visited ``(state, action)`` pairs (see module doc).

    Raises ``ValueError`` for an unknown ``kind`` and ``KeyError`` (naming the pair) when
    asked for a pair never observed.
    """

    def __init__(self, kind: str = "frequency") -> None:
        if kind not in KINDS:
            raise ValueError(f"TabularModel: kind {kind!r}; allowed: {', '.join(KINDS)}")
        self.kind = kind
        self._outcomes: dict[tuple[int, int], dict[Outcome, int]] = {}
        self._states: list[int] = []  # visited states, in first-visit order
        self._actions: dict[int, list[int]] = {}  # state -> actions taken there

    def __len__(self) -> int:
        """Number of distinct ``(state, action)`` pairs observed."""
        return len(self._outcomes)

    def update(self, state: int, action: int, reward: float, next_state: int, terminal: bool):
        """Record one real transition."""
        key = (int(state), int(action))
        outcome = (float(reward), int(next_state), bool(terminal))
        counts = self._outcomes.get(key)
        if counts is None:
            counts = self._outcomes[key] = {}
            if key[0] not in self._actions:
                self._states.append(key[0])
                self._actions[key[0]] = []
            self._actions[key[0]].append(key[1])
        if self.kind == "last":
            counts.clear()
        counts[outcome] = counts.get(outcome, 0) + 1

    def outcomes(self, state: int, action: int) -> dict[Outcome, float]:
        """``{outcome: probability}`` of a pair (the empirical distribution)."""
        counts = self._counts(state, action)
        total = sum(counts.values())
        return {o: c / total for o, c in counts.items()}

    def sample(self, state: int, action: int, rng: np.random.Generator) -> Outcome:
        """One outcome of a pair, drawn with its observed frequency."""
        counts = self._counts(state, action)
        if len(counts) == 1:
            return next(iter(counts))
        draw = rng.random() * sum(counts.values())
        for outcome, count in counts.items():
            draw -= count
            if draw < 0:
                return outcome
        return outcome  # float rounding at the upper end

    def sample_pair(self, rng: np.random.Generator) -> tuple[int, int]:
        """A visited state, uniformly, and an action taken there, uniformly."""
        if not self._states:
            raise ValueError("TabularModel: no transition recorded yet")
        state = self._states[int(rng.random() * len(self._states))]
        actions = self._actions[state]
        return state, actions[int(rng.random() * len(actions))]

    def _counts(self, state: int, action: int) -> dict[Outcome, int]:
        try:
            return self._outcomes[(int(state), int(action))]
        except KeyError:
            raise KeyError(
                f"TabularModel: (state {state}, action {action}) never observed"
            ) from None
