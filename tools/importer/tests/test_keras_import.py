"""The Keras frontend on small files written here with h5py (tests/keras_files.py): errors,
backends, layouts and the formulas whose Theano-backend form differs from other ports.

Expected numbers are computed here with numpy from the formulas in Keras' Theano backend
(cited per test); the imported model is run by the engine (`theano-serving-model predict`,
reference kernels) when THEANO_SERVING_BIN_DIR points at a build's bin/ (ctest sets it); without
it those checks are skipped.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import numpy as np

from theano_serving_import import cli, keras_import
from theano_serving_import.errors import ImporterError
from tests import keras_files as kf

try:
    import h5py  # noqa: F401
    HAVE_H5PY = True
except ImportError:
    HAVE_H5PY = False

RNG = np.random.RandomState(15)


# The engine computes a float32 model in float32; the formulas here are evaluated in float64.
F32 = dict(rtol=1e-5, atol=1e-6)


def run_model(model_dir, x):
    """The engine's output for the batch x (reference kernels), in the model's output shape."""
    bin_dir = os.environ.get("THEANO_SERVING_BIN_DIR", "")
    tool = os.path.join(bin_dir, "theano-serving-model")
    if not bin_dir or not os.access(tool, os.X_OK):
        raise unittest.SkipTest("needs the engine: set THEANO_SERVING_BIN_DIR to a build's bin/ "
                                "(ctest sets it)")
    with tempfile.TemporaryDirectory() as tmp:
        xpath = os.path.join(tmp, "x.npy")
        np.save(xpath, np.asarray(x))
        proc = subprocess.run([tool, "predict", model_dir, "--json", xpath, "--engine",
                               "reference"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=300)
        if proc.returncode != 0:
            raise AssertionError("predict failed: %s" % proc.stderr.strip())
        flat = np.array([r["output"] for r in json.loads(proc.stdout)], np.float64)
    info = subprocess.run([tool, "inspect", model_dir], stdout=subprocess.PIPE,
                          universal_newlines=True, timeout=300).stdout
    m = re.search(r"^output \(N, ([0-9, ]+)\)", info, re.M)
    shape = tuple(int(d) for d in m.group(1).split(",") if d.strip()) if m else (-1,)
    return flat.reshape((len(flat),) + shape)


def theano_conv2d(x, w, pads, flip=True):
    """Theano's conv2d (CorrMM) in numpy: zero padding [(top, bottom), (left, right)], then a
    true convolution (filter_flip) over every window; w is (out, in, rows, cols)."""
    if flip:
        w = w[:, :, ::-1, ::-1]
    xp = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
    n, c, h, wd = xp.shape
    o, _, kh, kw = w.shape
    out = np.zeros((n, o, h - kh + 1, wd - kw + 1))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + h - kh + 1, j:j + wd - kw + 1],
                             w[:, :, i, j])
    return out


def _w(*shape):
    return RNG.standard_normal(shape).astype(np.float32) * 0.5


@unittest.skipUnless(HAVE_H5PY, "python3-h5py is not installed")
class KerasImportTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="keras-test-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def build(self, *argv):
        args = cli.make_parser(["keras"]).parse_args(["keras"] + list(argv) +
                                                     ["--out", self.path("out")])
        return keras_import.build(args)

    def write_and_run(self, builder, x, name="model"):
        out = self.path(name)
        builder.write(out)
        return run_model(out, x)

    # -- a small Keras 2 CNN used by several tests ---------------------------------------------
    def small_cnn(self, backend="theano", version="2.0.8", kernel=(3, 3), padding="same"):
        config = kf.sequential([
            kf.conv2d("conv2d_1", 4, kernel, padding=padding, activation="relu",
                      batch_input_shape=[None, 3, 6, 5]),
            kf.layer("Flatten", "flatten_1"),
            kf.dense("dense_1", 2, activation="softmax")])
        weights = [("conv2d_1", [("conv2d_1/kernel", _w(kernel[0], kernel[1], 3, 4)),
                                 ("conv2d_1/bias", _w(4))]),
                   ("flatten_1", []),
                   ("dense_1", [("dense_1/kernel", _w(4 * 6 * 5, 2)),
                                ("dense_1/bias", _w(2))])]
        path = self.path("cnn.h5")
        kf.write_model(path, config, weights, keras_version=version, backend=backend)
        return path

    # -- errors ----------------------------------------------------------------------------------
    def test_unsupported_layer_is_refused_naming_it_and_the_supported_list(self):
        config = kf.sequential([
            kf.dense("dense_1", 4, batch_input_shape=[None, 3]),
            kf.layer("LSTM", "lstm_1", units=2)])
        kf.write_model(self.path("m.h5"), config,
                       [("dense_1", [("dense_1/kernel", _w(3, 4)), ("dense_1/bias", _w(4))]),
                        ("lstm_1", [])])
        with self.assertRaisesRegex(ImporterError, r'unsupported layer LSTM "lstm_1" '
                                    r'\(Keras 2\); supported: .*Conv2D.*Dense'):
            self.build(self.path("m.h5"))

    def test_lambda_layer_says_its_code_is_not_in_the_file(self):
        config = kf.sequential([kf.layer("Lambda", "lambda_1", batch_input_shape=[None, 3],
                                         function="...")])
        kf.write_model(self.path("m.h5"), config, [("lambda_1", [])])
        with self.assertRaisesRegex(ImporterError, r'Lambda "lambda_1".*Python code is not '
                                    r'in the file'):
            self.build(self.path("m.h5"))

    def test_model_file_without_weights(self):
        kf.write_model(self.path("m.h5"), kf.sequential([kf.dense("d", 2,
                       batch_input_shape=[None, 3])]), [], with_weights=False)
        with self.assertRaisesRegex(ImporterError, r"m\.h5 has no model_weights: .*--weights"):
            self.build(self.path("m.h5"))

    def test_weights_only_file_given_as_the_model(self):
        kf.write_weights_file(self.path("w.h5"), [("d", [("d/kernel", _w(3, 2))])])
        with self.assertRaisesRegex(ImporterError, r"w\.h5 holds only weights "
                                    r"\(model.save_weights\).*ARCH\.json --weights"):
            self.build(self.path("w.h5"))

    def test_architecture_json_needs_weights(self):
        with open(self.path("arch.json"), "w") as f:
            json.dump(kf.sequential([kf.dense("d", 2, batch_input_shape=[None, 3])]), f)
        with self.assertRaisesRegex(ImporterError, r"arch\.json is an architecture only.*"
                                    r"needs --weights"):
            self.build(self.path("arch.json"))

    def test_mismatched_kernel_shape_names_layer_file_and_shapes(self):
        config = kf.sequential([kf.conv2d("conv2d_3", 16, (3, 3),
                                          batch_input_shape=[None, 8, 10, 10])])
        kf.write_model(self.path("m.h5"), config, [("conv2d_3", [
            ("conv2d_3/kernel", _w(3, 3, 16, 16)), ("conv2d_3/bias", _w(16))])])
        with self.assertRaisesRegex(ImporterError, re_escape(
                'Conv2D "conv2d_3": m.h5 layer "conv2d_3" has kernel (conv2d_3/kernel) of '
                'shape (3, 3, 16, 16), the config expects (3, 3, 8, 16)')):
            self.build(self.path("m.h5"))

    def test_missing_bias_array_is_counted(self):
        config = kf.sequential([kf.dense("dense_1", 2, batch_input_shape=[None, 3])])
        kf.write_model(self.path("m.h5"), config, [("dense_1", [("dense_1/kernel", _w(3, 2))])])
        with self.assertRaisesRegex(ImporterError, r'Dense "dense_1": m\.h5 layer "dense_1" '
                                    r'has 1 weight array\(s\) \(dense_1/kernel\) for this '
                                    r'layer, the config expects 2 \(kernel, bias\)'):
            self.build(self.path("m.h5"))

    def test_weights_for_another_model(self):
        with open(self.path("arch.json"), "w") as f:
            json.dump(kf.sequential([kf.dense("a", 4, batch_input_shape=[None, 3]),
                                     kf.dense("b", 2)]), f)
        kf.write_weights_file(self.path("w.h5"), [("a", [("a/kernel", _w(3, 4)),
                                                         ("a/bias", _w(4))])])
        with self.assertRaisesRegex(ImporterError, r"w\.h5 has weights for 1 layers \(a\) but "
                                    r"the architecture has 2 layers with weights \(a, b\)"):
            self.build(self.path("arch.json"), "--weights", self.path("w.h5"))

    def test_truncated_hdf5_file(self):
        good = self.small_cnn()
        with open(good, "rb") as f:
            data = f.read()
        with open(self.path("cut.h5"), "wb") as f:
            f.write(data[:len(data) // 2])
        with self.assertRaisesRegex(ImporterError, r"cut\.h5.*(not a readable HDF5 file|HDF5 "
                                    r"read error).*truncated or damaged"):
            self.build(self.path("cut.h5"))

    def test_not_an_hdf5_file(self):
        with open(self.path("junk.h5"), "wb") as f:
            f.write(b"\x89HDF but not really" * 10)
        with self.assertRaisesRegex(ImporterError, r"junk\.h5 is not a readable HDF5 file"):
            self.build(self.path("junk.h5"))

    def test_missing_h5py_is_a_clear_message(self):
        path = self.small_cnn()
        with mock.patch.dict(sys.modules, {"h5py": None}):
            with self.assertRaisesRegex(ImporterError, r"the keras importer needs h5py: "
                                        r"apt-get install python3-h5py"):
                self.build(path)

    def test_keras1_batchnorm_mode2_is_refused(self):
        config = {"class_name": "Sequential", "config": [
            {"class_name": "BatchNormalization", "config": {
                "name": "bn", "batch_input_shape": [None, 4], "mode": 2, "axis": -1,
                "epsilon": 1e-3}}]}
        kf.write_model(self.path("m.h5"), config, [("bn", [
            ("bn_gamma", _w(4)), ("bn_beta", _w(4)), ("bn_running_mean", _w(4)),
            ("bn_running_std", np.ones(4, np.float32))])], keras_version="1.2.2", backend=None)
        with self.assertRaisesRegex(ImporterError, r'BatchNormalization "bn": mode 2 is not '
                                    r'supported.*batch\'s statistics'):
            self.build(self.path("m.h5"))

    def test_unknown_input_sizes_need_input_shape(self):
        config = kf.sequential([
            kf.conv2d("c", 2, (3, 3), padding="same", batch_input_shape=[None, 3, None, None]),
            kf.layer("GlobalAveragePooling2D", "g", data_format="channels_first")])
        kf.write_model(self.path("m.h5"), config,
                       [("c", [("c/kernel", _w(3, 3, 3, 2)), ("c/bias", _w(2))]), ("g", [])])
        with self.assertRaisesRegex(ImporterError, r"input \(3, 'None', 'None'\) has unknown "
                                    r"sizes; give them with --input-shape"):
            self.build(self.path("m.h5"))
        b = self.build(self.path("m.h5"), "--input-shape", "3,7,9")
        self.assertEqual(b.input["shape"], [3, 7, 9])
        with self.assertRaisesRegex(ImporterError, r"--input-shape \(4, 7, 9\) does not fit"):
            self.build(self.path("m.h5"), "--input-shape", "4,7,9")

    def test_two_outputs_are_refused(self):
        config = kf.functional([
            kf.node(kf.layer("InputLayer", "in", batch_input_shape=[None, 3])),
            kf.node(kf.dense("a", 2), "in"), kf.node(kf.dense("b", 2), "in")],
            ["in"], ["a", "b"])
        kf.write_model(self.path("m.h5"), config, [
            ("in", []), ("a", [("a/kernel", _w(3, 2)), ("a/bias", _w(2))]),
            ("b", [("b/kernel", _w(3, 2)), ("b/bias", _w(2))])])
        with self.assertRaisesRegex(ImporterError, r"1 inputs and 2 outputs; only one input "
                                    r"and one output"):
            self.build(self.path("m.h5"))

    # -- backends --------------------------------------------------------------------------------
    def test_theano_backend_flips(self):
        b = self.build(self.small_cnn())
        conv = [l for l in b.layers if l["op"] == "conv2d"][0]
        self.assertIs(conv["attrs"]["filter_flip"], True)
        self.assertEqual(b.notes, [])

    def test_tensorflow_backend_is_cross_correlation_and_says_so(self):
        b = self.build(self.small_cnn(backend="tensorflow", kernel=(2, 2)))
        conv = [l for l in b.layers if l["op"] == "conv2d"][0]
        self.assertIs(conv["attrs"]["filter_flip"], False)
        text = "\n".join(b.notes)
        self.assertIn("saved with the tensorflow backend, whose convolutions are "
                      "cross-correlations: imported with filter_flip=false", text)
        self.assertIn("layers conv2d_1 use padding='same' with an even size", text)

    def test_keras1_file_without_backend_is_theano_unless_told(self):
        config = {"class_name": "Sequential", "config": [
            {"class_name": "Convolution2D", "config": {
                "name": "c", "batch_input_shape": [None, 1, 5, 5], "nb_filter": 2, "nb_row": 3,
                "nb_col": 3, "border_mode": "valid", "subsample": [1, 1],
                "dim_ordering": "th", "bias": True, "activation": "linear"}}]}
        kf.write_model(self.path("k1.h5"), config, [("c", [("c_W", _w(2, 1, 3, 3)),
                                                            ("c_b", _w(2))])],
                       keras_version="1.2.2", backend=None)
        b = self.build(self.path("k1.h5"))
        self.assertIs(b.layers[0]["attrs"]["filter_flip"], True)
        self.assertRegex(b.notes[0], r"does not record its Keras backend \(Keras 1\): taken "
                                     r"as Theano")
        b = self.build(self.path("k1.h5"), "--backend", "tensorflow")
        self.assertIs(b.layers[0]["attrs"]["filter_flip"], False)
        self.assertEqual(b.source["backend"], "tensorflow")

    def test_backend_option_cannot_contradict_the_file(self):
        with self.assertRaisesRegex(ImporterError, r"records backend 'theano', but --backend "
                                    r"tensorflow was given"):
            self.build(self.small_cnn(), "--backend", "tensorflow")

    def test_true_convolution_numbers(self):
        # Theano's conv2d with filter_flip=True: out[y, x] = sum w[i, j] x[y + 2 - i, x + 2 - j]
        # for a 3x3 'valid' kernel; checked by hand-rolled loops on a one-channel image.
        config = kf.sequential([kf.conv2d("c", 1, (3, 3), use_bias=False,
                                          batch_input_shape=[None, 1, 4, 5])])
        k = _w(3, 3, 1, 1)
        kf.write_model(self.path("m.h5"), config, [("c", [("c/kernel", k)])])
        x = RNG.standard_normal((1, 1, 4, 5))
        y = self.write_and_run(self.build(self.path("m.h5")), x)
        want = np.zeros((2, 3))
        for r in range(2):
            for c in range(3):
                want[r, c] = sum(k[i, j, 0, 0] * x[0, 0, r + 2 - i, c + 2 - j]
                                 for i in range(3) for j in range(3))
        np.testing.assert_allclose(y[0, 0], want, **F32)

    # -- layouts -----------------------------------------------------------------------------------
    def test_channels_last_model_equals_its_channels_first_twin(self):
        # The same network and weights (Keras 2 kernels do not depend on data_format), once
        # channels_first and once channels_last, on transposed inputs: identical outputs.
        def model(fmt, shape):
            axis = 1 if fmt == "channels_first" else -1
            return kf.sequential([
                kf.conv2d("c1", 4, (3, 3), padding="same", activation="relu",
                          data_format=fmt, batch_input_shape=[None] + shape),
                kf.conv2d("c2", 5, (2, 2), padding="same", strides=(2, 2), data_format=fmt),
                kf.layer("LeakyReLU", "lr", alpha=0.1),
                kf.layer("MaxPooling2D", "mp", pool_size=[3, 3], strides=[2, 2],
                         padding="same", data_format=fmt),
                kf.layer("BatchNormalization", "bn", axis=axis, epsilon=1e-3, center=True,
                         scale=True),
                kf.layer("ZeroPadding2D", "zp", padding=[[1, 0], [0, 2]], data_format=fmt),
                kf.layer("AveragePooling2D", "ap", pool_size=[2, 2], strides=[1, 1],
                         padding="same", data_format=fmt),
                kf.layer("GlobalAveragePooling2D", "gap", data_format=fmt),
                kf.dense("d", 3, activation="softmax")])
        weights = [("c1", [("c1/kernel", _w(3, 3, 3, 4)), ("c1/bias", _w(4))]),
                   ("c2", [("c2/kernel", _w(2, 2, 4, 5)), ("c2/bias", _w(5))]),
                   ("lr", []), ("mp", []),
                   ("bn", [("bn/gamma", _w(5)), ("bn/beta", _w(5)), ("bn/moving_mean", _w(5)),
                           ("bn/moving_variance", np.abs(_w(5)) + 0.5)]),
                   ("zp", []), ("ap", []), ("gap", []),
                   ("d", [("d/kernel", _w(5, 3)), ("d/bias", _w(3))])]
        kf.write_model(self.path("cf.h5"), model("channels_first", [3, 9, 11]), weights)
        kf.write_model(self.path("cl.h5"), model("channels_last", [9, 11, 3]), weights)
        x = RNG.standard_normal((2, 3, 9, 11))
        bf = self.build(self.path("cf.h5"))
        yf = self.write_and_run(bf, x)
        bl = self.build(self.path("cl.h5"))
        self.assertEqual(bl.input, {"shape": [9, 11, 3], "image_layout": "HWC"})
        self.assertNotIn("image_layout", bf.input)
        out = self.path("cl_model")
        bl.write(out)
        yl = run_model(out, np.transpose(x, (0, 2, 3, 1)))
        np.testing.assert_allclose(yl, yf, rtol=1e-10, atol=1e-12)
        # The channels_last twin runs on NCHW throughout: one dimshuffle in, one back before
        # the global pooling (which Keras computes on the NHWC tensor).
        shuffles = [l["attrs"]["pattern"] for l in bl.layers if l["op"] == "dimshuffle"]
        self.assertEqual(shuffles, [[0, 3, 1, 2], [0, 2, 3, 1]])

    def test_keras1_tf_ordering_kernel_layout(self):
        # Keras 1 dim_ordering 'tf' stores (rows, cols, in, out); 'th' stores (out, in, rows,
        # cols). The same kernel in both layouts gives the same numbers.
        def config(ordering, shape):
            return {"class_name": "Sequential", "config": [
                {"class_name": "Convolution2D", "config": {
                    "name": "c", "batch_input_shape": [None] + shape, "nb_filter": 2,
                    "nb_row": 2, "nb_col": 3, "border_mode": "same", "subsample": [1, 1],
                    "dim_ordering": ordering, "bias": True, "activation": "tanh"}},
                {"class_name": "Flatten", "config": {"name": "f"}}]}
        k_th, bias = _w(2, 3, 2, 3), _w(2)
        kf.write_model(self.path("th.h5"), config("th", [3, 5, 4]),
                       [("c", [("c_W", k_th), ("c_b", bias)]), ("f", [])],
                       keras_version="1.2.2", backend=None)
        kf.write_model(self.path("tf.h5"), config("tf", [5, 4, 3]),
                       [("c", [("c_W", np.transpose(k_th, (2, 3, 1, 0))), ("c_b", bias)]),
                        ("f", [])], keras_version="1.2.2", backend=None)
        x = RNG.standard_normal((2, 3, 5, 4))
        y_th = self.write_and_run(self.build(self.path("th.h5")), x)
        out = self.path("tf_model")
        self.build(self.path("tf.h5")).write(out)
        y_tf = run_model(out, np.transpose(x, (0, 2, 3, 1)))
        # flatten order differs (C,H,W vs H,W,C): compare after reordering
        np.testing.assert_allclose(y_tf.reshape(2, 5, 4, 2).transpose(0, 3, 1, 2).reshape(2, -1),
                                   y_th, rtol=1e-10)

    # -- formulas ----------------------------------------------------------------------------------
    def test_batchnorm_epsilon_below_theano_minimum_uses_the_old_backend_formula(self):
        config = kf.sequential([kf.layer("BatchNormalization", "bn", axis=-1, epsilon=1e-5,
                                         center=True, scale=True,
                                         batch_input_shape=[None, 4])])
        g, b, m, v = _w(4), _w(4), _w(4), np.abs(_w(4)) + 0.1
        kf.write_model(self.path("m.h5"), config, [("bn", [
            ("bn/gamma", g), ("bn/beta", b), ("bn/moving_mean", m), ("bn/moving_variance", v)])])
        builder = self.build(self.path("m.h5"))
        self.assertEqual([l["op"] for l in builder.layers], ["sub", "true_div", "mul", "add"])
        self.assertRegex(builder.notes[0], r"epsilon 1e-05 is below the 1e-5")
        x = RNG.standard_normal((3, 4))
        # theano_backend._old_batch_normalization: batch_normalization(x, gamma, beta, mean,
        # sqrt(var + epsilon)) = (x - mean) / std * gamma + beta
        want = (x - m) / np.sqrt(v.astype(np.float64) + np.float32(1e-5)) * g + b
        np.testing.assert_allclose(self.write_and_run(builder, x), want, **F32)

    def test_batchnorm_without_scale_and_center(self):
        config = kf.sequential([kf.layer("BatchNormalization", "bn", axis=1, epsilon=1e-3,
                                         center=False, scale=False,
                                         batch_input_shape=[None, 2, 3, 3])])
        m, v = _w(2), np.abs(_w(2)) + 0.1
        kf.write_model(self.path("m.h5"), config, [("bn", [("bn/moving_mean", m),
                                                           ("bn/moving_variance", v)])])
        x = RNG.standard_normal((1, 2, 3, 3))
        y = self.write_and_run(self.build(self.path("m.h5")), x)
        want = (x - m.reshape(1, 2, 1, 1)) / np.sqrt(v.reshape(1, 2, 1, 1) + 1e-3)
        np.testing.assert_allclose(y, want, **F32)

    def test_average_merge_sums_then_divides(self):
        config = kf.functional([
            kf.node(kf.layer("InputLayer", "in", batch_input_shape=[None, 3])),
            kf.node(kf.dense("a", 2), "in"), kf.node(kf.dense("b", 2), "in"),
            kf.node(kf.dense("c", 2), "in"),
            kf.node(kf.layer("Average", "avg"), "a", "b", "c")], ["in"], ["avg"])
        ws = {n: (_w(3, 2), _w(2)) for n in "abc"}
        kf.write_model(self.path("m.h5"), config, [("in", []), ("avg", [])] + [
            (n, [(n + "/kernel", ws[n][0]), (n + "/bias", ws[n][1])]) for n in "abc"])
        builder = self.build(self.path("m.h5"))
        self.assertEqual([(l["op"], l.get("attrs")) for l in builder.layers[-2:]],
                         [("add", None), ("true_div", {"operands": ["input:0", 3]})])
        x = RNG.standard_normal((2, 3))
        want = sum(x @ ws[n][0] + ws[n][1] for n in "abc") / 3
        np.testing.assert_allclose(self.write_and_run(builder, x), want, **F32)

    def test_prelu_and_activations(self):
        # PReLU, Theano branch (advanced_activations.py 2.0.8):
        # relu(x) + alpha * (x - |x|) * 0.5, alpha shared over the spatial axes here.
        config = kf.sequential([
            kf.layer("PReLU", "p", shared_axes=[2, 3], batch_input_shape=[None, 2, 2, 2]),
            kf.layer("Flatten", "f"),
            kf.layer("Activation", "hs", activation="hard_sigmoid")])
        alpha = _w(2, 1, 1)
        kf.write_model(self.path("m.h5"), config, [("p", [("p/alpha", alpha)]), ("f", []),
                                                   ("hs", [])])
        x = RNG.standard_normal((2, 2, 2, 2))
        y = self.write_and_run(self.build(self.path("m.h5")), x)
        pre = np.maximum(x, 0) + alpha * (x - np.abs(x)) * 0.5
        np.testing.assert_allclose(y, np.clip(pre.reshape(2, -1) * 0.2 + 0.5, 0, 1), **F32)

    def test_keras2_same_average_pooling_includes_padding_before_2_1_5(self):
        # PR #5528 (Keras 2.0.0) used average_inc_pad for 'same'; PR #9479 (2.1.5) exc_pad.
        def mode(version):
            config = kf.sequential([kf.layer("AveragePooling2D", "ap", pool_size=[2, 2],
                                             strides=[2, 2], padding="same",
                                             data_format="channels_first",
                                             batch_input_shape=[None, 1, 5, 5])])
            kf.write_model(self.path("m.h5"), config, [("ap", [])], keras_version=version)
            return self.build(self.path("m.h5")).layers[0]["attrs"]["mode"]
        self.assertEqual(mode("2.0.8"), "average_inc_pad")
        self.assertEqual(mode("2.1.4"), "average_inc_pad")
        self.assertEqual(mode("2.1.5"), "average_exc_pad")
        self.assertEqual(mode("2.2.4"), "average_exc_pad")

    def test_even_kernel_same_conv_is_half_plus_crop(self):
        # 'same' with a 4x4 kernel on 6x5, stride 1: Theano 'half' pads 2 on every side and
        # gives 7x6; Keras (theano_backend._postprocess_conv2d_output) keeps the first 6x5:
        # border_mode [[2, 1], [2, 1]].
        path = self.small_cnn(kernel=(4, 4))
        b = self.build(path)
        self.assertEqual(b.layers[0]["attrs"]["border_mode"], [[2, 1], [2, 1]])
        x = RNG.standard_normal((1, 3, 6, 5))
        # Keras on Theano, in numpy: T.nnet.conv2d(x, kernel (out, in, rows, cols), 'half',
        # filter_flip=True), then the crop, + bias, relu, flatten, dense, softmax.
        with h5py.File(path, "r") as f:
            g = f["model_weights"]
            kern = g["conv2d_1"]["conv2d_1/kernel"][()].astype(np.float64)
            bias = g["conv2d_1"]["conv2d_1/bias"][()].astype(np.float64)
            dk = g["dense_1"]["dense_1/kernel"][()].astype(np.float64)
            db = g["dense_1"]["dense_1/bias"][()].astype(np.float64)
        half = theano_conv2d(x, kern.transpose(3, 2, 0, 1), [(2, 2), (2, 2)])
        self.assertEqual(half.shape, (1, 4, 7, 6))
        h = np.maximum(half[:, :, :6, :5] + bias.reshape(1, -1, 1, 1), 0).reshape(1, -1)
        z = h @ dk + db
        want = np.exp(z - z.max(axis=1, keepdims=True))
        want /= want.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(self.write_and_run(b, x), want, **F32)

    def _depthwise_reference(self, x, k, mult):
        """Per-channel cross-correlation, 'same' 3x3 (Keras 2.2's Theano depthwise_conv2d
        pre-flips the kernel, so Theano's flip cancels): out[c * mult + m] =
        sum_ij k[i, j, c, m] * xpad[c, y + i, x + j]."""
        n, c, h, w = x.shape
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        out = np.zeros((n, c * mult, h, w))
        for ch in range(c):
            for m in range(mult):
                for i in range(3):
                    for j in range(3):
                        out[:, ch * mult + m] += k[i, j, ch, m] * xp[:, ch, i:i + h, j:j + w]
        return out

    def test_depthwise_conv2d_is_a_cross_correlation_per_channel(self):
        config = kf.sequential([kf.layer(
            "DepthwiseConv2D", "dw", kernel_size=[3, 3], strides=[1, 1], padding="same",
            depth_multiplier=2, data_format="channels_first", dilation_rate=[1, 1],
            activation="linear", use_bias=True, batch_input_shape=[None, 3, 5, 4])])
        k, b = _w(3, 3, 3, 2), _w(6)
        kf.write_model(self.path("m.h5"), config, [("dw", [("dw/depthwise_kernel", k),
                                                           ("dw/bias", b)])],
                       keras_version="2.2.4")
        builder = self.build(self.path("m.h5"))
        self.assertEqual(builder.layers[0]["attrs"]["num_groups"], 3)
        x = RNG.standard_normal((2, 3, 5, 4))
        want = self._depthwise_reference(x, k, 2) + b.reshape(1, 6, 1, 1)
        np.testing.assert_allclose(self.write_and_run(builder, x), want, **F32)

    def test_separable_conv2d(self):
        config = kf.sequential([kf.layer(
            "SeparableConv2D", "sc", filters=4, kernel_size=[3, 3], strides=[1, 1],
            padding="same", depth_multiplier=1, data_format="channels_first",
            dilation_rate=[1, 1], activation="relu", use_bias=True,
            batch_input_shape=[None, 3, 5, 4])])
        dk, pk, b = _w(3, 3, 3, 1), _w(1, 1, 3, 4), _w(4)
        weights = [("sc", [("sc/depthwise_kernel", dk), ("sc/pointwise_kernel", pk),
                           ("sc/bias", b)])]
        kf.write_model(self.path("m.h5"), config, weights, keras_version="2.2.4")
        x = RNG.standard_normal((2, 3, 5, 4))
        depth = self._depthwise_reference(x, dk, 1)
        want = np.maximum(np.einsum("nchw,co->nohw", depth, pk[0, 0]) +
                          b.reshape(1, 4, 1, 1), 0)
        y = self.write_and_run(self.build(self.path("m.h5")), x)
        np.testing.assert_allclose(y, want, **F32)
        # Keras 2.0.8's Theano backend raised NotImplementedError for separable_conv2d.
        kf.write_model(self.path("old.h5"), config, weights, keras_version="2.0.8")
        with self.assertRaisesRegex(ImporterError, r'SeparableConv2D "sc": Keras 2.0.8\'s '
                                    r'Theano backend has no separable_conv2d'):
            self.build(self.path("old.h5"))

    def test_nested_models_equal_their_flat_twin(self):
        # Sequential([base, Flatten, top]) where base is a functional model and top a
        # Sequential: Keras saves base and top as one weight group each, holding their
        # layers' weights named "<layer>/<weight>", trainable ones first (BN's moving
        # statistics last).
        conv = kf.conv2d("c", 3, (3, 3), padding="same", activation="relu")
        bn = kf.layer("BatchNormalization", "bn", axis=1, epsilon=1e-3, center=True,
                      scale=True)
        base = kf.functional([
            kf.node(kf.layer("InputLayer", "base_in", batch_input_shape=[None, 2, 4, 4])),
            kf.node(conv, "base_in"), kf.node(bn, "c")], ["base_in"], ["bn"])
        base = dict(base, config=dict(base["config"], name="base"))
        top = {"class_name": "Sequential", "config": [kf.dense("d1", 5, activation="tanh"),
                                                      kf.dense("d2", 2,
                                                               activation="softmax")]}
        nested = kf.sequential([base, kf.layer("Flatten", "f"), top])
        nested["config"][0]["config"]["name"] = "base"
        nested["config"][2]["config"] = {"name": "top", "layers": top["config"]}
        flat = kf.sequential([
            dict(conv, config=dict(conv["config"], batch_input_shape=[None, 2, 4, 4])), bn,
            kf.layer("Flatten", "f"), kf.dense("d1", 5, activation="tanh"),
            kf.dense("d2", 2, activation="softmax")])
        w = {"c/kernel": _w(3, 3, 2, 3), "c/bias": _w(3), "bn/gamma": _w(3),
             "bn/beta": _w(3), "bn/moving_mean": _w(3), "bn/moving_variance": _w(3) ** 2 + .5,
             "d1/kernel": _w(48, 5), "d1/bias": _w(5), "d2/kernel": _w(5, 2),
             "d2/bias": _w(2)}
        kf.write_model(self.path("nested.h5"), nested, [
            ("base", [(n, w[n]) for n in ("c/kernel", "c/bias", "bn/gamma", "bn/beta",
                                          "bn/moving_mean", "bn/moving_variance")]),
            ("f", []),
            ("top", [(n, w[n]) for n in ("d1/kernel", "d1/bias", "d2/kernel", "d2/bias")])])
        kf.write_model(self.path("flat.h5"), flat, [
            ("c", [(n, w[n]) for n in ("c/kernel", "c/bias")]),
            ("bn", [(n, w[n]) for n in ("bn/gamma", "bn/beta", "bn/moving_mean",
                                        "bn/moving_variance")]),
            ("f", []), ("d1", [(n, w[n]) for n in ("d1/kernel", "d1/bias")]),
            ("d2", [(n, w[n]) for n in ("d2/kernel", "d2/bias")])])
        x = RNG.standard_normal((2, 2, 4, 4))
        b_nested = self.build(self.path("nested.h5"))
        self.assertIn("base/c", [l["name"] for l in b_nested.layers])
        y_nested = self.write_and_run(b_nested, x)
        out = self.path("flat_model")
        self.build(self.path("flat.h5")).write(out)
        np.testing.assert_allclose(y_nested, run_model(out, x), rtol=1e-12)

    def test_version_parsing(self):
        self.assertEqual(keras_import.parse_version("1.2.2"), (1, 2, 2))
        self.assertEqual(keras_import.parse_version("2.1.6-tf"), (2, 1, 6))
        self.assertEqual(keras_import.parse_version("2.0"), (2, 0))
        self.assertIsNone(keras_import.parse_version(None))


def re_escape(text):
    import re
    return re.escape(text)


if __name__ == "__main__":
    unittest.main()
