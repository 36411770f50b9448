"""Reduced-precision copies of a planner ONNX file: the model's matmuls in int8 or fp16.

One job: rewrite the **weight matmuls** of an exported planner (``MatMul``/``Gemm`` whose
second input is a constant initializer: the ensemble's layers, ``(E, in, out)``) and nothing
else. Costs, the sentinel ``BIG_COST`` = 1e10 (beyond fp16's 65504), the CEM/MPPI refit,
``TopK`` and the graph's inputs/outputs stay fp32, so a converted file is a drop-in planner
file for :class:`~mbrl_control.export.runtime.OnnxPlanner` (same inputs, outputs and
metadata; one extra metadata prop ``precision``).

Precisions (:data:`PRECISIONS`):

- ``int8``: dynamic quantization (``onnxruntime.quantization.quantize_dynamic``): weights
  int8 per tensor once, activations uint8 per call (``DynamicQuantizeLinear`` →
  ``MatMulInteger``). Weights are signed (U8S8) on CPUs with VNNI/AMX and unsigned (U8U8)
  otherwise: AVX2's ``vpmaddubsw`` saturates U8S8 sums, onnxruntime's own advice.
- ``int8-static``: QDQ static quantization, activation ranges calibrated (min/max) on the
  caller's ``calibration`` feeds (real planner inputs), so no per-call range search.
- ``fp16``: weights stored fp16 and each weight matmul run in fp16 between two ``Cast``
  nodes (activation → fp16, product → fp32); every other node stays fp32.

The conversions change numbers, not the graph's structure: whether a copy plans as well as
the fp32 file is measured in closed loop (``mbrl-control bench precision``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

PRECISIONS = ("int8", "int8-static", "fp16")
"""The reduced precisions :func:`convert` makes."""
WEIGHT_OPS = ("MatMul", "Gemm")
"""Node types whose constant weights are converted."""


def convert(
    src: str | Path,
    dst: str | Path,
    precision: str,
    *,
    calibration: Sequence[dict[str, np.ndarray]] | None = None,
    vnni: bool = False,
) -> Path:
    """Write ``src`` (a planner ONNX file) converted to ``precision`` at ``dst``; returns
    ``dst``. ``calibration``: graph-input feeds (``{name: array}``, the planner's own inputs)
    for ``int8-static`` (required there, ignored otherwise); ``vnni``: the CPU has int8 dot
    products (VNNI/AMX), so ``int8`` uses signed weights.

    Raises ``ValueError`` for an unknown precision (naming the allowed ones), a graph without
    weight matmuls, or ``int8-static`` without calibration feeds; ``FileNotFoundError`` for a
    missing ``src``."""
    src, dst = Path(src), Path(dst)
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: allowed: {', '.join(PRECISIONS)}")
    if not src.is_file():
        raise FileNotFoundError(f"planner file not found: {src}")
    import onnx

    model = onnx.load(str(src))
    if not weight_matmuls(model):
        raise ValueError(f"{src}: no MatMul/Gemm with a constant weight to convert")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if precision == "fp16":
        _fp16_weight_matmuls(model)
        onnx.save(model, str(dst))
    elif precision == "int8":
        with _quiet_quantizer():
            _quantize_dynamic(src, dst, vnni)
    else:
        if not calibration:
            raise ValueError("int8-static needs calibration feeds (the planner's inputs)")
        with _quiet_quantizer():
            _quantize_static(src, dst, calibration)
    _stamp(dst, precision)
    return dst


def weight_matmuls(model) -> list:
    """The ``MatMul``/``Gemm`` nodes of ``model`` (an ``onnx.ModelProto``) whose second input
    is an initializer (main graph only: the planner graph is unrolled, no subgraphs)."""
    inits = {i.name for i in model.graph.initializer}
    return [n for n in model.graph.node if n.op_type in WEIGHT_OPS and n.input[1] in inits]


def runtime_matmuls(path: str | Path) -> dict[str, int]:
    """How onnxruntime's CPU provider on **this** machine runs the weight matmuls of the
    planner file at ``path``, from its optimized graph: ``{"<op>:<weight dtype>": count}``
    over the nodes whose op contains ``MatMul`` (or is ``Gemm``) and take a matrix initializer,
    directly or through a ``Cast`` (then counted as the cast's output type, and the casts under
    ``"weight casts per call"``). E.g. an fp16 file on a CPU without fp16 kernels:
    ``{"MatMul:FLOAT": 325, "weight casts per call": 325}`` (onnxruntime casts the fp16
    weights back to fp32 on every run); int8: ``{"DynamicQuantizeMatMul:UINT8": 323, ...}``."""
    import tempfile

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        options.log_severity_level = 3  # not the "hardware specific" warning
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        model = onnx.load(options.optimized_model_filepath)
    name = onnx.TensorProto.DataType.Name
    # matrices only (not the scales and zero points of quantized ops)
    dtypes = {i.name: name(i.data_type) for i in model.graph.initializer if len(i.dims) >= 2}
    casts = {  # output -> target type, for Casts of a matrix initializer
        n.output[0]: name(n.attribute[0].i)
        for n in model.graph.node
        if n.op_type == "Cast" and n.input[0] in dtypes
    }
    counts: dict[str, int] = {}
    for node in model.graph.node:
        if "MatMul" not in node.op_type and node.op_type != "Gemm":
            continue
        weights = [i for i in node.input if i in dtypes or i in casts]
        if weights:
            key = f"{node.op_type}:{dtypes.get(weights[0]) or casts[weights[0]]}"
            counts[key] = counts.get(key, 0) + 1
            if weights[0] in casts:
                counts["weight casts per call"] = counts.get("weight casts per call", 0) + 1
    return counts


def _fp16_weight_matmuls(model) -> None:
    """In place: each weight matmul's initializer to fp16, its other inputs cast to fp16 and
    its output cast back to fp32 (one ``Cast`` pair per node; nothing else changes)."""
    from onnx import TensorProto, helper, numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    converted: set[str] = set()
    nodes = []
    for node in model.graph.node:
        if node.op_type not in WEIGHT_OPS or node.input[1] not in inits:
            nodes.append(node)
            continue
        for name in node.input[1:]:  # weight (and Gemm's bias C) to fp16, once each
            if name in inits and name not in converted:
                arr = numpy_helper.to_array(inits[name]).astype(np.float16)
                inits[name].CopyFrom(numpy_helper.from_array(arr, name))
                converted.add(name)
        x, out = node.input[0], node.output[0]
        x16, out16 = f"{node.name or out}__x_fp16", f"{out}__fp16"
        nodes.append(helper.make_node("Cast", [x], [x16], to=TensorProto.FLOAT16))
        node.input[0] = x16
        node.output[0] = out16
        nodes.append(node)
        nodes.append(helper.make_node("Cast", [out16], [out], to=TensorProto.FLOAT))
    shared = [n for n in model.graph.node if n.op_type not in WEIGHT_OPS]
    used_elsewhere = {i for n in shared for i in n.input} & converted
    if used_elsewhere:  # an initializer feeding fp32 ops too: never in an exported planner
        raise ValueError(f"weights also used outside matmuls: {sorted(used_elsewhere)[:3]}")
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.value_info[:]  # stale fp32 shapes of the rewired tensors


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """onnxruntime's quantizer logs "Please consider to run pre-processing" through the root
    logger on every call (advice for image models, not for this graph): root WARNINGs are
    dropped while it runs."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _quantize_dynamic(src: Path, dst: Path, vnni: bool) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        op_types_to_quantize=list(WEIGHT_OPS),
        weight_type=QuantType.QInt8 if vnni else QuantType.QUInt8,
    )


def _quantize_static(src: Path, dst: Path, feeds: Sequence[dict[str, np.ndarray]]) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class _Feeds(CalibrationDataReader):
        def __init__(self, items: Iterable[dict[str, np.ndarray]]) -> None:
            self._it = iter(items)

        def get_next(self):
            return next(self._it, None)

    quantize_static(
        str(src),
        str(dst),
        _Feeds(list(feeds)),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=list(WEIGHT_OPS),
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )


def _stamp(path: Path, precision: str) -> None:
    """Record the precision in the file's metadata (the planner's own props kept)."""
    import onnx

    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    props["precision"] = json.dumps(precision)
    del model.metadata_props[:]
    for k, v in props.items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))
