"""Keras files shaped like the ones users have: blocks of keras.applications as Keras 2.0.8 /
2.1 / 2.2 build them (ResNet50: ZeroPadding2D, Conv2D, BatchNormalization(axis=1), Activation,
Add, MaxPooling2D, GlobalAveragePooling2D; InceptionV3: Conv2D(use_bias=False) +
BatchNormalization(scale=False), 'same' AveragePooling2D, concatenate; MobileNet v1:
DepthwiseConv2D, ReLU(6.) / relu6, GlobalAveragePooling2D -> Reshape -> Conv2D ->
Activation('softmax') on a (1, 1, classes) tensor -> Reshape), LeakyReLU across the Keras 2.2.3
change of K.relu, and the HDF5 forms Keras 2.1+ writes (attributes as str, layer_names split
into layer_names0, layer_names1, ...).

Expected numbers are numpy versions of Keras' formulas on the Theano backend (keras/layers/*.py,
keras/backend/theano_backend.py, keras/activations.py at the versions cited), not of the
importer's ops; the model is run by the engine (tests/test_keras_import.run_model; skipped
without THEANO_SERVING_BIN_DIR).
"""

import json
import os
import shutil
import tempfile
import unittest

import numpy as np

from theano_serving_import import cli, keras_import
from theano_serving_import.errors import ImporterError
from tests import keras_files as kf
from tests.test_keras_import import F32, run_model, theano_conv2d

try:
    import h5py
    HAVE_H5PY = True
except ImportError:
    HAVE_H5PY = False

RNG = np.random.RandomState(7)


def _w(*shape, scale=0.5):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


# -- Keras' formulas in numpy (float64) --------------------------------------------------------

