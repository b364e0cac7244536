"""`theano-serving-import theano`: pickled Theano graphs, without Theano.

    theano-serving-import theano FILE --input-shape C,H,W --out DIR [--output N]

FILE is one of
* a pickled compiled function (`pickle.dump(theano.function(...), f)`);
* a `theano.misc.pkl_utils.dump` zip of one (arrays in .npy members);
* a pickled symbolic output: a variable, or a dict / list / tuple holding the input and output
  variables (e.g. `{"input": x, "output": y}`).

The pickle is read with the restricted unpickler (safe_pickle: Theano classes become inert
records). For a compiled function the graph the user wrote is walked — `maker.outputs` back to
`maker.inputs`; the optimized `maker.fgraph` only when that is missing — and each Apply node is
translated (theano_graph/ops.py, one translator per op class, the table OPS), folding what does
not depend on the input: parameters (shared variables, written to params.npz under their names),
constants, and shape arithmetic once --input-shape is known (Theano tensors carry no static
shape). Theano idioms are recognised where they match exactly (theano_graph/emit.py).
"""

import argparse
import os
from typing import Any, Iterator, List, Optional, Sequence, Tuple

from theano_serving_import import safe_pickle
from theano_serving_import.errors import ImporterError
from theano_serving_import.model_builder import DTYPES, ModelBuilder
from theano_serving_import.safe_pickle import Record
from theano_serving_import.theano_graph.emit import Emitter, rewrite
from theano_serving_import.theano_graph.ir import Tensor, fmt_shape
from theano_serving_import.theano_graph.walker import GraphContext

_FUNCTION = "theano.compile.function_module._constructor_Function"


def _shape_arg(text: str) -> List[int]:
    from theano_serving_import.cli import parse_shape  # cli imports this module
    return parse_shape(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE",
                        help="a pickled theano.function (.pkl), a theano.misc.pkl_utils.dump "
                             "zip, or a pickled output variable / dict / list of variables")
    parser.add_argument("--input-shape", type=_shape_arg, required=True, metavar="C,H,W",
                        help="the input item shape without the batch axis (Theano tensors have "
                             "no static shape), e.g. 1,28,28 or 100")
    parser.add_argument("--output", metavar="N|NAME",
                        help="which output to serve when there are several: its index, its "
                             "variable name, or its key in a pickled dict")


# -- finding the graph ------------------------------------------------------------------------

def _is_variable(obj: Any) -> bool:
    return (isinstance(obj, Record) and obj.has("type") and obj.has("owner")
            and not obj.name.endswith("Constant") and not obj.has("container"))


class Candidate:
    """An output variable the file offers, with a label for messages."""

    def __init__(self, var: Record, label: str, key: Optional[str] = None) -> None:
        self.var, self.label, self.key = var, label, key


def _function_graph(fn: Record, path: str) -> Tuple[List[Candidate], List[Record], str]:
    """Outputs and runtime inputs of a pickled compiled function (its FunctionMaker)."""
    maker = fn.args[0] if fn.qualname == _FUNCTION and fn.args else fn
    if not (isinstance(maker, Record) and maker.name == "FunctionMaker"):
        raise ImporterError("%s: a pickled theano.function without its FunctionMaker" % path)
    ins = maker.get("inputs") or []
    outs = maker.get("outputs") or []
    inputs = [i.get("variable") for i in ins
              if isinstance(i, Record) and not i.get("implicit") and not i.get("shared")]
    outputs = [o.get("variable") for o in outs if isinstance(o, Record)]
    source = "the function's own graph (maker.outputs)"
    if not outputs or any(not _is_variable(v) or v.get("owner") is None for v in outputs):
        fg = maker.get("fgraph")
        if not isinstance(fg, Record) or not fg.get("outputs"):
            raise ImporterError("%s: the pickled function has neither its graph (maker.outputs) "
                                "nor its optimized fgraph" % path)
        outputs = list(fg.get("outputs"))
        n_explicit = len(inputs)
        inputs = list(fg.get("inputs") or [])[:n_explicit]
        source = "the optimized graph (maker.fgraph; maker.outputs were not pickled)"
    cands = [Candidate(v, "output %d%s" % (k, _named(v)), str(k)) for k, v in enumerate(outputs)]
    return cands, inputs, source


