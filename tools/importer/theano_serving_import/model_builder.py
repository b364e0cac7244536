"""ModelBuilder: the one place a model directory (model.json + params.npz) is written.

Every frontend (Lasagne, Theano pickles, Keras) translates its source into calls on a
ModelBuilder; the builder owns the format rules of docs/MODEL_FORMAT.md that do not depend on the
source: unique layer and parameter names, parameter dtype and memory order, the input spec, the
class labels and the `source` record, and writing the files atomically.
"""

import json
import os
import re
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

from theano_serving_import import __version__
from theano_serving_import.errors import ImporterError

DTYPES = ("float32", "float64")


def _unique(name: str, taken: set) -> str:
    """`name`, or `name_2`, `name_3`, ... whichever is not in `taken` yet (then adds it)."""
    candidate = name
    k = 2
    while candidate in taken:
        candidate = "%s_%d" % (name, k)
        k += 1
    taken.add(candidate)
    return candidate


def _clean(name: str) -> str:
    """A name as written in model.json: printable, no surrounding spaces; '' stays ''."""
    name = re.sub(r"[\x00-\x1f\x7f]", "_", str(name)).strip()
    return name


class ModelBuilder:
    """Collects a model's input spec, layers and parameters, then writes the model directory.

    Layers are added in execution order. A layer reads the previous layer unless `inputs` names
    others (layer names returned by add_layer, or `input_name`).
    """

    def __init__(self, dtype: str = "float32") -> None:
        if dtype not in DTYPES:
            raise ImporterError("unsupported dtype %r: the engine computes in float32 or float64"
                                % (dtype,))
        self.dtype = dtype
        self.input_name = "input"
        self.input: Dict[str, Any] = {}
        self.layers: List[Dict[str, Any]] = []
        self.params: Dict[str, np.ndarray] = {}
        self.classes: Optional[List[str]] = None
        self.name: Optional[str] = None
        self.notes: List[str] = []
        self.source: Dict[str, Any] = {}
        # Which model.json layer holds the output of each source layer (for comparisons with
        # the source framework's intermediate outputs).
        self.source_layers: Dict[str, str] = {}
        self._layer_names = {self.input_name}
        self._param_names: set = set()

    # -- input -------------------------------------------------------------------------------
    def set_input(self, shape: Sequence[int], **spec: Any) -> None:
        """The item shape (no batch axis) and optional preprocessing keys of `input`
        (images, scale, mean, std, channel_order, grayscale, resize, image_layout)."""
        shape = [int(d) for d in shape]
        if not shape or any(d <= 0 for d in shape):
            raise ImporterError("the input shape must be known and positive, got %s; give it "
                                "with --input-shape" % (tuple(shape),))
        self.input = {"shape": shape}
        for key, value in spec.items():
            if value is not None:
                self.input[key] = value

    # -- parameters --------------------------------------------------------------------------
    def add_param(self, name: str, array: Any) -> str:
        """Stores `array` (converted to the model dtype, C order) under a unique npz name based
        on `name`; returns that name. Refuses non-finite values, naming the array."""
        a = np.asarray(array)
        if a.dtype.kind not in "fiub":
            raise ImporterError("parameter %s has dtype %s; only numeric arrays can be served"
                                % (name, a.dtype))
        a = np.ascontiguousarray(a, dtype=np.dtype(self.dtype).newbyteorder("<"))
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            raise ImporterError("parameter %s: element %d is %r; parameters must be finite"
                                % (name, int(bad[0]), a.reshape(-1)[bad[0]].item()))
        npz_name = _unique(_clean(name) or "param", self._param_names)
        self.params[npz_name] = a
        return npz_name

    # -- layers ------------------------------------------------------------------------------
    def add_layer(self, op: str, attrs: Optional[Dict[str, Any]] = None,
                  params: Iterable[str] = (), inputs: Optional[Sequence[str]] = None,
                  name: Optional[str] = None) -> str:
        """Appends one model.json layer; returns its (unique) name. `params` are names returned
        by add_param; `inputs` are names returned by add_layer or `input_name` (None: the
        previous layer)."""
        layer_name = _unique(_clean(name or "") or op, self._layer_names)
        layer: Dict[str, Any] = {"name": layer_name, "op": op}
        if attrs:
            layer["attrs"] = {k: _jsonable(v) for k, v in attrs.items() if v is not None}
        params = list(params)
        for p in params:
            if p not in self.params:
                raise AssertionError("parameter %r was not added" % (p,))
        if params:
            layer["params"] = params
        if inputs is not None:
            inputs = list(inputs)
            for i in inputs:
                if i not in self._layer_names:
                    raise AssertionError("input %r is not a layer" % (i,))
            layer["inputs"] = inputs
        self.layers.append(layer)
        return layer_name

    @property
    def last(self) -> str:
        """The name of the last layer added (the input before any)."""
        return self.layers[-1]["name"] if self.layers else self.input_name

    def note(self, message: str) -> None:
        """Something the user should know about the import (printed, and kept in model.json)."""
        if message not in self.notes:
            self.notes.append(message)

    # -- writing -----------------------------------------------------------------------------
    def to_json(self) -> Dict[str, Any]:
        if not self.input:
            raise AssertionError("set_input was not called")
        if not self.layers:
            raise ImporterError("the network has no layers to serve (only an input)")
        model: Dict[str, Any] = {}
        if self.name:
            model["name"] = self.name
        model["dtype"] = self.dtype
        model["input"] = self.input
        if self.classes is not None:
            model["classes"] = list(self.classes)
        model["layers"] = self.layers
        source = dict(self.source)
        source["importer"] = "theano-serving-import %s" % __version__
        if self.notes:
            source["notes"] = list(self.notes)
        if self.source_layers:
            source["layers"] = dict(self.source_layers)
        model["source"] = source
        return model

    def write(self, out_dir: str) -> None:
        """Writes out_dir/model.json and out_dir/params.npz (creating out_dir), each file
        atomically. The command decides whether out_dir may be replaced (cli.write_checked)."""
        model = self.to_json()
        os.makedirs(out_dir, exist_ok=True)
        _atomic_write(os.path.join(out_dir, "params.npz"),
                      lambda f: np.savez(f, **self.params), binary=True)
        _atomic_write(os.path.join(out_dir, "model.json"),
                      lambda f: f.write(json.dumps(model, indent=1) + "\n"), binary=False)


def _jsonable(v: Any) -> Any:
    """Attribute values as JSON: tuples become lists, numpy scalars Python numbers."""
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    return v


def _atomic_write(path: str, fill, binary: bool) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            fill(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_classes(path: str) -> List[str]:
    """One label per line (UTF-8); trailing empty lines are ignored."""
    try:
        with open(path, encoding="utf-8") as f:
            labels = [line.rstrip("\r\n") for line in f]
    except OSError as e:
        raise ImporterError("--classes %s: %s" % (path, e.strerror or e))
    except UnicodeDecodeError as e:
        raise ImporterError("--classes %s is not UTF-8 text: %s" % (path, e))
    while labels and not labels[-1].strip():
        labels.pop()
    if not labels:
        raise ImporterError("--classes %s has no labels" % path)
    return labels
