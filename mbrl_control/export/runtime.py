"""Run an exported planner with numpy + onnxruntime only (the control path: no torch).

``OnnxPlanner(path).act(obs)`` feeds the graph its warm-start carry (``prev_<x>`` inputs
from the previous call's ``next_<x>`` outputs) and, for graphs that take their noise as
inputs, standard normals drawn from a seeded ``numpy`` generator *after* each call, so the
next tick does not pay for them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

FORMAT_VERSION = 1
"""The graph format this runtime reads (written by ``export_planner``)."""
_OPTIONAL_KEYS = ("model_config", "provenance", "export")
_REQUIRED_KEYS = (
    "format_version",
    "task",
    "default_weights",
    "planner_config",
    "noise_inputs",
    "carry",
)
_KEYS = frozenset(_REQUIRED_KEYS + _OPTIONAL_KEYS)


class OnnxPlanner:
    """A planner ONNX file, ready to ``act``.

    Args: ``path`` of the file; ``expected_task`` (task name the file must be for);
    ``threads`` (onnxruntime intra-op threads); ``seed`` for the noise generator (default:
    the planner config's seed). Raises ``FileNotFoundError`` for a missing file and
    ``ValueError`` for a corrupt file or metadata that does not match.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        expected_task: str | None = None,
        threads: int = 2,
        seed: int | None = None,
    ) -> None:
        self.path = Path(path)
        self._session = open_session(self.path, threads, "planner")
        self.metadata = _read_metadata(self._session, self.path)
        task = self.metadata["task"]
        if expected_task is not None and task.get("task") != expected_task:
            raise ValueError(
                f"{self.path}: planner is for task {task.get('task')!r}, expected {expected_task!r}"
            )
        self.obs_dim, self.goal_dim = len(task["obs_names"]), int(task["goal_dim"])
        self._low = np.asarray(task["action_low"], np.float32)
        self._high = np.asarray(task["action_high"], np.float32)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._outputs = [o.name for o in self._session.get_outputs()]
        self._noise_shapes = {k: tuple(v) for k, v in self.metadata["noise_inputs"].items()}
        self._carry_shapes = {k: tuple(v) for k, v in self.metadata["carry"].items()}
        cfg_seed = int(self.metadata["planner_config"].get("seed", 0))
        self._rng = np.random.default_rng(cfg_seed if seed is None else seed)
        self._weights = np.asarray(self.metadata["default_weights"], np.float32)  # (K,)
        self._carry: dict[str, np.ndarray] = {}
        self._noise: dict[str, np.ndarray] = {}
        self.last_info: dict[str, float] = {}
        self.reset()
        self._draw_noise()

    # ---- state ------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the warm start: carried plans become the action-range midpoint."""
        mid = (self._low + self._high) / 2  # (A,)
        self._carry = {
            k: np.broadcast_to(mid, shape).astype(np.float32)
            for k, shape in self._carry_shapes.items()
        }
        self.last_info = {}

    def set_weights(self, weights: np.ndarray) -> None:
        """Critic weights ``(K,)`` (order: ``metadata["task"]["critics"]``) from now on."""
        w = np.asarray(weights, np.float32)
        if w.shape != self._weights.shape or not np.all(np.isfinite(w)):
            raise ValueError(f"weights must be {self._weights.shape[0]} finite values, got {w}")
        self._weights = w.copy()

    @property
    def weights(self) -> np.ndarray:
        return self._weights.copy()

    # ---- planning ---------------------------------------------------------------------
    def act(self, obs: np.ndarray, goal: np.ndarray | None = None) -> np.ndarray:
        """Plan from ``obs (O,)`` (and ``goal (G,)``); returns the action ``(A,)``."""
        obs = finite_vector("obs", obs, self.obs_dim)
        g = finite_vector("goal", np.zeros(self.goal_dim) if goal is None else goal, self.goal_dim)
        feed = {"obs": obs, "goal": g, "weights": self._weights, **self._noise}
        feed.update({f"prev_{k}": v for k, v in self._carry.items()})
        out = dict(zip(self._outputs, self._session.run(None, graph_inputs(feed, self._inputs))))
        self._carry = {k: out[f"next_{k}"] for k in self._carry_shapes}
        self.last_info = {
            "plan_cost": float(out["plan_cost"]),
            "disagreement": float(out["disagreement"]),
        }
        self._draw_noise()  # for the next tick, off its critical path
        return np.asarray(out["action"], np.float32).copy()

    def probe(self) -> np.ndarray:
        """One plan from a zero observation (warm start untouched); raises if not finite."""
        carry, info = self._carry, self.last_info
        try:
            action = self.act(np.zeros(self.obs_dim, np.float32))
        finally:
            self._carry, self.last_info = carry, info
        if action.shape != self._low.shape or not np.all(np.isfinite(action)):
            raise ValueError(f"{self.path}: probe returned a bad action {action}")
        return action

    def _draw_noise(self) -> None:
        self._noise = {
            k: self._rng.standard_normal(shape, dtype=np.float32)
            for k, shape in self._noise_shapes.items()
        }


def open_session(path: Path, threads: int, kind: str) -> ort.InferenceSession:
    """A CPU (or CUDA) session for ``path`` without busy-waiting; ``FileNotFoundError`` for a
    missing file, ``ValueError`` naming ``kind`` for one onnxruntime cannot load."""
    if not path.is_file():
        raise FileNotFoundError(f"{kind} file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # no busy-waiting between runs: the controller shares 2 cores with its node and peers
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = [
        p
        for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
        if p in ort.get_available_providers()
    ]
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises several types for bad files
        raise ValueError(f"{path}: not a loadable ONNX {kind} ({exc})") from exc


def finite_vector(name: str, x: np.ndarray, dim: int) -> np.ndarray:
    """``x`` as a float32 ``(dim,)`` vector; ``ValueError`` unless it has dim finite values."""
    v = np.asarray(x, np.float32).reshape(-1)
    if v.shape != (dim,) or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be {dim} finite values, got {v}")
    return v


def graph_inputs(feed: dict[str, np.ndarray], names: set[str]) -> dict[str, np.ndarray]:
    """The graph's inputs (the exporter drops inputs a graph does not use, e.g. goal)."""
    return {k: v for k, v in feed.items() if k in names}


def _read_metadata(session: ort.InferenceSession, path: Path) -> dict[str, Any]:
    props = session.get_modelmeta().custom_metadata_map
    missing = [k for k in _REQUIRED_KEYS if k not in props]
    if missing:
        raise ValueError(f"{path}: not a planner file (metadata lacks {missing})")
    try:  # other tools may add props of their own (e.g. quantizers): read only ours
        meta = {k: json.loads(v) for k, v in props.items() if k in _KEYS}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: corrupt planner metadata ({exc})") from exc
    if meta["format_version"] != FORMAT_VERSION:
        raise ValueError(
            f"{path}: format_version {meta['format_version']}, this runtime reads {FORMAT_VERSION}"
        )
    return meta
