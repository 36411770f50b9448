"""The environment's per-step cost: the task's own torch cost, compiled once to a tiny ONNX graph.

The reward of :class:`~mbrl_sim.env.MbrlSimEnv` is ``-task.cost(obs, action, next_obs, goal,
weights)`` of one transition. Evaluated by torch on 1-row tensors that is some 40-70 operator
dispatches per step (~0.1 ms: more than the physics of a cart-pole step). :class:`StepCost`
traces that same function (the critics stay defined once, in torch, exactly as the planner
graph traces them: same exporter, same opset) into an ONNX graph and runs it with
onnxruntime on one thread, inputs and output bound to preallocated buffers, so a step costs
one short C++ call (5-8x less than torch here; ``mbrl-control bench sim`` measures both).

Per process, graphs and sessions are cached by the task's fingerprint (its class and
``Task.metadata()``, which for a task file holds its whole definition), so only the first env
of a task in a process pays the trace (~0.2 s); later ones reuse the session. Every new
:class:`StepCost` first checks the session against torch on a probe batch (random
transitions, goal and weights; max relative difference 1e-4): a cached graph that does not
match (two tasks with one fingerprint) is re-traced for this task, and a task whose cost
cannot be traced or does not match falls back to torch, with a warning naming why. The
rewards of one graph are deterministic (one thread, sequential), so a seed still fixes an
episode bit for bit; they agree with torch's to float32 rounding (``tests/sim/
test_env_cost_parity.py``).
"""

from __future__ import annotations

import functools
import io
import json
import logging
import warnings
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnxruntime as ort

    from mbrl_control.tasks.base import Task

log = logging.getLogger(__name__)

BACKENDS = ("onnxruntime", "torch")
"""``onnxruntime``: the traced graph (default; torch when the task cannot be traced);
``torch``: ``task.cost`` itself, every step (the reference)."""
INPUTS = ("obs", "action", "next_obs", "goal", "weights")
PROBE_ROWS = 16
PROBE_RTOL = 1e-4
"""Largest relative difference ``|onnx - torch| / max(1, |torch|)`` the probe accepts."""
CACHE_SIZE = 32

_SESSIONS: OrderedDict[str, ort.InferenceSession] = OrderedDict()
"""fingerprint -> session, least recently used first (at most :data:`CACHE_SIZE`)."""


def fingerprint(task: Task) -> str:
    """The cache key of ``task``'s cost graph: its class and ``Task.metadata()`` as JSON."""
    kind = f"{type(task).__module__}.{type(task).__qualname__}"
    try:
        meta = json.dumps(task.metadata(), sort_keys=True, default=repr)
    except Exception:  # a task whose metadata cannot be built: one graph per object
        meta = f"id:{id(task)}"
    return f"{kind}:{meta}"


