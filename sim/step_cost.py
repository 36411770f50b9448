"""The environment's per-step cost: the task's own torch cost, compiled once per task.

The reward of :class:`~mbrl_sim.env.MbrlSimEnv` is ``-task.cost(obs, action, next_obs, goal,
weights)`` of one transition. Evaluated by torch on 1-row tensors that is some 40-500 operator
dispatches per step (0.1-1 ms: more than the physics of a cart-pole step). :class:`StepCost`
traces that same function once (the critics stay defined once, in torch, and are traced as
the planner graph traces them: same exporter, same opset) into a one-row ONNX graph, and
evaluates that graph with one of :data:`BACKENDS`:

- ``python`` (default): the graph translated to straight-line Python on floats
  (:mod:`mbrl_sim.cost_program`; a few µs: no operator dispatch at all). For a graph with an
  operator it does not translate, ``onnxruntime``.
- ``onnxruntime``: the graph in a one-thread onnxruntime session, inputs and output bound to
  preallocated buffers (one C++ call, but ~0.5 µs of dispatch per graph node).
- ``torch``: ``task.cost`` itself, every step (the reference).

Per process, graphs and their compiled forms are cached by the task's fingerprint (its class
and ``Task.metadata()``, which for a task file holds its whole definition), so only the first
env of a task in a process pays the trace (~0.2 s). Every new :class:`StepCost` first checks
its compiled form against torch on a probe batch (random transitions, goal and weights; max
relative difference :data:`PROBE_RTOL`): a cached graph that does not match (two tasks with
one fingerprint) is re-traced for this task, and a task whose cost cannot be traced
faithfully falls back to the next backend, down to torch, with a warning naming why. Each
backend is deterministic, so a seed still fixes an episode bit for bit; all agree with torch
to float32 rounding (``tests/sim/test_env_cost_parity.py``).
"""

from __future__ import annotations

import functools
import io
import json
import logging
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnxruntime as ort

    from mbrl_control.tasks.base import Task

log = logging.getLogger(__name__)

BACKENDS = ("python", "onnxruntime", "torch")
"""How :class:`StepCost` evaluates the cost; see the module docstring."""
INPUTS = ("obs", "action", "next_obs", "goal", "weights")
PROBE_ROWS = 16
PROBE_RTOL = 1e-4
"""Largest relative difference ``|compiled - torch| / max(1, |torch|)`` the probe accepts."""
CACHE_SIZE = 32


@dataclass
class _Compiled:
    """One traced cost graph and its compiled forms (built on first use)."""

    graph: bytes
    forms: dict[str, Any] = field(default_factory=dict)
    """backend -> program, session, or the exception that prevented it."""


