"""`theano-serving-import lasagne [NET.py] --weights FILE --out DIR`: the Lasagne frontend.

1. The weights file is read in whichever common form it was saved (weights.py); a whole
   pickled network needs no NET.py.
2. NET.py runs unchanged against stand-ins for lasagne / theano (lasagne/standins.py); its build
   function (--build, default build_model) returns the output layer, or a dict / list of layers
   (--output-layer picks one; default: the last layer).
3. The parameters (lasagne.layers.get_all_params order: get_all_layers depth-first, each
   layer's parameters in creation order) are matched with the file: positionally, by parameter
   name, or by layer name (nolearn); every count and shape is checked.
4. Each layer is translated by its class's translator (lasagne/layers.py) into model.json ops.
"""

import argparse
import ast
import inspect
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from theano_serving_import import weights as weights_mod
from theano_serving_import.errors import ImporterError
from theano_serving_import.lasagne import graph, layers as translators, standins, usercode
from theano_serving_import.model_builder import ModelBuilder


def _shape_arg(text: str) -> List[int]:
    from theano_serving_import.cli import parse_shape
    return parse_shape(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", nargs="?", metavar="NET.py",
                        help="the Python file defining the network (Lasagne code, Python 3 or "
                             "2, run unchanged against stand-ins for lasagne/theano); not "
                             "needed when --weights is a whole pickled network")
    parser.add_argument("--weights", required=True, metavar="FILE",
                        help="the saved parameters: np.savez npz (arr_N or parameter names), "
                             "a pickled list, a model-zoo dict ('param values'), nolearn's "
                             "save_params_to dict, or a whole network pickled with "
                             "pickle.dump(net)")
    parser.add_argument("--build", default=None, metavar="FUNC",
                        help="the function of NET.py that builds the network (default "
                             "build_model); it may also name a module-level layer, dict of "
                             "layers or nolearn NeuralNet")
    parser.add_argument("--output-layer", metavar="NAME",
                        help="when the network is a dict of layers (model-zoo code) or has "
                             "several outputs: the key or layer name of the output (default: "
                             "the last layer)")
    parser.add_argument("--input-shape", type=_shape_arg, metavar="C,H,W",
                        help="the input size when the InputLayer has None spatial sizes")
    parser.add_argument("--build-arg", action="append", type=_build_arg, default=[],
                        metavar="NAME=VALUE",
                        help="an argument of the build function, as the network was built "
                             "(e.g. --build-arg n=9 --build-arg input_dim=784); VALUE is a "
                             "Python literal (number, string, tuple, True/False/None), else a "
                             "string; repeatable")


