"""The deeplearning.net Theano tutorials (DeepLearningTutorials code/logistic_sgd.py, mlp.py,
convolutional_mlp.py, dA.py) as users pickled them: their graphs are built here as inert records
the way Theano 1.0.5 builds them (op classes and props from theano/tensor/basic.py, elemwise.py,
nnet/abstract_conv.py, nnet/conv.py, signal/pool.py, signal/downsample.py (0.7), nnet/nnet.py,
nnet/sigm.py), with the tutorials' own structure: `T.dot(input, self.W) + self.b`,
`T.nnet.softmax`, `y_pred = T.argmax(p_y_given_x, axis=1)`, `x.reshape((batch_size, 1, 28, 28))`
with the Python int batch_size = 500, `layer1.output.flatten(2)`,
`T.tanh(pooled_out + self.b.dimshuffle('x', 0, 'x', 'x'))`, and the tutorials' classes
(LogisticRegression, HiddenLayer, LeNetConvPoolLayer) holding `input`, `output`, `p_y_given_x`,
`y_pred` and `params`.

Expected numbers come from numpy implementations of the tutorials' formulas (Theano's conv2d is a
true convolution; pool_2d(ignore_border=True) keeps whole windows); the served model is run by
the engine when THEANO_SERVING_BIN_DIR is set (ctest sets it), else those checks are skipped.
"""

import contextlib
import io
import os
import pickle
import sys
import tempfile
import types
import unittest

import numpy as np

from theano_serving_import import cli
from theano_serving_import import theano_import as ti
from theano_serving_import.errors import ImporterError
from theano_serving_import.safe_pickle import Record
from tests import test_lasagne_support as S
from tests.test_theano_import import apply, const, rec, shared, ttype, var

RNG = np.random.RandomState(1234)


# -- Theano 1.0.5 graph construction, as records ------------------------------------------------

def ndim_of(v):
    return len(v.state["type"].state["broadcastable"])


def sop(cls, name, module="theano.scalar.basic"):
    return rec(module, cls, name=name)


def elemwise(scalar, ins, ndim, dtype="float32"):
    op = rec("theano.tensor.elemwise", "Elemwise", scalar_op=scalar, inplace_pattern={},
             name=None)
    return apply(op, ins, ndim, dtype)


def dimshuffle(x, order, bcast):
    op = rec("theano.tensor.elemwise", "DimShuffle", new_order=tuple(order),
             input_broadcastable=tuple(bcast), inplace=False)
    return apply(op, [x], len(order))


def lift(c, ndim):
    """Elemwise.make_node: a lower-rank operand gets 'x' axes in front (DimShuffle)."""
    n = ndim_of(c)
    if n == ndim:
        return c
    return dimshuffle(c, ("x",) * (ndim - n) + tuple(range(n)),
                      c.state["type"].state["broadcastable"])


def binop(cls, name, a, b):
    n = max(ndim_of(a), ndim_of(b))
    return elemwise(sop(cls, name), [lift(a, n), lift(b, n)], n)


def add(a, b):
    return binop("Add", "add", a, b)


def true_div(a, b):
    return binop("TrueDiv", "true_div", a, b)


def unary(cls, name, x, module="theano.scalar.basic"):
    return elemwise(sop(cls, name, module), [x], ndim_of(x))


def tanh(x):
    return unary("Tanh", "tanh", x)


def sigmoid(x):   # T.nnet.sigmoid
    return unary("ScalarSigmoid", "scalar_sigmoid", x, "theano.tensor.nnet.sigm")


def exp(x):
    return unary("Exp", "exp", x)


def neg(x):
    return unary("Neg", "neg", x)


def pyint(v):
    """A Python int in an expression: as_tensor_variable gives an int8 TensorConstant."""
    return const(np.int8(v))


def dot(x, w):
    return apply(rec("theano.tensor.basic", "Dot"), [x, w], 2)


def softmax(x):
    return apply(rec("theano.tensor.nnet.nnet", "Softmax"), [x], 2)


def argmax1(x):
    mx, am = apply(rec("theano.tensor.basic", "MaxAndArgmax", axis=(1,)), [x], ndim=1, n_out=2)
    am.state["type"] = ttype(1, "int64")
    return am


def scalar_const(v):
    t = rec("theano.scalar.basic", "Scalar", dtype="int64")
    return rec("theano.scalar.basic", "ScalarConstant", type=t, data=np.int64(v), owner=None)


