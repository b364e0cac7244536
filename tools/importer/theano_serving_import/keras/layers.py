"""One translator per Keras layer class, as the Theano backend computes it, and SUPPORTED: the
one table of classes this importer accepts.

Facts come from Keras' source at tags 1.2.2 and 2.0.8 (keras/backend/theano_backend.py,
keras/layers/{convolutional,pooling,normalization,core,advanced_activations,merge}.py,
keras/activations.py), with the 1.0-1.2 / 2.0-2.2 differences that change numbers noted where
they apply. Each translator takes the Context, the Layer (config + weights) and its input
Tensors, emits model.json layers and returns the output Tensor.

Config keys differ between Keras 1 and 2 (nb_filter/filters, border_mode/padding,
subsample/strides, dim_ordering 'th'|'tf' / data_format 'channels_first'|'channels_last',
bias/use_bias, output_dim/units); both are read here.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from theano_serving_import.errors import ImporterError
from theano_serving_import.keras.graph import Context, Layer, Tensor


# -- config helpers --------------------------------------------------------------------------

def _get(layer: Layer, *keys: str, default: Any = None) -> Any:
    for k in keys:
        if k in layer.config and layer.config[k] is not None:
            return layer.config[k]
    return default


def _pair(value: Any, layer: Layer, what: str) -> Tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    raise ImporterError("%s: %s = %r is not an int or a pair of ints" % (layer.what(), what,
                                                                         value))


def _channels_first(layer: Layer) -> bool:
    """Keras 1 dim_ordering 'th' / Keras 2 data_format 'channels_first' -> True."""
    fmt = _get(layer, "data_format", "dim_ordering")
    if fmt in ("channels_first", "th"):
        return True
    if fmt in ("channels_last", "tf"):
        return False
    raise ImporterError("%s: unknown data_format/dim_ordering %r (expected channels_first / "
                        "channels_last, or th / tf)" % (layer.what(), fmt))


def _image_input(layer: Layer, t: Tensor) -> Tuple[int, int, int]:
    if len(t.shape) != 3:
        raise ImporterError("%s: expects a 3-D image per item, got shape %s"
                            % (layer.what(), t.shape))
    if _channels_first(layer):
        return t.shape[0], t.shape[1], t.shape[2]
    return t.shape[2], t.shape[0], t.shape[1]


def _weights(layer: Layer, expected: Sequence[Tuple[str, Tuple[int, ...]]]) -> List[np.ndarray]:
    """The layer's saved arrays, checked against what the config implies."""
    got = layer.weights
    if len(got) != len(expected):
        raise ImporterError(
            "%s: %s has %d weight array(s) (%s) for this layer, the config expects %d (%s)"
            % (layer.what(), layer.weight_source, len(got),
               ", ".join(layer.weight_names) or "none", len(expected),
               ", ".join(label for label, _ in expected)))
    for (label, shape), arr, wname in zip(expected, got, layer.weight_names):
        if tuple(arr.shape) != tuple(shape):
            raise ImporterError("%s: %s has %s (%s) of shape %s, the config expects %s"
                                % (layer.what(), layer.weight_source, label, wname,
                                   tuple(arr.shape), tuple(shape)))
        if arr.dtype.kind != "f":
            raise ImporterError("%s: %s has %s (%s) of dtype %s; Keras weights are floats"
                                % (layer.what(), layer.weight_source, label, wname, arr.dtype))
    return list(got)


def _positive(size: int, layer: Layer, what: str) -> int:
    if size <= 0:
        raise ImporterError("%s: %s gives an output size of %d" % (layer.what(), what, size))
    return size


# -- activations (keras/activations.py) ------------------------------------------------------

# Keras activation name -> the Theano op the backend calls (K.relu = T.nnet.relu(x, 0),
# K.elu = T.nnet.elu(x, 1.0), selu = scale * elu(x, alpha) = T.nnet.selu,
# K.hard_sigmoid = T.nnet.hard_sigmoid, K.softsign = T.nnet.softsign, ...). `relu6` is
# keras.applications.mobilenet.relu6 (Keras 2.0.6-2.1.x MobileNet files name it as their
# activation): K.relu(x, max_value=6).
ACTIVATIONS = {"linear": None, "relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid",
               "hard_sigmoid": "hard_sigmoid", "softplus": "softplus",
               "softsign": "softsign", "elu": "elu", "selu": "selu", "softmax": "softmax",
               "relu6": "relu6"}


def activation(ctx: Context, t: Tensor, name: Any, layer: Layer,
               out_name: Optional[str] = None) -> Tensor:
    if name is None or name == "linear":
        return t
    if isinstance(name, dict):   # a serialized custom activation
        name = name.get("class_name") or name
    if name not in ACTIVATIONS:
        raise ImporterError("%s: unsupported activation %r; supported: %s"
                            % (layer.what(), name, ", ".join(sorted(ACTIVATIONS))))
    op = ACTIVATIONS[name]
    out_name = out_name or "%s/%s" % (layer.name, name)
    if op == "softmax":
        return softmax(ctx, t, -1, layer, out_name)
    if op == "relu6":
        return k_relu(ctx, t, 0.0, 6.0, out_name)
    return ctx.elementwise(t, op, None, name=out_name)


def softmax(ctx: Context, t: Tensor, axis: int, layer: Layer, out_name: str) -> Tensor:
    """keras/activations.py softmax(x, axis=-1): a (batch, classes) tensor -> K.softmax
    (T.nnet.softmax, whatever the axis). Higher ranks (Keras 2: any, over `axis`; Keras 1:
    rank 3 only, over the last axis; Keras raised for the others):
    e = K.exp(x - K.max(x, axis, keepdims=True)); e / K.sum(e, axis, keepdims=True), plain
    element-wise Theano ops (Theano's softmax rewrite only takes matrices). MobileNet ends
    with Activation('softmax') on its (1, 1, classes) conv output."""
    ndim = t.ndim
    if ndim == 2:
        return Tensor(t.shape, name=ctx.emit("softmax", None, [ctx.value(t)], name=out_name))
    if ndim < 2 or (ctx.major == 1 and ndim != 3):
        raise ImporterError("%s: Keras %d cannot apply softmax to a tensor of rank %d (item "
                            "shape %s)" % (layer.what(), ctx.major, ndim, t.shape))
    if not -ndim <= axis < ndim or axis % ndim == 0:
        raise ImporterError("%s: softmax over axis %d of a rank-%d tensor (the batch axis or "
                            "out of range)" % (layer.what(), axis, ndim))
    ax = [axis % ndim]
    src = ctx.value(t)
    mx = ctx.emit("max", {"axis": ax, "keepdims": True}, [src], name=out_name + "/max")
    d = ctx.emit("sub", None, [src, mx], name=out_name + "/sub")
    e = ctx.emit("exp", None, [d], name=out_name + "/exp")
    s = ctx.emit("sum", {"axis": ax, "keepdims": True}, [e], name=out_name + "/sum")
    return Tensor(t.shape, name=ctx.emit("true_div", None, [e, s], name=out_name))