def _build_arg(text: str) -> Tuple[str, Any]:
    """'n=9' -> ('n', 9); 'mode=cnn' -> ('mode', 'cnn'); 'shape=(1, 28, 28)' -> a tuple."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError("not NAME=VALUE: %r" % text)
    try:
        return name, ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return name, value.strip()


# ---------------------------------------------------------------------------------------------
def build(args: argparse.Namespace) -> ModelBuilder:
    try:
        return _build(args)
    except ImporterError:
        raise
    except (MemoryError, RecursionError) as e:
        raise ImporterError("the network is too large or too deep to import (%s)"
                            % type(e).__name__)
    except Exception as e:  # a bug of ours: one line for the user, never a traceback
        raise ImporterError("internal error while importing (please report it with the files "
                            "you imported): %s: %s" % (type(e).__name__, e))


def _build(args: argparse.Namespace) -> ModelBuilder:
    wf = weights_mod.read(args.weights)
    notes: List[str] = list(wf.notes)
    source: Dict[str, Any] = {"framework": "lasagne", "weights": os.path.basename(args.weights),
                              "weights_form": wf.form}
    if wf.network is not None:
        if args.network:
            notes.append("%s is a whole pickled network: %s was not run"
                         % (wf.name, args.network))
        output = select_output(_pickled_outputs(wf.network), args.output_layer, wf.name)
        values = _values_from_records(output)
        dtype = _model_dtype(list(values.values()))
    else:
        if not args.network:
            raise ImporterError("%s holds only parameter values (%s): give the network code "
                                "too (theano-serving-import lasagne NET.py --weights %s ...)"
                                % (wf.name, wf.form, args.weights))
        source["network"] = os.path.basename(args.network)
        dtype = _model_dtype(wf.all_arrays())
        build_args = dict(getattr(args, "build_arg", None) or [])
        output, run_notes = run_network(args.network, args.build, args.output_layer, dtype,
                                        args.input_shape, build_args)
        all_layers = graph.get_all_layers(output)
        for i, layer in enumerate(all_layers):  # an unsupported layer is the first thing to say
            translators.spec_for(layer, i)
        match_notes: List[str] = []
        try:
            values = match_weights(all_layers, wf, match_notes)
        except ImporterError as mismatch:
            # Network code from before Lasagne 0.2 (August 2015) pooled with
            # ignore_border=False unless it said otherwise: when only that default makes the
            # weights fit, the network was written for it.
            defaulted = [l for l in all_layers if getattr(l, "_ts_ignore_border_default", False)
                         and getattr(l, "ignore_border", False)]
            if not defaulted:
                raise
            try:
                output, run_notes = run_network(args.network, args.build, args.output_layer,
                                                dtype, args.input_shape, build_args, True)
                all_layers = graph.get_all_layers(output)
                match_notes = []
                values = match_weights(all_layers, wf, match_notes)
            except ImporterError:
                raise mismatch
            pools = [graph.display_name(l, i) for i, l in enumerate(all_layers)
                     if getattr(l, "_ts_ignore_border_default", False)]
            run_notes.append(
                "the weights fit the network only with pooling layers that keep partial "
                "windows (ignore_border=False, Lasagne's default before August 2015; "
                "since then it is True): %s %s imported so, as the Lasagne the network was "
                "trained with computed them" % (", ".join(pools),
                                                "is" if len(pools) == 1 else "are"))
        notes.extend(run_notes)
        notes.extend(match_notes)
    builder = ModelBuilder(dtype)
    out_shape = translate(builder, output, values, args.input_shape)
    name = graph.layer_name(output)
    if name:
        source["output_layer"] = name
    builder.source.update(source)
    if wf.classes is not None:
        width = int(out_shape[1]) if len(out_shape) == 2 else None
        if width is not None and width != len(wf.classes):
            notes.append("%s has %d class labels but the output has %d values: labels not used"
                         % (wf.name, len(wf.classes), width))
        else:
            builder.classes = wf.classes
    _apply_means(builder, wf, notes)
    for n in notes:
        builder.note(n)
    return builder


def _apply_means(builder: ModelBuilder, wf: weights_mod.WeightFile, notes: List[str]) -> None:
    channels = builder.input["shape"][0] if builder.input.get("shape") else None
    if wf.mean_value is not None:
        mv = np.asarray(wf.mean_value, np.float64).reshape(-1)
        if mv.size == 1 and channels:
            mv = np.repeat(mv, channels)
        if channels is not None and mv.size == channels:
            builder.input["mean"] = [float(v) for v in mv]
            notes.append("%s's 'mean value' %s is subtracted from image pixels (input.mean); "
                         "model-zoo models converted from Caffe expect BGR pixels in 0..255: "
                         "add --channel-order BGR for those"
                         % (wf.name, [round(float(v), 3) for v in mv]))
        else:
            notes.append("%s's 'mean value' has %d values for %s input channels: not used"
                         % (wf.name, mv.size, channels))
    if wf.mean_image is not None:
        shape = tuple(builder.input.get("shape", ()))
        if tuple(wf.mean_image.shape) == shape:
            builder.input["mean_image"] = builder.add_param("input.mean_image", wf.mean_image)
            notes.append("%s's 'mean image' %s is subtracted from image pixels "
                         "(input.mean_image); model-zoo models converted from Caffe expect BGR "
                         "pixels in 0..255: add --channel-order BGR for those"
                         % (wf.name, shape))
        else:
            notes.append("%s has a 'mean image' of shape %s but the input is %s (crop or resize "
                         "it as your preprocessing did): not used; subtract it from the inputs "
                         "before sending them, or use a per-channel --mean"
                         % (wf.name, tuple(wf.mean_image.shape), shape))


def _model_dtype(arrays: Sequence[np.ndarray]) -> str:
    floats = [a for a in arrays if a.dtype.kind == "f"]
    if floats and all(a.dtype == np.float64 for a in floats):
        return "float64"
    return "float32"


# ---------------------------------------------------------------------------------------------
# Running NET.py and picking the output layer
# ---------------------------------------------------------------------------------------------
_BUILD_NAMES = ("build_model", "build_network", "build_net", "build_cnn", "build_mlp",
                "create_network", "create_model", "get_model", "get_network", "make_model")


def run_network(path: str, build_name: Optional[str], output_name: Optional[str], dtype: str,
                input_shape: Optional[Sequence[int]],
                build_args: Optional[Dict[str, Any]] = None,
                old_pool_default: bool = False) -> Tuple[Any, List[str]]:
    """Runs NET.py and returns (output layer, notes). Code that compiles as Python 3 but fails
    with Python 2 semantics (e.g. `map(...)[0]`, `import cPickle`) is run again translated by
    lib2to3; if that fails too, the error reported is the translated run's when the first one
    was a Python 2 incompatibility, else the first."""
    try:
        return _run_network(path, build_name, output_name, dtype, input_shape, False,
                            build_args, old_pool_default)
    except usercode.UserCodeError as first:
        try:
            return _run_network(path, build_name, output_name, dtype, input_shape, True,
                                build_args, old_pool_default)
        except ImporterError as second:
            if usercode.is_python2_failure(first.cause) and str(second) != str(first):
                raise ImporterError("%s (after translating the Python 2 code with lib2to3; "
                                    "run as Python 3 it failed with: %s)" % (second, first))
            raise first


def _run_network(path: str, build_name: Optional[str], output_name: Optional[str], dtype: str,
                 input_shape: Optional[Sequence[int]], force_py2: bool,
                 build_args: Optional[Dict[str, Any]] = None,
                 old_pool_default: bool = False) -> Tuple[Any, List[str]]:
    notes: List[str] = []
    with standins.installed(dtype, input_shape, old_pool_default) as mods:
        user = usercode.load(path, force_py2)
        module = user.module
        target, fn_name = _find_build(module, build_name, path, mods)
        if callable(target) and not graph.is_layer(target) and not isinstance(
                target, standins.NeuralNet) and not isinstance(target, type):
            result, call_notes = usercode.call_build(user, target, fn_name, build_args)
            notes.extend(call_notes)
        else:
            if build_args:
                raise ImporterError("--build-arg: %s is not a function (%s)"
                                    % (fn_name, type(target).__name__))
            result = target
        if isinstance(result, standins.NeuralNet):
            result = usercode.run_protected(lambda: _nolearn_layers(result), path,
                                            "building the nolearn NeuralNet's layers")
        output = select_output(result, output_name, "%s %s" % (os.path.basename(path), fn_name))
    if user.translated:
        notes.append("Python 2 code translated to Python 3 with lib2to3 (and run with "
                     "Python 2's integer division): %s" % ", ".join(user.translated))
    if standins.CONFIG.stubbed:
        notes.append("%s imports %s, which %s not installed here: replaced by inert stand-ins "
                     "(the network does not use them)"
                     % (os.path.basename(path), ", ".join(standins.CONFIG.stubbed),
                        "is" if len(standins.CONFIG.stubbed) == 1 else "are"))
    return output, notes


def _nolearn_layers(net: "standins.NeuralNet") -> "Dict[str, Any]":
    net.initialize_layers()
    out = dict(net.layers_)
    out["__ts_output__"] = net._ts_output
    return out


def _find_build(module: Any, build_name: Optional[str], path: str,
                mods: Dict[str, Any]) -> Tuple[Any, str]:
    ns = module.__dict__
    if build_name:
        if build_name not in ns:
            raise ImporterError("%s defines no %s (--build); it defines: %s"
                                % (path, build_name, ", ".join(_candidates(ns)) or "nothing"))
        return ns[build_name], build_name
    if "build_model" in ns and callable(ns["build_model"]):
        return ns["build_model"], "build_model"
    found = [n for n in _BUILD_NAMES if callable(ns.get(n))]
    if not found:  # e.g. build_UNet, build_vgg: the one function of the file named build*
        found = [n for n, v in ns.items() if n.lower().startswith("build")
                 and inspect.isfunction(v) and v.__module__ == ns.get("__name__")]
    if len(found) == 1:
        return ns[found[0]], found[0]
    nets = [n for n, v in ns.items() if isinstance(v, standins.NeuralNet)]
    if len(nets) == 1 and not found:
        return ns[nets[0]], nets[0]
    raise ImporterError("%s has no build_model(): name the function (or the module-level "
                        "network) with --build; candidates: %s"
                        % (path, ", ".join(_candidates(ns)) or "none"))


def _candidates(ns: Dict[str, Any]) -> List[str]:
    out = []
    for n, v in ns.items():
        if n.startswith("_") or isinstance(v, type(os)):
            continue
        if isinstance(v, type):
            continue
        if callable(v) and getattr(v, "__module__", None) == ns.get("__name__"):
            out.append(n + "()")
        elif graph.is_layer(v) or isinstance(v, standins.NeuralNet) or (
                isinstance(v, dict) and any(graph.is_layer(x) for x in v.values())):
            out.append(n)
    return out


def _pickled_outputs(obj: Any) -> Any:
    """A whole pickled network: a layer, a dict or list of layers, or a nolearn NeuralNet."""
    if graph.is_record(obj) and (obj.module or "").startswith("nolearn"):
        layers_ = graph.attr(obj, "layers_", None)
        items = graph.mapping_items(layers_) if layers_ is not None else []
        if not items:
            raise ImporterError("the pickled nolearn %s has no layers_ (was it initialized "
                                "before pickling?)" % obj.name)
        return dict(items)
    return obj


def select_output(result: Any, output_name: Optional[str], what: str) -> Any:
    """The output layer among what the build function returned."""
    graph.forget_keys()
    if graph.is_layer(result):
        if output_name:
            for layer in graph.get_all_layers(result):
                if graph.attr(layer, "name", None) == output_name:
                    return layer
            raise ImporterError("%s: no layer named %r (--output-layer); layers: %s"
                                % (what, output_name, _layer_names(graph.get_all_layers(result))))
        return result
    items: List[Tuple[str, Any]]
    explicit_output = None
    if isinstance(result, dict):
        items = [(str(k), v) for k, v in result.items() if k != "__ts_output__"]
        explicit_output = result.get("__ts_output__")
    elif isinstance(result, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(result)]
    else:
        raise ImporterError("%s returned %s, not a Lasagne layer or a dict/list of layers"
                            % (what, _describe(result)))
    found = [(k, v) for k, v in items if graph.is_layer(v)]
    if not found:
        raise ImporterError("%s returned no Lasagne layers" % what)
    if isinstance(result, dict):
        _name_by_keys(found)
    if output_name:
        for k, v in found:
            if k == output_name or graph.attr(v, "name", None) == output_name:
                return v
        raise ImporterError("%s: no layer %r (--output-layer); keys: %s"
                            % (what, output_name, ", ".join(k for k, _ in found)))
    if explicit_output is not None and graph.is_layer(explicit_output):
        return explicit_output
    # the last layer: the last one returned, if nothing reads it
    consumed = set()
    for _, v in found:
        for layer in graph.get_all_layers(v):
            for i in graph.input_layers(layer):
                if i is not None:
                    consumed.add(id(i))
    sinks = [(k, v) for k, v in found if id(v) not in consumed]
    if id(found[-1][1]) not in consumed:
        return found[-1][1]
    if len(sinks) == 1:
        return sinks[0][1]
    raise ImporterError("%s returned several output layers (%s): choose one with --output-layer"
                        % (what, ", ".join(k for k, _ in sinks)))


def _name_by_keys(items: Sequence[Tuple[str, Any]]) -> None:
    """Model-zoo code keeps its layers in a dict (`net['conv1_1'] = ConvLayer(...)`) without
    naming them: an unnamed layer is called by its (first) key in model.json layer and
    parameter names and in messages (graph.layer_name). Its Lasagne name stays None, so
    source.layers keys remain Lasagne's (`NN_ClassName`)."""
    for key, layer in items:
        graph.set_key(layer, key)


