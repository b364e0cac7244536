"""`theano-serving-import keras`: Keras 1.x / 2.x models as the Theano backend computes them.

    theano-serving-import keras MODEL.h5 --out DIR                 (model.save)
    theano-serving-import keras ARCH.json --weights W.h5 --out DIR (to_json + save_weights)

The file is read directly (h5py; Keras is not needed) and every layer is translated into the
Theano ops Keras' Theano backend builds for it (keras/layers.py has one translator per class
and the table of supported classes). The facts that make Keras-on-Theano differ from other
ports: convolutions are true convolutions (filter_flip), 'same' is Theano's 'half' plus a crop
for even kernels, 'same' pooling pads and crops, and channels_last layers run as dimshuffles
around the NCHW ops, so a channels_last model is served on (H, W, C) inputs.

The backend comes from the file (`backend` attribute, Keras 2); a Keras-1 file does not record
it and is taken as Theano unless --backend says otherwise. A TensorFlow / CNTK file is imported
with cross-correlation (filter_flip false), as Keras itself converts it when loading it on
Theano.
"""

import argparse
import os
import re
from typing import Dict, List, Optional, Set, Tuple

import numpy as np

from theano_serving_import.errors import ImporterError
from theano_serving_import.keras.graph import (Context, Layer, ModelGraph, Tensor, TensorKey,
                                               parse_model)
from theano_serving_import.keras.h5 import KerasFiles, read_files
from theano_serving_import.keras.layers import SUPPORTED, supported_list
from theano_serving_import.model_builder import ModelBuilder

BACKENDS = ("theano", "tensorflow", "cntk")


def _shape_arg(text: str) -> List[int]:
    from theano_serving_import.cli import parse_shape  # cli imports this module
    return parse_shape(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.h5|ARCH.json",
                        help="a model.save() file (model_config + model_weights), or the JSON "
                             "of model.to_json() with --weights")
    parser.add_argument("--weights", metavar="WEIGHTS.h5",
                        help="weights saved with model.save_weights() (required with "
                             "ARCH.json; with MODEL.h5 they replace its weights)")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="the Keras backend the model was trained with, for files that do "
                             "not record it (Keras 1); default theano")
    parser.add_argument("--input-shape", type=_shape_arg, metavar="D,D,D",
                        help="the input item shape in the model's own layout (e.g. 224,224,3 "
                             "for channels_last), for models whose input has unknown sizes")


