"""One translator per Theano op class: Apply node (as inert records) -> IR values.

Each translator takes (ctx, node, ins, where) — `ins` are the IR values of the node's inputs,
`where` names the node ("Apply node 7 (Elemwise{add,no_inplace})") — and returns one IR value
per output. Defaults of attributes that older Theano versions lack are spelled out here.
OPS at the bottom is the one table of supported op classes.
"""

from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

from theano_serving_import.errors import ImporterError
from theano_serving_import.safe_pickle import Record
from theano_serving_import.theano_graph import scalar
from theano_serving_import.theano_graph.ir import (BATCH, Const, Tensor, Unknown, Value,
                                                    concrete_ints, fmt_shape, is_symbolic)

Translator = Callable[[Any, Record, List[Value], str], List[Value]]


# -- helpers ----------------------------------------------------------------------------------

def _tensor(v: Value, where: str, what: str = "its input") -> Tensor:
    if not isinstance(v, Tensor):
        raise ImporterError("%s: %s is a constant; the importer expects the model input's "
                            "value there" % (where, what))
    return v


def _const(v: Value, where: str, what: str) -> Const:
    if not isinstance(v, Const):
        raise ImporterError("%s: %s depends on the model input; the engine needs it constant "
                            "(a parameter or a number)" % (where, what))
    return v


def _ints(v: Value, where: str, what: str) -> List[int]:
    c = _const(v, where, what)
    return concrete_ints(list(np.asarray(c.array).reshape(-1)), "%s: %s" % (where, what))


def _pair(value: Any, default: Tuple[int, int]) -> Tuple[int, int]:
    if value is None:
        return default
    if isinstance(value, (int, np.integer)):
        return (int(value), int(value))
    return tuple(int(v) for v in value)  # type: ignore


def _out_dtype(ctx: Any, node: Record, i: int = 0) -> str:
    return ctx.dtype_of(node.outputs[i])


def _attr(op: Record, key: str, default: Any) -> Any:
    attrs = op.attrs()
    return attrs[key] if key in attrs else default


def _check_batch_kept(shape: Sequence[Any], where: str) -> None:
    if not shape or shape[0] is not BATCH:
        raise ImporterError("%s: its output %s no longer has the batch axis first; the engine "
                            "keeps axis 0 as the batch" % (where, fmt_shape(shape)))


# -- element-wise -----------------------------------------------------------------------------

