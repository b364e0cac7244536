"""Running the user's network code: Python 2 code, model-zoo recipes (dicts of layers, None input
sizes, GPU layer modules), nolearn NeuralNet definitions, build-function conventions, and errors
in the user's code reported at the user's line. The recipes are shortened copies of the
structure of Lasagne/Recipes' model-zoo files (VGG, GoogLeNet, ResNet-50)."""

import collections
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

import numpy as np

from theano_serving_import.lasagne import standins
from tests import test_lasagne_support as S


def zeros_like_params(shapes):
    return [np.full(s, 0.1, np.float32) for s in shapes]


class UserCodeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lasagne-code-")
        self.out = os.path.join(self.tmp, "out")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_net(self, code, arrays, *extra, name="net.py"):
        net = S.write(self.tmp, name, code)
        w = os.path.join(self.tmp, "w.npz")
        np.savez(w, *arrays)
        shutil.rmtree(self.out, ignore_errors=True)
        return S.run_import([net, "--weights", w, "--out", self.out, "--no-check"] + list(extra))

    def ok(self, code, arrays, *extra, name="net.py"):
        status, stdout, stderr = self.run_net(code, arrays, *extra, name=name)
        self.assertEqual(status, 0, stderr)
        model, params = S.load_model(self.out)
        return model, params, stdout

    def test_python2_code_is_translated(self):
        code = ("import cPickle as pickle\n"
                "from lasagne.layers import InputLayer, DenseLayer\n"
                "print 'building the network'\n"
                "def build_model():\n"
                "    try:\n"
                "        n = int('3')\n"
                "    except ValueError, e:\n"
                "        print >>sys.stderr, e\n"
                "    l = InputLayer((None, 4))\n"
                "    for i in xrange(1):\n"
                "        l = DenseLayer(l, n)\n"
                "    return l\n")
        model, _, stdout = self.ok(code, [np.ones((4, 3), np.float32), np.zeros(3, np.float32)])
        self.assertEqual(S.ops(model), ["dense", "relu"])
        self.assertIn("Python 2 code translated to Python 3 with lib2to3 (and run with Python 2's "
                      "integer division): net.py", stdout)
        self.assertIn("lib2to3", " ".join(model["source"]["notes"]))

    def test_python2_sibling_module_and_stubbed_plotting_imports(self):
        S.write(self.tmp, "mylayers.py",
                "from lasagne.layers import Conv2DLayer\n"
                "def conv(l, n):\n"
                "    print 'conv', n\n"
                "    return Conv2DLayer(l, n, 3, pad=1)\n")
        code = ("import matplotlib.pyplot as plt\n"
                "from lasagne.layers import InputLayer\n"
                "from mylayers import conv\n"
                "def build_model():\n"
                "    return conv(InputLayer((None, 1, 4, 4)), 2)\n")
        model, _, stdout = self.ok(code, [np.ones((2, 1, 3, 3), np.float32),
                                          np.zeros(2, np.float32)])
        self.assertEqual(S.ops(model), ["conv2d", "bias_add", "relu"])
        self.assertIn("mylayers.py", stdout)
        self.assertIn("matplotlib", stdout)
        self.assertFalse("mylayers" in sys.modules)
        self.assertFalse(any(n.split(".")[0] in ("lasagne", "theano") and
                             isinstance(m, standins._FakeModule) for n, m in sys.modules.items()))

    def test_model_zoo_vgg_style_dict_with_dnn_layers(self):
        code = """
from lasagne.layers import InputLayer, DenseLayer, NonlinearityLayer
from lasagne.layers.dnn import Conv2DDNNLayer as ConvLayer
from lasagne.layers import Pool2DLayer as PoolLayer
from lasagne.layers import DropoutLayer
from lasagne.nonlinearities import softmax

def build_model():
    net = {}
    net['input'] = InputLayer((None, 3, 8, 8))
    net['conv1_1'] = ConvLayer(net['input'], 4, 3, pad=1, flip_filters=False)
    net['pool1'] = PoolLayer(net['conv1_1'], 2)
    net['fc6'] = DenseLayer(net['pool1'], num_units=6)
    net['fc6_dropout'] = DropoutLayer(net['fc6'], p=0.5)
    net['fc8'] = DenseLayer(net['fc6_dropout'], num_units=3, nonlinearity=None)
    net['prob'] = NonlinearityLayer(net['fc8'], softmax)
    return net
"""
        shapes = [(4, 3, 3, 3), (4,), (64, 6), (6,), (6, 3), (3,)]
        with open(os.path.join(self.tmp, "vgg.pkl"), "wb") as f:
            pickle.dump({"param values": zeros_like_params(shapes),
                         "synset words": ["a", "b", "c"],
                         "mean value": np.array([103.939, 116.779, 123.68])}, f, protocol=2)
        net = S.write(self.tmp, "vgg.py", code)
        status, stdout, stderr = S.run_import([net, "--weights", os.path.join(self.tmp, "vgg.pkl"),
                                               "--out", self.out, "--no-check"])
        self.assertEqual(status, 0, stderr)
        model, _ = S.load_model(self.out)
        self.assertEqual(model["classes"], ["a", "b", "c"])
        self.assertEqual(model["input"]["mean"], [103.939, 116.779, 123.68])
        # The unnamed layers are called by their keys in the returned dict (model.json layer
        # and parameter names); source.layers keys stay Lasagne's (NN_ClassName, as
        # intermediates saved from Lasagne are keyed).
        self.assertEqual(model["layers"][-1], {"name": "prob", "op": "softmax"})
        self.assertEqual(model["source"]["layers"]["06_NonlinearityLayer"], "prob")
        self.assertEqual(model["source"]["layers"]["01_Conv2DDNNLayer"], "conv1_1")
        self.assertEqual(model["layers"][0]["params"], ["conv1_1.W"])

    def test_model_zoo_mean_image_is_subtracted_from_images(self):
        # A model-zoo dict with a 'mean image' of the input's shape (as Lasagne/Recipes'
        # vgg_cnn_s.pkl has): recorded as input.mean_image, applied to decoded images only.
        code = """
from lasagne.layers import InputLayer, FlattenLayer

def build_model():
    return FlattenLayer(InputLayer((None, 1, 2, 2)))
"""
        mean_image = np.array([[[10.0, 20.0], [30.0, 40.0]]], np.float32)
        with open(os.path.join(self.tmp, "zoo.pkl"), "wb") as f:
            pickle.dump({"param values": [], "mean image": mean_image}, f, protocol=2)
        net = S.write(self.tmp, "zoo.py", code)
        status, stdout, stderr = S.run_import([net, "--weights", os.path.join(self.tmp, "zoo.pkl"),
                                               "--out", self.out])
        self.assertEqual(status, 0, stderr)
        self.assertIn("'mean image' (1, 2, 2) is subtracted from image pixels", stdout)
        model, params = S.load_model(self.out)
        self.assertEqual(model["input"]["mean_image"], "input.mean_image")
        np.testing.assert_array_equal(params["input.mean_image"], mean_image)
        tool = S.model_tool()
        if tool is None:
            self.skipTest("theano-serving-model not built (THEANO_SERVING_BIN_DIR)")
        # A gray PNG of 100s (written by hand: zlib + crc32) minus the mean image, by hand.
        png = os.path.join(self.tmp, "gray.png")
        with open(png, "wb") as f:
            f.write(_gray_png(2, 2, 100))
        proc = subprocess.run([tool, "predict", "--json", self.out, png], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(json.loads(proc.stdout)[0]["output"], [90, 80, 70, 60])

    def test_googlenet_style_none_input_needs_input_shape(self):
        code = """
from lasagne.layers import InputLayer, ConcatLayer, GlobalPoolLayer, DenseLayer
from lasagne.layers import LocalResponseNormalization2DLayer as LRNLayer
from lasagne.layers.dnn import Conv2DDNNLayer as ConvLayer, MaxPool2DDNNLayer as PoolLayerDNN
from lasagne.layers import MaxPool2DLayer as PoolLayer
from lasagne.nonlinearities import softmax

def build_inception_module(name, input_layer, nfilters):
    net = {}
    net['pool'] = PoolLayerDNN(input_layer, pool_size=3, stride=1, pad=1)
    net['pool_proj'] = ConvLayer(net['pool'], nfilters[0], 1, flip_filters=False)
    net['1x1'] = ConvLayer(input_layer, nfilters[1], 1, flip_filters=False)
    net['output'] = ConcatLayer([net['1x1'], net['pool_proj']])
    return {'{}/{}'.format(name, k): v for k, v in net.items()}

def build_model():
    net = {}
    net['input'] = InputLayer((None, 3, None, None))
    net['conv1/7x7_s2'] = ConvLayer(net['input'], 4, 7, stride=2, pad=3, flip_filters=False)
    net['pool1/3x3_s2'] = PoolLayer(net['conv1/7x7_s2'], pool_size=3, stride=2,
                                    ignore_border=False)
    net['pool1/norm1'] = LRNLayer(net['pool1/3x3_s2'], alpha=0.00002, k=1)
    net.update(build_inception_module('inception_3a', net['pool1/norm1'], [2, 3]))
    net['pool5/7x7_s1'] = GlobalPoolLayer(net['inception_3a/output'])
    net['loss3/classifier'] = DenseLayer(net['pool5/7x7_s1'], num_units=5, nonlinearity=softmax)
    return net
"""
        shapes = [(4, 3, 7, 7), (4,), (3, 4, 1, 1), (3,), (2, 4, 1, 1), (2,), (5, 5), (5,)]
        status, _, stderr = self.run_net(code, zeros_like_params(shapes))
        self.assertEqual(status, 1)
        self.assertIn("has shape (None, 3, None, None): give the input size with "
                      "--input-shape 3,H,W", stderr)
        model, _, _ = self.ok(code, zeros_like_params(shapes), "--input-shape", "3,32,32")
        self.assertEqual(model["input"]["shape"], [3, 32, 32])
        self.assertEqual(S.ops(model)[-4:], ["flatten", "mean", "dense", "softmax"])

    def test_dict_return_with_output_layer_and_ambiguous_sinks(self):
        code = """
from lasagne.layers import InputLayer, DenseLayer
def build_model():
    net = {'input': InputLayer((None, 4))}
    net['a'] = DenseLayer(net['input'], 2)
    net['b'] = DenseLayer(net['input'], 3)
    return net
"""
        arrays = zeros_like_params([(4, 3), (3,)])
        model, _, _ = self.ok(code, arrays)  # the last entry, which nothing reads
        self.assertEqual(S.ops(model), ["dense", "relu"])
        model, _, _ = self.ok(code, zeros_like_params([(4, 2), (2,)]), "--output-layer", "a")
        status, _, err = self.run_net(code, arrays, "--output-layer", "c")
        self.assertIn("no layer 'c' (--output-layer); keys: input, a, b", err)

    def test_build_function_conventions(self):
        code = """
from lasagne.layers import InputLayer, DenseLayer
def build_cnn(input_var):
    return DenseLayer(InputLayer((None, 4), input_var=input_var), 2)
"""
        arrays = zeros_like_params([(4, 2), (2,)])
        model, _, stdout = self.ok(code, arrays)
        self.assertIn("build_cnn() was called with None for its argument(s) input_var", stdout)
        status, _, err = self.run_net(code, arrays, "--build", "make_it")
        self.assertIn("defines no make_it (--build); it defines: build_cnn()", err)
        code2 = code + "\nnetwork = build_cnn(None)\ndef build_other():\n    return network\n"
        self.ok(code2, arrays, "--build", "network")

    def test_nolearn_neural_net_definitions(self):
        legacy = """
from lasagne import layers
from lasagne.nonlinearities import softmax
from lasagne.updates import nesterov_momentum
from nolearn.lasagne import NeuralNet
net1 = NeuralNet(
    layers=[('input', layers.InputLayer), ('conv1', layers.Conv2DLayer),
            ('pool1', layers.MaxPool2DLayer), ('hidden', layers.DenseLayer),
            ('output', layers.DenseLayer)],
    input_shape=(None, 1, 6, 6), conv1_num_filters=2, conv1_filter_size=(3, 3),
    pool1_pool_size=(2, 2), hidden_num_units=4, output_num_units=3,
    output_nonlinearity=softmax, update=nesterov_momentum, update_learning_rate=0.01,
    max_epochs=10, verbose=1)
"""
        shapes = [(2, 1, 3, 3), (2,), (8, 4), (4,), (4, 3), (3,)]
        d = collections.OrderedDict([("input", []), ("conv1", zeros_like_params(shapes[:2])),
                                     ("pool1", []), ("hidden", zeros_like_params(shapes[2:4])),
                                     ("output", zeros_like_params(shapes[4:]))])
        w = os.path.join(self.tmp, "nolearn.pkl")
        with open(w, "wb") as f:
            pickle.dump(d, f, protocol=2)
        net = S.write(self.tmp, "nl.py", legacy)
        status, _, stderr = S.run_import([net, "--weights", w, "--out", self.out, "--no-check"])
        self.assertEqual(status, 0, stderr)
        model, _ = S.load_model(self.out)
        self.assertEqual(S.ops(model), ["conv2d", "bias_add", "relu", "pool_2d", "flatten",
                                        "dense", "relu", "dense", "softmax"])
        self.assertEqual(model["layers"][-1]["name"], "output")
        newer = """
from lasagne.layers import InputLayer, DenseLayer
from nolearn.lasagne import NeuralNet
net = NeuralNet(layers=[(InputLayer, {'shape': (None, 4)}), (DenseLayer, {'num_units': 3})],
                max_epochs=5)
"""
        d2 = collections.OrderedDict([("input0", []),
                                      ("dense1", zeros_like_params([(4, 3), (3,)]))])
        with open(w, "wb") as f:
            pickle.dump(d2, f, protocol=2)
        net = S.write(self.tmp, "nl2.py", newer)
        shutil.rmtree(self.out)
        status, _, stderr = S.run_import([net, "--weights", w, "--out", self.out, "--no-check"])
        self.assertEqual(status, 0, stderr)

    def test_code_that_loads_its_own_weights_at_import(self):
        code = """
import numpy as np
import lasagne
from lasagne.layers import InputLayer, DenseLayer
def build_model():
    l = DenseLayer(InputLayer((None, 2)), 2, W=np.eye(2, dtype='float32'))
    lasagne.layers.set_all_param_values(l, [np.eye(2, dtype='float32'),
                                            np.zeros(2, 'float32')])
    out = lasagne.layers.get_output(l, deterministic=True)
    return l
"""
        self.ok(code, zeros_like_params([(2, 2), (2,)]))

    def test_errors_in_the_users_code_name_file_and_line(self):
        code = ("from lasagne.layers import InputLayer, DenseLayer\n"
                "def helper(l):\n"
                "    return DenseLayer(l, num_units=0)\n"
                "def build_model():\n"
                "    return helper(InputLayer((None, 4)))\n")
        status, _, err = self.run_net(code, [])
        self.assertEqual(status, 1)
        self.assertIn("net.py line 3, in helper: return DenseLayer(l, num_units=0) while calling "
                      "build_model(): ValueError: Cannot create param with a non-positive shape",
                      err)
        status, _, err = self.run_net("import sklearn_not_a_module_anywhere\n", [])
        self.assertIn("net.py line 1, in <module>", err)
        self.assertIn("No module named 'sklearn_not_a_module_anywhere'", err)
        status, _, err = self.run_net("def build_model(:\n  pass\n", [])
        self.assertIn("net.py", err)
        self.assertEqual(status, 1)


def _gray_png(width, height, value):
    """A minimal 8-bit grayscale PNG, every pixel `value`."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\x00" + bytes([value]) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    unittest.main()
