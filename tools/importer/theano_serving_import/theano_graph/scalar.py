"""Theano's scalar ops (theano/scalar/basic.py, theano/tensor/nnet/sigm.py, nnet.py): what each
becomes in the model vocabulary, and how to fold it when every operand is known at import time.

An Elemwise node applies one scalar op (or a Composite: a small graph of scalar ops, made by
Theano's fusion optimizer) element by element with numpy broadcasting. The same table serves
both: a Composite's inner graph is translated node by node onto the outer operands.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from theano_serving_import.errors import ImporterError
from theano_serving_import.safe_pickle import Record
from theano_serving_import.theano_graph.ir import (Const, Tensor, Unknown, Value,
                                                    broadcast_shapes, is_symbolic)

# scalar op class name -> engine op, by arity. Class names of Theano 0.7-1.0 (Maximum was
# renamed ScalarMaximum in some versions; both are listed).
NARY = {"Add": "add", "Mul": "mul", "Maximum": "maximum", "ScalarMaximum": "maximum",
        "Minimum": "minimum", "ScalarMinimum": "minimum"}
BINARY = {"Sub": "sub", "TrueDiv": "true_div", "Pow": "pow"}
UNARY = {"Neg": "neg", "Abs": "abs", "Sqr": "sqr", "Sqrt": "sqrt", "Log": "log", "Inv": "inv",
         "Exp": "exp", "Tanh": "tanh", "ScalarSigmoid": "sigmoid",
         "UltraFastScalarSigmoid": "ultra_fast_sigmoid", "ScalarSoftplus": "softplus",
         "ScalarSoftsign": "softsign"}
# Ops the engine does not have, kept in the IR only so that idioms can consume them
# (switch(x > 0, x, a * expm1(x)) is elu); one left at emission is refused.
INTERNAL = {"Expm1": "expm1", "GT": "gt", "GE": "ge", "LT": "lt", "LE": "le", "Switch": "switch",
            "Log1p": "log1p"}
IDENTITY = {"Identity", "ViewOp"}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


# numpy versions used to fold constants, computed in the node's output dtype.
FOLD: Dict[str, Callable[..., Any]] = {
    "Add": lambda *a: _reduce(np.add, a), "Mul": lambda *a: _reduce(np.multiply, a),
    "Maximum": lambda *a: _reduce(np.maximum, a), "ScalarMaximum": lambda *a: _reduce(np.maximum, a),
    "Minimum": lambda *a: _reduce(np.minimum, a), "ScalarMinimum": lambda *a: _reduce(np.minimum, a),
    "Sub": np.subtract, "TrueDiv": np.true_divide, "IntDiv": np.floor_divide, "Mod": np.mod,
    "Pow": np.power, "Neg": np.negative, "Abs": np.abs, "Sqr": np.square, "Sqrt": np.sqrt,
    "Log": np.log, "Exp": np.exp, "Inv": lambda x: 1 / x, "Tanh": np.tanh,
    "ScalarSigmoid": _sigmoid, "Expm1": np.expm1, "Log1p": np.log1p, "Floor": np.floor,
    "Ceil": np.ceil, "Sgn": np.sign, "Cos": np.cos, "Sin": np.sin,
    "Identity": lambda x: x,
}
COMPARE = {"GT": np.greater, "GE": np.greater_equal, "LT": np.less, "LE": np.less_equal,
           "EQ": np.equal, "NEQ": np.not_equal}


def _reduce(f: Callable[..., Any], args: Sequence[Any]) -> Any:
    out = args[0]
    for a in args[1:]:
        out = f(out, a)
    return out


def op_label(sop: Record) -> str:
    """How Theano prints a scalar op: its name, else its class name in lower case."""
    name = sop.get("name")
    return name if isinstance(name, str) and name else sop.name.lower()


def fold(sop: Record, args: Sequence[Const], out_dtypes: Sequence[str], where: str,
         ctx: Any) -> List[Const]:
    """Computes a scalar op on constants (in Theano's output dtype)."""
    name = sop.name
    if name == "Composite":
        return apply_composite(ctx, sop, list(args), out_dtypes, where)
    out_dtype = out_dtypes[0]
    shared = any(a.shared for a in args)
    pname = next((a.name for a in args if a.name), None)
    if any(a.array.dtype == object for a in args):
        return [Const(_fold_symbolic(sop, args, out_dtype, where), pname, shared, out_dtype)]
    arrays = [a.array for a in args]
    with np.errstate(all="ignore"):
        if name == "Cast":
            value = arrays[0].astype(out_dtype)
        elif name == "Second":
            value = np.broadcast_to(arrays[1], np.broadcast(arrays[0], arrays[1]).shape)
            value = value.astype(out_dtype)
        elif name == "Switch":
            value = np.where(arrays[0], arrays[1], arrays[2]).astype(out_dtype)
        elif name in COMPARE:
            value = COMPARE[name](*arrays).astype(out_dtype)
        elif name == "Clip":
            value = np.clip(arrays[0].astype(out_dtype), arrays[1], arrays[2]).astype(out_dtype)
        elif name in FOLD:
            if out_dtype.startswith("float"):
                arrays = [a.astype(out_dtype) for a in arrays]
            value = np.asarray(FOLD[name](*arrays)).astype(out_dtype)
        else:
            raise ImporterError("%s: cannot compute the scalar op %s on constants (supported: %s)"
                                % (where, op_label(sop), ", ".join(sorted(
                                    set(FOLD) | set(COMPARE) | {"Cast", "Second", "Switch",
                                                                  "Clip", "Composite"}))))
    return [Const(np.asarray(value), pname, shared, out_dtype)]


def _fold_symbolic(sop: Record, args: Sequence[Const], out_dtype: str, where: str) -> np.ndarray:
    """Element-wise on shape values holding BATCH: casts and identity keep BATCH; arithmetic on
    it gives Unknown (an error only if a shape needs it)."""
    shape = np.broadcast(*[a.array for a in args]).shape
    arrays = [np.broadcast_to(a.array, shape) for a in args]
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        vals = [a[idx] for a in arrays]
        if sop.name in ("Cast", "Identity") and is_symbolic(vals[0]):
            out[idx] = vals[0]
        elif any(is_symbolic(v) for v in vals):
            out[idx] = Unknown(where)
        else:
            out[idx] = fold(sop, [Const(np.asarray(v)) for v in vals], [out_dtype], where,
                            None)[0].array[()]
    return out


def apply_scalar(ctx: Any, sop: Record, args: List[Value], out_dtypes: Sequence[str],
                 where: str, name: Optional[str] = None) -> List[Value]:
    """The values of an Elemwise{sop}(*args): folded when every operand is a Const, else IR
    Tensors (a Composite becomes the translation of its inner graph)."""
    if all(isinstance(a, Const) for a in args):
        return fold(sop, args, out_dtypes, where, ctx)
    op = sop.name
    if op == "Composite":
        return apply_composite(ctx, sop, args, out_dtypes, where)
    out_dtype = out_dtypes[0]
    shape = broadcast_shapes([_shape(a) for a in args], where)
    label = where
    if op in IDENTITY:
        return [args[0]]
    if op == "Cast":
        x = args[0]
        if isinstance(x, Tensor) and out_dtype.startswith("float") and x.dtype.startswith("float"):
            if out_dtype == x.dtype:
                return [x]
            return [Tensor("cast", [x], {"dtype": out_dtype}, x.shape, out_dtype, label, name)]
        raise ImporterError("%s casts a run-time value from %s to %s; the engine computes in one "
                            "float dtype" % (label, getattr(x, "dtype", "?"), out_dtype))
    if op in UNARY:
        return [Tensor(UNARY[op], args, None, shape, out_dtype, label, name)]
    if op in NARY:
        return [Tensor(NARY[op], args, None, shape, out_dtype, label, name)]
    if op in BINARY:
        return [Tensor(BINARY[op], args, None, shape, out_dtype, label, name)]
    if op in INTERNAL or op in COMPARE:
        return [Tensor(INTERNAL.get(op, op.lower()), args, None, shape, out_dtype, label, name)]
    if op == "Clip":
        x, lo, hi = args
        if not (isinstance(x, Tensor) and isinstance(lo, Const) and isinstance(hi, Const)
                and lo.scalar() is not None and hi.scalar() is not None):
            raise ImporterError("%s: clip bounds must be constants" % label)
        return [Tensor("clip", [x], {"min": float(lo.scalar()), "max": float(hi.scalar())},
                       shape, out_dtype, label, name)]
    if op == "Second":
        # fill(a, b): b broadcast to a's shape. Only the case where that changes nothing.
        a, b = args
        if isinstance(b, Tensor) and tuple(b.shape) == tuple(shape):
            return [b]
    raise ImporterError(
        "unsupported op %s: the engine has no element-wise %s (supported element-wise ops: %s)"
        % (label, op_label(sop), ", ".join(sorted(set(UNARY) | set(NARY) | set(BINARY) |
                                                   {"Clip", "Cast", "Composite", "Switch (elu "
                                                    "and leaky-relu forms)"}))))


def _shape(v: Value) -> Sequence[Any]:
    return v.shape if isinstance(v, Tensor) else v.array.shape


def apply_composite(ctx: Any, sop: Record, args: List[Value], out_dtypes: Sequence[str],
                    where: str) -> List[Value]:
    """A fused Composite: translate its inner scalar graph onto the outer operands."""
    inner_inputs = sop.get("inputs")
    inner_outputs = sop.get("outputs")
    if not isinstance(inner_inputs, list) or not isinstance(inner_outputs, list):
        fg = sop.get("fgraph")
        if fg is not None:
            inner_inputs, inner_outputs = fg.get("inputs"), fg.get("outputs")
    if not isinstance(inner_inputs, list) or not isinstance(inner_outputs, list):
        raise ImporterError("%s: a Composite without its inner graph (inputs/outputs)" % where)
    if len(inner_inputs) != len(args):
        raise ImporterError("%s: Composite has %d inputs, the node gives %d"
                            % (where, len(inner_inputs), len(args)))
    values: Dict[int, Value] = {id(v): a for v, a in zip(inner_inputs, args)}
    order = ctx.toposort(inner_outputs, stop=set(id(v) for v in inner_inputs))
    for k, node in enumerate(order):
        ins = []
        for v in node.inputs:
            if id(v) not in values:
                values[id(v)] = ctx.leaf_value(v, "%s, inside its Composite" % where)
            ins.append(values[id(v)])
        outs = node.outputs
        dtypes = [ctx.dtype_of(o) for o in outs]
        results = apply_scalar(ctx, node.op, ins, dtypes,
                               "%s, inside its Composite: scalar node %d (%s)"
                               % (where, k, op_label(node.op)))
        for o, r in zip(outs, results):
            values[id(o)] = r
    result = []
    for o in inner_outputs:
        if id(o) not in values:
            values[id(o)] = ctx.leaf_value(o, "%s, inside its Composite" % where)
        result.append(values[id(o)])
    return result