def flatten2(x):
    """tensor.basic.flatten(x, 2) of Theano 1.0.5: x.reshape(tuple(x.shape[:1]) + (-1,))."""
    t = rec("theano.scalar.basic", "Scalar", dtype="int64")
    s = apply(rec("theano.compile.ops", "Shape"), [x], ndim=1, dtype="int64")
    s1 = apply(rec("theano.tensor.subtensor", "Subtensor", idx_list=(slice(None, t, None),)),
               [s, scalar_const(1)], ndim=1, dtype="int64")
    s0 = apply(rec("theano.tensor.subtensor", "Subtensor", idx_list=(t,)),
               [s1, scalar_const(0)], ndim=0, dtype="int64")
    mv = apply(rec("theano.tensor.opt", "MakeVector", dtype="int64"),
               [s0, const(np.int64(-1))], ndim=1, dtype="int64")
    return apply(rec("theano.tensor.basic", "Reshape", ndim=2), [x, mv], ndim=2)


def reshape_const(x, shape):
    """x.reshape((batch_size, 1, 28, 28)) with Python ints: an int64 TensorConstant shape."""
    return apply(rec("theano.tensor.basic", "Reshape", ndim=len(shape)),
                 [x, const(np.array(shape, np.int64))], ndim=len(shape))


def conv2d(x, w, imshp, kshp):
    """theano.tensor.nnet.conv2d(input, filters, filter_shape, input_shape) (Theano 0.9+)."""
    op = rec("theano.tensor.nnet.abstract_conv", "AbstractConv2d", convdim=2,
             border_mode="valid", subsample=(1, 1), filter_flip=True, imshp=imshp, kshp=kshp,
             filter_dilation=(1, 1), num_groups=1, unshared=False)
    return apply(op, [x, w], 4)


def conv_op(x, w, imshp, kshp):
    """Theano 0.7's nnet.conv.conv2d(input, filters, filter_shape, image_shape): ConvOp,
    built for a batch of imshp[0] (bsize)."""
    op = rec("theano.tensor.nnet.conv", "ConvOp", imshp=tuple(imshp[1:]), kshp=tuple(kshp[2:]),
             nkern=kshp[0], bsize=imshp[0], dx=1, dy=1, out_mode="valid",
             imshp_logical=tuple(imshp[1:]), kshp_logical=tuple(kshp[2:]))
    return apply(op, [x, w], 4)


def pool_2d(x, ws):
    """signal.pool.pool_2d(input, ws, ignore_border=True): Pool(x, ws, stride=ws, pad=(0, 0))."""
    op = rec("theano.tensor.signal.pool", "Pool", ignore_border=True, mode="max", ndim=2)
    return apply(op, [x, const(np.array(ws, np.int64)), const(np.array(ws, np.int64)),
                      const(np.array([0, 0], np.int64))], 4)


def max_pool_2d_07(x, ds):
    """Theano 0.7's signal.downsample.max_pool_2d(input, ds, ignore_border=True)."""
    op = rec("theano.tensor.signal.downsample", "DownsampleFactorMax", ds=tuple(ds),
             ignore_border=True, st=tuple(ds), padding=(0, 0), mode="max")
    return apply(op, [x], 4)


def obj(module, cls, **state):
    r = Record(module, cls)
    r.state = dict(state)
    return r


def param(name, *shape):
    return shared(name, RNG.uniform(-0.3, 0.3, shape))


def logistic_regression(inp, n_in, n_out):
    w, b = param("W", n_in, n_out), param("b", n_out)
    p = softmax(add(dot(inp, w), b))
    return obj("logistic_sgd", "LogisticRegression", W=w, b=b, p_y_given_x=p,
               y_pred=argmax1(p), params=[w, b], input=inp)


def hidden_layer(inp, n_in, n_out, activation=tanh):
    w, b = param("W", n_in, n_out), param("b", n_out)
    lin = add(dot(inp, w), b)
    return obj("mlp", "HiddenLayer", input=inp, W=w, b=b,
               output=lin if activation is None else activation(lin), params=[w, b])


def lenet_layer(inp, filter_shape, image_shape, old=False):
    w, b = param("W", *filter_shape), param("b", filter_shape[0])
    conv_out = (conv_op if old else conv2d)(inp, w, image_shape, filter_shape)
    pooled = max_pool_2d_07(conv_out, (2, 2)) if old else pool_2d(conv_out, (2, 2))
    out = tanh(add(pooled, dimshuffle(b, ("x", 0, "x", "x"), (False,))))
    return obj("convolutional_mlp", "LeNetConvPoolLayer", input=inp, W=w, b=b, output=out,
               params=[w, b])


