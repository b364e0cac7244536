"""Reading a Lasagne layer graph, whoever built it.

A layer is either an instance of one of our stand-in classes (standins.py, built by running the
user's network code) or a `safe_pickle.Record` (a layer unpickled from `pickle.dump(net)`). Both
carry Lasagne's own attribute names with the values Lasagne's `__init__` stores, so the
translators read them the same way: `attr(layer, "num_filters")`.
"""

from collections import deque
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

MISSING = object()   # "no such attribute", as a value
_REQUIRED = object()  # attr() without a default: raise


def _record_types() -> Tuple[type, ...]:
    try:
        from theano_serving_import import safe_pickle
    except ImportError:  # the unpickler is not there yet: no Records can exist either
        return ()
    return tuple(t for t in (getattr(safe_pickle, "Record", None),
                             getattr(safe_pickle, "GlobalRef", None)) if t is not None)


def is_record(obj: Any) -> bool:
    """True for a safe_pickle.Record (an unpickled instance of an allowed class)."""
    types = _record_types()
    return bool(types) and isinstance(obj, types[0])


def is_global_ref(obj: Any) -> bool:
    """True for a safe_pickle.GlobalRef (a function or class named by a pickle, not called)."""
    types = _record_types()
    return len(types) > 1 and isinstance(obj, types[1])


def attr(layer: Any, name: str, default: Any = _REQUIRED) -> Any:
    """`layer.name` for a stand-in or a Record; `default` when it has no such attribute (a layer
    pickled by an older Lasagne may lack attributes added later)."""
    if is_record(layer):
        # a Record's own slots (.name is the class name, .args, ...) must not hide the state
        attrs = layer.attrs()
        if name in attrs:
            return attrs[name]
        if default is _REQUIRED:
            raise AttributeError("%s has no attribute %r" % (layer.qualname, name))
        return default
    try:
        return getattr(layer, name)
    except (AttributeError, KeyError):
        if default is _REQUIRED:
            raise
        return default


def has_attr(layer: Any, name: str) -> bool:
    return attr(layer, name, MISSING) is not MISSING


class LayerClass:
    """What a layer is: `name` (Lasagne's class name, e.g. 'Conv2DLayer'), `qualname`
    (module.Class of the object itself), and `custom` — a method that a user subclass overrides
    (its computation is then the user's, which we cannot translate)."""

    def __init__(self, name: str, qualname: str, custom: Optional[str] = None) -> None:
        self.name = name
        self.qualname = qualname
        self.custom = custom


# Methods whose override makes a subclass compute something of its own.
_COMPUTING_METHODS = ("get_output_for", "convolve", "get_output_shape_for", "get_W_shape")


def layer_class(layer: Any) -> LayerClass:
    if is_record(layer):
        module = layer.module or ""
        name = layer.name
        return LayerClass(name if module.startswith("lasagne.") or module.startswith("nolearn.")
                          else "", layer.qualname)
    cls = type(layer)
    qualname = "%s.%s" % (cls.__module__, cls.__qualname__)
    for base in cls.__mro__:
        if base.__dict__.get("_ts_standin"):
            custom = None
            for klass in cls.__mro__:
                if klass is base:
                    break
                for method in _COMPUTING_METHODS:
                    if method in klass.__dict__:
                        custom = method
                        break
                if custom:
                    break
            if base is cls:
                qualname = "%s.%s" % (base._ts_module, base.__name__)
            return LayerClass(base.__name__, qualname, custom)
    return LayerClass("", qualname)


def is_layer(obj: Any) -> bool:
    """A Lasagne layer: an instance of a stand-in layer class (or of a user subclass of one), or
    a Record of a lasagne.layers class."""
    if is_record(obj):
        return (obj.module or "").startswith("lasagne.layers")
    return bool(getattr(type(obj), "_ts_is_layer", False))


def input_layers(layer: Any) -> List[Any]:
    """The layers a layer reads, in order (None for an input given as a shape tuple)."""
    many = attr(layer, "input_layers", MISSING)
    if many is not MISSING:
        return list(many)
    one = attr(layer, "input_layer", MISSING)
    if one is not MISSING:
        return [one]
    return []