def k_relu(ctx: Context, t: Tensor, alpha: float, max_value: Optional[float],
           name: str) -> Tensor:
    """K.relu(x, alpha, max_value) of the Theano backend. Up to Keras 2.2.2:
    T.nnet.relu(x, alpha), then T.minimum(x, max_value). From 2.2.3 (which added `threshold`):
    x' = T.nnet.relu(x); T.clip(x', 0, max_value); x' - alpha * T.nnet.relu(-x) -- the same
    values up to rounding in the last bit, and computed as that version did."""
    if ctx.version >= (2, 2, 3):
        out = ctx.elementwise(t, "relu", None, name=name if not (alpha or max_value is not None)
                              else name + "/relu")
        if max_value is not None:
            out = ctx.elementwise(out, "clip", {"min": 0.0, "max": float(max_value)},
                                  name=name if not alpha else name + "/clip")
        if alpha:
            neg = ctx.elementwise(t, "neg", None, name=name + "/neg")
            neg = ctx.elementwise(neg, "relu", None, name=name + "/negative_part")
            neg = ctx.elementwise(neg, "mul", {"operands": [float(alpha), "input:0"]},
                                  name=name + "/alpha")
            lazy = out.nchw is not None and neg.nchw is not None
            srcs = [out.nchw, neg.nchw] if lazy else [ctx.value(out), ctx.value(neg)]
            res = ctx.emit("sub", None, srcs, name=name)
            out = Tensor(t.shape, nchw=res) if lazy else Tensor(t.shape, name=res)
        return out
    out = ctx.elementwise(t, "relu", {"alpha": float(alpha)} if alpha else None,
                          name=name if max_value is None else name + "/relu")
    if max_value is not None:
        out = ctx.elementwise(out, "minimum", {"operands": ["input:0", float(max_value)]},
                              name=name)
    return out


# -- convolution -----------------------------------------------------------------------------