def _layer_names(layers: Sequence[Any]) -> str:
    names = [graph.attr(l, "name", None) for l in layers]
    return ", ".join(n for n in names if isinstance(n, str)) or "(no named layers)"


def _describe(obj: Any) -> str:
    if graph.is_record(obj):
        return "a %s" % obj.qualname
    return "a %s" % type(obj).__name__


# ---------------------------------------------------------------------------------------------
# Matching parameters with the weights file
# ---------------------------------------------------------------------------------------------
class _Param:
    def __init__(self, index: int, layer: Any, layer_index: int, p: Any) -> None:
        self.index = index
        self.layer = layer
        self.p = p
        self.where = graph.display_name(layer, layer_index)
        self.name = graph.param_name(p) or "?"
        self.short = graph.short_param_name(p)
        shape = getattr(p, "_ts_shape", None)
        self.shape = tuple(shape) if shape is not None else None

    def label(self) -> str:
        return "%s %s" % (self.name, graph.fmt_shape(self.shape) if self.shape is not None
                          else "")


def _params(layers: Sequence[Any]) -> List[_Param]:
    index = {id(l): i for i, l in enumerate(layers)}
    return [_Param(k, layer, index[id(layer)], p)
            for k, (layer, p) in enumerate(graph.get_all_params(layers))]


