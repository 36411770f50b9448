"""Run an exported planner with numpy + onnxruntime only (the control path: no torch).

``OnnxPlanner(path).act(obs)`` feeds the graph its warm-start carry (``prev_<x>`` inputs
from the previous call's ``next_<x>`` outputs) and, for graphs that take their noise as
inputs, standard normals drawn *after* each call (so the next tick does not pay for them)
from the same :class:`~mbrl_control.planning.noise.NoiseStream` the torch planner uses: the
same seed (or the same explicit ``noise=``) gives the same actions as ``build_planner``.

Validation: :meth:`OnnxPlanner.probe` (run once at construction unless ``validate=False``)
plans from realistic states - the task's initial states the exporter stored in the metadata
(``probe_states``) plus any recent real states the caller passes - and refuses the file when a
member predicts NaN/inf there (the graph's ``disagreement`` is not finite) or every rollout is
non-finite (``plan_cost`` at the :data:`BIG_COST` sentinel). After each ``act`` the flag
``last_plan_valid`` says whether that plan rests on at least one finite rollout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from mbrl_control.planning.graph_io import SCALAR_OUTPUTS  # no torch
from mbrl_control.planning.noise import NoiseStream  # numpy only
from mbrl_control.uncertainty.quantities import surprise  # no torch

FORMAT_VERSION = 1
"""The graph format this runtime reads (written by ``export_planner``)."""
BIG_COST = 1e10
"""The graph's cost for a non-finite rollout (``planning.rollout.BIG_COST``; no torch here)."""
SENTINEL_FLOOR = 0.99 * BIG_COST
"""A plan cost at or above this is (a weighted mean of) sentinel costs: no finite rollout.
The margin absorbs float32 rounding of a mean of sentinels; a plan whose elites are >= 99 %
sentinels by weight is counted as invalid too."""
MAX_PROBE_STATES = 16
"""At most this many caller states are probed (spread evenly), each one planning step."""
_OPTIONAL_KEYS = ("model_config", "provenance", "export", "probe_states", "cost", "uncertainty")
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

    Args: ``path`` of the file; ``expected_task`` (the task the file must be for: a name, or a
    ``Task`` whose name and observation/action contract must match the file's — a task file
    that gained a ``last_actions`` block keeps its name but not its observation);
    ``threads`` (onnxruntime intra-op threads); ``seed`` of the noise stream (default: the
    planner config's seed; the torch planner with the same seed draws the same noise, see
    :meth:`act`); ``probe_states`` ``(S, O)`` recent real states to probe on
    besides the file's own; ``validate`` (default True) runs :meth:`probe` now. Raises
    ``FileNotFoundError`` for a missing file and ``ValueError`` for a corrupt file, metadata
    that does not match, or a graph that fails the probe.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        expected_task: Any = None,
        threads: int = 2,
        seed: int | None = None,
        probe_states: np.ndarray | None = None,
        validate: bool = True,
    ) -> None:
        self.path = Path(path)
        self._session = open_session(self.path, threads, "planner")
        self.metadata = _read_metadata(self._session, self.path)
        task = self.metadata["task"]
        if isinstance(expected_task, str) and task.get("task") != expected_task:
            raise ValueError(
                f"{self.path}: planner is for task {task.get('task')!r}, expected {expected_task!r}"
            )
        if expected_task is not None and not isinstance(expected_task, str):
            from mbrl_control.tasks.portable import disagreement

            why = disagreement(expected_task, task, "the task")
            if why:
                raise ValueError(f"{self.path}: {why}")
        self.obs_dim, self.goal_dim = len(task["obs_names"]), int(task["goal_dim"])
        self._low = np.asarray(task["action_low"], np.float32)
        self._high = np.asarray(task["action_high"], np.float32)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._outputs = [o.name for o in self._session.get_outputs()]
        self._noise_shapes = {k: tuple(v) for k, v in self.metadata["noise_inputs"].items()}
        self._carry_shapes = {k: tuple(v) for k, v in self.metadata["carry"].items()}
        cfg_seed = int(self.metadata["planner_config"].get("seed", 0))
        self._stream = NoiseStream(self._noise_shapes, cfg_seed if seed is None else seed)
        self._weights = np.asarray(self.metadata["default_weights"], np.float32)  # (K,)
        self._carry: dict[str, np.ndarray] = {}
        self._noise: dict[str, np.ndarray] = {}
        self.last_info: dict[str, float] = {}
        self.last_plan_valid = True
        """False when the last ``act``'s plan cost was non-finite or at the sentinel."""
        self.last_prediction: tuple[np.ndarray, np.ndarray] | None = None
        """The last ``act``'s calibrated one-step predictive of the next state, ``(mean (P,),
        var (P,))`` (graph outputs ``pred_mean``/``pred_var``); None before the first act
        after a reset, or for files exported without them."""
        self.last_plan_states: np.ndarray | None = None
        """The last ``act``'s ``plan_states (E, H, P)``: each member's predicted states along
        the plan (:mod:`mbrl_control.planning.graph_io`); None before the first act after a
        reset, or for files exported without it."""
        unc = self.metadata.get("uncertainty") or {}
        self._target_std = np.asarray(unc.get("target_std", []), np.float64)  # (P,)
        self._probed: tuple[np.ndarray, np.ndarray] | None = None  # (weights, action)
        self.reset()
        self._draw_noise()
        if validate:
            self.probe(probe_states)

    # ---- state ------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Forget the warm start: carried plans become the action-range midpoint. With
        ``seed``, also restart the noise stream from it (as ``TorchPlanner.reset(seed)``)."""
        mid = (self._low + self._high) / 2  # (A,)
        self._carry = {
            k: np.broadcast_to(mid, shape).astype(np.float32)
            for k, shape in self._carry_shapes.items()
        }
        self.last_info = {}
        self.last_prediction = None
        self.last_plan_states = None
        if seed is not None:
            self._stream.seed(seed)
            self._draw_noise()

    @property
    def noise_shapes(self) -> dict[str, tuple[int, ...]]:
        """The graph's noise inputs, name -> shape (empty for a file that draws its own)."""
        return dict(self._noise_shapes)

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
    def act(
        self,
        obs: np.ndarray,
        goal: np.ndarray | None = None,
        noise: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Plan from ``obs (O,)`` (and ``goal (G,)``); returns the action ``(A,)``.

        ``noise``: ``{name: standard normal of noise_shapes[name]}`` for this step instead of
        the stream's (the stream is not advanced); ``ValueError`` for a missing/extra name, a
        wrong shape, or a file exported with ``noise_input=False``. Comparing with torch:
        ``build_planner(..., seed=s)`` and ``OnnxPlanner(path, seed=s)`` (or the same
        ``noise`` on both) return the same actions to float rounding.
        """
        obs = finite_vector("obs", obs, self.obs_dim)
        g = finite_vector("goal", np.zeros(self.goal_dim) if goal is None else goal, self.goal_dim)
        step_noise = self._noise if noise is None else self._stream.check(noise)
        feed = {"obs": obs, "goal": g, "weights": self._weights, **step_noise}
        feed.update({f"prev_{k}": v for k, v in self._carry.items()})
        out = dict(zip(self._outputs, self._session.run(None, graph_inputs(feed, self._inputs))))
        self._carry = {k: out[f"next_{k}"] for k in self._carry_shapes}
        cost = float(out["plan_cost"])
        self.last_info = {k: float(out[k]) for k in SCALAR_OUTPUTS}
        self.last_prediction = None
        if "pred_mean" in out and len(self._target_std):
            self.last_prediction = (out["pred_mean"].copy(), out["pred_var"].copy())
        states = out.get("plan_states")
        self.last_plan_states = None if states is None else states.copy()
        self.last_plan_valid = bool(np.isfinite(cost) and cost < SENTINEL_FLOOR)
        if noise is None:
            self._draw_noise()  # for the next tick, off its critical path
        return np.asarray(out["action"], np.float32).copy()

    def surprise(self, observed: np.ndarray) -> float | None:
        """Surprise (nats per predicted dim, :mod:`mbrl_control.uncertainty.quantities`) of
        the state ``observed (O,)`` that followed the last ``act``'s action, under that act's
        calibrated predictive; None without a prediction (older file, or no act since
        :meth:`reset`). The caller checks that the action it applied is the planned one."""
        if self.last_prediction is None:
            return None
        mean, var = self.last_prediction
        p = len(mean)
        obs = np.asarray(observed, np.float64).reshape(-1)[:p]
        return float(
            surprise(obs, mean.astype(np.float64), var.astype(np.float64), self._target_std[:p])
        )

    def probe(self, states: np.ndarray | None = None) -> np.ndarray:
        """Plan from every probe state; the first state's action ``(A,)``, or ``ValueError``.

        Probe states: the file's ``probe_states`` (the task's initial states; the zero
        observation for files without them) and ``states`` ``(S, O)`` (recent real states;
        non-finite rows skipped, at most :data:`MAX_PROBE_STATES`). Refused when an action is
        not finite, a member's prediction is non-finite (``disagreement`` NaN/inf) or every
        rollout is (``plan_cost`` non-finite or at the sentinel). Warm start, noise and the
        ``last_*`` fields are left as they were. Repeated calls without ``states`` and with
        the same weights reuse the first result.
        """
        extra = probe_rows(states, self.obs_dim, MAX_PROBE_STATES)
        if not len(extra) and self._probed and np.array_equal(self._probed[0], self._weights):
            return self._probed[1].copy()
        try:
            own = probe_rows(self.metadata.get("probe_states"), self.obs_dim, MAX_PROBE_STATES)
        except ValueError as exc:
            raise ValueError(f"{self.path}: corrupt planner metadata ({exc})") from exc
        own = own if len(own) else np.zeros((1, self.obs_dim), np.float32)
        rows = [("initial state", s) for s in own]
        rows += [("recent state", s) for s in extra]
        saved = (self._carry, self._noise, self._stream.rng.bit_generator.state)
        saved_last = (
            self.last_info,
            self.last_plan_valid,
            self.last_prediction,
            self.last_plan_states,
        )
        try:
            actions = [self._probe_one(label, state) for label, state in rows]
        finally:
            self._carry, self._noise, self._stream.rng.bit_generator.state = saved
            (
                self.last_info,
                self.last_plan_valid,
                self.last_prediction,
                self.last_plan_states,
            ) = saved_last
        if not len(extra):
            self._probed = (self._weights.copy(), actions[0])
        return actions[0].copy()

    def _probe_one(self, label: str, state: np.ndarray) -> np.ndarray:
        self.reset()
        action = self.act(state)
        cost, dis = self.last_info["plan_cost"], self.last_info["disagreement"]
        where = f"{self.path}: refused: at {label} {np.array2string(state, precision=3)}"
        if action.shape != self._low.shape or not np.all(np.isfinite(action)):
            raise ValueError(f"{where} the planner returned a bad action {action}")
        if not np.isfinite(dis):
            raise ValueError(
                f"{where} an ensemble member predicts a non-finite state (disagreement {dis}); "
                "the model weights are broken (NaN/inf) or overflow on realistic states"
            )
        if not self.last_plan_valid:
            raise ValueError(
                f"{where} every rollout is non-finite (plan cost {cost:.3g}, the "
                f"{BIG_COST:.0e} sentinel): the plan would be noise"
            )
        return action

    def _draw_noise(self) -> None:
        self._noise = self._stream.draw()


def open_session(
    path: Path, threads: int, kind: str, profile_prefix: str | None = None
) -> ort.InferenceSession:
    """A CPU (or CUDA) session for ``path`` without busy-waiting; ``FileNotFoundError`` for a
    missing file, ``ValueError`` naming ``kind`` for one onnxruntime cannot load.
    ``profile_prefix``: onnxruntime's profiler on, its JSON written there at
    ``end_profiling()`` (``bench planner-files --ops``)."""
    if not path.is_file():
        raise FileNotFoundError(f"{kind} file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # no busy-waiting between runs: the controller shares 2 cores with its node and peers
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_prefix is not None:
        options.enable_profiling, options.profile_file_prefix = True, profile_prefix
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


def probe_rows(states: Any, obs_dim: int, limit: int) -> np.ndarray:
    """``states`` as finite float32 rows ``(S, obs_dim)``, at most ``limit`` spread evenly.

    Non-finite rows are dropped (a bad sensor reading is not a probe); ``ValueError`` if a
    row does not have ``obs_dim`` values.
    """
    if states is None:
        return np.zeros((0, obs_dim), np.float32)
    rows = np.asarray(states, np.float32)
    if rows.size == 0:
        return np.zeros((0, obs_dim), np.float32)
    rows = rows.reshape(-1, rows.shape[-1])
    if rows.shape[1] != obs_dim:
        raise ValueError(f"probe states must have {obs_dim} values per row, got {rows.shape}")
    rows = rows[np.all(np.isfinite(rows), axis=1)]
    if len(rows) > limit:
        rows = rows[np.linspace(0, len(rows) - 1, limit).round().astype(int)]
    return rows


def graph_inputs(feed: dict[str, np.ndarray], names: set[str]) -> dict[str, np.ndarray]:
    """The graph's inputs (the exporter drops inputs a graph does not use, e.g. goal)."""
    return {k: v for k, v in feed.items() if k in names}


def _read_metadata(session: ort.InferenceSession, path: Path) -> dict[str, Any]:
    props = session.get_modelmeta().custom_metadata_map
    missing = [k for k in _REQUIRED_KEYS if k not in props]
    kind = props.get("kind", "")
    if missing and kind.startswith('"latent'):  # JSON-encoded, like every property
        raise ValueError(
            f"{path}: a pixel planner file ({json.loads(kind)}, from train-pixels): it plans "
            "from camera frames, this command runs state planners (the pixel_controller node "
            "runs it: ros2 launch mbrl_control pixels.launch.yaml model_path:=FILE)"
        )
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
