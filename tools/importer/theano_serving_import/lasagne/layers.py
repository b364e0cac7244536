"""One translator per Lasagne layer class, with its shape inference beside it, and THE table of
supported classes (TRANSLATORS).

A translator reads a layer through graph.attr (a stand-in instance or a Record of a pickled
layer: the same attribute names, the values Lasagne's __init__ stores) and writes model.json ops
through a LayerContext. Defaults for attributes an older Lasagne did not store are the defaults
that Lasagne version had. Everything here follows lasagne/layers/*.py (master) and what Theano
1.0.5 computes for it:

  Conv2DLayer      T.nnet.conv2d(border_mode='half' for pad='same', filter_flip=flip_filters
                   (default True), num_groups), + b.dimshuffle('x', 0, 'x', 'x') (untied: + b),
                   then the nonlinearity (default rectify)
  Conv2DDNNLayer / Conv2DMMLayer   the same with flip_filters default False (cross-correlation);
                   cuDNN's 'same' = filter_size // 2 (odd sizes only, as for Conv2DLayer)
  DilatedConv2DLayer  W stored (in, out, kh, kw), computed as a cross-correlation with
                   filter_dilation = dilation (AbstractConv2d_gradWeights with the batch and
                   channel axes swapped), pad 0 only
  Pool2DLayer      pool_2d(ws=pool_size, stride (None = pool_size), pad, ignore_border (Lasagne's
                   default True; Theano's pool_2d default is False), mode)
  DenseLayer       flatten(ndim=2) when the input has more axes, T.dot(x, W) + b
  BatchNormLayer   (x - mean) * (gamma * inv_std) + beta, parameters dimshuffled along `axes`
  LocalResponseNormalization2DLayer  Lasagne's loop: scale = k + sum_i alpha * sq[:, i:i+C]
  ...
"""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from theano_serving_import.errors import ImporterError
from theano_serving_import.lasagne import graph, nonlinearities
from theano_serving_import.lasagne.graph import MISSING, attr

Shape = Tuple[Optional[int], ...]


# ---------------------------------------------------------------------------------------------
# Lasagne's size arithmetic (lasagne/layers/conv.py conv_output_length, pool.py
# pool_output_length), written once.
# ---------------------------------------------------------------------------------------------
def conv_output_length(n: Optional[int], filter_size: int, stride: int, pad: Any) -> Optional[int]:
    if n is None:
        return None
    if pad == "valid":
        out = n - filter_size + 1
    elif pad == "full":
        out = n + filter_size - 1
    elif pad == "same":
        out = n
    elif isinstance(pad, (list, tuple)):  # asymmetric (before, after), from old 'same'
        out = n + pad[0] + pad[1] - filter_size + 1
    else:
        out = n + 2 * int(pad) - filter_size + 1
    return (out + stride - 1) // stride


