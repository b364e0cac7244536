"""Lasagne weight files, in every common form they were saved (`--weights`).

    np.savez('model.npz', *get_all_param_values(net))        npz, arr_0 ... arr_N (numeric order)
    np.savez('model.npz', get_all_param_values(net))         legacy: one object array of arrays
    np.save('model.npy', get_all_param_values(net))          an object array in an .npy
    pickle.dump(get_all_param_values(net), f)                a pickled list (gzip'd too)
    {'param values': [...], 'synset words': [...], 'mean value': ...}   model-zoo dicts
        ('values', 'synset_words', 'mean image' / 'mean_image' spellings too)
    nolearn's save_params_to: OrderedDict{layer name: [arrays]}
    np.savez('params.npz', **{p.name: p.get_value() ...})     npz keyed by parameter name
    pickle.dump(output_layer, f)                              a whole network (no NET.py)

Pickles are read only with the restricted unpickler (safe_pickle): a file can never make us call
a function. Returns a WeightFile; matching it to the network is lasagne_import's job.
"""

import bz2
import gzip
import os
import re
import zipfile
from collections import OrderedDict
from typing import Any, List, Optional

import numpy as np

from theano_serving_import.errors import ImporterError

# Decompressed pickles larger than this are refused (a gzip bomb would exhaust memory first).
MAX_DECOMPRESSED = 8 << 30

_ARR_KEY = re.compile(r"^arr_(\d+)$")


class WeightFile:
    """What a weights file holds. Exactly one of `arrays` (positional, get_all_params order),
    `named` (parameter name -> array), `by_layer` (layer name -> arrays, nolearn) and `network`
    (a pickled Lasagne layer / dict / list of layers, or a nolearn NeuralNet) is set."""

    def __init__(self, path: str, form: str) -> None:
        self.path = path
        self.form = form
        self.arrays: Optional[List[np.ndarray]] = None
        self.named: Optional["OrderedDict[str, np.ndarray]"] = None
        self.by_layer: Optional["OrderedDict[str, List[np.ndarray]]"] = None
        self.network: Any = None
        self.classes: Optional[List[str]] = None
        self.mean_value: Optional[np.ndarray] = None
        self.mean_image: Optional[np.ndarray] = None
        self.notes: List[str] = []

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def count(self) -> int:
        if self.arrays is not None:
            return len(self.arrays)
        if self.named is not None:
            return len(self.named)
        if self.by_layer is not None:
            return sum(len(v) for v in self.by_layer.values())
        return 0

    def all_arrays(self) -> List[np.ndarray]:
        if self.arrays is not None:
            return list(self.arrays)
        if self.named is not None:
            return list(self.named.values())
        if self.by_layer is not None:
            return [a for v in self.by_layer.values() for a in v]
        return []


def _safe_pickle():
    try:
        from theano_serving_import import safe_pickle
    except ImportError:
        raise ImporterError("reading pickles needs theano_serving_import/safe_pickle.py, which "
                            "is not installed")
    return safe_pickle


def _numeric(a: Any, what: str) -> np.ndarray:
    """A parameter array: numeric, any CudaNdarray/GpuArray/shared-variable holder unwrapped."""
    if not isinstance(a, np.ndarray):
        arr = None
        try:
            arr = _safe_pickle().to_array(a)
        except ImporterError:
            raise
        except Exception:
            arr = None
        if arr is None:
            if isinstance(a, (int, float, np.number)):
                arr = np.asarray(a)
            else:
                raise ImporterError("%s is a %s, not an array" % (what, _type_name(a)))
        a = arr
    if a.dtype == object:
        raise ImporterError("%s is an object array, not numbers" % what)
    if a.dtype.kind not in "fiub":
        raise ImporterError("%s has dtype %s, not numbers" % (what, a.dtype))
    return a


def _type_name(obj: Any) -> str:
    qual = getattr(obj, "qualname", None)
    if isinstance(qual, str):
        return qual
    return type(obj).__name__


