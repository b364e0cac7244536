"""The four Keras cases of tests/import (real Keras 1.2.2 / 2.0.8 on Theano 1.0.5; README.md
there): each imports with the expected layer list, and, when a build's model tool is there
(THEANO_SERVING_BIN_DIR, as ctest sets it; skipped otherwise), the written model reproduces
Keras' outputs.npy through the engine's reference kernels at atol 1e-5 / rtol 1e-4 with
identical top-1, and `theano-serving-model verify` passes through both engines.
"""

import contextlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

from theano_serving_import import cli
from tests.test_keras_import import run_model

try:
    import h5py  # noqa: F401
    HAVE_H5PY = True
except ImportError:
    HAVE_H5PY = False

SOURCE = os.environ.get("TS_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CASES_DIR = os.path.join(SOURCE, "tests", "import")

# case -> the op list the import must produce (in order). Worked out from Keras' Theano
# backend for each case's config (see the importer's translators).
EXPECTED = {
    "keras1_th_cnn": [
        "conv2d", "bias_add",                      # Convolution2D 3x3 'same' (half), linear
        "batch_normalization_test", "relu",        # BN mode 0 (running_std = variance), relu
        "conv2d", "bias_add", "tanh",              # 5x3 'valid', subsample (2, 1), tanh
        "pool_2d", "pool_2d",                      # max 2x2 / avg 2x2 stride 1 (exc_pad)
        "flatten", "dense", "sigmoid", "dense", "softmax"],   # Dropout is the identity
    "keras1_tf_ordering": [
        "dimshuffle",                              # NHWC input -> NCHW (_preprocess_conv2d_input)
        "conv2d", "bias_add", "relu",              # 'same' 3x3, LeakyReLU(0.1) = relu(alpha)
        "pool_2d", "conv2d", "bias_add", "relu",   # stays NCHW between the tf-ordered layers
        "dimshuffle",                              # back to NHWC for Flatten (Keras' order)
        "flatten", "dense", "softmax"],
    "keras2_cnn": [
        "conv2d", "bias_add",                      # 4x4 'same': half + crop = [[2, 1], [2, 1]]
        "batch_normalization_test", "elu",
        "conv2d", "bias_add", "relu",              # 3x3 'same' stride 2
        "pool_2d",                                 # max 3x3 'same' stride 2: pad 1, no crop
        "conv2d", "bias_add", "selu",              # dilation 2
        "pool_2d", "subtensor",                    # avg 2x2 'same' stride 2: inc_pad + crop
        "flatten", "dense", "softmax"],
    "keras2_functional_json": [
        "conv2d", "batch_normalization_test", "relu",       # bias-free conv, BN, LeakyReLU
        "conv2d", "bias_add", "relu", "conv2d", "bias_add",
        "add", "relu",                                       # residual Add, Activation
        "subtensor", "subtensor", "pad",                     # Cropping2D, ZeroPadding2D
        "concatenate", "conv2d", "bias_add", "tanh",
        "max", "dense", "softmax"],                          # GlobalMaxPooling2D
}


def _command(case_dir):
    with open(os.path.join(case_dir, "case.json")) as f:
        case = json.load(f)
    if case["form"] == "json_weights":
        return ["keras", os.path.join(case_dir, case["architecture"]),
                "--weights", os.path.join(case_dir, case["weights"])]
    return ["keras", os.path.join(case_dir, case["model"])]


@unittest.skipUnless(HAVE_H5PY, "python3-h5py is not installed")
class KerasCasesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="keras-cases-")
        cls.models = {}
        cls.outputs = {}
        for case in EXPECTED:
            out = os.path.join(cls.tmp, case)
            stdout = io.StringIO()
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stdout):
                # --no-check: the engine check is the separate test below
                rc = cli.main(_command(os.path.join(CASES_DIR, case)) +
                              ["--out", out, "--no-check"])
            cls.outputs[case] = (rc, stdout.getvalue())
            cls.models[case] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def _model(self, case):
        rc, text = self.outputs[case]
        self.assertEqual(rc, 0, text)
        with open(os.path.join(self.models[case], "model.json")) as f:
            return json.load(f)

    def _layers(self, case):
        model = self._model(case)
        self.assertEqual([l["op"] for l in model["layers"]], EXPECTED[case])
        return model

    def _matches_keras(self, case):
        self._model(case)
        x = np.load(os.path.join(CASES_DIR, case, "inputs.npy"))
        want = np.load(os.path.join(CASES_DIR, case, "outputs.npy"))
        got = run_model(self.models[case], x)
        self.assertEqual(got.shape, want.shape)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
        np.testing.assert_array_equal(got.argmax(axis=1), want.argmax(axis=1))

    def _engine_verify(self, case):
        self._model(case)
        bin_dir = os.environ.get("THEANO_SERVING_BIN_DIR", "")
        tool = os.path.join(bin_dir, "theano-serving-model")
        if not bin_dir or not os.access(tool, os.X_OK):
            self.skipTest("no theano-serving-model (THEANO_SERVING_BIN_DIR)")
        proc = subprocess.run([tool, "inspect", self.models[case]], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        proc = subprocess.run(
            [tool, "verify", self.models[case],
             "--inputs", os.path.join(CASES_DIR, case, "inputs.npy"),
             "--expected", os.path.join(CASES_DIR, case, "outputs.npy")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
            timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout)

    # keras1_th_cnn: Keras 1.2.2, th ordering, no backend attribute (taken as Theano)
    def test_keras1_th_cnn_layers(self):
        model = self._layers("keras1_th_cnn")
        self.assertEqual(model["input"], {"shape": [3, 20, 18]})
        self.assertIn("does not record its Keras backend", self.outputs["keras1_th_cnn"][1])
        convs = [l for l in model["layers"] if l["op"] == "conv2d"]
        self.assertEqual([c["attrs"]["border_mode"] for c in convs], ["half", "valid"])
        self.assertEqual(convs[1]["attrs"]["subsample"], [2, 1])
        self.assertTrue(all(c["attrs"]["filter_flip"] for c in convs))

    def test_keras1_th_cnn_matches_keras(self):
        self._matches_keras("keras1_th_cnn")

    def test_keras1_th_cnn_engine(self):
        self._engine_verify("keras1_th_cnn")

    # keras1_tf_ordering: dim_ordering 'tf' on Theano: served on (H, W, C)
    def test_keras1_tf_ordering_layers(self):
        model = self._layers("keras1_tf_ordering")
        self.assertEqual(model["input"], {"shape": [16, 14, 3], "image_layout": "HWC"})

    def test_keras1_tf_ordering_matches_keras(self):
        self._matches_keras("keras1_tf_ordering")

    def test_keras1_tf_ordering_engine(self):
        self._engine_verify("keras1_tf_ordering")

    # keras2_cnn: even kernel 'same', strides, dilation, 'same' max and average pooling
    def test_keras2_cnn_layers(self):
        model = self._layers("keras2_cnn")
        convs = [l["attrs"] for l in model["layers"] if l["op"] == "conv2d"]
        self.assertEqual(convs[0]["border_mode"], [[2, 1], [2, 1]])
        self.assertEqual(convs[2]["filter_dilation"], [2, 2])
        pools = [l["attrs"] for l in model["layers"] if l["op"] == "pool_2d"]
        self.assertEqual(pools[0], {"ws": [3, 3], "stride": [2, 2], "pad": [1, 1],
                                    "ignore_border": True, "mode": "max"})
        self.assertEqual(pools[1]["mode"], "average_inc_pad")   # Keras 2.0.8 'same' average

    def test_keras2_cnn_matches_keras(self):
        self._matches_keras("keras2_cnn")

    def test_keras2_cnn_engine(self):
        self._engine_verify("keras2_cnn")

    # keras2_functional_json: to_json + save_weights, functional graph
    def test_keras2_functional_json_layers(self):
        model = self._layers("keras2_functional_json")
        add = [l for l in model["layers"] if l["op"] == "add"][0]
        self.assertEqual(add["inputs"], ["leaky_re_lu_1", "conv2d_6/bias"])
        pad = [l for l in model["layers"] if l["op"] == "pad"][0]
        self.assertEqual(pad["attrs"], {"width": [[1, 2], [2, 1]]})

    def test_keras2_functional_json_matches_keras(self):
        self._matches_keras("keras2_functional_json")

    def test_keras2_functional_json_engine(self):
        self._engine_verify("keras2_functional_json")


if __name__ == "__main__":
    unittest.main()