def conv_same(x, kernel, bias=None, channels_last=False):
    """Conv2D(padding='same', odd kernel, stride 1) on Theano: conv2d 'half', filter_flip."""
    if channels_last:
        x = x.transpose(0, 3, 1, 2)
    kh, kw = kernel.shape[:2]
    y = theano_conv2d(x, kernel.transpose(3, 2, 0, 1).astype(np.float64),
                      [(kh // 2, kh // 2), (kw // 2, kw // 2)])
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y.transpose(0, 2, 3, 1) if channels_last else y


def batchnorm(x, gamma, beta, mean, var, eps, axis):
    """K.batch_normalization: (x - mean) / sqrt(var + eps) * gamma + beta."""
    shape = [1] * x.ndim
    shape[axis] = -1
    r = lambda a: np.asarray(a, np.float64).reshape(shape)  # noqa: E731
    y = (x - r(mean)) / np.sqrt(r(var) + eps)
    if gamma is not None:
        y = y * r(gamma)
    return y + (r(beta) if beta is not None else 0)


def softmax_last(x):
    """keras/activations.py softmax for ndim > 2: exp(x - max) / sum over the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def avg_pool_same_3x3_s1_exc(x):
    """AveragePooling2D((3, 3), strides=(1, 1), padding='same') from Keras 2.1.5 on:
    pool_2d(pad=(1, 1), average_exc_pad): each window averages the pixels inside the image."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ones = np.pad(np.ones((h, w)), 1)
    s = sum(xp[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3))
    cnt = sum(ones[i:i + h, j:j + w] for i in range(3) for j in range(3))
    return s / cnt


@unittest.skipUnless(HAVE_H5PY, "python3-h5py is not installed")
class KerasApplicationsBlocksTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="keras-realworld-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def build(self, *argv):
        args = cli.make_parser(["keras"]).parse_args(["keras"] + list(argv) +
                                                     ["--out", self.path("out")])
        return keras_import.build(args)

    def run_built(self, builder, x):
        out = self.path("model")
        shutil.rmtree(out, ignore_errors=True)
        builder.write(out)
        return run_model(out, x)

    # -- MobileNet v1 (keras_applications, Keras 2.2.x; always channels_last) ------------------
    def mobilenet_tail(self, version, relu="layer"):
        c = 6
        layers = [
            kf.layer("InputLayer", "input_1", batch_input_shape=[None, 5, 5, 3],
                     dtype="float32", sparse=False),
            kf.layer("DepthwiseConv2D", "conv_dw_1", kernel_size=[3, 3], strides=[1, 1],
                     padding="same", depth_multiplier=1, data_format="channels_last",
                     activation="linear", use_bias=False),
            kf.layer("BatchNormalization", "conv_dw_1_bn", axis=-1, epsilon=1e-3,
                     momentum=0.99, center=True, scale=True),
            (kf.layer("ReLU", "conv_dw_1_relu", max_value=6.0) if relu == "layer" else
             kf.layer("Activation", "conv_dw_1_relu", activation="relu6")),
            kf.layer("GlobalAveragePooling2D", "global_average_pooling2d_1",
                     data_format="channels_last"),
            kf.layer("Reshape", "reshape_1", target_shape=[1, 1, 3]),
            kf.layer("Dropout", "dropout", rate=1e-3),
            kf.conv2d("conv_preds", c, (1, 1), padding="same", data_format="channels_last"),
            kf.layer("Activation", "act_softmax", activation="softmax"),
            kf.layer("Reshape", "reshape_2", target_shape=[c])]
        names = [l["config"]["name"] for l in layers]
        cfg = kf.functional([kf.node(layers[0])] + [kf.node(l, p) for l, p in
                                                    zip(layers[1:], names)], ["input_1"],
                            ["reshape_2"])
        w = {"dw": _w(3, 3, 3, 1), "g": 1 + _w(3, scale=0.1), "b": _w(3, scale=0.1),
             "m": _w(3, scale=0.1), "v": RNG.uniform(0.5, 1.5, 3).astype(np.float32),
             "k": _w(1, 1, 3, c), "kb": _w(c)}
        weights = [("input_1", []), ("conv_dw_1", [("conv_dw_1/depthwise_kernel", w["dw"])]),
                   ("conv_dw_1_bn", [("conv_dw_1_bn/gamma", w["g"]), ("conv_dw_1_bn/beta", w["b"]),
                                     ("conv_dw_1_bn/moving_mean", w["m"]),
                                     ("conv_dw_1_bn/moving_variance", w["v"])]),
                   ("conv_dw_1_relu", []), ("global_average_pooling2d_1", []),
                   ("reshape_1", []), ("dropout", []),
                   ("conv_preds", [("conv_preds/kernel", w["k"]), ("conv_preds/bias", w["kb"])]),
                   ("act_softmax", []), ("reshape_2", [])]
        kf.write_model(self.path("mobilenet.h5"), cfg, weights, keras_version=version)
        return w

    def mobilenet_reference(self, w, x):
        # depthwise conv 'same' 3x3 (Keras 2.2's Theano depthwise_conv2d pre-flips the kernel:
        # a cross-correlation per channel), BN, relu6, mean over H, W, 1x1 conv + bias,
        # softmax over the last axis of (1, 1, classes)
        xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        d = sum(xp[:, i:i + 5, j:j + 5, :] * w["dw"][i, j, :, 0] for i in range(3)
                for j in range(3))
        d = batchnorm(d, w["g"], w["b"], w["m"], w["v"], 1e-3, 3)
        d = np.clip(d, 0, 6)
        g = d.mean(axis=(1, 2))
        z = g @ w["k"][0, 0].astype(np.float64) + w["kb"]
        return softmax_last(z.reshape(len(x), 1, 1, -1)).reshape(len(x), -1)

    def test_mobilenet_tail_keras_2_2_4(self):
        w = self.mobilenet_tail("2.2.4")
        b = self.build(self.path("mobilenet.h5"))
        ops = [l["op"] for l in b.layers]
        # ReLU(6.) on Keras >= 2.2.3: K.relu = T.nnet.relu then T.clip(x, 0, 6)
        self.assertIn("clip", ops)
        # Activation('softmax') on a rank-4 tensor: e = exp(x - max(x, -1)); e / sum(e, -1)
        self.assertEqual(ops[-6:], ["max", "sub", "exp", "sum", "true_div", "reshape"])
        self.assertEqual(b.layers[-6]["attrs"], {"axis": [3], "keepdims": True})
        x = RNG.standard_normal((2, 5, 5, 3))
        np.testing.assert_allclose(self.run_built(b, x), self.mobilenet_reference(w, x), **F32)

    def test_mobilenet_tail_keras_2_1_relu6_activation(self):
        # Keras 2.1.x MobileNet: Activation(relu6), relu6 = K.relu(x, max_value=6)
        # = T.nnet.relu, then T.minimum(x, 6) before Keras 2.2.3.
        w = self.mobilenet_tail("2.1.6", relu="activation")
        b = self.build(self.path("mobilenet.h5"))
        ops = [l["op"] for l in b.layers]
        self.assertIn("minimum", ops)
        x = RNG.standard_normal((2, 5, 5, 3))
        np.testing.assert_allclose(self.run_built(b, x), self.mobilenet_reference(w, x), **F32)

    def test_softmax_of_higher_ranks_per_keras_version(self):
        # Keras 2 Softmax(axis=1) on a channels_first map: a per-pixel softmax over channels.
        cfg = kf.sequential([kf.conv2d("c", 4, (1, 1), batch_input_shape=[None, 2, 3, 3]),
                             kf.layer("Softmax", "s", axis=1)])
        k, bias = _w(1, 1, 2, 4), _w(4)
        kf.write_model(self.path("m.h5"), cfg, [("c", [("c/kernel", k), ("c/bias", bias)]),
                                                ("s", [])], keras_version="2.1.6")
        b = self.build(self.path("m.h5"))
        self.assertEqual(b.layers[-5]["attrs"], {"axis": [1], "keepdims": True})
        x = RNG.standard_normal((2, 2, 3, 3))
        z = np.einsum("nchw,co->nohw", x, k[0, 0]) + bias.reshape(1, -1, 1, 1)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        np.testing.assert_allclose(self.run_built(b, x), e / e.sum(axis=1, keepdims=True), **F32)
        # Keras 1's softmax takes rank 2 or 3 only (it raised for a 4-D tensor)
        cfg1 = {"class_name": "Sequential", "config": [
            {"class_name": "Activation", "config": {"name": "a", "activation": "softmax",
                                                    "batch_input_shape": [None, 2, 3, 3]}}]}
        kf.write_model(self.path("k1.h5"), cfg1, [("a", [])], keras_version="1.2.2",
                       backend=None)
        with self.assertRaisesRegex(ImporterError, r'Activation "a": Keras 1 cannot apply '
                                    r'softmax to a tensor of rank 4'):
            self.build(self.path("k1.h5"))

    def test_leaky_relu_follows_the_keras_2_2_3_change_of_k_relu(self):
        # Keras <= 2.2.2: K.relu(x, alpha) = T.nnet.relu(x, alpha); 2.2.3+:
        # T.nnet.relu(x) - alpha * T.nnet.relu(-x). Same values, different Theano ops.
        cfg = kf.sequential([kf.layer("LeakyReLU", "lr", alpha=0.3,
                                      batch_input_shape=[None, 7])])
        x = RNG.standard_normal((3, 7))
        want = np.where(x > 0, x, 0.3 * x)
        for version, ops in (("2.0.8", ["relu"]),
                             ("2.2.4", ["relu", "neg", "relu", "mul", "sub"])):
            kf.write_model(self.path("m.h5"), cfg, [("lr", [])], keras_version=version)
            b = self.build(self.path("m.h5"))
            self.assertEqual([l["op"] for l in b.layers], ops, version)
            np.testing.assert_allclose(self.run_built(b, x), want, **F32)

    # -- ResNet50 / InceptionV3 blocks ---------------------------------------------------------
    def test_resnet50_identity_block_keras_2_2_4(self):
        # keras_applications resnet50 (Keras 2.2.4), channels_first: conv1_pad, conv1 (valid,
        # stride 1 here), bn_conv1 (axis=1), relu, pool1_pad + MaxPooling2D((3, 3), (2, 2)),
        # one identity block (1x1, 3x3 'same', 1x1, add, relu), avg_pool (global), fc1000.
        L = kf.layer
        layers = [
            L("InputLayer", "input_1", batch_input_shape=[None, 3, 8, 8]),
            L("ZeroPadding2D", "conv1_pad", padding=[[3, 3], [3, 3]],
              data_format="channels_first"),
            kf.conv2d("conv1", 4, (7, 7)),
            L("BatchNormalization", "bn_conv1", axis=1, epsilon=1e-3, center=True, scale=True),
            L("Activation", "activation_1", activation="relu"),
            L("ZeroPadding2D", "pool1_pad", padding=[[1, 1], [1, 1]],
              data_format="channels_first"),
            L("MaxPooling2D", "max_pooling2d_1", pool_size=[3, 3], strides=[2, 2],
              padding="valid", data_format="channels_first"),
            kf.conv2d("res2b_branch2a", 2, (1, 1)),
            L("Activation", "activation_2", activation="relu"),
            kf.conv2d("res2b_branch2b", 2, (3, 3), padding="same"),
            L("Activation", "activation_3", activation="relu"),
            kf.conv2d("res2b_branch2c", 4, (1, 1)),
            L("Add", "add_1"),
            L("Activation", "activation_4", activation="relu"),
            L("GlobalAveragePooling2D", "avg_pool", data_format="channels_first"),
            kf.dense("fc1000", 5, activation="softmax")]
        names = [l["config"]["name"] for l in layers]
        inbound = {n: [p] for n, p in zip(names[1:], names)}
        inbound["add_1"] = ["res2b_branch2c", "max_pooling2d_1"]
        cfg = kf.functional([kf.node(layers[0])] + [kf.node(l, *inbound[n]) for l, n in
                                                    zip(layers[1:], names[1:])],
                            ["input_1"], ["fc1000"])
        W = {"conv1": (_w(7, 7, 3, 4, scale=0.1), _w(4)),
             "res2b_branch2a": (_w(1, 1, 4, 2), _w(2)), "res2b_branch2b": (_w(3, 3, 2, 2), _w(2)),
             "res2b_branch2c": (_w(1, 1, 2, 4), _w(4)), "fc1000": (_w(4, 5), _w(5))}
        bn = (1 + _w(4, scale=0.1), _w(4, scale=0.1), _w(4, scale=0.1),
              RNG.uniform(0.5, 1.5, 4).astype(np.float32))
        weights = []
        for n in names:
            if n in W:
                weights.append((n, [(n + "/kernel", W[n][0]), (n + "/bias", W[n][1])]))
            elif n == "bn_conv1":
                weights.append((n, [(n + "/" + k, a) for k, a in zip(
                    ("gamma", "beta", "moving_mean", "moving_variance"), bn)]))
            else:
                weights.append((n, []))
        kf.write_model(self.path("resnet.h5"), cfg, weights, keras_version="2.2.4")
        b = self.build(self.path("resnet.h5"))
        x = RNG.standard_normal((2, 3, 8, 8))
        k, kb = W["conv1"]
        h = theano_conv2d(x, k.transpose(3, 2, 0, 1).astype(np.float64), [(3, 3), (3, 3)])
        h = np.maximum(batchnorm(h + kb.reshape(1, -1, 1, 1), *bn, 1e-3, 1), 0)
        hp = np.pad(h, ((0, 0), (0, 0), (1, 1), (1, 1)))   # zeros, then max over 3x3 / 2
        p = np.stack([np.stack([hp[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(2, 3))
                                for j in range(4)], -1) for i in range(4)], -2)
        r = np.maximum(conv_same(p, *W["res2b_branch2a"]), 0)
        r = np.maximum(conv_same(r, *W["res2b_branch2b"]), 0)
        r = np.maximum(conv_same(r, *W["res2b_branch2c"]) + p, 0)
        want = softmax_last(r.mean(axis=(2, 3)) @ W["fc1000"][0] + W["fc1000"][1])
        np.testing.assert_allclose(self.run_built(b, x), want, **F32)

    def test_inception_v3_branches(self):
        # conv2d_bn (Keras 2.2.4): Conv2D(use_bias=False) + BatchNormalization(axis=1,
        # scale=False) + relu; a branch AveragePooling2D((3, 3), strides=(1, 1), 'same')
        # (average_exc_pad since 2.1.5); layers.concatenate([...], axis=1).
        L = kf.layer
        layers = [L("InputLayer", "input_1", batch_input_shape=[None, 3, 5, 5]),
                  kf.conv2d("conv2d_1", 2, (1, 1), use_bias=False),
                  L("BatchNormalization", "batch_normalization_1", axis=1, epsilon=1e-3,
                    center=True, scale=False),
                  L("Activation", "activation_1", activation="relu"),
                  L("AveragePooling2D", "average_pooling2d_1", pool_size=[3, 3],
                    strides=[1, 1], padding="same", data_format="channels_first"),
                  L("Concatenate", "mixed0", axis=1),
                  L("GlobalAveragePooling2D", "avg_pool", data_format="channels_first"),
                  kf.dense("predictions", 3, activation="softmax")]
        inbound = {"conv2d_1": ["input_1"], "batch_normalization_1": ["conv2d_1"],
                   "activation_1": ["batch_normalization_1"],
                   "average_pooling2d_1": ["input_1"],
                   "mixed0": ["activation_1", "average_pooling2d_1"], "avg_pool": ["mixed0"],
                   "predictions": ["avg_pool"]}
        cfg = kf.functional([kf.node(layers[0])] + [
            kf.node(l, *inbound[l["config"]["name"]]) for l in layers[1:]], ["input_1"],
            ["predictions"])
        k, beta, mean = _w(1, 1, 3, 2), _w(2, scale=0.1), _w(2, scale=0.1)
        var = RNG.uniform(0.5, 1.5, 2).astype(np.float32)
        dk, db = _w(5, 3), _w(3)
        kf.write_model(self.path("inc.h5"), cfg, [
            ("input_1", []), ("conv2d_1", [("conv2d_1/kernel", k)]),
            ("batch_normalization_1", [("batch_normalization_1/beta", beta),
                                       ("batch_normalization_1/moving_mean", mean),
                                       ("batch_normalization_1/moving_variance", var)]),
            ("activation_1", []), ("average_pooling2d_1", []), ("mixed0", []),
            ("avg_pool", []), ("predictions", [("predictions/kernel", dk),
                                               ("predictions/bias", db)])],
            keras_version="2.2.4")
        b = self.build(self.path("inc.h5"))
        x = RNG.standard_normal((2, 3, 5, 5))
        a = np.maximum(batchnorm(conv_same(x, k), None, beta, mean, var, 1e-3, 1), 0)
        m = np.concatenate([a, avg_pool_same_3x3_s1_exc(x)], axis=1)
        want = softmax_last(m.mean(axis=(2, 3)) @ dk + db)
        np.testing.assert_allclose(self.run_built(b, x), want, **F32)

    def test_upsampling_decoder_keras_1_and_2(self):
        # The Keras blog's convolutional autoencoder decoder: Conv2D 'same' + UpSampling2D((2, 2))
        # -> K.resize_images = repeat_elements on rows then columns (np.repeat).
        x = RNG.standard_normal((2, 3, 2, 3))
        k, kb = _w(3, 3, 3, 2), _w(2)
        want = conv_same(x.repeat(2, axis=2).repeat(3, axis=3), k, kb)
        cfg2 = kf.sequential([
            kf.layer("UpSampling2D", "up_sampling2d_1", size=[2, 3],
                     data_format="channels_first", interpolation="nearest",
                     batch_input_shape=[None, 3, 2, 3]),
            kf.conv2d("conv2d_1", 2, (3, 3), padding="same")])
        kf.write_model(self.path("k2.h5"), cfg2, [("up_sampling2d_1", []), (
            "conv2d_1", [("conv2d_1/kernel", k), ("conv2d_1/bias", kb)])],
            keras_version="2.2.4")
        b = self.build(self.path("k2.h5"))
        self.assertEqual([l["op"] for l in b.layers][:3], ["reshape", "mul", "reshape"])
        np.testing.assert_allclose(self.run_built(b, x), want, **F32)
        cfg1 = {"class_name": "Sequential", "config": [
            {"class_name": "UpSampling2D", "config": {"name": "u", "size": [2, 3],
                                                      "dim_ordering": "th",
                                                      "batch_input_shape": [None, 3, 2, 3]}},
            {"class_name": "Convolution2D", "config": {
                "name": "c", "nb_filter": 2, "nb_row": 3, "nb_col": 3, "border_mode": "same",
                "subsample": [1, 1], "dim_ordering": "th", "bias": True,
                "activation": "linear"}}]}
        kf.write_model(self.path("k1.h5"), cfg1, [("u", []), (
            "c", [("c_W", k.transpose(3, 2, 0, 1).copy()), ("c_b", kb)])],
            keras_version="1.2.2", backend=None)
        np.testing.assert_allclose(self.run_built(self.build(self.path("k1.h5")), x), want,
                                   **F32)
        # channels_last
        cfg_l = kf.sequential([kf.layer("UpSampling2D", "u", size=[2, 3],
                                        data_format="channels_last",
                                        batch_input_shape=[None, 2, 3, 3]),
                               kf.conv2d("c", 2, (3, 3), padding="same",
                                         data_format="channels_last")])
        kf.write_model(self.path("kl.h5"), cfg_l, [("u", []), ("c", [("c/kernel", k),
                                                                    ("c/bias", kb)])])
        y = self.run_built(self.build(self.path("kl.h5")), x.transpose(0, 2, 3, 1))
        np.testing.assert_allclose(y, want.transpose(0, 2, 3, 1), **F32)
        cfg2["config"][0]["config"]["interpolation"] = "bilinear"
        kf.write_model(self.path("bl.h5"), cfg2, [("up_sampling2d_1", []), (
            "conv2d_1", [("conv2d_1/kernel", k), ("conv2d_1/bias", kb)])],
            keras_version="2.2.4")
        with self.assertRaisesRegex(ImporterError, r'UpSampling2D "up_sampling2d_1": '
                                    r"interpolation 'bilinear' is not supported"):
            self.build(self.path("bl.h5"))

    # -- HDF5 forms ----------------------------------------------------------------------------
    def test_str_attributes_and_split_layer_names(self):
        # Keras 2.1+ saving.py: save_attributes_to_hdf5_group splits a name list bigger than
        # HDF5's 64512-byte header limit into layer_names0, layer_names1, ...; files written
        # from Python 3 with h5py may hold str attributes instead of bytes.
        n = 1200
        names = ["dense_with_a_rather_long_name_%05d_abcdefghijklmnopqrstuvwxyz" % k
                 for k in range(n)]
        layers = [kf.dense(names[0], 3, batch_input_shape=[None, 4])] + [
            kf.layer("Activation", nm, activation="linear") for nm in names[1:]]
        cfg = kf.sequential(layers)
        arr = np.array([s.encode() for s in names])
        chunks = np.array_split(arr, 2)
        self.assertTrue(arr.nbytes > 64512 and all(c.nbytes <= 64512 for c in chunks))
        wk, wb = _w(4, 3), _w(3)
        with h5py.File(self.path("big.h5"), "w") as f:
            f.attrs["keras_version"] = "2.2.4"          # str, not bytes
            f.attrs["backend"] = "theano"
            f.attrs["model_config"] = json.dumps(cfg)
            g = f.create_group("model_weights")
            for k, c in enumerate(chunks):
                g.attrs["layer_names%d" % k] = c
            for nm in names:
                lg = g.create_group(nm)
                if nm == names[0]:
                    lg.attrs["weight_names"] = [nm + "/kernel", nm + "/bias"]   # str list
                    lg.create_dataset(nm + "/kernel", data=wk)
                    lg.create_dataset(nm + "/bias", data=wb)
                else:
                    lg.attrs["weight_names"] = np.zeros((0,), "S1")
        b = self.build(self.path("big.h5"))
        self.assertEqual(b.layers[0]["op"], "dense")
        np.testing.assert_array_equal(b.params[names[0] + ".kernel"], wk)


if __name__ == "__main__":
    unittest.main()