def lenet(batch_size=500, old=False):
    """convolutional_mlp.evaluate_lenet5 (nkerns=[20, 50]) on x = T.matrix('x')."""
    x = var("x", 2)
    layer0_input = reshape_const(x, (batch_size, 1, 28, 28))
    layer0 = lenet_layer(layer0_input, (20, 1, 5, 5), (batch_size, 1, 28, 28), old)
    layer1 = lenet_layer(layer0.output, (50, 20, 5, 5), (batch_size, 20, 12, 12), old)
    layer2 = hidden_layer(flatten2(layer1.output), 50 * 4 * 4, 500)
    layer3 = logistic_regression(layer2.output, 500, 10)
    return x, [layer0, layer1, layer2, layer3]


def function(inp, out):
    """pickle.dump(theano.function([inp], out)): _constructor_Function(FunctionMaker, ...)."""
    i = rec("theano.compile.io", "In", variable=inp, implicit=False, shared=False, name=None)
    o = rec("theano.compile.io", "SymbolicOutput", variable=out, borrow=False)
    maker = rec("theano.compile.function_module", "FunctionMaker", inputs=[i], outputs=[o],
                fgraph=None)
    return Record("theano.compile.function_module", "_constructor_Function",
                  (maker, [], [], True))


def build(pickled, shape, choice=None):
    var_, inp, label, source, notes = ti.graph_from_object(pickled, "model.pkl", choice)
    return ti.build_from_graph(var_, inp, shape, label=label, source=source, notes=notes)


# -- numpy versions of the tutorials' formulas ------------------------------------------------

def value(shared_var):
    return shared_var.container.storage[0].astype(np.float64)


def conv_valid(x, w):
    """Theano's conv2d (filter_flip=True), 'valid': a true convolution."""
    w = w[:, :, ::-1, ::-1]
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    out = np.zeros((n, o, h - kh + 1, wd - kw + 1))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nchw,oc->nohw", x[:, :, i:i + h - kh + 1, j:j + wd - kw + 1],
                             w[:, :, i, j])
    return out


def max_pool2(x):
    n, c, h, w = x.shape
    return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def lenet_reference(layers, x):
    a = x.reshape(-1, 1, 28, 28)
    for layer in layers[:2]:
        a = np.tanh(max_pool2(conv_valid(a, value(layer.W))) +
                    value(layer.b).reshape(1, -1, 1, 1))
    a = np.tanh(a.reshape(len(x), -1) @ value(layers[2].W) + value(layers[2].b))
    return np_softmax(a @ value(layers[3].W) + value(layers[3].b))


def engine_output(builder, x):
    if S.model_tool() is None:
        raise unittest.SkipTest("no theano-serving-model (THEANO_SERVING_BIN_DIR)")
    with tempfile.TemporaryDirectory() as d:
        builder.write(d)
        return S.predict(d, x)