_CACHE: OrderedDict[str, _Compiled] = OrderedDict()
"""fingerprint -> compiled graph, least recently used first (at most :data:`CACHE_SIZE`)."""


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
    first call: a backend that cannot evaluate this task's graph falls back to the next).
    Raises ``ValueError`` for an unknown backend or weights of the wrong length.
    """

    def __init__(
        self, task: Task, weights: np.ndarray | None = None, backend: str = BACKENDS[0]
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"cost backend={backend!r}; allowed: {list(BACKENDS)}")
        self.task = task
        self.backend = backend
        w = task.default_weights if weights is None else weights
        w = np.asarray(w, np.float32).reshape(-1)
        if w.shape != (len(task.critics),):
            raise ValueError(f"weights: need {len(task.critics)} values, got {w.shape[0]}")
        # ---- float32 buffers (1, O), (1, A), (1, O), (G,), (K,): torch and onnxruntime ----
        self._buf = {
            "obs": np.zeros((1, task.obs_dim), np.float32),
            "action": np.zeros((1, task.act_dim), np.float32),
            "next_obs": np.zeros((1, task.obs_dim), np.float32),
            "goal": np.zeros(task.goal_dim, np.float32),
            "weights": w,
        }
        self._goal: list[float] = self._buf["goal"].tolist()  # the program's goal, weights
        self._weights: list[float] = w.tolist()
        self._out = np.zeros(1, np.float32)
        self._eval: Callable[[np.ndarray, np.ndarray, np.ndarray], float] | None = None

    def set_goal(self, goal: np.ndarray) -> None:
        """Use ``goal`` ``(G,)`` for the following calls."""
        self._buf["goal"][:] = np.asarray(goal, np.float32).reshape(-1)
        self._goal[:] = self._buf["goal"].tolist()  # in place: the program holds this list

    def prepare(self) -> None:
        """Trace and compile now (else at the first call): ~0.03-0.5 s for a task's first
        :class:`StepCost` in a process, nothing after."""
        if self._eval is None:
            self._eval = self._build()

    def __call__(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> float:
        """Cost of ``obs (O,) --action (A,)--> next_obs (O,)`` (float32 arrays)."""
        if self._eval is None:
            self._eval = self._build()
        return self._eval(obs, action, next_obs)

    # ---- the three evaluations ----------------------------------------------------------
    def _python(self, program: Callable[..., float]) -> Callable[..., float]:
        goal, weights = self._goal, self._weights

        def run(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> float:
            return program(obs.tolist(), action.tolist(), next_obs.tolist(), goal, weights)

        return run

    def _onnxruntime(self, session: ort.InferenceSession) -> Callable[..., float]:
        binding = session.io_binding()
        names = {i.name for i in session.get_inputs()}  # unused inputs are dropped
        for name in INPUTS:
            if name in names:
                x = self._buf[name]
                binding.bind_input(name, "cpu", 0, np.float32, list(x.shape), x.ctypes.data)
        binding.bind_output("cost", "cpu", 0, np.float32, [1], self._out.ctypes.data)
        call = functools.partial(session.run_with_iobinding, binding)
        inner, bound = getattr(session, "_sess", None), getattr(binding, "_iobinding", None)
        if hasattr(inner, "run_with_iobinding") and bound is not None:
            # the pybind call itself, without the Python wrapper's checks (WebGPU graph
            # capture): ~4 µs a call less, a tenth of the cart-pole graph
            import onnxruntime as ort

            call = functools.partial(inner.run_with_iobinding, bound, ort.RunOptions())
        buf, out = self._buf, self._out

        def run(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> float:
            buf["obs"][0], buf["action"][0], buf["next_obs"][0] = obs, action, next_obs
            call()
            return float(out[0])

        return run

    def _torch(self) -> Callable[..., float]:
        import torch

        buf, cost = self._buf, self.task.cost

        def run(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> float:
            buf["obs"][0], buf["action"][0], buf["next_obs"][0] = obs, action, next_obs
            with torch.inference_mode():
                return float(cost(*(torch.from_numpy(buf[k]) for k in INPUTS)))

        return run

    # ---- choosing and checking ----------------------------------------------------------
    def _build(self) -> Callable[..., float]:
        """The evaluation of :attr:`backend`, or of the first one after it that passes."""
        chain = BACKENDS[BACKENDS.index(self.backend) :]
        compiled = None
        for backend in chain:
            if backend == "torch":
                self.backend = backend
                return self._torch()
            if compiled is None:
                compiled = self._compiled()
                if compiled is None:
                    continue
            run = self._checked(compiled, backend)
            if run is not None:
                self.backend = backend
                return run
        raise AssertionError("unreachable: torch ends every chain")

    def _compiled(self) -> _Compiled | None:
        """The cached graph of this task's fingerprint if it passes the probe (through any
        of its forms), else a fresh trace; None when the cost cannot be traced."""
        key = fingerprint(self.task)
        compiled = _CACHE.get(key)
        if compiled is not None:
            _CACHE.move_to_end(key)
            form = "python" if callable(compiled.forms.get("python")) else "onnxruntime"
            if self._checked(compiled, form, warn=False) is not None:
                return compiled
            key = f"{key}:id:{id(self.task)}"  # same fingerprint, another cost
        try:
            compiled = _Compiled(_trace(self.task))
        except Exception as exc:  # any trace/export failure: torch still computes it
            log.warning("task %s: cost graph unavailable (%s); using torch", self.task.name, exc)
            return None
        _CACHE[key] = compiled
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
        return compiled

    def _checked(
        self, compiled: _Compiled, backend: str, warn: bool = True
    ) -> Callable[..., float] | None:
        """The evaluation of ``compiled`` by ``backend`` if it matches torch on the probe."""
        form = compiled.forms.get(backend)
        if form is None:
            try:
                form = _compile(compiled.graph, backend)
            except Exception as exc:  # unsupported operator, onnxruntime load error
                form = exc
            compiled.forms[backend] = form
        if isinstance(form, Exception):
            why = f"{backend} cannot run the cost graph ({form})"
        else:
            run = self._python(form) if backend == "python" else self._onnxruntime(form)
            why = self._probe(run)
            if why is None:
                return run
            why = f"{backend} cost graph {why}"
        if warn:
            log.warning("task %s: %s; falling back", self.task.name, why)
        return None

    def _probe(self, run: Callable[..., float]) -> str | None:
        """None when ``run`` computes the task's torch cost on a probe batch, else why.
        Leaves the goal as it was."""
        import torch

        t = self.task
        rng = np.random.default_rng(0)
        low = np.where(np.isfinite(t.low), t.low, -1.0)  # (A,): unbounded actions in ±1
        high = np.where(np.isfinite(t.high), t.high, 1.0)
        probe = {
            "obs": rng.normal(0, 1, (PROBE_ROWS, t.obs_dim)),
            "action": rng.uniform(low, high, (PROBE_ROWS, t.act_dim)),
            "next_obs": rng.normal(0, 1, (PROBE_ROWS, t.obs_dim)),
            "goal": rng.uniform(-1, 1, t.goal_dim),
        }
        probe = {k: v.astype(np.float32) for k, v in probe.items()}
        weights = torch.from_numpy(self._buf["weights"])
        with torch.inference_mode():
            rows = [torch.from_numpy(probe[k]) for k in INPUTS[:4]]
            want = t.cost(*rows, weights).numpy()
        goal = self._buf["goal"].copy()
        self.set_goal(probe["goal"])
        try:
            got = np.array([run(*(probe[k][i] for k in INPUTS[:3])) for i in range(PROBE_ROWS)])
        except Exception as exc:
            return f"does not run ({exc})"
        finally:
            self.set_goal(goal)
        err = np.abs(got - want) / np.maximum(1.0, np.abs(want))
        if got.shape != want.shape or not np.all(err <= PROBE_RTOL):
            return f"differs from torch on the probe batch (max relative {np.nanmax(err):.2g})"
        return None


def _compile(graph: bytes, backend: str) -> Any:
    """``graph`` as a Python program (``python``) or an onnxruntime session."""
    if backend == "python":
        from mbrl_sim.cost_program import compile_cost

        return compile_cost(graph)
    return _session(graph)


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