def parse_version(text: Optional[str]) -> Optional[Tuple[int, ...]]:
    """'1.2.2' -> (1, 2, 2); '2.1.6-tf' -> (2, 1, 6); None when absent or unreadable."""
    if not text:
        return None
    m = re.match(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if not m:
        return None
    return tuple(int(g) for g in m.groups() if g is not None)


KERAS1_KEYS = {"nb_filter", "output_dim", "border_mode", "dim_ordering", "subsample",
               "nb_row", "init"}
KERAS2_KEYS = {"filters", "units", "padding", "data_format", "kernel_size",
               "kernel_initializer"}


def _infer_major(graph: ModelGraph) -> int:
    """Keras 1 and 2 name config keys differently (Convolution2D(nb_filter) vs
    Conv2D(filters), Dense(output_dim) vs Dense(units))."""
    for layer in graph.layers:
        keys = set(layer.config)
        if keys & KERAS1_KEYS or layer.class_name in ("Convolution2D", "Merge"):
            return 1
        if keys & KERAS2_KEYS:
            return 2
    return 2


def _resolve_backend(files: KerasFiles, given: Optional[str], major: int,
                     builder: ModelBuilder) -> str:
    recorded = files.backend
    if recorded:
        if recorded not in BACKENDS:
            raise ImporterError("%s records backend %r; supported: %s"
                                % (files.attr_source or files.config_source, recorded,
                                   ", ".join(BACKENDS)))
        if given and given != recorded:
            raise ImporterError("%s records backend %r, but --backend %s was given"
                                % (files.weights.path if files.weights else
                                   files.config_source, recorded, given))
        return recorded
    if given:
        return given
    builder.note("the file does not record its Keras backend (Keras %d): taken as Theano "
                 "(true convolutions; give --backend tensorflow for a model trained with "
                 "TensorFlow)" % major)
    return "theano"


def _assign_weights(graph: ModelGraph, files: KerasFiles) -> None:
    """Keras' load_weights_from_hdf5_group: the file's layers with weights go, in order, to
    the model's layers with weights, in order (names are not compared)."""
    weights = files.weights
    assert weights is not None
    saved = weights.with_weights()
    wanted: List[Layer] = []
    for layer in graph.layers:
        if layer.class_name == "InputLayer" or layer.container is not None:
            continue
        if layer.sublayers:
            if any(_has_weights(sl) for sl in _all_sublayers(layer)):
                wanted.append(layer)
            continue
        spec = SUPPORTED.get(layer.class_name)
        if spec is None:
            # Unsupported layers are refused when reached; for the pairing, trust the file.
            named = [e for e in saved if e[0] == layer.name]
            if named:
                wanted.append(layer)
            continue
        if spec.n_weights(layer) > 0:
            wanted.append(layer)
    base = os.path.basename(weights.path)
    if len(saved) != len(wanted):
        raise ImporterError(
            "%s has weights for %d layers (%s) but the architecture has %d layers with "
            "weights (%s); Keras loads weights by position, so they must correspond"
            % (weights.path, len(saved), ", ".join(e[0] for e in saved) or "none",
               len(wanted), ", ".join(l.name for l in wanted) or "none"))
    for layer, (name, weight_names, arrays) in zip(wanted, saved):
        if layer.sublayers:
            _distribute(layer, name, weight_names, arrays, base)
            continue
        layer.weights = arrays
        layer.weight_names = weight_names
        layer.file_layer_name = name
        layer.weight_source = '%s layer "%s"' % (base, name)


def _all_sublayers(container: Layer) -> List[Layer]:
    out = []
    for sl in container.sublayers:
        out.append(sl)
        out.extend(_all_sublayers(sl))
    return out


def _has_weights(layer: Layer) -> bool:
    spec = SUPPORTED.get(layer.class_name)
    return spec is not None and not layer.sublayers and spec.n_weights(layer) > 0


def _distribute(container: Layer, group: str, weight_names: List[str],
                arrays: List[np.ndarray], base: str) -> None:
    """A nested model's group: `container.weights` (trainable weights of every sublayer,
    then the non-trainable ones), each named "<sublayer>/<weight>[:0]". Each sublayer gets
    its own arrays, in their order (kernel, bias; gamma, beta, moving_mean, moving_variance)."""
    leaves = [sl for sl in _all_sublayers(container) if not sl.sublayers]
    by_name = {sl.orig_name: sl for sl in leaves}
    for sl in leaves:
        sl.weights, sl.weight_names = [], []
    for wn, arr in zip(weight_names, arrays):
        parts = wn.split(":")[0].split("/")[:-1]
        owner = next((by_name[p] for p in reversed(parts) if p in by_name), None)
        if owner is None:   # Keras 1 names: "<layer>_W", "<layer>_running_mean"
            prefixes = [n for n in by_name if wn.startswith(n + "_")]
            owner = by_name[max(prefixes, key=len)] if prefixes else None
        if owner is None:
            raise ImporterError('%s: %s group "%s" has weight %r, which names none of the '
                                'nested model\'s layers (%s)'
                                % (container.what(), base, group, wn,
                                   ", ".join(sorted(by_name))))
        owner.weights.append(arr)
        owner.weight_names.append(wn)
    for sl in leaves:
        sl.file_layer_name = group
        sl.weight_source = '%s layer "%s"' % (base, group)


def _input_shape(layer: Layer, given: Optional[List[int]]) -> List[int]:
    shape = layer.config.get("batch_input_shape")
    if shape is None:
        raise ImporterError('%s "%s": no batch_input_shape' % (layer.class_name, layer.name))
    item = list(shape[1:])
    if given is not None:
        if len(given) != len(item) or any(d is not None and d != g
                                           for d, g in zip(item, given)):
            raise ImporterError("--input-shape %s does not fit the model's input %s"
                                % (tuple(given), tuple(item)))
        item = list(given)
    if any(d is None for d in item):
        raise ImporterError("the model's input %s has unknown sizes; give them with "
                            "--input-shape (in the model's own layout)"
                            % (tuple("None" if d is None else d for d in item),))
    return [int(d) for d in item]


def _input_layout(graph: ModelGraph, input_key: TensorKey) -> Optional[str]:
    """'HWC' when the first layer that reads the input with an image layout is
    channels_last / dim_ordering 'tf'."""
    for layer in graph.layers:
        if any(graph.resolve(k) == input_key for node in layer.inbound for k in node):
            fmt = layer.config.get("data_format", layer.config.get("dim_ordering"))
            if fmt in ("channels_last", "tf"):
                return "HWC"
            if fmt in ("channels_first", "th"):
                return "CHW"
    return None


def _needed(graph: ModelGraph, output: TensorKey) -> List[Tuple[Layer, int]]:
    """The (layer, node) pairs the output depends on, in a topological order (iterative
    depth-first search, so deep models do not hit Python's recursion limit)."""
    order: List[Tuple[Layer, int]] = []
    done: Set[Tuple[str, int]] = set()
    output = graph.resolve(output)
    stack: List[Tuple[Tuple[str, int], bool]] = [((output[0], output[1]), False)]
    while stack:
        (lname, node), expanded = stack.pop()
        if (lname, node) in done:
            continue
        layer = graph.by_name.get(lname)
        if layer is None:
            raise ImporterError("the model config refers to an unknown layer %r" % lname)
        if layer.class_name == "InputLayer":
            done.add((lname, node))
            continue
        if node >= len(layer.inbound):
            raise ImporterError('%s: the config refers to its call #%d, which it does not '
                                'have' % (layer.what(), node))
        if expanded:
            done.add((lname, node))
            order.append((layer, node))
            continue
        stack.append(((lname, node), True))
        for key in layer.inbound[node]:
            key = graph.resolve(key)
            if (key[0], key[1]) not in done:
                stack.append(((key[0], key[1]), False))
    return order


def build(args: argparse.Namespace) -> ModelBuilder:
    files = read_files(args.model, args.weights)
    graph = parse_model(files.model_config, files.config_source)
    version = parse_version(files.keras_version) or (_infer_major(graph),)
    major = version[0]
    if major not in (1, 2):
        raise ImporterError("%s was written by Keras %s; supported: Keras 1.x and 2.x"
                            % (files.attr_source, files.keras_version))
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ImporterError("%s: the model has %d inputs and %d outputs; only one input and "
                            "one output can be served" % (files.config_source,
                                                          len(graph.inputs),
                                                          len(graph.outputs)))

    # Refuse unsupported layers first: that is the most useful message.
    order = _needed(graph, graph.outputs[0])
    for layer, _ in order:
        if layer.class_name not in SUPPORTED:
            hint = ""
            if layer.class_name in ("Lambda",):
                hint = " (a Lambda layer's Python code is not in the file)"
            raise ImporterError("unsupported layer %s (Keras %d)%s; supported: %s"
                                % (layer.what(), major, hint, supported_list()))

    _assign_weights(graph, files)
    arrays = [a for l in graph.layers for a in l.weights]
    dtype = "float64" if arrays and all(a.dtype == np.float64 for a in arrays) else "float32"
    builder = ModelBuilder(dtype)
    backend = _resolve_backend(files, getattr(args, "backend", None), major, builder)
    ctx = Context(builder, version, backend, dtype)

    in_key = graph.inputs[0]
    in_layer = graph.by_name.get(in_key[0])
    if in_layer is None or in_layer.class_name != "InputLayer":
        raise ImporterError("%s: the model input %r is not an InputLayer"
                            % (files.config_source, in_key[0]))
    shape = _input_shape(in_layer, getattr(args, "input_shape", None))
    layout = _input_layout(graph, in_key) if len(shape) == 3 else None
    if layout == "HWC":
        builder.set_input(shape, image_layout="HWC")
    else:
        builder.set_input(shape)
    tensors: Dict[TensorKey, Tensor] = {}
    tensors[(in_key[0], 0, 0)] = Tensor(shape, name=builder.input_name)

    for layer, node in order:
        inputs = []
        for key in layer.inbound[node]:
            key = graph.resolve(key)
            src = graph.by_name[key[0]]
            k = (key[0], key[1] if src.class_name != "InputLayer" else 0, key[2])
            if k[2] != 0 or k not in tensors:
                raise ImporterError("%s: its input %s is not a single-output layer's output"
                                    % (layer.what(), list(key)))
            inputs.append(tensors[k])
        out = SUPPORTED[layer.class_name].translate(ctx, layer, inputs)
        tensors[(layer.name, node, 0)] = out
        if node == 0 and out.name is not None:
            builder.source_layers[layer.name] = out.name

    out_key = graph.resolve(graph.outputs[0])
    result = tensors[(out_key[0], out_key[1] if out_key[0] != in_key[0] else 0, out_key[2])]
    final = ctx.value(result)
    if builder.layers and builder.last != final:
        # The served output is the last layer: copy the output there (an identity dimshuffle).
        final = ctx.emit("dimshuffle", {"pattern": list(range(len(result.shape) + 1))},
                         [final], name=out_key[0] + "/output")
    builder.source_layers.setdefault(out_key[0], final)

    builder.source = {"framework": "keras", "keras_version": files.keras_version or
                      "unknown (Keras %d config)" % major, "backend": backend,
                      "file": os.path.basename(args.model)}
    if args.weights:
        builder.source["weights"] = os.path.basename(args.weights)
    if backend != "theano":
        builder.note("saved with the %s backend, whose convolutions are cross-correlations: "
                     "imported with filter_flip=false (the kernels are not flipped), as Keras "
                     "converts them when loading the file on Theano" % backend)
        if ctx.tf_geometry_layers:
            builder.note("layers %s use padding='same' with an even size or a stride > 1 (or "
                         "'same' pooling): computed as Keras on the Theano backend does (pad, "
                         "then crop the end); %s pads such layers differently, so the outputs "
                         "can differ from the original %s model's"
                         % (", ".join(ctx.tf_geometry_layers), backend, backend))
    return builder
