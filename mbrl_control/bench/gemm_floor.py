"""The GEMM floor of a planning step, measured so that no variant can beat it.

A planning step does ``steps_per_call`` ensemble forward passes (:class:`ModelCall`); its
floor on this host is their FLOP count divided by the host's fp32 GEMM throughput at the
same shapes and thread count. The host is shared and its throughput drifts (seen: one
round measured 1.67× slower than the next), so a floor measured once, or as a median, can
be beaten by a variant timed in a faster moment. Here the floor is:

- sampled **interleaved with every variant call** (:meth:`GemmFloor.sample` after each);
- measured in **the variants' own libraries** at their own forms: onnxruntime (the ONNX
  planner's library; the export's layout: per-member 2-D ``Gemm`` or one batched 3-D
  ``MatMul`` per layer, constant weights, the planner's session options via
  :func:`~mbrl_control.export.runtime.open_session`, all GEMMs of a sample in one
  ``run``), and torch (the torch and mbrl-lib variants' library; ``torch.bmm`` as in their
  ensembles' ``baddbmm``), both at the variant's thread count, fp32. numpy is not used: its
  BLAS thread count cannot be set once it is imported (no threadpoolctl here), so it
  could not be measured at N threads, and its per-``@`` Python dispatch dominates at
  real-time sizes;
- **bounded by the best sample of the run** over both libraries: the fastest this host did
  these GEMMs while the bench ran. A variant's GEMMs at the same shapes cannot run faster,
  so :func:`fraction_of_floor` raises :class:`FloorExceeded` above 1 (never clamped): then
  the floor is wrong (e.g. FLOPs counted that the graph does not do) and the bench says so.

The spread of the samples (p10/p50/p90 GFLOP/s per library) shows how much the host drifted.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

LAYOUTS = ("gemm", "batched")
"""ONNX forms, as :mod:`mbrl_control.export.gemm_ensemble` names them."""


class FloorExceeded(ValueError):
    """A variant ran faster than the best GEMM of the run: the floor is wrong."""


@dataclass(frozen=True)
class ModelCall:
    """One ensemble forward pass: ``members`` independent MLPs, each on ``rows`` inputs.

    ``dims``: layer widths ``(in, hidden..., out)``; layer ``l`` is a ``(rows, dims[l]) @
    (dims[l], dims[l+1])`` GEMM per member.
    """

    members: int
    rows: int
    dims: tuple[int, ...]

    @property
    def flops(self) -> float:
        """Multiply-adds × 2 of one pass over all members (biases and activations excluded)."""
        return 2.0 * self.members * self.rows * sum(i * o for i, o in pairwise(self.dims))


def planner_model_call(model: Any, planner_cfg: Any) -> ModelCall:
    """The :class:`ModelCall` of ``model`` (an ``Ensemble``) at a planner's first-iteration
    population (``planner_cfg``: a ``PlannerConfig``).

    The widths are read from the model's own layers (``hidden[k].weight (E, in, out)`` and
    ``head.weight (E, W, heads)``), so input extras and head outputs count as they are.
    ``ts_inf`` splits ``population × particles`` rows over the members; ``mean`` gives every
    member all rows.
    """
    weights = [layer.weight for layer in model.hidden] + [model.head.weight]
    members = int(weights[0].shape[0])
    rows = planner_cfg.population * planner_cfg.particles
    if planner_cfg.propagation != "mean":
        rows //= members
    dims = (int(weights[0].shape[1]), *(int(w.shape[2]) for w in weights))
    return ModelCall(members, int(rows), dims)


def planner_step_flops(call: ModelCall, planner_cfg: Any) -> float:
    """Model FLOPs of one planning step: every iteration's population, ``horizon`` calls each."""
    scale = sum(planner_cfg.populations) / planner_cfg.population
    return call.flops * planner_cfg.horizon * scale