def read(path: str) -> WeightFile:
    """Reads a weights file of any supported form; ImporterError names the file and the form."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ImporterError("--weights %s: %s" % (path, e.strerror or e))
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _read_npz(path)
    if head.startswith(b"\x93NUMPY"):
        return _read_npy(path)
    if head.startswith(b"\x89HDF"):
        raise ImporterError("%s is an HDF5 file: Lasagne weights come as .npz or pickles "
                            "(for Keras .h5 files use `theano-serving-import keras`)" % path)
    data = _read_pickle_bytes(path, head)
    sp = _safe_pickle()
    obj = sp.loads(data, what=os.path.basename(path))
    return interpret(obj, path)


def _read_pickle_bytes(path: str, head: bytes) -> bytes:
    opener = None
    if head.startswith(b"\x1f\x8b"):
        opener = gzip.open
    elif head.startswith(b"BZh"):
        opener = bz2.open
    if opener is None:
        with open(path, "rb") as f:
            return f.read()
    try:
        with opener(path, "rb") as f:
            data = f.read(MAX_DECOMPRESSED + 1)
    except (OSError, EOFError, ValueError) as e:
        raise ImporterError("%s: damaged compressed file: %s" % (path, e))
    if len(data) > MAX_DECOMPRESSED:
        raise ImporterError("%s decompresses to more than %d GiB" % (path, MAX_DECOMPRESSED >> 30))
    return data


def _read_npy(path: str) -> WeightFile:
    wf = WeightFile(path, "an .npy file")
    try:
        with open(path, "rb") as f:
            arr = np.load(f, allow_pickle=False)
    except ValueError:
        with open(path, "rb") as f:
            arr = _safe_pickle().read_npy_any(f, os.path.basename(path))
    except OSError as e:
        raise ImporterError("%s: %s" % (path, e))
    if isinstance(arr, np.ndarray) and arr.dtype == object:
        wf.form = "an .npy file holding an object array of %d arrays" % arr.size
        wf.arrays = [_numeric(a, "%s element %d" % (wf.name, i))
                     for i, a in enumerate(arr.reshape(-1))]
    else:
        wf.arrays = [_numeric(arr, wf.name)]
    return wf


def _read_npz(path: str) -> WeightFile:
    name = os.path.basename(path)
    try:
        with zipfile.ZipFile(path) as z:
            members = [m[:-4] if m.endswith(".npy") else m for m in z.namelist()]
    except (zipfile.BadZipFile, OSError) as e:
        raise ImporterError("%s: damaged npz/zip file: %s" % (path, e))
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = OrderedDict((k, z[k]) for k in members)
    except ValueError:
        # an object array (e.g. np.savez('model.npz', get_all_param_values(net))): decoded by
        # the restricted unpickler
        arrays = OrderedDict(_safe_pickle().read_npz_any(path))
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise ImporterError("%s: damaged npz file: %s" % (path, e))
    if not arrays:  # np.savez(f, *[]) of a network without parameters
        wf = WeightFile(path, "an empty npz")
        wf.arrays = []
        return wf
    numbered = [(_ARR_KEY.match(k), k) for k in arrays]
    if all(m is not None for m, _ in numbered):
        # np.savez(f, *values): arr_0, arr_1, ..., arr_10 — numeric order, not string order
        keys = [k for _, k in sorted(((int(m.group(1)), k) for m, k in numbered))]
        values = [arrays[k] for k in keys]
        if len(values) == 1 and isinstance(values[0], np.ndarray) and values[0].dtype == object:
            wf = WeightFile(path, "a legacy npz holding one object array of %d arrays"
                            % values[0].size)
            wf.arrays = [_numeric(a, "%s arr_0[%d]" % (name, i))
                         for i, a in enumerate(values[0].reshape(-1))]
            return wf
        wf = WeightFile(path, "an npz of %d positional arrays (arr_0 ... arr_%d)"
                        % (len(values), len(values) - 1))
        wf.arrays = [_numeric(a, "%s %s" % (name, k)) for k, a in zip(keys, values)]
        return wf
    wf = WeightFile(path, "an npz of %d arrays keyed by parameter name" % len(arrays))
    wf.named = OrderedDict((k, _numeric(a, "%s %s" % (name, k))) for k, a in arrays.items())
    return wf


def _is_arrayish(obj: Any) -> bool:
    if isinstance(obj, np.ndarray):
        return obj.dtype != object
    try:
        return _safe_pickle().to_array(obj) is not None
    except Exception:
        return False


def _items(obj: Any) -> Optional[List[Any]]:
    if isinstance(obj, dict):
        return list(obj.items())
    return None


def _as_list(obj: Any) -> Optional[List[Any]]:
    if isinstance(obj, (list, tuple)):
        return list(obj)
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        return list(obj.reshape(-1))
    return None


def _strings(obj: Any, what: str) -> List[str]:
    seq = _as_list(obj)
    if seq is None and isinstance(obj, np.ndarray):
        seq = list(obj.reshape(-1))
    if seq is None:
        raise ImporterError("%s is not a list of labels" % what)
    out = []
    for s in seq:
        if isinstance(s, bytes):
            s = s.decode("utf-8", "replace")
        out.append(str(s))
    return out


_PARAM_KEYS = ("param values", "param_values", "values", "params")
_CLASS_KEYS = ("synset words", "synset_words", "classes", "labels", "class names")
_MEAN_KEYS = ("mean value", "mean_value", "mean values")
_MEAN_IMAGE_KEYS = ("mean image", "mean_image", "mean img")


def _is_network(obj: Any) -> bool:
    from theano_serving_import.lasagne import graph
    if graph.is_layer(obj):
        return True
    if graph.is_record(obj) and (obj.module or "").startswith("nolearn"):
        return True
    return False


def interpret(obj: Any, path: str) -> WeightFile:
    """What an unpickled object is, as a WeightFile."""
    name = os.path.basename(path)
    if _is_network(obj):
        wf = WeightFile(path, "a whole pickled network (%s)" % _type_name(obj))
        wf.network = obj
        return wf
    items = _items(obj)
    if items is not None:
        keys = {k for k, _ in items}
        param_key = next((k for k in _PARAM_KEYS if k in keys), None)
        if param_key is not None:
            d = dict(items)
            values = _as_list(d[param_key])
            if values is None:
                raise ImporterError("%s[%r] is a %s, not a list of arrays"
                                    % (name, param_key, _type_name(d[param_key])))
            wf = WeightFile(path, "a model-zoo dict (%r: %d arrays)" % (param_key, len(values)))
            wf.arrays = [_numeric(a, "%s[%r][%d]" % (name, param_key, i))
                         for i, a in enumerate(values)]
            ck = next((k for k in _CLASS_KEYS if k in keys), None)
            if ck is not None:
                wf.classes = _strings(d[ck], "%s[%r]" % (name, ck))
            mk = next((k for k in _MEAN_KEYS if k in keys), None)
            if mk is not None:
                wf.mean_value = _numeric(d[mk], "%s[%r]" % (name, mk)).astype(np.float64)
            ik = next((k for k in _MEAN_IMAGE_KEYS if k in keys), None)
            if ik is not None:
                wf.mean_image = _numeric(d[ik], "%s[%r]" % (name, ik)).astype(np.float64)
            other = sorted(str(k) for k in keys - {param_key, ck, mk, ik})
            if other:
                wf.notes.append("%s: ignored the entries %s" % (name, ", ".join(other)))
            return wf
        if items and all(isinstance(k, str) for k, _ in items):
            if all(_as_list(v) is not None and all(_is_arrayish(a) for a in _as_list(v))
                   for _, v in items):
                wf = WeightFile(path, "a dict of %d layers' parameter lists (nolearn's "
                                      "save_params_to)" % len(items))
                wf.by_layer = OrderedDict(
                    (k, [_numeric(a, "%s[%r][%d]" % (name, k, i))
                         for i, a in enumerate(_as_list(v))]) for k, v in items)
                return wf
            if all(_is_arrayish(v) for _, v in items):
                wf = WeightFile(path, "a dict of %d arrays keyed by parameter name" % len(items))
                wf.named = OrderedDict((k, _numeric(v, "%s[%r]" % (name, k))) for k, v in items)
                return wf
            if any(_is_network(v) for _, v in items):
                wf = WeightFile(path, "a pickled dict of network layers")
                wf.network = obj
                return wf
        raise ImporterError(
            "%s is a dict with keys %s: not a form of Lasagne weights we know (expected "
            "'param values' / 'values', {layer name: [arrays]} or {parameter name: array})"
            % (name, ", ".join(repr(k) for k in list(keys)[:8])))
    seq = _as_list(obj)
    if seq is not None:
        if not seq:
            raise ImporterError("%s holds an empty list" % name)
        if all(_is_arrayish(a) for a in seq):
            wf = WeightFile(path, "a pickled list of %d arrays" % len(seq))
            wf.arrays = [_numeric(a, "%s[%d]" % (name, i)) for i, a in enumerate(seq)]
            return wf
        if all(_as_list(a) is not None for a in seq):
            flat = [(i, j, a) for i, sub in enumerate(seq) for j, a in enumerate(_as_list(sub))]
            wf = WeightFile(path, "a pickled list of %d per-layer lists (%d arrays)"
                            % (len(seq), len(flat)))
            wf.arrays = [_numeric(a, "%s[%d][%d]" % (name, i, j)) for i, j, a in flat]
            return wf
        if any(_is_network(a) for a in seq):
            wf = WeightFile(path, "a pickled list of network layers")
            wf.network = obj
            return wf
        bad = next(i for i, a in enumerate(seq) if not _is_arrayish(a))
        raise ImporterError("%s[%d] is a %s, not an array" % (name, bad, _type_name(seq[bad])))
    if isinstance(obj, np.ndarray):
        wf = WeightFile(path, "a pickled array")
        wf.arrays = [_numeric(obj, name)]
        return wf
    raise ImporterError("%s holds a %s: not Lasagne weights (for a pickled Theano function use "
                        "`theano-serving-import theano`)" % (name, _type_name(obj)))