class TheanoTutorialTest(unittest.TestCase):
    def test_logistic_regression_object_as_the_tutorial_pickles_it(self):
        # logistic_sgd.py: pickle.dump(classifier, f); predict() compiles
        # theano.function([classifier.input], classifier.y_pred).
        x = var("x", 2)
        classifier = logistic_regression(x, 784, 10)
        b = build(classifier, [784])
        self.assertEqual(S.ops(b.to_json()), ["dense", "softmax"])
        notes = "\n".join(b.notes)
        self.assertIn("served: LogisticRegression.y_pred (the others, "
                      "LogisticRegression.p_y_given_x, are computed on the way to it", notes)
        self.assertIn("argmax(scores, axis=1)", notes)
        self.assertEqual(sorted(b.params), ["W", "b"])
        # --output picks another: the scores themselves, by attribute name
        b = build(classifier, [784], "p_y_given_x")
        self.assertEqual(S.ops(b.to_json()), ["dense", "softmax"])
        xs = RNG.uniform(0, 1, (3, 784)).astype(np.float32)
        want = np_softmax(xs @ value(classifier.W) + value(classifier.b))
        np.testing.assert_allclose(engine_output(b, xs), want, atol=1e-6, rtol=1e-5)

    def test_lenet_with_a_fixed_batch_size_reshape(self):
        # layer0_input = x.reshape((batch_size, 1, 28, 28)), batch_size = 500: the compiled
        # function only takes batches of 500; each item is reshaped the same way, so the model
        # serves any batch size.
        x, layers = lenet()
        b = build(function(x, layers[3].y_pred), [784])
        self.assertEqual(S.ops(b.to_json()),
                         ["reshape", "conv2d", "pool_2d", "bias_add", "tanh", "conv2d",
                          "pool_2d", "bias_add", "tanh", "flatten", "dense", "tanh", "dense",
                          "softmax"])
        self.assertEqual(b.layers[0]["attrs"], {"shape": [[0], 1, 28, 28]})
        self.assertIn("Apply node 0 of 25 (Reshape) reshapes to the constant shape "
                      "(500, 1, 28, 28): the graph was built for batches of exactly 500",
                      "\n".join(b.notes))
        xs = RNG.uniform(0, 1, (3, 784)).astype(np.float32)
        np.testing.assert_allclose(engine_output(b, xs), lenet_reference(layers, xs.astype(
            np.float64)), atol=1e-6, rtol=1e-5)

    def test_lenet_as_a_list_of_layer_objects(self):
        # pickle.dump([layer0, layer1, layer2, layer3], f): the output is layer3.y_pred, which
        # every other output feeds.
        x, layers = lenet()
        b = build(layers, [784])
        self.assertEqual(len(b.layers), 14)
        self.assertIn("served: [3].y_pred", "\n".join(b.notes))
        b = build(layers, [784], "2.output")
        self.assertEqual(S.ops(b.to_json())[-3:], ["flatten", "dense", "tanh"])

    def test_theano_07_lenet(self):
        # The tutorial as of Theano 0.7: nnet.conv.conv2d (ConvOp) and
        # downsample.max_pool_2d (DownsampleFactorMax).
        x, layers = lenet(old=True)
        b = build(function(x, layers[3].p_y_given_x), [784])
        ops = S.ops(b.to_json())
        self.assertEqual(ops[:3], ["reshape", "conv2d_legacy", "pool_2d"])
        self.assertEqual(b.layers[2]["attrs"], {"ws": [2, 2], "stride": [2, 2], "pad": [0, 0],
                                                "ignore_border": True, "mode": "max"})
        xs = RNG.uniform(0, 1, (2, 784)).astype(np.float32)
        np.testing.assert_allclose(engine_output(b, xs), lenet_reference(layers, xs.astype(
            np.float64)), atol=1e-6, rtol=1e-5)

    def test_a_reshape_that_is_not_a_batch_axis_stays_refused(self):
        x = var("x", 2)
        out = tanh(reshape_const(x, (500, 2, 28, 28)))
        with self.assertRaisesRegex(ImporterError, r"reshapes to \(500, 2, 28, 28\), which does "
                                                   r"not keep the batch axis first"):
            build(function(x, out), [784])

    def test_sigmoid_written_as_its_formula_is_theanos_sigmoid(self):
        # `1 / (1 + T.exp(-z))`: Theano's FAST_RUN turns it into ScalarSigmoid (with its
        # clamps), so that is what the function computed.
        x = var("x", 2)
        h = hidden_layer(x, 6, 5, activation=lambda z: true_div(
            pyint(1), add(pyint(1), exp(neg(z)))))
        b = build(function(x, h.output), [6])
        self.assertEqual(S.ops(b.to_json()), ["dense", "sigmoid"])
        # 1 / (1 + exp(z)) = sigmoid(-z)
        h = hidden_layer(x, 6, 5, activation=lambda z: true_div(pyint(1), add(pyint(1),
                                                                                exp(z))))
        self.assertEqual(S.ops(build(function(x, h.output), [6]).to_json()),
                         ["dense", "neg", "sigmoid"])
        # 2 / (1 + exp(-z)) is not a sigmoid: computed as written
        h = hidden_layer(x, 6, 5, activation=lambda z: true_div(pyint(2), add(pyint(1),
                                                                                exp(neg(z)))))
        self.assertEqual(S.ops(build(function(x, h.output), [6]).to_json()),
                         ["dense", "neg", "exp", "add", "true_div"])
        xs = RNG.uniform(-20, 20, (4, 6)).astype(np.float32)
        h = hidden_layer(x, 6, 5, activation=sigmoid)
        want = 1 / (1 + np.exp(-(xs @ value(h.W) + value(h.b))))
        np.testing.assert_allclose(engine_output(build(function(x, h.output), [6]), xs), want,
                                   atol=1e-6, rtol=1e-5)

    def test_denoising_autoencoder_with_tied_weights(self):
        # dA.py: y = sigmoid(dot(x, W) + b); z = sigmoid(dot(y, W_prime) + b_prime) with
        # W_prime = W.T (a DimShuffle{1,0} of the shared W, folded at import time).
        x = var("x", 2)
        w, bh, bv = param("W", 12, 5), param("b", 5), param("b_prime", 12)
        w_t = dimshuffle(w, (1, 0), (False, False))
        y = sigmoid(add(dot(x, w), bh))
        z = sigmoid(add(dot(y, w_t), bv))
        da = obj("dA", "dA", W=w, b=bh, W_prime=w_t, b_prime=bv, x=x, params=[w, bh, bv])
        da.state["reconstruction"] = z
        b = build(da, [12])
        self.assertEqual(S.ops(b.to_json()), ["dense", "sigmoid", "dense", "sigmoid"])
        np.testing.assert_array_equal(b.params["W_2"], value(w).T.astype(np.float32))
        xs = RNG.uniform(0, 1, (2, 12)).astype(np.float32)
        hid = 1 / (1 + np.exp(-(xs @ value(w) + value(bh))))
        want = 1 / (1 + np.exp(-(hid @ value(w).T + value(bv))))
        np.testing.assert_allclose(engine_output(b, xs), want, atol=1e-6, rtol=1e-5)

    def test_parameters_only_say_the_graph_is_missing(self):
        # cPickle.dump([layer.params for layer in layers], f): values, no graph
        x, layers = lenet()
        with self.assertRaisesRegex(ImporterError, r"model\.pkl: the pickled list holds 8 shared "
                                                   r"variables \(parameter values\) but no "
                                                   r"computed Theano variable"):
            build([layer.params for layer in layers], [784])

    def test_two_unrelated_outputs_still_need_output(self):
        x = var("x", 2)
        a, c = logistic_regression(x, 4, 3), logistic_regression(x, 4, 2)
        with self.assertRaisesRegex(ImporterError, r"has 4 outputs: \[0\]\.p_y_given_x; "
                                                   r"\[0\]\.y_pred; \[1\]\.p_y_given_x; "
                                                   r"\[1\]\.y_pred; choose one with --output"):
            build([a, c], [4])

    def test_pickled_optimized_function_graph(self):
        # pickle.dump(f.maker.fgraph): CorrMM on the pre-flipped filters, a fused
        # Composite{scalar_sigmoid(i0 + i1)}, Dot22 and SoftmaxWithBias.
        x = var("x", 4)
        w = param("W", 3, 1, 3, 3)
        bc = param("bc", 3)
        flip_idx = (slice(None), slice(None), slice(None, None, -1), slice(None, None, -1))
        wf = apply(rec("theano.tensor.subtensor", "Subtensor", idx_list=flip_idx), [w], 4)
        conv = apply(rec("theano.tensor.nnet.corr", "CorrMM", border_mode="valid",
                         subsample=(1, 1), filter_dilation=(1, 1), num_groups=1,
                         unshared=False), [x, wf], 4)
        i0, i1 = (rec("theano.scalar.basic", "ScalarVariable", owner=None, name=n,
                      type=rec("theano.scalar.basic", "Scalar", dtype="float32"))
                  for n in ("i0", "i1"))
        inner_add = rec("theano.gof.graph", "Apply", op=sop("Add", "add"), inputs=[i0, i1])
        s = rec("theano.scalar.basic", "ScalarVariable", owner=inner_add, name=None,
                type=rec("theano.scalar.basic", "Scalar", dtype="float32"))
        inner_add.state["outputs"] = [s]
        inner_sig = rec("theano.gof.graph", "Apply",
                        op=sop("ScalarSigmoid", "scalar_sigmoid", "theano.tensor.nnet.sigm"),
                        inputs=[s])
        o = rec("theano.scalar.basic", "ScalarVariable", owner=inner_sig, name=None,
                type=rec("theano.scalar.basic", "Scalar", dtype="float32"))
        inner_sig.state["outputs"] = [o]
        comp = rec("theano.scalar.basic", "Composite", inputs=[i0, i1], outputs=[o],
                   name="Composite{scalar_sigmoid((i0 + i1))}")
        h = elemwise(comp, [conv, dimshuffle(bc, ("x", 0, "x", "x"), (False,))], 4)
        flat = apply(rec("theano.tensor.basic", "Reshape", ndim=2),
                     [h, const(np.array([-1, 3 * 4 * 4], np.int64))], ndim=2)
        wd, bd = param("Wd", 48, 5), param("bd", 5)
        d = apply(rec("theano.tensor.blas", "Dot22"), [flat, wd], 2)
        p = apply(rec("theano.tensor.nnet.nnet", "SoftmaxWithBias"), [d, bd], 2)
        fg = obj("theano.gof.fg", "FunctionGraph", inputs=[x, w, bc, wd, bd], outputs=[p])
        b = build(fg, [1, 6, 6])
        self.assertEqual(S.ops(b.to_json()), ["conv2d", "bias_add", "sigmoid", "flatten",
                                              "dense", "softmax"])
        self.assertIs(b.layers[0]["attrs"]["filter_flip"], False)
        xs = RNG.uniform(0, 1, (2, 1, 6, 6)).astype(np.float32)
        hid = 1 / (1 + np.exp(-(conv_valid(xs.astype(np.float64), value(w)) +
                                value(bc).reshape(1, -1, 1, 1))))
        want = np_softmax(hid.reshape(2, -1) @ value(wd) + value(bd))
        np.testing.assert_allclose(engine_output(b, xs), want, atol=1e-6, rtol=1e-5)