def get_all_layers(outputs: Any) -> List[Any]:
    """lasagne.layers.get_all_layers: depth-first, each layer after all its inputs, inputs in
    their listed order (lasagne/layers/helper.py). Identity-based, like Lasagne's sets."""
    try:
        queue = deque(outputs)
    except TypeError:
        queue = deque([outputs])
    seen = set()
    done = set()
    result = []
    while queue:
        layer = queue[0]
        if layer is None:
            queue.popleft()
        elif id(layer) not in seen:
            seen.add(id(layer))
            if has_attr(layer, "input_layers"):
                queue.extendleft(reversed(list(attr(layer, "input_layers"))))
            elif has_attr(layer, "input_layer"):
                queue.appendleft(attr(layer, "input_layer"))
        else:
            queue.popleft()
            if id(layer) not in done:
                result.append(layer)
                done.add(id(layer))
    return result


# Lasagne before April 2015 (nolearn's facial-keypoints tutorial era) had no Layer.params: a
# layer's get_params() returned these attributes, in this order.
_EARLY_PARAM_ATTRS = ("W", "b", "beta", "gamma", "mean", "inv_std", "scales", "alpha")


def layer_params(layer: Any) -> List[Any]:
    """A layer's parameters in creation order (`Layer.params`, an OrderedDict param -> tags).
    A layer pickled by a Lasagne older than `params`: its shared-variable attributes W, b, ...
    (what its get_params() returned)."""
    params = attr(layer, "params", None)
    if params is None:
        if is_record(layer) and not has_attr(layer, "params"):
            out = []
            for name in _EARLY_PARAM_ATTRS:
                value = attr(layer, name, None)
                if is_record(value) and value.has("container"):
                    out.append(value)
            return out
        return []
    if isinstance(params, dict):
        return list(params.keys())
    try:
        return list(params)
    except TypeError:
        return []


def get_all_params(layers: Sequence[Any]) -> List[Tuple[Any, Any]]:
    """lasagne.layers.get_all_params(output) with no tag filter: each layer's params in
    get_all_layers order, each parameter once (Lasagne's utils.unique). Returns (layer, param)
    pairs; a parameter shared by two layers belongs to the first."""
    out = []
    seen = set()
    for layer in layers:
        for p in layer_params(layer):
            if id(p) not in seen:
                seen.add(id(p))
                out.append((layer, p))
    return out


def param_name(p: Any) -> Optional[str]:
    name = attr(p, "name", None)
    return name if isinstance(name, str) else None


def short_param_name(p: Any) -> str:
    """'W' of 'conv1.W'."""
    name = param_name(p) or "?"
    return name.rsplit(".", 1)[-1]


# Keys of the dict the network code returned, for its unnamed layers (model-zoo code:
# net['conv1_1'] = ConvLayer(...)): id(layer) -> (layer, key); the layer is kept so that its id
# stays its own.
_KEYS: Dict[int, Tuple[Any, str]] = {}


def forget_keys() -> None:
    _KEYS.clear()


def set_key(layer: Any, key: str) -> None:
    """Records `key` as what an unnamed layer is called (its first key wins)."""
    name = attr(layer, "name", None)
    if not (isinstance(name, str) and name) and id(layer) not in _KEYS:
        _KEYS[id(layer)] = (layer, str(key))


def layer_name(layer: Any) -> Optional[str]:
    """The layer's Lasagne name, else its key in the dict of layers the code returned."""
    name = attr(layer, "name", None)
    if isinstance(name, str) and name:
        return name
    entry = _KEYS.get(id(layer))
    return entry[1] if entry is not None and entry[0] is layer else None


def display_name(layer: Any, index: int) -> str:
    """How messages name a layer: `Conv2DLayer "conv1"` (its name, or its key in the dict the
    network code returned), or `Conv2DLayer (layer 3)` for an unnamed one (3 = its position
    in get_all_layers, as in intermediates.npz keys)."""
    cls = layer_class(layer)
    short = cls.name or cls.qualname.rsplit(".", 1)[-1]
    name = layer_name(layer)
    if name:
        return '%s "%s"' % (short, name)
    return "%s (layer %d)" % (short, index)


def fmt_shape(shape: Any) -> str:
    return str(tuple(int(d) if isinstance(d, (int, np.integer)) else d for d in shape))


def tuple_shape(shape: Any) -> Tuple[Any, ...]:
    return tuple(None if d is None else int(d) for d in shape)


def mapping_items(obj: Any) -> List[Tuple[Any, Any]]:
    """Items of a dict-like object (a real dict, or an OrderedDict from the unpickler)."""
    if isinstance(obj, dict):
        return list(obj.items())
    if is_record(obj):  # e.g. nolearn's Layers (an OrderedDict subclass): SETITEMS -> dictitems
        if isinstance(obj.dictitems, dict):
            return list(obj.dictitems.items())
        return []
    items = getattr(obj, "items", None)
    if callable(items):
        return list(items())
    return []

