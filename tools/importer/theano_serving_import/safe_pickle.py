"""A restricted unpickler for untrusted Theano-era pickles: nothing named by the file is run.

Model pickles are code: `pickle.load` calls whatever callable the file names (`os.system`
included). This module reads them with a `pickle` Unpickler subclass (the Python docs'
"Restricting Globals" pattern, taken further) in which every opcode that could call something
is re-implemented:

* GLOBAL / STACK_GLOBAL (`find_class`) resolve nothing. A name in an allowed module prefix
  (ALLOWED_PREFIXES: lasagne, theano, nolearn, pylearn2) becomes a GlobalRef; calling or
  instantiating it (REDUCE, NEWOBJ, INST, OBJ, copyreg._reconstructor) makes an inert Record
  holding the arguments, and BUILD stores the state in the Record. No constructor, __setstate__
  or __reduce__ of the real class is ever run; the real class is never imported.
* A few data constructors are replaced by safe re-implementations (SAFE_FUNCTIONS): numpy array,
  dtype and scalar reconstruction (numpy.core / numpy._core), `_codecs.encode`,
  collections.OrderedDict, set / frozenset / slice / complex / bytes / bytearray, copyreg's
  reconstructors (for Records only), getattr on a GlobalRef (an inert dotted reference), the
  CudaNdarray / GpuArray unpicklers of Theano's GPU back-ends (-> numpy arrays), numpy's
  RandomState constructors (-> inert Records). Each checks its arguments (types, sizes against
  the bytes actually present) before building anything.
* Anything else is refused, naming it: `pickle refers to os.system, which the importer never
  loads (allowed: ...)`. A file that ends early or is not a pickle is refused naming the file
  and the byte where reading stopped.

Python-2 pickles are read as Python 2 wrote them: strings as latin-1, `__builtin__` / `copy_reg`
mapped to their Python 3 names. Theano's `pkl_utils` zips (a `pkl` member plus one .npy member per
array, referenced by persistent ids) and gzip/bz2/xz-compressed pickles are recognised by
load_file. Object-dtype .npy data (a pickle inside the .npy) is read with this unpickler too.

Public interface (used by every frontend; keep it stable):
    load_file(path, *, what=None, persistent_load=None) -> object
    loads(data, *, what, persistent_load=None) -> object
    Record, GlobalRef, to_array(obj), read_npy_any(fileobj, what), read_npz_any(path)
"""

import _compat_pickle
import ast
import bz2
import collections
import gzip
import io
import lzma
import pickle
import re
import struct
import sys
import zipfile
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np

from theano_serving_import.errors import ImporterError

# Module prefixes whose classes and functions are read as inert Records / GlobalRefs. Records
# are never executed, so a prefix only decides what a frontend may see: the Theano-era model
# libraries. pylearn2 is included so that a pylearn2 pickle is read and then refused by the
# frontend with a precise "unsupported" message instead of a security error.
ALLOWED_PREFIXES = ("lasagne", "theano", "nolearn", "pylearn2")

# Extra classes (outside the prefixes) that are read as inert Records.
RECORD_CLASSES = {
    "functools.partial",          # a nonlinearity written as functools.partial(f, alpha=...)
}

# numpy names that may be referenced (not called): the ndarray type for _reconstruct, and the
# scalar types Theano stores as attributes (e.g. Cast's `ctor`).
NUMPY_REFS = {
    "ndarray", "matrix", "bool_", "bool8", "object_", "str_", "unicode_", "bytes_", "string_",
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "intc", "uintc",
    "int_", "uint", "intp", "uintp", "longlong", "ulonglong", "short", "ushort", "byte", "ubyte",
    "float16", "float32", "float64", "float128", "float_", "double", "single", "half",
    "longdouble", "complex64", "complex128", "complex256", "complex_", "cdouble", "csingle",
    "number", "integer", "floating", "generic", "signedinteger", "unsignedinteger", "inexact",
}

# Builtins that may appear as references (the `base` of copyreg._reconstructor); never called.
BUILTIN_REFS = {"object", "list", "dict", "tuple", "int", "float", "str", "bytes", "type"}

ALLOWED_SUMMARY = ("numpy arrays, dtypes and scalars, lasagne.*, theano.*, nolearn.*, "
                   "pylearn2.*, functools.partial, collections.OrderedDict, set, frozenset, "
                   "slice, complex, Theano's CudaNdarray/GpuArray holders")

# Decompressed .gz/.bz2/.xz pickles larger than this are refused (a small compressed file must
# not become an arbitrarily large one in memory).
MAX_DECOMPRESSED_BYTES = 16 << 30

_MAX_NDIM = 64
_MAX_DIM = 1 << 40


class GlobalRef:
    """A reference to an allowed function or class, as the pickle names it; never resolved.

    .module ('lasagne.nonlinearities'), .name ('rectify'), .qualname
    ('lasagne.nonlinearities.rectify'). Two GlobalRefs are equal when their qualnames are.
    .user_code is True for a name from the user's own code (a module that is neither Python's
    standard library nor a known package, e.g. __main__.AdjustVariable): such a class may be
    instantiated into an inert Record (its data is kept, none of its code runs), never called.
    """

    __slots__ = ("module", "name", "qualname", "user_code")

    def __init__(self, module: str, name: str, user_code: bool = False) -> None:
        self.module = module
        self.name = name
        self.qualname = "%s.%s" % (module, name)
        self.user_code = user_code

    def __repr__(self) -> str:
        return "GlobalRef(%s)" % self.qualname

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GlobalRef) and other.qualname == self.qualname

    def __hash__(self) -> int:
        return hash(("GlobalRef", self.qualname))


