"""The ``last_actions`` observation block: the last k applied actions, newest first.

A robot with actuation delay (or any dynamics that depend on what was commanded before)
is not Markov in its joint state alone; appending the last k commands makes it so and
makes the delay learnable (the "frame stacking" of actions in delayed-MDP practice, e.g.
Katsikopoulos & Engelbrecht 2003; Walsh et al. 2009). The block always ends the
observation: ``obs[O - k·A :]`` is ``a_{t-1}, a_{t-2}, ..., a_{t-k}`` (each ``(A,)``).

Everything that writes observations honours it from the one definition here: the simulator
and the controller keep an :class:`ActionHistory` of what they applied (the safe action
before the first command), the segmenter fills the block of recorded/imported segments
from their own commands (:func:`history_rows`), and the ensemble shifts the block instead
of predicting it (``EnsembleConfig.action_history``).
"""

from __future__ import annotations

import numpy as np


class ActionHistory:
    """The last ``steps`` actions ``(k, A)``, newest first, as one float32 buffer.

    Args: steps k >= 0 (0: an empty history, every method is a no-op), initial ``(A,)``: the
    action assumed before the first push (the task's safe action: a robot at rest).
    """

    def __init__(self, steps: int, initial: np.ndarray) -> None:
        self.steps = int(steps)
        self._initial = np.asarray(initial, np.float32).copy()
        self._buf = np.zeros((self.steps, len(self._initial)), np.float32)
        self.reset()

    def reset(self, initial: np.ndarray | None = None) -> None:
        """Forget the pushed actions: every slot holds ``initial`` (default: the one given
        at construction)."""
        if initial is not None:
            self._initial = np.asarray(initial, np.float32).copy()
        self._buf[:] = self._initial

    def push(self, action: np.ndarray) -> None:
        """Record ``action (A,)`` as the newest applied action."""
        if self.steps:
            self._buf[1:] = self._buf[:-1].copy()
            self._buf[0] = np.asarray(action, np.float32)

    @property
    def flat(self) -> np.ndarray:
        """The block ``(k·A,)`` float32 as it appears in the observation (a copy)."""
        return self._buf.reshape(-1).copy()

    def set_flat(self, block: np.ndarray) -> None:
        """Restore a block ``(k·A,)`` taken from :attr:`flat` (or an observation's tail)."""
        self._buf[:] = np.asarray(block, np.float32).reshape(self._buf.shape)


def history_rows(action: np.ndarray, steps: int) -> np.ndarray:
    """The ``last_actions`` block of every state of a segment whose history is known.

    Args: action ``(T, A)``: the commands of a segment, ``action[t]`` applied from state t
    to state t+1; steps k.
    Returns: ``(T + 1 - k, k·A)`` float32: row i is the block of state ``i + k`` (its last k
    commands ``action[i+k-1], ..., action[i]``). The first k states have commands from before
    the segment in their block, unknown to a recording that starts there: callers drop them
    (and their transitions). ``(0, k·A)`` when ``T < k``.
    """
    action = np.asarray(action, np.float32)
    t, a = action.shape
    if steps <= 0:
        return np.zeros((max(t + 1, 0), 0), np.float32)
    n = t + 1 - steps
    if n <= 0:
        return np.zeros((0, steps * a), np.float32)
    cols = [action[steps - 1 - j : steps - 1 - j + n] for j in range(steps)]  # j: age - 1
    return np.concatenate(cols, axis=1).astype(np.float32)


def with_history(
    obs: np.ndarray, action: np.ndarray, steps: int, before: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A segment's ``obs (T+1, O)`` (block filled with anything) and ``action (T, A)`` -> the
    states whose last k commands are known, with their block filled, and their actions.

    ``before (m, A)``: commands known from before the segment's first state (oldest first,
    m <= k; e.g. those of the segment it continues): the first ``k - m`` states are dropped
    (all k without ``before``: see :func:`history_rows`). Returns ``(obs (T+1-k+m, O),
    action (T-k+m, A))``; unchanged when k = 0. Needs ``T >= k - m``.
    """
    if steps <= 0:
        return obs, action
    known = np.zeros((0, action.shape[1]), np.float32) if before is None else before
    lost = steps - len(known)
    rows = history_rows(np.concatenate([known, action]), steps)  # states lost .. T
    kept = obs[lost:].copy()
    kept[:, obs.shape[1] - rows.shape[1] :] = rows
    return kept, action[lost:]