def cpu_model() -> str:
    """The CPU's ``model name`` from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def fraction_of_floor(flops: float, seconds: float, floor_gflops: float) -> float:
    """``achieved / floor`` throughput of a step doing ``flops`` in ``seconds``, in ``(0, 1]``.

    Raises :class:`FloorExceeded` (naming both rates) when the step beat the floor, and
    ``ValueError`` for a non-positive time or floor. Never clamps.
    """
    if not (seconds > 0 and floor_gflops > 0):
        raise ValueError(f"seconds ({seconds}) and floor_gflops ({floor_gflops}) must be > 0")
    achieved = flops / seconds / 1e9
    if achieved > floor_gflops:
        raise FloorExceeded(
            f"{achieved:.2f} GFLOP/s achieved > {floor_gflops:.2f} GFLOP/s, the best GEMM of "
            "the run at the same shapes: the floor is wrong (FLOPs counted that the step does "
            "not do, or a faster GEMM form than the floor measures)"
        )
    return achieved / floor_gflops


@dataclass
class _Library:
    name: str
    form: str
    threads: int
    run: Any  # zero-argument callable: one sample's GEMMs
    gflops: list[float] = field(default_factory=list)


class GemmFloor:
    """Interleaved fp32 GEMM throughput samples of ``reps`` :class:`ModelCall` passes.

    Args:
        call: the model pass whose GEMMs are measured.
        reps: passes per sample (e.g. the horizon: one planner iteration's GEMMs).
        threads: intra-op threads of every library (the variant's thread count); torch's
            global count is set to it.
        onnx_layout: the ONNX planner's form, ``"gemm"`` or ``"batched"`` (``None``: no
            onnxruntime sample); torch is always sampled (batched ``bmm``).

    Raises ``ValueError`` for an unknown layout or non-positive ``reps``/``threads``.
    """

    def __init__(
        self, call: ModelCall, reps: int, threads: int, onnx_layout: str | None = "batched"
    ) -> None:
        if reps < 1 or threads < 1:
            raise ValueError(f"reps ({reps}) and threads ({threads}) must be >= 1")
        if onnx_layout is not None and onnx_layout not in LAYOUTS:
            raise ValueError(f"onnx_layout={onnx_layout!r}; allowed: {', '.join(LAYOUTS)}")
        self.call, self.reps, self.threads = call, reps, threads
        self.flops_per_sample = call.flops * reps
        rng = np.random.default_rng(0)
        # (E, in, out) per layer, scaled so that chained products stay finite
        self._weights = [
            (rng.standard_normal((call.members, i, o)) / np.sqrt(i)).astype(np.float32)
            for i, o in pairwise(call.dims)
        ]
        self._x = rng.standard_normal((call.members, call.rows, call.dims[0])).astype(np.float32)
        self.libraries: list[_Library] = [self._torch()]
        if onnx_layout is not None:
            self.libraries.insert(0, self._onnxruntime(onnx_layout))
        self.sample()  # warm up (session init, allocator, packing), not recorded
        for lib in self.libraries:
            lib.gflops.clear()

    # -- libraries -------------------------------------------------------------------------

    def _torch(self) -> _Library:
        import torch

        torch.set_num_threads(self.threads)
        x = torch.from_numpy(self._x)  # (E, B, in)
        ws = [torch.from_numpy(w) for w in self._weights]  # (E, in, out) each

        def run() -> None:
            with torch.inference_mode():
                for _ in range(self.reps):
                    h = x
                    for w in ws:
                        h = torch.bmm(h, w)  # (E, B, out)

        return _Library("torch", "bmm", torch.get_num_threads(), run)

    def _onnxruntime(self, layout: str) -> _Library:
        import onnxruntime as ort

        from mbrl_control.export.runtime import open_session

        model, inputs, outputs = self._onnx_graph(layout)
        with tempfile.TemporaryDirectory() as tmp:
            import onnx

            path = Path(tmp) / "gemm_floor.onnx"
            onnx.save(model, str(path))
            session = open_session(path, self.threads, "GEMM floor graph")
        binding = session.io_binding()
        for name, value in inputs.items():
            binding.bind_cpu_input(name, value)
        self._keep = inputs  # the bound buffers must outlive the binding
        self.onnx_outputs: dict[str, Any] = {}  # name -> OrtValue, rewritten by every sample
        for name, shape in outputs.items():
            out = ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32)
            binding.bind_ortvalue_output(name, out)
            self.onnx_outputs[name] = out
        threads = session.get_session_options().intra_op_num_threads
        return _Library("onnxruntime", layout, threads, lambda: session.run_with_iobinding(binding))

    def _onnx_graph(self, layout: str):
        """``(model, {input: array}, {output: shape})``: ``reps`` independent passes, each
        its own input (so the optimizer cannot merge repeated passes), constant weights."""
        from onnx import TensorProto, helper, numpy_helper

        e, b = self.call.members, self.call.rows
        nodes, inits, graph_in, graph_out = [], [], [], []
        feeds: dict[str, np.ndarray] = {}
        outs: dict[str, tuple[int, ...]] = {}
        if layout == "batched":
            inits = [numpy_helper.from_array(w, f"w{k}") for k, w in enumerate(self._weights)]
            chains = [(f"x{r}", [f"w{k}" for k in range(len(self._weights))], self._x, (e, b))
                      for r in range(self.reps)]  # fmt: skip
            op = "MatMul"
        else:
            inits = [
                numpy_helper.from_array(np.ascontiguousarray(w[m]), f"w{k}_{m}")
                for k, w in enumerate(self._weights)
                for m in range(e)
            ]
            chains = [
                (f"x{r}_{m}", [f"w{k}_{m}" for k in range(len(self._weights))],
                 np.ascontiguousarray(self._x[m]), (b,))
                for r in range(self.reps) for m in range(e)
            ]  # fmt: skip
            op = "Gemm"
        for name, ws, value, lead in chains:
            graph_in.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, value.shape))
            feeds[name] = value
            h = name
            for k, w in enumerate(ws):
                out = f"{name}_h{k}"
                nodes.append(helper.make_node(op, [h, w], [out]))
                h = out
            shape = (*lead, self.call.dims[-1])
            graph_out.append(helper.make_tensor_value_info(h, TensorProto.FLOAT, shape))
            outs[h] = shape
        graph = helper.make_graph(nodes, "gemm_floor", graph_in, graph_out, inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        return model, feeds, outs

    # -- sampling --------------------------------------------------------------------------

    def sample(self) -> None:
        """One timed sample per library (call between variant calls)."""
        for lib in self.libraries:
            start = time.perf_counter()
            lib.run()
            lib.gflops.append(self.flops_per_sample / (time.perf_counter() - start) / 1e9)

    def best(self) -> tuple[float, str]:
        """``(GFLOP/s, library)`` of the fastest sample of the run; ``ValueError`` if none."""
        samples = [(g, lib.name) for lib in self.libraries for g in lib.gflops]
        if not samples:
            raise ValueError("GemmFloor.best: no samples yet (call sample())")
        return max(samples)

    def report(self) -> dict[str, Any]:
        """JSON-ready: CPU, threads, shapes, per-library spread and the best of the run."""
        best, where = self.best()
        libs = {}
        for lib in self.libraries:
            p10, p50, p90 = np.percentile(lib.gflops, [10, 50, 90])
            libs[lib.name] = {
                "form": lib.form,
                "threads": lib.threads,
                "samples": len(lib.gflops),
                "gflops_p10": round(float(p10), 2),
                "gflops_p50": round(float(p50), 2),
                "gflops_p90": round(float(p90), 2),
                "gflops_best": round(max(lib.gflops), 2),
            }
        return {
            "cpu_model": cpu_model(),
            "dtype": "float32",
            "threads": self.threads,
            "model_call": {
                "members": self.call.members,
                "rows": self.call.rows,
                "dims": list(self.call.dims),
            },
            "passes_per_sample": self.reps,
            "gflop_per_sample": round(self.flops_per_sample / 1e9, 4),
            "libraries": libs,
            "best_gflops": round(best, 2),
            "best_library": where,
        }


def graph_gemm_flops(path: str | Path) -> float:
    """FLOPs of every ``MatMul``/``Gemm`` node of the ONNX graph at ``path`` (2 × M × K × N ×
    batch): what the graph really does (e.g. a log-variance head the rollout never reads is
    pruned at export and not counted).

    The operand shapes are read from one run of a copy of the graph that also outputs every
    GEMM operand (fed zeros of each input's declared shape and type; the planner graphs have
    static shapes that values do not change). Raises ``ValueError`` for a graph input without
    a static shape or a GEMM inside a subgraph (``Loop``/``Scan``/``If`` bodies).
    """
    import onnx
    import onnxruntime as ort
    from onnx import helper

    model = onnx.load(str(path))
    graph = model.graph
    gemms = [n for n in graph.node if n.op_type in ("MatMul", "Gemm")]
    for node in graph.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
               for a in node.attribute):  # fmt: skip
            raise ValueError(f"{path}: node {node.name!r} ({node.op_type}) has a subgraph")
    inits = {i.name: tuple(i.dims) for i in graph.initializer}
    known = {o.name for o in graph.output}
    operands = {n for node in gemms for n in node.input[:2] if n not in inits and n not in known}
    graph.output.extend(helper.make_empty_tensor_value_info(n) for n in sorted(operands))
    feed = {}
    for v in graph.input:
        if v.name in inits:
            continue
        t = v.type.tensor_type
        if not all(d.HasField("dim_value") for d in t.shape.dim):
            raise ValueError(f"{path}: input {v.name!r} has no static shape")
        dtype = helper.tensor_dtype_to_np_dtype(t.elem_type)
        feed[v.name] = np.zeros([d.dim_value for d in t.shape.dim], dtype)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options)
    names = [o.name for o in session.get_outputs()]
    shapes = {n: v.shape for n, v in zip(names, session.run(None, feed))} | inits
    total = 0.0
    for node in gemms:
        a, b = (tuple(shapes[n]) for n in node.input[:2])
        if node.op_type == "Gemm":
            attrs = {at.name: at.i for at in node.attribute}
            m, k = a[::-1] if attrs.get("transA") else a
            n = b[0] if attrs.get("transB") else b[1]
            total += 2.0 * m * k * n
        else:  # numpy matmul rules: 1-D operands are promoted, batch dims broadcast
            a2, b2 = (a if len(a) > 1 else (1, *a)), (b if len(b) > 1 else (*b, 1))
            batch = np.broadcast_shapes(a2[:-2], b2[:-2])
            total += 2.0 * float(np.prod(batch)) * a2[-2] * a2[-1] * b2[-1]
    return total