def _named(v: Any) -> str:
    name = v.get("name") if isinstance(v, Record) else None
    return " (%r)" % name if isinstance(name, str) and name else ""


_INPUT_KEYS = ("input", "inputs", "x", "X", "input_var", "in")
_MAX_DEPTH = 6


def _user_object(obj: Any) -> bool:
    """An instance of a class of the user's own code (e.g. the deeplearning.net tutorials'
    `pickle.dump(classifier, f)` of a __main__.LogisticRegression), unpickled as an inert
    record: its attributes are searched like a dict's."""
    return (isinstance(obj, Record) and isinstance(obj.state, dict) and not _is_variable(obj)
            and not (obj.module or "").split(".")[0] in ("theano", "numpy", "lasagne"))


def _walk(obj: Any, path: List[str], cands: List[Candidate], inputs: List[Record],
          seen: set, depth: int) -> None:
    """Variables held by dicts, lists, tuples and user objects, depth first."""
    if id(obj) in seen or depth > _MAX_DEPTH:
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        items = [("[%r]" % k if depth == 0 else ".%s" % k if isinstance(k, str) else "[%r]" % k,
                  str(k), v) for k, v in obj.items()]
    elif isinstance(obj, (list, tuple)):
        items = [("[%d]" % k, str(k), v) for k, v in enumerate(obj)]
    elif _user_object(obj):
        items = [(".%s" % k, str(k), v) for k, v in obj.state.items()
                 if isinstance(k, str) and not k.startswith("_")]
    else:
        return
    for label, key, v in items:
        if _is_variable(v):
            if v.get("owner") is None:
                if id(v) not in [id(i) for i in inputs]:
                    inputs.append(v)
                continue
            if key in _INPUT_KEYS:
                continue
            full = "".join(path) + label
            dotted = ".".join(p.strip(".[]'\"") for p in path + [label])
            cands.append(Candidate(v, full + _named(v), dotted if path else key))
        else:
            _walk(v, path + [label], cands, inputs, seen, depth + 1)


def _container_graph(obj: Any, path: str) -> Tuple[List[Candidate], List[Record], str]:
    """A pickled variable, or a dict / list / tuple of them, or objects of the user's own
    classes holding them (the tutorials' layer objects: `.output`, `.p_y_given_x`, `.y_pred`,
    and the model input as `.input`), nested."""
    if _is_variable(obj):
        return [Candidate(obj, "the pickled variable%s" % _named(obj))], [], "a pickled variable"
    if not isinstance(obj, (dict, list, tuple)) and not _user_object(obj):
        what = obj.qualname if isinstance(obj, Record) else type(obj).__name__
        raise ImporterError("%s holds a %s, not a Theano function or graph (expected a pickled "
                            "theano.function, a variable, or a dict/list of variables)"
                            % (path, what))
    inputs: List[Record] = []
    cands: List[Candidate] = []
    _walk(obj, [], cands, inputs, set(), 0)
    what = obj.qualname if isinstance(obj, Record) else type(obj).__name__
    if isinstance(obj, Record):   # classifier.y_pred reads better than .y_pred
        for c in cands:
            c.label = obj.name + c.label
    if not cands:
        shared = _count_shared(obj)
        if shared:
            raise ImporterError("%s: the pickled %s holds %d shared variables (parameter values) "
                                "but no computed Theano variable: the network's graph is not in "
                                "the file. Pickle the compiled theano.function (or its output "
                                "variable), or import Lasagne parameters with "
                                "theano-serving-import lasagne NET.py --weights %s"
                                % (path, what, shared, os.path.basename(path)))
        raise ImporterError("%s: no computed Theano variable in the pickled %s" % (path, what))
    return cands, inputs, "a pickled %s of variables" % what


