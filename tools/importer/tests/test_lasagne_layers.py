"""Each Lasagne layer translator: the model.json it writes against Lasagne's defaults (read from
lasagne/layers/*.py, master), the shapes it infers, and — where the engine is built — the
numbers, against numpy re-implementations of Lasagne's formulas written here."""

import os
import shutil
import tempfile
import unittest

import numpy as np

from tests import test_lasagne_support as S

HEADER = """
import theano.tensor as T
import lasagne
from lasagne.layers import *
from lasagne.layers.dnn import Conv2DDNNLayer, MaxPool2DDNNLayer, Pool2DDNNLayer
from lasagne.layers.corrmm import Conv2DMMLayer
from lasagne.nonlinearities import *
"""


def rand(*shape, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, shape).astype(np.float32)


def corr2d(x, w, pad=(0, 0), stride=(1, 1), flip=False, dil=(1, 1)):
    """Cross-correlation (or convolution when flip) of (N, C, H, W) with (O, C, kh, kw), zero
    padding, in float64: Theano's conv2d by its definition (docs/THEANO_SEMANTICS.md)."""
    if flip:
        w = w[:, :, ::-1, ::-1]
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ekh, ekw = (kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1
    oh, ow = (h - ekh) // stride[0] + 1, (wd - ekw) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i * dil[0]:i * dil[0] + stride[0] * (oh - 1) + 1:stride[0],
                      j * dil[1]:j * dil[1] + stride[1] * (ow - 1) + 1:stride[1]]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out


class TranslatorTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lasagne-layers-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def net(self, body, arrays, extra=()):
        code = HEADER + "\ndef build_model():\n" + "\n".join("    " + l for l in
                                                             body.strip().splitlines())
        model, params, stdout = S.import_net(self.tmp, code, arrays, extra)
        return model, params

    def engine(self, x):
        if S.model_tool() is None:
            self.skipTest("the engine is not built")
        return S.predict(os.path.join(self.tmp, "out"), x).reshape((x.shape[0], -1))

    # -- convolutions --------------------------------------------------------------------------
    def test_conv2d_defaults_convolve_add_bias_and_rectify(self):
        W, b = rand(4, 3, 3, 3), rand(4)
        m, p = self.net("l = InputLayer((None, 3, 6, 6))\nreturn Conv2DLayer(l, 4, 3, name='c')",
                        [W, b])
        self.assertEqual(S.ops(m), ["conv2d", "bias_add", "relu"])
        self.assertEqual(m["layers"][0]["attrs"], {"filter_flip": True})
        np.testing.assert_array_equal(p["c.W"], W)  # stored unflipped
        x = rand(2, 3, 6, 6, seed=1)
        want = np.maximum(corr2d(x, W, flip=True) + b[None, :, None, None], 0)
        np.testing.assert_allclose(self.engine(x), want.reshape(2, -1), atol=1e-5)

    def test_conv2d_pads_stride_groups_untied_biases(self):
        cases = [
            ("pad='same'", {"border_mode": "half"}),
            ("pad='full'", {"border_mode": "full"}),
            ("pad='valid'", {}),
            ("pad=(1, 2)", {"border_mode": [1, 2]}),
            ("pad=2, stride=2", {"border_mode": [2, 2], "subsample": [2, 2]}),
        ]
        for arg, attrs in cases:
            with self.subTest(arg=arg):
                m, _ = self.net("l = InputLayer((None, 2, 7, 7))\n"
                                "return Conv2DLayer(l, 2, 3, %s, nonlinearity=None)" % arg,
                                [rand(2, 2, 3, 3), rand(2)])
                attrs = dict(attrs, filter_flip=True)
                self.assertEqual(m["layers"][0]["attrs"], attrs)
                self.assertEqual(S.ops(m), ["conv2d", "bias_add"])
        W, b = rand(4, 1, 3, 3), rand(4, 3, 3)
        m, p = self.net("l = InputLayer((None, 2, 7, 7))\n"
                        "return Conv2DLayer(l, 4, 3, stride=2, untie_biases=True, num_groups=2, "
                        "nonlinearity=tanh, name='u')", [W, b])
        self.assertEqual(S.ops(m), ["conv2d", "add", "tanh"])
        self.assertEqual(m["layers"][0]["attrs"], {"subsample": [2, 2], "filter_flip": True,
                                                   "num_groups": 2})
        self.assertEqual(p["u.b"].shape, (4, 3, 3))
        x = rand(2, 2, 7, 7, seed=2)
        want = np.concatenate([corr2d(x[:, :1], W[:2], stride=(2, 2), flip=True),
                               corr2d(x[:, 1:], W[2:], stride=(2, 2), flip=True)], axis=1)
        np.testing.assert_allclose(self.engine(x), np.tanh(want + b).reshape(2, -1), atol=1e-5)

    def test_pre_0_1_border_mode_argument(self):
        # Lasagne before 0.1: border_mode='same' = full convolution cropped at (f - 1) // 2,
        # i.e. padding (2, 1) for a 4x4 filter
        W, b = rand(2, 1, 4, 4), rand(2)
        m, _ = self.net("l = InputLayer((None, 1, 6, 6))\n"
                        "return Conv2DLayer(l, 2, 4, border_mode='same', nonlinearity=None)",
                        [W, b])
        self.assertEqual(m["layers"][0]["attrs"], {"border_mode": [[2, 1], [2, 1]],
                                                   "filter_flip": True})
        x = rand(1, 1, 6, 6, seed=15)
        full = corr2d(x, W, pad=(3, 3), flip=True)
        want = full[:, :, 1:7, 1:7] + b[None, :, None, None]
        np.testing.assert_allclose(self.engine(x), want.reshape(1, -1), atol=1e-5)

    def test_gpu_conv_layers_cross_correlate_by_default(self):
        for cls in ("Conv2DDNNLayer", "Conv2DMMLayer"):
            with self.subTest(cls=cls):
                W, b = rand(3, 2, 3, 3), rand(3)
                m, _ = self.net("l = InputLayer((None, 2, 5, 5))\n"
                                "return %s(l, 3, 3, pad='same')" % cls, [W, b])
                self.assertEqual(m["layers"][0]["attrs"], {"border_mode": "half",
                                                           "filter_flip": False})
                x = rand(1, 2, 5, 5, seed=3)
                want = np.maximum(corr2d(x, W, pad=(1, 1)) + b[None, :, None, None], 0)
                np.testing.assert_allclose(self.engine(x), want.reshape(1, -1), atol=1e-5)

    def test_conv1d_is_a_conv2d_on_a_height_of_one(self):
        W, b = rand(3, 2, 3), rand(3)
        m, _ = self.net("l = InputLayer((None, 2, 9))\n"
                        "return Conv1DLayer(l, 3, 3, pad=1, nonlinearity=None)", [W, b])
        self.assertEqual(S.ops(m), ["dimshuffle", "conv2d", "dimshuffle", "bias_add"])
        x = rand(2, 2, 9, seed=4)
        want = corr2d(x[:, :, None, :], W[:, :, None, :], pad=(0, 1), flip=True)[:, :, 0, :]
        np.testing.assert_allclose(self.engine(x), (want + b[None, :, None]).reshape(2, -1),
                                   atol=1e-5)

    def test_dilated_conv_transposes_W_and_cross_correlates(self):
        W, b = rand(2, 3, 3, 3), rand(3)  # (in, out, kh, kw) as Lasagne stores it
        m, p = self.net("l = InputLayer((None, 2, 9, 9))\n"
                        "return DilatedConv2DLayer(l, 3, 3, dilation=2, name='d')", [W, b])
        self.assertEqual(m["layers"][0]["attrs"], {"filter_flip": False,
                                                   "filter_dilation": [2, 2]})
        np.testing.assert_array_equal(p["d.W"], W.transpose(1, 0, 2, 3))

    # -- pooling -------------------------------------------------------------------------------
    def test_pool_defaults_and_modes(self):
        cases = [
            ("MaxPool2DLayer(l, 2)", {"ws": [2, 2], "ignore_border": True, "mode": "max"}),
            ("MaxPool2DLayer(l, 3, stride=2, ignore_border=False)",
             {"ws": [3, 3], "stride": [2, 2], "ignore_border": False, "mode": "max"}),
            ("Pool2DLayer(l, 3, stride=1, pad=1, mode='average_inc_pad')",
             {"ws": [3, 3], "stride": [1, 1], "pad": [1, 1], "ignore_border": True,
              "mode": "average_inc_pad"}),
            ("MaxPool2DDNNLayer(l, 3, stride=1, pad=1)",
             {"ws": [3, 3], "stride": [1, 1], "pad": [1, 1], "ignore_border": True,
              "mode": "max"}),
            ("Pool2DDNNLayer(l, 2, mode='average')",  # Theano's dnn_pool alias
             {"ws": [2, 2], "ignore_border": True, "mode": "average_inc_pad"}),
        ]
        for expr, attrs in cases:
            with self.subTest(expr=expr):
                m, _ = self.net("l = InputLayer((None, 1, 7, 7))\nreturn %s" % expr, [])
                self.assertEqual(m["layers"][0]["op"], "pool_2d")
                self.assertEqual(m["layers"][0]["attrs"], attrs)

    def test_pool_with_pad_and_partial_windows_is_refused_as_theano_does(self):
        with self.assertRaisesRegex(AssertionError, "ignore_border=False: Theano refuses"):
            self.net("l = InputLayer((None, 1, 7, 7))\n"
                     "return Pool2DLayer(l, 3, pad=1, ignore_border=False)", [])

    def test_global_and_feature_pools(self):
        m, _ = self.net("l = InputLayer((None, 4, 3, 3))\nreturn GlobalPoolLayer(l)", [])
        self.assertEqual(m["layers"], [
            {"name": "GlobalPoolLayer_1/flatten", "op": "flatten", "attrs": {"ndim": 3}},
            {"name": "GlobalPoolLayer_1", "op": "mean", "attrs": {"axis": 2}}])
        x = rand(2, 4, 3, 3, seed=5)
        np.testing.assert_allclose(self.engine(x), x.mean(axis=(2, 3)), atol=1e-6)
        m, _ = self.net("l = InputLayer((None, 4, 3, 3))\n"
                        "return GlobalPoolLayer(l, pool_function=T.max)", [])
        np.testing.assert_allclose(self.engine(x), x.max(axis=(2, 3)), atol=0)
        m, _ = self.net("l = InputLayer((None, 4, 3, 3))\n"
                        "return FeaturePoolLayer(l, 2, pool_function=T.mean)", [])
        self.assertEqual(S.ops(m), ["reshape", "mean"])
        np.testing.assert_allclose(self.engine(x).reshape(2, 2, 3, 3),
                                   x.reshape(2, 2, 2, 3, 3).mean(axis=2), atol=1e-6)

    def test_upscale_repeat_and_dilate(self):
        x = rand(2, 3, 2, 3, seed=14)
        m, _ = self.net("l = InputLayer((None, 3, 2, 3))\nreturn Upscale2DLayer(l, (2, 3))", [])
        self.assertEqual(S.ops(m), ["reshape", "mul", "reshape"])
        want = x.repeat(2, axis=2).repeat(3, axis=3)  # T.extra_ops.repeat on both axes
        np.testing.assert_array_equal(self.engine(x), want.reshape(2, -1))
        m, _ = self.net("l = InputLayer((None, 3, 2, 3))\n"
                        "return Upscale2DLayer(l, 2, mode='dilate')", [])
        want = np.zeros((2, 3, 4, 6), np.float32)
        want[:, :, ::2, ::2] = x
        np.testing.assert_array_equal(self.engine(x), want.reshape(2, -1))

    # -- dense, NIN ----------------------------------------------------------------------------
    def test_dense_flattens_and_handles_b_none(self):
        m, p = self.net("l = InputLayer((None, 2, 3, 3))\n"
                        "return DenseLayer(l, 4, b=None, nonlinearity=None, name='fc')",
                        [rand(18, 4)])
        self.assertEqual(m["layers"], [
            {"name": "fc/flatten", "op": "flatten", "attrs": {"ndim": 2}},
            {"name": "fc", "op": "dense", "params": ["fc.W"]}])

    def test_dense_with_two_leading_axes_is_refused(self):
        with self.assertRaisesRegex(AssertionError, "num_leading_axes=2"):
            self.net("l = InputLayer((None, 2, 3))\n"
                     "return DenseLayer(l, 4, num_leading_axes=2)", [rand(3, 4), rand(4)])

    def test_nin_layer_is_a_1x1_cross_correlation(self):
        W, b = rand(3, 5), rand(5)
        m, p = self.net("l = InputLayer((None, 3, 4, 4))\nreturn NINLayer(l, 5, name='nin')",
                        [W, b])
        self.assertEqual(p["nin.W"].shape, (5, 3, 1, 1))
        x = rand(2, 3, 4, 4, seed=6)
        want = np.maximum(np.einsum("nchw,cu->nuhw", x, W) + b[None, :, None, None], 0)
        np.testing.assert_allclose(self.engine(x), want.reshape(2, -1), atol=1e-5)

    # -- nonlinearities ------------------------------------------------------------------------
    def test_every_lasagne_nonlinearity(self):
        cases = [
            ("rectify", [("relu", None)]),
            ("leaky_rectify", [("relu", {"alpha": 0.01})]),
            ("very_leaky_rectify", [("relu", {"alpha": 1.0 / 3})]),
            ("LeakyRectify(0.2)", [("relu", {"alpha": 0.2})]),
            ("LeakyRectify(0)", [("relu", None)]),
            ("elu", [("elu", None)]),
            ("softplus", [("softplus", None)]),
            ("sigmoid", [("sigmoid", None)]),
            ("tanh", [("tanh", None)]),
            ("ScaledTanH(0.5, 2.4)", [("mul", {"operands": ["input:0", 0.5]}), ("tanh", None),
                                      ("mul", {"operands": ["input:0", 2.4]})]),
            ("softmax", [("softmax", None)]),
            ("linear", []),
            ("identity", []),
            ("None", []),
            ("selu", [("selu", None)]),
            ("SELU(2.0, 0.5)", [("elu", {"alpha": 0.5}), ("mul", {"operands": ["input:0", 2.0]})]),
            ("T.nnet.relu", [("relu", None)]),
            ("T.tanh", [("tanh", None)]),
        ]
        for expr, want in cases:
            with self.subTest(nonlinearity=expr):
                m, _ = self.net("l = InputLayer((None, 5))\n"
                                "return DenseLayer(l, 5, nonlinearity=%s)" % expr,
                                [rand(5, 5), rand(5)])
                got = [(l["op"], l.get("attrs")) for l in m["layers"]]
                self.assertEqual(got[0][0], "dense")
                self.assertEqual(got[1:], want)

    def test_scaled_tanh_and_prelu_numbers(self):
        m, _ = self.net("l = InputLayer((None, 6))\n"
                        "return NonlinearityLayer(l, ScaledTanH(scale_in=2./3, scale_out=1.7159))",
                        [])
        x = rand(3, 6, seed=7) * 3
        np.testing.assert_allclose(self.engine(x), np.tanh(x * (2. / 3)) * 1.7159, atol=1e-6)
        alpha = np.array([0.1, 0.25, 0.5], np.float32)
        m, _ = self.net("l = InputLayer((None, 3, 2, 2))\nreturn ParametricRectifierLayer(l)",
                        [alpha])
        x = rand(2, 3, 2, 2, seed=8)
        want = np.where(x > 0, x, alpha[None, :, None, None] * x)
        np.testing.assert_allclose(self.engine(x), want.reshape(2, -1), atol=1e-6)
        m, _ = self.net("l = InputLayer((None, 3))\n"
                        "return RandomizedRectifierLayer(l, lower=0.2, upper=0.4)", [])
        self.assertEqual(m["layers"][0]["attrs"], {"alpha": 0.30000000000000004})

    def test_expression_layer_only_with_a_known_nonlinearity(self):
        m, _ = self.net("l = InputLayer((None, 5))\n"
                        "return ExpressionLayer(l, T.nnet.sigmoid)", [])
        self.assertEqual(S.ops(m), ["sigmoid"])
        with self.assertRaisesRegex(AssertionError, "unsupported layer ExpressionLayer \"sq\".*"
                                                    "got a lambda"):
            self.net("l = InputLayer((None, 5))\n"
                     "return ExpressionLayer(l, lambda x: x ** 2, name='sq')", [])

    # -- normalisation -------------------------------------------------------------------------
    def test_batch_norm_helper_and_layer(self):
        bn = [rand(4), rand(4) + 2, rand(4), rand(4) + 2]  # beta, gamma, mean, inv_std
        m, p = self.net("l = InputLayer((None, 3, 5, 5))\n"
                        "return batch_norm(Conv2DLayer(l, 4, 3, name='c'))",
                        [rand(4, 3, 3, 3)] + bn)
        self.assertEqual(S.ops(m), ["conv2d", "batch_norm_inv_std", "relu"])
        self.assertEqual(m["layers"][1]["params"], ["c_bn.gamma", "c_bn.beta", "c_bn.mean",
                                                    "c_bn.inv_std"])
        np.testing.assert_array_equal(p["c_bn.gamma"], bn[1])
        self.assertEqual([l["name"] for l in m["layers"]], ["c", "c_bn", "c_bn_nonlin"])
        m, p = self.net("l = InputLayer((None, 4))\n"
                        "return BatchNormLayer(l, beta=None, gamma=None, name='b')",
                        [bn[2], bn[3]])
        np.testing.assert_array_equal(p["b.gamma"], np.ones(4))
        x = rand(3, 4, seed=9)
        np.testing.assert_allclose(self.engine(x), (x - bn[2]) * bn[3], atol=1e-6)

    def test_local_response_normalization(self):
        m, _ = self.net("l = InputLayer((None, 7, 2, 2))\n"
                        "return LocalResponseNormalization2DLayer(l)", [])
        self.assertEqual(m["layers"][0]["attrs"], {"alpha": 1e-4, "k": 2.0, "beta": 0.75,
                                                   "n": 5})
        x = rand(1, 7, 2, 2, seed=10) * 10
        sq = np.pad(x.astype(np.float64) ** 2, ((0, 0), (2, 2), (0, 0), (0, 0)))
        scale = 2 + sum(1e-4 * sq[:, i:i + 7] for i in range(5))  # alpha not divided by n
        np.testing.assert_allclose(self.engine(x), (x / scale ** 0.75).reshape(1, -1),
                                   rtol=1e-5)

    def test_identity_layers_write_nothing(self):
        m, _ = self.net("l = InputLayer((None, 5))\nl = DropoutLayer(l, p=0.3)\n"
                        "l = GaussianNoiseLayer(l)\nl = dropout(l)\n"
                        "return DenseLayer(l, 2)", [rand(5, 2), rand(2)])
        self.assertEqual(S.ops(m), ["dense", "relu"])

    # -- merges --------------------------------------------------------------------------------
    def test_merge_layers(self):
        m, _ = self.net("l = InputLayer((None, 4))\n"
                        "a = DenseLayer(l, 3, nonlinearity=None, name='a')\n"
                        "b = DenseLayer(l, 3, nonlinearity=None, name='b')\n"
                        "return ElemwiseMergeLayer([a, b], T.maximum, name='m')",
                        [rand(4, 3), rand(3), rand(4, 3, seed=1), rand(3, seed=1)])
        self.assertEqual(S.layer(m, "m"), {"name": "m", "op": "maximum",
                                           "inputs": ["a", "b"]})
        m, _ = self.net("l = InputLayer((None, 4))\n"
                        "return ElemwiseMergeLayer([l, l, l], T.sub, name='s')", [])
        self.assertEqual(S.ops(m), ["sub", "sub"])
        m, _ = self.net("l = InputLayer((None, 4))\n"
                        "return ElemwiseSumLayer([l, l], coeffs=[2, 1], name='s')", [])
        self.assertEqual(m["layers"], [
            {"name": "s/mul", "op": "mul", "attrs": {"operands": ["input:0", 2.0]}},
            {"name": "s", "op": "add", "inputs": ["s/mul", "input"]}])

    def test_concat_with_cropping(self):
        m, _ = self.net("l = InputLayer((None, 1, 6, 6))\n"
                        "c = Conv2DLayer(l, 1, 3, nonlinearity=None, name='c')\n"
                        "return ConcatLayer([l, c], cropping=[None, None, 'center', 'lower'], "
                        "name='cat')", [np.ones((1, 1, 3, 3), np.float32), np.zeros(1, np.float32)])
        crops = [l for l in m["layers"] if l["op"] == "subtensor"]
        self.assertEqual([l["attrs"] for l in crops], [{"axis": 2, "start": 1, "stop": 5},
                                                       {"axis": 3, "start": 0, "stop": 4}])
        x = rand(1, 1, 6, 6, seed=11)
        conv = corr2d(x, np.ones((1, 1, 3, 3)), flip=True)
        want = np.concatenate([x[:, :, 1:5, 0:4], conv], axis=1)
        np.testing.assert_allclose(self.engine(x), want.reshape(1, -1), atol=1e-5)

    # -- shape layers --------------------------------------------------------------------------
    def test_shape_layers(self):
        m, _ = self.net("l = InputLayer((None, 2, 3, 4))\n"
                        "l = PadLayer(l, width=[(1, 2), 1], val=0.5)\n"
                        "l = DimshuffleLayer(l, (0, 3, 2, 1))\n"
                        "l = SliceLayer(l, indices=slice(1, None, 2), axis=1)\n"
                        "l = SliceLayer(l, indices=-1, axis=-1)\n"
                        "l = ReshapeLayer(l, (-1, [1], 3, 2))\n"
                        "return FlattenLayer(l)", [])
        self.assertEqual([(l["op"], l.get("attrs")) for l in m["layers"]], [
            ("pad", {"width": [[1, 2], [1, 1]], "value": 0.5}),
            ("dimshuffle", {"pattern": [0, 3, 2, 1]}),
            ("subtensor", {"axis": 1, "start": 1, "step": 2}),
            ("subtensor", {"axis": 3, "index": -1}),
            ("reshape", {"shape": [[0], 3, 3, 2]}),
            ("flatten", {"ndim": 2})])
        x = rand(2, 2, 3, 4, seed=12)
        y = np.pad(x, ((0, 0), (0, 0), (1, 2), (1, 1)), constant_values=0.5)
        y = y.transpose(0, 3, 2, 1)[:, 1::2][..., -1].reshape(2, 3, 3, 2).reshape(2, -1)
        np.testing.assert_allclose(self.engine(x), y, atol=0)

    def test_moving_the_batch_axis_is_refused(self):
        with self.assertRaisesRegex(AssertionError, "moves the batch axis"):
            self.net("l = InputLayer((None, 2, 3))\nreturn DimshuffleLayer(l, (1, 0, 2))", [])
        with self.assertRaisesRegex(AssertionError, "does not keep the batch axis"):
            self.net("l = InputLayer((None, 2, 3))\nreturn ReshapeLayer(l, (6, -1))", [])

    def test_scale_and_bias_layers_broadcast_their_parameters(self):
        s, b = rand(3), rand(3, 2)
        m, p = self.net("l = InputLayer((None, 3, 2, 2))\nl = ScaleLayer(l, name='s')\n"
                        "return BiasLayer(l, shared_axes=(0, 3), name='b')", [s, b])
        self.assertEqual(p["s.scales"].shape, (3, 1, 1))
        self.assertEqual(p["b.b"].shape, (3, 2, 1))
        x = rand(2, 3, 2, 2, seed=13)
        want = x * s[:, None, None] + b[:, :, None]
        np.testing.assert_allclose(self.engine(x), want.reshape(2, -1), atol=1e-6)

    # -- classes -------------------------------------------------------------------------------
    def test_subclass_that_only_configures_is_translated(self):
        m, _ = self.net("class MyConv(Conv2DLayer):\n"
                        "    def __init__(self, incoming, n, **kw):\n"
                        "        super(MyConv, self).__init__(incoming, n, 3, pad=1, **kw)\n"
                        "l = InputLayer((None, 1, 4, 4))\nreturn MyConv(l, 2)",
                        [rand(2, 1, 3, 3), rand(2)])
        self.assertEqual(S.ops(m), ["conv2d", "bias_add", "relu"])

    def test_unsupported_layers_name_class_and_supported_list(self):
        cases = [
            ("LSTMLayer(l, 5, name='rnn')",
             r'unsupported layer "rnn" \(lasagne.layers.recurrent.LSTMLayer\): supported: '
             r'InputLayer, BatchNormDNNLayer'),
            ("Upscale3DLayer(l, 2)", r"unsupported layer \(lasagne.layers.pool.Upscale3DLayer\)"),
            ("TransposedConv2DLayer(l, 2, 3)", r"lasagne.layers.conv.TransposedConv2DLayer"),
        ]
        for expr, pattern in cases:
            with self.subTest(expr=expr):
                with self.assertRaisesRegex(AssertionError, pattern):
                    self.net("l = InputLayer((None, 2, 4, 4))\nreturn %s" % expr, [])
        with self.assertRaisesRegex(AssertionError, r"unsupported layer \"mine\" \(net\..*Mine, a "
                                                    r"subclass of lasagne.layers.Layer that "
                                                    r"overrides get_output_for\(\)\)"):
            self.net("class Mine(Layer):\n"
                     "    def get_output_for(self, x, **kw):\n"
                     "        return x * 2\n"
                     "l = InputLayer((None, 2))\nreturn Mine(l, name='mine')", [])

    def test_parameter_order_is_get_all_params_order(self):
        # DFS over inputs in their listed order: the sum reads b1 before b2, so b1's params
        # come first although b2 was created first.
        arrays = [rand(4, 2, seed=k) if k % 2 == 0 else rand(2, seed=k) for k in range(4)]
        m, p = self.net("l = InputLayer((None, 4))\n"
                        "b2 = DenseLayer(l, 2, name='b2')\n"
                        "b1 = DenseLayer(l, 2, name='b1')\n"
                        "return ElemwiseSumLayer([b1, b2])", arrays)
        np.testing.assert_array_equal(p["b1.W"], arrays[0])
        np.testing.assert_array_equal(p["b2.W"], arrays[2])


if __name__ == "__main__":
    unittest.main()
