"""Stand-ins for `lasagne`, `theano`, `theano.tensor` and nolearn's `NeuralNet`.

The user's network code runs unchanged against these modules (installed in sys.modules only
while it runs, see `installed()`). Each layer class takes Lasagne's constructor signature with
Lasagne's defaults and stores what Lasagne's `__init__` stores, under the same attribute names
and normalised the same way (`as_tuple`, 'valid' -> (0, 0), 'auto' axes, ...), read from
lasagne/layers/*.py (master). Nothing is computed: parameters are recorded with their name and
shape (values only when the code gives arrays), and `get_output` returns an inert expression.
Shapes are inferred by the same functions the translators use (layers.py), so a layer unpickled
from a whole pickled network (a safe_pickle.Record) is read the same way as one of these.

A layer class we cannot translate still exists under its Lasagne name, so that code importing it
runs, but constructing one raises ImporterError naming the layer and what is supported.
"""

import contextlib
import numbers
import sys
import types
from collections import OrderedDict
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np

from theano_serving_import.errors import ImporterError


class _Config:
    """What the running import decided before the user's code runs."""

    def __init__(self) -> None:
        self.floatX = "float32"
        # --input-shape: fills the None sizes of InputLayer shapes (batch axis excluded)
        self.input_shape: Optional[Sequence[int]] = None
        self.stubbed: List[str] = []  # third-party modules replaced by inert stubs
        # Pools whose code does not say ignore_border take Lasagne's pre-August-2015 default
        # (False) instead of True: set when only that makes the weights fit.
        self.old_pool_default = False


CONFIG = _Config()

int_types = (numbers.Integral, np.integer)


# ---------------------------------------------------------------------------------------------
# theano: inert expressions and shared variables
# ---------------------------------------------------------------------------------------------
class Symbolic:
    """An inert Theano expression: every operation on it gives another one. Lets code that
    builds training/prediction functions at import time run without computing anything."""

    def __init__(self, what: str = "expression") -> None:
        self._ts_what = what

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Symbolic()

    def __call__(self, *args: Any, **kwargs: Any) -> "Symbolic":
        return Symbolic()

    def __getitem__(self, key: Any) -> "Symbolic":
        return Symbolic()

    def __iter__(self):
        raise TypeError("a symbolic Theano expression is not iterable")

    def __repr__(self) -> str:
        return "<symbolic %s>" % self._ts_what

    def _op(self, *args: Any) -> "Symbolic":
        return Symbolic()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _op
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __pow__ = __rpow__ = _op
    __mod__ = __rmod__ = __neg__ = __pos__ = __abs__ = __lt__ = __le__ = __gt__ = __ge__ = _op
    __and__ = __rand__ = __or__ = __ror__ = __xor__ = __invert__ = _op


class SharedVariable(Symbolic):
    """theano.shared: a parameter. `value` is the array when the code gave one (an array, or
    set_value / set_all_param_values), else None (an initializer: Lasagne would draw random
    numbers; we only record the shape)."""

    def __init__(self, value: Optional[np.ndarray], name: Optional[str] = None,
                 shape: Optional[Sequence[int]] = None) -> None:
        super().__init__("shared variable")
        self.value = value
        self.name = name
        self._ts_shape = tuple(value.shape) if value is not None else tuple(shape or ())
        self.ndim = len(self._ts_shape)
        self.dtype = str(value.dtype) if value is not None else CONFIG.floatX

    def get_value(self, borrow: bool = False, **kwargs: Any) -> np.ndarray:
        if self.value is not None:
            return self.value
        return np.zeros(self._ts_shape, CONFIG.floatX)

    def set_value(self, value: Any, borrow: bool = False, **kwargs: Any) -> None:
        self.value = np.asarray(value)
        self._ts_shape = tuple(self.value.shape)

    def __repr__(self) -> str:
        return "<shared %s %s>" % (self.name, self._ts_shape)

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: Any) -> bool:  # type: ignore[override]
        return self is other


def shared(value: Any, name: Optional[str] = None, strict: bool = False,
           allow_downcast: Any = None, **kwargs: Any) -> SharedVariable:
    return SharedVariable(np.asarray(value), name)


def _theano_function(name: str, module: str = "theano.tensor"):
    """A named Theano function (T.maximum, T.nnet.relu, ...): recognisable by the translators
    (merge functions, pool functions, nonlinearities), inert when called."""

    def fn(*args: Any, **kwargs: Any) -> Any:
        if name == "inv" and args and isinstance(args[0], (np.ndarray, numbers.Number)):
            return 1.0 / np.asarray(args[0])
        return Symbolic(name)

    fn.__name__ = name
    fn.__qualname__ = name
    fn._ts_ref = (module, name)  # type: ignore[attr-defined]
    return fn


class _TheanoConfig:
    def __init__(self) -> None:
        self.device = "cpu"
        self.mode = "FAST_RUN"

    @property
    def floatX(self) -> str:
        return CONFIG.floatX

    @floatX.setter
    def floatX(self, value: str) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Symbolic("theano.config." + name)


# ---------------------------------------------------------------------------------------------
# lasagne.utils, lasagne.init
# ---------------------------------------------------------------------------------------------
def floatX(arr: Any) -> np.ndarray:
    return np.asarray(arr, dtype=CONFIG.floatX)


def as_tuple(x: Any, N: int, t: Any = None) -> tuple:
    """lasagne.utils.as_tuple."""
    try:
        X = tuple(x)
    except TypeError:
        X = (x,) * N
    if (t is not None) and not all(isinstance(v, t) for v in X):
        raise TypeError("expected a single value or an iterable of %s, got %r instead"
                        % ("int" if t is int_types else getattr(t, "__name__", t), x))
    if len(X) != N:
        raise ValueError("expected a single value or an iterable with length %d, got %r "
                         "instead" % (N, x))
    return X


def unique(lst: Sequence[Any]) -> List[Any]:
    seen = set()
    out = []
    for el in lst:
        if id(el) not in seen:
            seen.add(id(el))
            out.append(el)
    return out


def create_param(spec: Any, shape: Sequence[int], name: Optional[str] = None) -> Any:
    """lasagne.utils.create_param: an array becomes a shared variable of that value; a shared
    variable is used as is (named if it has no name); an initializer gives a parameter of the
    requested shape whose value the weights file provides."""
    shape = tuple(shape)
    for d in shape:
        # Theano (numpy) refuses a float size; in Python 2 code it is the mark of `/` that
        # Python 2 kept an integer (the code is then run again as Python 2: usercode)
        if not isinstance(d, int_types):
            raise TypeError("'%s' object cannot be interpreted as an integer (parameter %s "
                            "of shape %r)" % (type(d).__name__, name, shape))
    if any(d <= 0 for d in shape):
        raise ValueError("Cannot create param with a non-positive shape dimension. Tried to "
                         "create param with shape=%r, name=%r" % (shape, name))
    err_prefix = "cannot initialize parameter %s: " % name
    if isinstance(spec, numbers.Number) or (isinstance(spec, np.generic)
                                            and spec.dtype.kind in "biufc"):
        spec = np.asarray(spec)
    if isinstance(spec, np.ndarray):
        if spec.shape != shape:
            raise ValueError("%sarray has shape %s, required shape %s"
                             % (err_prefix, spec.shape, shape))
        spec = SharedVariable(spec)
    if isinstance(spec, SharedVariable):
        if spec.ndim != len(shape):
            raise ValueError("%svariable has %d dimensions, should be %d"
                             % (err_prefix, spec.ndim, len(shape)))
        if not spec.name:
            spec.name = name
        if spec.value is None and not spec._ts_shape:
            spec._ts_shape = shape
        return spec
    if isinstance(spec, Symbolic):
        raise ImporterError(
            "parameter %s is a Theano expression (for example tied weights such as "
            "other_layer.W.T); the importer takes parameters that are arrays, shared variables "
            "or initializers" % name)
    if callable(spec):
        return SharedVariable(None, name, shape)
    raise ValueError("%sexpected a numpy array, a Theano shared variable, or a callable, got %r"
                     % (err_prefix, spec))


class Initializer:
    """lasagne.init.*: never draws numbers (the weights file has the values)."""
    _ts_ref = ("lasagne.init", "Initializer")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def __call__(self, shape: Sequence[int]) -> np.ndarray:
        return self.sample(shape)

    def sample(self, shape: Sequence[int]) -> np.ndarray:
        return np.zeros(tuple(shape), CONFIG.floatX)


def _initializer(name: str) -> type:
    return type(name, (Initializer,), {"_ts_ref": ("lasagne.init", name)})


# ---------------------------------------------------------------------------------------------
# lasagne.nonlinearities
# ---------------------------------------------------------------------------------------------
def _lasagne_nonlinearity(name: str):
    def fn(x: Any) -> Any:
        return Symbolic(name)

    fn.__name__ = name
    fn.__qualname__ = name
    fn._ts_ref = ("lasagne.nonlinearities", name)  # type: ignore[attr-defined]
    return fn


