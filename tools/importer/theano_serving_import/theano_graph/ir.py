"""The importer's own small graph (IR) between Theano's Apply nodes and model.json layers.

Every Theano variable becomes one of:
* Const  — a value known at import time: a TensorConstant, a shared variable (a parameter), or
  anything computed from those only (constant folding, e.g. `b.dimshuffle('x', 0, 'x', 'x')`,
  `x.shape[2]` once --input-shape is known). Shape-derived values may hold BATCH, the batch size,
  which is only known at run time.
* Tensor — a value computed at run time from the model input: one future model.json layer
  (`op`, `attrs`, operand list) with its static shape (axis 0 = BATCH) and dtype.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from theano_serving_import.errors import ImporterError


class _Batch:
    """The batch size: axis 0 of the model input, unknown at import time."""

    _instance = None

    def __new__(cls) -> "_Batch":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "N"

    def __reduce__(self) -> str:
        return "BATCH"


BATCH = _Batch()


class Unknown:
    """A value that depends on the batch size in a way the importer does not fold (e.g. N * 3);
    an error only if something needs it. `origin` says where it was made."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def __repr__(self) -> str:
        return "?"


def is_symbolic(v: Any) -> bool:
    return v is BATCH or isinstance(v, Unknown)


class Const:
    """A value known at import time. `array` has Theano's dtype (object dtype when it holds BATCH
    or Unknown entries). `name` is the parameter name it came from (a shared variable's name), if
    any; `shared` says whether it is (derived from) a shared variable, i.e. a trained parameter."""

    __slots__ = ("array", "name", "shared", "dtype")

    def __init__(self, array: Any, name: Optional[str] = None, shared: bool = False,
                 dtype: Optional[str] = None) -> None:
        self.array = np.asarray(array) if not isinstance(array, np.ndarray) else array
        self.name = name
        self.shared = shared
        # Theano's dtype of the value (for object arrays holding BATCH: the declared dtype).
        self.dtype = dtype or str(self.array.dtype)

    @property
    def symbolic(self) -> bool:
        return self.array.dtype == object and any(is_symbolic(v) for v in self.array.flat)

    def scalar(self) -> Optional[Any]:
        """The single value when the array has exactly one element (any shape), else None."""
        if self.array.size == 1:
            return self.array.reshape(-1)[0]
        return None

    def __repr__(self) -> str:
        return "Const(%s%s, %s)" % (self.name + " " if self.name else "",
                                    self.array.shape, self.dtype)


class Tensor:
    """A run-time value: the output of one future model.json layer."""

    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "where", "name", "params",
                 "layer")

    def __init__(self, op: str, inputs: Sequence["Value"], attrs: Optional[Dict[str, Any]],
                 shape: Sequence[Any], dtype: str, where: str, name: Optional[str] = None,
                 params: Sequence[Const] = ()) -> None:
        self.op = op
        self.inputs: List[Value] = list(inputs)
        self.attrs: Dict[str, Any] = dict(attrs or {})
        self.shape: Tuple[Any, ...] = tuple(shape)
        self.dtype = dtype
        self.where = where          # "Apply node 7 (Elemwise{add})", for messages
        self.name = name            # a name hint (the Theano variable's name)
        self.params: List[Const] = list(params)
        self.layer: Optional[str] = None   # set when emitted

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def runtime_inputs(self) -> List["Tensor"]:
        return [i for i in self.inputs if isinstance(i, Tensor)]

    def __repr__(self) -> str:
        return "Tensor(%s %s %s)" % (self.op, fmt_shape(self.shape), self.where)


Value = Union[Const, Tensor]


def fmt_shape(shape: Sequence[Any]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def concrete_ints(values: Sequence[Any], what: str) -> List[int]:
    """Ints out of a folded value; BATCH/Unknown entries are an error naming `what`."""
    out = []
    for v in values:
        if v is BATCH:
            raise ImporterError("%s depends on the batch size, which is only known at run time"
                                % what)
        if isinstance(v, Unknown):
            raise ImporterError("%s depends on the batch size (computed at %s), which is only "
                                "known at run time" % (what, v.origin))
        out.append(int(v))
    return out


def broadcast_shapes(shapes: Sequence[Sequence[Any]], where: str) -> Tuple[Any, ...]:
    """numpy broadcasting of static shapes that may hold BATCH on axis 0."""
    ndim = max(len(s) for s in shapes)
    out: List[Any] = []
    for axis in range(ndim):
        sizes = [s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0]
        real = [d for d in sizes if not (isinstance(d, int) and d == 1)]
        if not real:
            out.append(1)
            continue
        first = real[0]
        for d in real[1:]:
            if d is not first and d != first:
                raise ImporterError("%s: operand shapes %s do not broadcast"
                                    % (where, ", ".join(fmt_shape(s) for s in shapes)))
        out.append(first)
    return tuple(out)