def _count_shared(obj: Any) -> int:
    count, stack, seen = 0, [(obj, 0)], set()
    while stack:
        o, depth = stack.pop()
        if id(o) in seen or depth > _MAX_DEPTH:
            continue
        seen.add(id(o))
        if isinstance(o, Record) and o.has("container"):
            count += 1
        elif isinstance(o, dict):
            stack.extend((v, depth + 1) for v in o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend((v, depth + 1) for v in o)
        elif _user_object(o):
            stack.extend((v, depth + 1) for v in o.state.values())
    return count


def _upstream(var: Record) -> Iterator[Record]:
    """Every variable `var` is computed from, itself included, each once (no recursion)."""
    seen: set = set()
    stack = [var]
    while stack:
        v = stack.pop()
        if id(v) in seen or not isinstance(v, Record):
            continue
        seen.add(id(v))
        yield v
        node = v.get("owner")
        if isinstance(node, Record):
            stack.extend(node.get("inputs") or [])


def _ancestors(var: Record) -> set:
    """ids of every variable `var` is computed from (itself included)."""
    return {id(v) for v in _upstream(var)}


def _default_output(cands: List[Candidate]) -> Optional[Candidate]:
    """Among several outputs, the one every other is computed on the way to (the tutorials'
    `y_pred = argmax(p_y_given_x)` after `hiddenLayer.output`): the only candidate no other
    one reads, ignoring those computed from parameters alone (L1 / L2 penalties)."""
    graphs = [_ancestors(c.var) for c in cands]
    live = [k for k, c in enumerate(cands) if _graph_inputs(c.var)]
    sinks = [k for k in live if not any(id(cands[k].var) in graphs[j] for j in live if j != k)]
    if len(sinks) == 1:
        return cands[sinks[0]]
    return None


def _choose(cands: List[Candidate], choice: Optional[str], path: str) -> Candidate:
    if choice is None:
        if len(cands) == 1:
            return cands[0]
        raise ImporterError("%s has %d outputs: %s; choose one with --output"
                            % (path, len(cands), "; ".join(c.label for c in cands)))
    for k, c in enumerate(cands):
        if choice in (str(k), c.key, c.var.get("name")):
            return c
    raise ImporterError("--output %s: %s has %s" % (choice, path,
                                                   "; ".join(c.label for c in cands)))


def _graph_inputs(ctx_var: Record) -> List[Record]:
    """Leaves of the graph that are neither constants nor shared variables."""
    return [v for v in _upstream(ctx_var)
            if not isinstance(v.get("owner"), Record) and _is_variable(v)]


def load_graph(path: str, choice: Optional[str]) -> Tuple[Record, Record, str, str, List[str]]:
    """(output variable, input variable, output label, where the graph came from, notes)."""
    return graph_from_object(safe_pickle.load_file(path), path, choice)


def graph_from_object(obj: Any, path: str,
                      choice: Optional[str]) -> Tuple[Record, Record, str, str, List[str]]:
    """load_graph on an unpickled object."""
    if isinstance(obj, Record) and (obj.qualname == _FUNCTION or obj.name == "FunctionMaker"):
        cands, inputs, source = _function_graph(obj, path)
    elif isinstance(obj, Record) and obj.name == "FunctionGraph" and obj.get("outputs"):
        # pickle.dump(f.maker.fgraph): the optimized graph alone
        outs = list(obj.get("outputs"))
        cands = [Candidate(v, "output %d%s" % (k, _named(v)), str(k))
                 for k, v in enumerate(outs)]
        inputs = [v for v in obj.get("inputs") or [] if _is_variable(v)]
        source = "a pickled FunctionGraph (an optimized graph)"
    else:
        cands, inputs, source = _container_graph(obj, path)
    notes: List[str] = []
    chosen = None
    if choice is None and len(cands) > 1:
        chosen = _default_output(cands)
        if chosen is not None:
            notes.append("%s holds %d outputs; served: %s (the others, %s, are computed on "
                         "the way to it or from parameters alone); --output chooses another"
                         % (os.path.basename(path), len(cands), chosen.label,
                            "; ".join(c.label for c in cands if c is not chosen)))
    if chosen is None:
        chosen = _choose(cands, choice, path)
    leaves = _graph_inputs(chosen.var)
    if inputs:
        used = [v for v in inputs if any(v is leaf for leaf in leaves)]
    else:
        used = leaves
    extra = [v for v in leaves if not any(v is u for u in used)]
    if len(used) != 1 or extra:
        names = ", ".join(repr(v.get("name") or "unnamed") for v in (used + extra))
        raise ImporterError("%s: %s reads %d inputs (%s); the engine serves graphs of exactly one "
                            "input" % (path, chosen.label, len(used + extra), names or "none"))
    return chosen.var, used[0], chosen.label, source, notes


# -- the subcommand ---------------------------------------------------------------------------

def build(args: argparse.Namespace) -> ModelBuilder:
    path = args.file
    out_var, in_var, label, source, notes = load_graph(path, args.output)
    return build_from_graph(out_var, in_var, args.input_shape, label=label, source=source,
                            path=path, notes=notes)


def build_from_graph(out_var: Record, in_var: Record, input_shape: Sequence[int], *,
                     label: str = "the output", source: str = "", path: str = "",
                     notes: Sequence[str] = ()) -> ModelBuilder:
    """Translates the graph from `in_var` to `out_var` for items of `input_shape`."""
    in_type = in_var.get("type")
    dtype = in_type.get("dtype") if isinstance(in_type, Record) else None
    if dtype not in DTYPES:
        raise ImporterError("the input %r has dtype %s; the engine serves float32 or float64 "
                            "models" % (in_var.get("name") or "x", dtype))
    bcast = in_type.get("broadcastable") or ()
    if len(bcast) != len(input_shape) + 1:
        raise ImporterError("--input-shape %s has %d axes, but the graph's input %r is %d-D "
                            "(batch axis included): give %d sizes"
                            % (",".join(map(str, input_shape)), len(input_shape),
                               in_var.get("name") or "x", len(bcast), len(bcast) - 1))
    ctx = GraphContext(in_var, input_shape, dtype)
    out = ctx.translate(out_var)
    if not isinstance(out, Tensor) or out is ctx.input:
        raise ImporterError("%s does not depend on the input (or is the input itself): nothing "
                            "to serve" % label)
    notes = list(notes) + ctx.notes
    if out.op == "argmax" and len(out.inputs[0].shape) == 2 and \
            tuple(out.attrs.get("axis") or ()) == (1,):
        # The tutorials' predict function (y_pred = T.argmax(p_y_given_x, axis=1)): the class
        # index of the best score. The engine computes floats: serve the scores; their top-1 is
        # exactly the function's result (argmax picks the first of equal maxima, as top-k does).
        notes.append("%s is argmax(scores, axis=1), a class index: the model serves the scores "
                     "%s it is taken over; Classify's top-1 (or the argmax of the OIP v2 output) "
                     "is the function's result" % (label, fmt_shape(out.inputs[0].shape)))
        out = out.inputs[0]
    if out.ndim < 2:
        raise ImporterError("%s has shape %s: the engine serves outputs with a batch axis and at "
                            "least one more" % (label, fmt_shape(out.shape)))
    builder = ModelBuilder(dtype)
    builder.set_input(input_shape)
    for n in notes:
        builder.note(n)
    out = rewrite(out, dtype)
    Emitter(builder, dtype).emit(out, ctx.input)
    builder.source = {"frontend": "theano", "file": os.path.basename(path) if path else None,
                      "graph": source or None, "output": label}
    if out.name:
        builder.source_layers[out.name] = builder.last
    return builder
