"""Every `lasagne.nonlinearities` function (and the Theano functions passed directly as one),
recognised — never called — and written as the model.json ops that compute it as Lasagne does.

Lasagne (lasagne/nonlinearities.py, master) computes:
  sigmoid(x)   = T.nnet.sigmoid(x)              -> sigmoid
  softmax(x)   = T.nnet.softmax(x)              -> softmax
  tanh(x)      = T.tanh(x)                      -> tanh
  ScaledTanH   = T.tanh(x * scale_in) * scale_out  -> mul(scale_in), tanh, mul(scale_out)
  rectify(x)   = T.nnet.relu(x)                 -> relu                 (0.5 * (x + |x|))
  LeakyRectify = T.nnet.relu(x, leakiness)      -> relu(alpha)          (leaky_rectify 0.01,
                                                                         very_leaky_rectify 1/3)
  elu(x)       = T.switch(x > 0, x, T.expm1(x)) -> elu                  (alpha 1)
  SELU         = scale * T.switch(x > 0, x, scale_neg * T.expm1(x))
                                                -> selu for Lasagne's selu constants, else
                                                   elu(alpha=scale_neg), mul(scale)
  softplus(x)  = T.nnet.softplus(x)             -> softplus
  linear(x) = identity(x) = x                   -> nothing
"""

from typing import Any, Dict, List, Optional, Tuple

from theano_serving_import.errors import ImporterError
from theano_serving_import.lasagne import graph

# Lasagne's selu instance (SELU(scale=..., scale_neg=...)) = the engine's selu op.
SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717

# function name -> kind, for functions of lasagne.nonlinearities and of theano.tensor(.nnet)
_LASAGNE_FUNCTIONS = {
    "sigmoid": "sigmoid", "softmax": "softmax", "tanh": "tanh", "rectify": "relu",
    "elu": "elu", "softplus": "softplus", "linear": "identity", "identity": "identity",
}
_THEANO_FUNCTIONS = {
    "relu": "relu", "sigmoid": "sigmoid", "softplus": "softplus", "softmax": "softmax",
    "logsoftmax": "log_softmax", "log_softmax": "log_softmax", "tanh": "tanh", "exp": "exp",
    "abs_": "abs", "abs": "abs", "ultra_fast_sigmoid": "ultra_fast_sigmoid",
    "hard_sigmoid": "hard_sigmoid", "elu": "elu", "selu": "selu", "softsign": "softsign",
}
# Elemwise scalar ops (a pickled T.tanh is an Elemwise whose scalar_op is a Tanh record)
_SCALAR_OPS = {
    "Tanh": "tanh", "ScalarSigmoid": "sigmoid", "ScalarSoftplus": "softplus", "Exp": "exp",
    "Abs": "abs", "UltraFastScalarSigmoid": "ultra_fast_sigmoid",
}

SUPPORTED_TEXT = ("lasagne.nonlinearities: sigmoid, softmax, tanh, ScaledTanH, rectify, "
                  "LeakyRectify (leaky_rectify, very_leaky_rectify), elu, SELU (selu), softplus, "
                  "linear, identity; theano.tensor: nnet.relu, nnet.sigmoid, nnet.softplus, "
                  "nnet.softmax, nnet.logsoftmax, nnet.elu, nnet.selu, nnet.ultra_fast_sigmoid, "
                  "nnet.hard_sigmoid, nnet.softsign, tanh, exp, abs_")


class Nonlinearity:
    """A recognised nonlinearity: `kind` plus its constants."""

    def __init__(self, kind: str, **consts: float) -> None:
        self.kind = kind
        self.consts = consts

    def __repr__(self) -> str:
        return "Nonlinearity(%s, %s)" % (self.kind, self.consts)


