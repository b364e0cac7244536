"""ModelBuilder and the shared command options (no frontend needed)."""

import argparse
import json
import os
import tempfile
import unittest

import numpy as np

from theano_serving_import import cli
from theano_serving_import.errors import ImporterError
from theano_serving_import.model_builder import ModelBuilder, read_classes


class ModelBuilderTest(unittest.TestCase):
    def test_names_are_unique_and_params_take_the_model_dtype(self):
        b = ModelBuilder("float64")
        b.set_input([3, 4, 4])
        w = b.add_param("conv.W", np.ones((2, 3, 1, 1), np.float32))
        w2 = b.add_param("conv.W", np.zeros((2,), np.float32))
        self.assertEqual((w, w2), ("conv.W", "conv.W_2"))
        self.assertEqual(b.params[w].dtype, np.dtype("<f8"))
        first = b.add_layer("conv2d", {"border_mode": (1, 1), "num_groups": None}, [w],
                            name="conv")
        second = b.add_layer("relu", name="conv")
        self.assertEqual((first, second), ("conv", "conv_2"))
        model = b.to_json()
        self.assertEqual(model["dtype"], "float64")
        # None attributes are left out (the engine's default applies); tuples become lists.
        self.assertEqual(model["layers"][0]["attrs"], {"border_mode": [1, 1]})
        self.assertNotIn("inputs", model["layers"][1])

    def test_the_input_name_is_reserved(self):
        b = ModelBuilder()
        b.set_input([10])
        self.assertEqual(b.add_layer("tanh", name="input"), "input_2")

    def test_non_finite_parameters_are_refused_by_name(self):
        b = ModelBuilder()
        with self.assertRaisesRegex(ImporterError, r"parameter fc.b: element 2 is nan"):
            b.add_param("fc.b", np.array([0.0, 1.0, np.nan], np.float32))

    def test_unknown_dtype_is_refused(self):
        with self.assertRaisesRegex(ImporterError, "float16"):
            ModelBuilder("float16")

    def test_write_round_trip(self):
        b = ModelBuilder()
        b.set_input([2], images=False)
        w = b.add_param("W", np.arange(6, dtype=np.float32).reshape(2, 3))
        b.add_layer("dense", params=[w], name="fc")
        b.classes = ["a", "b", "c"]
        with tempfile.TemporaryDirectory() as d:
            b.write(d)
            with open(os.path.join(d, "model.json")) as f:
                model = json.load(f)
            with np.load(os.path.join(d, "params.npz")) as npz:
                self.assertEqual(npz["W"].dtype, np.dtype("<f4"))
                np.testing.assert_array_equal(npz["W"], np.arange(6).reshape(2, 3))
        self.assertEqual(model["input"], {"shape": [2], "images": False})
        self.assertEqual(model["classes"], ["a", "b", "c"])
        self.assertEqual(model["layers"], [{"name": "fc", "op": "dense", "params": ["W"]}])


class CommonOptionsTest(unittest.TestCase):
    def test_numbers_and_shapes(self):
        self.assertAlmostEqual(cli.parse_number("1/255"), 1 / 255)
        self.assertEqual(cli.parse_numbers("0.5,1,2"), [0.5, 1.0, 2.0])
        self.assertEqual(cli.parse_shape("3,32,32"), [3, 32, 32])
        with self.assertRaises(argparse.ArgumentTypeError):
            cli.parse_shape("3,0,32")

    def test_classes_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("cat\ndog\n\n")
        try:
            self.assertEqual(read_classes(f.name), ["cat", "dog"])
        finally:
            os.unlink(f.name)
        with self.assertRaisesRegex(ImporterError, "--classes /nonexistent"):
            read_classes("/nonexistent")

    def test_out_dir_must_be_new_or_forced(self):
        with tempfile.TemporaryDirectory() as d:
            cli.check_out_dir(os.path.join(d, "new"), force=False)
            open(os.path.join(d, "x"), "w").close()
            with self.assertRaisesRegex(ImporterError, r"is not empty \(x\)"):
                cli.check_out_dir(d, force=False)
            cli.check_out_dir(d, force=True)


if __name__ == "__main__":
    unittest.main()