sigmoid = _lasagne_nonlinearity("sigmoid")
softmax = _lasagne_nonlinearity("softmax")
tanh = _lasagne_nonlinearity("tanh")
rectify = _lasagne_nonlinearity("rectify")
elu = _lasagne_nonlinearity("elu")
softplus = _lasagne_nonlinearity("softplus")
linear = _lasagne_nonlinearity("linear")
identity = linear


class ScaledTanH:
    _ts_ref = ("lasagne.nonlinearities", "ScaledTanH")

    def __init__(self, scale_in: float = 1, scale_out: float = 1) -> None:
        self.scale_in = scale_in
        self.scale_out = scale_out

    def __call__(self, x: Any) -> Any:
        return Symbolic("scaled tanh")


class LeakyRectify:
    _ts_ref = ("lasagne.nonlinearities", "LeakyRectify")

    def __init__(self, leakiness: float = 0.01) -> None:
        self.leakiness = leakiness

    def __call__(self, x: Any) -> Any:
        return Symbolic("leaky rectify")


class SELU:
    _ts_ref = ("lasagne.nonlinearities", "SELU")

    def __init__(self, scale: float = 1, scale_neg: float = 1) -> None:
        self.scale = scale
        self.scale_neg = scale_neg

    def __call__(self, x: Any) -> Any:
        return Symbolic("selu")


leaky_rectify = LeakyRectify()
very_leaky_rectify = LeakyRectify(1. / 3)
selu = SELU(scale=1.0507009873554804934193349852946, scale_neg=1.6732632423543772848170429916717)


# ---------------------------------------------------------------------------------------------
# lasagne.layers: base classes
# ---------------------------------------------------------------------------------------------
def _shapes():
    from theano_serving_import.lasagne import layers  # the translators' shape inference
    return layers


class Layer:
    """lasagne.layers.base.Layer."""
    _ts_standin = True
    _ts_is_layer = True
    _ts_module = "lasagne.layers.base"

    def __init__(self, incoming: Any, name: Optional[str] = None) -> None:
        if isinstance(incoming, tuple):
            self.input_shape = incoming
            self.input_layer = None
        else:
            self.input_shape = incoming.output_shape
            self.input_layer = incoming
        self.name = name
        self.params: "OrderedDict[Any, set]" = OrderedDict()
        self.get_output_kwargs: List[str] = []
        if any(d is not None and d <= 0 for d in self.input_shape):
            raise ValueError("Cannot create Layer with a non-positive input_shape dimension. "
                             "input_shape=%r, self.name=%r" % (self.input_shape, self.name))

    @property
    def output_shape(self) -> tuple:
        return self.get_output_shape_for(self.input_shape)

    def get_output_shape_for(self, input_shape: Any) -> tuple:
        return _shapes().lasagne_output_shape(self, input_shape)

    def get_params(self, unwrap_shared: bool = True, **tags: Any) -> List[Any]:
        result = list(self.params.keys())
        only = set(tag for tag, value in tags.items() if value)
        if only:
            result = [p for p in result if not (only - self.params[p])]
        exclude = set(tag for tag, value in tags.items() if not value)
        if exclude:
            result = [p for p in result if not (self.params[p] & exclude)]
        return result

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return Symbolic("output of %s" % type(self).__name__)

    def add_param(self, spec: Any, shape: Sequence[int], name: Optional[str] = None,
                  **tags: Any) -> Any:
        if name is not None and self.name is not None:
            name = "%s.%s" % (self.name, name)
        try:
            param = create_param(spec, shape, name)
        except ImporterError as e:
            raise ImporterError("%s%s: %s" % (type(self).__name__,
                                              ' "%s"' % self.name if self.name else "", e))
        tags["trainable"] = tags.get("trainable", True)
        tags["regularizable"] = tags.get("regularizable", True)
        self.params[param] = set(tag for tag, value in tags.items() if value)
        return param


class MergeLayer(Layer):
    """lasagne.layers.base.MergeLayer."""
    _ts_module = "lasagne.layers.base"

    def __init__(self, incomings: Sequence[Any], name: Optional[str] = None) -> None:
        self.input_shapes = [incoming if isinstance(incoming, tuple) else incoming.output_shape
                             for incoming in incomings]
        self.input_layers = [None if isinstance(incoming, tuple) else incoming
                             for incoming in incomings]
        self.name = name
        self.params = OrderedDict()
        self.get_output_kwargs = []

    @property
    def output_shape(self) -> tuple:
        return self.get_output_shape_for(self.input_shapes)

    def get_output_shape_for(self, input_shapes: Any) -> tuple:
        return _shapes().lasagne_output_shape(self, input_shapes)


def _standin(cls: type, module: str) -> type:
    cls._ts_standin = True
    cls._ts_module = module
    return cls