class Record:
    """An instance of an allowed class (or the result of calling an allowed function), inert.

    .module, .name (the class name, e.g. 'Conv2DLayer'), .qualname
    ('lasagne.layers.conv.Conv2DLayer'), .args (constructor / call arguments, a tuple), .kwargs
    (NEWOBJ_EX keyword arguments, usually {}), .state (what BUILD set: usually a dict; None when
    there was no BUILD), .listitems / .dictitems (items appended / set by APPENDS / SETITEMS on
    list- or dict-like classes, else None).

    getattr(record, key) reads state[key] when state is a dict (or the (dict, slots) pair that
    __getstate__ returns with __slots__). The attribute names above win over state keys:
    use record.get('name') / record.state['name'] for a state entry called 'name', 'args', ...
    Records hash and compare by identity, as the original objects did (Theano keys dicts by
    Variables).
    """

    __slots__ = ("module", "name", "qualname", "args", "kwargs", "state", "listitems",
                 "dictitems")

    def __init__(self, module: str, name: str, args: Tuple = (),
                 kwargs: Optional[Dict[str, Any]] = None) -> None:
        self.module = module
        self.name = name
        self.qualname = "%s.%s" % (module, name)
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.state: Any = None
        self.listitems: Optional[List[Any]] = None
        self.dictitems: Optional[Dict[Any, Any]] = None

    def attrs(self) -> Dict[str, Any]:
        """The attributes BUILD set (dict state merged with slot state); {} when none."""
        state = self.state
        if isinstance(state, dict):
            return state
        if (isinstance(state, tuple) and len(state) == 2
                and isinstance(state[0], (dict, type(None)))
                and isinstance(state[1], (dict, type(None)))):
            merged = dict(state[1] or {})
            merged.update(state[0] or {})
            return merged
        return {}

    def get(self, key: str, default: Any = None) -> Any:
        """state[key] (see attrs()), or `default`."""
        return self.attrs().get(key, default)

    def has(self, key: str) -> bool:
        return key in self.attrs()

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        attrs = self.attrs()
        if key in attrs:
            return attrs[key]
        raise AttributeError("%s record has no attribute %r (it has: %s)"
                             % (self.qualname, key, ", ".join(sorted(map(str, attrs))) or
                                "no state"))

    def __repr__(self) -> str:
        label = self.get("name") if isinstance(self.state, (dict, tuple)) else None
        if isinstance(label, str):
            return "<Record %s %r>" % (self.qualname, label)
        return "<Record %s>" % self.qualname


class _SafeFunction:
    """A data constructor re-implemented safely; `impl(unpickler, *args)`."""

    __slots__ = ("qualname", "impl")

    def __init__(self, qualname: str, impl: Callable[..., Any]) -> None:
        self.qualname = qualname
        self.impl = impl

    def __repr__(self) -> str:
        return "<safe %s>" % self.qualname


class _Refused(Exception):
    """Internal: the pickle asks for something the unpickler does not do (message for the user,
    without the file name, which the caller adds)."""


# -- the safe data constructors ---------------------------------------------------------------

