"""A cost graph of one transition as straight-line Python on floats.

For one row (B = 1) every tensor of the task's traced cost graph (:mod:`mbrl_sim.step_cost`)
is a handful of numbers with a shape known at trace time, and any array runtime spends far
more on dispatching each operator (~0.5-10 µs) than on its arithmetic. :func:`compile_cost`
walks the ONNX graph once with numpy object arrays whose elements are Python numbers
(constants, folded at compile time) or names of scalar variables, so indexing, slicing,
reshaping, broadcasting and concatenation cost nothing at run time, and emits one Python
statement per scalar arithmetic operation. The result is a plain function

    cost(obs, action, next_obs, goal, weights) -> float   (each argument a list of floats)

that evaluates the same graph (the critics are still defined once, in torch) in float64
(the graph's float32 constants exactly; results agree with torch to float32 rounding).
Arithmetic follows IEEE as the graph does: division by zero, overflow, the square root of a
negative number and NaN inputs give inf/NaN instead of Python's exceptions.

Raises :class:`Unsupported` (naming the operator) for a graph outside :data:`OPS` or with
data-dependent indices; the caller then runs the graph with onnxruntime.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

INPUTS = ("obs", "action", "next_obs", "goal", "weights")


class Unsupported(ValueError):
    """The graph uses an operator or form :func:`compile_cost` does not translate."""


# ---- IEEE helpers the generated code calls (Python's math raises where floats do not) ----
def _div(a: float, b: float) -> float:
    if b == 0.0:
        return (
            math.nan if a == 0.0 or a != a else math.copysign(math.inf, a) * math.copysign(1.0, b)
        )
    return a / b


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0.0 else math.nan


def _log(x: float) -> float:
    if x > 0.0:
        return math.log(x)
    return -math.inf if x == 0.0 else math.nan


def _pow(a: float, b: float) -> float:
    try:
        r = a**b
    except (OverflowError, ZeroDivisionError):
        return math.inf
    return math.nan if isinstance(r, complex) else r


def _max(a: float, b: float) -> float:
    return a if a != a or a >= b else b  # NaN propagates, as in Max/Clip


def _min(a: float, b: float) -> float:
    return a if a != a or a <= b else b


def _where(c: Any, a: float, b: float) -> float:
    return a if c else b


HELPERS: dict[str, Callable[..., Any]] = {
    "_div": _div,
    "_exp": _exp,
    "_sqrt": _sqrt,
    "_log": _log,
    "_pow": _pow,
    "_max": _max,
    "_min": _min,
    "_where": _where,
    "_cos": math.cos,
    "_sin": math.sin,
    "_atan": math.atan,
    "_tanh": math.tanh,
}

# name -> (python format for symbolic operands, numeric function for constant folding)
BINARY: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "Add": ("({a} + {b})", lambda a, b: a + b),
    "Sub": ("({a} - {b})", lambda a, b: a - b),
    "Mul": ("({a} * {b})", lambda a, b: a * b),
    "Div": ("_div({a}, {b})", _div),
    "Pow": ("_pow({a}, {b})", _pow),
    "Max": ("_max({a}, {b})", _max),
    "Min": ("_min({a}, {b})", _min),
    "Equal": ("({a} == {b})", lambda a, b: a == b),
    "Less": ("({a} < {b})", lambda a, b: a < b),
    "Greater": ("({a} > {b})", lambda a, b: a > b),
    "LessOrEqual": ("({a} <= {b})", lambda a, b: a <= b),
    "GreaterOrEqual": ("({a} >= {b})", lambda a, b: a >= b),
    "And": ("({a} and {b})", lambda a, b: a and b),
    "Or": ("({a} or {b})", lambda a, b: a or b),
}
UNARY: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "Neg": ("(-{a})", lambda a: -a),
    "Abs": ("abs({a})", abs),
    "Exp": ("_exp({a})", _exp),
    "Sqrt": ("_sqrt({a})", _sqrt),
    "Log": ("_log({a})", _log),
    "Cos": ("_cos({a})", math.cos),
    "Sin": ("_sin({a})", math.sin),
    "Atan": ("_atan({a})", math.atan),
    "Tanh": ("_tanh({a})", math.tanh),
    "Reciprocal": ("_div(1.0, {a})", lambda a: _div(1.0, a)),
    "Relu": ("_max({a}, 0.0)", lambda a: _max(a, 0.0)),
    "Not": ("(not {a})", lambda a: not a),
}
SHAPE_OPS = (
    "Constant",
    "Identity",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Slice",
    "Reshape",
    "Transpose",
    "Expand",
    "Shape",
    "ConstantOfShape",
    "Cast",
)
OTHER_OPS = ("Clip", "Where", "ReduceSum", "ReduceMean", "MatMul")
OPS = (*SHAPE_OPS, *OTHER_OPS, *BINARY, *UNARY)
"""The ONNX operators :func:`compile_cost` translates."""


def _sym(x: Any) -> bool:
    return isinstance(x, str)


class _Emitter:
    """Writes one statement per symbolic scalar operation; folds constants."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def new(self, expr: str) -> str:
        name = f"v{len(self.lines)}"
        self.lines.append(f"    {name} = {expr}")
        return name

    def unary(self, op: str, a: Any) -> Any:
        fmt, fn = UNARY[op]
        return self.new(fmt.format(a=a)) if _sym(a) else fn(a)

    def binary(self, op: str, a: Any, b: Any) -> Any:
        fmt, fn = BINARY[op]
        if not (_sym(a) or _sym(b)):
            return fn(a, b)
        if op == "Div" and not _sym(b) and b != 0:
            fmt = "({a} / {b})"  # a nonzero constant divisor: Python's own division is IEEE
        return self.new(fmt.format(a=_lit(a), b=_lit(b)))

    def total(self, items: list[Any]) -> Any:
        """The sum of ``items`` (left to right), folded where constant."""
        if not items:
            return 0.0
        out = items[0]
        for x in items[1:]:
            out = self.binary("Add", out, x)
        return out