def elemwise(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    sop = node.op.get("scalar_op")
    if not isinstance(sop, Record):
        raise ImporterError("%s: Elemwise without a scalar_op" % where)
    dtypes = [ctx.dtype_of(o) for o in node.outputs]
    name = ctx.var_name(node.outputs[0])
    return scalar.apply_scalar(ctx, sop, ins, dtypes, where, name)


def dimshuffle(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    op = node.op
    new_order = list(_attr(op, "new_order", ()))
    x = ins[0]
    in_shape = x.shape if isinstance(x, Tensor) else x.array.shape
    kept = [d for d in new_order if d != "x"]
    for axis in range(len(in_shape)):
        if axis not in kept and not (in_shape[axis] == 1 and in_shape[axis] is not BATCH):
            raise ImporterError("%s drops axis %d of size %s (only size-1 axes can be dropped)"
                                % (where, axis, in_shape[axis]))
    out_shape = tuple(1 if d == "x" else in_shape[d] for d in new_order)
    if isinstance(x, Const):
        a = np.transpose(x.array, kept) if kept else x.array.reshape(())
        return [Const(a.reshape(out_shape), x.name, x.shared, x.dtype)]
    if new_order == list(range(len(in_shape))):
        return [x]
    _check_batch_kept(out_shape, where)
    return [Tensor("dimshuffle", [x], {"pattern": new_order}, out_shape, x.dtype, where,
                   ctx.var_name(node.outputs[0]))]


def _reshape_to(ctx: Any, node: Record, x: Value, target: List[Any], where: str) -> Value:
    if isinstance(x, Const):
        shape = concrete_ints(target, "%s: the target shape" % where)
        return Const(x.array.reshape(shape), x.name, x.shared, x.dtype)
    in_shape = x.shape
    item = int(np.prod([int(d) for d in in_shape[1:]]))
    entries: List[Any] = []
    for k, d in enumerate(target):
        if d is BATCH:
            if k != 0:
                raise ImporterError("%s moves the batch size to axis %d of the target shape %s"
                                    % (where, k, fmt_shape(target)))
            entries.append([0])
        elif isinstance(d, Unknown):
            raise ImporterError("%s: the target shape %s depends on the batch size (computed at "
                                "%s)" % (where, fmt_shape(target), d.origin))
        else:
            entries.append(int(d))
    if entries and entries[0] != [0]:
        # (-1, 800)-style targets: fine when the rest is exactly one item.
        rest = entries[1:]
        known = int(np.prod([d for d in rest if d != -1])) if rest else 1
        fits = known == item if -1 not in rest else (known > 0 and item % known == 0)
        if entries[0] == -1 and -1 not in rest and fits:
            entries[0] = [0]
        elif isinstance(entries[0], int) and entries[0] > 0 and fits:
            # x.reshape((batch_size, 1, 28, 28)) with a Python int: the deeplearning.net
            # LeNet tutorial's layer0_input. Theano runs that graph on batches of exactly that
            # size only; each item of such a batch is reshaped to the rest of the shape, which
            # is what the model does for every item of any batch.
            out_item = [item // known if d == -1 else d for d in rest]
            ctx.notes.append(
                "%s reshapes to the constant shape %s: the graph was built for batches of "
                "exactly %d (Theano refuses other batch sizes there). The model serves any "
                "batch size and reshapes each item to %s, which is what Theano computes for "
                "each item of a batch of %d"
                % (where, fmt_shape(target), entries[0], fmt_shape(out_item), entries[0]))
            entries[0] = [0]
        else:
            raise ImporterError("%s reshapes to %s, which does not keep the batch axis first "
                                "(the item has %d values)" % (where, fmt_shape(target), item))
    rest = entries[1:]
    if rest.count(-1) > 1:
        raise ImporterError("%s: target shape %s has more than one -1" % (where, fmt_shape(target)))
    if -1 in rest:
        known = int(np.prod([d for d in rest if d != -1])) if len(rest) > 1 else 1
        if known == 0 or item % known:
            raise ImporterError("%s: cannot reshape an item of %d values to %s"
                                % (where, item, fmt_shape(target)))
        out_rest = [item // known if d == -1 else d for d in rest]
    else:
        out_rest = list(rest)
        if int(np.prod(out_rest)) != item:
            raise ImporterError("%s: cannot reshape %s to %s (%d values per item)"
                                % (where, fmt_shape(in_shape), fmt_shape(target), item))
    out_shape = (BATCH,) + tuple(out_rest)
    if out_shape == tuple(in_shape):
        return x
    name = ctx.var_name(node.outputs[0])
    if len(out_rest) == 1:
        return Tensor("flatten", [x], {"ndim": 2}, out_shape, x.dtype, where, name)
    return Tensor("reshape", [x], {"shape": [[0]] + list(rest)}, out_shape, x.dtype, where, name)


def reshape(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    target_c = _const(ins[1], where, "the target shape")
    target = list(np.asarray(target_c.array).reshape(-1))
    return [_reshape_to(ctx, node, ins[0], target, where)]


def flatten(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    outdim = int(_attr(node.op, "outdim", _attr(node.op, "ndim", 1)))
    x = ins[0]
    shape = x.shape if isinstance(x, Tensor) else x.array.shape
    if outdim < 1 or outdim > len(shape):
        raise ImporterError("%s: flatten to %d axes of a %d-D value" % (where, outdim, len(shape)))
    target = list(shape[:outdim - 1]) + [-1]
    return [_reshape_to(ctx, node, x, target, where)]


def _index_entries(op: Record, extra: List[Value], where: str) -> List[Any]:
    """Subtensor's idx_list with the placeholders (scalar types) replaced by the values of the
    node's extra inputs, in order."""
    idx_list = list(_attr(op, "idx_list", ()))
    pos = [0]

    def take(entry: Any) -> Any:
        if entry is None or isinstance(entry, (int, np.integer)):
            return entry if entry is None else int(entry)
        if isinstance(entry, Record):   # a scalar type placeholder
            if pos[0] >= len(extra):
                raise ImporterError("%s: its index list needs more inputs than it has" % where)
            v = extra[pos[0]]
            pos[0] += 1
            c = _const(v, where, "an index")
            value = np.asarray(c.array).reshape(-1)[0]
            if is_symbolic(value):
                return value
            return int(value)
        raise ImporterError("%s: index entry %r is not read" % (where, entry))

    out: List[Any] = []
    for entry in idx_list:
        if isinstance(entry, slice):
            out.append(slice(take(entry.start), take(entry.stop), take(entry.step)))
        else:
            out.append(take(entry))
    return out


def _trivial(s: slice, size: Any) -> bool:
    return (s.start in (None, 0) and s.step in (None, 1)
            and (s.stop is None or (isinstance(size, int) and isinstance(s.stop, int)
                                    and s.stop >= size)))


def subtensor(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    x = ins[0]
    entries = _index_entries(node.op, ins[1:], where)
    if isinstance(x, Const):
        for e in entries:
            for part in ([e.start, e.stop, e.step] if isinstance(e, slice) else [e]):
                if is_symbolic(part):
                    return [Const(np.asarray(Unknown(where), dtype=object), x.name, x.shared,
                                  x.dtype)]
        return [Const(np.asarray(x.array[tuple(entries)]), x.name, x.shared, x.dtype)]
    shape = list(x.shape)
    if entries and not (isinstance(entries[0], slice) and _trivial(entries[0], BATCH)):
        raise ImporterError("%s indexes the batch axis (%s)" % (where, entries[0]))
    out: Value = x
    cur_shape = list(shape)
    name = ctx.var_name(node.outputs[0])
    # From the last axis to the first: an integer index drops its axis without renumbering the
    # axes before it.
    for axis in range(len(entries) - 1, 0, -1):
        e = entries[axis]
        size = cur_shape[axis]
        for part in ([e.start, e.stop, e.step] if isinstance(e, slice) else [e]):
            if is_symbolic(part):
                raise ImporterError("%s: the index on axis %d depends on the batch size"
                                    % (where, axis))
        if isinstance(e, slice):
            if _trivial(e, size):
                continue
            if e.step == 0:
                raise ImporterError("%s: slice step 0 on axis %d" % (where, axis))
            n = len(range(*e.indices(size)))
            if n == 0:
                raise ImporterError("%s: the slice %s of axis %d (size %d) is empty"
                                    % (where, e, axis, size))
            attrs = {"axis": axis, "start": e.start, "stop": e.stop, "step": e.step}
            cur_shape[axis] = n
        else:
            if not -size <= e < size:
                raise ImporterError("%s: index %d is out of range for axis %d of size %d"
                                    % (where, e, axis, size))
            attrs = {"axis": axis, "index": e}
            del cur_shape[axis]
        out = Tensor("subtensor", [out], attrs, cur_shape, x.dtype, where, name)
    return [out]


def join(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    axis = _ints(ins[0], where, "the axis")[0]
    parts = ins[1:]
    if all(isinstance(p, Const) for p in parts):
        return [Const(np.concatenate([p.array for p in parts], axis=axis),
                      parts[0].name, any(p.shared for p in parts), _out_dtype(ctx, node))]
    tensors = [_tensor(p, where, "every joined value") for p in parts]
    ndim = tensors[0].ndim
    if axis < 0:
        axis += ndim
    if axis == 0:
        raise ImporterError("%s joins along the batch axis" % where)
    shape = list(tensors[0].shape)
    for t in tensors[1:]:
        if t.ndim != ndim or any(a != b for k, (a, b) in enumerate(zip(t.shape, shape))
                                 if k != axis):
            raise ImporterError("%s: joined shapes %s do not fit along axis %d"
                                % (where, ", ".join(fmt_shape(t.shape) for t in tensors), axis))
    shape[axis] = sum(t.shape[axis] for t in tensors)
    if len(tensors) == 1:
        return [tensors[0]]
    return [Tensor("concatenate", tensors, {"axis": axis}, shape, tensors[0].dtype, where,
                   ctx.var_name(node.outputs[0]))]


# -- linear algebra, softmax ------------------------------------------------------------------

def dot(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    x, w = ins[0], ins[1]
    if isinstance(x, Const) and isinstance(w, Const):
        return [Const(np.dot(x.array, w.array).astype(_out_dtype(ctx, node)), w.name,
                      x.shared or w.shared)]
    x = _tensor(x, where, "its first operand")
    w = _const(w, where, "its second operand (the weights)")
    if x.ndim != 2 or w.array.ndim != 2:
        raise ImporterError("%s: dot of a %s value with %s weights; the engine's dense takes a "
                            "(batch, n_in) value and (n_in, n_out) weights"
                            % (where, fmt_shape(x.shape), fmt_shape(w.array.shape)))
    if x.shape[1] != w.array.shape[0]:
        raise ImporterError("%s: dot of %s with weights %s: %s != %d"
                            % (where, fmt_shape(x.shape), fmt_shape(w.array.shape), x.shape[1],
                               w.array.shape[0]))
    out: Value = Tensor("dense", [x], None, (BATCH, w.array.shape[1]), x.dtype, where,
                        ctx.var_name(node.outputs[0]), params=[w])
    if len(ins) == 3:   # Dot22Scalar(x, w, a) = a * dot(x, w)
        out = Tensor("mul", [out, _const(ins[2], where, "the scale")], None, out.shape, x.dtype,
                     where)
    return [out]


def softmax(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    x = _tensor(ins[0], where)
    op = {"Softmax": "softmax", "LogSoftmax": "log_softmax"}[node.op.name]
    if x.ndim != 2:
        raise ImporterError("%s: %s of a %d-D value (Theano's takes a matrix)"
                            % (where, op, x.ndim))
    return [Tensor(op, [x], None, x.shape, x.dtype, where, ctx.var_name(node.outputs[0]))]


def softmax_with_bias(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    x = _tensor(ins[0], where)
    b = _const(ins[1], where, "the bias")
    if x.ndim != 2 or b.array.shape != (x.shape[1],):
        raise ImporterError("%s: bias %s does not fit %s" % (where, fmt_shape(b.array.shape),
                                                               fmt_shape(x.shape)))
    b2 = Const(b.array.reshape(1, -1), b.name, b.shared, b.dtype)
    s = Tensor("add", [x, b2], None, x.shape, x.dtype, where)
    return [Tensor("softmax", [s], None, x.shape, x.dtype, where, ctx.var_name(node.outputs[0]))]


# -- convolution and pooling ------------------------------------------------------------------

def _conv_out(size: int, k: int, pad: Any, stride: int, dilation: int) -> int:
    dk = (k - 1) * dilation + 1
    if pad == "half":
        before = after = dk // 2
    elif pad == "full":
        before = after = dk - 1
    elif pad == "valid":
        before = after = 0
    elif isinstance(pad, (tuple, list)):
        before, after = int(pad[0]), int(pad[1])
    else:
        before = after = int(pad)
    return (size + before + after - dk) // stride + 1


def _border_mode(bm: Any, where: str) -> Tuple[Any, Any]:
    """Per-axis padding spec and the JSON value of AbstractConv2d's border_mode."""
    if isinstance(bm, str):
        if bm not in ("valid", "full", "half"):
            raise ImporterError("%s: border_mode %r is not Theano's valid/full/half" % (where, bm))
        return (bm, bm), bm
    if isinstance(bm, (int, np.integer)):
        return (int(bm), int(bm)), [int(bm), int(bm)]
    bm = tuple(bm)
    if len(bm) != 2:
        raise ImporterError("%s: border_mode %r" % (where, bm))
    per_axis = tuple(tuple(int(v) for v in b) if isinstance(b, (tuple, list)) else int(b)
                     for b in bm)
    return per_axis, [list(b) if isinstance(b, tuple) else b for b in per_axis]


def _conv(ctx: Any, node: Record, x: Tensor, w: Const, attrs: Dict[str, Any], per_axis: Any,
          where: str, op: str = "conv2d") -> Tensor:
    if x.ndim != 4 or w.array.ndim != 4:
        raise ImporterError("%s: convolution of a %s value with %s filters (4-D both expected)"
                            % (where, fmt_shape(x.shape), fmt_shape(w.array.shape)))
    groups = int(attrs.get("num_groups", 1) or 1)
    if x.shape[1] != w.array.shape[1] * groups:
        raise ImporterError("%s: the input has %s channels, the filters %s expect %d x %d groups"
                            % (where, x.shape[1], fmt_shape(w.array.shape), w.array.shape[1],
                               groups))
    sub = attrs.get("subsample", (1, 1))
    dil = attrs.get("filter_dilation", (1, 1))
    out_hw = []
    for axis in range(2):
        n = _conv_out(int(x.shape[2 + axis]), int(w.array.shape[2 + axis]), per_axis[axis],
                      int(sub[axis]), int(dil[axis]))
        if n <= 0:
            raise ImporterError("%s: an input of %s and filters %s give no output on axis %d"
                                % (where, fmt_shape(x.shape), fmt_shape(w.array.shape), 2 + axis))
        out_hw.append(n)
    shape = (BATCH, int(w.array.shape[0])) + tuple(out_hw)
    return Tensor(op, [x], attrs, shape, x.dtype, where, ctx.var_name(node.outputs[0]),
                  params=[w])


def abstract_conv2d(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    op = node.op
    x = _tensor(ins[0], where, "the image")
    w = _const(ins[1], where, "the filters")
    if _attr(op, "unshared", False):
        raise ImporterError("%s: unshared convolution (a filter per output position) is not "
                            "supported" % where)
    per_axis, bm_json = _border_mode(_attr(op, "border_mode", "valid"), where)
    attrs = {"border_mode": bm_json,
             "subsample": list(_pair(_attr(op, "subsample", (1, 1)), (1, 1))),
             "filter_flip": bool(_attr(op, "filter_flip", True)),
             "filter_dilation": list(_pair(_attr(op, "filter_dilation", (1, 1)), (1, 1))),
             "num_groups": int(_attr(op, "num_groups", 1) or 1)}
    return [_conv(ctx, node, x, w, attrs, per_axis, where)]


def corr_mm(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    """CorrMM (the optimized graph's CPU convolution): a cross-correlation; its filters were
    already flipped by the graph when the user's conv2d had filter_flip=True."""
    op = node.op
    x = _tensor(ins[0], where, "the image")
    w = _const(ins[1], where, "the filters")
    if _attr(op, "unshared", False):
        raise ImporterError("%s: unshared convolution is not supported" % where)
    per_axis, bm_json = _border_mode(_attr(op, "border_mode", "valid"), where)
    attrs = {"border_mode": bm_json,
             "subsample": list(_pair(_attr(op, "subsample", (1, 1)), (1, 1))),
             "filter_flip": False,
             "filter_dilation": list(_pair(_attr(op, "filter_dilation", (1, 1)), (1, 1))),
             "num_groups": int(_attr(op, "num_groups", 1) or 1)}
    return [_conv(ctx, node, x, w, attrs, per_axis, where)]


def conv_op(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    """The old ConvOp (theano.tensor.nnet.conv.conv2d, also behind signal.conv.conv2d): always a
    true convolution, out_mode valid/full, subsample (dx, dy)."""
    op = node.op
    x = _tensor(ins[0], where, "the image")
    w = _const(ins[1], where, "the filters")
    mode = _attr(op, "out_mode", "valid")
    if mode not in ("valid", "full"):
        raise ImporterError("%s: ConvOp out_mode %r" % (where, mode))
    dx, dy = int(_attr(op, "dx", 1)), int(_attr(op, "dy", 1))
    if x.ndim != 4 or w.array.ndim != 4 or x.shape[1] != w.array.shape[1]:
        raise ImporterError("%s: ConvOp of %s with filters %s" % (where, fmt_shape(x.shape),
                                                                fmt_shape(w.array.shape)))
    out_hw = []
    for i, d in ((2, dx), (3, dy)):
        size, k = int(x.shape[i]), int(w.array.shape[i])
        n = (size - k) // d + 1 if mode == "valid" else (size + k + d - 2) // d
        if n <= 0:
            raise ImporterError("%s: output dimensions are not valid for %s and filters %s"
                                % (where, fmt_shape(x.shape), fmt_shape(w.array.shape)))
        out_hw.append(n)
    shape = (BATCH, int(w.array.shape[0])) + tuple(out_hw)
    return [Tensor("conv2d_legacy", [x], {"border_mode": mode, "subsample": [dx, dy]}, shape,
                   x.dtype, where, ctx.var_name(node.outputs[0]), params=[w])]


def _pool_out(n: int, ws: int, st: int, pad: int, ignore_border: bool) -> int:
    if ignore_border:
        return max(0, (n + 2 * pad - ws) // st + 1)
    if st >= ws:
        return (n - 1) // st + 1
    return max(0, (n - 1 - ws + st) // st) + 1


def pool(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    """Pool (Theano 0.9+: ws/stride/pad are constant inputs; 0.8: ds/st/padding attributes) and
    Theano 0.7's signal.downsample.DownsampleFactorMax (attributes)."""
    op = node.op
    x = _tensor(ins[0], where)
    if op.has("ds"):   # Theano <= 0.8
        ws = list(_pair(op.get("ds"), (1, 1)))
        stride = list(_pair(op.get("st"), tuple(ws)))
        pad = list(_pair(_attr(op, "padding", (0, 0)), (0, 0)))
    else:
        if int(_attr(op, "ndim", 2)) != 2:
            raise ImporterError("%s: %d-D pooling is not supported (pool_2d only)"
                                % (where, _attr(op, "ndim", 2)))
        ws = _ints(ins[1], where, "ws") if len(ins) > 1 else None
        if not ws:
            raise ImporterError("%s: Pool without its ws input" % where)
        stride = _ints(ins[2], where, "stride") if len(ins) > 2 and not (
            isinstance(ins[2], Const) and ins[2].array.size == 0) else list(ws)
        pad = _ints(ins[3], where, "pad") if len(ins) > 3 and not (
            isinstance(ins[3], Const) and ins[3].array.size == 0) else [0, 0]
    ignore_border = bool(_attr(op, "ignore_border", False))
    mode = _attr(op, "mode", "max")
    if x.ndim < 2:
        raise ImporterError("%s: pooling a %d-D value" % (where, x.ndim))
    shape = list(x.shape)
    for k in range(2):
        axis = x.ndim - 2 + k
        shape[axis] = _pool_out(int(shape[axis]), ws[k], stride[k], pad[k], ignore_border)
        if shape[axis] <= 0:
            raise ImporterError("%s: pooling %s with ws %s gives an empty axis"
                                % (where, fmt_shape(x.shape), ws))
    attrs = {"ws": ws, "stride": stride, "pad": pad, "ignore_border": ignore_border,
             "mode": mode}
    return [Tensor("pool_2d", [x], attrs, shape, x.dtype, where, ctx.var_name(node.outputs[0]))]


# -- normalization, reductions ----------------------------------------------------------------

def batch_norm_inference(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    """AbstractBatchNormInference(x, scale, bias, mean, var, epsilon), attribute axes:
    out = (x - mean) * (scale / sqrt(var + epsilon)) + bias."""
    x = _tensor(ins[0], where)
    names = ("scale (gamma)", "bias (beta)", "estimated mean", "estimated variance")
    params = [_const(v, where, what) for v, what in zip(ins[1:5], names)]
    eps = _const(ins[5], where, "epsilon").scalar()
    axes = [int(a) for a in _attr(node.op, "axes", (0,))]
    if 0 not in axes:
        raise ImporterError("%s: batch normalization axes %s do not include the batch axis"
                            % (where, axes))
    shape = np.broadcast(*[p.array for p in params]).shape
    params = [Const(np.broadcast_to(p.array, shape), p.name, p.shared, p.dtype) for p in params]
    return [Tensor("batch_normalization_test", [x], {"axes": axes, "epsilon": float(eps)},
                   x.shape, x.dtype, where, ctx.var_name(node.outputs[0]), params=params)]


def _reduce_axes(axis: Any, ndim: int, where: str) -> List[int]:
    if axis is None:
        raise ImporterError("%s reduces over every axis, the batch axis included" % where)
    if isinstance(axis, (int, np.integer)):
        axis = [axis]
    axes = sorted(int(a) + ndim if int(a) < 0 else int(a) for a in axis)
    if 0 in axes:
        raise ImporterError("%s reduces over the batch axis" % where)
    return axes


_REDUCE_SCALAR = {"Add": "sum", "Maximum": "max", "ScalarMaximum": "max", "Minimum": "min",
                  "ScalarMinimum": "min"}


def reduce_op(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    op = node.op
    cls = op.name
    if cls in ("Sum",):
        kind = "sum"
    elif cls in ("Max",):
        kind = "max"
    elif cls in ("Min",):
        kind = "min"
    else:
        sop = op.get("scalar_op")
        kind = _REDUCE_SCALAR.get(sop.name) if isinstance(sop, Record) else None
        if kind is None:
            raise ImporterError("unsupported op %s: a reduction by %s (supported: sum, max, min)"
                                % (where, scalar.op_label(sop) if isinstance(sop, Record)
                                   else "?"))
    x = ins[0]
    if isinstance(x, Const):
        axis = op.get("axis")
        f = {"sum": np.sum, "max": np.max, "min": np.min}[kind]
        return [Const(np.asarray(f(x.array, axis=None if axis is None else tuple(axis)))
                      .astype(_out_dtype(ctx, node)), x.name, x.shared)]
    axes = _reduce_axes(op.get("axis"), x.ndim, where)
    shape = tuple(d for k, d in enumerate(x.shape) if k not in axes)
    return [Tensor(kind, [x], {"axis": axes}, shape, _out_dtype(ctx, node), where,
                   ctx.var_name(node.outputs[0]))]


def max_and_argmax(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    x = _tensor(ins[0], where)
    axis = node.op.get("axis") if node.op.has("axis") else (
        _ints(ins[1], where, "the axis") if len(ins) > 1 else None)
    axes = _reduce_axes(axis, x.ndim, where)
    shape = tuple(d for k, d in enumerate(x.shape) if k not in axes)
    mx = Tensor("max", [x], {"axis": axes}, shape, x.dtype, where,
                ctx.var_name(node.outputs[0]))
    argmax = Tensor("argmax", [x], {"axis": axes}, shape, "int64", where)
    return [mx, argmax]


def argmax_op(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    """Argmax (Theano >= 0.9: what the optimizer leaves of MaxAndArgmax when the max is unused)."""
    return [max_and_argmax(ctx, node, ins, where)[1]]


# -- shapes and constants ---------------------------------------------------------------------

def shape_op(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    x = ins[0]
    shape = x.shape if isinstance(x, Tensor) else x.array.shape
    return [Const(np.array(list(shape), dtype=object if BATCH in shape else np.int64),
                  dtype="int64")]


def shape_i(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    x = ins[0]
    shape = x.shape if isinstance(x, Tensor) else x.array.shape
    i = int(node.op.get("i"))
    v = shape[i]
    return [Const(np.array(v, dtype=object if v is BATCH else np.int64), dtype="int64")]


def make_vector(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    vals = [np.asarray(_const(v, where, "an entry").array).reshape(-1)[0] for v in ins]
    dtype = _attr(node.op, "dtype", "int64")
    if any(is_symbolic(v) for v in vals):
        return [Const(np.array(vals, dtype=object), dtype=dtype)]
    return [Const(np.array(vals).astype(dtype))]


def same_value(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    """Ops that pass their first input through at inference (copies, guards, asserts,
    gradient-only ops, scalar<->tensor conversions)."""
    return [ins[0]]


def alloc(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    value = _const(ins[0], where, "the fill value")
    dims = [np.asarray(_const(v, where, "a size").array).reshape(-1)[0] for v in ins[1:]]
    if not any(is_symbolic(d) for d in dims):
        sizes = [int(d) for d in dims]
        if int(np.prod(sizes)) > (1 << 26):
            raise ImporterError("%s allocates %s values at import time" % (where, sizes))
        return [Const(np.broadcast_to(value.array, sizes).astype(_out_dtype(ctx, node)),
                      value.name, value.shared)]
    if dims[0] is not BATCH or any(is_symbolic(d) for d in dims[1:]) or value.scalar() is None:
        raise ImporterError("%s: a filled tensor whose shape %s depends on the batch size"
                            % (where, fmt_shape(dims)))
    # A run-time-sized constant (e.g. T.zeros((x.shape[0], ...))); only usable as the target
    # of set_subtensor (zero padding).
    return [Tensor("alloc", [], {"value": float(value.scalar())}, [BATCH] + [int(d) for d in
                                                                              dims[1:]],
                   _out_dtype(ctx, node), where)]


def inc_subtensor(ctx: Any, node: Record, ins: List[Value], where: str) -> List[Value]:
    """set_subtensor / inc_subtensor into a filled tensor = padding (Lasagne's LRN and
    PadLayer write them this way): T.set_subtensor(T.zeros(big)[:, a:a+C, ...], x)."""
    x, y = ins[0], ins[1]
    entries = _index_entries(node.op, ins[2:], where)
    if isinstance(x, Const) and isinstance(y, Const):
        a = np.array(x.array)
        if _attr(node.op, "set_instead_of_inc", False):
            a[tuple(entries)] = y.array
        else:
            a[tuple(entries)] += y.array
        return [Const(a, x.name, x.shared)]
    if not (isinstance(x, Tensor) and x.op == "alloc" and isinstance(y, Tensor)):
        raise ImporterError("unsupported op %s: only set_subtensor/inc_subtensor of the model's "
                            "value into a filled tensor (padding) is supported" % where)
    if y.ndim != x.ndim or len(entries) > x.ndim:
        raise ImporterError("%s: writes a %d-D value into a %d-D one" % (where, y.ndim, x.ndim))
    width = []
    for axis in range(1, x.ndim):
        e = entries[axis] if axis < len(entries) else slice(None)
        size, inner = int(x.shape[axis]), int(y.shape[axis])
        if not isinstance(e, slice) or e.step not in (None, 1) or any(
                is_symbolic(p) for p in (e.start, e.stop)):
            raise ImporterError("%s: index %s on axis %d is not a plain slice" % (where, e, axis))
        start, stop, _ = e.indices(size)
        if stop - start != inner:
            raise ImporterError("%s: slice %s of axis %d (size %d) does not hold the %d values "
                                "written" % (where, e, axis, size, inner))
        width.append([start, size - stop])
    while width and width[0] == [0, 0]:
        width.pop(0)
    if not width:
        return [y]
    value = x.attrs["value"]
    return [Tensor("pad", [y], {"width": width, "value": value}, x.shape, y.dtype, where,
                   ctx.var_name(node.outputs[0]))]


# The one table: Theano op class name -> translator. Anything else is refused, naming the op
# and where it sits.
OPS: Dict[str, Translator] = {
    "Elemwise": elemwise,
    "DimShuffle": dimshuffle,
    "Reshape": reshape,
    "Flatten": flatten,
    "Subtensor": subtensor,
    "Join": join,
    "Dot": dot, "Dot22": dot, "Dot22Scalar": dot,
    "Softmax": softmax, "LogSoftmax": softmax, "SoftmaxWithBias": softmax_with_bias,
    "AbstractConv2d": abstract_conv2d, "CorrMM": corr_mm, "ConvOp": conv_op,
    "Pool": pool, "DownsampleFactorMax": pool,
    "AbstractBatchNormInference": batch_norm_inference,
    "Sum": reduce_op, "CAReduce": reduce_op, "CAReduceDtype": reduce_op, "Max": reduce_op,
    "Min": reduce_op, "MaxAndArgmax": max_and_argmax, "Argmax": argmax_op,
    "Shape": shape_op, "Shape_i": shape_i, "MakeVector": make_vector,
    "ScalarFromTensor": same_value, "TensorFromScalar": same_value,
    "DeepCopyOp": same_value, "OutputGuard": same_value, "ViewOp": same_value,
    "Rebroadcast": same_value, "SpecifyShape": same_value, "Assert": same_value,
    "ZeroGrad": same_value, "DisconnectedGrad": same_value, "GradClip": same_value,
    "GradScale": same_value, "ConsiderConstant": same_value, "UndefinedGrad": same_value,
    # GPU back-ends: a GPU shared variable enters the user's graph through a transfer op.
    "HostFromGpu": same_value, "GpuFromHost": same_value, "GpuContiguous": same_value,
    "GpuToGpu": same_value,
    "Alloc": alloc, "IncSubtensor": inc_subtensor,
}
