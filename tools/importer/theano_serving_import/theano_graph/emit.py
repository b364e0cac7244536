"""IR -> model.json layers: Theano idioms recognised where users wrote them, then one layer per
IR Tensor through the ModelBuilder.

Idioms (each replaced only when it matches exactly what Theano computes; otherwise the
arithmetic is emitted as written):
* `0.5 * (x + abs(x))` (nnet.relu, alpha 0) -> relu; `f1 * x + f2 * abs(x)` with
  f1 = 0.5 * (1 + a), f2 = 0.5 * (1 - a) in the model dtype (nnet.relu(x, a)) -> relu(alpha=a).
* `switch(x > 0, x, a * expm1(x))` (nnet.elu; also `exp(x) - 1`, which Theano's optimizer turns
  into expm1) -> elu(alpha=a); `switch(x > 0, x, a * x)` with 0 <= a <= 1 (a leaky rectifier)
  -> maximum(x, a * x), equal for every x.
* `sum(x, axes) / n_i / n_j ...` with n the sizes of the axes in order (T.mean) -> mean.
* `log(softmax(x))` -> log_softmax (Theano's optimizer does the same rewrite).
* `1 / (1 + exp(-x))` (or `inv(...)`) -> sigmoid(x), `1 / (1 + exp(y))` -> sigmoid(-y): Theano's
  FAST_RUN compiles the formula into ScalarSigmoid (local_inv_1_plus_exp), which is what the
  function computed.
* `x + b.dimshuffle('x', 0, 'x', 'x')` (one non-broadcast axis) -> bias_add(axis);
  `dot(x, W)` followed by its only consumer `+ b` -> dense [W, b].
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from theano_serving_import.errors import ImporterError
from theano_serving_import.model_builder import ModelBuilder
from theano_serving_import.theano_graph.ir import Const, Tensor, Value, fmt_shape

ARITH = {"add", "sub", "mul", "true_div", "maximum", "minimum", "pow"}
UNARY = {"neg", "sqr", "sqrt", "log", "inv", "abs", "exp", "tanh", "sigmoid",
         "ultra_fast_sigmoid", "softplus", "softsign", "softmax", "log_softmax"}


def _tensors(root: Tensor) -> List[Tensor]:
    """Every Tensor `root` depends on, inputs first."""
    order: List[Tensor] = []
    seen = set()
    stack: List[Tuple[Tensor, bool]] = [(root, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        for i in reversed(t.inputs):
            if isinstance(i, Tensor) and id(i) not in seen:
                stack.append((i, False))
    return order


def _scalar(v: Value) -> Optional[float]:
    if isinstance(v, Const) and not v.symbolic and v.array.size == 1:
        return float(v.array.reshape(-1)[0])
    return None


def _is(t: Value, op: str) -> bool:
    return isinstance(t, Tensor) and t.op == op


def _split_const(t: Tensor) -> Optional[Tuple[float, Tensor]]:
    """(c, x) for a binary mul of a scalar constant and a tensor."""
    if t.op != "mul" or len(t.inputs) != 2:
        return None
    a, b = t.inputs
    if _scalar(a) is not None and isinstance(b, Tensor):
        return _scalar(a), b  # type: ignore
    if _scalar(b) is not None and isinstance(a, Tensor):
        return _scalar(b), a  # type: ignore
    return None


def _relu_alpha(f1: float, f2: float, dtype: str) -> Optional[float]:
    """The alpha with T(0.5) * (T(1) + alpha) == f1 and T(0.5) * (T(1) - alpha) == f2 in T."""
    T = np.dtype(dtype).type

    def fits(a: Any) -> bool:
        return bool(T(0.5) * (T(1) + a) == T(f1) and T(0.5) * (T(1) - a) == T(f2))

    for cand in (T(2) * T(f1) - T(1), T(1) - T(2) * T(f2), T(f1) - T(f2)):
        if fits(cand):
            # The user's alpha was a short decimal (0.1, 0.01, ...): prefer it when it gives
            # the same f1 and f2.
            for digits in range(1, 10):
                short = T(round(float(cand), digits))
                if fits(short):
                    return float(short)
            return float(cand)
    return None


def _rewrite_one(t: Tensor, dtype: str) -> Tensor:
    ins = t.inputs
    # relu, alpha 0: 0.5 * (x + abs(x))
    sc = _split_const(t)
    if sc and sc[0] == 0.5 and sc[1].op == "add" and len(sc[1].inputs) == 2:
        a, b = sc[1].inputs
        for x, y in ((a, b), (b, a)):
            if isinstance(x, Tensor) and _is(y, "abs") and y.inputs[0] is x:
                return Tensor("relu", [x], None, t.shape, t.dtype, t.where, t.name)
    # relu(x, alpha): f1 * x + f2 * abs(x)
    if t.op == "add" and len(ins) == 2 and all(_is(i, "mul") for i in ins):
        m1, m2 = (_split_const(i) for i in ins)  # type: ignore
        if m1 and m2:
            for (f1, x), (f2, ax) in ((m1, m2), (m2, m1)):
                if ax.op == "abs" and ax.inputs[0] is x:
                    alpha = _relu_alpha(f1, f2, dtype)
                    if alpha is not None:
                        attrs = {"alpha": alpha} if alpha != 0 else None
                        return Tensor("relu", [x], attrs, t.shape, t.dtype, t.where, t.name)
    # switch(x > 0, x, ...): elu and leaky rectifier
    if t.op == "switch" and len(ins) == 3:
        cond, x, neg = ins
        if (_is(cond, "gt") and cond.inputs[0] is x and _scalar(cond.inputs[1]) == 0
                and isinstance(x, Tensor) and isinstance(neg, Tensor)):
            alpha, inner = 1.0, neg
            sc = _split_const(neg)
            if sc:
                alpha, inner = sc
            if _expm1_of(inner, x):
                return Tensor("elu", [x], {"alpha": alpha} if alpha != 1 else None, t.shape,
                              t.dtype, t.where, t.name)
            if sc and inner is x and 0 <= alpha <= 1:
                return Tensor("maximum", [x, neg], None, t.shape, t.dtype, t.where, t.name)
    # 1 / (1 + exp(y)) -> sigmoid(-y), and sigmoid(x) for y = -x: what Theano's FAST_RUN
    # compiles `1 / (1 + T.exp(-x))` into (local_div_to_inv, local_inv_1_plus_exp,
    # local_neg_neg), so the function computed ScalarSigmoid, not the formula.
    den = None
    if t.op == "true_div" and len(ins) == 2 and _scalar(ins[0]) == 1.0:
        den = ins[1]
    elif t.op == "inv" and len(ins) == 1:
        den = ins[0]
    if _is(den, "add") and len(den.inputs) == 2:
        for c, e in ((den.inputs[0], den.inputs[1]), (den.inputs[1], den.inputs[0])):
            if (_scalar(c) is not None and np.isclose(_scalar(c), 1.0) and _is(e, "exp")
                    and tuple(e.shape) == tuple(t.shape)):
                y = e.inputs[0]
                if _is(y, "neg"):
                    return Tensor("sigmoid", [y.inputs[0]], None, t.shape, t.dtype, t.where,
                                  t.name)
                if isinstance(y, Tensor):
                    minus = Tensor("neg", [y], None, y.shape, y.dtype, t.where)
                    return Tensor("sigmoid", [minus], None, t.shape, t.dtype, t.where, t.name)
    # log(softmax(x)) -> log_softmax
    if t.op == "log" and _is(ins[0], "softmax"):
        return Tensor("log_softmax", list(ins[0].inputs), None, t.shape, t.dtype, t.where,
                      t.name)
    # mean: sum(x, axes) / n_a / n_b ...
    if t.op == "true_div":
        chain: List[float] = []
        cur: Value = t
        while _is(cur, "true_div") and len(cur.inputs) == 2 and _scalar(cur.inputs[1]) is not None:
            chain.append(_scalar(cur.inputs[1]))  # type: ignore
            cur = cur.inputs[0]
        if _is(cur, "sum"):
            x = cur.inputs[0]
            axes = cur.attrs["axis"]
            sizes = [float(x.shape[a]) for a in axes]
            if list(reversed(chain)) == sizes:
                return Tensor("mean", [x], {"axis": axes}, t.shape, t.dtype, t.where,
                              t.name or cur.name)
    # x + b.dimshuffle('x', 0, 'x', 'x') -> bias_add
    if t.op == "add" and len(ins) == 2:
        for x, b in ((ins[0], ins[1]), (ins[1], ins[0])):
            if isinstance(x, Tensor) and isinstance(b, Const) and not b.symbolic:
                axis = _bias_axis(b.array.shape, x.shape)
                if axis is not None:
                    vec = Const(b.array.reshape(-1), b.name, b.shared, b.dtype)
                    return Tensor("bias_add", [x], {"axis": axis}, t.shape, t.dtype, t.where,
                                  t.name, params=[vec])
    return t


def _expm1_of(v: Tensor, x: Tensor) -> bool:
    if v.op == "expm1" and v.inputs[0] is x:
        return True
    if v.op == "sub" and len(v.inputs) == 2 and _scalar(v.inputs[1]) == 1.0:
        e = v.inputs[0]
        return _is(e, "exp") and e.inputs[0] is x
    return False


def _bias_axis(pshape: Sequence[int], xshape: Sequence[Any]) -> Optional[int]:
    if len(pshape) != len(xshape) or len(pshape) < 2 or pshape[0] != 1:
        return None
    axes = [k for k, d in enumerate(pshape) if d != 1]
    if len(axes) != 1 or axes[0] == 0 or pshape[axes[0]] != xshape[axes[0]]:
        return None
    return axes[0]


def rewrite(root: Tensor, dtype: str) -> Tensor:
    """Applies the idioms bottom-up (inputs first), then merges dense + bias_add."""
    new: Dict[int, Tensor] = {}
    for t in _tensors(root):
        t.inputs = [new.get(id(i), i) if isinstance(i, Tensor) else i for i in t.inputs]
        new[id(t)] = _rewrite_one(t, dtype)
    root = new.get(id(root), root)
    # dense + bias: only when the dense feeds nothing else.
    users: Dict[int, int] = {}
    order = _tensors(root)
    for t in order:
        for i in t.inputs:
            if isinstance(i, Tensor):
                users[id(i)] = users.get(id(i), 0) + 1
    for t in order:
        if (t.op == "bias_add" and t.attrs.get("axis") == 1 and _is(t.inputs[0], "dense")
                and len(t.inputs[0].params) == 1 and users.get(id(t.inputs[0])) == 1
                and t.inputs[0].ndim == 2):
            d = t.inputs[0]
            t.op, t.inputs, t.attrs = "dense", list(d.inputs), {}
            t.params = [d.params[0], t.params[0]]
            t.where = d.where
    return root


class Emitter:
    def __init__(self, builder: ModelBuilder, dtype: str) -> None:
        self.b = builder
        self.dtype = dtype
        self.param_names: Dict[int, str] = {}

    def param(self, c: Const, hint: str) -> str:
        key = id(c.array)
        if key not in self.param_names:
            self.param_names[key] = self.b.add_param(c.name or hint, c.array)
        return self.param_names[key]

    def emit(self, root: Tensor, input_tensor: Tensor) -> str:
        order = _tensors(root)
        for t in order:
            if t is input_tensor:
                t.layer = self.b.input_name
                continue
            if t.op == "input":
                raise ImporterError("the graph reads an input other than the model input")
            self.emit_one(t)
        return root.layer  # type: ignore

    def _inputs(self, tensors: Sequence[Tensor]) -> Optional[List[str]]:
        names = [t.layer for t in tensors]
        if len(names) == 1 and names[0] == self.b.last:
            return None
        return names  # type: ignore

    def emit_one(self, t: Tensor) -> None:
        if t.dtype != self.dtype and t.op not in ("argmax",):
            self.b.note("Theano computes %s in %s; the engine computes the whole model in %s"
                        % (t.where, t.dtype, self.dtype))
        op, attrs = t.op, dict(t.attrs)
        params: List[str] = []
        if op == "cast":
            t.layer = t.inputs[0].layer  # float -> float: the engine's one dtype
            return
        if op in ARITH:
            runtime: List[Tensor] = []
            operands: List[Any] = []
            for v in t.inputs:
                if isinstance(v, Tensor):
                    operands.append("input:%d" % len(runtime))
                    runtime.append(v)
                else:
                    if v.symbolic:
                        raise ImporterError("%s: an operand depends on the batch size" % t.where)
                    s = _scalar(v)
                    if s is not None:
                        operands.append(s)
                    else:
                        if v.array.ndim == len(t.shape) and v.array.shape[0] != 1:
                            raise ImporterError("%s: a constant operand of shape %s spans the "
                                                "batch axis" % (t.where, fmt_shape(v.array.shape)))
                        operands.append("param:%d" % len(params))
                        params.append(self.param(v, op))
            if not runtime:
                raise ImporterError("%s: no operand depends on the model input" % t.where)
            if not (op == "add" and not params and len(runtime) == len(operands)
                    and all(tuple(r.shape) == tuple(t.shape) for r in runtime)):
                attrs["operands"] = operands
            t.layer = self.b.add_layer(op, attrs, params, [r.layer for r in runtime], t.name)
            return
        if op in {"gt", "ge", "lt", "le", "switch", "expm1", "log1p", "argmax", "alloc", "eq",
                  "neq"}:
            raise ImporterError(
                "unsupported op %s: it computes %s, which the engine has no op for (element-wise "
                "switch/comparisons are supported only in the elu and leaky-rectifier forms; "
                "argmax and filled tensors not at all)" % (t.where, op))
        for c in t.params:
            params.append(self.param(c, op))
        inputs = self._inputs(t.runtime_inputs())
        t.layer = self.b.add_layer(op, attrs, params, inputs, t.name)