def _check(param: _Param, array: np.ndarray, what: str) -> np.ndarray:
    if param.shape is not None and tuple(array.shape) != param.shape:
        raise ImporterError("%s: the weights file has an array of shape %s for %s%s, the "
                            "network expects %s"
                            % (param.where, graph.fmt_shape(array.shape), param.short,
                               " (%s)" % what if what else "", graph.fmt_shape(param.shape)))
    return array


def match_weights(layers: Sequence[Any], wf: weights_mod.WeightFile,
                  notes: List[str]) -> Dict[int, np.ndarray]:
    params = _params(layers)
    if wf.arrays is not None:
        return _positional(params, wf.arrays, wf, notes)
    if wf.named is not None:
        return _by_param_name(params, wf, notes)
    if wf.by_layer is not None:
        return _by_layer_name(params, layers, wf, notes)
    raise ImporterError("%s holds no parameter values" % wf.name)


def _listing(params: Sequence[_Param], k: int = 3) -> str:
    text = ", ".join(p.label().strip() for p in params[:k])
    return text + (", ..." if len(params) > k else "")


def _positional(params: List[_Param], arrays: List[np.ndarray], wf: weights_mod.WeightFile,
                notes: List[str], what: str = "arrays") -> Dict[int, np.ndarray]:
    if len(arrays) != len(params):
        first_diff = ""
        for k, (p, a) in enumerate(zip(params, arrays)):
            if p.shape is not None and tuple(a.shape) != p.shape:
                first_diff = ("; the first difference is array %d of shape %s where %s "
                              "expects %s %s" % (k, graph.fmt_shape(a.shape), p.where, p.short,
                                                  graph.fmt_shape(p.shape)))
                break
        raise ImporterError("%s holds %d %s, the network has %d parameters (first: %s)%s"
                            % (wf.name, len(arrays), what, len(params), _listing(params),
                               first_diff))
    values = {}
    for k, (p, a) in enumerate(zip(params, arrays)):
        values[id(p.p)] = _check(p, a, "array %d of %s" % (k, wf.name))
    return values