def _as_bytes(data: Any, what: str) -> bytes:
    """Raw bytes as pickled by Python 3 (bytes) or Python 2 (a str read as latin-1)."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, memoryview):
        return data.tobytes()
    if isinstance(data, pickle.PickleBuffer):
        return memoryview(data).tobytes()
    if isinstance(data, str):
        try:
            return data.encode("latin-1")
        except UnicodeEncodeError:
            raise _Refused("%s: the raw data is text that is not latin-1" % what)
    raise _Refused("%s: expected raw bytes, got %s" % (what, type(data).__name__))


_DTYPE_CODE = re.compile(r"^[<>|=]?(\?|b1|[iu][1248]|f(2|4|8|12|16)|c(8|16|24|32)|O[48]?|"
                         r"[SUa][0-9]*|V[0-9]+)$")
_DTYPE_NAMES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64", "float16", "float32", "float64", "float128", "complex64",
                "complex128", "object"}


def _np_dtype(u: "SafeUnpickler", obj: Any = None, align: Any = False, copy: Any = False) -> Any:
    """numpy.dtype(code, align, copy): simple (non-structured) dtypes only."""
    if isinstance(obj, bytes):
        obj = obj.decode("latin-1")
    if not isinstance(obj, str) or not (_DTYPE_CODE.match(obj) or obj in _DTYPE_NAMES):
        raise _Refused("numpy.dtype(%r): only simple numeric, bool, string and object dtypes "
                       "are read" % (obj,))
    # copy=True: BUILD may change the byte order in place, never of numpy's shared singletons.
    return np.dtype(obj, False, True)


def _dtype_setstate(d: np.dtype, state: Any) -> None:
    """BUILD on a dtype: only the byte order is taken from the file; the rest must describe a
    plain dtype. The state passed to numpy is rebuilt from the dtype itself, so a file cannot set
    flags (e.g. 'holds Python objects') or sizes that do not match the type."""
    if not isinstance(state, tuple) or len(state) not in (8, 9):
        raise _Refused("numpy dtype state %r is not a plain dtype's" % (state,))
    endian = state[1]
    if isinstance(endian, bytes):
        endian = endian.decode("latin-1")
    if endian not in ("<", ">", "|", "="):
        raise _Refused("numpy dtype state has byte order %r" % (endian,))
    if state[2] is not None or state[3] is not None or state[4] is not None:
        raise _Refused("numpy dtype state describes a structured or sub-array dtype, which is "
                       "not read")
    if len(state) == 9 and state[8] not in (None, {}):
        raise _Refused("numpy dtype state has metadata %r, which is not read" % (state[8],))
    if endian == ">" and d.itemsize > 1 and d.kind in "biufcUV":
        d.__setstate__((3, ">", None, None, None, d.itemsize if d.kind in "SUV" else -1,
                        d.alignment if d.kind in "SUV" else -1, d.flags))


def _check_shape(shape: Any, what: str) -> Tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or len(shape) > _MAX_NDIM:
        raise _Refused("%s: shape %r is not a tuple of sizes" % (what, shape))
    out = []
    for d in shape:
        if isinstance(d, np.integer):
            d = int(d)
        if not isinstance(d, int) or isinstance(d, bool) or d < 0 or d > _MAX_DIM:
            raise _Refused("%s: shape %r is not a tuple of sizes" % (what, tuple(shape)))
        out.append(d)
    return tuple(out)


def _as_dtype(d: Any, what: str) -> np.dtype:
    if isinstance(d, np.dtype):
        return d
    raise _Refused("%s: expected a numpy dtype, got %s" % (what, type(d).__name__))


_NDARRAY_TYPES = {"numpy.ndarray", "numpy.matrix", "numpy.matrixlib.defmatrix.matrix",
                  "numpy.core.memmap.memmap", "numpy.memmap"}


def _np_reconstruct(u: "SafeUnpickler", subtype: Any = None, shape: Any = (0,),
                    dtype: Any = b"b") -> np.ndarray:
    """numpy.core.multiarray._reconstruct(ndarray, (0,), b'b'): an empty placeholder that the
    following BUILD fills in place (so that memo references to it see the data)."""
    if not (isinstance(subtype, GlobalRef) and subtype.qualname in _NDARRAY_TYPES):
        raise _Refused("numpy array reconstruction of %r: only numpy.ndarray (and matrix, read "
                       "as ndarray) is read" % (subtype,))
    return np.empty((0,), np.uint8)


def _ndarray_setstate(a: np.ndarray, state: Any) -> None:
    """BUILD on an array from _reconstruct: (version, shape, dtype, is_fortran, data); data is
    raw bytes (exactly shape x itemsize of them) or, for object arrays, a list of the items."""
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise _Refused("numpy array state is not (version, shape, dtype, is_fortran, data)")
    shape, dtype, fortran, data = state[-4:]
    shape = _check_shape(shape, "numpy array")
    dtype = _as_dtype(dtype, "numpy array")
    if not isinstance(fortran, (bool, int, np.bool_)):
        raise _Refused("numpy array state: is_fortran is %r" % (fortran,))
    count = 1
    for d in shape:
        count *= d
    if dtype.hasobject:
        if dtype.kind != "O":
            raise _Refused("numpy array with structured object dtype is not read")
        if not isinstance(data, list) or len(data) != count:
            raise _Refused("numpy object array of shape %s: expected a list of %d items, got %s"
                           % (shape, count, type(data).__name__))
        a.__setstate__((shape, dtype, bool(fortran), data))
        return
    raw = _as_bytes(data, "numpy array")
    if len(raw) != count * dtype.itemsize:
        raise _Refused("numpy array of shape %s and dtype %s needs %d bytes, the pickle has %d"
                       % (shape, dtype, count * dtype.itemsize, len(raw)))
    a.__setstate__((shape, dtype, bool(fortran), raw))


def _np_scalar(u: "SafeUnpickler", dtype: Any = None, data: Any = None) -> Any:
    """numpy.core.multiarray.scalar(dtype, raw_bytes) -> a numpy scalar."""
    dtype = _as_dtype(dtype, "numpy scalar")
    if dtype.hasobject:
        return data
    raw = _as_bytes(data, "numpy scalar")
    if len(raw) != dtype.itemsize:
        raise _Refused("numpy scalar of dtype %s needs %d bytes, the pickle has %d"
                       % (dtype, dtype.itemsize, len(raw)))
    return np.frombuffer(raw, dtype)[0]


def _np_frombuffer(u: "SafeUnpickler", buf: Any = None, dtype: Any = None, shape: Any = None,
                   order: Any = "C") -> np.ndarray:
    """numpy.core.numeric._frombuffer(buf, dtype, shape, order) (pickle protocol 5)."""
    dtype = _as_dtype(dtype, "numpy array")
    shape = _check_shape(shape, "numpy array")
    if dtype.hasobject:
        raise _Refused("numpy object array from a raw buffer is not read")
    if order not in ("C", "F", "A", "K"):
        raise _Refused("numpy array order %r" % (order,))
    raw = bytearray(_as_bytes(buf, "numpy array"))
    count = 1
    for d in shape:
        count *= d
    if len(raw) != count * dtype.itemsize:
        raise _Refused("numpy array of shape %s and dtype %s needs %d bytes, the pickle has %d"
                       % (shape, dtype, count * dtype.itemsize, len(raw)))
    return np.frombuffer(raw, dtype).reshape(shape, order="F" if order == "F" else "C")


_TEXT_ENCODINGS = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1", "ascii", "us-ascii",
                   "utf8", "utf-8"}


def _codecs_encode(u: "SafeUnpickler", obj: Any = None, encoding: Any = "utf-8",
                   errors: Any = "strict") -> bytes:
    """_codecs.encode(text, 'latin1'): how Python 3 pickles bytes at protocols 0-2."""
    if (not isinstance(obj, str) or not isinstance(encoding, str)
            or encoding.lower() not in _TEXT_ENCODINGS or errors != "strict"):
        raise _Refused("_codecs.encode(%s, %r): only text with a latin-1/ascii/utf-8 encoding "
                       "is read" % (type(obj).__name__, encoding))
    return obj.encode(encoding)


def _check_iterable(items: Any, what: str) -> Iterable[Any]:
    if not isinstance(items, (list, tuple, set, frozenset, dict)):
        raise _Refused("%s(%s): expected a list" % (what, type(items).__name__))
    return items


def _ordered_dict(u: "SafeUnpickler", *args: Any) -> "collections.OrderedDict":
    if not args:
        return collections.OrderedDict()
    if len(args) != 1:
        raise _Refused("collections.OrderedDict with %d arguments" % len(args))
    items = _check_iterable(args[0], "collections.OrderedDict")
    if isinstance(items, dict):
        return collections.OrderedDict(items)
    out = collections.OrderedDict()
    for pair in items:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise _Refused("collections.OrderedDict: an item is not a (key, value) pair")
        out[pair[0]] = pair[1]
    return out


def _make_set(u: "SafeUnpickler", *args: Any) -> set:
    if len(args) > 1:
        raise _Refused("set with %d arguments" % len(args))
    return set(_check_iterable(args[0], "set")) if args else set()


def _make_frozenset(u: "SafeUnpickler", *args: Any) -> frozenset:
    if len(args) > 1:
        raise _Refused("frozenset with %d arguments" % len(args))
    return frozenset(_check_iterable(args[0], "frozenset")) if args else frozenset()


def _slice_part(v: Any) -> Any:
    if v is None or (isinstance(v, (int, np.integer)) and not isinstance(v, bool)):
        return v
    # Theano's Subtensor keeps slice parts that are scalar types (Records) or ints.
    if isinstance(v, Record):
        return v
    raise _Refused("slice part %r is not an int or None" % (v,))


def _make_slice(u: "SafeUnpickler", *args: Any) -> slice:
    if not 1 <= len(args) <= 3:
        raise _Refused("slice with %d arguments" % len(args))
    return slice(*[_slice_part(a) for a in args])


def _make_complex(u: "SafeUnpickler", real: Any = 0.0, imag: Any = 0.0) -> complex:
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (real, imag)):
        raise _Refused("complex(%r, %r): expected numbers" % (real, imag))
    return complex(real, imag)


def _small_int_list(items: Any, what: str) -> bytes:
    if not isinstance(items, (list, tuple)) or not all(
            isinstance(i, int) and 0 <= i < 256 for i in items):
        raise _Refused("%s: expected bytes, text or a list of byte values" % what)
    return bytes(items)


def _make_bytes(u: "SafeUnpickler", *args: Any) -> bytes:
    # bytes(n) would allocate n bytes that the file never had: only the forms pickle writes.
    if not args:
        return b""
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
        return bytes(args[0])
    if len(args) == 1:
        return _small_int_list(args[0], "bytes")
    if len(args) == 2 and isinstance(args[0], str):
        return _codecs_encode(u, args[0], args[1])
    raise _Refused("bytes with arguments %r" % (tuple(type(a).__name__ for a in args),))


def _make_bytearray(u: "SafeUnpickler", *args: Any) -> bytearray:
    return bytearray(_make_bytes(u, *args))


def _make_record(cls: Any, args: Tuple = (), kwargs: Optional[Dict[str, Any]] = None,
                 how: str = "instantiate") -> Record:
    if isinstance(cls, GlobalRef) and (_record_allowed(cls.module, cls.name) or
                                       (cls.user_code and how != "call")):
        return Record(cls.module, cls.name, args, kwargs)
    raise _Refused("the pickle asks to %s %s, which the importer never does"
                   % (how, _describe(cls)))


def _copyreg_reconstructor(u: "SafeUnpickler", cls: Any = None, base: Any = None,
                           state: Any = None) -> Record:
    """copyreg._reconstructor(cls, base, state): protocol 0/1 instances of allowed classes."""
    if not (isinstance(base, GlobalRef) and base.module == "builtins"):
        raise _Refused("copyreg._reconstructor with base %s" % _describe(base))
    rec = _make_record(cls, () if state is None else (state,), how="reconstruct")
    if isinstance(state, list):
        rec.listitems = list(state)
    elif isinstance(state, dict):
        rec.dictitems = dict(state)
    return rec


def _copyreg_newobj(u: "SafeUnpickler", cls: Any = None, *args: Any) -> Any:
    return u.instantiate(cls, args, None, "copyreg.__newobj__")


def _copyreg_newobj_ex(u: "SafeUnpickler", cls: Any = None, args: Any = (),
                       kwargs: Any = None) -> Any:
    if not isinstance(args, tuple) or not isinstance(kwargs, (dict, type(None))):
        raise _Refused("copyreg.__newobj_ex__ with arguments that are not (tuple, dict)")
    return u.instantiate(cls, args, kwargs, "copyreg.__newobj_ex__")


def _builtin_getattr(u: "SafeUnpickler", obj: Any = None, name: Any = None) -> Any:
    """getattr(obj, 'name'): Python 3 pickles a bound or class-level method this way. Only an
    inert dotted reference is made; no attribute of anything is read."""
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise _Refused("getattr(%s, %r) is not read" % (_describe(obj), name))
    if isinstance(obj, GlobalRef):
        return GlobalRef(obj.module, obj.name + "." + name)
    if isinstance(obj, Record):
        rec = Record(obj.module, obj.name + "." + name)
        rec.args = (obj,)
        return rec
    raise _Refused("getattr(%s, %r) is not read" % (_describe(obj), name))


def _gpu_to_numpy(u: "SafeUnpickler", npa: Any = None, *rest: Any) -> np.ndarray:
    """CudaNdarray_unpickler(ndarray) / GpuArray_unpickler(ndarray, context_name) and pygpu's
    array(ndarray, ...): the array was saved as a numpy array; read it as one."""
    if not isinstance(npa, np.ndarray):
        raise _Refused("a GPU array holder whose data is %s, not a numpy array"
                       % type(npa).__name__)
    return npa


def _random_state(u: "SafeUnpickler", *args: Any) -> Record:
    """numpy's RandomState / BitGenerator pickling constructors: an inert Record (a dropout
    layer's random generator is never needed for inference)."""
    return Record("numpy.random.mtrand", "RandomState", args)