class StepCost:
    """``task``'s cost of one transition as a float, with ``weights`` ``(K,)`` (default: the
    task's ``default_weights``) and the goal set by :meth:`set_goal`.

    ``backend`` is one of :data:`BACKENDS`; :attr:`backend` says which one runs (after the
    first call, ``torch`` when the graph could not be used). Raises ``ValueError`` for an
    unknown backend or weights of the wrong length.
    """

    def __init__(
        self, task: Task, weights: np.ndarray | None = None, backend: str = "onnxruntime"
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"cost backend={backend!r}; allowed: {list(BACKENDS)}")
        self.task = task
        self.backend = backend
        w = task.default_weights if weights is None else weights
        w = np.asarray(w, np.float32).reshape(-1)
        if w.shape != (len(task.critics),):
            raise ValueError(f"weights: need {len(task.critics)} values, got {w.shape[0]}")
        # ---- the bound buffers: (1, O), (1, A), (1, O), (G,), (K,) float32 ----
        self._buf = {
            "obs": np.zeros((1, task.obs_dim), np.float32),
            "action": np.zeros((1, task.act_dim), np.float32),
            "next_obs": np.zeros((1, task.obs_dim), np.float32),
            "goal": np.zeros(task.goal_dim, np.float32),
            "weights": w,
        }
        self._out = np.zeros(1, np.float32)
        self._binding: Any = None  # onnxruntime IOBinding, built at the first call
        self._session: Any = None
        self._run: Any = None  # runs the session on the binding

    def set_goal(self, goal: np.ndarray) -> None:
        """Use ``goal`` ``(G,)`` for the following calls."""
        self._buf["goal"][:] = np.asarray(goal, np.float32).reshape(-1)

    def __call__(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> float:
        """Cost of ``obs (O,) --action (A,)--> next_obs (O,)`` (float32 arrays)."""
        buf = self._buf
        buf["obs"][0] = obs
        buf["action"][0] = action
        buf["next_obs"][0] = next_obs
        if self._binding is None:
            self._bind()
        if self._session is not None:
            self._run()
            return float(self._out[0])
        return self._torch_cost()

    # ---- internals ----------------------------------------------------------------------
    def _torch_cost(self) -> float:
        import torch

        b = self._buf
        with torch.inference_mode():
            t = [torch.from_numpy(b[k]) for k in INPUTS]
            return float(self.task.cost(*t))

    def _bind(self) -> None:
        """Get the session (cached, traced or none) and bind the buffers to it."""
        self._binding = False
        if self.backend == "onnxruntime":
            self._session = self._checked_session()
            if self._session is None:
                self.backend = "torch"
        if self._session is None:
            return
        binding = self._session.io_binding()
        names = {i.name for i in self._session.get_inputs()}  # unused inputs are dropped
        for name in INPUTS:
            if name in names:
                x = self._buf[name]
                binding.bind_input(name, "cpu", 0, np.float32, list(x.shape), x.ctypes.data)
        binding.bind_output("cost", "cpu", 0, np.float32, [1], self._out.ctypes.data)
        self._binding = binding
        self._run = functools.partial(self._session.run_with_iobinding, binding)
        inner, bound = getattr(self._session, "_sess", None), getattr(binding, "_iobinding", None)
        if hasattr(inner, "run_with_iobinding") and bound is not None:
            # the pybind call itself, without the Python wrapper's checks (WebGPU graph
            # capture): ~4 µs a call less, a tenth of the cart-pole graph
            import onnxruntime as ort

            self._run = functools.partial(inner.run_with_iobinding, bound, ort.RunOptions())

    def _checked_session(self) -> ort.InferenceSession | None:
        """The cached session if it passes the probe, else a fresh trace if that passes,
        else None (with a warning)."""
        key = fingerprint(self.task)
        session = _SESSIONS.get(key)
        if session is not None:
            _SESSIONS.move_to_end(key)
            if self._probe(session) is None:
                return session
            key = f"{key}:id:{id(self.task)}"  # same fingerprint, another cost
        try:
            session = _session(_trace(self.task))
        except Exception as exc:  # any trace/export/load failure: torch still computes it
            log.warning("task %s: cost graph unavailable (%s); using torch", self.task.name, exc)
            return None
        why = self._probe(session)
        if why is not None:
            log.warning("task %s: cost graph %s; using torch", self.task.name, why)
            return None
        _SESSIONS[key] = session
        while len(_SESSIONS) > CACHE_SIZE:
            _SESSIONS.popitem(last=False)
        return session

    def _probe(self, session: ort.InferenceSession) -> str | None:
        """None when ``session`` computes the task's torch cost on a probe batch, else why."""
        import torch

        t = self.task
        rng = np.random.default_rng(0)
        probe = {
            "obs": rng.normal(0, 1, (PROBE_ROWS, t.obs_dim)),
            "action": rng.uniform(t.low, t.high, (PROBE_ROWS, t.act_dim)),
            "next_obs": rng.normal(0, 1, (PROBE_ROWS, t.obs_dim)),
            "goal": rng.uniform(-1, 1, t.goal_dim),
            "weights": rng.uniform(0.5, 2.0, len(t.critics)),
        }
        probe = {k: v.astype(np.float32) for k, v in probe.items()}
        with torch.inference_mode():
            want = t.cost(*(torch.from_numpy(probe[k]) for k in INPUTS)).numpy()
        names = [i.name for i in session.get_inputs()]
        rows = [
            {k: probe[k][i : i + 1] for k in ("obs", "action", "next_obs")}
            for i in range(PROBE_ROWS)
        ]
        try:
            got = np.concatenate(
                [session.run(["cost"], {k: {**probe, **row}[k] for k in names})[0] for row in rows]
            )
        except Exception as exc:
            return f"does not run ({exc})"
        err = np.abs(got - want) / np.maximum(1.0, np.abs(want))
        if got.shape != want.shape or not np.all(err <= PROBE_RTOL):
            return f"differs from torch on the probe batch (max relative {np.nanmax(err):.2g})"
        return None


def _trace(task: Task) -> bytes:
    """``task.cost`` at batch 1 as ONNX bytes (the planner graph's exporter and opset)."""
    import torch

    from mbrl_control.export.onnx_export import OPSET

    class Cost(torch.nn.Module):
        def forward(self, obs, action, next_obs, goal, weights):  # type: ignore[no-untyped-def]
            return task.cost(obs, action, next_obs, goal, weights)  # (1,)

    args = (
        torch.zeros(1, task.obs_dim),
        torch.zeros(1, task.act_dim),
        torch.zeros(1, task.obs_dim),
        torch.zeros(task.goal_dim),
        torch.as_tensor(task.default_weights),
    )
    out = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and legacy-exporter deprecation notes
        torch.onnx.export(
            Cost(),
            args,
            out,
            input_names=list(INPUTS),
            output_names=["cost"],
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return out.getvalue()


def _session(graph: bytes) -> ort.InferenceSession:
    """A one-thread sequential CPU session (deterministic, no busy-waiting)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
