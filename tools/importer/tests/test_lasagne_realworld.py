"""Network code as it is found in the wild, written here as small equivalents of real files
(not copies): the nolearn facial-keypoints tutorial (dnouri/kfkd-tutorial kfkd.py, December
2014: cuda_convnet layers, `pool1_ds=(2, 2)`, `class FlipBatchIterator(BatchIterator)`,
`import cPickle`), Lasagne's 2015 examples/mnist.py (`build_model(input_dim, output_dim,
batch_size=600)`), Python 2 papers code that relies on integer `/` (Lasagne/Recipes
papers/preactivation_and_wide_resnet/models.py: `bottleneck_filters = out_num_filters / 4`),
code written before Lasagne's pools defaulted to ignore_border=True (August 2015, Lasagne PR
#374), model-zoo dicts of unnamed layers, and the segmentation tail of Lasagne/Recipes'
modelzoo/Unet.py (dimshuffle/reshape to (N * H * W, classes) before the softmax).

Expected values are worked out here from Lasagne's and Theano's rules (cited per test).
"""

import os
import pickle
import shutil
import tempfile
import unittest

import numpy as np

from tests import test_lasagne_support as S


def w(*shape):
    return np.full(shape, 0.1, np.float32)


class RealWorldLasagneCodeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lasagne-realworld-")
        self.out = os.path.join(self.tmp, "out")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_net(self, code, arrays, *extra):
        net = S.write(self.tmp, "net.py", code)
        wpath = os.path.join(self.tmp, "w.npz")
        np.savez(wpath, *arrays)
        shutil.rmtree(self.out, ignore_errors=True)
        return S.run_import([net, "--weights", wpath, "--out", self.out, "--no-check"] +
                            list(extra))

    def ok(self, code, arrays, *extra):
        status, stdout, stderr = self.run_net(code, arrays, *extra)
        self.assertEqual(status, 0, stderr)
        model, params = S.load_model(self.out)
        return model, params, stdout

    def refused(self, code, arrays, *extra):
        status, stdout, stderr = self.run_net(code, arrays, *extra)
        self.assertEqual(status, 1, stdout)
        return stderr

    # -- Lasagne before 0.1: `ds`, `strides`, and pools that kept partial windows -------------
    KFKD = '''
import cPickle as pickle
import sys
from matplotlib import pyplot
import numpy as np
from lasagne import layers
from nolearn.lasagne import BatchIterator
from nolearn.lasagne import NeuralNet
from sklearn.utils import shuffle
import theano

sys.setrecursionlimit(10000)  # for pickle...
Conv2DLayer = layers.cuda_convnet.Conv2DCCLayer
MaxPool2DLayer = layers.cuda_convnet.MaxPool2DCCLayer


def float32(k):
    return np.cast['float32'](k)


class FlipBatchIterator(BatchIterator):
    flip_indices = [(0, 2), (1, 3)]

    def transform(self, Xb, yb):
        Xb, yb = super(FlipBatchIterator, self).transform(Xb, yb)
        return Xb, yb


class AdjustVariable(object):
    def __init__(self, name, start=0.03, stop=0.001):
        self.name = name


net = NeuralNet(
    layers=[
        ('input', layers.InputLayer),
        ('conv1', Conv2DLayer),
        ('pool1', MaxPool2DLayer),
        ('dropout1', layers.DropoutLayer),
        ('conv2', Conv2DLayer),
        ('pool2', layers.MaxPool2DLayer),
        ('hidden4', layers.DenseLayer),
        ('output', layers.DenseLayer),
        ],
    input_shape=(128, 1, 11, 11),
    conv1_num_filters=4, conv1_filter_size=(3, 3), pool1_ds=(2, 2),
    dropout1_p=0.1,
    conv2_num_filters=5, conv2_filter_size=(2, 2), conv2_strides=(1, 1), pool2_ds=(2, 2),
    hidden4_num_units=6,
    output_num_units=4, output_nonlinearity=None,
    update_learning_rate=theano.shared(float32(0.03)),
    regression=True,
    batch_iterator=FlipBatchIterator(batch_size=128),
    on_epoch_finished=[AdjustVariable('update_learning_rate', start=0.03, stop=0.0001)],
    max_epochs=3000,
    )


def fit():
    net.fit(X, y)
    with open('net.pickle', 'wb') as f:
        pickle.dump(net, f, -1)
'''

    def test_kfkd_tutorial_style_nolearn_network(self):
        # 11 -> conv 3x3 -> 9 -> MaxPool2DCCLayer ds 2 (cuda-convnet keeps partial windows:
        # ceil(9 / 2) = 5) -> conv 2x2 -> 4 -> MaxPool2DLayer(ds=(2, 2)), Lasagne before 0.1:
        # ignore_border=False, 2 -> dense 5 * 2 * 2 = 20 inputs.
        arrays = [w(4, 1, 3, 3), w(4), w(5, 4, 2, 2), w(5), w(20, 6), w(6), w(6, 4), w(4)]
        model, params, stdout = self.ok(self.KFKD, arrays)
        self.assertEqual(S.ops(model), ["conv2d", "bias_add", "relu", "pool_2d", "conv2d",
                                        "bias_add", "relu", "pool_2d", "flatten", "dense", "relu",
                                        "dense"])
        pools = [l["attrs"] for l in model["layers"] if l["op"] == "pool_2d"]
        self.assertEqual(pools, [{"ws": [2, 2], "ignore_border": False, "mode": "max"}] * 2)
        self.assertEqual(model["input"]["shape"], [1, 11, 11])
        self.assertIn("translated to Python 3", stdout)       # `import cPickle` at run time
        self.assertIn("matplotlib", stdout)                   # stubbed

    def test_ds_pool_keeps_partial_windows_and_strides_is_stride(self):
        # Lasagne before April 2015: MaxPool2DLayer(input_layer, ds, ignore_border=False);
        # Conv2DLayer(..., strides=...). 7 -> conv 3x3 stride 2 -> 3 -> pool ds 2 -> 2.
        code = '''
from lasagne.layers import InputLayer, Conv2DLayer, MaxPool2DLayer, DenseLayer
def build_model():
    l = InputLayer((None, 1, 7, 7))
    l = Conv2DLayer(l, 2, (3, 3), strides=(2, 2))
    l = MaxPool2DLayer(l, ds=(2, 2))
    return DenseLayer(l, 3)
'''
        model, _, _ = self.ok(code, [w(2, 1, 3, 3), w(2), w(8, 3), w(3)])
        self.assertEqual(S.layer(model, "Conv2DLayer_1/conv2d")["attrs"]["subsample"], [2, 2])
        self.assertEqual(S.layer(model, "MaxPool2DLayer_2")["attrs"],
                         {"ws": [2, 2], "ignore_border": False, "mode": "max"})

    def test_pool_default_from_before_august_2015_is_taken_when_only_it_fits(self):
        # MaxPool2DLayer(l, 2) on 5x5: ignore_border=True (Lasagne >= PR #374) gives 2x2, the
        # earlier default False gives 3x3. Weights saved from the older Lasagne have a dense W
        # of 2 * 3 * 3 = 18 rows: the import takes the old default, and says so.
        code = '''
from lasagne.layers import InputLayer, Conv2DLayer, MaxPool2DLayer, DenseLayer
def build_model():
    l = InputLayer((None, 1, 5, 5))
    l = Conv2DLayer(l, 2, 1, name='conv')
    l = MaxPool2DLayer(l, 2, name='pool')
    return DenseLayer(l, 3, name='fc')
'''
        model, _, stdout = self.ok(code, [w(2, 1, 1, 1), w(2), w(18, 3), w(3)])
        self.assertIs(S.layer(model, "pool")["attrs"]["ignore_border"], False)
        self.assertIn('ignore_border=False, Lasagne\'s default before August 2015', stdout)
        self.assertIn('MaxPool2DLayer "pool" is imported so', stdout)
        # Weights of today's default (2 * 2 * 2 = 8 rows): ignore_border stays True, no note.
        model, _, stdout = self.ok(code, [w(2, 1, 1, 1), w(2), w(8, 3), w(3)])
        self.assertIs(S.layer(model, "pool")["attrs"]["ignore_border"], True)
        self.assertNotIn("August 2015", stdout)
        # Fitting neither: the mismatch of today's default is reported.
        err = self.refused(code, [w(2, 1, 1, 1), w(2), w(7, 3), w(3)])
        self.assertIn('DenseLayer "fc"', err)
        self.assertIn("(8, 3)", err)

    def test_pickled_network_of_lasagne_before_0_1(self):
        # pickle.dump(net) of the kfkd tutorial era (Lasagne of early 2015): layers without a
        # `params` dict (get_params() returned W, b), unnamed shared variables, pools storing
        # `ds` (MaxPool2DLayer: a tuple, ignore_border=False; MaxPool2DCCLayer: an int),
        # Conv2DLayer storing `strides` and `border_mode`.
        import collections
        from tests.test_lasagne_pickled import fake_modules

        def cls(name):
            return type(name, (object,), {})
        C = {n: cls(n) for n in ("InputLayer", "Conv2DLayer", "MaxPool2DLayer", "DenseLayer",
                                 "MaxPool2DCCLayer", "TensorSharedVariable", "Container",
                                 "NeuralNet")}

        def rectify(x):
            return x

        def conv2d(*a, **k):
            return None

        def sh(value):
            c = C["Container"]()
            c.storage = [value]
            v = C["TensorSharedVariable"]()
            v.name = None
            v.container = c
            return v

        def layer(kind, **state):
            o = C[kind]()
            o.__dict__.update(state)
            return o
        W, b = np.full((2, 1, 3, 3), 0.1, np.float32), np.zeros(2, np.float32)
        W2 = np.full((2 * 2 * 2, 3), 0.1, np.float32)
        inp = layer("InputLayer", shape=(128, 1, 8, 8), input_layer=None, name=None)
        conv = layer("Conv2DLayer", input_layer=inp, num_filters=2, filter_size=(3, 3),
                     strides=(1, 1), border_mode="valid", untie_biases=False, W=sh(W), b=sh(b),
                     nonlinearity=rectify, convolution=conv2d, name=None)
        pool = layer("MaxPool2DLayer", input_layer=conv, ds=(2, 2), ignore_border=False,
                     name=None)   # 6x6 -> 3x3
        pool2 = layer("MaxPool2DCCLayer", input_layer=pool, ds=2, stride=2, dimshuffle=True,
                      name=None)  # 3x3 -> 2x2 (cuda-convnet keeps partial windows)
        dense = layer("DenseLayer", input_layer=pool2, num_units=3, W=sh(W2), b=sh(np.zeros(3)),
                      nonlinearity=rectify, name=None)
        net = layer("NeuralNet", layers_=collections.OrderedDict(
            [("input", inp), ("conv1", conv), ("pool1", pool), ("pool2", pool2),
             ("output", dense)]), max_epochs=100)
        mods = {"lasagne.layers.input": {"InputLayer": C["InputLayer"]},
                "lasagne.layers.conv": {"Conv2DLayer": C["Conv2DLayer"]},
                "lasagne.layers.pool": {"MaxPool2DLayer": C["MaxPool2DLayer"]},
                "lasagne.layers.cuda_convnet": {"MaxPool2DCCLayer": C["MaxPool2DCCLayer"]},
                "lasagne.layers.dense": {"DenseLayer": C["DenseLayer"]},
                "lasagne.nonlinearities": {"rectify": rectify},
                "theano.tensor.nnet": {"conv2d": conv2d},
                "theano.tensor.sharedvar": {"TensorSharedVariable": C["TensorSharedVariable"]},
                "theano.gof.link": {"Container": C["Container"]},
                "nolearn.lasagne.base": {"NeuralNet": C["NeuralNet"]}}
        path = os.path.join(self.tmp, "net.pickle")
        with fake_modules(mods):
            with open(path, "wb") as f:
                pickle.dump(net, f, protocol=2)
        status, stdout, stderr = S.run_import(["--weights", path, "--out", self.out,
                                               "--no-check"])
        self.assertEqual(status, 0, stderr)
        model, params = S.load_model(self.out)
        self.assertEqual(S.ops(model), ["conv2d", "bias_add", "relu", "pool_2d", "pool_2d",
                                        "flatten", "dense", "relu"])
        pools = [l["attrs"] for l in model["layers"] if l["op"] == "pool_2d"]
        self.assertEqual(pools, [{"ws": [2, 2], "ignore_border": False, "mode": "max"}] * 2)
        self.assertEqual(sorted(params), ["conv1.W", "conv1.b", "output.W", "output.b"])
        np.testing.assert_array_equal(params["output.W"], W2)

    # -- Python 2 code ---------------------------------------------------------------------------
    def test_python2_integer_division_gives_int_sizes(self):
        # Python 2 code (a print statement) whose sizes come from `/`: 18 / 4 is 4 in Python 2.
        code = '''
from lasagne.layers import InputLayer, DenseLayer
print 'building'
def build_model(n=18):
    l = InputLayer((None, 6))
    l = DenseLayer(l, n / 4)
    x = 7
    x /= 2
    return DenseLayer(l, x)
'''
        model, params, stdout = self.ok(code, [w(6, 4), w(4), w(4, 3), w(3)])
        self.assertEqual(params["DenseLayer_1.W"].shape, (6, 4))
        self.assertEqual(params["DenseLayer_2.W"].shape, (4, 3))

    def test_python2_division_in_code_that_compiles_as_python3(self):
        # papers/preactivation_and_wide_resnet/models.py: `bottleneck_filters =
        # out_num_filters / 4` compiles as Python 3 but makes a float size there, which Theano
        # refuses: the code is run again as Python 2 (integer division).
        code = '''
from lasagne.layers import InputLayer, Conv2DLayer
def build_model():
    l = InputLayer((None, 3, 4, 4))
    out_num_filters = 16
    bottleneck_filters = out_num_filters / 4
    return Conv2DLayer(l, num_filters=bottleneck_filters, filter_size=1)
'''
        model, params, stdout = self.ok(code, [w(4, 3, 1, 1), w(4)])
        self.assertEqual(params["Conv2DLayer_1.W"].shape, (4, 3, 1, 1))
        self.assertIn("translated to Python 3", stdout)

    def test_future_division_is_respected(self):
        # `from __future__ import division`: `/` is true division even in Python 2 code, so a
        # float size stays an error (as Theano would raise it).
        code = '''from __future__ import division
from lasagne.layers import InputLayer, DenseLayer
print 'x'
def build_model():
    return DenseLayer(InputLayer((None, 6)), 9 / 2)
'''
        err = self.refused(code, [w(6, 4), w(4)])
        self.assertIn("'float' object cannot be interpreted as an integer", err)

    def test_python2_failure_reports_the_translated_runs_error(self):
        # `import cPickle` fails under Python 3; the translated run gets further and meets the
        # real problem (an unsupported layer): that is what is reported.
        code = '''import cPickle
from lasagne.layers import InputLayer, EmbeddingLayer
def build_model():
    return EmbeddingLayer(InputLayer((None, 6)), 10, 3)
'''
        err = self.refused(code, [w(10, 3)])
        self.assertIn("unsupported layer (lasagne.layers.embedding.EmbeddingLayer)", err)
        self.assertIn("after translating the Python 2 code with lib2to3", err)
        self.assertIn("No module named 'cPickle'", err)

    # -- build functions with required arguments -------------------------------------------------
    MNIST_2015 = '''
import lasagne
BATCH_SIZE = 600
NUM_HIDDEN_UNITS = 5

def build_model(input_dim, output_dim,
                batch_size=BATCH_SIZE, num_hidden_units=NUM_HIDDEN_UNITS):
    l_in = lasagne.layers.InputLayer(shape=(batch_size, input_dim))
    l_hidden1 = lasagne.layers.DenseLayer(l_in, num_units=num_hidden_units)
    l_hidden1_dropout = lasagne.layers.DropoutLayer(l_hidden1, p=0.5)
    return lasagne.layers.DenseLayer(l_hidden1_dropout, num_units=output_dim,
                                     nonlinearity=lasagne.nonlinearities.softmax)
'''

    def test_build_function_arguments_are_asked_for_and_taken(self):
        arrays = [w(8, 5), w(5), w(5, 3), w(3)]
        err = self.refused(self.MNIST_2015, arrays)
        self.assertIn("build_model() was called with None for input_dim, output_dim", err)
        self.assertIn("--build-arg input_dim=VALUE --build-arg output_dim=VALUE", err)
        model, _, stdout = self.ok(self.MNIST_2015, arrays, "--build-arg", "input_dim=8",
                                   "--build-arg", "output_dim=3")
        self.assertEqual(model["input"]["shape"], [8])   # the batch size 600 is not kept
        self.assertIn("build_model() was called with input_dim=8, output_dim=3", stdout)
        err = self.refused(self.MNIST_2015, arrays, "--build-arg", "input_dims=8")
        self.assertIn("--build-arg input_dims: build_model() has no such argument; its "
                      "arguments: input_dim, output_dim, batch_size=600", err)

    def test_build_arg_values_are_python_literals(self):
        code = '''
from lasagne.layers import InputLayer, DenseLayer
def build_net(shape, units, act=None):
    assert isinstance(shape, tuple) and act == 'linear', (shape, act)
    return DenseLayer(InputLayer((None,) + shape), units, nonlinearity=None)
'''
        model, _, _ = self.ok(code, [w(6, 2), w(2)], "--build-arg", "shape=(2, 3)",
                              "--build-arg", "units=2", "--build-arg", "act=linear")
        self.assertEqual(model["input"]["shape"], [2, 3])

    # -- classes of stubbed modules ----------------------------------------------------------------
    def test_classes_of_missing_modules_can_be_subclassed(self):
        code = '''
from sklearn.base import BaseEstimator
from nolearn.lasagne import BatchIterator, TrainSplit
from lasagne.layers import InputLayer, DenseLayer

class Iter(BatchIterator):
    def transform(self, Xb, yb):
        return Xb, yb

class Wrapper(BaseEstimator):
    pass

it = Iter(batch_size=128)
split = TrainSplit(eval_size=0.2)
Wrapper().fit

def build_model():
    return DenseLayer(InputLayer((None, 4)), 2)
'''
        model, _, _ = self.ok(code, [w(4, 2), w(2)])
        self.assertEqual(S.ops(model), ["dense", "relu"])

    # -- layers that work across the batch axis ----------------------------------------------------
    def test_segmentation_tail_is_refused_with_the_layer_to_serve_instead(self):
        # modelzoo/Unet.py ends with dimshuffle (1, 0, 2, 3), reshape (classes, -1),
        # dimshuffle (1, 0), softmax: one row per pixel of the whole batch.
        code = '''
from collections import OrderedDict
from lasagne.layers import InputLayer, Conv2DLayer, DimshuffleLayer, ReshapeLayer
from lasagne.layers import NonlinearityLayer
import lasagne
def build_UNet():
    net = OrderedDict()
    net['input'] = InputLayer((None, 1, 4, 4))
    net['output_segmentation'] = Conv2DLayer(net['input'], 2, 1, nonlinearity=None)
    net['dimshuffle'] = DimshuffleLayer(net['output_segmentation'], (1, 0, 2, 3))
    net['reshapeSeg'] = ReshapeLayer(net['dimshuffle'], (2, -1))
    net['dimshuffle2'] = DimshuffleLayer(net['reshapeSeg'], (1, 0))
    net['output_flattened'] = NonlinearityLayer(net['dimshuffle2'],
                                                nonlinearity=lasagne.nonlinearities.softmax)
    return net
'''
        arrays = [w(2, 1, 1, 1), w(2)]
        err = self.refused(code, arrays)
        self.assertIn('DimshuffleLayer "dimshuffle": pattern (1, 0, 2, 3) moves the batch axis',
                      err)
        self.assertIn("--output-layer output_segmentation", err)
        self.assertIn("(None, 2, 4, 4)", err)
        model, _, _ = self.ok(code, arrays, "--output-layer", "output_segmentation")
        self.assertEqual(model["layers"][-1]["name"], "output_segmentation")


if __name__ == "__main__":
    unittest.main()