def _conv_geometry(ctx: Context, layer: Layer, n: int, k: int, s: int, d: int, mode: str,
                   axis_name: str) -> Tuple[int, List[int]]:
    """Output size and the [before, after] padding of one axis.

    'same' is Theano's 'half' (dk // 2 zeros on both sides), and for an even kernel Keras
    crops the result to its first ceil(n / s) rows / columns
    (theano_backend._postprocess_conv2d_output). The crop is folded into the padding: the
    same top padding and just enough bottom padding for ceil(n / s) outputs. Each kept output
    reads the same taps in the same order as in Theano's padded-then-cropped result; the
    cropped ones are never computed.
    """
    dk = (k - 1) * d + 1
    pad = {"valid": 0, "same": dk // 2, "full": dk - 1}[mode]
    before, after = pad, pad
    out = (n + 2 * pad - dk) // s + 1
    if mode == "same" and k % 2 == 0:
        target = (n + s - 1) // s
        if target < out:
            after = 0
            while (n + before + after - dk) // s + 1 < target:
                after += 1
            out = target
    _positive(out, layer, "input %d, kernel %d, stride %d, dilation %d, padding %r on the %s"
              % (n, k, s, d, mode, axis_name))
    return out, [before, after]


def conv2d(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """Convolution2D / AtrousConvolution2D (Keras 1), Conv2D (Keras 2).

    Theano backend conv2d: dimshuffle channels_last inputs to NCHW; kernel to
    (out, in, rows, cols) (Keras 2 stores (rows, cols, in, out) always; Keras 1 'th' stores
    (out, in, rows, cols), 'tf' (rows, cols, in, out)); T.nnet.conv2d with border_mode
    'valid' | 'half' (for 'same') | 'full', subsample = strides, filter_dilation, and Theano's
    default filter_flip=True (a true convolution; the kernel is not flipped when saved); for
    'same' with an even kernel, crop to the first ceil(n / stride) rows / columns (emitted as
    the equivalent [[top, bottom], [left, right]] border_mode, _conv_geometry); dimshuffle
    back; then `+ b` (reshaped to broadcast over the channel axis) and the activation.
    """
    (x,) = inputs
    c, h, w = _image_input(layer, x)
    first = _channels_first(layer)
    if ctx.major == 1:
        filters = int(_get(layer, "nb_filter"))
        kh, kw = int(_get(layer, "nb_row")), int(_get(layer, "nb_col"))
        mode = _get(layer, "border_mode", default="valid")
        strides = _pair(_get(layer, "subsample", default=(1, 1)), layer, "subsample")
        dilation = _pair(_get(layer, "atrous_rate", default=(1, 1)), layer, "atrous_rate")
        use_bias = bool(_get(layer, "bias", default=True))
        kernel_shape = (filters, c, kh, kw) if first else (kh, kw, c, filters)
    else:
        filters = int(_get(layer, "filters"))
        kh, kw = _pair(_get(layer, "kernel_size"), layer, "kernel_size")
        mode = _get(layer, "padding", default="valid")
        strides = _pair(_get(layer, "strides", default=(1, 1)), layer, "strides")
        dilation = _pair(_get(layer, "dilation_rate", default=(1, 1)), layer, "dilation_rate")
        use_bias = bool(_get(layer, "use_bias", default=True))
        kernel_shape = (kh, kw, c, filters)
    if mode not in ("valid", "same", "full"):
        raise ImporterError("%s: padding %r is not supported (valid, same, full)"
                            % (layer.what(), mode))
    if min(strides) < 1 or min(dilation) < 1:
        raise ImporterError("%s: strides %s / dilation %s must be >= 1"
                            % (layer.what(), strides, dilation))
    expected = [("kernel", kernel_shape)] + ([("bias", (filters,))] if use_bias else [])
    arrays = _weights(layer, expected)
    kernel = arrays[0]
    if not (ctx.major == 1 and first):
        kernel = np.transpose(kernel, (3, 2, 0, 1))   # -> (out, in, rows, cols)
    oh, pad_h = _conv_geometry(ctx, layer, h, kh, strides[0], dilation[0], mode, "rows")
    ow, pad_w = _conv_geometry(ctx, layer, w, kw, strides[1], dilation[1], mode, "columns")
    if pad_h[0] != pad_h[1] or pad_w[0] != pad_w[1]:
        border = [pad_h, pad_w]       # 'same' with an even kernel: half + Keras' crop
    else:
        border = {"valid": "valid", "same": "half", "full": "full"}[mode]
    if ctx.backend != "theano" and mode == "same" and (
            kh % 2 == 0 or kw % 2 == 0 or max(strides) > 1):
        ctx.tf_geometry_layers.append(layer.name)

    src = ctx.value(x) if first else ctx.nchw(x)
    wname = ctx.param(layer.name + ".kernel", kernel)
    out = ctx.emit("conv2d", {"border_mode": border, "subsample": list(strides),
                              "filter_flip": ctx.filter_flip,
                              "filter_dilation": list(dilation)}, [src], [wname],
                   name=layer.name)
    if use_bias:
        bname = ctx.param(layer.name + ".bias", arrays[1])
        out = ctx.emit("bias_add", {"axis": 1}, [out], [bname], name=layer.name + "/bias")
    t = Tensor((filters, oh, ow), name=out) if first else Tensor((oh, ow, filters), nchw=out)
    return activation(ctx, t, _get(layer, "activation"), layer)


def separable_conv2d(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """SeparableConv2D (Keras 2.1.5+ on Theano; earlier Theano backends raise
    NotImplementedError, so no Theano-trained model of that kind exists).

    theano_backend.separable_conv2d (2.2): depthwise kernel (rows, cols, in, mult) ->
    `kernel[::-1, ::-1]` (pre-flipped: with Theano's flip the depthwise step is a
    cross-correlation, as in TensorFlow) -> dimshuffle (2, 3, 0, 1) -> reshape (in * mult, 1,
    rows, cols); conv2d with num_groups = in, the layer's padding/strides/dilation; pointwise
    kernel (1, 1, in*mult, out) -> (out, in*mult, 1, 1), conv2d with the same border mode;
    the 'same' crop uses the pointwise kernel's (odd) size, i.e. never crops; + bias; act.
    """
    (x,) = inputs
    if ctx.version < (2, 1, 5) and ctx.backend == "theano":
        raise ImporterError("%s: Keras %s's Theano backend has no separable_conv2d (it came "
                            "with 2.1.5), so this file cannot come from it; if it was trained "
                            "with TensorFlow, give --backend tensorflow"
                            % (layer.what(), ".".join(map(str, ctx.version))))
    c, h, w = _image_input(layer, x)
    first = _channels_first(layer)
    filters = int(_get(layer, "filters"))
    kh, kw = _pair(_get(layer, "kernel_size"), layer, "kernel_size")
    mode = _get(layer, "padding", default="valid")
    strides = _pair(_get(layer, "strides", default=(1, 1)), layer, "strides")
    dilation = _pair(_get(layer, "dilation_rate", default=(1, 1)), layer, "dilation_rate")
    mult = int(_get(layer, "depth_multiplier", default=1))
    use_bias = bool(_get(layer, "use_bias", default=True))
    if mode not in ("valid", "same"):
        raise ImporterError("%s: padding %r is not supported (valid, same)"
                            % (layer.what(), mode))
    expected = [("depthwise_kernel", (kh, kw, c, mult)),
                ("pointwise_kernel", (1, 1, c * mult, filters))]
    if use_bias:
        expected.append(("bias", (filters,)))
    arrays = _weights(layer, expected)
    dw = arrays[0]
    if ctx.backend == "theano":
        dw = dw[::-1, ::-1, :, :]
    dw = np.transpose(dw, (2, 3, 0, 1)).reshape(c * mult, 1, kh, kw)
    pw = np.transpose(arrays[1], (3, 2, 0, 1))
    # Theano's 'half' pads the depthwise conv; the pointwise 1x1 conv with 'half' pads 0, and
    # the crop looks at the pointwise kernel (1x1): an even depthwise kernel is not cropped.
    sizes = []
    for n, k, st, dil, axis in ((h, kh, strides[0], dilation[0], "rows"),
                                (w, kw, strides[1], dilation[1], "columns")):
        dk = (k - 1) * dil + 1
        pad = dk // 2 if mode == "same" else 0
        sizes.append(_positive((n + 2 * pad - dk) // st + 1, layer,
                               "input %d, kernel %d, stride %d, dilation %d, padding %r on "
                               "the %s" % (n, k, st, dil, mode, axis)))
    oh, ow = sizes
    if ctx.backend != "theano" and mode == "same" and (
            kh % 2 == 0 or kw % 2 == 0 or max(strides) > 1):
        ctx.tf_geometry_layers.append(layer.name)
    src = ctx.value(x) if first else ctx.nchw(x)
    border = {"valid": "valid", "same": "half"}[mode]
    out = ctx.emit("conv2d", {"border_mode": border, "subsample": list(strides),
                              "filter_flip": ctx.filter_flip,
                              "filter_dilation": list(dilation), "num_groups": c},
                   [src], [ctx.param(layer.name + ".depthwise_kernel", dw)],
                   name=layer.name + "/depthwise")
    out = ctx.emit("conv2d", {"border_mode": border, "subsample": [1, 1],
                              "filter_flip": ctx.filter_flip,
                              "filter_dilation": list(dilation)},
                   [out], [ctx.param(layer.name + ".pointwise_kernel", pw)], name=layer.name)
    if use_bias:
        out = ctx.emit("bias_add", {"axis": 1}, [out],
                       [ctx.param(layer.name + ".bias", arrays[2])], name=layer.name + "/bias")
    t = Tensor((filters, oh, ow), name=out) if first else Tensor((oh, ow, filters), nchw=out)
    return activation(ctx, t, _get(layer, "activation"), layer)


def depthwise_conv2d(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """DepthwiseConv2D (Keras 2.1.5+, when the Theano backend gained depthwise_conv2d).

    theano_backend.depthwise_conv2d (2.2): the kernel (rows, cols, in, mult) is pre-flipped
    (`kernel[::-1, ::-1]`: with Theano's flip the step is a cross-correlation), dimshuffled
    (2, 3, 0, 1) and reshaped to (in * mult, 1, rows, cols); conv2d with num_groups = in; the
    'same' crop looks at that kernel's (rows, cols), as for Conv2D; + bias; activation.
    """
    (x,) = inputs
    if ctx.version < (2, 1, 5) and ctx.backend == "theano":
        raise ImporterError("%s: Keras %s's Theano backend has no depthwise_conv2d (it came "
                            "with 2.1.5), so this file cannot come from it; if it was trained "
                            "with TensorFlow, give --backend tensorflow"
                            % (layer.what(), ".".join(map(str, ctx.version))))
    c, h, w = _image_input(layer, x)
    first = _channels_first(layer)
    kh, kw = _pair(_get(layer, "kernel_size"), layer, "kernel_size")
    mode = _get(layer, "padding", default="valid")
    strides = _pair(_get(layer, "strides", default=(1, 1)), layer, "strides")
    dilation = _pair(_get(layer, "dilation_rate", default=(1, 1)), layer, "dilation_rate")
    mult = int(_get(layer, "depth_multiplier", default=1))
    use_bias = bool(_get(layer, "use_bias", default=True))
    if mode not in ("valid", "same"):
        raise ImporterError("%s: padding %r is not supported (valid, same)"
                            % (layer.what(), mode))
    expected = [("depthwise_kernel", (kh, kw, c, mult))]
    if use_bias:
        expected.append(("bias", (c * mult,)))
    arrays = _weights(layer, expected)
    dw = arrays[0]
    if ctx.backend == "theano":
        dw = dw[::-1, ::-1, :, :]
    dw = np.transpose(dw, (2, 3, 0, 1)).reshape(c * mult, 1, kh, kw)
    oh, pad_h = _conv_geometry(ctx, layer, h, kh, strides[0], dilation[0], mode, "rows")
    ow, pad_w = _conv_geometry(ctx, layer, w, kw, strides[1], dilation[1], mode, "columns")
    if pad_h[0] != pad_h[1] or pad_w[0] != pad_w[1]:
        border = [pad_h, pad_w]
    else:
        border = {"valid": "valid", "same": "half"}[mode]
    if ctx.backend != "theano" and mode == "same" and (
            kh % 2 == 0 or kw % 2 == 0 or max(strides) > 1):
        ctx.tf_geometry_layers.append(layer.name)
    src = ctx.value(x) if first else ctx.nchw(x)
    out = ctx.emit("conv2d", {"border_mode": border, "subsample": list(strides),
                              "filter_flip": ctx.filter_flip,
                              "filter_dilation": list(dilation), "num_groups": c},
                   [src], [ctx.param(layer.name + ".depthwise_kernel", dw)], name=layer.name)
    if use_bias:
        out = ctx.emit("bias_add", {"axis": 1}, [out],
                       [ctx.param(layer.name + ".bias", arrays[1])], name=layer.name + "/bias")
    n_out = c * mult
    t = Tensor((n_out, oh, ow), name=out) if first else Tensor((oh, ow, n_out), nchw=out)
    return activation(ctx, t, _get(layer, "activation"), layer)


# -- pooling ---------------------------------------------------------------------------------

def _pool(ctx: Context, layer: Layer, inputs: List[Tensor], kind: str) -> Tensor:
    """MaxPooling2D / AveragePooling2D: theano_backend.pool2d.

    pool.pool_2d(ws=pool_size, stride=strides, ignore_border=True, pad=p, mode), where for
    'same' p = pool_size - 2 for odd sizes > 2, else pool_size - 1 (both sides), then the
    output is cropped to the first ceil(n / stride) rows / columns; 'valid': p = 0.
    mode: 'max'; average: 'average_exc_pad' (Keras 1.x, 'valid' in 2.x, and 'same' from
    2.1.5, PR #9479), 'average_inc_pad' for 'same' in Keras 2.0.0 - 2.1.4 (PR #5528).
    """
    (x,) = inputs
    c, h, w = _image_input(layer, x)
    first = _channels_first(layer)
    ws = _pair(_get(layer, "pool_size", default=(2, 2)), layer, "pool_size")
    strides = _pair(_get(layer, "strides", default=ws), layer, "strides")
    mode = _get(layer, "padding", "border_mode", default="valid")
    if mode not in ("valid", "same"):
        raise ImporterError("%s: padding %r is not supported (valid, same)"
                            % (layer.what(), mode))
    if min(ws) < 1 or min(strides) < 1:
        raise ImporterError("%s: pool_size %s / strides %s must be >= 1"
                            % (layer.what(), ws, strides))
    if mode == "same":
        pad = tuple(k - 2 if (k > 2 and k % 2 == 1) else k - 1 for k in ws)
    else:
        pad = (0, 0)
    if kind == "max":
        theano_mode = "max"
    elif mode == "same" and ctx.major == 2 and ctx.version < (2, 1, 5):
        theano_mode = "average_inc_pad"
    else:
        theano_mode = "average_exc_pad"
    sizes = []
    crops = []
    for n, k, s, p, axis in ((h, ws[0], strides[0], pad[0], "rows"),
                             (w, ws[1], strides[1], pad[1], "columns")):
        out = (n + 2 * p - k) // s + 1
        crop = None
        if mode == "same":
            target = (n + s - 1) // s
            if target < out:
                crop = target
        size = crop if crop is not None else out
        _positive(size, layer, "input %d, pool_size %d, stride %d, padding %r on the %s"
                  % (n, k, s, mode, axis))
        sizes.append(size)
        crops.append(crop)
    if ctx.backend != "theano" and mode == "same":
        ctx.tf_geometry_layers.append(layer.name)
    src = ctx.value(x) if first else ctx.nchw(x)
    out = ctx.emit("pool_2d", {"ws": list(ws), "stride": list(strides), "pad": list(pad),
                               "ignore_border": True, "mode": theano_mode},
                   [src], name=layer.name)
    if crops[0] is not None:
        out = ctx.emit("subtensor", {"axis": 2, "start": None, "stop": crops[0]}, [out],
                       name=layer.name + "/same_crop_rows")
    if crops[1] is not None:
        out = ctx.emit("subtensor", {"axis": 3, "start": None, "stop": crops[1]}, [out],
                       name=layer.name + "/same_crop_cols")
    oh, ow = sizes
    return Tensor((c, oh, ow), name=out) if first else Tensor((oh, ow, c), nchw=out)


def max_pooling2d(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    return _pool(ctx, layer, inputs, "max")


def average_pooling2d(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    return _pool(ctx, layer, inputs, "avg")


def _global_pool(ctx: Context, layer: Layer, inputs: List[Tensor], op: str) -> Tensor:
    """GlobalAveragePooling2D / GlobalMaxPooling2D: K.mean / K.max over axes (2, 3)
    (channels_first) or (1, 2) (channels_last), i.e. T.mean / T.max."""
    (x,) = inputs
    c, _, _ = _image_input(layer, x)
    axes = [2, 3] if _channels_first(layer) else [1, 2]
    out = ctx.emit(op, {"axis": axes, "keepdims": False}, [ctx.value(x)], name=layer.name)
    return Tensor((c,), name=out)


def global_average_pooling2d(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    return _global_pool(ctx, layer, inputs, "mean")


def global_max_pooling2d(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    return _global_pool(ctx, layer, inputs, "max")


def up_sampling2d(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """UpSampling2D(size=(2, 2)) (Keras 1 and 2): K.resize_images = repeat_elements along the
    rows, then the columns (T.repeat): every value copied a x b times. Written exactly as
    reshape (N, C, H, 1, W, 1), a multiplication by ones of shape (1, a, 1, b), reshape
    (N, C, H*a, W*b) (as Lasagne's Upscale2DLayer). Keras 2.2.3+'s interpolation='bilinear'
    is refused."""
    (x,) = inputs
    interpolation = _get(layer, "interpolation", default="nearest")
    if interpolation != "nearest":
        raise ImporterError("%s: interpolation %r is not supported (only 'nearest', the "
                            "repeat of every value)" % (layer.what(), interpolation))
    c, h, w = _image_input(layer, x)
    first = _channels_first(layer)
    a, b = _pair(_get(layer, "size", default=(2, 2)), layer, "size")
    if a < 1 or b < 1:
        raise ImporterError("%s: size %s must be >= 1" % (layer.what(), (a, b)))
    src = ctx.value(x) if first else ctx.nchw(x)
    split = ctx.emit("reshape", {"shape": [[0], c, h, 1, w, 1]}, [src],
                     name=layer.name + "/split")
    ones = ctx.param(layer.name + ".ones", np.ones((1, a, 1, b)))
    rep = ctx.emit("mul", None, [split], [ones], name=layer.name + "/repeat")
    out = ctx.emit("reshape", {"shape": [[0], c, h * a, w * b]}, [rep], name=layer.name)
    return Tensor((c, h * a, w * b), name=out) if first else Tensor((h * a, w * b, c), nchw=out)


# -- normalization ---------------------------------------------------------------------------

def batch_normalization(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """BatchNormalization at inference.

    Keras 1 (mode 0): weights gamma, beta, running_mean, running_std, and `running_std` holds
    a VARIANCE: normalize_batch_in_training returns `T.inv(stdinv ** 2)` (1.2) / `x.var()`
    (1.0) and the moving average of that is stored under that name; inference calls
    K.batch_normalization(x, running_mean, running_std, beta, gamma, epsilon).
    Keras 2: [gamma if scale] [beta if center] moving_mean, moving_variance; missing gamma /
    beta are ones / zeros (K.batch_normalization).
    K.batch_normalization on Theano >= 0.9: T.nnet.bn.batch_normalization_test(x, gamma, beta,
    mean, var, axes = every axis but `axis`, epsilon), which refuses epsilon < 1e-5 in floatX
    (ValueError). Such a model only ran on older Theano, through the backend's fallback
    T.nnet.bn.batch_normalization(x, gamma, beta, mean, sqrt(var + epsilon)) =
    (x - mean) / std * gamma + beta, which is what is emitted for it (with a note).
    """
    (x,) = inputs
    ndim = x.ndim
    axis = int(_get(layer, "axis", default=-1))
    if not -ndim <= axis < ndim or axis % ndim == 0:
        raise ImporterError("%s: axis %d is not a feature axis of a rank-%d input"
                            % (layer.what(), axis, ndim))
    axis %= ndim
    n = x.shape[axis - 1]
    epsilon = float(_get(layer, "epsilon", default=1e-3))
    if ctx.major == 1:
        mode = int(_get(layer, "mode", default=0))
        if mode != 0:
            raise ImporterError(
                "%s: mode %d is not supported (only mode 0, feature-wise with the running "
                "statistics at test time; mode 1 normalizes each sample by its own "
                "statistics, mode 2 uses the batch's statistics at test time)"
                % (layer.what(), mode))
        gamma, beta, mean, var = _weights(layer, [("gamma", (n,)), ("beta", (n,)),
                                                  ("running_mean", (n,)),
                                                  ("running_std (a variance)", (n,))])
    else:
        scale = bool(_get(layer, "scale", default=True))
        center = bool(_get(layer, "center", default=True))
        expected = ([("gamma", (n,))] if scale else []) + (
            [("beta", (n,))] if center else []) + [("moving_mean", (n,)),
                                                    ("moving_variance", (n,))]
        arrays = _weights(layer, expected)
        gamma = arrays.pop(0) if scale else None
        beta = arrays.pop(0) if center else None
        mean, var = arrays

    # Work on the NCHW transpose when the feature axis is a channels_last image's channel.
    use_nchw = x.nchw is not None and ndim == 4 and axis == 3
    rank_axis = 1 if use_nchw else axis
    src = x.nchw if use_nchw else ctx.value(x)
    bshape = [1] * (ndim - 1)
    bshape[rank_axis - 1] = n
    reduce_axes = [a for a in range(ndim) if a != rank_axis]

    if np.dtype(ctx.dtype).type(epsilon) >= 1e-5:
        ones = np.ones((n,)) if gamma is None else gamma
        zeros = np.zeros((n,)) if beta is None else beta
        names = [ctx.param("%s.%s" % (layer.name, label), np.reshape(a, [1] + bshape))
                 for label, a in (("gamma", ones), ("beta", zeros), ("mean", mean),
                                  ("variance", var))]
        out = ctx.emit("batch_normalization_test", {"axes": reduce_axes, "epsilon": epsilon},
                       [src], names, name=layer.name)
    else:
        ctx.builder.note(
            '%s: epsilon %g is below the 1e-5 that Theano >= 0.9 batch_normalization_test '
            'accepts (Keras fails on Theano 1.0 with this model); imported as the backend\'s '
            'pre-0.9 formula (x - mean) / sqrt(var + epsilon) * gamma + beta'
            % (layer.what(), epsilon))
        dt = np.dtype(ctx.dtype).type
        std = np.sqrt(np.asarray(var, dtype=ctx.dtype) + dt(epsilon))
        out = ctx.emit("sub", {"operands": ["input:0", "param:0"]}, [src],
                       [ctx.param(layer.name + ".mean", np.reshape(mean, bshape))],
                       name=layer.name + "/center")
        out = ctx.emit("true_div", {"operands": ["input:0", "param:0"]}, [out],
                       [ctx.param(layer.name + ".std", np.reshape(std, bshape))],
                       name=layer.name + "/normalize")
        if gamma is not None:
            out = ctx.emit("mul", {"operands": ["input:0", "param:0"]}, [out],
                           [ctx.param(layer.name + ".gamma", np.reshape(gamma, bshape))],
                           name=layer.name + "/scale")
        if beta is not None:
            out = ctx.emit("add", {"operands": ["input:0", "param:0"]}, [out],
                           [ctx.param(layer.name + ".beta", np.reshape(beta, bshape))],
                           name=layer.name)
    return Tensor(x.shape, nchw=out) if use_nchw else Tensor(x.shape, name=out)


# -- core ------------------------------------------------------------------------------------

def dense(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """Dense: K.dot(x, W) (T.dot) + b, then the activation. W is (n_in, n_out) in both
    versions. Only (batch, features) inputs (Keras 2 would tensordot a higher-rank input)."""
    (x,) = inputs
    if len(x.shape) != 1:
        raise ImporterError("%s: input of item shape %s; only (batch, features) inputs are "
                            "supported (add a Flatten)" % (layer.what(), x.shape))
    units = int(_get(layer, "output_dim" if ctx.major == 1 else "units"))
    use_bias = bool(_get(layer, "bias" if ctx.major == 1 else "use_bias", default=True))
    expected = [("kernel", (x.shape[0], units))] + ([("bias", (units,))] if use_bias else [])
    arrays = _weights(layer, expected)
    params = [ctx.param(layer.name + ".kernel", arrays[0])]
    if use_bias:
        params.append(ctx.param(layer.name + ".bias", arrays[1]))
    out = ctx.emit("dense", None, [ctx.value(x)], params, name=layer.name)
    return activation(ctx, Tensor((units,), name=out), _get(layer, "activation"), layer)


def flatten(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """Flatten: K.batch_flatten = T.reshape(x, (N, prod(shape[1:]))), C order. Keras 2.2's
    Flatten(data_format='channels_first') first permutes the channel axis last."""
    (x,) = inputs
    src = ctx.value(x)
    shape = x.shape
    if layer.config.get("data_format") == "channels_first" and len(shape) > 1:
        pattern = [0] + list(range(2, len(shape) + 1)) + [1]
        src = ctx.emit("dimshuffle", {"pattern": pattern}, [src], name=layer.name + "/permute")
        shape = tuple(shape[1:]) + (shape[0],)
    size = int(np.prod(shape))
    if len(shape) == 1:
        return Tensor((size,), name=src)
    return Tensor((size,), name=ctx.emit("flatten", {"ndim": 2}, [src], name=layer.name))


def reshape(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """Reshape(target_shape): K.reshape(x, (N,) + target_shape) (T.reshape, C order; one -1
    allowed)."""
    (x,) = inputs
    target = [int(d) for d in _get(layer, "target_shape", "dims", default=[])]
    total = int(np.prod(x.shape))
    known = int(np.prod([d for d in target if d != -1])) if target else 1
    if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
        raise ImporterError("%s: target_shape %s is not valid" % (layer.what(), target))
    shape = [total // known if d == -1 else d for d in target] if known else target
    if int(np.prod(shape)) != total:
        raise ImporterError("%s: cannot reshape an item of shape %s (%d values) to %s"
                            % (layer.what(), x.shape, total, tuple(target)))
    out = ctx.emit("reshape", {"shape": [[0]] + target}, [ctx.value(x)], name=layer.name)
    return Tensor(shape, name=out)


def permute(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """Permute(dims): K.permute_dimensions(x, (0,) + dims) = dimshuffle (dims are 1-based)."""
    (x,) = inputs
    dims = [int(d) for d in _get(layer, "dims", default=[])]
    if sorted(dims) != list(range(1, len(x.shape) + 1)):
        raise ImporterError("%s: dims %s is not a permutation of 1..%d"
                            % (layer.what(), dims, len(x.shape)))
    out = ctx.emit("dimshuffle", {"pattern": [0] + dims}, [ctx.value(x)], name=layer.name)
    return Tensor([x.shape[d - 1] for d in dims], name=out)


def identity(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """Dropout and the other layers that only act while training (K.in_train_phase)."""
    (x,) = inputs
    return x


def activation_layer(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    (x,) = inputs
    return activation(ctx, x, _get(layer, "activation"), layer, out_name=layer.name)


def leaky_relu(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """LeakyReLU(alpha=0.3): K.relu(x, alpha) (k_relu: T.nnet.relu(x, alpha) up to Keras
    2.2.2)."""
    (x,) = inputs
    return k_relu(ctx, x, float(_get(layer, "alpha", default=0.3)), None, layer.name)


def elu_layer(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """ELU(alpha=1.0): K.elu(x, alpha) = T.nnet.elu(x, alpha)."""
    (x,) = inputs
    return ctx.elementwise(x, "elu", {"alpha": float(_get(layer, "alpha", default=1.0))},
                           name=layer.name)


def relu_layer(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """ReLU(max_value) (Keras 2.2.0), ReLU(max_value, negative_slope, threshold) (2.2.3+):
    K.relu(x, alpha=negative_slope, max_value, threshold) (k_relu); a threshold other than 0
    (`x * T.cast(T.gt(x, threshold))`) is refused."""
    (x,) = inputs
    if float(_get(layer, "threshold", default=0.0)) != 0.0:
        raise ImporterError("%s: threshold %r is not supported (only 0)"
                            % (layer.what(), _get(layer, "threshold")))
    alpha = float(_get(layer, "negative_slope", default=0.0))
    max_value = _get(layer, "max_value")
    return k_relu(ctx, x, alpha, None if max_value is None else float(max_value), layer.name)


def softmax_layer(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """Softmax(axis=-1) (Keras 2.1.3+): activations.softmax(x, axis)."""
    (x,) = inputs
    return softmax(ctx, x, int(_get(layer, "axis", default=-1)), layer, layer.name)


def prelu(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """PReLU: Theano branch of Keras 1.2.2 / 2.0.8: pos = K.relu(x);
    neg = alpha * (x - abs(x)) * 0.5; return pos + neg. alpha has the item's shape with 1 on
    the shared axes (1-based, Keras 2 / 1.2 `shared_axes`)."""
    (x,) = inputs
    shape = list(x.shape)
    shared = _get(layer, "shared_axes", default=None)
    if isinstance(shared, int):
        shared = [shared]
    for a in shared or []:
        if not 1 <= int(a) <= len(shape):
            raise ImporterError("%s: shared_axes %s out of range" % (layer.what(), shared))
        shape[int(a) - 1] = 1
    (alpha,) = _weights(layer, [("alpha", tuple(shape))])
    src = ctx.value(x)
    pos = ctx.emit("relu", None, [src], name=layer.name + "/pos")
    absx = ctx.emit("abs", None, [src], name=layer.name + "/abs")
    diff = ctx.emit("sub", None, [src, absx], name=layer.name + "/x_minus_abs")
    neg = ctx.emit("mul", {"operands": ["param:0", "input:0"]}, [diff],
                   [ctx.param(layer.name + ".alpha", alpha)], name=layer.name + "/alpha")
    neg = ctx.emit("mul", {"operands": ["input:0", 0.5]}, [neg], name=layer.name + "/half")
    out = ctx.emit("add", None, [pos, neg], name=layer.name)
    return Tensor(x.shape, name=out)


def zero_padding2d(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """ZeroPadding2D: K.spatial_2d_padding / asymmetric_spatial_2d_padding = zeros +
    set_subtensor. Keras 1: padding (p_rows, p_cols) both sides, (top, bottom, left, right),
    or {top_pad, bottom_pad, left_pad, right_pad}; Keras 2: ((top, bottom), (left, right))."""
    (x,) = inputs
    p = _get(layer, "padding", default=(1, 1))
    if isinstance(p, dict):
        rows = (int(p.get("top_pad", 0)), int(p.get("bottom_pad", 0)))
        cols = (int(p.get("left_pad", 0)), int(p.get("right_pad", 0)))
    elif isinstance(p, int):
        rows = cols = (p, p)
    elif len(p) == 4 and all(isinstance(v, int) for v in p):
        rows, cols = (p[0], p[1]), (p[2], p[3])
    elif len(p) == 2 and all(isinstance(v, int) for v in p):
        rows, cols = (p[0], p[0]), (p[1], p[1])
    elif len(p) == 2:
        rows, cols = _pair(p[0], layer, "padding"), _pair(p[1], layer, "padding")
    else:
        raise ImporterError("%s: padding %r is not understood" % (layer.what(), p))
    if min(rows + cols) < 0:
        raise ImporterError("%s: negative padding %r" % (layer.what(), p))
    c, h, w = _image_input(layer, x)
    first = _channels_first(layer)
    oh, ow = h + sum(rows), w + sum(cols)
    if first:
        out = ctx.emit("pad", {"width": [list(rows), list(cols)]}, [ctx.value(x)],
                       name=layer.name)
        return Tensor((c, oh, ow), name=out)
    if x.nchw is not None:
        out = ctx.emit("pad", {"width": [list(rows), list(cols)]}, [x.nchw], name=layer.name)
        return Tensor((oh, ow, c), nchw=out)
    out = ctx.emit("pad", {"width": [list(rows), list(cols), [0, 0]]}, [ctx.value(x)],
                   name=layer.name)
    return Tensor((oh, ow, c), name=out)


def cropping2d(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """Cropping2D(cropping=((top, bottom), (left, right))): x[..., top:rows - bottom,
    left:cols - right] (Keras slices with -bottom, or to the end when bottom is 0)."""
    (x,) = inputs
    cr = _get(layer, "cropping", default=((0, 0), (0, 0)))
    if isinstance(cr, int):
        cr = ((cr, cr), (cr, cr))
    rows, cols = _pair(cr[0], layer, "cropping"), _pair(cr[1], layer, "cropping")
    c, h, w = _image_input(layer, x)
    first = _channels_first(layer)
    oh, ow = h - sum(rows), w - sum(cols)
    if min(rows + cols) < 0 or oh <= 0 or ow <= 0:
        raise ImporterError("%s: cropping %s of a %dx%d image leaves %dx%d"
                            % (layer.what(), (rows, cols), h, w, oh, ow))
    use_nchw = not first and x.nchw is not None
    out = x.nchw if use_nchw else ctx.value(x)
    row_axis, col_axis = (2, 3) if (first or use_nchw) else (1, 2)
    if rows != (0, 0):
        out = ctx.emit("subtensor", {"axis": row_axis, "start": rows[0], "stop": h - rows[1]},
                       [out], name=layer.name + ("/rows" if cols != (0, 0) else ""))
    if cols != (0, 0):
        out = ctx.emit("subtensor", {"axis": col_axis, "start": cols[0], "stop": w - cols[1]},
                       [out], name=layer.name)
    if first:
        return Tensor((c, oh, ow), name=out)
    return Tensor((oh, ow, c), nchw=out) if use_nchw else Tensor((oh, ow, c), name=out)


# -- merges ----------------------------------------------------------------------------------

def _same_shapes(layer: Layer, inputs: List[Tensor]) -> None:
    if len(inputs) < 2:
        raise ImporterError("%s: needs at least 2 inputs, got %d" % (layer.what(), len(inputs)))
    for t in inputs[1:]:
        if t.shape != inputs[0].shape:
            raise ImporterError("%s: input item shapes %s differ; merges of different shapes "
                                "(broadcasting) are not supported"
                                % (layer.what(), " and ".join(str(u.shape) for u in inputs)))


def _elementwise_merge(ctx: Context, layer: Layer, inputs: List[Tensor], op: str,
                       divide: bool = False) -> Tensor:
    """Keras folds left to right: out = x0; out = out (op) x_i ... (Add: +=, Multiply: *=,
    Maximum/Minimum: K.maximum/K.minimum), Average then divides by len(inputs)
    (`output / len(inputs)`: true_div by the constant), Subtract: x0 - x1."""
    _same_shapes(layer, inputs)
    lazy = all(t.nchw is not None for t in inputs) and len(inputs[0].shape) == 3
    srcs = [t.nchw if lazy else ctx.value(t) for t in inputs]
    name = layer.name + "/sum" if divide else layer.name
    out = ctx.emit(op, None, srcs, name=name)
    if divide:
        out = ctx.emit("true_div", {"operands": ["input:0", len(inputs)]}, [out],
                       name=layer.name)
    return Tensor(inputs[0].shape, nchw=out) if lazy else Tensor(inputs[0].shape, name=out)


def _concat(ctx: Context, layer: Layer, inputs: List[Tensor], axis: int) -> Tensor:
    """K.concatenate(inputs, axis) = T.concatenate (axis counts the batch axis)."""
    if len(inputs) < 2:
        raise ImporterError("%s: needs at least 2 inputs" % layer.what())
    ndim = inputs[0].ndim
    if any(t.ndim != ndim for t in inputs) or not -ndim <= axis < ndim or axis % ndim == 0:
        raise ImporterError("%s: cannot concatenate item shapes %s on axis %d"
                            % (layer.what(), [t.shape for t in inputs], axis))
    axis %= ndim
    for t in inputs[1:]:
        if [d for i, d in enumerate(t.shape) if i != axis - 1] != [
                d for i, d in enumerate(inputs[0].shape) if i != axis - 1]:
            raise ImporterError("%s: cannot concatenate item shapes %s on axis %d"
                                % (layer.what(), [u.shape for u in inputs], axis))
    shape = list(inputs[0].shape)
    shape[axis - 1] = sum(t.shape[axis - 1] for t in inputs)
    if ndim == 4 and axis == 3 and all(t.nchw is not None for t in inputs):
        out = ctx.emit("concatenate", {"axis": 1}, [t.nchw for t in inputs], name=layer.name)
        return Tensor(shape, nchw=out)
    out = ctx.emit("concatenate", {"axis": axis}, [ctx.value(t) for t in inputs],
                   name=layer.name)
    return Tensor(shape, name=out)


def add(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    return _elementwise_merge(ctx, layer, inputs, "add")


def multiply(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    return _elementwise_merge(ctx, layer, inputs, "mul")


def maximum(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    return _elementwise_merge(ctx, layer, inputs, "maximum")


def minimum(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    return _elementwise_merge(ctx, layer, inputs, "minimum")


def average(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    return _elementwise_merge(ctx, layer, inputs, "add", divide=True)


def subtract(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    if len(inputs) != 2:
        raise ImporterError("%s: needs exactly 2 inputs, got %d" % (layer.what(), len(inputs)))
    return _elementwise_merge(ctx, layer, inputs, "sub")


def concatenate(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    return _concat(ctx, layer, inputs, int(_get(layer, "axis", default=-1)))


MERGE_MODES = {"sum": add, "mul": multiply, "ave": average, "max": maximum}


def merge(ctx: Context, layer: Layer, inputs: List[Tensor]) -> Tensor:
    """Keras 1 Merge / merge(): mode 'sum' (s += x_i), 'mul' (s *= x_i), 'ave' (sum, then
    / len(inputs)), 'max' (K.maximum), 'concat' (concat_axis, default -1)."""
    mode = _get(layer, "mode", default="sum")
    if _get(layer, "mode_type", default="raw") != "raw" or not isinstance(mode, str):
        raise ImporterError("%s: a merge with a Python function as mode is not supported "
                            "(its code is not in the file)" % layer.what())
    if mode == "concat":
        return _concat(ctx, layer, inputs, int(_get(layer, "concat_axis", default=-1)))
    if mode not in MERGE_MODES:
        raise ImporterError("%s: merge mode %r is not supported; supported: %s"
                            % (layer.what(), mode, ", ".join(sorted(MERGE_MODES) +
                                                             ["concat"])))
    return MERGE_MODES[mode](ctx, layer, inputs)


# -- the table -------------------------------------------------------------------------------

def _bias_count(key: str) -> Callable[[Layer], int]:
    return lambda layer: 1 + int(bool(layer.config.get(key, True)))


def _bn_count(layer: Layer) -> int:
    if "mode" in layer.config or "running_std" in " ".join(layer.weight_names):
        return 4
    return (int(bool(layer.config.get("scale", True))) +
            int(bool(layer.config.get("center", True))) + 2)


def _none(layer: Layer) -> int:
    return 0


class Spec:
    def __init__(self, translate: Callable[[Context, Layer, List[Tensor]], Tensor],
                 n_weights: Callable[[Layer], int], keras: str) -> None:
        self.translate = translate
        self.n_weights = n_weights
        self.keras = keras  # which Keras versions have the class


# Class name -> translator; the one list of what is supported. Anything else is refused.
SUPPORTED: Dict[str, Spec] = {
    "Convolution2D": Spec(conv2d, _bias_count("bias"), "1"),
    "AtrousConvolution2D": Spec(conv2d, _bias_count("bias"), "1"),
    "Conv2D": Spec(conv2d, _bias_count("use_bias"), "2"),
    "SeparableConv2D": Spec(separable_conv2d, lambda l: 2 + int(bool(
        l.config.get("use_bias", True))), "2.1.5+"),
    "DepthwiseConv2D": Spec(depthwise_conv2d, lambda l: 1 + int(bool(
        l.config.get("use_bias", True))), "2.1.5+"),
    "MaxPooling2D": Spec(max_pooling2d, _none, "1, 2"),
    "AveragePooling2D": Spec(average_pooling2d, _none, "1, 2"),
    "GlobalAveragePooling2D": Spec(global_average_pooling2d, _none, "1, 2"),
    "GlobalMaxPooling2D": Spec(global_max_pooling2d, _none, "1, 2"),
    "BatchNormalization": Spec(batch_normalization, _bn_count, "1 (mode 0), 2"),
    "Dense": Spec(dense, lambda l: 1 + int(bool(l.config.get(
        "use_bias", l.config.get("bias", True)))), "1, 2"),
    "Flatten": Spec(flatten, _none, "1, 2"),
    "Reshape": Spec(reshape, _none, "1, 2"),
    "Permute": Spec(permute, _none, "1, 2"),
    "Activation": Spec(activation_layer, _none, "1, 2"),
    "LeakyReLU": Spec(leaky_relu, _none, "1, 2"),
    "ELU": Spec(elu_layer, _none, "1, 2"),
    "PReLU": Spec(prelu, lambda l: 1, "1, 2"),
    "ReLU": Spec(relu_layer, _none, "2.2"),
    "Softmax": Spec(softmax_layer, _none, "2.1.3+"),
    "ZeroPadding2D": Spec(zero_padding2d, _none, "1, 2"),
    "UpSampling2D": Spec(up_sampling2d, _none, "1, 2"),
    "Cropping2D": Spec(cropping2d, _none, "1, 2"),
    "Dropout": Spec(identity, _none, "1, 2"),
    "SpatialDropout2D": Spec(identity, _none, "1, 2"),
    "GaussianNoise": Spec(identity, _none, "1, 2"),
    "GaussianDropout": Spec(identity, _none, "1, 2"),
    "AlphaDropout": Spec(identity, _none, "2"),
    "ActivityRegularization": Spec(identity, _none, "1, 2"),
    "Merge": Spec(merge, _none, "1"),
    "Add": Spec(add, _none, "2"),
    "Multiply": Spec(multiply, _none, "2"),
    "Average": Spec(average, _none, "2"),
    "Maximum": Spec(maximum, _none, "2"),
    "Minimum": Spec(minimum, _none, "2"),
    "Subtract": Spec(subtract, _none, "2"),
    "Concatenate": Spec(concatenate, _none, "2"),
}


def supported_list() -> str:
    return ", ".join(sorted(SUPPORTED))