def _by_param_name(params: List[_Param], wf: weights_mod.WeightFile,
                   notes: List[str]) -> Dict[int, np.ndarray]:
    named = wf.named
    assert named is not None
    names = [p.name for p in params]
    if len(set(names)) == len(names) and set(names) == set(named):
        return {id(p.p): _check(p, named[p.name], "%s[%r]" % (wf.name, p.name))
                for p in params}
    missing = [n for n in names if n not in named]
    extra = [k for k in named if k not in set(names)]
    if len(named) == len(params) and all(
            p.shape is None or tuple(a.shape) == p.shape for p, a in zip(params,
                                                                          named.values())):
        notes.append("%s's keys (%s) do not name the network's parameters (%s): used in file "
                     "order, which matches every shape"
                     % (wf.name, ", ".join(list(named)[:3]), ", ".join(names[:3])))
        return {id(p.p): a for p, a in zip(params, named.values())}
    if len(set(names)) != len(names):
        dup = sorted(set(n for n in names if names.count(n) > 1))
        raise ImporterError("%s is keyed by parameter name, but several parameters of the "
                            "network share the names %s (name the layers, or save the weights "
                            "with np.savez(f, *get_all_param_values(net)))"
                            % (wf.name, ", ".join(dup)))
    parts = []
    if missing:
        parts.append("has no array for %s" % ", ".join(missing[:6]) +
                     (", ..." if len(missing) > 6 else ""))
    if extra:
        parts.append("has arrays the network does not use: %s" % ", ".join(extra[:6]) +
                     (", ..." if len(extra) > 6 else ""))
    raise ImporterError("%s %s" % (wf.name, "; ".join(parts)))