# ---------------------------------------------------------------------------------------------
# lasagne.layers.input / dense / noise
# ---------------------------------------------------------------------------------------------
class InputLayer(Layer):
    _ts_module = "lasagne.layers.input"

    def __init__(self, shape: Sequence[Any], input_var: Any = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        self.shape = _override_input_shape(tuple(shape), name)
        if any(d is not None and d <= 0 for d in self.shape):
            raise ValueError("Cannot create InputLayer with a non-positive shape: %r"
                             % (self.shape,))
        self.input_shape = self.shape
        self.input_layer = None
        self.input_var = input_var if input_var is not None else Symbolic("input")
        self.name = name
        self.params = OrderedDict()
        self.get_output_kwargs = []

    @property
    def output_shape(self) -> tuple:
        return self.shape


def _override_input_shape(shape: tuple, name: Optional[str]) -> tuple:
    """--input-shape fills an InputLayer's unknown (None) sizes; a known size that differs is
    an error (the weights were made for that size)."""
    given = CONFIG.input_shape
    if given is None or len(shape) < 2:
        return shape
    if len(given) != len(shape) - 1:
        raise ImporterError("--input-shape %s has %d sizes, the InputLayer%s shape %s has %d "
                            "(without the batch axis)"
                            % (",".join(map(str, given)), len(given),
                               ' "%s"' % name if name else "", shape, len(shape) - 1))
    out = [shape[0]]
    for d, g in zip(shape[1:], given):
        if d is not None and int(d) != int(g):
            raise ImporterError("--input-shape %s does not match the InputLayer%s shape %s"
                                % (",".join(map(str, given)),
                                   ' "%s"' % name if name else "", shape))
        out.append(int(g))
    return tuple(out)


class DenseLayer(Layer):
    _ts_module = "lasagne.layers.dense"

    def __init__(self, incoming: Any, num_units: int, W: Any = None, b: Any = 0.,
                 nonlinearity: Any = rectify, num_leading_axes: int = 1,
                 **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.nonlinearity = identity if nonlinearity is None else nonlinearity
        self.num_units = num_units
        if num_leading_axes >= len(self.input_shape):
            raise ValueError("Got num_leading_axes=%d for a %d-dimensional input, leaving no "
                             "trailing axes for the dot product."
                             % (num_leading_axes, len(self.input_shape)))
        elif num_leading_axes < -len(self.input_shape):
            raise ValueError("Got num_leading_axes=%d for a %d-dimensional input, requesting "
                             "more trailing axes than there are input dimensions."
                             % (num_leading_axes, len(self.input_shape)))
        self.num_leading_axes = num_leading_axes
        if any(s is None for s in self.input_shape[num_leading_axes:]):
            raise ValueError("A DenseLayer requires a fixed input shape (except for the leading "
                             "axes). Got %r for num_leading_axes=%d."
                             % (self.input_shape, self.num_leading_axes))
        num_inputs = int(np.prod(self.input_shape[num_leading_axes:]))
        self.W = self.add_param(_init(W), (num_inputs, num_units), name="W")
        if b is None:
            self.b = None
        else:
            self.b = self.add_param(_init(b, constant=True), (num_units,), name="b",
                                    regularizable=False)


class NINLayer(Layer):
    _ts_module = "lasagne.layers.dense"

    def __init__(self, incoming: Any, num_units: int, untie_biases: bool = False,
                 W: Any = None, b: Any = 0., nonlinearity: Any = rectify,
                 **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.nonlinearity = identity if nonlinearity is None else nonlinearity
        self.num_units = num_units
        self.untie_biases = untie_biases
        num_input_channels = self.input_shape[1]
        self.W = self.add_param(_init(W), (num_input_channels, num_units), name="W")
        if b is None:
            self.b = None
        else:
            if self.untie_biases:
                biases_shape = (num_units,) + tuple(self.output_shape[2:])
            else:
                biases_shape = (num_units,)
            self.b = self.add_param(_init(b, constant=True), biases_shape, name="b",
                                    regularizable=False)


def _init(spec: Any, constant: bool = False) -> Any:
    """The default initializers of the signatures (GlorotUniform(), Constant(0.)): written as
    None / a number above so that a default never needs lasagne.init; numbers are what
    Constant(...) would make."""
    if spec is None:
        return Initializer()
    if constant and isinstance(spec, numbers.Number) and not isinstance(spec, bool):
        return Initializer(spec)
    return spec


class DropoutLayer(Layer):
    _ts_module = "lasagne.layers.noise"

    def __init__(self, incoming: Any, p: float = 0.5, rescale: bool = True,
                 shared_axes: Sequence[int] = (), **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.p = p
        self.rescale = rescale
        self.shared_axes = tuple(shared_axes)


def dropout_channels(incoming: Any, *args: Any, **kwargs: Any) -> DropoutLayer:
    ndim = len(getattr(incoming, "output_shape", incoming))
    kwargs["shared_axes"] = tuple(range(2, ndim))
    return DropoutLayer(incoming, *args, **kwargs)


def dropout_locations(incoming: Any, *args: Any, **kwargs: Any) -> DropoutLayer:
    kwargs["shared_axes"] = (1,)
    return DropoutLayer(incoming, *args, **kwargs)


class GaussianNoiseLayer(Layer):
    _ts_module = "lasagne.layers.noise"

    def __init__(self, incoming: Any, sigma: float = 0.1, **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.sigma = sigma


# ---------------------------------------------------------------------------------------------
# lasagne.layers.conv / dnn / corrmm / cuda_convnet
# ---------------------------------------------------------------------------------------------
class BaseConvLayer(Layer):
    _ts_module = "lasagne.layers.conv"

    def __init__(self, incoming: Any, num_filters: int, filter_size: Any, stride: Any = 1,
                 pad: Any = 0, untie_biases: bool = False, W: Any = None, b: Any = 0.,
                 nonlinearity: Any = rectify, flip_filters: bool = True, num_groups: int = 1,
                 n: Optional[int] = None, **kwargs: Any) -> None:
        # Network code written for Lasagne before 0.1 says border_mode='valid'/'full'/'same'
        # (master raises TypeError for it); 'same' was a full convolution cropped at
        # (filter_size - 1) // 2, i.e. (f - 1 - (f - 1) // 2, (f - 1) // 2) padding.
        border_mode = kwargs.pop("border_mode", None)
        if "strides" in kwargs:  # Lasagne before 0.1 (PR #210)
            strides = kwargs.pop("strides")
            if stride in (1, (1,), (1, 1), [1], [1, 1]):
                stride = strides
        super().__init__(incoming, **kwargs)
        old_same = None
        if border_mode is not None:
            if pad != 0:
                raise ValueError("give pad or border_mode, not both")
            pad = {"valid": 0}.get(border_mode, border_mode)
            if border_mode == "same":
                fs = as_tuple(filter_size, len(self.input_shape) - 2, int_types)
                if any(f % 2 == 0 for f in fs):
                    old_same = tuple((f - 1 - (f - 1) // 2, (f - 1) // 2) for f in fs)
                    pad = 0
        self.nonlinearity = identity if nonlinearity is None else nonlinearity
        if n is None:
            n = len(self.input_shape) - 2
        elif n != len(self.input_shape) - 2:
            raise ValueError("Tried to create a %dD convolution layer with input shape %r. "
                             "Expected %d input dimensions (batchsize, channels, %d spatial "
                             "dimensions)." % (n, self.input_shape, n + 2, n))
        self.n = n
        self.num_filters = num_filters
        self.filter_size = as_tuple(filter_size, n, int_types)
        self.flip_filters = flip_filters
        self.stride = as_tuple(stride, n, int_types)
        self.untie_biases = untie_biases
        if pad == "same":
            if any(s % 2 == 0 for s in self.filter_size):
                raise NotImplementedError("`same` padding requires odd filter size.")
        if pad == "valid":
            self.pad = as_tuple(0, n)
        elif pad in ("full", "same"):
            self.pad = pad
        else:
            self.pad = as_tuple(pad, n, int_types)
        if old_same is not None:
            self.pad = old_same
        if (num_groups <= 0 or self.num_filters % num_groups != 0
                or self.input_shape[1] % num_groups != 0):
            raise ValueError("num_groups (here: %d) must be positive and evenly divide the "
                             "number of input and output channels (here: %d and %d)"
                             % (num_groups, self.input_shape[1], self.num_filters))
        self.num_groups = num_groups
        self.W = self.add_param(_init(W), self.get_W_shape(), name="W")
        if b is None:
            self.b = None
        else:
            if self.untie_biases:
                biases_shape = (num_filters,) + tuple(self.output_shape[2:])
            else:
                biases_shape = (num_filters,)
            self.b = self.add_param(_init(b, constant=True), biases_shape, name="b",
                                    regularizable=False)

    def get_W_shape(self) -> tuple:
        return _shapes().conv_W_shape(self)


class Conv1DLayer(BaseConvLayer):
    _ts_module = "lasagne.layers.conv"

    def __init__(self, incoming: Any, num_filters: int, filter_size: Any, stride: Any = 1,
                 pad: Any = 0, untie_biases: bool = False, W: Any = None, b: Any = 0.,
                 nonlinearity: Any = rectify, flip_filters: bool = True,
                 convolution: Any = None, **kwargs: Any) -> None:
        super().__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b,
                         nonlinearity, flip_filters, n=1, **kwargs)
        self.convolution = convolution if convolution is not None else conv1d_mc0


class Conv2DLayer(BaseConvLayer):
    _ts_module = "lasagne.layers.conv"

    def __init__(self, incoming: Any, num_filters: int, filter_size: Any, stride: Any = (1, 1),
                 pad: Any = 0, untie_biases: bool = False, W: Any = None, b: Any = 0.,
                 nonlinearity: Any = rectify, flip_filters: bool = True,
                 convolution: Any = None, **kwargs: Any) -> None:
        super().__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b,
                         nonlinearity, flip_filters, n=2, **kwargs)
        self.convolution = convolution if convolution is not None else nnet_conv2d


class DilatedConv2DLayer(BaseConvLayer):
    _ts_module = "lasagne.layers.conv"

    def __init__(self, incoming: Any, num_filters: int, filter_size: Any,
                 dilation: Any = (1, 1), pad: Any = 0, untie_biases: bool = False,
                 W: Any = None, b: Any = 0., nonlinearity: Any = rectify,
                 flip_filters: bool = False, **kwargs: Any) -> None:
        self.dilation = as_tuple(dilation, 2, int_types)
        super().__init__(incoming, num_filters, filter_size, 1, pad, untie_biases, W, b,
                         nonlinearity, flip_filters, n=2, **kwargs)
        del self.stride
        if self.pad != (0, 0):
            raise NotImplementedError("DilatedConv2DLayer requires pad=0 / (0,0) / 'valid', but "
                                      "got %r. For a padded dilated convolution, add a PadLayer."
                                      % (pad,))
        if self.flip_filters:
            raise NotImplementedError("DilatedConv2DLayer requires flip_filters=False.")


class Conv2DDNNLayer(BaseConvLayer):
    _ts_module = "lasagne.layers.dnn"

    def __init__(self, incoming: Any, num_filters: int, filter_size: Any, stride: Any = (1, 1),
                 pad: Any = 0, untie_biases: bool = False, W: Any = None, b: Any = 0.,
                 nonlinearity: Any = rectify, flip_filters: bool = False, num_groups: int = 1,
                 **kwargs: Any) -> None:
        super().__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b,
                         nonlinearity, flip_filters, num_groups, n=2, **kwargs)


class Conv2DMMLayer(Conv2DDNNLayer):
    """lasagne.layers.corrmm.Conv2DMMLayer: the same signature and defaults as Conv2DDNNLayer."""
    _ts_module = "lasagne.layers.corrmm"


class Conv2DCCLayer(Layer):
    """lasagne.layers.cuda_convnet.Conv2DCCLayer (square filters, one stride, one pad)."""
    _ts_module = "lasagne.layers.cuda_convnet"

    def __init__(self, incoming: Any, num_filters: int, filter_size: Any, stride: Any = (1, 1),
                 pad: Any = 0, untie_biases: bool = False, W: Any = None, b: Any = 0.,
                 nonlinearity: Any = rectify, dimshuffle: bool = True,
                 flip_filters: bool = False, partial_sum: int = 1, **kwargs: Any) -> None:
        border_mode = kwargs.pop("border_mode", None)
        if "strides" in kwargs:  # Lasagne before 0.1 (PR #210)
            strides = kwargs.pop("strides")
            if stride in (1, (1, 1), [1, 1]):
                stride = strides
        super().__init__(incoming, **kwargs)
        self.nonlinearity = identity if nonlinearity is None else nonlinearity
        filter_size = as_tuple(filter_size, 2)
        stride = as_tuple(stride, 2)
        if filter_size[0] != filter_size[1]:
            raise RuntimeError("Conv2DCCLayer only supports square filters, but "
                               "filter_size=(%d, %d)" % filter_size)
        if stride[0] != stride[1]:
            raise RuntimeError("Conv2DCCLayer only supports square strides, but "
                               "stride=(%d, %d)" % stride)
        self.num_filters = num_filters
        self.filter_size = filter_size[0]
        self.stride = stride[0]
        self.untie_biases = untie_biases
        self.dimshuffle = dimshuffle
        self.flip_filters = flip_filters
        self.partial_sum = partial_sum
        if border_mode is not None:  # Lasagne 0.1's spelling
            pad = {"valid": 0, "full": self.filter_size - 1,
                   "same": (self.filter_size - 1) // 2}.get(border_mode, border_mode)
        if pad == "valid":
            self.pad = 0
        elif pad == "full":
            self.pad = self.filter_size - 1
        elif pad == "same":
            self.pad = self.filter_size // 2
        else:
            pad = as_tuple(pad, 2, int_types)
            if pad[0] != pad[1]:
                raise RuntimeError("Conv2DCCLayer only supports square padding, but "
                                   "pad=(%d, %d)" % pad)
            self.pad = pad[0]
        self.W = self.add_param(_init(W), self.get_W_shape(), name="W")
        if b is None:
            self.b = None
        else:
            if self.untie_biases:
                out = self.output_shape
                biases_shape = ((num_filters, out[2], out[3]) if self.dimshuffle
                                else (num_filters, out[1], out[2]))
            else:
                biases_shape = (num_filters,)
            self.b = self.add_param(_init(b, constant=True), biases_shape, name="b",
                                    regularizable=False)

    @property
    def num_input_channels(self) -> int:
        return self.input_shape[1] if self.dimshuffle else self.input_shape[0]

    def get_W_shape(self) -> tuple:
        return _shapes().conv_W_shape(self)


# ---------------------------------------------------------------------------------------------
# lasagne.layers.pool (and the dnn / cuda_convnet pools)
# ---------------------------------------------------------------------------------------------
_UNSET = object()  # an argument the code did not give


def _legacy_pool_args(cls: str, pool_size: Any, stride: Any,
                      kwargs: Dict[str, Any]) -> "tuple[Any, Any, bool]":
    """Lasagne before April 2015 (PR #210) called pool_size `ds` and stride `strides`
    (`MaxPool2DLayer(l, ds=(2, 2))`, nolearn's `pool1_ds=(2, 2)` in the facial-keypoints
    tutorial). Returns (pool_size, stride, written_for_that_lasagne)."""
    old = "ds" in kwargs
    if old:
        ds = kwargs.pop("ds")
        if pool_size is not None:
            raise TypeError("%s: give pool_size or ds (its name before Lasagne 0.1), not both"
                            % cls)
        pool_size = ds
    if "strides" in kwargs:
        strides = kwargs.pop("strides")
        if stride is None:
            stride = strides
    if pool_size is None:
        raise TypeError("%s() missing 1 required positional argument: 'pool_size'" % cls)
    return pool_size, stride, old


def _pool_ignore_border(layer: Any, ignore_border: Any, old_names: bool) -> bool:
    """Lasagne's default ignore_border=True dates from August 2015 (PR #374); before, pools
    kept partial windows (False). Code that says `ds=` predates it; CONFIG.old_pool_default is
    set when the weights fit only the old default (lasagne_import.run_network)."""
    if ignore_border is not _UNSET:
        return ignore_border
    layer._ts_ignore_border_default = True
    return not (old_names or CONFIG.old_pool_default)


class Pool2DLayer(Layer):
    _ts_module = "lasagne.layers.pool"

    def __init__(self, incoming: Any, pool_size: Any = None, stride: Any = None,
                 pad: Any = (0, 0), ignore_border: Any = _UNSET, mode: str = "max",
                 **kwargs: Any) -> None:
        pool_size, stride, old = _legacy_pool_args(type(self).__name__, pool_size, stride,
                                                   kwargs)
        super().__init__(incoming, **kwargs)
        ignore_border = _pool_ignore_border(self, ignore_border, old)
        self.pool_size = as_tuple(pool_size, 2)
        if len(self.input_shape) != 4:
            raise ValueError("Tried to create a 2D pooling layer with input shape %r. Expected "
                             "4 input dimensions (batchsize, channels, 2 spatial dimensions)."
                             % (self.input_shape,))
        self.stride = self.pool_size if stride is None else as_tuple(stride, 2)
        self.pad = as_tuple(pad, 2)
        self.ignore_border = ignore_border
        self.mode = mode


class MaxPool2DLayer(Pool2DLayer):
    _ts_module = "lasagne.layers.pool"

    def __init__(self, incoming: Any, pool_size: Any = None, stride: Any = None,
                 pad: Any = (0, 0), ignore_border: Any = _UNSET, **kwargs: Any) -> None:
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", **kwargs)


class Pool2DDNNLayer(Layer):
    _ts_module = "lasagne.layers.dnn"

    def __init__(self, incoming: Any, pool_size: Any = None, stride: Any = None,
                 pad: Any = (0, 0), ignore_border: bool = True, mode: str = "max",
                 **kwargs: Any) -> None:
        pool_size, stride, _ = _legacy_pool_args(type(self).__name__, pool_size, stride, kwargs)
        super().__init__(incoming, **kwargs)
        if len(self.input_shape) != 4:
            raise ValueError("Tried to create a 2D pooling layer with input shape %r. Expected "
                             "4 input dimensions (batchsize, channels, 2 spatial dimensions)."
                             % (self.input_shape,))
        self.pool_size = as_tuple(pool_size, 2)
        self.stride = self.pool_size if stride is None else as_tuple(stride, 2)
        self.pad = as_tuple(pad, 2)
        self.mode = mode
        if not ignore_border:
            raise NotImplementedError("Pool2DDNNLayer does not support ignore_border=False.")


class MaxPool2DDNNLayer(Pool2DDNNLayer):
    _ts_module = "lasagne.layers.dnn"

    def __init__(self, incoming: Any, pool_size: Any = None, stride: Any = None,
                 pad: Any = (0, 0),
                 ignore_border: bool = True, **kwargs: Any) -> None:
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", **kwargs)


class MaxPool2DCCLayer(Layer):
    _ts_module = "lasagne.layers.cuda_convnet"

    def __init__(self, incoming: Any, pool_size: Any = None, stride: Any = None,
                 ignore_border: bool = False, dimshuffle: bool = True, **kwargs: Any) -> None:
        pool_size, stride, _ = _legacy_pool_args(type(self).__name__, pool_size, stride, kwargs)
        if "pad" in kwargs:
            pad = kwargs.pop("pad")
            if as_tuple(pad, 2) != (0, 0):
                raise NotImplementedError("MaxPool2DCCLayer does not support padding")
        super().__init__(incoming, **kwargs)
        pool_size = as_tuple(pool_size, 2)
        if pool_size[0] != pool_size[1]:
            raise NotImplementedError("MaxPool2DCCLayer only supports square pooling regions, "
                                      "but pool_size=(%d, %d)" % pool_size)
        self.pool_size = pool_size[0]
        if stride is None:
            self.stride = self.pool_size
        else:
            stride = as_tuple(stride, 2)
            if stride[0] != stride[1]:
                raise NotImplementedError("MaxPool2DCCLayer only supports using the same stride "
                                          "in both directions but stride=(%d, %d)" % stride)
            self.stride = stride[0]
        if self.stride > self.pool_size:
            raise NotImplementedError("MaxPool2DCCLayer only supports stride <= pool_size.")
        if ignore_border is not False:
            raise NotImplementedError("MaxPool2DCCLayer does not support ignore_border.")
        self.dimshuffle = dimshuffle


class Upscale2DLayer(Layer):
    _ts_module = "lasagne.layers.pool"

    def __init__(self, incoming: Any, scale_factor: Any, mode: str = "repeat",
                 **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.scale_factor = as_tuple(scale_factor, 2)
        if self.scale_factor[0] < 1 or self.scale_factor[1] < 1:
            raise ValueError("Scale factor must be >= 1, not {0}".format(self.scale_factor))
        if mode not in {"repeat", "dilate"}:
            msg = "Mode must be either 'repeat' or 'dilate', not {0}"
            raise ValueError(msg.format(mode))
        self.mode = mode


class GlobalPoolLayer(Layer):
    _ts_module = "lasagne.layers.pool"

    def __init__(self, incoming: Any, pool_function: Any = None, **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.pool_function = pool_function if pool_function is not None else T_mean


class FeaturePoolLayer(Layer):
    _ts_module = "lasagne.layers.pool"

    def __init__(self, incoming: Any, pool_size: Any = None, axis: int = 1,
                 pool_function: Any = None, **kwargs: Any) -> None:
        pool_size, _, _ = _legacy_pool_args(type(self).__name__, pool_size, None, kwargs)
        super().__init__(incoming, **kwargs)
        self.pool_size = pool_size
        self.axis = axis
        self.pool_function = pool_function if pool_function is not None else T_max
        num_feature_maps = self.input_shape[self.axis]
        if num_feature_maps is not None and num_feature_maps % self.pool_size != 0:
            raise ValueError("Number of input feature maps (%d) is not a multiple of the pool "
                             "size (pool_size=%d)" % (num_feature_maps, self.pool_size))


# ---------------------------------------------------------------------------------------------
# lasagne.layers.shape / merge
# ---------------------------------------------------------------------------------------------
class FlattenLayer(Layer):
    _ts_module = "lasagne.layers.shape"

    def __init__(self, incoming: Any, outdim: int = 2, **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.outdim = outdim
        if outdim < 1:
            raise ValueError("Dim must be >0, was %i" % outdim)


class ReshapeLayer(Layer):
    _ts_module = "lasagne.layers.shape"

    def __init__(self, incoming: Any, shape: Any, **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        shape = tuple(shape)
        for s in shape:
            if isinstance(s, int_types):
                if s == 0 or s < -1:
                    raise ValueError("`shape` integers must be positive or -1")
            elif isinstance(s, list):
                if len(s) != 1 or not isinstance(s[0], int_types) or s[0] < 0:
                    raise ValueError("`shape` input references must be single-element lists "
                                     "of int >= 0")
            elif isinstance(s, Symbolic):
                raise ImporterError("ReshapeLayer%s: a symbolic size in the shape %r cannot be "
                                    "imported; use integers, -1 or [i]"
                                    % (' "%s"' % self.name if self.name else "", shape))
            else:
                raise ValueError("`shape` must be a tuple of int and/or [int]")
        if sum(s == -1 for s in shape) > 1:
            raise ValueError("`shape` cannot contain multiple -1")
        self.shape = shape
        self.get_output_shape_for(self.input_shape)


class DimshuffleLayer(Layer):
    _ts_module = "lasagne.layers.shape"

    def __init__(self, incoming: Any, pattern: Any, **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        used_dims = set()
        for p in pattern:
            if isinstance(p, int_types):
                if p in used_dims:
                    raise ValueError("pattern contains dimension {0} more than once".format(p))
                used_dims.add(p)
            elif p == "x":
                pass
            else:
                raise ValueError("pattern should only contain dimension indices or 'x', not "
                                 "{0}".format(p))
        self.pattern = pattern
        self.get_output_shape_for(self.input_shape)


class PadLayer(Layer):
    _ts_module = "lasagne.layers.shape"

    def __init__(self, incoming: Any, width: Any, val: float = 0, batch_ndim: int = 2,
                 **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.width = width
        self.val = val
        self.batch_ndim = batch_ndim


class SliceLayer(Layer):
    _ts_module = "lasagne.layers.shape"

    def __init__(self, incoming: Any, indices: Any, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.slice = indices
        self.axis = axis


class ConcatLayer(MergeLayer):
    _ts_module = "lasagne.layers.merge"

    def __init__(self, incomings: Sequence[Any], axis: int = 1, cropping: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(incomings, **kwargs)
        self.axis = axis
        if cropping is not None:
            cropping = list(cropping)
            cropping[axis] = None
        self.cropping = cropping


class ElemwiseMergeLayer(MergeLayer):
    _ts_module = "lasagne.layers.merge"

    def __init__(self, incomings: Sequence[Any], merge_function: Any, cropping: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(incomings, **kwargs)
        self.merge_function = merge_function
        self.cropping = cropping
        self.broadcastable = None


class ElemwiseSumLayer(ElemwiseMergeLayer):
    _ts_module = "lasagne.layers.merge"

    def __init__(self, incomings: Sequence[Any], coeffs: Any = 1, cropping: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(incomings, T_add, cropping=cropping, **kwargs)
        if isinstance(coeffs, list):
            if len(coeffs) != len(incomings):
                raise ValueError("Mismatch: got %d coeffs for %d incomings"
                                 % (len(coeffs), len(incomings)))
        else:
            coeffs = [coeffs] * len(incomings)
        self.coeffs = coeffs


# ---------------------------------------------------------------------------------------------
# lasagne.layers.normalization / special
# ---------------------------------------------------------------------------------------------
class LocalResponseNormalization2DLayer(Layer):
    _ts_module = "lasagne.layers.normalization"

    def __init__(self, incoming: Any, alpha: float = 1e-4, k: float = 2, beta: float = 0.75,
                 n: int = 5, **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.alpha = alpha
        self.k = k
        self.beta = beta
        self.n = n
        if n % 2 == 0:
            raise NotImplementedError("Only works with odd n")


class BatchNormLayer(Layer):
    _ts_module = "lasagne.layers.normalization"

    def __init__(self, incoming: Any, axes: Any = "auto", epsilon: float = 1e-4,
                 alpha: float = 0.1, beta: Any = 0, gamma: Any = 1, mean: Any = 0,
                 inv_std: Any = 1, **kwargs: Any) -> None:
        kwargs.pop("mode", None)  # Lasagne 0.1's mode='low_mem' (no effect on the output)
        super().__init__(incoming, **kwargs)
        if axes == "auto":
            axes = (0,) + tuple(range(2, len(self.input_shape)))
        elif isinstance(axes, int_types):
            axes = (axes,)
        self.axes = axes
        self.epsilon = epsilon
        self.alpha = alpha
        shape = [size for axis, size in enumerate(self.input_shape) if axis not in self.axes]
        if any(size is None for size in shape):
            raise ValueError("BatchNormLayer needs specified input sizes for all axes not "
                             "normalized over.")
        self.beta = None if beta is None else self.add_param(
            _init(beta, True), shape, "beta", trainable=True, regularizable=False)
        self.gamma = None if gamma is None else self.add_param(
            _init(gamma, True), shape, "gamma", trainable=True, regularizable=True)
        self.mean = self.add_param(_init(mean, True), shape, "mean", trainable=False,
                                   regularizable=False)
        self.inv_std = self.add_param(_init(inv_std, True), shape, "inv_std", trainable=False,
                                      regularizable=False)


class BatchNormDNNLayer(BatchNormLayer):
    _ts_module = "lasagne.layers.dnn"


def batch_norm(layer: Any, **kwargs: Any) -> Any:
    """lasagne.layers.batch_norm: the layer loses its nonlinearity and bias; a BatchNormLayer
    and (if it had one) a NonlinearityLayer follow."""
    nonlinearity = getattr(layer, "nonlinearity", None)
    if nonlinearity is not None:
        layer.nonlinearity = identity
    if getattr(layer, "b", None) is not None:
        del layer.params[layer.b]
        layer.b = None
    bn_name = (kwargs.pop("name", None) or
               (getattr(layer, "name", None) and layer.name + "_bn"))
    layer = BatchNormLayer(layer, name=bn_name, **kwargs)
    if nonlinearity is not None:
        nonlin_name = bn_name and bn_name + "_nonlin"
        layer = NonlinearityLayer(layer, nonlinearity, name=nonlin_name)
    return layer


def batch_norm_dnn(layer: Any, **kwargs: Any) -> Any:
    nonlinearity = getattr(layer, "nonlinearity", None)
    if nonlinearity is not None:
        layer.nonlinearity = identity
    if getattr(layer, "b", None) is not None:
        del layer.params[layer.b]
        layer.b = None
    bn_name = (kwargs.pop("name", None) or
               (getattr(layer, "name", None) and layer.name + "_bn"))
    layer = BatchNormDNNLayer(layer, name=bn_name, **kwargs)
    if nonlinearity is not None:
        nonlin_name = bn_name and bn_name + "_nonlin"
        layer = NonlinearityLayer(layer, nonlinearity, name=nonlin_name)
    return layer


class NonlinearityLayer(Layer):
    _ts_module = "lasagne.layers.special"

    def __init__(self, incoming: Any, nonlinearity: Any = rectify, **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.nonlinearity = identity if nonlinearity is None else nonlinearity


def _shared_axes(shared_axes: Any, ndim: int, allow_all: bool = False) -> tuple:
    if shared_axes == "auto":
        return (0,) + tuple(range(2, ndim))
    if allow_all and shared_axes == "all":
        return tuple(range(ndim))
    if isinstance(shared_axes, int_types):
        return (shared_axes,)
    return shared_axes


class BiasLayer(Layer):
    _ts_module = "lasagne.layers.special"

    def __init__(self, incoming: Any, b: Any = 0, shared_axes: Any = "auto",
                 **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.shared_axes = _shared_axes(shared_axes, len(self.input_shape))
        if b is None:
            self.b = None
        else:
            shape = [size for axis, size in enumerate(self.input_shape)
                     if axis not in self.shared_axes]
            if any(size is None for size in shape):
                raise ValueError("BiasLayer needs specified input sizes for all axes that "
                                 "biases are not shared over.")
            self.b = self.add_param(_init(b, True), shape, "b", regularizable=False)


class ScaleLayer(Layer):
    _ts_module = "lasagne.layers.special"

    def __init__(self, incoming: Any, scales: Any = 1, shared_axes: Any = "auto",
                 **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.shared_axes = _shared_axes(shared_axes, len(self.input_shape))
        shape = [size for axis, size in enumerate(self.input_shape)
                 if axis not in self.shared_axes]
        if any(size is None for size in shape):
            raise ValueError("ScaleLayer needs specified input sizes for all axes that scales "
                             "are not shared over.")
        self.scales = self.add_param(_init(scales, True), shape, "scales", regularizable=False)


def standardize(layer: Any, offset: Any, scale: Any, shared_axes: Any = "auto") -> Any:
    layer = BiasLayer(layer, -np.asarray(offset) if not isinstance(offset, Symbolic)
                      else offset, shared_axes)
    layer.params[layer.b].discard("trainable")
    layer = ScaleLayer(layer, 1.0 / np.asarray(scale) if not isinstance(scale, Symbolic)
                       else scale, shared_axes)
    layer.params[layer.scales].discard("trainable")
    return layer


class ExpressionLayer(Layer):
    _ts_module = "lasagne.layers.special"

    def __init__(self, incoming: Any, function: Any, output_shape: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        if output_shape is None:
            self._output_shape = None
        elif output_shape == "auto":
            self._output_shape = "auto"
        elif callable(output_shape):
            self._output_shape = "callable"
            self._ts_shape_fn = output_shape
        else:
            self._output_shape = tuple(output_shape)
        self.function = function


class ParametricRectifierLayer(Layer):
    _ts_module = "lasagne.layers.special"

    def __init__(self, incoming: Any, alpha: Any = 0.25, shared_axes: Any = "auto",
                 **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.shared_axes = _shared_axes(shared_axes, len(self.input_shape), allow_all=True)
        shape = [size for axis, size in enumerate(self.input_shape)
                 if axis not in self.shared_axes]
        if any(size is None for size in shape):
            raise ValueError("ParametricRectifierLayer needs input sizes for all axes that "
                             "alpha's are not shared over.")
        self.alpha = self.add_param(_init(alpha, True), shape, name="alpha",
                                    regularizable=False)


def prelu(layer: Any, **kwargs: Any) -> Any:
    nonlinearity = getattr(layer, "nonlinearity", None)
    if nonlinearity is not None:
        layer.nonlinearity = identity
    return ParametricRectifierLayer(layer, **kwargs)


class RandomizedRectifierLayer(Layer):
    _ts_module = "lasagne.layers.special"

    def __init__(self, incoming: Any, lower: float = 0.3, upper: float = 0.8,
                 shared_axes: Any = "auto", **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.lower = lower
        self.upper = upper
        if lower > upper:
            raise ValueError("Upper bound for RandomizedRectifierLayer needs to be higher than "
                             "lower bound.")
        self.shared_axes = _shared_axes(shared_axes, len(self.input_shape), allow_all=True)


def rrelu(layer: Any, **kwargs: Any) -> Any:
    nonlinearity = getattr(layer, "nonlinearity", None)
    if nonlinearity is not None:
        layer.nonlinearity = identity
    return RandomizedRectifierLayer(layer, **kwargs)


# ---------------------------------------------------------------------------------------------
# Classes we cannot translate: they exist (imports work), constructing one is refused.
# ---------------------------------------------------------------------------------------------
def unsupported_layer(name: str, module: str, base: type = Layer) -> type:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        from theano_serving_import.lasagne import layers
        raise ImporterError(layers.unsupported_message(kwargs.get("name"),
                                                       "%s.%s" % (module, name)))

    cls = type(name, (base,), {"__init__": __init__, "_ts_module": module,
                               "_ts_standin": True})
    return cls


UNSUPPORTED = {
    "lasagne.layers.conv": ["Conv3DLayer", "TransposedConv2DLayer", "Deconv2DLayer",
                            "TransposedConv3DLayer", "Deconv3DLayer"],
    "lasagne.layers.local": ["LocallyConnected2DLayer"],
    "lasagne.layers.pool": ["MaxPool1DLayer", "Pool1DLayer", "MaxPool3DLayer", "Pool3DLayer",
                            "Upscale1DLayer", "Upscale3DLayer",
                            "FeatureWTALayer", "SpatialPyramidPoolingLayer"],
    "lasagne.layers.normalization": ["StandardizationLayer"],
    "lasagne.layers.embedding": ["EmbeddingLayer"],
    "lasagne.layers.recurrent": ["CustomRecurrentLayer", "RecurrentLayer", "LSTMLayer",
                                 "GRULayer"],
    "lasagne.layers.special": ["InverseLayer", "TransformerLayer", "TPSTransformerLayer"],
    "lasagne.layers.dnn": ["Conv3DDNNLayer", "Pool3DDNNLayer", "MaxPool3DDNNLayer",
                           "SpatialPyramidPoolingDNNLayer"],
    "lasagne.layers.cuda_convnet": ["ShuffleBC01ToC01BLayer", "ShuffleC01BToBC01Layer",
                                    "NINLayer_c01b"],
    "lasagne.layers.shape": [],
}
_UNSUPPORTED_CLASSES: Dict[str, type] = {}
for _module, _names in UNSUPPORTED.items():
    for _name in _names:
        _UNSUPPORTED_CLASSES[_name] = unsupported_layer(_name, _module)
_UNSUPPORTED_CLASSES["Deconv2DLayer"] = _UNSUPPORTED_CLASSES["TransposedConv2DLayer"]


class Gate:
    """lasagne.layers.recurrent.Gate (a helper, not a layer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs


def _unsupported_function(name: str, module: str):
    def fn(incoming: Any, *args: Any, **kwargs: Any) -> Any:
        from theano_serving_import.lasagne import layers
        raise ImporterError(layers.unsupported_message(kwargs.get("name"),
                                                       "%s.%s" % (module, name)))
    fn.__name__ = name
    return fn


# ---------------------------------------------------------------------------------------------
# lasagne.layers.helper
# ---------------------------------------------------------------------------------------------
def get_all_layers(layer: Any, treat_as_input: Any = None) -> List[Any]:
    """lasagne.layers.get_all_layers (treat_as_input, used by training code, is ignored)."""
    from theano_serving_import.lasagne import graph
    return graph.get_all_layers(layer)


def get_output(layer_or_layers: Any, inputs: Any = None, **kwargs: Any) -> Any:
    if isinstance(layer_or_layers, (list, tuple)):
        return [Symbolic("output") for _ in layer_or_layers]
    return Symbolic("output")


def get_output_shape(layer_or_layers: Any, input_shapes: Any = None) -> Any:
    if isinstance(layer_or_layers, (list, tuple)):
        return [layer.output_shape for layer in layer_or_layers]
    return layer_or_layers.output_shape


def get_all_params(layer: Any, unwrap_shared: bool = True, **tags: Any) -> List[Any]:
    params: List[Any] = []
    for l in get_all_layers(layer):
        params.extend(l.get_params(unwrap_shared=unwrap_shared, **tags))
    return unique(params)


def count_params(layer: Any, **tags: Any) -> int:
    return int(sum(np.prod(p._ts_shape) for p in get_all_params(layer, **tags)))


def get_all_param_values(layer: Any, **tags: Any) -> List[np.ndarray]:
    return [p.get_value() for p in get_all_params(layer, **tags)]


def set_all_param_values(layer: Any, values: Sequence[Any], **tags: Any) -> None:
    """Network code that loads its own weights (a model-zoo example calling
    set_all_param_values(net['prob'], d['param values'])): the values are recorded, checked as
    Lasagne checks them."""
    params = get_all_params(layer, **tags)
    if len(params) != len(values):
        raise ValueError("mismatch: got %d values to set %d parameters"
                         % (len(values), len(params)))
    for p, v in zip(params, values):
        v = np.asarray(v)
        if tuple(p._ts_shape) != v.shape:
            raise ValueError("mismatch: parameter has shape %r but value to set has shape %r"
                             % (tuple(p._ts_shape), v.shape))
        p.set_value(v)


# ---------------------------------------------------------------------------------------------
# nolearn.lasagne.NeuralNet: builds its layers from the `layers` list as nolearn does
# ---------------------------------------------------------------------------------------------
class NeuralNet:
    """nolearn.lasagne.NeuralNet: only the layer building (initialize_layers) is reproduced.
    `layers` is a list of (name, LayerClass) with `<name>_<arg>=value` keyword arguments, a list
    of (LayerClass, {kwargs}), or an output layer."""
    _ts_ref = ("nolearn.lasagne.base", "NeuralNet")

    def __init__(self, layers: Any, **kwargs: Any) -> None:
        self.layers = layers
        self._ts_kwargs = kwargs
        for k, v in kwargs.items():
            setattr(self, k, v)
        self.layers_: "OrderedDict[str, Any]" = OrderedDict()
        self._ts_output = None

    @staticmethod
    def _layer_name(layer_class: type, index: int) -> str:
        return "{}{}".format(layer_class.__name__.lower().replace("layer", ""), index)

    def _get_params_for(self, name: str) -> Dict[str, Any]:
        prefix = name + "_"
        return {key[len(prefix):]: value for key, value in self._ts_kwargs.items()
                if key.startswith(prefix)}

    def initialize_layers(self, layers: Any = None) -> Any:
        from theano_serving_import.lasagne import graph
        if layers is not None:
            self.layers = layers
        self.layers_ = OrderedDict()
        if not isinstance(self.layers, (list, tuple)) or (
                self.layers and graph.is_layer(self.layers[0])):
            outputs = self.layers if isinstance(self.layers, (list, tuple)) else [self.layers]
            for out_layer in outputs:
                for i, layer in enumerate(graph.get_all_layers(out_layer)):
                    if all(layer is not l for l in self.layers_.values()):
                        name = layer.name or self._layer_name(type(layer), i)
                        self.layers_[name] = layer
            self._ts_output = outputs[-1]
            return self._ts_output
        layer = None
        for i, layer_def in enumerate(self.layers):
            if isinstance(layer_def[1], dict):
                layer_factory, layer_kw = layer_def
                layer_kw = dict(layer_kw)
            else:
                layer_name, layer_factory = layer_def
                layer_kw = {"name": layer_name}
            if isinstance(layer_factory, str):
                raise ImporterError("nolearn layer %d is given by the name %r; give the class"
                                    % (i, layer_factory))
            if "name" not in layer_kw:
                layer_kw["name"] = self._layer_name(layer_factory, i)
            layer_kw.update(self._get_params_for(layer_kw["name"]))
            if layer_kw["name"] in self.layers_:
                raise ValueError("Two layers with name {}.".format(layer_kw["name"]))
            try:
                is_input_layer = issubclass(layer_factory, InputLayer)
            except TypeError:
                is_input_layer = False
            if not is_input_layer:
                if "incoming" in layer_kw:
                    layer_kw["incoming"] = self.layers_[layer_kw["incoming"]]
                elif "incomings" in layer_kw:
                    layer_kw["incomings"] = [self.layers_[n] for n in layer_kw["incomings"]]
                else:
                    layer_kw["incoming"] = layer
            for attr_name in ("W", "b"):
                if isinstance(layer_kw.get(attr_name), str):
                    layer_kw[attr_name] = getattr(self.layers_[layer_kw[attr_name]], attr_name,
                                                  None)
            layer_wrapper = layer_kw.pop("layer_wrapper", None)
            layer = layer_factory(**layer_kw)
            self.layers_[layer_kw["name"]] = layer
            if layer_wrapper is not None:
                layer = layer_wrapper(layer)
                self.layers_["LW_%s" % layer_kw["name"]] = layer
        self._ts_output = layer
        return layer

    def initialize(self) -> None:
        if self._ts_output is None:
            self.initialize_layers()

    def load_params_from(self, source: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name.startswith("_ts"):
            raise AttributeError(name)
        return Symbolic("NeuralNet." + name)


# ---------------------------------------------------------------------------------------------
# the fake modules
# ---------------------------------------------------------------------------------------------
T_mean = _theano_function("mean")
T_max = _theano_function("max")
T_add = _theano_function("add")
nnet_conv2d = _theano_function("conv2d", "theano.tensor.nnet")
conv1d_mc0 = _theano_function("conv1d_mc0", "lasagne.theano_extensions.conv")

_LAYER_CLASSES = [InputLayer, DenseLayer, NINLayer, DropoutLayer, GaussianNoiseLayer,
                  BaseConvLayer, Conv1DLayer, Conv2DLayer, DilatedConv2DLayer, Conv2DDNNLayer,
                  Conv2DMMLayer, Conv2DCCLayer, Pool2DLayer, MaxPool2DLayer, Pool2DDNNLayer,
                  MaxPool2DDNNLayer, MaxPool2DCCLayer, GlobalPoolLayer, FeaturePoolLayer,
                  Upscale2DLayer,
                  FlattenLayer, ReshapeLayer, DimshuffleLayer, PadLayer, SliceLayer, ConcatLayer,
                  ElemwiseMergeLayer, ElemwiseSumLayer, LocalResponseNormalization2DLayer,
                  BatchNormLayer, BatchNormDNNLayer, NonlinearityLayer, BiasLayer, ScaleLayer,
                  ExpressionLayer, ParametricRectifierLayer, RandomizedRectifierLayer]
for _cls in _LAYER_CLASSES + [Layer, MergeLayer]:
    _cls._ts_standin = True  # type: ignore[attr-defined]


def _inert_function(name: str):
    def fn(*args: Any, **kwargs: Any) -> Any:
        return Symbolic(name)
    fn.__name__ = name
    return fn


class _FakeModule(types.ModuleType):
    """A module whose unknown attributes are `fallback(name)` (or AttributeError)."""

    def __init__(self, name: str, fallback: Any = None) -> None:
        super().__init__(name)
        self._ts_fallback = fallback
        self.__file__ = "<theano-serving-import stand-in for %s>" % name
        self.__path__: List[str] = []  # a package: submodules can be imported

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or self._ts_fallback is None:
            raise AttributeError("module %r has no attribute %r" % (self.__name__, name))
        value = self._ts_fallback(self.__name__, name)
        setattr(self, name, value)
        return value


def _unknown_layer(module: str, name: str) -> Any:
    if name in _UNSUPPORTED_CLASSES:
        return _UNSUPPORTED_CLASSES[name]
    if name and name[0].isupper():
        return unsupported_layer(name, module)
    return _unsupported_function(name, module)


class _InertObject:
    """An instance of an inert class: keeps its arguments; any attribute or call is inert."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._ts_args = args
        self._ts_kwargs = kwargs

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name.startswith("_ts"):
            raise AttributeError(name)
        return Symbolic("%s.%s" % (type(self).__name__, name))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return Symbolic("%s()" % type(self).__name__)


def _inert_class(module: str, name: str) -> type:
    """A class of a stubbed module (nolearn's BatchIterator, sklearn's BaseEstimator, ...):
    network code subclasses and instantiates these (`class FlipBatchIterator(BatchIterator)`,
    the nolearn tutorials), so they must be classes; nothing of theirs runs."""
    return type(name, (_InertObject,), {"__module__": module})


def _inert(module: str, name: str) -> Any:
    if name[:1].isupper():
        return _inert_class(module, name)
    return _inert_function(name)


def _theano_fallback(module: str, name: str) -> Any:
    return _theano_function(name, module)


_LAYER_MODULES = {
    "lasagne.layers.base": ["Layer", "MergeLayer"],
    "lasagne.layers.input": ["InputLayer"],
    "lasagne.layers.dense": ["DenseLayer", "NINLayer"],
    "lasagne.layers.noise": ["DropoutLayer", "dropout", "dropout_channels", "spatial_dropout",
                             "dropout_locations", "GaussianNoiseLayer"],
    "lasagne.layers.conv": ["BaseConvLayer", "Conv1DLayer", "Conv2DLayer",
                            "DilatedConv2DLayer"],
    "lasagne.layers.pool": ["Pool2DLayer", "MaxPool2DLayer", "GlobalPoolLayer",
                            "FeaturePoolLayer", "Upscale2DLayer"],
    "lasagne.layers.shape": ["FlattenLayer", "flatten", "ReshapeLayer", "reshape",
                             "DimshuffleLayer", "dimshuffle", "PadLayer", "pad", "SliceLayer"],
    "lasagne.layers.merge": ["ConcatLayer", "concat", "ElemwiseMergeLayer", "ElemwiseSumLayer"],
    "lasagne.layers.normalization": ["LocalResponseNormalization2DLayer", "BatchNormLayer",
                                     "batch_norm"],
    "lasagne.layers.special": ["NonlinearityLayer", "BiasLayer", "ScaleLayer", "standardize",
                               "ExpressionLayer", "ParametricRectifierLayer", "prelu",
                               "RandomizedRectifierLayer", "rrelu"],
    "lasagne.layers.helper": ["get_output", "get_output_shape", "get_all_layers",
                              "get_all_params", "count_params", "get_all_param_values",
                              "set_all_param_values"],
    "lasagne.layers.dnn": ["Pool2DDNNLayer", "MaxPool2DDNNLayer", "Conv2DDNNLayer",
                           "BatchNormDNNLayer", "batch_norm_dnn"],
    "lasagne.layers.corrmm": ["Conv2DMMLayer"],
    "lasagne.layers.cuda_convnet": ["Conv2DCCLayer", "MaxPool2DCCLayer"],
    "lasagne.layers.recurrent": ["Gate"],
    "lasagne.layers.local": [],
    "lasagne.layers.embedding": [],
}
# Not exported by `lasagne.layers` itself (GPU-only modules are imported explicitly).
_NOT_IN_LAYERS = {"lasagne.layers.dnn", "lasagne.layers.corrmm", "lasagne.layers.cuda_convnet"}

_ALIASES = {"dropout": DropoutLayer, "spatial_dropout": dropout_channels,
            "flatten": FlattenLayer, "reshape": ReshapeLayer, "dimshuffle": DimshuffleLayer,
            "pad": PadLayer, "concat": ConcatLayer}


def build_modules() -> Dict[str, types.ModuleType]:
    """Fresh stand-in modules, by name."""
    g = globals()
    mods: Dict[str, types.ModuleType] = {}

    def module(name: str, fallback: Any = None, **attrs: Any) -> types.ModuleType:
        m = _FakeModule(name, fallback)
        for k, v in attrs.items():
            setattr(m, k, v)
        mods[name] = m
        parent, _, child = name.rpartition(".")
        if parent in mods:
            setattr(mods[parent], child, m)
        return m

    # theano
    theano = module("theano", _theano_fallback, shared=shared, config=_TheanoConfig(),
                    function=_inert_function("function"), Variable=Symbolic,
                    __version__="1.0.5")
    tensor = module("theano.tensor", _theano_fallback)
    for name in ("mean", "max", "min", "sum", "prod", "maximum", "minimum", "add", "sub", "mul",
                 "true_div", "tanh", "exp", "log", "abs_", "sqr", "sqrt", "inv", "dot",
                 "concatenate", "flatten", "reshape", "switch", "expm1", "clip"):
        setattr(tensor, name, _theano_function(name))
    tensor.mean = T_mean
    tensor.max = T_max
    tensor.add = T_add
    for name in ("matrix", "tensor3", "tensor4", "vector", "ivector", "imatrix", "lvector",
                 "fmatrix", "ftensor4", "dmatrix", "dtensor4", "scalar", "iscalar", "fscalar"):
        setattr(tensor, name, _inert_function(name))
    tensor.TensorVariable = Symbolic
    tensor.Variable = Symbolic
    theano.tensor = tensor
    nnet = module("theano.tensor.nnet", lambda m, n: _theano_function(n, "theano.tensor.nnet"))
    for name in ("relu", "sigmoid", "softplus", "softmax", "logsoftmax", "elu", "selu",
                 "ultra_fast_sigmoid", "hard_sigmoid", "softsign", "categorical_crossentropy",
                 "binary_crossentropy"):
        setattr(nnet, name, _theano_function(name, "theano.tensor.nnet"))
    nnet.conv2d = nnet_conv2d
    module("theano.tensor.nnet.abstract_conv", _theano_fallback)
    module("theano.tensor.nnet.conv", _theano_fallback)
    module("theano.tensor.signal", _theano_fallback)
    module("theano.tensor.signal.pool", _theano_fallback)
    module("theano.tensor.signal.downsample", _theano_fallback)
    module("theano.tensor.shared_randomstreams", _theano_fallback)
    module("theano.sandbox", _theano_fallback)
    module("theano.sandbox.rng_mrg", _theano_fallback)
    module("theano.sandbox.cuda", _theano_fallback)
    module("theano.sandbox.cuda.dnn", _theano_fallback)
    module("theano.sandbox.cuda.basic_ops", _theano_fallback)
    module("theano.gpuarray", _theano_fallback)
    module("theano.gpuarray.dnn", _theano_fallback)
    module("theano.printing", _theano_fallback)
    module("theano.compile", _theano_fallback)

    # lasagne
    lasagne = module("lasagne", _inert, __version__="0.2.dev1")
    module("lasagne.utils", _inert, floatX=floatX, as_tuple=as_tuple, int_types=int_types,
           create_param=create_param, unique=unique, shared_empty=_inert_function("empty"))
    init = module("lasagne.init", lambda m, n: _initializer(n), Initializer=Initializer)
    for name in ("Constant", "Normal", "Uniform", "Glorot", "GlorotNormal", "GlorotUniform",
                 "He", "HeNormal", "HeUniform", "Orthogonal", "Sparse"):
        setattr(init, name, _initializer(name))
    module("lasagne.nonlinearities", None, sigmoid=sigmoid, softmax=softmax, tanh=tanh,
           ScaledTanH=ScaledTanH, ScaledTanh=ScaledTanH, rectify=rectify,
           LeakyRectify=LeakyRectify, leaky_rectify=leaky_rectify,
           very_leaky_rectify=very_leaky_rectify, elu=elu, SELU=SELU, selu=selu,
           softplus=softplus, linear=linear, identity=identity)
    for name in ("updates", "objectives", "regularization", "random", "theano_extensions",
                 "theano_extensions.conv", "theano_extensions.padding"):
        module("lasagne." + name, _inert)
    mods["lasagne.theano_extensions.conv"].conv1d_mc0 = conv1d_mc0
    layers = module("lasagne.layers", _unknown_layer)
    for mod_name, names in _LAYER_MODULES.items():
        m = module(mod_name, _unknown_layer)
        for name in names:
            value = _ALIASES.get(name, g.get(name))
            setattr(m, name, value)
            if mod_name not in _NOT_IN_LAYERS:
                setattr(layers, name, value)
        for name in UNSUPPORTED.get(mod_name, []):
            setattr(m, name, _UNSUPPORTED_CLASSES[name])
            if mod_name not in _NOT_IN_LAYERS:
                setattr(layers, name, _UNSUPPORTED_CLASSES[name])
    lasagne.layers = layers

    # nolearn
    module("nolearn", _inert)
    module("nolearn.lasagne", _inert, NeuralNet=NeuralNet)
    module("nolearn.lasagne.base", _inert, NeuralNet=NeuralNet)
    module("nolearn.lasagne.handlers", _inert)
    module("nolearn.lasagne.visualize", _inert)
    return mods


# Third-party modules that network files import for training or plotting, not for the network:
# replaced by inert modules when they are not installed (a note says so).
STUBBABLE = ("matplotlib", "pylab", "sklearn", "skimage", "scipy", "cv2", "PIL", "pandas",
             "seaborn", "tqdm", "progressbar", "pylearn2", "pygpu", "h5py", "joblib",
             "tensorboard", "visdom", "IPython", "yaml", "dill", "cloudpickle")


class _StubFinder:
    """Import hook: a missing module from STUBBABLE becomes an inert module."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        import importlib.machinery
        import importlib.util
        top = fullname.split(".")[0]
        if top not in STUBBABLE:
            return None
        # Only when the real one is not installed.
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            try:
                if find(fullname, path, target) is not None:
                    return None
            except Exception:
                continue
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> types.ModuleType:
        if spec.name.split(".")[0] not in CONFIG.stubbed:
            CONFIG.stubbed.append(spec.name.split(".")[0])
        return _FakeModule(spec.name, _inert)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


_OWNED_PREFIXES = ("theano", "lasagne", "nolearn")


@contextlib.contextmanager
def installed(floatx: str = "float32", input_shape: Optional[Sequence[int]] = None,
              old_pool_default: bool = False) -> Iterator[Dict[str, types.ModuleType]]:
    """Puts the stand-ins in sys.modules (and the stub finder on sys.meta_path) while the
    user's code runs; restores everything afterwards, whatever happens."""
    CONFIG.floatX = floatx
    CONFIG.input_shape = list(input_shape) if input_shape else None
    CONFIG.stubbed = []
    CONFIG.old_pool_default = old_pool_default
    saved = {name: mod for name, mod in sys.modules.items()
             if name.split(".")[0] in _OWNED_PREFIXES}
    for name in saved:
        del sys.modules[name]
    mods = build_modules()
    sys.modules.update(mods)
    finder = _StubFinder()
    sys.meta_path.append(finder)
    try:
        yield mods
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules
                     if n.split(".")[0] in _OWNED_PREFIXES + tuple(STUBBABLE)
                     and isinstance(sys.modules[n], _FakeModule)]:
            del sys.modules[name]
        sys.modules.update(saved)
