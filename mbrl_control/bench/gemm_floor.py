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

``for_model_call(..., activation=...)`` also samples a **model-call ceiling**: the same
passes as the ensemble runs them in onnxruntime, with each layer's bias and the model's
activation between layers (SiLU as ``Sigmoid``·``Mul``, which onnxruntime fuses). It is not a
floor (it does more than GEMMs) and never sets :meth:`GemmFloor.best`; its best over the
floor's best is the highest fraction of the floor a planner made of these passes can reach
(measured: 0.90 for the PETS model's SiLU on an AMD EPYC), so a planner's distance to 1
splits into the activations' share and the planner's own.
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


def step_fractions(flops: float, seconds: Any, floor_gflops: float) -> dict[str, float]:
    """``{"fraction_of_floor": median step, "best_call_fraction": fastest step}`` of steps
    doing ``flops`` in ``seconds`` (a sequence, > 0) against ``floor_gflops`` (the best GEMM
    of the run: best against best is less sensitive to a loaded host). Raises
    :class:`FloorExceeded` when any step beat the floor (see :func:`fraction_of_floor`)."""
    ts = np.asarray(seconds, float)
    return {
        "best_call_fraction": fraction_of_floor(flops, float(ts.min()), floor_gflops),
        "fraction_of_floor": fraction_of_floor(flops, float(np.median(ts)), floor_gflops),
    }


@dataclass
class _Library:
    name: str
    form: str
    threads: int
    run: Any  # zero-argument callable: one sample's GEMMs
    gflops: list[float] = field(default_factory=list)
    outputs: Any = None  # onnxruntime: () -> {name: array} of the last run


class GemmFloor:
    """Interleaved fp32 GEMM throughput samples, each doing ``flops_per_sample`` FLOPs in
    every library. Build with :meth:`for_model_call` (``bench planner``: onnxruntime and
    torch at a model pass's shapes) or :meth:`for_graph` (``bench planner-files``: the GEMMs
    of a planner file, in onnxruntime); the constructor warms every library up.

    ``info``: what is measured (JSON-ready), reported by :meth:`report`.
    """

    def __init__(
        self,
        libraries: list[_Library],
        flops_per_sample: float,
        threads: int,
        info: dict,
        ceiling: _Library | None = None,
    ) -> None:
        self.libraries, self.flops_per_sample = libraries, flops_per_sample
        self.threads, self.info, self.ceiling = threads, info, ceiling
        self.sample()  # warm up (session init, allocator, packing), not recorded
        for lib in self._sampled():
            lib.gflops.clear()

    def _sampled(self) -> list[_Library]:
        return self.libraries + ([self.ceiling] if self.ceiling is not None else [])

    @classmethod
    def for_model_call(
        cls,
        call: ModelCall,
        reps: int,
        threads: int,
        onnx_layout: str | None = "batched",
        activation: str | None = None,
    ) -> GemmFloor:
        """``reps`` passes of ``call`` per sample (e.g. the horizon: one planner iteration).

        ``threads``: intra-op threads of both libraries (the variant's thread count; torch's
        global count is set to it). ``onnx_layout``: the ONNX planner's form, ``"gemm"`` or
        ``"batched"`` (``None``: no onnxruntime sample); torch is always sampled (``bmm``).
        ``activation`` (one of :data:`ACTIVATIONS`, with an ``onnx_layout``): also sample the
        model-call ceiling (module doc) in that layout.
        Raises ``ValueError`` for an unknown layout or activation, or non-positive
        ``reps``/``threads``.
        """
        if activation is not None and (activation not in ACTIVATIONS or onnx_layout is None):
            raise ValueError(
                f"activation={activation!r} needs an onnx_layout and one of "
                f"{', '.join(ACTIVATIONS)}"
            )
        if reps < 1 or threads < 1:
            raise ValueError(f"reps ({reps}) and threads ({threads}) must be >= 1")
        if onnx_layout is not None and onnx_layout not in LAYOUTS:
            raise ValueError(f"onnx_layout={onnx_layout!r}; allowed: {', '.join(LAYOUTS)}")
        rng = np.random.default_rng(0)
        # (E, in, out) per layer, scaled so that chained products stay finite
        weights = [
            (rng.standard_normal((call.members, i, o)) / np.sqrt(i)).astype(np.float32)
            for i, o in pairwise(call.dims)
        ]
        x = rng.standard_normal((call.members, call.rows, call.dims[0])).astype(np.float32)
        libraries = [_torch_bmm_chain(x, weights, reps, threads)]
        if onnx_layout is not None:
            model, feeds = _model_call_graph(x, weights, reps, onnx_layout)
            libraries.insert(0, _onnxruntime(model, feeds, threads, onnx_layout))
        info = {
            "model_call": {"members": call.members, "rows": call.rows, "dims": list(call.dims)},
            "passes_per_sample": reps,
        }
        ceiling = None
        if activation is not None:
            model, feeds = _model_call_graph(x, weights, reps, onnx_layout, activation)
            ceiling = _onnxruntime(model, feeds, threads, f"{onnx_layout}+bias+{activation}")
        floor = cls(libraries, call.flops * reps, threads, info, ceiling)
        floor.inputs = (x, weights)  # (E, B, in), [(E, in, out)]: what the passes multiply
        return floor

    @classmethod
    def for_graph(cls, path: str | Path, threads: int) -> GemmFloor:
        """Every ``MatMul``/``Gemm`` of the ONNX graph at ``path``, once per sample, at their
        operand shapes and attributes, constant weights kept, in one onnxruntime ``run``
        at ``threads`` (the planner's session options): the step's GEMMs without the rest.
        Raises ``ValueError`` as :func:`graph_gemm_flops`."""
        model, feeds, flops = _graph_gemms_only(path)
        lib = _onnxruntime(model, feeds, threads, "graph")
        return cls([lib], flops, threads, {"graph": str(path)})

    # -- sampling --------------------------------------------------------------------------

    def sample(self) -> None:
        """One timed sample per library, and of the ceiling (call between variant calls)."""
        for lib in self._sampled():
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
        """JSON-ready: CPU, threads, what is measured, per-library spread, best of the run."""
        best, where = self.best()
        libs = {lib.name: _spread(lib) for lib in self.libraries}
        ceiling = {}
        if self.ceiling is not None and self.ceiling.gflops:
            fraction = round(max(self.ceiling.gflops) / best, 3)
            ceiling = {
                "model_call_ceiling": {**_spread(self.ceiling), "fraction_of_floor": fraction}
            }
        return {
            "cpu_model": cpu_model(),
            "dtype": "float32",
            "threads": self.threads,
            **self.info,
            "gflop_per_sample": round(self.flops_per_sample / 1e9, 4),
            "libraries": libs,
            "best_gflops": round(best, 2),
            "best_library": where,
            **ceiling,
        }


def _spread(lib: _Library) -> dict[str, Any]:
    p10, p50, p90 = np.percentile(lib.gflops, [10, 50, 90])
    return {
        "form": lib.form,
        "threads": lib.threads,
        "samples": len(lib.gflops),
        "gflops_p10": round(float(p10), 2),
        "gflops_p50": round(float(p50), 2),
        "gflops_p90": round(float(p90), 2),
        "gflops_best": round(max(lib.gflops), 2),
    }


# -- libraries -----------------------------------------------------------------------------


def _torch_bmm_chain(x: np.ndarray, weights: list, reps: int, threads: int) -> _Library:
    """``reps`` chains ``x (E, B, in) @ w (E, in, out) @ ...`` with ``torch.bmm``."""
    import torch

    torch.set_num_threads(threads)
    xt, ws = torch.from_numpy(x), [torch.from_numpy(w) for w in weights]

    def run() -> None:
        with torch.inference_mode():
            for _ in range(reps):
                h = xt
                for w in ws:
                    h = torch.bmm(h, w)  # (E, B, out)

    return _Library("torch", "bmm", torch.get_num_threads(), run)


def _onnxruntime(model: Any, feeds: dict[str, np.ndarray], threads: int, form: str) -> _Library:
    """``model`` in a session with the planner's options (:func:`open_session`) at
    ``threads``; ``feeds`` bound once, outputs bound to the device (no per-run feed cost).
    The library's ``outputs()`` returns the last run's outputs (name -> array)."""
    import onnx

    from mbrl_control.export.runtime import open_session

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gemm_floor.onnx"
        onnx.save(model, str(path))
        session = open_session(path, threads, "GEMM floor graph")
    binding = session.io_binding()
    for name, value in feeds.items():
        binding.bind_cpu_input(name, value)
    for out in session.get_outputs():
        binding.bind_output(out.name)

    def run() -> None:
        session.run_with_iobinding(binding)
        _ = feeds  # the bound buffers must outlive the binding

    lib = _Library("onnxruntime", form, session.get_session_options().intra_op_num_threads, run)
    names = [o.name for o in session.get_outputs()]
    lib.outputs = lambda: dict(zip(names, binding.copy_outputs_to_cpu()))
    return lib


def _model_call_graph(
    x: np.ndarray, weights: list, reps: int, layout: str, activation: str | None = None
):
    """``(model, {input: array})``: ``reps`` independent passes of ``x (E, B, in)`` through
    ``weights [(E, in, out)]`` (constant), each its own input (so the optimizer cannot merge
    repeated passes): one 3-D ``MatMul`` per layer (``batched``) or one 2-D ``Gemm`` per
    member per layer (``gemm``), as :mod:`mbrl_control.export.gemm_ensemble` lays them out.
    With ``activation``: each layer adds a constant bias (``Gemm``'s C; ``Add`` after the
    ``MatMul``) and hidden layers apply the activation. Outputs are pass-major,
    member-minor."""
    from onnx import TensorProto, helper, numpy_helper

    members = range(x.shape[0]) if layout == "gemm" else [None]
    inits, chains = [], []
    for m in members:
        ws = [w if m is None else np.ascontiguousarray(w[m]) for w in weights]
        names = [f"w{k}_{m}" for k in range(len(ws))]
        inits += [numpy_helper.from_array(w, n) for w, n in zip(ws, names)]
        chains.append((m, names, x if m is None else np.ascontiguousarray(x[m])))
    if activation is not None:  # biases: (out,) per member (Gemm), (E, 1, out) (MatMul)
        for m, _names, _ in chains:
            for k, w in enumerate(weights):
                shape = (w.shape[-1],) if m is not None else (w.shape[0], 1, w.shape[-1])
                bias = np.full(shape, 0.01, np.float32)
                inits.append(numpy_helper.from_array(bias, f"b{k}_{m}"))
    op = "MatMul" if layout == "batched" else "Gemm"
    nodes, graph_in, graph_out, feeds = [], [], [], {}
    for r in range(reps):
        for m, names, value in chains:
            h = f"x{r}_{m}"
            graph_in.append(helper.make_tensor_value_info(h, TensorProto.FLOAT, value.shape))
            feeds[h] = value
            for k, w in enumerate(names):
                out = f"x{r}_{m}_h{k}"
                if activation is None:
                    nodes.append(helper.make_node(op, [h, w], [out]))
                elif op == "Gemm":
                    nodes.append(helper.make_node(op, [h, w, f"b{k}_{m}"], [out]))
                else:
                    nodes.append(helper.make_node(op, [h, w], [out + "_mm"]))
                    nodes.append(helper.make_node("Add", [out + "_mm", f"b{k}_{m}"], [out]))
                if activation is not None and k < len(names) - 1:  # hidden layers only
                    nodes += _activation_nodes(activation, out, out + "_act")
                    out += "_act"
                h = out
            graph_out.append(helper.make_tensor_value_info(h, TensorProto.FLOAT, None))
    graph = helper.make_graph(nodes, "gemm_floor", graph_in, graph_out, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, feeds


ACTIVATIONS = ("silu", "relu", "tanh", "elu")
"""The ensemble's activations (``EnsembleConfig.activation``) the ceiling graph can apply."""


def _activation_nodes(name: str, src: str, dst: str) -> list:
    """ONNX nodes applying activation ``name`` to ``src`` into ``dst``, as torch exports it."""
    from onnx import helper

    if name == "silu":  # x * sigmoid(x): onnxruntime fuses the pair
        return [
            helper.make_node("Sigmoid", [src], [dst + "_sig"]),
            helper.make_node("Mul", [src, dst + "_sig"], [dst]),
        ]
    return [helper.make_node({"relu": "Relu", "tanh": "Tanh", "elu": "Elu"}[name], [src], [dst])]


# -- planner graphs ------------------------------------------------------------------------

GEMM_OPS = ("MatMul", "Gemm")


def _graph_gemms(path: str | Path):
    """``(model, [GEMM node], {tensor: shape})`` for every GEMM operand of the graph at
    ``path``: shapes of initializers and ``Constant`` outputs as stored, others from one run
    of a copy that also outputs them (fed zeros of each input's declared shape and type).
    Raises ``ValueError`` for a subgraph or an input without a static shape."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    model = onnx.load(str(path))
    graph = model.graph
    for node in graph.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
               for a in node.attribute):  # fmt: skip
            raise ValueError(f"{path}: node {node.name!r} ({node.op_type}) has a subgraph")
    gemms = [n for n in graph.node if n.op_type in GEMM_OPS]
    shapes = {i.name: tuple(i.dims) for i in graph.initializer}
    operands = {n for node in gemms for n in node.input if n and n not in shapes}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in graph.output} | {v.name for v in graph.input}
    probe.graph.output.extend(
        helper.make_empty_tensor_value_info(n) for n in sorted(operands - known)
    )
    feed: dict[str, np.ndarray] = {}
    for v in graph.input:
        if v.name in shapes:
            continue
        t = v.type.tensor_type
        if not all(d.HasField("dim_value") for d in t.shape.dim):
            raise ValueError(f"{path}: input {v.name!r} has no static shape")
        dtype = helper.tensor_dtype_to_np_dtype(t.elem_type)
        feed[v.name] = np.zeros([d.dim_value for d in t.shape.dim], dtype)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(probe.SerializeToString(), options)
    names = [o.name for o in session.get_outputs()]
    shapes |= {n: tuple(v.shape) for n, v in zip(names, session.run(None, feed))}
    shapes |= {n: v.shape for n, v in feed.items()}
    return model, gemms, shapes


def _gemm_flops(node: Any, a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """2 × M × K × N × batch of one ``MatMul`` (numpy rules) or ``Gemm`` (transA/transB)."""
    if node.op_type == "Gemm":
        attrs = {at.name: at.i for at in node.attribute}
        m, k = a[::-1] if attrs.get("transA") else a
        n = b[0] if attrs.get("transB") else b[1]
        return 2.0 * m * k * n
    a2, b2 = (a if len(a) > 1 else (1, *a)), (b if len(b) > 1 else (*b, 1))
    batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    return 2.0 * float(np.prod(batch)) * a2[-2] * a2[-1] * b2[-1]


def graph_gemm_flops(path: str | Path) -> float:
    """FLOPs of every ``MatMul``/``Gemm`` node of the ONNX graph at ``path`` (2 × M × K × N ×
    batch): what the graph really does (e.g. a log-variance head the rollout never reads is
    pruned at export and not counted).

    The operand shapes come from one run of the graph (the planner graphs have static
    shapes that values do not change). Raises ``ValueError`` for a graph input without a
    static shape or a node with a subgraph (``Loop``/``Scan``/``If``: bodies not counted).
    """
    _, gemms, shapes = _graph_gemms(path)
    return sum(_gemm_flops(n, shapes[n.input[0]], shapes[n.input[1]]) for n in gemms)


def _graph_gemms_only(path: str | Path):
    """``(model, {input: array}, flops)``: the GEMM nodes of the graph at ``path`` alone.
    Initializer and ``Constant`` operands stay constant (as ORT pre-packs them in the
    planner); every other operand becomes an input of its recorded shape (random normal)."""
    from onnx import TensorProto, helper, numpy_helper

    model, gemms, shapes = _graph_gemms(path)
    graph = model.graph
    consts = {i.name: i for i in graph.initializer}
    for node in graph.node:  # Constant nodes carry their tensor as the ``value`` attribute
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.from_array(
                numpy_helper.to_array(node.attribute[0].t), node.output[0]
            )
    rng = np.random.default_rng(0)
    nodes, inits, graph_in, graph_out, feeds = [], {}, [], [], {}
    for k, node in enumerate(gemms):
        inputs = []
        for i, name in enumerate(node.input):
            if name in consts:
                inits[name] = consts[name]
                inputs.append(name)
            elif name:
                new = f"g{k}_in{i}"  # its own input: the optimizer cannot merge two nodes
                feeds[new] = rng.standard_normal(shapes[name]).astype(np.float32)
                graph_in.append(helper.make_tensor_value_info(new, TensorProto.FLOAT, shapes[name]))
                inputs.append(new)
            else:
                inputs.append("")
        out = f"g{k}_out"
        nodes.append(helper.make_node(node.op_type, inputs, [out], domain=node.domain))
        nodes[-1].attribute.extend(node.attribute)
        graph_out.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, None))
    flops = sum(_gemm_flops(n, shapes[n.input[0]], shapes[n.input[1]]) for n in gemms)
    floor = helper.make_graph(nodes, "gemm_floor", graph_in, graph_out, list(inits.values()))
    out_model = helper.make_model(floor, opset_imports=list(model.opset_import))
    out_model.ir_version = model.ir_version
    return out_model, feeds, flops
