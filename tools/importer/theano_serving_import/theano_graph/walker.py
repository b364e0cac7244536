"""Walks a pickled Theano graph (inert records) from its output back to the model input and
turns each Apply node into IR values with ops.OPS, folding everything that does not depend on
the input (parameters, constants, shapes once --input-shape is known)."""

from typing import Any, Dict, List, Optional, Sequence, Set

import numpy as np

from theano_serving_import.errors import ImporterError
from theano_serving_import.safe_pickle import Record, to_array
from theano_serving_import.theano_graph import ops, scalar
from theano_serving_import.theano_graph.ir import BATCH, Const, Tensor, Value, fmt_shape


def op_label(op: Any) -> str:
    """An op as Theano prints it: Elemwise{add,no_inplace}, Pool, AbstractConv2d, ..."""
    if not isinstance(op, Record):
        return type(op).__name__
    if op.name == "Elemwise":
        name = op.get("name")
        if isinstance(name, str) and name:
            return name if name.startswith("Elemwise") else "Elemwise{%s}" % name
        sop = op.get("scalar_op")
        return "Elemwise{%s}" % (scalar.op_label(sop) if isinstance(sop, Record) else "?")
    if op.name in ("CAReduce", "CAReduceDtype") and isinstance(op.get("scalar_op"), Record):
        return "CAReduce{%s}" % scalar.op_label(op.get("scalar_op"))
    return op.name


def _kind(var: Any) -> str:
    if isinstance(var, Record):
        label = var.get("name")
        return "%s%s" % (var.name, " %r" % label if isinstance(label, str) else "")
    return type(var).__name__


class GraphContext:
    """The state of one walk: the model input variable, its static shape, the values found."""

    def __init__(self, input_var: Record, input_shape: Sequence[int], dtype: str) -> None:
        self.input_var = input_var
        self.dtype = dtype
        self.input = Tensor("input", [], None, (BATCH,) + tuple(int(d) for d in input_shape),
                            dtype, "the model input", "input")
        self.values: Dict[int, Value] = {id(input_var): self.input}
        self.keep: List[Any] = [input_var]   # keeps ids valid
        self.where_of: Dict[int, str] = {}
        self.notes: List[str] = []   # what the user should know (ops add them)

    # -- graph helpers ------------------------------------------------------------------------
    @staticmethod
    def owner(var: Any) -> Optional[Record]:
        if not isinstance(var, Record):
            return None
        node = var.get("owner")
        return node if isinstance(node, Record) else None

    def toposort(self, outputs: Sequence[Any], stop: Optional[Set[int]] = None) -> List[Record]:
        """Apply nodes that `outputs` depend on, inputs first (iterative: graphs can be deep)."""
        stop = stop or set()
        order: List[Record] = []
        seen: Set[int] = set()
        stack: List[Any] = []
        for out in reversed(list(outputs)):
            node = self.owner(out)
            if node is not None and id(out) not in stop:
                stack.append((node, False))
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))   # a DAG: a node met again while in progress would be a cycle
            stack.append((node, True))
            inputs = node.get("inputs")
            if not isinstance(inputs, list):
                raise ImporterError("a graph node (%s) has no inputs list" % op_label(node.get("op")))
            for v in reversed(inputs):
                if id(v) in stop or id(v) in self.values:
                    continue
                child = self.owner(v)
                if child is not None and id(child) not in seen:
                    stack.append((child, False))
        return order

    def dtype_of(self, var: Any) -> str:
        t = var.get("type") if isinstance(var, Record) else None
        dtype = t.get("dtype") if isinstance(t, Record) else None
        if not isinstance(dtype, str):
            raise ImporterError("variable %s has no dtype" % _kind(var))
        return dtype

    def var_name(self, var: Any) -> Optional[str]:
        name = var.get("name") if isinstance(var, Record) else None
        return name if isinstance(name, str) and name else None

    def leaf_value(self, var: Any, where: str) -> Value:
        """A variable without an owner: a constant, a shared variable (a parameter), or an input
        other than the model input (refused)."""
        if id(var) in self.values:
            return self.values[id(var)]
        if not isinstance(var, Record):
            raise ImporterError("%s: a graph input is %s, not a Theano variable"
                                % (where, type(var).__name__))
        if var.has("data") and var.name.endswith("Constant"):
            data = var.get("data")
            arr = to_array(data)
            if arr is None:
                arr = np.asarray(data)
            try:
                dtype = self.dtype_of(var)
                arr = np.asarray(arr, dtype=dtype)
            except (ImporterError, TypeError, ValueError):
                pass
            value: Value = Const(arr, self.var_name(var), False)
        elif var.has("container"):
            arr = to_array(var)
            if arr is None:
                raise ImporterError("shared variable %r holds no array" % self.var_name(var))
            value = Const(arr, self.var_name(var) or "param", True)
        else:
            raise ImporterError(
                "%s: the graph has another input, %s (%s), besides the model input %r; the "
                "engine serves graphs of one input" % (where, self.var_name(var) or "unnamed",
                                                        _kind(var), self.var_name(self.input_var)))
        self.values[id(var)] = value
        self.keep.append(var)
        return value

    # -- the walk -----------------------------------------------------------------------------
    def translate(self, output: Any) -> Value:
        order = self.toposort([output])
        total = len(order)
        for k, node in enumerate(order):
            op = node.get("op")
            where = "Apply node %d of %d (%s)" % (k, total, op_label(op))
            ins = [self.values[id(v)] if id(v) in self.values else self.leaf_value(v, where)
                   for v in node.inputs]
            cls = op.name if isinstance(op, Record) else type(op).__name__
            translator = ops.OPS.get(cls)
            if translator is None:
                raise ImporterError(
                    "unsupported op %s, on %s (module %s); supported ops: %s"
                    % (where, ", ".join(_describe(v) for v in ins) or "no inputs",
                       op.module if isinstance(op, Record) else "?",
                       ", ".join(sorted(ops.OPS))))
            outs = translator(self, node, ins, where)
            outputs = node.get("outputs") or []
            for var, value in zip(outputs, outs):
                self.values[id(var)] = value
                self.keep.append(var)
        if id(output) not in self.values:
            return self.leaf_value(output, "the output")
        return self.values[id(output)]


def _describe(v: Value) -> str:
    if isinstance(v, Tensor):
        return "a %s value" % fmt_shape(v.shape)
    return "a constant %s" % fmt_shape(v.array.shape)
