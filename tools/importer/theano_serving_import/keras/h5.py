"""Reading Keras files: the architecture (model_config / to_json) and the weights (HDF5).

What Keras writes (keras/engine/topology.py, Keras 1.2.2 and 2.0.8; keras/engine/saving.py from
2.1 on):

* `model.save('m.h5')`: root attributes `keras_version`, `backend` (Keras 2 only),
  `model_config` (JSON of {"class_name", "config"}), optionally `training_config`; group
  `model_weights` holding the weights as below (Keras 2 repeats keras_version/backend there).
* `model.save_weights('w.h5')`: the weights at the root.
* weights: attribute `layer_names` (every layer of the model, in model order); one group per
  layer with attribute `weight_names` (that layer's weights in `layer.weights` order) and one
  dataset per weight, found as `group[weight_name]` (Keras 1: `conv_1_W`; Keras 2:
  `conv2d_1/kernel`, a nested group, `:0` suffixed on TensorFlow). From Keras 2.1 a long name
  list is split over `layer_names0`, `layer_names1`, ... (HDF5's 64 KiB header limit).
* Keras loads weights by position (`load_weights_from_hdf5_group`): the file's layers that have
  weights, in order, go to the model's layers that have weights, in order.

h5py is imported lazily: the other frontends work without it.
"""

import json
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from theano_serving_import.errors import ImporterError


def _h5py():
    try:
        import h5py  # noqa: F401 (Debian: python3-h5py)
    except ImportError:
        raise ImporterError("the keras importer needs h5py: apt-get install python3-h5py")
    return h5py


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value.item())
    return str(value)


def read_attr_list(group: Any, name: str) -> Optional[List[str]]:
    """A list-of-names attribute (`layer_names`, `weight_names`), also in Keras 2.1+'s chunked
    form (`name0`, `name1`, ...); None when absent."""
    if name in group.attrs:
        values = group.attrs[name]
        return [_text(v) for v in np.asarray(values).reshape(-1)]
    if (name + "0") in group.attrs:
        out: List[str] = []
        k = 0
        while ("%s%d" % (name, k)) in group.attrs:
            out.extend(_text(v) for v in np.asarray(group.attrs["%s%d" % (name, k)]).reshape(-1))
            k += 1
        return out
    return None


def read_attr_text(group: Any, name: str) -> Optional[str]:
    if name not in group.attrs:
        return None
    return _text(group.attrs[name])


class WeightFile:
    """The weights of one file: per saved layer, its weight names and arrays (file order)."""

    def __init__(self, path: str, layers: List[Tuple[str, List[str], List[np.ndarray]]],
                 keras_version: Optional[str], backend: Optional[str]) -> None:
        self.path = path
        self.layers = layers  # (layer name, weight names, arrays), every layer in the file
        self.keras_version = keras_version
        self.backend = backend

    def with_weights(self) -> List[Tuple[str, List[str], List[np.ndarray]]]:
        """The layers that have weights, in file order (what Keras assigns by position)."""
        return [entry for entry in self.layers if entry[1]]


def _read_weights(path: str, group: Any, where: str, keras_version: Optional[str],
                  backend: Optional[str]) -> WeightFile:
    names = read_attr_list(group, "layer_names")
    if names is None:
        raise ImporterError("%s: %s has no layer_names attribute: not Keras weights "
                            "(model.save / model.save_weights)" % (path, where))
    layers = []
    for name in names:
        if name not in group:
            raise ImporterError("%s: %s lists layer %r in layer_names but has no group %r"
                                % (path, where, name, name))
        g = group[name]
        weight_names = read_attr_list(g, "weight_names") or []
        arrays = []
        for wn in weight_names:
            try:
                ds = g[wn]
            except KeyError:
                raise ImporterError("%s: layer %r lists weight %r but the file has no such "
                                    "dataset" % (path, name, wn))
            arrays.append(np.asarray(ds[()]))
        layers.append((name, weight_names, arrays))
    return WeightFile(path, layers, keras_version, backend)


class KerasFiles:
    """What the user gave: the model config (a dict {"class_name", "config"}), the weights,
    and the version/backend attributes found, with where each came from."""

    def __init__(self) -> None:
        self.model_config: Optional[Dict[str, Any]] = None
        self.config_source = ""
        self.weights: Optional[WeightFile] = None
        self.keras_version: Optional[str] = None
        self.backend: Optional[str] = None
        self.attr_source = ""