def _safe_table() -> Dict[str, Callable[..., Any]]:
    table: Dict[str, Callable[..., Any]] = {}
    for core in ("numpy.core", "numpy._core"):
        for mod in (core + ".multiarray", core + "._multiarray_umath"):
            table[mod + "._reconstruct"] = _np_reconstruct
            table[mod + ".scalar"] = _np_scalar
        table[core + ".numeric._frombuffer"] = _np_frombuffer
    table["numpy.dtype"] = _np_dtype
    table["_codecs.encode"] = _codecs_encode
    table["codecs.encode"] = _codecs_encode
    table["collections.OrderedDict"] = _ordered_dict
    table["builtins.set"] = _make_set
    table["builtins.frozenset"] = _make_frozenset
    table["builtins.slice"] = _make_slice
    table["builtins.complex"] = _make_complex
    table["builtins.bytes"] = _make_bytes
    table["builtins.bytearray"] = _make_bytearray
    table["builtins.getattr"] = _builtin_getattr
    table["copyreg._reconstructor"] = _copyreg_reconstructor
    table["copyreg.__newobj__"] = _copyreg_newobj
    table["copyreg.__newobj_ex__"] = _copyreg_newobj_ex
    for name in ("numpy.random.__RandomState_ctor", "numpy.random._pickle.__randomstate_ctor",
                 "numpy.random._pickle.__bit_generator_ctor",
                 "numpy.random._pickle.__generator_ctor"):
        table[name] = _random_state
    for name in ("pygpu.gpuarray.array", "pygpu.gpuarray.asarray",
                 "cuda_ndarray.cuda_ndarray.CudaNdarray", "theano.sandbox.cuda.CudaNdarray",
                 "theano.sandbox.cuda.cuda_ndarray.cuda_ndarray.CudaNdarray",
                 "theano.sandbox.cuda.basic_ops.CudaNdarray"):
        table[name] = _gpu_to_numpy
    return table


