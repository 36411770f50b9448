"""Exact values from known tabular dynamics, to score what Dyna-Q learned without sampling.

``P`` is gymnasium's toy-text format (``FrozenLake-v1``'s ``env.unwrapped.P``, ``Taxi``,
``CliffWalking``, :func:`mbrl_control.tabular.maze.transition_table`):
``{state: {action: [(probability, next_state, reward, terminated), ...]}}``. A terminated
transition does not bootstrap. :func:`dense` turns it into arrays once; the values are
``(S,)`` float64 (states missing from ``P`` are absorbing with value 0). Numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

Table = Mapping[int, Mapping[int, Sequence[tuple[float, int, float, bool]]]]


class Dense(NamedTuple):
    """``P`` as arrays: ``T (S, A, S)`` probability of moving on and bootstrapping (terminated
    outcomes excluded), ``R (S, A)`` expected reward."""

    T: np.ndarray
    R: np.ndarray


def dense(P: Table, n_states: int, n_actions: int) -> Dense:
    """Arrays of a toy-text table (see :class:`Dense`)."""
    T = np.zeros((n_states, n_actions, n_states))
    R = np.zeros((n_states, n_actions))
    for s, actions in P.items():
        for a, outcomes in actions.items():
            for p, s2, r, done in outcomes:
                R[s, a] += p * r
                if not done:
                    T[s, a, s2] += p
    return Dense(T, R)


def optimal_values(model: Dense, gamma: float, tol: float = 1e-10) -> np.ndarray:
    """``V*`` by value iteration until the largest change is below ``tol`` (``gamma < 1``)."""
    _check_gamma(gamma)
    values = np.zeros(model.R.shape[0])
    while True:
        new = (model.R + gamma * model.T @ values).max(axis=1)
        if np.abs(new - values).max() < tol:
            return new
        values = new


def policy_values(model: Dense, policy: np.ndarray, gamma: float) -> np.ndarray:
    """``V^pi`` of the deterministic ``policy`` ``(S,)`` int: one linear solve
    ``(I - gamma T_pi) V = R_pi`` (``gamma < 1``)."""
    _check_gamma(gamma)
    rows = np.arange(model.R.shape[0])
    T_pi, R_pi = model.T[rows, policy], model.R[rows, policy]
    return np.linalg.solve(np.eye(len(rows)) - gamma * T_pi, R_pi)


def _check_gamma(gamma: float) -> None:
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1) for finite values, got {gamma}")