def _open(path: str):
    h5py = _h5py()
    if not os.path.exists(path):
        raise ImporterError("%s: no such file" % path)
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ImporterError("%s is not a readable HDF5 file (truncated or damaged?): %s"
                            % (path, str(e).strip() or type(e).__name__))


def _parse_config(text: str, what: str) -> Dict[str, Any]:
    try:
        config = json.loads(text)
    except ValueError as e:
        stripped = text.lstrip()
        if stripped.startswith("class_name:") or stripped.startswith("backend:"):
            raise ImporterError("%s looks like YAML (model.to_yaml()); give the JSON from "
                                "model.to_json() instead" % what)
        raise ImporterError("%s is not JSON: %s" % (what, e))
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ImporterError("%s is not a Keras model config (a JSON object with class_name "
                            "and config, as model.to_json() writes)" % what)
    return config


def read_files(model_path: str, weights_path: Optional[str]) -> KerasFiles:
    """Reads MODEL.h5 [--weights W.h5] or ARCH.json --weights W.h5; every failure is an
    ImporterError naming the file and what is missing."""
    files = KerasFiles()
    is_json = model_path.lower().endswith((".json", ".yaml", ".yml"))
    if not is_json:
        try:
            with open(model_path, "rb") as f:
                head = f.read(8)
        except OSError as e:
            raise ImporterError("%s: %s" % (model_path, e.strerror or e))
        is_json = head[:1] in (b"{", b" ", b"\n", b"\r", b"\t")
    try:
        if is_json:
            try:
                with open(model_path, encoding="utf-8") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError) as e:
                raise ImporterError("%s: cannot read: %s" % (model_path, e))
            files.model_config = _parse_config(text, model_path)
            files.config_source = model_path
            # to_json() of Keras 2 records the version and backend next to the config.
            files.keras_version = files.model_config.get("keras_version")
            files.backend = files.model_config.get("backend")
            files.attr_source = model_path if files.keras_version else ""
            if weights_path is None:
                raise ImporterError("%s is an architecture only (model.to_json()): it needs "
                                    "--weights WEIGHTS.h5 (model.save_weights)" % model_path)
        else:
            with _open(model_path) as f:
                config_text = read_attr_text(f, "model_config")
                if config_text is None:
                    if read_attr_list(f, "layer_names") is not None:
                        raise ImporterError(
                            "%s holds only weights (model.save_weights): give the "
                            "architecture too: theano-serving-import keras ARCH.json "
                            "--weights %s" % (model_path, model_path))
                    raise ImporterError("%s is HDF5 but not a Keras model: it has no "
                                        "model_config attribute (model.save writes one)"
                                        % model_path)
                files.model_config = _parse_config(config_text, model_path + " model_config")
                files.config_source = model_path
                files.keras_version = read_attr_text(f, "keras_version")
                files.backend = read_attr_text(f, "backend")
                files.attr_source = model_path
                if weights_path is None:
                    if "model_weights" not in f:
                        raise ImporterError(
                            "%s has no model_weights: it was saved without weights? give "
                            "them with --weights WEIGHTS.h5 (model.save_weights)" % model_path)
                    g = f["model_weights"]
                    files.weights = _read_weights(
                        model_path, g, "model_weights",
                        read_attr_text(g, "keras_version") or files.keras_version,
                        read_attr_text(g, "backend") or files.backend)
        if weights_path is not None:
            with _open(weights_path) as f:
                group, where = f, "the file"
                if read_attr_list(f, "layer_names") is None and "model_weights" in f:
                    group, where = f["model_weights"], "model_weights"   # a model.save file
                version = read_attr_text(group, "keras_version") or read_attr_text(
                    f, "keras_version")
                backend = read_attr_text(group, "backend") or read_attr_text(f, "backend")
                files.weights = _read_weights(weights_path, group, where, version, backend)
    except OSError as e:
        # h5py raises OSError for damaged data met while reading (not only at open).
        raise ImporterError("%s: HDF5 read error (truncated or damaged file?): %s"
                            % (weights_path or model_path, str(e).strip()))
    # The weights file's attributes are what Keras itself uses when loading.
    if files.weights is not None:
        if files.weights.keras_version:
            files.keras_version = files.weights.keras_version
            files.attr_source = files.weights.path
        if files.weights.backend:
            files.backend = files.weights.backend
    return files