def _lit(x: Any) -> str:
    """A symbol, or a constant as a Python literal."""
    if _sym(x):
        return x
    if isinstance(x, float) and not math.isfinite(x):
        return f"float({str(x)!r})"
    return repr(x)


def _objects(value: np.ndarray) -> np.ndarray:
    """A numeric array as an object array of Python numbers (``float`` for floats)."""
    value = np.asarray(value)
    if value.dtype.kind == "f":
        value = value.astype(np.float64)
    out = np.empty(value.shape, object)
    out[...] = value.tolist() if value.shape else value.item()
    return out


def _arr(x: Any) -> np.ndarray:
    """``np.frompyfunc``'s result (a bare element for 0-d input) as an object array."""
    if isinstance(x, np.ndarray):
        return x
    out = np.empty((), object)
    out[()] = x
    return out


def _ints(x: np.ndarray, what: str) -> list[int]:
    if any(_sym(v) for v in x.reshape(-1)):
        raise Unsupported(f"{what} depends on the inputs")
    return [int(v) for v in x.reshape(-1)]


def _axis(a: int, rank: int) -> int:
    return a + rank if a < 0 else a


def compile_cost(graph: bytes) -> Callable[..., float]:
    """The function ``cost(obs, action, next_obs, goal, weights) -> float`` of the ONNX
    ``graph`` (a cost of one row: output ``cost`` of shape (1,)); see the module docstring.
    Raises :class:`Unsupported` naming what it cannot translate."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(graph)
    g = model.graph
    em = _Emitter()
    values: dict[str, np.ndarray] = {}
    head: list[str] = []
    for init in g.initializer:
        values[init.name] = _objects(numpy_helper.to_array(init))
    for inp in g.input:
        if inp.name in values:
            continue
        if inp.name not in INPUTS:
            raise Unsupported(f"graph input {inp.name!r}; allowed: {list(INPUTS)}")
        shape = inp.type.tensor_type.shape.dim
        if any(not d.HasField("dim_value") for d in shape):
            raise Unsupported(f"input {inp.name!r} has a dynamic shape")
        dims = [d.dim_value for d in shape]
        size = int(np.prod(dims)) if dims else 1
        names = [f"{inp.name}_{i}" for i in range(size)]
        if names:
            head.append(f"    {', '.join(names)}, = {inp.name}")
        arr = np.empty(size, object)
        arr[:] = names
        values[inp.name] = arr.reshape(dims)
    for node in g.node:
        out = _node(node, values, em)
        for name, val in zip(node.output, out):
            values[name] = val
    if len(g.output) != 1 or g.output[0].name != "cost":
        raise Unsupported("the graph's outputs must be exactly 'cost'")
    result = values["cost"].reshape(-1)
    if result.shape != (1,):
        raise Unsupported(f"output cost has {result.size} values, need 1")
    args = ", ".join(INPUTS)
    source = "\n".join(
        [f"def cost({args}):", *head, *em.lines, f"    return float({_lit(result[0])})"]
    )
    scope: dict[str, Any] = dict(HELPERS)
    exec(compile(source, "<cost program>", "exec"), scope)
    fn = scope["cost"]
    fn.source = source  # type: ignore[attr-defined]
    return fn


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _node(node: Any, values: dict[str, np.ndarray], em: _Emitter) -> list[np.ndarray]:
    """The output arrays of one node."""
    from onnx import numpy_helper

    op, at = node.op_type, _attrs(node)
    ins = [values[n] if n else None for n in node.input]
    x = ins[0] if ins else None
    if (op in BINARY and op not in ("Max", "Min")) or (op in ("Max", "Min") and len(ins) == 2):
        return [_arr(np.frompyfunc(lambda a, b: em.binary(op, a, b), 2, 1)(ins[0], ins[1]))]
    if op in ("Max", "Min"):
        out = ins[0]
        for other in ins[1:]:
            out = _arr(np.frompyfunc(lambda a, b: em.binary(op, a, b), 2, 1)(out, other))
        return [out]
    if op in UNARY:
        return [_arr(np.frompyfunc(lambda a: em.unary(op, a), 1, 1)(x))]
    if op == "Constant":
        if "value" in at:
            return [_objects(numpy_helper.to_array(at["value"]))]
        for key in ("value_float", "value_int", "value_floats", "value_ints"):
            if key in at:
                return [_objects(np.asarray(at[key]))]
        raise Unsupported(f"Constant with {sorted(at)}")
    if op == "Identity":
        return [x]
    if op == "Cast":
        return [_arr(np.frompyfunc(lambda a: _cast(a, at["to"], em), 1, 1)(x))]
    if op == "Gather":
        idx = np.asarray(_ints(ins[1], "Gather indices")).reshape(ins[1].shape)
        axis = _axis(at.get("axis", 0), x.ndim)
        idx = np.where(idx < 0, idx + x.shape[axis], idx)
        return [np.take(x, idx, axis=axis)]
    if op == "Unsqueeze":
        axes = _ints(ins[1], "Unsqueeze axes") if len(ins) > 1 else list(at["axes"])
        rank = x.ndim + len(axes)
        out = x
        for a in sorted(_axis(a, rank) for a in axes):
            out = np.expand_dims(out, a)
        return [out]
    if op == "Squeeze":
        axes = _ints(ins[1], "Squeeze axes") if len(ins) > 1 and ins[1] is not None else None
        if axes is None and "axes" in at:
            axes = list(at["axes"])
        return [np.squeeze(x, None if axes is None else tuple(_axis(a, x.ndim) for a in axes))]
    if op == "Concat":
        return [np.concatenate(ins, axis=_axis(at["axis"], ins[0].ndim))]
    if op == "Slice":
        starts, ends = _ints(ins[1], "Slice starts"), _ints(ins[2], "Slice ends")
        axes = _ints(ins[3], "Slice axes") if len(ins) > 3 and ins[3] is not None else None
        steps = _ints(ins[4], "Slice steps") if len(ins) > 4 and ins[4] is not None else None
        axes = list(range(len(starts))) if axes is None else [_axis(a, x.ndim) for a in axes]
        steps = [1] * len(starts) if steps is None else steps
        index = [slice(None)] * x.ndim
        for a, s, e, st in zip(axes, starts, ends, steps):
            index[a] = slice(s, e, st)
        return [x[tuple(index)]]
    if op == "Reshape":
        shape = _ints(ins[1], "Reshape shape")
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
        return [x.reshape(shape)]
    if op == "Transpose":
        perm = at.get("perm")
        return [np.transpose(x, None if perm is None else list(perm))]
    if op == "Expand":
        shape = np.broadcast_shapes(x.shape, tuple(_ints(ins[1], "Expand shape")))
        return [np.broadcast_to(x, shape).copy()]
    if op == "Shape":
        dims = list(x.shape)[at.get("start", 0) : at.get("end", None)]
        return [_objects(np.asarray(dims, np.int64))]
    if op == "ConstantOfShape":
        fill = numpy_helper.to_array(at["value"]).reshape(-1)[0] if "value" in at else 0.0
        return [_objects(np.full(_ints(x, "ConstantOfShape shape"), fill))]
    if op == "Clip":
        lo = ins[1].reshape(-1)[0] if len(ins) > 1 and ins[1] is not None else None
        hi = ins[2].reshape(-1)[0] if len(ins) > 2 and ins[2] is not None else None

        def clip(a: Any) -> Any:
            if lo is not None:
                a = em.binary("Max", a, lo)
            if hi is not None:
                a = em.binary("Min", a, hi)
            return a

        return [_arr(np.frompyfunc(clip, 1, 1)(x))]
    if op == "Where":
        where = np.frompyfunc(
            lambda c, a, b: (
                (a if c else b) if not _sym(c) else em.new(f"_where({c}, {_lit(a)}, {_lit(b)})")
            ),
            3,
            1,
        )
        return [_arr(where(ins[0], ins[1], ins[2]))]
    if op in ("ReduceSum", "ReduceMean"):
        if len(ins) > 1 and ins[1] is not None:
            axes = _ints(ins[1], f"{op} axes")
        else:
            axes = list(at.get("axes", []))
        if not axes and at.get("noop_with_empty_axes", 0):
            return [x]
        return [_reduce(x, axes or list(range(x.ndim)), bool(at.get("keepdims", 1)), op, em)]
    if op == "MatMul":
        a, b = ins
        if a.ndim < 2 or b.ndim < 2:
            raise Unsupported("MatMul of a vector")
        mul = np.frompyfunc(lambda p, q: em.binary("Mul", p, q), 2, 1)
        prod = _arr(mul(a[..., :, :, None], b[..., None, :, :]))  # (..., M, K, N)
        return [_reduce(prod, [prod.ndim - 2], False, "ReduceSum", em)]
    raise Unsupported(f"operator {op}")


def _cast(a: Any, to: int, em: _Emitter) -> Any:
    """One element cast to ONNX type ``to``: floats stay Python floats (evaluated in float64),
    bool tests against 0, integers truncate (constants only)."""
    from onnx import TensorProto

    if to in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16):
        return a if _sym(a) else float(a)
    if to == TensorProto.BOOL:
        return em.new(f"({a} != 0)") if _sym(a) else bool(a)
    if _sym(a):
        raise Unsupported(f"Cast of an input-dependent value to type {to}")
    return int(a)


def _reduce(x: np.ndarray, axes: list[int], keepdims: bool, op: str, em: _Emitter) -> np.ndarray:
    """Sum (or mean) of ``x`` over ``axes``, left to right."""
    axes = sorted({_axis(a, x.ndim) for a in axes})
    keep = [i for i in range(x.ndim) if i not in axes]
    moved = np.transpose(x, keep + axes)
    rows = moved.reshape([x.shape[i] for i in keep] + [-1]) if x.size else moved
    n = rows.shape[-1] if rows.ndim else 1
    flat = rows.reshape(-1, n)
    out = np.empty(len(flat), object)
    for i, row in enumerate(flat):
        s = em.total(list(row))
        out[i] = em.binary("Div", s, float(n)) if op == "ReduceMean" else s
    shape = (
        [1 if i in axes else x.shape[i] for i in range(x.ndim)]
        if keepdims
        else [x.shape[i] for i in keep]
    )
    return out.reshape(shape)
