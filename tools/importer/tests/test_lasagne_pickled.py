"""Whole pickled networks (`pickle.dump(net)`, no NET.py): read as inert records and translated
by the same translators. The pickles are made here with look-alike classes registered under
Lasagne's / Theano's / nolearn's module names (so pickle writes the same GLOBAL names real ones
would), with the attributes those versions stored: a Lasagne 0.1.dev Conv2DLayer (border_mode,
no pad / flip_filters / num_groups, the legacy conv2d that flips), a DenseLayer without
num_leading_axes, Theano shared variables holding their value in container.storage, and a
nolearn NeuralNet whose layers_ is nolearn's Layers (an OrderedDict subclass)."""

import collections
import contextlib
import os
import pickle
import shutil
import sys
import tempfile
import types
import unittest

import numpy as np

from tests import test_lasagne_support as S
from tests.test_lasagne_layers import corr2d, rand


@contextlib.contextmanager
def fake_modules(spec):
    """spec: {module name: {attribute: object}}; classes/functions get that __module__."""
    names = set(spec)
    for name in spec:  # the parent packages too (pickle imports the module to check it)
        parts = name.split(".")
        names.update(".".join(parts[:k]) for k in range(1, len(parts)))
    saved = {name: sys.modules.get(name) for name in names}
    try:
        for name in sorted(names - set(spec)):
            sys.modules[name] = types.ModuleType(name)
        for name, attrs in spec.items():
            m = types.ModuleType(name)
            for k, v in attrs.items():
                v.__module__ = name
                v.__qualname__ = k
                setattr(m, k, v)
            sys.modules[name] = m
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def _classes():
    def cls(name):
        return type(name, (object,), {})
    c = {n: cls(n) for n in ("InputLayer", "Conv2DLayer", "DenseLayer", "MaxPool2DLayer",
                             "TensorSharedVariable", "Container", "NeuralNet", "AdjustVariable")}

    class Layers(collections.OrderedDict):
        pass
    c["Layers"] = Layers

    def rectify(x):
        return x

    def softmax(x):
        return x

    def conv2d(*a, **k):
        return None
    return c, rectify, softmax, conv2d


def shared(c, value, name):
    container = c["Container"]()
    container.storage = [value]
    v = c["TensorSharedVariable"]()
    v.name = name
    v.container = container
    return v


class PickledNetworkTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lasagne-pickled-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def build(self, as_nolearn):
        c, rectify, softmax, conv2d = _classes()
        W, b = rand(2, 1, 4, 4), rand(2)
        W2, b2 = rand(72, 3, seed=1), rand(3, seed=1)
        inp = c["InputLayer"]()
        inp.__dict__.update(shape=(None, 1, 6, 6), input_shape=(None, 1, 6, 6), input_layer=None,
                            name="input", params=collections.OrderedDict(), input_var=None)
        conv = c["Conv2DLayer"]()
        Wv, bv = shared(c, W, "conv1.W"), shared(c, b, "conv1.b")
        conv.__dict__.update(input_layer=inp, input_shape=(None, 1, 6, 6), name="conv1",
                             num_filters=2, filter_size=(4, 4), stride=(1, 1),
                             border_mode="same", untie_biases=False, W=Wv, b=bv,
                             nonlinearity=rectify, convolution=conv2d,
                             params=collections.OrderedDict([(Wv, {"trainable"}),
                                                             (bv, {"trainable"})]))
        dense = c["DenseLayer"]()
        W2v, b2v = shared(c, W2, "out.W"), shared(c, b2, "out.b")
        dense.__dict__.update(input_layer=conv, input_shape=(None, 2, 6, 6), name="out",
                              num_units=3, W=W2v, b=b2v, nonlinearity=softmax,
                              params=collections.OrderedDict([(W2v, {"trainable"}),
                                                              (b2v, {"trainable"})]))
        mods = {"lasagne.layers.input": {"InputLayer": c["InputLayer"]},
                "lasagne.layers.conv": {"Conv2DLayer": c["Conv2DLayer"]},
                "lasagne.layers.dense": {"DenseLayer": c["DenseLayer"]},
                "lasagne.nonlinearities": {"rectify": rectify, "softmax": softmax},
                "theano.tensor.nnet": {"conv2d": conv2d},
                "theano.tensor.sharedvar": {"TensorSharedVariable": c["TensorSharedVariable"]},
                "theano.gof.link": {"Container": c["Container"]},
                "nolearn.lasagne.base": {"NeuralNet": c["NeuralNet"], "Layers": c["Layers"]},
                # a training-script callback, as nolearn pickles carry them (inert data here)
                "__main__": {"AdjustVariable": c["AdjustVariable"]}}
        obj = dense
        if as_nolearn:
            net = c["NeuralNet"]()
            layers_ = c["Layers"]()
            layers_["input"] = inp
            layers_["conv1"] = conv
            layers_["out"] = dense
            callback = c["AdjustVariable"]()
            callback.__dict__.update(name="update_learning_rate", start=0.03, stop=0.0001)
            net.__dict__.update(layers_=layers_, max_epochs=10, on_epoch_finished=[callback])
            obj = net
        path = os.path.join(self.tmp, "net.pkl")
        with fake_modules(mods):
            with open(path, "wb") as f:
                pickle.dump(obj, f, protocol=2)
        return path, (W, b, W2, b2)

    def check(self, path, values):
        out = os.path.join(self.tmp, "out")
        code, stdout, stderr = S.run_import(["--weights", path, "--out", out, "--no-check"])
        self.assertEqual(code, 0, stderr)
        model, params = S.load_model(out)
        # border_mode='same' with a 4x4 filter: a full convolution cropped at (4 - 1) // 2 = 1
        # -> padding (2, 1); the old Conv2DLayer convolved (flipped filters)
        self.assertEqual(model["layers"][0]["attrs"], {"border_mode": [[2, 1], [2, 1]],
                                                       "filter_flip": True})
        self.assertEqual(S.ops(model), ["conv2d", "bias_add", "relu", "flatten", "dense",
                                        "softmax"])
        W, b, W2, b2 = values
        np.testing.assert_array_equal(params["conv1.W"], W)
        if S.model_tool() is None:
            return
        x = rand(2, 1, 6, 6, seed=2)
        h = np.maximum(corr2d(x, W, pad=(3, 3), flip=True)[:, :, 1:7, 1:7]
                       + b[None, :, None, None], 0).reshape(2, -1)
        z = h @ W2 + b2
        want = np.exp(z - z.max(1, keepdims=True))
        want /= want.sum(1, keepdims=True)
        np.testing.assert_allclose(S.predict(out, x), want, atol=1e-5)

    def test_old_lasagne_network_pickle(self):
        self.check(*self.build(as_nolearn=False))

    def test_pickled_nolearn_neural_net(self):
        self.check(*self.build(as_nolearn=True))


if __name__ == "__main__":
    unittest.main()