SAFE_FUNCTIONS = _safe_table()

# Theano GPU array holders, whatever Theano module they live in (theano.sandbox.cuda.type,
# theano.gpuarray.type, theano.sandbox.gpuarray.type in Theano 0.7-0.8).
_GPU_UNPICKLERS = {"CudaNdarray_unpickler", "GpuArray_unpickler"}


# Third-party packages whose names are never user code (besides Python's standard library).
_KNOWN_PACKAGES = {"numpy", "scipy", "sklearn", "pandas", "matplotlib", "h5py", "six", "torch",
                   "tensorflow", "keras", "cv2", "PIL", "yaml", "dill", "cloudpickle", "joblib",
                   "pygpu", "pycuda", "IPython", "setuptools", "pkg_resources", "_codecs"}


def _user_code(module: str) -> bool:
    """True for a module of the user's own code: __main__, or one that is neither Python's
    standard library nor a known package (their names could run something if resolved)."""
    top = module.split(".")[0]
    if top == "__main__":
        return True
    return bool(top) and top.isidentifier() and top not in sys.stdlib_module_names and \
        top not in _KNOWN_PACKAGES and not top.startswith("_")


def _record_allowed(module: str, name: str) -> bool:
    if "%s.%s" % (module, name) in RECORD_CLASSES:
        return True
    return any(module == p or module.startswith(p + ".") for p in ALLOWED_PREFIXES)


def _describe(obj: Any) -> str:
    if isinstance(obj, (GlobalRef, Record)):
        return obj.qualname
    if isinstance(obj, _SafeFunction):
        return obj.qualname
    return "a %s" % type(obj).__name__


# -- the unpickler ----------------------------------------------------------------------------