def pool_output_length(n: Optional[int], pool_size: int, stride: int, pad: int,
                       ignore_border: bool) -> Optional[int]:
    if n is None or pool_size is None:
        return None
    if ignore_border:
        out = n + 2 * pad - pool_size + 1
        return (out + stride - 1) // stride
    if stride >= pool_size:
        return (n + stride - 1) // stride
    return max(0, (n - pool_size + stride - 1) // stride) + 1


def _tuple(x: Any, n: int) -> tuple:
    try:
        t = tuple(x)
    except TypeError:
        t = (x,) * n
    return t


# ---------------------------------------------------------------------------------------------
# The context a translator writes into
# ---------------------------------------------------------------------------------------------
class LayerContext:
    """One Lasagne layer being translated: its inputs (model.json names), shapes (batch axis
    None), and a buffer of ops. Ops are named when the layer is done: the last op takes the
    layer's name, the others `<name>/<op>`."""

    def __init__(self, translation: "Translation", layer: Any, index: int, cls_name: str,
                 inputs: List[str], in_shapes: List[Shape], out_shape: Shape) -> None:
        self.t = translation
        self.layer = layer
        self.index = index
        self.cls = cls_name
        self.inputs = inputs
        self.in_shapes = in_shapes
        self.in_shape = in_shapes[0] if in_shapes else None
        self.out_shape = out_shape
        self.where = graph.display_name(layer, index)
        self.name = graph.layer_name(layer) or "%s_%d" % (cls_name, index)
        self._ops: List[Dict[str, Any]] = []

    # -- writing -------------------------------------------------------------------------------
    def op(self, op: str, attrs: Optional[Dict[str, Any]] = None, params: Sequence[str] = (),
           inputs: Optional[Sequence[Union[int, str]]] = None) -> int:
        """Buffers an op; `inputs` are op handles (ints returned by op) or model.json names;
        None = the previous op of this layer (or the layer's first input). Returns a handle."""
        if inputs is None:
            inputs = [len(self._ops) - 1] if self._ops else [self.inputs[0]]
        self._ops.append({"op": op, "attrs": attrs or {}, "params": list(params),
                          "inputs": list(inputs)})
        return len(self._ops) - 1

    def nonlinearity(self, fn: Any) -> None:
        nl = nonlinearities.require(fn, self.where)
        for op, attrs in nonlinearities.ops(nl):
            self.op(op, attrs)

    def param(self, p: Any, transform: Optional[Callable[[np.ndarray], np.ndarray]] = None,
              array: Optional[np.ndarray] = None) -> str:
        """Adds parameter `p` (its value from the weights) to params.npz; returns its npz name."""
        value = self.t.value(p, self.where) if array is None else array
        if transform is not None:
            value = transform(value)
        pname = graph.param_name(p) if p is not None else None
        short = graph.short_param_name(p) if p is not None else "param"
        if pname is None and p is not None:   # unnamed (early Lasagne): the attribute's name
            short = next((k for k in graph._EARLY_PARAM_ATTRS
                          if attr(self.layer, k, None) is p), short)
        if not pname or "." not in pname:
            pname = "%s.%s" % (self.name, short if pname is None else pname)
        return self.t.builder.add_param(pname, value)

    def constant(self, name: str, array: np.ndarray) -> str:
        return self.t.builder.add_param("%s.%s" % (self.name, name), array)

    def refuse(self, why: str) -> ImporterError:
        return ImporterError("%s: %s" % (self.where, why))

    def refuse_batch(self, why: str) -> "BatchAxisError":
        """A refusal because the layer moves, merges, slices or pads the batch axis (the
        engine keeps axis 0 as the batch of independent items)."""
        return BatchAxisError("%s: %s" % (self.where, why))

    def flush(self) -> str:
        """Writes the buffered ops to the builder; returns the name holding the layer's output
        (its first input when it wrote nothing, e.g. a DropoutLayer)."""
        if not self._ops:
            return self.inputs[0]
        names: List[str] = []
        builder = self.t.builder
        for k, o in enumerate(self._ops):
            resolved = [names[i] if isinstance(i, int) else i for i in o["inputs"]]
            default = builder.last
            inputs = None if resolved == [default] else resolved
            last = k == len(self._ops) - 1
            name = self.name if last else "%s/%s" % (self.name, o["op"])
            names.append(builder.add_layer(o["op"], o["attrs"], o["params"], inputs, name))
        return names[-1]


class BatchAxisError(ImporterError):
    """The layer computes across the batch axis; the network can still be served up to the
    layer before it (lasagne_import adds that hint)."""


class Translation:
    def __init__(self, builder: Any, values: Dict[int, np.ndarray]) -> None:
        self.builder = builder
        self.values = values

    def value(self, p: Any, where: str) -> np.ndarray:
        try:
            return self.values[id(p)]
        except KeyError:
            raise ImporterError("%s: no value for parameter %s" % (where, graph.param_name(p)))


# ---------------------------------------------------------------------------------------------
# Convolutions
# ---------------------------------------------------------------------------------------------
# Lasagne's flip_filters default per class: Conv2DLayer convolves (Theano's conv2d flips the
# filters), the cuDNN / corrmm / cuda-convnet layers cross-correlate.
_FLIP_DEFAULT = {"Conv2DLayer": True, "Conv1DLayer": True, "Conv2DDNNLayer": False,
                 "Conv2DMMLayer": False, "Conv2DCCLayer": False, "DilatedConv2DLayer": False}


def _conv_pad(L: Any, cls: str) -> Any:
    """The layer's padding as Lasagne stores it: a tuple of ints, 'full' or 'same'. Layers
    pickled by Lasagne 0.1.dev store `border_mode` instead ('valid' / 'full' / 'same', where
    'same' was a full convolution cropped at (filter_size - 1) // 2)."""
    pad = attr(L, "pad", MISSING)
    fs = _filter_size(L, cls)
    if pad is MISSING:
        border_mode = attr(L, "border_mode", "valid")
        if border_mode == "same":
            return tuple((f - 1 - (f - 1) // 2, (f - 1) // 2) for f in fs)
        pad = 0 if border_mode == "valid" else border_mode
    if cls == "Conv2DCCLayer":
        return (int(pad),) * 2
    if pad in ("full", "same"):
        return pad
    if pad == "valid":
        return (0,) * len(fs)
    pad = _tuple(pad, len(fs))
    return tuple(tuple(int(x) for x in p) if isinstance(p, (tuple, list)) else int(p)
                 for p in pad)


def _filter_size(L: Any, cls: str) -> tuple:
    fs = attr(L, "filter_size")
    if cls == "Conv2DCCLayer":
        return (int(fs), int(fs))
    n = attr(L, "n", 1 if cls == "Conv1DLayer" else 2)
    return tuple(int(f) for f in _tuple(fs, n))


def _stride(L: Any, cls: str) -> tuple:
    if cls == "DilatedConv2DLayer":
        return (1, 1)
    s = attr(L, "stride", attr(L, "strides", 1))  # `strides` before Lasagne 0.1
    if cls == "Conv2DCCLayer":
        return (int(s), int(s))
    return tuple(int(x) for x in _tuple(s, len(_filter_size(L, cls))))


def conv_W_shape(L: Any) -> tuple:
    """get_W_shape: (num_filters, channels / num_groups) + filter_size; DilatedConv2DLayer
    (channels, num_filters) + filter_size; cuda-convnet with dimshuffle=False c01b."""
    cls = graph.layer_class(L).name
    in_shape = attr(L, "input_shape")
    nf = attr(L, "num_filters")
    fs = _filter_size(L, cls)
    if cls == "DilatedConv2DLayer":
        return (in_shape[1], nf) + fs
    if cls == "Conv2DCCLayer":
        if attr(L, "dimshuffle", True):
            return (nf, in_shape[1]) + fs
        return (in_shape[0],) + fs + (nf,)
    groups = attr(L, "num_groups", 1)
    return (nf, in_shape[1] // groups) + fs


def shape_conv(L: Any, in_shapes: List[Shape]) -> Shape:
    s = in_shapes[0]
    cls = graph.layer_class(L).name
    nf = attr(L, "num_filters")
    fs = _filter_size(L, cls)
    if cls == "DilatedConv2DLayer":
        dil = _tuple(attr(L, "dilation", 1), 2)
        return (s[0], nf) + tuple(conv_output_length(n, (f - 1) * d + 1, 1, 0)
                                  for n, f, d in zip(s[2:], fs, dil))
    if cls == "Conv2DCCLayer" and not attr(L, "dimshuffle", True):
        pad = _conv_pad(L, cls)
        return (nf,) + tuple(conv_output_length(n, f, st, p) for n, f, st, p in
                             zip(s[1:3], fs, _stride(L, cls), pad)) + (s[3],)
    pad = _conv_pad(L, cls)
    pads = pad if isinstance(pad, tuple) else (pad,) * len(fs)
    return (s[0], nf) + tuple(conv_output_length(n, f, st, p) for n, f, st, p in
                              zip(s[2:], fs, _stride(L, cls), pads))


def _conv_function_ok(L: Any) -> bool:
    fn = attr(L, "convolution", None)
    if fn is None:
        return True
    module, name = nonlinearities._ref(fn)
    return name in ("conv2d", "conv1d_mc0") and (module.startswith("theano")
                                                  or module.startswith("lasagne"))


def t_conv(c: LayerContext) -> None:
    L, cls = c.layer, c.cls
    if cls == "Conv2DCCLayer" and not attr(L, "dimshuffle", True):
        raise c.refuse("dimshuffle=False (c01b axis order, batch axis last) cannot be served")
    if not _conv_function_ok(L):
        raise c.refuse("convolution=%s is not Theano's conv2d"
                       % nonlinearities.describe(attr(L, "convolution")))
    if len(c.in_shape) != 4 and cls != "Conv1DLayer":
        raise c.refuse("input %s is not 4-D" % graph.fmt_shape(c.in_shape))
    pad = _conv_pad(L, cls)
    a: Dict[str, Any] = {}
    if pad == "same":
        a["border_mode"] = "half"
    elif pad == "full":
        a["border_mode"] = "full"
    elif any(isinstance(p, tuple) for p in pad):
        a["border_mode"] = [list(p) for p in pad]
    elif any(p != 0 for p in pad):
        a["border_mode"] = list(pad)
    stride = _stride(L, cls)
    if any(s != 1 for s in stride):
        a["subsample"] = list(stride)
    flip = bool(attr(L, "flip_filters", _FLIP_DEFAULT[cls]))
    a["filter_flip"] = flip
    if cls == "DilatedConv2DLayer":
        dil = _tuple(attr(L, "dilation", 1), 2)
        if any(d != 1 for d in dil):
            a["filter_dilation"] = [int(d) for d in dil]
    groups = int(attr(L, "num_groups", 1))
    if groups != 1:
        a["num_groups"] = groups
    W = attr(L, "W")
    transform = None
    if cls == "DilatedConv2DLayer":
        transform = lambda w: np.ascontiguousarray(w.transpose(1, 0, 2, 3))  # noqa: E731
    if cls == "Conv1DLayer":
        # Lasagne's conv1d_mc0: the input and filters get a height axis of 1, then conv2d.
        c.op("dimshuffle", {"pattern": [0, 1, "x", 2]})
        transform = lambda w: w[:, :, None, :]  # noqa: E731
        if "border_mode" in a and isinstance(a["border_mode"], list):
            a["border_mode"] = [0] + [a["border_mode"][0]]
        if "subsample" in a:
            a["subsample"] = [1] + a["subsample"]
    c.op("conv2d", a, [c.param(W, transform)])
    if cls == "Conv1DLayer":
        c.op("dimshuffle", {"pattern": [0, 1, 3]})
    _bias(c, attr(L, "b", None), bool(attr(L, "untie_biases", False)))
    c.nonlinearity(attr(L, "nonlinearity", None))


def _bias(c: LayerContext, b: Any, untied: bool) -> None:
    """+ b.dimshuffle('x', 0, 'x', ...) (bias_add), or + shape_padleft(b) for untied biases."""
    if b is None:
        return
    if untied:
        c.op("add", {}, [c.param(b)])
    else:
        c.op("bias_add", {"axis": 1}, [c.param(b)])


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------
def _pool_config(L: Any, cls: str) -> Tuple[tuple, tuple, tuple, bool, str]:
    """(ws, stride, pad, ignore_border, mode) as Theano's pool_2d receives them."""
    # Lasagne before 0.1 stored pool_size as `ds` (and the dnn pool's stride as `strides`)
    if cls == "MaxPool2DCCLayer":
        ps = int(_tuple(attr(L, "pool_size") if graph.has_attr(L, "pool_size")
                        else attr(L, "ds"), 1)[0])
        st = int(attr(L, "stride", ps))
        return (ps, ps), (st, st), (0, 0), False, "max"
    ws = _tuple(attr(L, "pool_size") if graph.has_attr(L, "pool_size") else attr(L, "ds"), 2)
    stride = attr(L, "stride", attr(L, "strides", None))
    stride = ws if stride is None else _tuple(stride, 2)
    pad = _tuple(attr(L, "pad", 0), 2)
    if cls in ("Pool2DDNNLayer", "MaxPool2DDNNLayer"):
        ignore_border = True  # cuDNN pools never keep partial windows
    else:
        ignore_border = bool(attr(L, "ignore_border", True))
    mode = attr(L, "mode", "max")
    if mode == "average" and cls in ("Pool2DDNNLayer", "MaxPool2DDNNLayer"):
        mode = "average_inc_pad"  # Theano's dnn_pool alias
    return (tuple(int(x) for x in ws), tuple(int(x) for x in stride),
            tuple(int(x) for x in pad), ignore_border, mode)


def shape_pool(L: Any, in_shapes: List[Shape]) -> Shape:
    s = in_shapes[0]
    ws, st, pad, ib, _ = _pool_config(L, graph.layer_class(L).name)
    return tuple(s[:2]) + tuple(pool_output_length(n, w, t, p, ib)
                                for n, w, t, p in zip(s[2:], ws, st, pad))


def t_pool(c: LayerContext) -> None:
    ws, st, pad, ib, mode = _pool_config(c.layer, c.cls)
    if mode not in ("max", "sum", "average_inc_pad", "average_exc_pad"):
        raise c.refuse("pooling mode %r: Theano's pool_2d takes max, sum, average_inc_pad, "
                       "average_exc_pad" % (mode,))
    if not ib and any(pad):
        raise c.refuse("pad=%s with ignore_border=False: Theano refuses this (padding works "
                       "only with ignore_border=True)" % (pad,))
    if len(c.in_shape) != 4:
        raise c.refuse("input %s is not 4-D" % graph.fmt_shape(c.in_shape))
    a: Dict[str, Any] = {"ws": list(ws), "ignore_border": ib}
    if st != ws:
        a["stride"] = list(st)
    if any(pad):
        a["pad"] = list(pad)
    a["mode"] = mode
    c.op("pool_2d", a)


_REDUCTIONS = {"mean": "mean", "max": "max", "min": "min", "sum": "sum"}


def _pool_function(c: LayerContext, fn: Any) -> str:
    """T.mean / T.max / T.min / T.sum (None: Lasagne's default of the class)."""
    if fn is None:
        return "max" if c.cls == "FeaturePoolLayer" else "mean"
    if not graph.is_record(fn):
        module, name = nonlinearities._ref(fn)
        if module.startswith("theano") and name in _REDUCTIONS:
            return _REDUCTIONS[name]
    raise c.refuse("pool_function %s is not one of T.mean, T.max, T.min, T.sum"
                   % nonlinearities.describe(fn))


def shape_global_pool(L: Any, in_shapes: List[Shape]) -> Shape:
    return tuple(in_shapes[0][:2])


def t_global_pool(c: LayerContext) -> None:
    """pool_function(input.flatten(3), axis=2)."""
    red = _pool_function(c, attr(c.layer, "pool_function", None))
    if len(c.in_shape) < 3:
        raise c.refuse("input %s has no axes to pool (Lasagne flattens to 3 axes)"
                       % graph.fmt_shape(c.in_shape))
    if len(c.in_shape) > 3:
        c.op("flatten", {"ndim": 3})
    c.op(red, {"axis": 2})


def shape_feature_pool(L: Any, in_shapes: List[Shape]) -> Shape:
    s = list(in_shapes[0])
    axis = int(attr(L, "axis", 1)) % len(s)
    ps = int(attr(L, "pool_size") if graph.has_attr(L, "pool_size") else attr(L, "ds"))
    s[axis] = None if s[axis] is None else s[axis] // ps
    return tuple(s)


def t_feature_pool(c: LayerContext) -> None:
    """input.reshape(shape[:axis] + (C // pool_size, pool_size) + shape[axis+1:]), then
    pool_function(axis=axis + 1) — maxout."""
    s = c.in_shape
    axis = int(attr(c.layer, "axis", 1)) % len(s)
    if axis == 0:
        raise c.refuse_batch("pools over the batch axis")
    ps = int(attr(c.layer, "pool_size") if graph.has_attr(c.layer, "pool_size")
             else attr(c.layer, "ds"))
    red = _pool_function(c, attr(c.layer, "pool_function", None))
    new_shape: List[Any] = [[0]] + list(s[1:axis]) + [s[axis] // ps, ps] + list(s[axis + 1:])
    c.op("reshape", {"shape": new_shape})
    c.op(red, {"axis": axis + 1})


def shape_upscale(L: Any, in_shapes: List[Shape]) -> Shape:
    s = list(in_shapes[0])
    a, b = _tuple(attr(L, "scale_factor"), 2)
    s[2] = None if s[2] is None else s[2] * int(a)
    s[3] = None if s[3] is None else s[3] * int(b)
    return tuple(s)


def t_upscale(c: LayerContext) -> None:
    """Upscale2DLayer: mode 'repeat' (T.extra_ops.repeat on both axes) or 'dilate' (the input
    at every scale_factor-th position, zeros elsewhere) — both exactly: reshape to
    (N, C, H, 1, W, 1), multiply by a 0/1 mask of shape (1, a, 1, b), reshape to (N, C, H*a, W*b)."""
    if len(c.in_shape) != 4:
        raise c.refuse("input %s is not 4-D" % graph.fmt_shape(c.in_shape))
    a, b = (int(x) for x in _tuple(attr(c.layer, "scale_factor"), 2))
    mode = attr(c.layer, "mode", "repeat")
    if mode not in ("repeat", "dilate"):
        raise c.refuse("mode %r: Lasagne has 'repeat' and 'dilate'" % (mode,))
    _, ch, h, w = c.in_shape
    mask = np.ones((1, a, 1, b), np.dtype(c.t.builder.dtype))
    if mode == "dilate":
        mask[:] = 0
        mask[0, 0, 0, 0] = 1
    c.op("reshape", {"shape": [[0], ch, h, 1, w, 1]})
    c.op("mul", {}, [c.constant("mask", mask)])
    c.op("reshape", {"shape": [[0], ch, h * a, w * b]})


# ---------------------------------------------------------------------------------------------
# Dense, NIN
# ---------------------------------------------------------------------------------------------
def _leading_axes(L: Any, ndim: int) -> int:
    nla = int(attr(L, "num_leading_axes", 1))
    return nla + ndim if nla < 0 else nla


def shape_dense(L: Any, in_shapes: List[Shape]) -> Shape:
    s = in_shapes[0]
    return tuple(s[:_leading_axes(L, len(s))]) + (int(attr(L, "num_units")),)


def t_dense(c: LayerContext) -> None:
    L = c.layer
    if _leading_axes(L, len(c.in_shape)) != 1:
        raise c.refuse_batch("num_leading_axes=%s: only 1 (one batch axis) can be served"
                       % attr(L, "num_leading_axes"))
    if len(c.in_shape) > 2:
        c.op("flatten", {"ndim": 2})
    params = [c.param(attr(L, "W"))]
    b = attr(L, "b", None)
    if b is not None:
        params.append(c.param(b))
    c.op("dense", {}, params)
    c.nonlinearity(attr(L, "nonlinearity", None))


def shape_nin(L: Any, in_shapes: List[Shape]) -> Shape:
    s = in_shapes[0]
    return (s[0], int(attr(L, "num_units"))) + tuple(s[2:])


def t_nin(c: LayerContext) -> None:
    """tensordot(W, x, [[0], [1]]) moved to (N, units, ...) = a 1x1 cross-correlation with
    filters W.T."""
    L = c.layer
    if len(c.in_shape) != 4:
        raise c.refuse("input %s: NINLayer is imported for 4-D inputs"
                       % graph.fmt_shape(c.in_shape))
    W = c.param(attr(L, "W"), lambda w: np.ascontiguousarray(w.T)[:, :, None, None])
    c.op("conv2d", {"filter_flip": False}, [W])
    _bias(c, attr(L, "b", None), bool(attr(L, "untie_biases", False)))
    c.nonlinearity(attr(L, "nonlinearity", None))


# ---------------------------------------------------------------------------------------------
# Identity at inference, nonlinearities
# ---------------------------------------------------------------------------------------------
def shape_same(L: Any, in_shapes: List[Shape]) -> Shape:
    return tuple(in_shapes[0])


def t_identity(c: LayerContext) -> None:
    """DropoutLayer, GaussianNoiseLayer: their deterministic output is their input."""


def t_nonlinearity(c: LayerContext) -> None:
    c.nonlinearity(attr(c.layer, "nonlinearity", None))


def shape_expression(L: Any, in_shapes: List[Shape]) -> Shape:
    out = attr(L, "_output_shape", None)
    if out is None or out == "auto" or out == "callable":
        return tuple(in_shapes[0])
    return tuple(out)


def check_expression(L: Any, index: int) -> None:
    fn = attr(L, "function", None)
    nl = nonlinearities.recognise(fn)
    out = attr(L, "_output_shape", None)
    if nl is None or out is not None:
        raise ImporterError(
            "unsupported layer %s: an ExpressionLayer can be imported only when its function is "
            "a recognised nonlinearity (%s) and it keeps the shape, got %s"
            % (graph.display_name(L, index), nonlinearities.SUPPORTED_TEXT,
               nonlinearities.describe(fn)))


def t_expression(c: LayerContext) -> None:
    check_expression(c.layer, c.index)
    nl = nonlinearities.recognise(attr(c.layer, "function", None))
    for op, a in nonlinearities.ops(nl):
        c.op(op, a)


def t_randomized_rectifier(c: LayerContext) -> None:
    """Deterministic: T.nnet.relu(x, (upper + lower) / 2.0)."""
    alpha = (float(attr(c.layer, "upper", 0.8)) + float(attr(c.layer, "lower", 0.3))) / 2.0
    c.op("relu", {"alpha": alpha})


def _broadcast_param(c: LayerContext, p: Any, shared_axes: Sequence[int], what: str) -> str:
    """A parameter stored without its shared axes (Lasagne's convention), written with size-1
    axes in their place so that it broadcasts over an (N, ...) value; axis 0 must be shared."""
    ndim = len(c.in_shape)
    shared = set(int(a) % ndim for a in shared_axes)
    if 0 not in shared:
        raise c.refuse_batch("%s not shared over the batch axis (shared_axes=%s) cannot be served"
                       % (what, tuple(shared_axes)))

    def shape_it(v: np.ndarray) -> np.ndarray:
        dims = iter(v.shape)
        full = [1 if ax in shared else next(dims) for ax in range(ndim)]
        return v.reshape(full[1:])
    return c.param(p, shape_it)


def _default_shared_axes(ndim: int) -> tuple:
    return (0,) + tuple(range(2, ndim))


def _shared_axes(L: Any, ndim: int) -> tuple:
    sa = attr(L, "shared_axes", "auto")
    if sa == "auto":
        return _default_shared_axes(ndim)
    if sa == "all":
        return tuple(range(ndim))
    if isinstance(sa, (int, np.integer)):
        return (int(sa),)
    return tuple(int(a) for a in sa)


def t_bias(c: LayerContext) -> None:
    """input + b.dimshuffle(pattern): bias_add for the usual per-channel bias, else add."""
    b = attr(c.layer, "b", None)
    if b is None:
        return
    ndim = len(c.in_shape)
    sa = _shared_axes(c.layer, ndim)
    if tuple(sorted(set(a % ndim for a in sa))) == _default_shared_axes(ndim) and ndim >= 2:
        c.op("bias_add", {"axis": 1}, [c.param(b)])
    else:
        c.op("add", {}, [_broadcast_param(c, b, sa, "a bias")])


def t_scale(c: LayerContext) -> None:
    """input * scales.dimshuffle(pattern)."""
    sa = _shared_axes(c.layer, len(c.in_shape))
    c.op("mul", {}, [_broadcast_param(c, attr(c.layer, "scales"), sa, "a scale")])


def t_prelu(c: LayerContext) -> None:
    """T.nnet.relu(x, alpha) with a parameter alpha: f1 * x + f2 * |x|, f1 = 0.5 * (1 + alpha),
    f2 = 0.5 * (1 - alpha) (theano/tensor/nnet/nnet.py relu), f1 and f2 computed in the model
    dtype as Theano computes them."""
    L = c.layer
    ndim = len(c.in_shape)
    sa = _shared_axes(L, ndim)
    p = attr(L, "alpha")
    dtype = np.dtype(c.t.builder.dtype)
    alpha = c.t.value(p, c.where).astype(dtype)
    half, one = dtype.type(0.5), dtype.type(1)
    shared = set(int(a) % ndim for a in sa)
    if 0 not in shared:
        raise c.refuse_batch("alpha not shared over the batch axis cannot be served")
    dims = iter(alpha.shape)
    full = [1 if ax in shared else next(dims) for ax in range(ndim)][1:]
    f1 = c.constant("f1", (half * (one + alpha)).reshape(full))
    f2 = c.constant("f2", (half * (one - alpha)).reshape(full))
    a = c.op("mul", {}, [f1])
    ab = c.op("abs", inputs=[c.inputs[0]])
    b = c.op("mul", {}, [f2], inputs=[ab])
    c.op("add", {}, inputs=[a, b])


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------
def t_batch_norm(c: LayerContext) -> None:
    """(x - mean) * (gamma * inv_std) + beta; gamma None = 1, beta None = 0 (Lasagne)."""
    L = c.layer
    ndim = len(c.in_shape)
    axes = attr(L, "axes", "auto")
    if axes == "auto":
        axes = _default_shared_axes(ndim)
    elif isinstance(axes, (int, np.integer)):
        axes = (int(axes),)
    axes = sorted(set(int(a) % ndim for a in axes))
    mean = c.t.value(attr(L, "mean"), c.where)
    gamma, beta = attr(L, "gamma", None), attr(L, "beta", None)
    gamma_name = c.param(gamma) if gamma is not None else c.constant(
        "gamma", np.ones(mean.shape, mean.dtype))
    beta_name = c.param(beta) if beta is not None else c.constant(
        "beta", np.zeros(mean.shape, mean.dtype))
    a: Dict[str, Any] = {}
    if axes != list(_default_shared_axes(ndim)):
        a["axes"] = axes
    c.op("batch_norm_inv_std", a, [gamma_name, beta_name, c.param(attr(L, "mean")),
                                   c.param(attr(L, "inv_std"))])


def t_lrn(c: LayerContext) -> None:
    L = c.layer
    if len(c.in_shape) != 4:
        raise c.refuse("input %s is not 4-D" % graph.fmt_shape(c.in_shape))
    n = int(attr(L, "n", 5))
    if n % 2 == 0:
        raise c.refuse("n=%d: Lasagne works only with odd n" % n)
    c.op("local_response_normalization", {"alpha": float(attr(L, "alpha", 1e-4)),
                                          "k": float(attr(L, "k", 2)),
                                          "beta": float(attr(L, "beta", 0.75)), "n": n})


# ---------------------------------------------------------------------------------------------
# Shape layers
# ---------------------------------------------------------------------------------------------
def shape_flatten(L: Any, in_shapes: List[Shape]) -> Shape:
    s = in_shapes[0]
    outdim = int(attr(L, "outdim", 2))
    rest = s[outdim - 1:]
    flat = None if any(d is None for d in rest) else int(np.prod(rest))
    return tuple(s[:outdim - 1]) + (flat,)


def t_flatten(c: LayerContext) -> None:
    outdim = int(attr(c.layer, "outdim", 2))
    if outdim < 2:
        raise c.refuse_batch("outdim=%d would merge the batch axis" % outdim)
    if outdim < len(c.in_shape):
        c.op("flatten", {"ndim": outdim})
    elif outdim > len(c.in_shape):
        raise c.refuse("outdim=%d for a %d-D input" % (outdim, len(c.in_shape)))


def shape_reshape(L: Any, in_shapes: List[Shape]) -> Shape:
    """ReshapeLayer.get_output_shape_for (lasagne/layers/shape.py)."""
    input_shape = in_shapes[0]
    spec = list(attr(L, "shape"))
    output_shape = list(spec)
    masked_input_shape = list(input_shape)
    masked_output_shape = list(output_shape)
    for dim, o in enumerate(output_shape):
        if isinstance(o, list):
            if o[0] >= len(input_shape):
                raise ValueError("specification contains [%d], but input shape has %d "
                                 "dimensions only" % (o[0], len(input_shape)))
            output_shape[dim] = input_shape[o[0]]
            masked_output_shape[dim] = input_shape[o[0]]
            if input_shape[o[0]] is None and masked_input_shape[o[0]] is None:
                masked_input_shape[o[0]] = 1
                masked_output_shape[dim] = 1
    input_size = (None if any(x is None for x in masked_input_shape)
                  else int(np.prod(masked_input_shape)))
    output_size = (None if any(x is None for x in masked_output_shape)
                   else int(np.prod(masked_output_shape)))
    if -1 in output_shape:
        dim = output_shape.index(-1)
        if input_size is None or output_size is None:
            output_shape[dim] = None
            output_size = None
        else:
            output_size *= -1
            output_shape[dim] = input_size // output_size
            output_size *= output_shape[dim]
    if input_size is not None and output_size is not None and input_size != output_size:
        raise ValueError("%s cannot be reshaped to specification %s. The total size mismatches."
                         % (tuple(input_shape), tuple(spec)))
    return tuple(output_shape)


def t_reshape(c: LayerContext) -> None:
    spec = list(attr(c.layer, "shape"))
    first = spec[0]
    rest_in = c.in_shape[1:]
    rest_out = c.out_shape[1:]
    keeps_batch = first == [0] or (
        first == -1 and None not in rest_out and int(np.prod(rest_out)) == int(np.prod(rest_in)))
    if not keeps_batch:
        raise c.refuse_batch("shape %s does not keep the batch axis first (write [0] or -1 there)"
                       % (tuple(spec),))
    if first == -1 and -1 in spec[1:]:
        raise c.refuse("shape %s has two -1" % (tuple(spec),))
    c.op("reshape", {"shape": [[0]] + [int(d) for d in rest_out]})


def shape_dimshuffle(L: Any, in_shapes: List[Shape]) -> Shape:
    s = in_shapes[0]
    out = []
    for p in attr(L, "pattern"):
        out.append(1 if p == "x" else s[int(p)])
    return tuple(out)


def t_dimshuffle(c: LayerContext) -> None:
    pattern = list(attr(c.layer, "pattern"))
    if not pattern or pattern[0] != 0:
        raise c.refuse_batch("pattern %s moves the batch axis (pattern[0] must be 0)"
                       % (tuple(pattern),))
    c.op("dimshuffle", {"pattern": [p if p == "x" else int(p) for p in pattern]})


def _pad_widths(L: Any, ndim: int) -> List[List[int]]:
    """Lasagne's padding.pad: `width` (int, or per axis an int or (before, after)) for the axes
    after the first `batch_ndim`; axes it does not name are not padded."""
    width = attr(L, "width")
    batch_ndim = int(attr(L, "batch_ndim", 2))
    n = ndim - batch_ndim
    widths = [width] * n if isinstance(width, (int, np.integer)) else list(width)
    pairs = []
    for k in range(n):
        w = widths[k] if k < len(widths) else 0
        try:
            lo, hi = w
        except TypeError:
            lo = hi = w
        pairs.append([int(lo), int(hi)])
    return pairs


def shape_pad(L: Any, in_shapes: List[Shape]) -> Shape:
    s = list(in_shapes[0])
    batch_ndim = int(attr(L, "batch_ndim", 2))
    for k, (lo, hi) in enumerate(_pad_widths(L, len(s))):
        if s[k + batch_ndim] is not None:
            s[k + batch_ndim] += lo + hi
    return tuple(s)


def t_pad(c: LayerContext) -> None:
    batch_ndim = int(attr(c.layer, "batch_ndim", 2))
    if batch_ndim < 1:
        raise c.refuse_batch("batch_ndim=%d pads the batch axis" % batch_ndim)
    pairs = _pad_widths(c.layer, len(c.in_shape))
    val = float(attr(c.layer, "val", 0))
    a: Dict[str, Any] = {"width": pairs}
    if val != 0:
        a["value"] = val
    c.op("pad", a)


def _slice_of(obj: Any) -> Any:
    """A slice, or an int; a slice unpickled as a Record is turned back into one."""
    if isinstance(obj, (slice, int, np.integer)):
        return obj
    if graph.is_record(obj):
        args = list(attr(obj, "args", []) or [])
        return slice(*args)
    return obj


def shape_slice(L: Any, in_shapes: List[Shape]) -> Shape:
    s = list(in_shapes[0])
    axis = int(attr(L, "axis", -1))
    sl = _slice_of(attr(L, "slice"))
    if isinstance(sl, (int, np.integer)):
        del s[axis]
    elif s[axis] is not None:
        s[axis] = len(range(*sl.indices(s[axis])))
    return tuple(s)


def t_slice(c: LayerContext) -> None:
    ndim = len(c.in_shape)
    axis = int(attr(c.layer, "axis", -1))
    axis = axis + ndim if axis < 0 else axis
    if axis == 0:
        raise c.refuse_batch("slices the batch axis")
    sl = _slice_of(attr(c.layer, "slice"))
    if isinstance(sl, (int, np.integer)):
        c.op("subtensor", {"axis": axis, "index": int(sl)})
    elif isinstance(sl, slice):
        c.op("subtensor", {"axis": axis, "start": sl.start, "stop": sl.stop, "step": sl.step})
    else:
        raise c.refuse("indices %r are neither an int nor a slice" % (sl,))


# ---------------------------------------------------------------------------------------------
# Merge layers
# ---------------------------------------------------------------------------------------------
def _crop_shapes(shapes: List[Shape], cropping: Any) -> List[Shape]:
    """autocrop_array_shapes (lasagne/layers/merge.py)."""
    if cropping is None:
        return [tuple(s) for s in shapes]
    ndim = len(shapes[0])
    cropping = list(cropping) + [None] * (ndim - len(list(cropping)))
    result = []
    for sizes, cr in zip(zip(*shapes), cropping):
        if cr is None or any(s is None for s in sizes):
            result.append(list(sizes))
        elif cr in ("lower", "center", "upper"):
            result.append([min(sizes)] * len(sizes))
        else:
            raise ValueError("Unknown crop mode '%s'" % (cr,))
    return [tuple(s) for s in zip(*result)]


def _crop_ops(c: LayerContext) -> List[Union[int, str]]:
    """autocrop: each input cut to the smallest size on the cropped axes ('lower' keeps the
    start, 'upper' the end, 'center' the middle)."""
    cropping = attr(c.layer, "cropping", None)
    inputs: List[Union[int, str]] = list(c.inputs)
    if cropping is None:
        return inputs
    ndim = len(c.in_shapes[0])
    cropping = list(cropping) + [None] * (ndim - len(list(cropping)))
    for axis, cr in enumerate(cropping):
        if cr is None:
            continue
        sizes = [s[axis] for s in c.in_shapes]
        if any(s is None for s in sizes):
            continue
        sz = min(sizes)
        for k, n in enumerate(sizes):
            if n == sz:
                continue
            start = {"lower": 0, "upper": n - sz, "center": (n - sz) // 2}[cr]
            inputs[k] = c.op("subtensor", {"axis": axis, "start": start, "stop": start + sz},
                             inputs=[inputs[k]])
    return inputs


def shape_concat(L: Any, in_shapes: List[Shape]) -> Shape:
    shapes = _crop_shapes(in_shapes, attr(L, "cropping", None))
    axis = int(attr(L, "axis", 1))
    out = [next((s for s in sizes if s is not None), None) for sizes in zip(*shapes)]
    sizes = [s[axis] for s in shapes]
    out[axis] = None if any(s is None for s in sizes) else sum(sizes)
    return tuple(out)


def t_concat(c: LayerContext) -> None:
    ndim = len(c.in_shapes[0])
    axis = int(attr(c.layer, "axis", 1))
    axis = axis + ndim if axis < 0 else axis
    if axis == 0:
        raise c.refuse_batch("concatenates along the batch axis")
    inputs = _crop_ops(c)
    if len(inputs) == 1:
        return
    c.op("concatenate", {"axis": axis}, inputs=inputs)


def shape_merge(L: Any, in_shapes: List[Shape]) -> Shape:
    """ElemwiseMergeLayer.get_output_shape_for: equal sizes, or 1 broadcast to the others."""
    shapes = _crop_shapes(in_shapes, attr(L, "cropping", None))
    out = []
    for sizes in zip(*shapes):
        known = [s for s in sizes if s is not None]
        big = [s for s in known if s != 1]
        out.append(big[0] if big else (known[0] if known else None))
    return tuple(out)


_MERGE_FUNCTIONS = {"maximum": "maximum", "minimum": "minimum", "mul": "mul", "add": "add",
                    "sub": "sub", "true_div": "true_div"}
_MERGE_SCALARS = {"Maximum": "maximum", "Minimum": "minimum", "Mul": "mul", "Add": "add",
                  "Sub": "sub", "TrueDiv": "true_div"}


def _merge_op(c: LayerContext, fn: Any) -> str:
    if graph.is_record(fn) and fn.name == "Elemwise":
        scalar = attr(fn, "scalar_op", None)
        if scalar is not None and graph.is_record(scalar) and scalar.name in _MERGE_SCALARS:
            return _MERGE_SCALARS[scalar.name]
    else:
        module, name = nonlinearities._ref(fn)
        if module.startswith("theano") and name in _MERGE_FUNCTIONS:
            return _MERGE_FUNCTIONS[name]
    raise c.refuse("merge_function %s is not one of T.maximum, T.minimum, T.mul, T.add, T.sub, "
                   "T.true_div" % nonlinearities.describe(fn))


def t_elemwise_merge(c: LayerContext) -> None:
    """output = merge_function(merge_function(in0, in1), in2) ..."""
    op = _merge_op(c, attr(c.layer, "merge_function"))
    inputs = _crop_ops(c)
    if len(inputs) == 1:
        return
    if op in ("sub", "true_div"):
        acc: Union[int, str] = inputs[0]
        for x in inputs[1:]:
            acc = c.op(op, {}, inputs=[acc, x])
    else:
        c.op(op, {}, inputs=inputs)


def t_elemwise_sum(c: LayerContext) -> None:
    """inputs scaled by their coeffs (`input * coeff` when coeff != 1), then summed left to
    right."""
    coeffs = attr(c.layer, "coeffs", 1)
    inputs = _crop_ops(c)
    if not isinstance(coeffs, (list, tuple)):
        coeffs = [coeffs] * len(inputs)
    scaled: List[Union[int, str]] = []
    for x, k in zip(inputs, coeffs):
        if k != 1:
            x = c.op("mul", {"operands": ["input:0", float(k)]}, inputs=[x])
        scaled.append(x)
    if len(scaled) > 1:
        c.op("add", {}, inputs=scaled)


# ---------------------------------------------------------------------------------------------
# THE table
# ---------------------------------------------------------------------------------------------
class Spec:
    """A supported class: its translator, its shape inference, whether it reads a list of
    inputs (MergeLayer), and an optional up-front check (refusals that do not need shapes)."""

    def __init__(self, translate: Callable[[LayerContext], None],
                 shape: Callable[[Any, List[Shape]], Shape], merge: bool = False,
                 check: Optional[Callable[[Any, int], None]] = None) -> None:
        self.translate = translate
        self.shape = shape
        self.merge = merge
        self.check = check


TRANSLATORS: Dict[str, Spec] = {
    # InputLayer is the model input (Translation sets it); listed for the shape inference.
    "InputLayer": Spec(t_identity, shape_same),
    "Conv2DLayer": Spec(t_conv, shape_conv),
    "Conv1DLayer": Spec(t_conv, shape_conv),
    "Conv2DDNNLayer": Spec(t_conv, shape_conv),
    "Conv2DMMLayer": Spec(t_conv, shape_conv),
    "Conv2DCCLayer": Spec(t_conv, shape_conv),
    "DilatedConv2DLayer": Spec(t_conv, shape_conv),
    "Pool2DLayer": Spec(t_pool, shape_pool),
    "MaxPool2DLayer": Spec(t_pool, shape_pool),
    "Pool2DDNNLayer": Spec(t_pool, shape_pool),
    "MaxPool2DDNNLayer": Spec(t_pool, shape_pool),
    "MaxPool2DCCLayer": Spec(t_pool, shape_pool),
    "GlobalPoolLayer": Spec(t_global_pool, shape_global_pool),
    "Upscale2DLayer": Spec(t_upscale, shape_upscale),
    "FeaturePoolLayer": Spec(t_feature_pool, shape_feature_pool),
    "DenseLayer": Spec(t_dense, shape_dense),
    "NINLayer": Spec(t_nin, shape_nin),
    "NonlinearityLayer": Spec(t_nonlinearity, shape_same),
    "ExpressionLayer": Spec(t_expression, shape_expression, check=check_expression),
    "ParametricRectifierLayer": Spec(t_prelu, shape_same),
    "RandomizedRectifierLayer": Spec(t_randomized_rectifier, shape_same),
    "BatchNormLayer": Spec(t_batch_norm, shape_same),
    "BatchNormDNNLayer": Spec(t_batch_norm, shape_same),
    "DropoutLayer": Spec(t_identity, shape_same),
    "GaussianNoiseLayer": Spec(t_identity, shape_same),
    "LocalResponseNormalization2DLayer": Spec(t_lrn, shape_same),
    "ElemwiseSumLayer": Spec(t_elemwise_sum, shape_merge, merge=True),
    "ElemwiseMergeLayer": Spec(t_elemwise_merge, shape_merge, merge=True),
    "ConcatLayer": Spec(t_concat, shape_concat, merge=True),
    "FlattenLayer": Spec(t_flatten, shape_flatten),
    "ReshapeLayer": Spec(t_reshape, shape_reshape),
    "DimshuffleLayer": Spec(t_dimshuffle, shape_dimshuffle),
    "SliceLayer": Spec(t_slice, shape_slice),
    "PadLayer": Spec(t_pad, shape_pad),
    "ScaleLayer": Spec(t_scale, shape_same),
    "BiasLayer": Spec(t_bias, shape_same),
}

SUPPORTED = sorted(k for k in TRANSLATORS if k != "InputLayer")


def unsupported_message(name: Optional[str], qualname: str, why: str = "") -> str:
    return ("unsupported layer %s(%s%s): supported: InputLayer, %s"
            % ('"%s" ' % name if name else "", qualname, why, ", ".join(SUPPORTED)))


def spec_for(layer: Any, index: int = -1) -> Spec:
    """The table entry for a layer, or ImporterError naming the layer, its class and what is
    supported."""
    cls = graph.layer_class(layer)
    name = attr(layer, "name", None)
    if cls.custom:
        raise ImporterError(unsupported_message(
            name, cls.qualname, ", a subclass of lasagne.layers.%s that overrides %s()"
            % (cls.name, cls.custom)))
    if cls.name not in TRANSLATORS:
        raise ImporterError(unsupported_message(name, cls.qualname))
    spec = TRANSLATORS[cls.name]
    if spec.check is not None:
        spec.check(layer, index)
    return spec


def lasagne_output_shape(layer: Any, input_shape: Any) -> Shape:
    """get_output_shape_for of the stand-in classes (and of layers without their own)."""
    cls = graph.layer_class(layer)
    spec = TRANSLATORS.get(cls.name)
    if spec is None:
        return tuple(input_shape)
    shapes = list(input_shape) if spec.merge else [tuple(input_shape)]
    return spec.shape(layer, shapes)