def _ref(obj: Any) -> Tuple[str, str]:
    """(module, name) of a stand-in function/object, a GlobalRef, or a Record's class."""
    if graph.is_record(obj) or graph.is_global_ref(obj):
        return obj.module or "", obj.name
    ref = getattr(obj, "_ts_ref", None)
    if ref is None:
        ref = getattr(type(obj), "_ts_ref", None)
    if isinstance(ref, tuple):
        return ref
    return (getattr(obj, "__module__", "") or "", getattr(obj, "__qualname__",
                                                          type(obj).__name__))


def recognise(fn: Any) -> Optional[Nonlinearity]:
    """The Nonlinearity `fn` computes, or None when it is not one we know (a lambda, a user
    function, ...)."""
    if fn is None:
        return Nonlinearity("identity")
    module, name = _ref(fn)
    if module.startswith("lasagne.nonlinearities"):
        if name in _LASAGNE_FUNCTIONS and not graph.is_record(fn):
            return Nonlinearity(_LASAGNE_FUNCTIONS[name])
        if name == "LeakyRectify":
            return Nonlinearity("relu", alpha=float(graph.attr(fn, "leakiness", 0.01)))
        if name in ("ScaledTanH", "ScaledTanh"):
            return Nonlinearity("scaled_tanh", scale_in=float(graph.attr(fn, "scale_in", 1)),
                                scale_out=float(graph.attr(fn, "scale_out", 1)))
        if name == "SELU":
            return Nonlinearity("selu", scale=float(graph.attr(fn, "scale", 1)),
                                scale_neg=float(graph.attr(fn, "scale_neg", 1)))
        return None
    if module.startswith("theano"):
        if graph.is_record(fn) and name == "Elemwise":
            scalar = graph.attr(fn, "scalar_op", None)
            if scalar is not None and graph.is_record(scalar) and scalar.name in _SCALAR_OPS:
                return Nonlinearity(_SCALAR_OPS[scalar.name])
            return None
        if name in _THEANO_FUNCTIONS and not graph.is_record(fn):
            kind = _THEANO_FUNCTIONS[name]
            if kind == "selu":
                return Nonlinearity("selu", scale=SELU_SCALE, scale_neg=SELU_ALPHA)
            return Nonlinearity(kind)
    return None


def describe(fn: Any) -> str:
    """How an error message names a nonlinearity we do not know."""
    module, name = _ref(fn)
    if getattr(fn, "__name__", "") == "<lambda>":
        return "a lambda defined in %s" % (module or "the network code")
    return "%s.%s" % (module, name) if module else str(name)


def ops(nl: Nonlinearity) -> List[Tuple[str, Dict[str, Any]]]:
    """The model.json ops (op, attrs) computing `nl`, in order; [] for the identity.
    `mul` with a constant is written with `operands: ["input:0", c]`."""
    k = nl.kind
    c = nl.consts
    if k == "identity":
        return []
    if k == "relu":
        alpha = c.get("alpha", 0.0)
        return [("relu", {"alpha": alpha} if alpha != 0 else {})]
    if k == "scaled_tanh":
        out: List[Tuple[str, Dict[str, Any]]] = []
        if c["scale_in"] != 1:
            out.append(("mul", {"operands": ["input:0", c["scale_in"]]}))
        out.append(("tanh", {}))
        if c["scale_out"] != 1:
            out.append(("mul", {"operands": ["input:0", c["scale_out"]]}))
        return out
    if k == "selu":
        if c["scale"] == SELU_SCALE and c["scale_neg"] == SELU_ALPHA:
            return [("selu", {})]
        out = [("elu", {"alpha": c["scale_neg"]} if c["scale_neg"] != 1 else {})]
        if c["scale"] != 1:
            out.append(("mul", {"operands": ["input:0", c["scale"]]}))
        return out
    return [(k, {})]


def require(fn: Any, where: str) -> Nonlinearity:
    """recognise(fn), or an ImporterError naming the layer and what is supported."""
    nl = recognise(fn)
    if nl is None:
        raise ImporterError("%s: unsupported nonlinearity %s; supported: %s"
                            % (where, describe(fn), SUPPORTED_TEXT))
    return nl
