"""The seven lasagne_* import cases of tests/import (made with real Theano 1.0.5 + Lasagne,
see its README): each imports with the expected layer list, input and output shapes, dtype and
parameter order; where the engine is built, the model matches Theano's outputs.npy through both
engines (verify: atol 1e-5 / rtol 1e-4, float64 1e-10 / 1e-8, identical top-1) and every Lasagne
layer's output matches intermediates.npz (the model cut after that layer, predicted on the
first two inputs)."""

import json
import os
import shutil
import tempfile
import unittest

import numpy as np

from tests import test_lasagne_support as S

CASES = ["lasagne_small_cnn", "lasagne_nin_avgpool", "lasagne_resnet_mini",
         "lasagne_inception_lrn", "lasagne_raw_tensor", "lasagne_pickled_net", "lasagne_float64"]

# What each case becomes (the ops in order); from the network code of each case, translated by
# hand with docs/IMPORT.md's layer table.
EXPECTED_OPS = {
    "lasagne_small_cnn": ["conv2d", "batch_norm_inv_std", "relu", "pool_2d", "conv2d",
                          "bias_add", "relu", "pool_2d", "flatten", "dense", "relu", "dense",
                          "softmax"],
    "lasagne_float64": ["conv2d", "bias_add", "tanh", "pool_2d", "conv2d", "bias_add", "tanh",
                        "pool_2d", "flatten", "dense", "tanh", "dense", "softmax"],
    "lasagne_raw_tensor": ["conv2d", "bias_add", "mul", "add", "relu", "reshape", "max",
                           "dimshuffle", "subtensor", "reshape", "dense", "dense", "relu", "mul",
                           "add", "sigmoid"],
}


def case_json(case):
    with open(os.path.join(S.CASES_DIR, case, "case.json")) as f:
        return json.load(f)


def import_case(case, out):
    c = case_json(case)
    folder = os.path.join(S.CASES_DIR, case)
    argv = []
    if c.get("network"):
        argv.append(os.path.join(folder, c["network"]))
    argv += ["--weights", os.path.join(folder, c["weights"]), "--out", out]
    if c.get("output_layer"):
        argv += ["--output-layer", c["output_layer"]]
    code, stdout, stderr = S.run_import(argv)
    if code != 0:
        raise AssertionError("%s: %s" % (case, stderr))
    return c, stdout


class LasagneCaseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lasagne-cases-")
        cls.results = {}
        for case in CASES:
            out = os.path.join(cls.tmp, case)
            c, stdout = import_case(case, out)
            model, params = S.load_model(out)
            cls.results[case] = (c, out, model, params, stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_input_shape_dtype_and_parameters(self):
        for case, (c, out, model, params, _) in self.results.items():
            with self.subTest(case=case):
                self.assertEqual(model["input"]["shape"], c["input_shape"])
                self.assertEqual(model["dtype"], c["dtype"])
                # every parameter of get_all_params is in params.npz, as many numbers as
                # Lasagne has (shapes too, except DilatedConv2DLayer's W, written (out, in, ...))
                want = sorted(int(np.prod(s)) for _, s in c["params"])
                got = sorted(int(a.size) for a in params.values())
                self.assertEqual(got, want)
                shapes = [tuple(a.shape) for a in params.values()]
                for n, s in c["params"]:
                    if n != "dil.W":
                        self.assertIn(tuple(s), shapes)

    def test_expected_layer_lists(self):
        for case, want in EXPECTED_OPS.items():
            with self.subTest(case=case):
                self.assertEqual(S.ops(self.results[case][2]), want)

    def test_attributes_follow_lasagne_defaults(self):
        small = self.results["lasagne_small_cnn"][2]
        convs = [l for l in small["layers"] if l["op"] == "conv2d"]
        self.assertEqual(convs[0]["attrs"], {"border_mode": "half", "filter_flip": True})
        self.assertEqual(convs[1]["attrs"], {"border_mode": [1, 1], "filter_flip": True})
        pools = [l for l in small["layers"] if l["op"] == "pool_2d"]
        # MaxPool2DLayer(net, 2): ignore_border True (Lasagne), written out since Theano's
        # pool_2d default is False; MaxPool2DLayer(net, 3, stride=2, ignore_border=False)
        self.assertEqual(pools[0]["attrs"], {"ws": [2, 2], "ignore_border": True, "mode": "max"})
        self.assertEqual(pools[1]["attrs"], {"ws": [3, 3], "ignore_border": False,
                                             "stride": [2, 2], "mode": "max"})
        relu = [l for l in small["layers"] if l["op"] == "relu"]
        self.assertEqual(relu[1]["attrs"], {"alpha": 0.01})  # leaky_rectify
        nin = self.results["lasagne_nin_avgpool"][2]
        self.assertTrue(all(l["attrs"]["filter_flip"] is False
                            for l in nin["layers"] if l["op"] == "conv2d"))
        avg = [l for l in nin["layers"] if l["op"] == "pool_2d"][1]
        self.assertEqual(avg["attrs"], {"ws": [3, 3], "ignore_border": True, "stride": [2, 2],
                                        "pad": [1, 1], "mode": "average_exc_pad"})
        inc = self.results["lasagne_inception_lrn"][2]
        self.assertEqual(S.layer(inc, "norm2")["attrs"],
                         {"alpha": 2e-05, "k": 1.0, "beta": 0.75, "n": 3})
        dil = S.layer(inc, "dil/conv2d")
        self.assertEqual(dil["attrs"], {"filter_flip": False, "filter_dilation": [2, 2]})
        # DilatedConv2DLayer stores W as (in, out, kh, kw): written (out, in, kh, kw)
        self.assertEqual(inc_params_shape(self.results["lasagne_inception_lrn"][3], "dil.W"),
                         (16, 28, 3, 3))
        raw = self.results["lasagne_raw_tensor"][2]
        self.assertEqual(S.layer(raw, "gconv/conv2d")["attrs"],
                         {"filter_flip": True, "num_groups": 2})
        self.assertEqual(S.layer(raw, "mix/mul")["attrs"], {"operands": ["input:0", -0.5]})

    def test_source_layers_name_every_intermediate(self):
        for case, (c, out, model, params, _) in self.results.items():
            path = os.path.join(S.CASES_DIR, case, "intermediates.npz")
            if not os.path.exists(path):
                continue
            with self.subTest(case=case):
                with np.load(path) as z:
                    keys = list(z.files)
                names = {l.get("name") for l in model["layers"]} | {"input"}
                src = model["source"]["layers"]
                for k in keys:
                    self.assertIn(k, src)
                    self.assertIn(src[k], names)

    def test_model_zoo_extras(self):
        c, out, model, params, stdout = self.results["lasagne_nin_avgpool"]
        self.assertIn("mean", model["input"])
        self.assertIn("mean value", stdout)

    def test_theano_outputs_through_both_engines(self):
        if S.model_tool() is None:
            self.skipTest("the engine is not built")
        for case, (c, out, model, params, _) in self.results.items():
            folder = os.path.join(S.CASES_DIR, case)
            for engine in ("fast", "reference"):
                with self.subTest(case=case, engine=engine):
                    text = S.verify(out, os.path.join(folder, "inputs.npy"),
                                    os.path.join(folder, "outputs.npy"), engine)
                    self.assertIn("ok", text)

    def test_every_layer_matches_lasagne_intermediates(self):
        if S.model_tool() is None:
            self.skipTest("the engine is not built")
        for case, (c, out, model, params, _) in self.results.items():
            path = os.path.join(S.CASES_DIR, case, "intermediates.npz")
            if not os.path.exists(path):
                continue
            x = np.load(os.path.join(S.CASES_DIR, case, "inputs.npy"))[:2]
            f64 = c["dtype"] == "float64"
            atol, rtol = (1e-10, 1e-8) if f64 else (1e-5, 1e-4)
            with np.load(path) as z:
                inter = {k: z[k] for k in z.files}
            src = model["source"]["layers"]
            for key, want in inter.items():
                if src[key] == "input":
                    continue
                with self.subTest(case=case, layer=key):
                    cut = os.path.join(self.tmp, "cut", case, key.replace("/", "_"))
                    S.cut_model(out, src[key], cut)
                    got = S.predict(cut, x)
                    np.testing.assert_allclose(got, want.reshape(2, -1).astype(np.float64),
                                               atol=atol, rtol=rtol)


def inc_params_shape(params, name):
    return tuple(params[name].shape)


if __name__ == "__main__":
    unittest.main()