# -- a real pickle file of a tutorial object ---------------------------------------------------

class _FakeModules:
    """Classes named like Theano's and the tutorial's, in modules put in sys.modules while
    a pickle of them is written (Theano is not installed; the importer never imports them)."""

    def __init__(self):
        self.modules = {}
        self.classes = {}

    def cls(self, module, name):
        key = (module, name)
        if key not in self.classes:
            parts = module.split(".")
            for k in range(1, len(parts) + 1):
                m = ".".join(parts[:k])
                if m not in self.modules:
                    self.modules[m] = types.ModuleType(m)
            c = type(name, (), {"__module__": module})
            c.__qualname__ = name
            setattr(self.modules[module], name, c)
            self.classes[key] = c
        return self.classes[key]

    def real(self, value, memo):
        """A Record graph as instances of the fake classes (identity kept)."""
        if id(value) in memo:
            return memo[id(value)]
        if isinstance(value, Record):
            inst = object.__new__(self.cls(value.module, value.name))
            memo[id(value)] = inst
            inst.__dict__.update({k: self.real(v, memo) for k, v in value.state.items()})
            return inst
        if isinstance(value, list):
            out = []
            memo[id(value)] = out
            out.extend(self.real(v, memo) for v in value)
            return out
        if isinstance(value, tuple):
            return tuple(self.real(v, memo) for v in value)
        if isinstance(value, dict):
            return {k: self.real(v, memo) for k, v in value.items()}
        return value

    def __enter__(self):
        self.saved = {m: sys.modules.get(m) for m in self.modules}
        sys.modules.update(self.modules)
        return self

    def __exit__(self, *exc):
        for m, old in self.saved.items():
            if old is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = old


