"""Writing small Keras-format files with h5py for the Keras importer tests.

The layout follows what Keras writes (keras/engine/topology.py save_weights_to_hdf5_group /
save_model, Keras 1.2.2 and 2.0.8): root attributes keras_version, backend (Keras 2),
model_config; weights as attribute layer_names plus one group per layer with attribute
weight_names and one dataset per weight name (Keras 2 names like 'conv2d_1/kernel' make nested
groups). Names are stored as bytes, as Keras 2 does on Python 3.
"""

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

LayerWeights = Tuple[str, Sequence[Tuple[str, np.ndarray]]]


def _names(names: Sequence[str]) -> np.ndarray:
    return np.array([n.encode("utf-8") for n in names]) if names else np.zeros((0,))


def write_weights(group: Any, layers: Sequence[LayerWeights]) -> None:
    group.attrs["layer_names"] = _names([name for name, _ in layers])
    for name, weights in layers:
        g = group.create_group(name)
        g.attrs["weight_names"] = _names([wn for wn, _ in weights])
        for wn, array in weights:
            g.create_dataset(wn, data=np.asarray(array))


def write_model(path: str, model_config: Dict[str, Any], layers: Sequence[LayerWeights],
                keras_version: Optional[str] = "2.0.8", backend: Optional[str] = "theano",
                with_weights: bool = True) -> None:
    """A model.save() file."""
    import h5py
    with h5py.File(path, "w") as f:
        if keras_version:
            f.attrs["keras_version"] = keras_version.encode()
        if backend:
            f.attrs["backend"] = backend.encode()
        f.attrs["model_config"] = json.dumps(model_config).encode()
        if with_weights:
            g = f.create_group("model_weights")
            write_weights(g, layers)


def write_weights_file(path: str, layers: Sequence[LayerWeights],
                       keras_version: Optional[str] = "2.0.8",
                       backend: Optional[str] = "theano") -> None:
    """A model.save_weights() file."""
    import h5py
    with h5py.File(path, "w") as f:
        if keras_version:
            f.attrs["keras_version"] = keras_version.encode()
        if backend:
            f.attrs["backend"] = backend.encode()
        write_weights(f, layers)


# -- Keras 2 layer configs (only the keys the importer reads, as get_config writes them) -----

def sequential(layers: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {"class_name": "Sequential", "config": layers}


def layer(class_name: str, name: str, **config: Any) -> Dict[str, Any]:
    config["name"] = name
    return {"class_name": class_name, "config": config}


def conv2d(name: str, filters: int, kernel: Tuple[int, int], padding: str = "valid",
           strides: Tuple[int, int] = (1, 1), data_format: str = "channels_first",
           activation: str = "linear", use_bias: bool = True, **extra: Any) -> Dict[str, Any]:
    return layer("Conv2D", name, filters=filters, kernel_size=list(kernel), padding=padding,
                 strides=list(strides), data_format=data_format, dilation_rate=[1, 1],
                 activation=activation, use_bias=use_bias, **extra)


def dense(name: str, units: int, activation: str = "linear", use_bias: bool = True,
          **extra: Any) -> Dict[str, Any]:
    return layer("Dense", name, units=units, activation=activation, use_bias=use_bias, **extra)


def functional(layers: List[Dict[str, Any]], inputs: List[str],
               outputs: List[str]) -> Dict[str, Any]:
    return {"class_name": "Model", "config": {
        "name": "model_1", "layers": layers,
        "input_layers": [[n, 0, 0] for n in inputs],
        "output_layers": [[n, 0, 0] for n in outputs]}}


def node(layer_config: Dict[str, Any], *inbound: str) -> Dict[str, Any]:
    """A functional-model layer entry called once on the given layers' outputs."""
    entry = dict(layer_config)
    entry["name"] = layer_config["config"]["name"]
    entry["inbound_nodes"] = [[[n, 0, 0, {}] for n in inbound]] if inbound else []
    return entry