class SafeUnpickler(pickle._Unpickler):  # the pure-Python Unpickler: every opcode overridable
    """pickle's Unpickler with find_class restricted and every calling opcode re-implemented.

    Use load_file / loads rather than this class directly.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: Any, *, what: str,
                 persistent_load: Optional[Callable[[Any], Any]] = None) -> None:
        super().__init__(file, fix_imports=True, encoding="latin1", errors="strict")
        self.what = what
        self._persistent_load = persistent_load

    # -- names --------------------------------------------------------------------------------
    def find_class(self, module: str, name: str) -> Any:
        written = "%s.%s" % (module, name)
        if self.proto < 3:
            # Python 2 names (__builtin__, copy_reg, ...), as pickle's fix_imports maps them.
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        qualname = "%s.%s" % (module, name)
        if qualname in SAFE_FUNCTIONS:
            return _SafeFunction(qualname, SAFE_FUNCTIONS[qualname])
        if name in _GPU_UNPICKLERS and _record_allowed(module, name):
            return _SafeFunction(qualname, _gpu_to_numpy)
        if module == "numpy" and name in NUMPY_REFS:
            return GlobalRef(module, name)
        if module == "builtins" and name in BUILTIN_REFS:
            return GlobalRef(module, name)
        if _record_allowed(module, name) or _user_code(module):
            if any(not part.isidentifier() for part in name.split(".")):
                raise _Refused("the pickle names %r, which is not a Python name" % written)
            return GlobalRef(module, name, user_code=not _record_allowed(module, name))
        shown = written if written == qualname else "%s (%s)" % (written, qualname)
        raise _Refused("the pickle refers to %s, which the importer never loads (allowed: %s)"
                       % (shown, ALLOWED_SUMMARY))

    # -- calls --------------------------------------------------------------------------------
    def call(self, func: Any, args: Any, how: str) -> Any:
        if not isinstance(args, tuple):
            raise _Refused("%s of %s with arguments that are not a tuple" % (how, _describe(func)))
        if isinstance(func, _SafeFunction):
            try:
                return func.impl(self, *args)
            except TypeError as e:
                raise _Refused("%s: unexpected arguments (%s)" % (func.qualname, e))
        if isinstance(func, GlobalRef) and func.module == "builtins":
            raise _Refused("the pickle asks to call %s, which the importer never does"
                           % func.qualname)
        if isinstance(func, GlobalRef) and func.module == "numpy":
            raise _Refused("the pickle asks to call numpy.%s, which the importer never does"
                           % func.name)
        if isinstance(func, GlobalRef) and func.user_code:
            if how in ("INST", "OBJ"):  # Python 2 old-style instances: data, no call
                return _make_record(func, args, None, "instantiate")
            raise _Refused("the pickle asks to call %s (from your own code, which the importer "
                           "never runs)" % func.qualname)
        return _make_record(func, args, None, "call")

    def instantiate(self, cls: Any, args: Any, kwargs: Any, how: str) -> Any:
        if not isinstance(args, tuple):
            raise _Refused("%s of %s with arguments that are not a tuple" % (how, _describe(cls)))
        if isinstance(cls, _SafeFunction) and cls.impl in (_ordered_dict, _make_set,
                                                          _make_frozenset):
            if kwargs:
                raise _Refused("%s of %s with keyword arguments" % (how, cls.qualname))
            return cls.impl(self)  # NEWOBJ of a dict/set class: items follow (SETITEMS, ...)
        return _make_record(cls, args, kwargs, "instantiate")

    def load_reduce(self) -> None:
        stack = self.stack
        args = stack.pop()
        stack[-1] = self.call(stack[-1], args, "REDUCE")
    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self.instantiate(cls, args, None, "NEWOBJ"))
    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if not isinstance(kwargs, dict):
            raise _Refused("NEWOBJ_EX with keyword arguments that are not a dict")
        self.append(self.instantiate(cls, args, kwargs, "NEWOBJ_EX"))
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def load_inst(self) -> None:
        module = self.readline()[:-1].decode("ascii")
        name = self.readline()[:-1].decode("ascii")
        cls = self.find_class(module, name)
        args = tuple(self.pop_mark())
        self.append(self.call(cls, args, "INST"))
    dispatch[pickle.INST[0]] = load_inst

    def load_obj(self) -> None:
        args = self.pop_mark()
        if not args:
            raise _Refused("OBJ without a class")
        cls = args.pop(0)
        self.append(self.call(cls, tuple(args), "OBJ"))
    dispatch[pickle.OBJ[0]] = load_obj

    def get_extension(self, code: int) -> None:
        raise _Refused("the pickle uses extension code %d (copyreg registry), which the importer "
                       "never reads" % code)

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent_load is None:
            raise _Refused("the pickle refers to external data (persistent id %r); a "
                           "theano.misc.pkl_utils file must be read as the whole .zip" % (pid,))
        return self._persistent_load(pid)

    # -- state and items ----------------------------------------------------------------------
    def load_build(self) -> None:
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        if isinstance(inst, Record):
            if isinstance(inst.state, dict) and isinstance(state, dict):
                inst.state.update(state)
            else:
                inst.state = state
        elif isinstance(inst, np.ndarray):
            _ndarray_setstate(inst, state)
        elif isinstance(inst, np.dtype):
            _dtype_setstate(inst, state)
        elif state is None or (isinstance(state, dict) and not state):
            pass  # e.g. an OrderedDict's empty instance dict
        else:
            raise _Refused("the pickle sets the state of %s, which the importer never does"
                           % _describe(inst))
    dispatch[pickle.BUILD[0]] = load_build

    def _add_items(self, target: Any, items: List[Any]) -> None:
        if isinstance(target, list):
            target.extend(items)
        elif isinstance(target, Record):
            if target.listitems is None:
                target.listitems = []
            target.listitems.extend(items)
        else:
            raise _Refused("the pickle appends items to %s" % _describe(target))

    def load_append(self) -> None:
        value = self.stack.pop()
        self._add_items(self.stack[-1], [value])
    dispatch[pickle.APPEND[0]] = load_append

    def load_appends(self) -> None:
        items = self.pop_mark()
        self._add_items(self.stack[-1], items)
    dispatch[pickle.APPENDS[0]] = load_appends

    def _set_items(self, target: Any, items: List[Any]) -> None:
        if isinstance(target, Record):
            if target.dictitems is None:
                target.dictitems = {}
            target = target.dictitems
        elif not isinstance(target, dict):
            raise _Refused("the pickle sets items of %s" % _describe(target))
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]

    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._set_items(self.stack[-1], [key, value])
    dispatch[pickle.SETITEM[0]] = load_setitem

    def load_setitems(self) -> None:
        items = self.pop_mark()
        if len(items) % 2:
            raise _Refused("SETITEMS with an odd number of entries")
        self._set_items(self.stack[-1], items)
    dispatch[pickle.SETITEMS[0]] = load_setitems

    def load_additems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if isinstance(target, set):
            target.update(items)
        elif isinstance(target, Record):
            if target.listitems is None:
                target.listitems = []
            target.listitems.extend(items)
        else:
            raise _Refused("the pickle adds set items to %s" % _describe(target))
    dispatch[pickle.ADDITEMS[0]] = load_additems

    def load_bytearray8(self) -> None:
        # pickle's own version allocates the announced size before reading it.
        (n,) = struct.unpack("<Q", self.read(8))
        data = self.read(n)
        if len(data) != n:
            raise EOFError
        self.append(bytearray(data))
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


# -- reading files ----------------------------------------------------------------------------

class _BoundedReader(io.RawIOBase):
    """A read-only file view that never allocates more than it has read (a length field in the
    pickle cannot make read(n) reserve n bytes) and refuses to go past `limit` bytes."""

    def __init__(self, f: Any, limit: Optional[int]) -> None:
        super().__init__()
        self._f = f
        self._limit = limit
        self.pos = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        chunks = []
        remaining = n if n is not None and n >= 0 else None
        while remaining is None or remaining > 0:
            want = 1 << 24 if remaining is None else min(remaining, 1 << 24)
            chunk = self._f.read(want)
            if not chunk:
                break
            chunks.append(chunk)
            self.pos += len(chunk)
            if self._limit is not None and self.pos > self._limit:
                raise _Refused("the data is larger than %d bytes once decompressed"
                               % self._limit)
            if remaining is not None:
                remaining -= len(chunk)
        return b"".join(chunks)

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def readline(self, size: int = -1) -> bytes:
        line = self._f.readline(1 << 20 if size is None or size < 0 else size)
        self.pos += len(line)
        if len(line) >= (1 << 20):
            raise _Refused("a text line longer than 1 MiB")
        return line


def _run(f: Any, what: str, persistent_load: Optional[Callable[[Any], Any]],
         limit: Optional[int] = None) -> Any:
    reader = _BoundedReader(f, limit)
    unpickler = SafeUnpickler(reader, what=what, persistent_load=persistent_load)
    try:
        return unpickler.load()
    except ImporterError:
        raise
    except _Refused as e:
        raise ImporterError("%s: %s" % (what, e))
    except EOFError:
        raise ImporterError("%s: the pickle ends early, at byte %d (truncated file?)"
                            % (what, reader.pos))
    except RecursionError:
        raise ImporterError("%s: the pickle is nested too deeply to read" % what)
    except MemoryError:
        raise ImporterError("%s: the pickle needs more memory than there is" % what)
    except (pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error, UnicodeDecodeError, OverflowError, zipfile.BadZipFile,
            OSError, lzma.LZMAError) as e:
        detail = str(e) or type(e).__name__
        if isinstance(e, KeyError):
            detail = "it refers to an object it never stored (memo %s)" % e
        raise ImporterError("%s: not a valid pickle (truncated or corrupt): stopped at byte %d: %s"
                            % (what, reader.pos, detail))


def loads(data: bytes, *, what: str, persistent_load: Optional[Callable[[Any], Any]] = None) -> Any:
    """Unpickles `data` safely; `what` names it in error messages (a path, a zip member)."""
    return _run(io.BytesIO(data), what, persistent_load)


def load_file(path: str, *, what: Optional[str] = None,
              persistent_load: Optional[Callable[[Any], Any]] = None) -> Any:
    """Unpickles the file at `path` safely. Recognises gzip/bz2/xz compression and Theano's
    pkl_utils zips (their arrays are read from the zip's .npy members). Raises ImporterError
    naming `what` (default: the path) on a refused name, a truncated or corrupt file."""
    what = what or path
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise ImporterError("%s: %s" % (what, e.strerror or e))
    if magic.startswith(b"PK\x03\x04") or magic.startswith(b"PK\x05\x06"):
        if persistent_load is not None:
            raise ImporterError("%s is a zip file; read it with load_pkl_utils_zip" % what)
        return load_pkl_utils_zip(path, what=what)
    opener: Optional[Callable[..., Any]] = None
    if magic.startswith(b"\x1f\x8b"):
        opener = gzip.open
    elif magic.startswith(b"BZh"):
        opener = bz2.open
    elif magic.startswith(b"\xfd7zXZ\x00"):
        opener = lzma.open
    try:
        if opener is None:
            with open(path, "rb") as f:
                return _run(f, what, persistent_load)
        with opener(path, "rb") as f:
            return _run(f, what, persistent_load, MAX_DECOMPRESSED_BYTES)
    except (OSError, EOFError, lzma.LZMAError) as e:  # from the decompressor
        raise ImporterError("%s: cannot be decompressed: %s" % (what, e))


def load_pkl_utils_zip(path: str, *, what: Optional[str] = None) -> Any:
    """Reads a theano.misc.pkl_utils.dump zip: the `pkl` member, unpickled safely, with its
    persistent ids 'ndarray.NAME' / 'gpuarray.NAME' resolved to the zip's member NAME (a .npy
    file; for gpuarray, a pickled context name followed by the .npy data)."""
    what = what or path
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise ImporterError("%s: not a readable zip file: %s" % (what, e))
    with zf:
        names = zf.namelist()
        if "pkl" not in names:
            raise ImporterError("%s: a zip without a 'pkl' member, so not a "
                                "theano.misc.pkl_utils.dump file (members: %s)"
                                % (what, _list_names(names)))
        cache: Dict[str, Any] = {}

        def resolve(pid: Any) -> Any:
            if isinstance(pid, bytes):
                pid = pid.decode("latin-1")
            if not isinstance(pid, str) or "." not in pid:
                raise _Refused("persistent id %r is not pkl_utils' 'ndarray.NAME'" % (pid,))
            kind, name = pid.split(".", 1)
            if kind not in ("ndarray", "gpuarray"):
                raise _Refused("persistent id %r: unknown kind %r (pkl_utils writes 'ndarray' "
                               "and 'gpuarray')" % (pid, kind))
            if name in cache:
                return cache[name]
            if name not in names:
                raise ImporterError("%s: the pickle refers to member %r (persistent id %r), which "
                                    "the zip does not have (members: %s)"
                                    % (what, name, pid, _list_names(names)))
            member = "%s:%s" % (what, name)
            try:
                with zf.open(name) as f:
                    if kind == "gpuarray":
                        _run(f, member, None)  # the context name, not needed
                    cache[name] = read_npy_any(f, member)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
                raise ImporterError("%s: cannot read the member: %s" % (member, e))
            return cache[name]

        try:
            data = zf.read("pkl")
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise ImporterError("%s:pkl: cannot read the member: %s" % (what, e))
        return _run(io.BytesIO(data), "%s:pkl" % what, resolve)


def _list_names(names: List[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (", ... (%d in all)" % len(names) if len(names) > limit else "")


# -- .npy / .npz ------------------------------------------------------------------------------

_NPY_MAGIC = b"\x93NUMPY"


def _read_exact(f: Any, n: int, what: str) -> bytearray:
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(n - len(buf), 1 << 24))
        if not chunk:
            raise ImporterError("%s: the .npy data ends early: %d of %d bytes (truncated file?)"
                                % (what, len(buf), n))
        buf += chunk
    return buf


def read_npy_any(f: Any, what: str) -> np.ndarray:
    """Reads one .npy array from the file object `f` (positioned at its start). Numeric arrays are
    read as data; an object-dtype array (whose data is a pickle) is read with the restricted
    unpickler — never with numpy's allow_pickle."""
    magic = f.read(8)
    if len(magic) < 8 or not magic.startswith(_NPY_MAGIC):
        raise ImporterError("%s: not a .npy array (no NUMPY magic)" % what)
    major = magic[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", _read_exact(f, 2, what))
    elif major in (2, 3):
        (hlen,) = struct.unpack("<I", _read_exact(f, 4, what))
    else:
        raise ImporterError("%s: .npy format version %d.%d is not read" % (what, major, magic[7]))
    if hlen > (1 << 20):
        raise ImporterError("%s: .npy header of %d bytes is too long" % (what, hlen))
    header_bytes = bytes(_read_exact(f, hlen, what))
    try:
        header = ast.literal_eval(header_bytes.decode("utf-8" if major == 3 else "latin-1"))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as e:
        raise ImporterError("%s: unreadable .npy header: %s" % (what, e))
    if (not isinstance(header, dict)
            or set(header) != {"descr", "fortran_order", "shape"}):
        raise ImporterError("%s: .npy header %r lacks descr/fortran_order/shape" % (what, header))
    try:
        shape = _check_shape(header["shape"], what)
        dtype = np.lib.format.descr_to_dtype(header["descr"])
    except _Refused as e:
        raise ImporterError(str(e))
    except (TypeError, ValueError) as e:
        raise ImporterError("%s: .npy dtype %r: %s" % (what, header["descr"], e))
    fortran = bool(header["fortran_order"])
    count = 1
    for d in shape:
        count *= d
    if dtype.hasobject:
        arr = _run(f, "%s (object array data)" % what, None)
        if not isinstance(arr, np.ndarray) or arr.shape != shape:
            raise ImporterError("%s: object array data is %s, the header says shape %s"
                                % (what, _describe(arr) if not isinstance(arr, np.ndarray)
                                   else "shape %s" % (arr.shape,), shape))
        return arr
    raw = _read_exact(f, count * dtype.itemsize, what)
    arr = np.frombuffer(raw, dtype=dtype, count=count)
    return arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)