class TutorialPickleFileTest(unittest.TestCase):
    def test_best_model_pkl_of_logistic_sgd(self):
        # The file logistic_sgd.py writes (pickle.dump(classifier, f)), at protocol 0 (Python
        # 2's default, with copy_reg._reconstructor) and 2; imported with the command.
        x = var("x", 2)
        x.state["name"] = "x"
        classifier = logistic_regression(x, 784, 10)
        fake = _FakeModules()
        real = fake.real(classifier, {})
        with tempfile.TemporaryDirectory() as d:
            for protocol in (0, 2):
                path = os.path.join(d, "best_model_%d.pkl" % protocol)
                with fake:
                    with open(path, "wb") as f:
                        pickle.dump(real, f, protocol=protocol)
                self.assertNotIn("theano", sys.modules)
                out = os.path.join(d, "out%d" % protocol)
                stdout = io.StringIO()
                with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stdout):
                    rc = cli.main(["theano", path, "--input-shape", "784", "--out", out,
                                   "--no-check"])
                self.assertEqual(rc, 0, stdout.getvalue())
                self.assertIn("served: LogisticRegression.y_pred", stdout.getvalue())
                model, params = S.load_model(out)
                self.assertEqual(S.ops(model), ["dense", "softmax"])
                np.testing.assert_array_equal(params["W"], value(classifier.W).astype(np.float32))


if __name__ == "__main__":
    unittest.main()