def _by_layer_name(params: List[_Param], layers: Sequence[Any], wf: weights_mod.WeightFile,
                   notes: List[str]) -> Dict[int, np.ndarray]:
    by_layer = wf.by_layer
    assert by_layer is not None
    per_layer: Dict[int, List[_Param]] = {}
    order: List[Any] = []
    for p in params:
        if id(p.layer) not in per_layer:
            per_layer[id(p.layer)] = []
            order.append(p.layer)
        per_layer[id(p.layer)].append(p)
    names = [graph.attr(l, "name", None) for l in order]
    if all(isinstance(n, str) and n in by_layer for n in names):
        values = {}
        for layer, name in zip(order, names):
            ps = per_layer[id(layer)]
            arrays = by_layer[name]
            if len(arrays) != len(ps):
                raise ImporterError("%s[%r] holds %d arrays, %s has %d parameters (%s)"
                                    % (wf.name, name, len(arrays), ps[0].where, len(ps),
                                       _listing(ps)))
            for k, (p, a) in enumerate(zip(ps, arrays)):
                values[id(p.p)] = _check(p, a, "%s[%r][%d]" % (wf.name, name, k))
        used = set(names)
        extra = [k for k, v in by_layer.items() if k not in used and len(v)]
        if extra:
            raise ImporterError("%s has parameters for layers the network does not have: %s"
                                % (wf.name, ", ".join(extra[:6])))
        return values
    flat = [a for v in by_layer.values() for a in v]
    missing = [n if isinstance(n, str) else graph.display_name(l, 0)
               for n, l in zip(names, order) if not (isinstance(n, str) and n in by_layer)]
    try:
        values = _positional(params, flat, wf, notes)
    except ImporterError:
        raise ImporterError("%s is keyed by layer name (nolearn) but has no entry for %s (it "
                            "has: %s)" % (wf.name, ", ".join(missing[:6]),
                                          ", ".join(list(by_layer)[:8])))
    notes.append("%s's layer names do not match the network's (%s): its arrays were used in "
                 "file order, which matches every shape" % (wf.name, ", ".join(missing[:3])))
    return values


def _values_from_records(output: Any) -> Dict[int, np.ndarray]:
    """A pickled network carries its parameter values (shared variables, GPU arrays)."""
    from theano_serving_import import safe_pickle
    layers = graph.get_all_layers(output)
    values = {}
    for layer, p in graph.get_all_params(layers):
        arr = safe_pickle.to_array(p)
        if arr is None:
            index = next(i for i, l in enumerate(layers) if l is layer)
            raise ImporterError("%s: parameter %s holds no array (a %s)"
                                % (graph.display_name(layer, index), graph.param_name(p),
                                   _describe(p)))
        if arr.dtype.kind not in "fiub":
            raise ImporterError("parameter %s has dtype %s" % (graph.param_name(p), arr.dtype))
        values[id(p)] = arr
    return values


