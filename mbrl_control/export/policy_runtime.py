"""Run an exported policy with numpy + onnxruntime only (no torch): ``OnnxPolicy(path).act``.

Same surface as :class:`~mbrl_control.export.runtime.OnnxPlanner` where a controller needs it
(``act``, ``reset``, ``probe``, ``last_info``), so ``mpc_controller`` can run either.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mbrl_control.export.runtime import (
    MAX_PROBE_STATES,
    finite_vector,
    graph_inputs,
    open_session,
    probe_rows,
)

POLICY_FORMAT_VERSION = 2
"""The policy graph format this runtime reads (written by ``export_policy``)."""


class OnnxPolicy:
    """A policy ONNX file, ready to ``act`` (stateless: one graph call per tick).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is not
    a policy graph or is for another task than ``expected_task``.
    """

    def __init__(
        self, path: str | Path, *, expected_task: str | None = None, threads: int = 1
    ) -> None:
        self.path = Path(path)
        self._session = open_session(self.path, threads, "policy")
        props = self._session.get_modelmeta().custom_metadata_map
        if "policy_format_version" not in props or "task" not in props:
            raise ValueError(f"{self.path}: not a policy file (no policy metadata)")
        try:
            version = json.loads(props["policy_format_version"])
            self.task = json.loads(props["task"])
            self.provenance = json.loads(props.get("provenance", "{}"))
            self._probe_states = json.loads(props.get("probe_states", "[]"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.path}: corrupt policy metadata ({exc})") from exc
        if version != POLICY_FORMAT_VERSION:
            raise ValueError(
                f"{self.path}: policy_format_version {version}, this reads "
                f"{POLICY_FORMAT_VERSION} (export it again with this version)"
            )
        if expected_task is not None and self.task.get("task") != expected_task:
            raise ValueError(
                f"{self.path}: policy is for task {self.task.get('task')!r}, "
                f"expected {expected_task!r}"
            )
        self.obs_dim = len(self.task["obs_names"])
        self.goal_dim = int(self.task.get("goal_dim", 0))
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._low = np.asarray(self.task["action_low"], np.float32)
        self._high = np.asarray(self.task["action_high"], np.float32)
        self.last_info: dict[str, float] = {}

    def reset(self) -> None:
        """Nothing is carried between ticks."""

    def act(self, obs: np.ndarray, goal: np.ndarray | None = None) -> np.ndarray:
        """The action ``(A,)`` for ``obs (O,)`` and ``goal (G,)`` (zeros when None)."""
        g = np.zeros(self.goal_dim) if goal is None else goal
        feed = {
            "obs": finite_vector("obs", obs, self.obs_dim),
            "goal": finite_vector("goal", g, self.goal_dim),
        }
        action = self._session.run(["action"], graph_inputs(feed, self._inputs))[0]
        return np.clip(np.asarray(action, np.float32), self._low, self._high)

    def probe(self, states: np.ndarray | None = None) -> np.ndarray:
        """The action at each probe state (the file's initial states, or the zero observation
        for older files, plus ``states (S, O)``); the first one, or ``ValueError`` naming the
        state where an action is not finite and in shape."""
        try:
            own = probe_rows(self._probe_states or None, self.obs_dim, MAX_PROBE_STATES)
        except ValueError as exc:
            raise ValueError(f"{self.path}: corrupt policy metadata ({exc})") from exc
        own = own if len(own) else np.zeros((1, self.obs_dim), np.float32)
        rows = [*own, *probe_rows(states, self.obs_dim, MAX_PROBE_STATES)]
        actions = [self.act(state) for state in rows]
        for state, action in zip(rows, actions):
            if action.shape != self._low.shape or not np.all(np.isfinite(action)):
                where = np.array2string(state, precision=3)
                raise ValueError(f"{self.path}: refused: at state {where} the action is {action}")
        return actions[0]
