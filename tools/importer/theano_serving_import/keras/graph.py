"""The Keras model graph and the emission context the layer translators write through.

Keras configs (keras/engine/topology.py `Container.get_config`, Keras 1.2.2 / 2.0.8;
keras/models.py `Sequential.get_config`):

* Sequential: `config` is the list of layer configs (Keras 2.2: `{"name", "layers": [...]}`);
  the first layer carries `batch_input_shape` (or is an InputLayer).
* Model (functional): `config` = `{"layers": [...], "input_layers": [[name, node, tensor]],
  "output_layers": [...]}`; each layer has `inbound_nodes`, one entry per call of the layer,
  each a list of `[layer_name, node_index, tensor_index(, kwargs)]` (kwargs from Keras 2 on).

Tensors are kept in Keras' own layout (what the Keras layer sees). A channels_last layer runs on
the Theano backend as dimshuffle to NCHW, the Theano op, dimshuffle back (theano_backend.py
`_preprocess_conv2d_input` / `_postprocess_conv2d_output`, `pool2d`); a Tensor can therefore
also carry its NCHW transpose (`nchw`), and the dimshuffle back to Keras' layout is emitted
only when some layer needs that layout: the same data moved fewer times, every value computed
by the same arithmetic as Theano (a dimshuffle moves data and never changes it).
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from theano_serving_import.errors import ImporterError
from theano_serving_import.model_builder import ModelBuilder

TensorKey = Tuple[str, int, int]   # (layer name, node index, tensor index)


class Tensor:
    """A Keras tensor: its item shape (no batch axis) in Keras' layout, the model.json layer
    holding it in that layout (None until needed), and optionally the layer holding its NCHW
    transpose (channels_last 3-D items only)."""

    def __init__(self, shape: Sequence[int], name: Optional[str] = None,
                 nchw: Optional[str] = None) -> None:
        self.shape = tuple(int(d) for d in shape)
        self.name = name
        self.nchw = nchw
        if name is None and nchw is None:
            raise AssertionError("a tensor needs a layer")

    @property
    def ndim(self) -> int:
        """Rank including the batch axis (Keras' K.ndim)."""
        return len(self.shape) + 1


class Layer:
    """One Keras layer of the config, with the weights Keras would assign to it."""

    def __init__(self, class_name: str, config: Dict[str, Any], name: str,
                 inbound: List[List[TensorKey]]) -> None:
        self.class_name = class_name
        self.config = config
        self.name = name
        self.inbound = inbound          # one entry per node: the input tensor keys
        self.weights: List[np.ndarray] = []
        self.weight_names: List[str] = []
        self.file_layer_name: Optional[str] = None
        self.weight_source = "the weights file"   # for messages: file and layer group
        self.orig_name = name            # the name inside its own model (weight names use it)
        self.sublayers: List["Layer"] = []   # a nested model: its layers (spliced into the graph)
        self.container: Optional[str] = None  # the nested model this layer belongs to

    def what(self) -> str:
        return '%s "%s"' % (self.class_name, self.name)


class ModelGraph:
    def __init__(self, layers: List[Layer], inputs: List[TensorKey], outputs: List[TensorKey],
                 kind: str, aliases: Optional[Dict[TensorKey, TensorKey]] = None) -> None:
        self.layers = layers
        self.inputs = inputs
        self.outputs = outputs
        self.kind = kind  # "Sequential" or "Model"
        self.by_name = {l.name: l for l in layers}
        # Nested models are spliced in: a nested model's output stands for its last layer's,
        # its input for the tensor it was called on.
        self.aliases: Dict[TensorKey, TensorKey] = aliases or {}

    def resolve(self, key: TensorKey) -> TensorKey:
        seen = 0
        while key in self.aliases:
            key = self.aliases[key]
            seen += 1
            if seen > 1000:
                raise ImporterError("the model config's nested models refer to each other")
        return key


def _layer_list(config: Any, what: str) -> List[Dict[str, Any]]:
    if isinstance(config, dict) and isinstance(config.get("layers"), list):
        return config["layers"]
    if isinstance(config, list):
        return config
    raise ImporterError("%s: the model config has no layer list" % what)


def _key(entry: Any, what: str) -> TensorKey:
    if not isinstance(entry, (list, tuple)) or len(entry) < 3:
        raise ImporterError("%s: malformed inbound node entry %r" % (what, entry))
    return (str(entry[0]), int(entry[1]), int(entry[2]))


def parse_model(model_config: Dict[str, Any], what: str, nested: bool = False) -> ModelGraph:
    """The layers, graph input(s) and output(s) of a Sequential or functional model config."""
    class_name = model_config.get("class_name")
    config = model_config.get("config")
    if class_name == "Sequential":
        entries = _layer_list(config, what)
        if not entries:
            raise ImporterError("%s: the Sequential model has no layers" % what)
        layers: List[Layer] = []
        aliases: Dict[TensorKey, TensorKey] = {}
        prev: Optional[TensorKey] = None
        for i, entry in enumerate(entries):
            cname = entry.get("class_name")
            cfg = entry.get("config") or {}
            if cname == "Merge" and "layers" in cfg:
                raise ImporterError(
                    'Merge "%s": a Sequential model whose layer %d merges sub-models (several '
                    'inputs) is not supported' % (cfg.get("name", "?"), i))
            name = str(cfg.get("name") or "%s_%d" % (str(cname).lower(), i))
            if i == 0 and cname == "InputLayer":
                layers.append(Layer(cname, cfg, name, []))
                prev = (name, 0, 0)
                continue
            if prev is None:
                shape = cfg.get("batch_input_shape") or _container_input_shape(cname, cfg)
                if shape is None and cfg.get("input_dim") is not None:
                    shape = [None, cfg["input_dim"]]
                if shape is None and not nested:   # nested: the tensor it is called on
                    raise ImporterError('%s "%s": the first layer of the Sequential model '
                                        'has no batch_input_shape' % (cname, name))
                inp_name = _free_name("input", entries)
                inp = Layer("InputLayer", {"batch_input_shape": shape, "name": inp_name},
                            inp_name, [])
                layers.append(inp)
                prev = (inp.name, 0, 0)
            layer = Layer(str(cname), cfg, name, [[prev]])
            layers.append(layer)
            if cname in ("Model", "Sequential", "Functional") and isinstance(cfg, (dict, list)):
                _splice(layer, {}, layers, aliases, what)
            prev = (name, 0, 0)
        first = layers[0]
        return ModelGraph(layers, [(first.name, 0, 0)], [prev], "Sequential", aliases)
    if class_name in ("Model", "Functional"):
        if not isinstance(config, dict):
            raise ImporterError("%s: the Model config is not an object" % what)
        layers = []
        aliases: Dict[TensorKey, TensorKey] = {}
        for entry in _layer_list(config, what):
            cname = str(entry.get("class_name"))
            cfg = entry.get("config") or {}
            name = str(entry.get("name") or cfg.get("name"))
            inbound = []
            for node in entry.get("inbound_nodes") or []:
                inbound.append([_key(t, '%s "%s"' % (cname, name)) for t in node])
            layer = Layer(cname, cfg, name, inbound)
            layers.append(layer)
            if cname in ("Model", "Sequential", "Functional") and isinstance(cfg, (dict, list)):
                _splice(layer, entry, layers, aliases, what)
        inputs = [_key(t, what) for t in config.get("input_layers") or []]
        outputs = [_key(t, what) for t in config.get("output_layers") or []]
        return ModelGraph(layers, inputs, outputs, "Model", aliases)
    if class_name == "Graph":
        raise ImporterError("%s: the legacy Keras 0.x/1.x Graph container is not supported; "
                            "rebuild the model with the functional API (Model)" % what)
    raise ImporterError("%s: unknown model class %r (expected Sequential or Model)"
                        % (what, class_name))


def _splice(layer: Layer, entry: Dict[str, Any], layers: List[Layer],
            aliases: Dict[TensorKey, TensorKey], what: str) -> None:
    """A model used as a layer (e.g. Model(base.input, top_model(base.output))): its layers
    join the graph under "<model>/<layer>" names; its input is the tensor it was called on,
    its output stands for the nested model's output. Keras saves its weights as one group
    (the nested model's `weights`, each named "<layer>/<weight>")."""
    if len(layer.inbound) != 1:
        raise ImporterError('%s: a nested model called %d times is not supported (only once)'
                            % (layer.what(), len(layer.inbound)))
    sub = parse_model({"class_name": layer.class_name, "config": layer.config},
                      '%s "%s"' % (layer.class_name, layer.name), nested=True)
    if len(sub.inputs) != 1 or len(sub.outputs) != 1 or len(layer.inbound[0]) != 1:
        raise ImporterError("%s: a nested model with several inputs or outputs is not "
                            "supported" % layer.what())
    prefix = layer.name + "/"

    def rename(key: TensorKey) -> TensorKey:
        return (prefix + key[0], key[1], key[2])

    for key, target in sub.aliases.items():
        aliases[rename(key)] = rename(target)
    for sl in sub.layers:
        if sl.class_name == "InputLayer":
            continue
        sl.name = prefix + sl.name
        sl.inbound = [[rename(k) for k in node] for node in sl.inbound]
        sl.container = layer.name if sl.container is None else prefix + sl.container
        layers.append(sl)
        if sl.container == layer.name:
            layer.sublayers.append(sl)
    aliases[rename(sub.inputs[0])] = layer.inbound[0][0]
    aliases[(layer.name, 0, 0)] = rename(sub.outputs[0])


def _container_input_shape(class_name: Any, config: Any) -> Optional[List[Any]]:
    """The batch_input_shape of a nested model used as a Sequential's first layer."""
    if class_name not in ("Model", "Sequential", "Functional"):
        return None
    try:
        first = _layer_list(config, "")[0].get("config") or {}
    except (ImporterError, IndexError, AttributeError):
        return None
    return first.get("batch_input_shape")


def _free_name(base: str, entries: List[Dict[str, Any]]) -> str:
    taken = {str((e.get("config") or {}).get("name")) for e in entries}
    name, k = base, 1
    while name in taken:
        k += 1
        name = "%s_%d" % (base, k)
    return name


class Context:
    """What a translator needs: the builder, the Keras version/backend facts, and helpers that
    emit ops in Keras' layout or on the NCHW transpose."""

    def __init__(self, builder: ModelBuilder, keras_version: Tuple[int, ...], backend: str,
                 dtype: str) -> None:
        self.builder = builder
        self.version = keras_version
        self.major = keras_version[0]
        self.backend = backend
        self.dtype = dtype
        # Theano's conv2d is a true convolution (filter_flip=True); TensorFlow and CNTK
        # cross-correlate, and a kernel trained there must not be flipped.
        self.filter_flip = backend == "theano"
        # layers whose 'same' geometry differs between TensorFlow and Theano (for a note)
        self.tf_geometry_layers: List[str] = []

    # -- emission ----------------------------------------------------------------------------
    def emit(self, op: str, attrs: Optional[Dict[str, Any]] = None,
             inputs: Optional[Sequence[str]] = None, params: Sequence[str] = (),
             name: Optional[str] = None) -> str:
        return self.builder.add_layer(op, attrs, params, inputs=list(inputs or []) or None,
                                      name=name)

    def param(self, name: str, array: Any) -> str:
        return self.builder.add_param(name, array)

    def value(self, t: Tensor) -> str:
        """The layer holding t in Keras' layout (emits the dimshuffle back from NCHW once)."""
        if t.name is None:
            t.name = self.emit("dimshuffle", {"pattern": [0, 2, 3, 1]}, [t.nchw],
                               name=t.nchw + "/to_nhwc")
        return t.name

    def nchw(self, t: Tensor) -> str:
        """The layer holding the NCHW transpose of a channels_last 3-D item (dimshuffle
        (0, 3, 1, 2), emitted once)."""
        if len(t.shape) != 3:
            raise AssertionError("nchw() of a rank-%d item" % len(t.shape))
        if t.nchw is None:
            t.nchw = self.emit("dimshuffle", {"pattern": [0, 3, 1, 2]}, [t.name],
                               name=t.name + "/to_nchw")
        return t.nchw

    def elementwise(self, t: Tensor, op: str, attrs: Optional[Dict[str, Any]] = None,
                    name: Optional[str] = None) -> Tensor:
        """A one-input element-wise op: applied in whichever layout t is held (NCHW
        preferred), since an element-wise op commutes with a dimshuffle."""
        if t.nchw is not None:
            out = self.emit(op, attrs, [t.nchw], name=name)
            return Tensor(t.shape, nchw=out)
        return Tensor(t.shape, name=self.emit(op, attrs, [t.name], name=name))
