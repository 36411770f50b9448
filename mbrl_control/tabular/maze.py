"""The Dyna maze of Sutton & Barto (2018, Fig. 8.2) as a gymnasium ``Env``.

A 6 x 9 grid; the agent starts in row 2, column 0 and must reach the goal in row 0, column 8;
walls stand in column 2 (rows 1-3), column 5 (row 4) and column 7 (rows 0-2). Actions
``0 up, 1 right, 2 down, 3 left``; a move into a wall or off the grid leaves the agent where
it is. Reward ``+1`` on entering the goal (the episode terminates there), ``0`` otherwise. The
shortest path is 14 steps (:data:`OPTIMAL_STEPS`).

``slip > 0`` makes it stochastic: with probability ``slip`` the move goes in a uniformly random
direction instead of the chosen one (the stochastic-environment variant, where a model must
store outcome frequencies). Observations are ``int`` cell indices ``row * 9 + column``
(``Discrete(54)``). Imports numpy and gymnasium only.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import gymnasium as gym

ROWS, COLS = 6, 9
START = (2, 0)
GOAL = (0, 8)
WALLS = frozenset({(1, 2), (2, 2), (3, 2), (4, 5), (0, 7), (1, 7), (2, 7)})
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left
OPTIMAL_STEPS = 14
"""Length of the shortest start-to-goal path in the maze (S&B, Fig. 8.2)."""


class DynaMaze(gym.Env):
    """S&B's Dyna maze (see module doc). ``slip`` in ``[0, 1]``; ``max_steps`` truncates an
    episode (``None``: never; S&B let the first episode run ~1700 steps).

    Raises ``ValueError`` for ``slip`` outside ``[0, 1]`` or ``max_steps < 1``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self, slip: float = 0.0, max_steps: int | None = None, render_mode: str | None = None
    ) -> None:
        if not 0.0 <= float(slip) <= 1.0:
            raise ValueError(f"DynaMaze: slip must be in [0, 1], got {slip}")
        if max_steps is not None and int(max_steps) < 1:
            raise ValueError(f"DynaMaze: max_steps must be >= 1 or None, got {max_steps}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"DynaMaze: render_mode {render_mode!r}; allowed: None, 'ansi'")
        self.slip = float(slip)
        self.max_steps = None if max_steps is None else int(max_steps)
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Discrete(ROWS * COLS)
        self.action_space = gym.spaces.Discrete(len(MOVES))
        self._cell = START
        self._steps = 0
        self.P = transition_table(self.slip)
        """Exact dynamics (gymnasium toy-text format, like ``FrozenLake.P``)."""

    @staticmethod
    def index(cell: tuple[int, int]) -> int:
        """Observation of a ``(row, column)`` cell."""
        return cell[0] * COLS + cell[1]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self._cell, self._steps = START, 0
        return self.index(self._cell), {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"DynaMaze: action {action!r}; allowed: 0 up, 1 right, 2 down, 3 left")
        move = int(action)
        if self.slip and self.np_random.random() < self.slip:
            move = int(self.np_random.integers(len(MOVES)))
        self._cell = next_cell(self._cell, move)
        self._steps += 1
        terminated = self._cell == GOAL
        truncated = not terminated and self.max_steps is not None and self._steps >= self.max_steps
        return self.index(self._cell), float(terminated), terminated, truncated, {}

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        rows = []
        for r in range(ROWS):
            row = ""
            for c in range(COLS):
                cell = (r, c)
                row += (
                    "A" if cell == self._cell else "G" if cell == GOAL else "S" if cell == START
                    else "#" if cell in WALLS else "."
                )  # fmt: skip
            rows.append(row)
        return "\n".join(rows) + "\n"


def transition_table(slip: float = 0.0) -> dict[int, dict[int, list]]:
    """The maze's exact dynamics in gymnasium's toy-text format (``FrozenLake.P``):
    ``{state: {action: [(probability, next_state, reward, terminated), ...]}}`` for every free
    cell (the goal is absorbing)."""
    table: dict[int, dict[int, list]] = {}
    for r in range(ROWS):
        for c in range(COLS):
            cell = (r, c)
            if cell in WALLS:
                continue
            s = DynaMaze.index(cell)
            table[s] = {}
            for a in range(len(MOVES)):
                if cell == GOAL:
                    table[s][a] = [(1.0, s, 0.0, True)]
                    continue
                probs: dict[int, float] = {}
                for move in range(len(MOVES)):
                    p = slip / len(MOVES) + (1.0 - slip if move == a else 0.0)
                    nxt = DynaMaze.index(next_cell(cell, move))
                    probs[nxt] = probs.get(nxt, 0.0) + p
                goal = DynaMaze.index(GOAL)
                table[s][a] = [(p, n, float(n == goal), n == goal) for n, p in probs.items() if p]
    return table


def next_cell(cell: tuple[int, int], move: int) -> tuple[int, int]:
    """The cell reached from ``cell`` by ``move`` (blocked by walls and the border)."""
    r, c = cell[0] + MOVES[move][0], cell[1] + MOVES[move][1]
    if not (0 <= r < ROWS and 0 <= c < COLS) or (r, c) in WALLS:
        return cell
    return (r, c)


def shortest_path_steps() -> int:
    """Breadth-first length of the shortest start-to-goal path (checks :data:`OPTIMAL_STEPS`)."""
    dist = {START: 0}
    queue = deque([START])
    while queue:
        cell = queue.popleft()
        for move in range(len(MOVES)):
            nxt = next_cell(cell, move)
            if nxt not in dist:
                dist[nxt] = dist[cell] + 1
                queue.append(nxt)
    return dist[GOAL]


ENV_ID = "mbrl_control/DynaMaze-v0"
"""``gymnasium.make(ENV_ID, slip=..., max_steps=...)`` once this module is imported."""
if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="mbrl_control.tabular.maze:DynaMaze")