def read_npz_any(path: str) -> "collections.OrderedDict[str, np.ndarray]":
    """Every array of an .npz (np.savez / savez_compressed) in file order, keyed without '.npy'
    (object arrays read with the restricted unpickler)."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise ImporterError("%s: not an .npz (zip) file: %s" % (path, e))
    out: "collections.OrderedDict[str, np.ndarray]" = collections.OrderedDict()
    with zf:
        for name in zf.namelist():
            key = name[:-4] if name.endswith(".npy") else name
            member = "%s:%s" % (path, name)
            try:
                with zf.open(name) as f:
                    out[key] = read_npy_any(f, member)
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise ImporterError("%s: cannot read the member: %s" % (member, e))
    return out


# -- arrays out of records --------------------------------------------------------------------

_CONTAINER_KEYS = ("container", "storage")


def to_array(obj: Any) -> Optional[np.ndarray]:
    """The numpy array `obj` holds: an ndarray or numpy scalar itself; a CudaNdarray/GpuArray
    holder (already unwrapped at load); a Theano shared variable (its container.storage[0]); a
    Theano Container (storage[0]); a TensorConstant (its data). None for anything else."""
    for _ in range(8):  # shared variable -> container -> storage -> array
        if isinstance(obj, np.ndarray):
            return obj
        if isinstance(obj, np.generic):
            return np.asarray(obj)
        if not isinstance(obj, Record):
            return None
        if obj.name in _GPU_UNPICKLERS or obj.name.endswith("CudaNdarray"):
            obj = obj.args[0] if obj.args else None
            continue
        attrs = obj.attrs()
        if "container" in attrs:
            obj = attrs["container"]
        elif "storage" in attrs:
            storage = attrs["storage"]
            obj = storage[0] if isinstance(storage, list) and storage else None
        elif "data" in attrs and obj.name.endswith("Constant"):
            obj = attrs["data"]
        else:
            return None
    return None