# ---------------------------------------------------------------------------------------------
# Translation
# ---------------------------------------------------------------------------------------------
def translate(builder: ModelBuilder, output: Any, values: Dict[int, np.ndarray],
              input_shape: Optional[Sequence[int]]) -> Tuple[Any, ...]:
    """Writes the network into `builder`; returns the output shape (batch axis None)."""
    layers = graph.get_all_layers(output)
    specs = [translators.spec_for(layer, i) for i, layer in enumerate(layers)]
    t = translators.Translation(builder, values)
    names: Dict[int, str] = {}
    shapes: Dict[int, Tuple[Any, ...]] = {}
    graph_input: Optional[Tuple[Any, ...]] = None
    for i, (layer, spec) in enumerate(zip(layers, specs)):
        cls = graph.layer_class(layer).name
        key = "%02d_%s" % (i, graph.attr(layer, "name", None) or cls)
        if cls == "InputLayer" or all(x is None for x in graph.input_layers(layer)):
            shape = _input_shape(layer, i, input_shape)
            if graph_input is not None:
                raise ImporterError("%s: a second network input (the engine serves networks "
                                    "with one input)" % graph.display_name(layer, i))
            graph_input = shape
            builder.set_input([int(d) for d in shape[1:]])
            if cls == "InputLayer":
                names[id(layer)] = builder.input_name
                shapes[id(layer)] = shape
                builder.source_layers[key] = builder.input_name
                continue
            in_names, in_shapes = [builder.input_name], [shape]
        else:
            ins = graph.input_layers(layer)
            if any(x is None for x in ins):
                raise ImporterError("%s reads a shape tuple besides layers: a second network "
                                    "input" % graph.display_name(layer, i))
            in_names = [names[id(x)] for x in ins]
            in_shapes = [shapes[id(x)] for x in ins]
        try:
            out_shape = spec.shape(layer, in_shapes)
        except (ValueError, TypeError, IndexError, ZeroDivisionError, AttributeError,
                KeyError) as e:
            raise ImporterError("%s: input %s: %s" % (graph.display_name(layer, i),
                                                      ", ".join(graph.fmt_shape(s)
                                                                for s in in_shapes), e))
        if any(d is not None and d <= 0 for d in out_shape[1:]):
            raise ImporterError("%s: input %s gives the empty output %s"
                                % (graph.display_name(layer, i),
                                   graph.fmt_shape(in_shapes[0]), graph.fmt_shape(out_shape)))
        ctx = translators.LayerContext(t, layer, i, cls, in_names, in_shapes, out_shape)
        try:
            spec.translate(ctx)
        except translators.BatchAxisError as e:
            raise ImporterError("%s%s" % (e, _serve_before_hint(layer, shapes)))
        except ImporterError:
            raise
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as e:
            # a pickled layer lacking an attribute, or holding one of the wrong type
            raise ImporterError("%s: cannot be read (%s: %s)" % (graph.display_name(layer, i),
                                                                 type(e).__name__, e))
        names[id(layer)] = ctx.flush()
        shapes[id(layer)] = out_shape
        builder.source_layers[key] = names[id(layer)]
    if names[id(layers[-1])] == builder.input_name:
        raise ImporterError("the network computes nothing (its output is its input)")
    return shapes[id(layers[-1])]


def _serve_before_hint(layer: Any, shapes: Dict[int, Tuple[Any, ...]]) -> str:
    """For a layer that computes across the batch axis (e.g. a segmentation network's
    dimshuffle / reshape to (N * H * W, classes) before its softmax): how to serve the network
    up to the layer before it instead."""
    ins = [x for x in graph.input_layers(layer) if x is not None]
    if len(ins) != 1 or graph.layer_class(ins[0]).name == "InputLayer":
        return ""
    name = graph.layer_name(ins[0])
    if not name:
        return ""
    return ("; the network can be served up to the layer before it, whose output %s keeps "
            "one item per batch entry: --output-layer %s"
            % (graph.fmt_shape(shapes[id(ins[0])]), name))


def _input_shape(layer: Any, index: int, given: Optional[Sequence[int]]) -> Tuple[Any, ...]:
    shape = graph.attr(layer, "shape", None)
    if shape is None:
        shape = graph.attr(layer, "input_shape", None)
    if not isinstance(shape, (tuple, list)) or len(shape) < 2 or not all(
            d is None or isinstance(d, (int, np.integer)) for d in shape):
        raise ImporterError("%s reads no layer and has no input shape (%r): an incomplete or "
                            "damaged pickled layer" % (graph.display_name(layer, index), shape))
    shape = list(shape)
    if given is not None:
        if len(given) != len(shape) - 1:
            raise ImporterError("--input-shape %s has %d sizes, %s has shape %s"
                                % (",".join(map(str, given)), len(given),
                                   graph.display_name(layer, index), graph.fmt_shape(shape)))
        for k, g in enumerate(given):
            d = shape[k + 1]
            if d is not None and int(d) != int(g):
                raise ImporterError("--input-shape %s does not match %s of shape %s"
                                    % (",".join(map(str, given)),
                                       graph.display_name(layer, index), graph.fmt_shape(shape)))
            shape[k + 1] = int(g)
    if any(d is None for d in shape[1:]):
        raise ImporterError("%s has shape %s: give the input size with --input-shape %s"
                            % (graph.display_name(layer, index), graph.fmt_shape(shape),
                               ",".join("H" if d is None and k == 1 else
                                        "W" if d is None and k == 2 else
                                        "C" if d is None else str(d)
                                        for k, d in enumerate(shape[1:]))))
    return (None,) + tuple(int(d) for d in shape[1:])
