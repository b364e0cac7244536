"""A plain numpy (float64) interpreter of the model.json ops the Keras importer emits, written
from docs/THEANO_SEMANTICS.md and /work/contract.md, for the Keras tests only: it checks that
the importer's translation (kernel flips, 'same' crops, dimshuffles, flatten order, ...)
reproduces Keras-on-Theano's outputs (tests/import/keras*/outputs.npy, made with real Keras on
Theano 1.0.5) before and independently of the C++ engine. Not a second engine: no validation,
no numerics matching beyond float64 arithmetic.
"""

import json
import os
from typing import Dict

import numpy as np


def _conv2d(x, w, attrs):
    if attrs.get("filter_flip", True):
        w = w[:, :, ::-1, ::-1]
    sh, sw = attrs.get("subsample", [1, 1])
    dh, dw = attrs.get("filter_dilation", [1, 1])
    groups = attrs.get("num_groups", 1)
    o, cg, kh, kw = w.shape
    dkh, dkw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    bm = attrs.get("border_mode", "valid")
    if bm == "valid":
        pads = ((0, 0), (0, 0))
    elif bm == "half":
        pads = ((dkh // 2, dkh // 2), (dkw // 2, dkw // 2))
    elif bm == "full":
        pads = ((dkh - 1, dkh - 1), (dkw - 1, dkw - 1))
    else:
        pads = tuple(tuple(p) if isinstance(p, list) else (p, p) for p in bm)
    xp = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
    n, c, hp, wp = xp.shape
    oh, ow = (hp - dkh) // sh + 1, (wp - dkw) // sw + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = w[g * og:(g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                           j * dw:j * dw + sw * (ow - 1) + 1:sw]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, ws[:, :, i, j])
    return out


def _pool(x, attrs):
    assert attrs.get("ignore_border") is True
    kh, kw = attrs["ws"]
    sh, sw = attrs.get("stride") or attrs["ws"]
    ph, pw = attrs.get("pad", [0, 0])
    mode = attrs.get("mode", "max")
    n, c, h, w = x.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    out = np.zeros((n, c, oh, ow))
    for y in range(oh):
        for z in range(ow):
            r0, c0 = y * sh - ph, z * sw - pw
            r1, c1 = min(r0 + kh, h), min(c0 + kw, w)
            r0, c0 = max(r0, 0), max(c0, 0)
            win = x[:, :, r0:r1, c0:c1]
            if mode == "max":
                out[:, :, y, z] = win.max(axis=(2, 3))
            elif mode == "average_inc_pad":
                out[:, :, y, z] = win.sum(axis=(2, 3)) / (kh * kw)
            elif mode == "average_exc_pad":
                out[:, :, y, z] = win.sum(axis=(2, 3)) / ((r1 - r0) * (c1 - c0))
            else:
                raise NotImplementedError(mode)
    return out


def _operands(layer, ins, params):
    spec = (layer.get("attrs") or {}).get("operands")
    if spec is None:
        return list(ins) + list(params)
    out = []
    for s in spec:
        if isinstance(s, str) and s.startswith("input:"):
            out.append(ins[int(s[6:])])
        elif isinstance(s, str) and s.startswith("param:"):
            out.append(params[int(s[6:])])
        else:
            out.append(float(s))
    return out


def _fold(fn, values):
    acc = values[0]
    for v in values[1:]:
        acc = fn(acc, v)
    return acc


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def run_model(model_dir: str, x: np.ndarray) -> np.ndarray:
    with open(os.path.join(model_dir, "model.json")) as f:
        model = json.load(f)
    with np.load(os.path.join(model_dir, "params.npz")) as npz:
        P = {k: npz[k].astype(np.float64) for k in npz.files}
    values: Dict[str, np.ndarray] = {model["input"].get("name", "input"): x.astype(np.float64)}
    prev = model["input"].get("name", "input")
    for layer in model["layers"]:
        op = layer["op"]
        a = layer.get("attrs") or {}
        ins = [values[i] for i in layer.get("inputs", [prev])]
        ps = [P[p] for p in layer.get("params", [])]
        v = ins[0]
        if op == "conv2d":
            y = _conv2d(v, ps[0], a)
        elif op == "pool_2d":
            y = _pool(v, a)
        elif op == "bias_add":
            axis = a.get("axis", 1) % v.ndim
            shape = [1] * v.ndim
            shape[axis] = -1
            y = v + ps[0].reshape(shape)
        elif op == "relu":
            y = np.where(v > 0, v, a.get("alpha", 0.0) * v)
        elif op == "elu":
            y = _elu(v, a.get("alpha", 1.0))
        elif op == "selu":
            y = 1.0507009873554804934193349852946 * _elu(v, 1.6732632423543772848170429916717)
        elif op == "tanh":
            y = np.tanh(v)
        elif op == "sigmoid":
            y = 1 / (1 + np.exp(-v))
        elif op == "hard_sigmoid":
            y = np.clip(v * 0.2 + 0.5, 0, 1)
        elif op == "softplus":
            y = np.log1p(np.exp(v))
        elif op == "softsign":
            y = v / (1 + np.abs(v))
        elif op == "abs":
            y = np.abs(v)
        elif op == "softmax":
            e = np.exp(v - v.max(axis=1, keepdims=True))
            y = e / e.sum(axis=1, keepdims=True)
        elif op == "batch_normalization_test":
            gamma, beta, mean, var = ps
            y = (v - mean) * (gamma / np.sqrt(var + a.get("epsilon", 1e-4))) + beta
        elif op == "dense":
            y = v @ ps[0] + (ps[1] if len(ps) > 1 else 0)
        elif op == "flatten":
            nd = a.get("ndim", 1)
            y = v.reshape(v.shape[:nd - 1] + (-1,))
        elif op == "reshape":
            shape = [v.shape[s[0]] if isinstance(s, list) else s for s in a["shape"]]
            y = v.reshape(shape)
        elif op == "dimshuffle":
            y = np.transpose(v, a["pattern"])
        elif op == "pad":
            width = [[0, 0]] * (v.ndim - len(a["width"])) + a["width"]
            y = np.pad(v, width, constant_values=a.get("value", 0))
        elif op == "subtensor":
            axis = a["axis"] % v.ndim
            idx = [slice(None)] * v.ndim
            if "index" in a:
                idx[axis] = a["index"]
            else:
                idx[axis] = slice(a.get("start"), a.get("stop"), a.get("step"))
            y = v[tuple(idx)]
        elif op in ("add", "sub", "mul", "true_div", "maximum", "minimum"):
            fn = {"add": np.add, "sub": np.subtract, "mul": np.multiply,
                  "true_div": np.true_divide, "maximum": np.maximum,
                  "minimum": np.minimum}[op]
            y = _fold(fn, _operands(layer, ins, ps))
        elif op == "concatenate":
            y = np.concatenate(ins, axis=a.get("axis", 1))
        elif op in ("mean", "max", "sum", "min"):
            axis = a["axis"]
            axis = tuple(axis) if isinstance(axis, list) else axis
            y = getattr(np, {"mean": "mean", "max": "max", "sum": "sum", "min": "min"}[op])(
                v, axis=axis, keepdims=a.get("keepdims", False))
        else:
            raise NotImplementedError(op)
        values[layer["name"]] = y
        prev = layer["name"]
    return values[prev]
