"""Every common way Lasagne weights were saved (weights.read), and how they are matched with the
network's parameters (lasagne_import.match_weights). Files are made here with numpy/pickle; the
Python 2 pickle is assembled opcode by opcode as Python 2.7's cPickle (protocol 2) writes a
numpy array and a str."""

import collections
import gzip
import os
import pickle
import shutil
import struct
import tempfile
import unittest

import numpy as np

from theano_serving_import import weights
from theano_serving_import.errors import ImporterError
from tests import test_lasagne_support as S


def arrays(n=12, seed=0):
    rng = np.random.RandomState(seed)
    return [rng.randn(*(k % 3 + 1,) * 2).astype(np.float32) for k in range(n)]


def py2_pickle(obj):
    """Protocol-2 bytes as Python 2.7 writes them: str as SHORT_BINSTRING / BINSTRING, numpy
    arrays through numpy.core.multiarray._reconstruct with their data as a (byte) str."""
    out = bytearray(b"\x80\x02")

    def string(s):
        b = s if isinstance(s, bytes) else s.encode("latin-1")
        if len(b) < 256:
            out.extend(b"U" + bytes([len(b)]) + b)
        else:
            out.extend(b"T" + struct.pack("<I", len(b)) + b)

    def emit(o):
        if isinstance(o, (str, bytes)):
            string(o)
        elif isinstance(o, int):
            out.extend(b"J" + struct.pack("<i", o))
        elif isinstance(o, list):
            out.extend(b"](")
            for x in o:
                emit(x)
            out.extend(b"e")
        elif isinstance(o, dict):
            out.extend(b"}(")
            for k, v in o.items():
                emit(k)
                emit(v)
            out.extend(b"u")
        elif isinstance(o, np.ndarray):
            out.extend(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
            out.extend(b"K\x00\x85")
            string("b")
            out.extend(b"\x87R(K\x01(")
            for d in o.shape:
                emit(int(d))
            out.extend(b"tcnumpy\ndtype\n")
            string(o.dtype.str[1:])
            out.extend(b"K\x00K\x01\x87R(K\x03")
            string("<")
            out.extend(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89")
            string(o.tobytes())
            out.extend(b"tb")
        else:
            raise TypeError(o)

    emit(obj)
    out.extend(b".")
    return bytes(out)


class WeightFormsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lasagne-weights-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def assertArrays(self, got, want):
        self.assertEqual(len(got), len(want))
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)

    def test_npz_arr_keys_in_numeric_order(self):
        a = arrays(12)
        np.savez(self.path("m.npz"), *a)
        wf = weights.read(self.path("m.npz"))
        # string order would put arr_10 and arr_11 after arr_1
        self.assertArrays(wf.arrays, a)
        self.assertIn("arr_0 ... arr_11", wf.form)

    def test_legacy_npz_with_one_object_array(self):
        a = arrays(5)
        obj = np.empty(len(a), dtype=object)
        obj[:] = a
        np.savez(self.path("m.npz"), obj)  # np.savez(f, get_all_param_values(net)), old numpy
        wf = weights.read(self.path("m.npz"))
        self.assertArrays(wf.arrays, a)
        self.assertIn("legacy", wf.form)

    def test_npy_object_array(self):
        a = arrays(4)
        obj = np.empty(len(a), dtype=object)
        obj[:] = a
        np.save(self.path("m.npy"), obj)
        self.assertArrays(weights.read(self.path("m.npy")).arrays, a)

    def test_pickled_list_plain_and_gzip(self):
        a = arrays(6)
        with open(self.path("p.pkl"), "wb") as f:
            pickle.dump(a, f, protocol=2)
        self.assertArrays(weights.read(self.path("p.pkl")).arrays, a)
        with gzip.open(self.path("p.pkl.gz"), "wb") as f:
            pickle.dump(a, f, protocol=0)
        self.assertArrays(weights.read(self.path("p.pkl.gz")).arrays, a)

    def test_model_zoo_dict(self):
        a = arrays(4)
        for pkey, ckey in (("param values", "synset words"), ("values", "synset_words")):
            with self.subTest(pkey=pkey):
                d = {pkey: a, ckey: ["n01 tench", "n02 goldfish"],
                     "mean value": np.array([104.0, 117.0, 123.0], np.float32)}
                with open(self.path("z.pkl"), "wb") as f:
                    pickle.dump(d, f, protocol=2)
                wf = weights.read(self.path("z.pkl"))
                self.assertArrays(wf.arrays, a)
                self.assertEqual(wf.classes, ["n01 tench", "n02 goldfish"])
                np.testing.assert_array_equal(wf.mean_value, [104, 117, 123])
        d = {"param values": a, "mean image": np.zeros((3, 4, 4), np.float32)}
        with open(self.path("z.pkl"), "wb") as f:
            pickle.dump(d, f, protocol=2)
        self.assertEqual(weights.read(self.path("z.pkl")).mean_image.shape, (3, 4, 4))

    def test_python2_model_zoo_pickle(self):
        a = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([0.5, -1], np.float32)]
        with open(self.path("py2.pkl"), "wb") as f:
            f.write(py2_pickle({"param values": a, "synset words": ["caf\xe9", "dog"]}))
        wf = weights.read(self.path("py2.pkl"))
        self.assertArrays(wf.arrays, a)
        self.assertEqual(wf.classes, ["caf\xe9", "dog"])

    def test_nolearn_ordered_dict(self):
        d = collections.OrderedDict([("input", []), ("conv1", arrays(2)), ("out", arrays(2, 1))])
        with open(self.path("n.pickle"), "wb") as f:
            pickle.dump(d, f, protocol=2)
        wf = weights.read(self.path("n.pickle"))
        self.assertEqual(list(wf.by_layer), ["input", "conv1", "out"])
        self.assertArrays(wf.by_layer["out"], arrays(2, 1))

    def test_npz_keyed_by_parameter_name(self):
        np.savez(self.path("n.npz"), **{"conv1.W": np.ones((2, 1, 3, 3)), "conv1.b": np.zeros(2)})
        wf = weights.read(self.path("n.npz"))
        self.assertEqual(list(wf.named), ["conv1.W", "conv1.b"])

    def test_damaged_and_foreign_files(self):
        with open(self.path("bad.npz"), "wb") as f:
            f.write(b"PK\x03\x04 not really a zip")
        with self.assertRaisesRegex(ImporterError, "bad.npz: damaged"):
            weights.read(self.path("bad.npz"))
        data = pickle.dumps(arrays(3), protocol=2)
        with open(self.path("cut.pkl"), "wb") as f:
            f.write(data[:len(data) // 2])
        with self.assertRaisesRegex(ImporterError, "cut.pkl"):
            weights.read(self.path("cut.pkl"))
        with open(self.path("m.h5"), "wb") as f:
            f.write(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
        with self.assertRaisesRegex(ImporterError, "HDF5"):
            weights.read(self.path("m.h5"))
        with open(self.path("s.pkl"), "wb") as f:
            pickle.dump({"a": "b"}, f, protocol=2)
        with self.assertRaisesRegex(ImporterError, "not a form of Lasagne weights"):
            weights.read(self.path("s.pkl"))


NET = """
from lasagne.layers import InputLayer, Conv2DLayer, DenseLayer
def build_model():
    l = InputLayer((None, 1, 5, 5))
    l = Conv2DLayer(l, 2, 3, name='conv1')
    return DenseLayer(l, 3, name='out')
"""
SHAPES = [(2, 1, 3, 3), (2,), (18, 3), (3,)]


class MatchingTest(unittest.TestCase):
    """Each form matched with a small network: values land on the right parameters, and a
    mismatch is named precisely."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lasagne-match-")
        self.net = S.write(self.tmp, "net.py", NET)
        rng = np.random.RandomState(3)
        self.values = [rng.randn(*s).astype(np.float32) for s in SHAPES]

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_with(self, wpath, *extra):
        out = os.path.join(self.tmp, "out")
        shutil.rmtree(out, ignore_errors=True)
        return S.run_import([self.net, "--weights", wpath, "--out", out, "--no-check"]
                            + list(extra))

    def imported(self, wpath):
        code, stdout, stderr = self.run_with(wpath)
        self.assertEqual(code, 0, stderr)
        return S.load_model(os.path.join(self.tmp, "out"))[1], stdout

    def check_values(self, params):
        np.testing.assert_array_equal(params["conv1.W"], self.values[0])
        np.testing.assert_array_equal(params["conv1.b"], self.values[1])
        np.testing.assert_array_equal(params["out.W"], self.values[2])
        np.testing.assert_array_equal(params["out.b"], self.values[3])

    def test_every_form_puts_each_array_on_its_parameter(self):
        w = os.path.join(self.tmp, "w")
        np.savez(w + "1.npz", *self.values)
        np.savez(w + "2.npz", **dict(zip(["conv1.W", "conv1.b", "out.W", "out.b"],
                                         self.values)))
        with open(w + "3.pkl", "wb") as f:
            pickle.dump(self.values, f, protocol=2)
        with open(w + "4.pkl", "wb") as f:
            pickle.dump(collections.OrderedDict([("input", []), ("conv1", self.values[:2]),
                                                 ("out", self.values[2:])]), f, protocol=2)
        with open(w + "5.pkl", "wb") as f:
            pickle.dump({"param values": self.values}, f, protocol=2)
        for p in (w + "1.npz", w + "2.npz", w + "3.pkl", w + "4.pkl", w + "5.pkl"):
            with self.subTest(weights=os.path.basename(p)):
                params, _ = self.imported(p)
                self.check_values(params)

    def test_count_mismatch_names_both_counts_and_the_parameters(self):
        w = os.path.join(self.tmp, "short.npz")
        np.savez(w, *self.values[:3])
        code, _, err = self.run_with(w)
        self.assertEqual(code, 1)
        self.assertIn("short.npz holds 3 arrays, the network has 4 parameters (first: "
                      "conv1.W (2, 1, 3, 3), conv1.b (2,), out.W (18, 3), ...)", err)

    def test_shape_mismatch_names_the_layer_and_both_shapes(self):
        bad = list(self.values)
        bad[0] = np.zeros((2, 1, 5, 5), np.float32)
        w = os.path.join(self.tmp, "bad.npz")
        np.savez(w, *bad)
        code, _, err = self.run_with(w)
        self.assertEqual(code, 1)
        self.assertIn('Conv2DLayer "conv1": the weights file has an array of shape (2, 1, 5, 5) '
                      'for W (array 0 of bad.npz), the network expects (2, 1, 3, 3)', err)

    def test_named_npz_missing_and_extra_names(self):
        w = os.path.join(self.tmp, "named.npz")
        np.savez(w, **{"conv1.W": self.values[0], "conv1.b": self.values[1],
                       "fc.W": self.values[2], "fc.b": self.values[3], "extra": self.values[3]})
        code, _, err = self.run_with(w)
        self.assertEqual(code, 1)
        self.assertIn("named.npz has no array for out.W, out.b; has arrays the network does not "
                      "use: fc.W, fc.b, extra", err)

    def test_nolearn_dict_with_other_layer_names_falls_back_to_file_order(self):
        w = os.path.join(self.tmp, "n.pkl")
        with open(w, "wb") as f:
            pickle.dump(collections.OrderedDict([("conv2d1", self.values[:2]),
                                                 ("dense2", self.values[2:])]), f, protocol=2)
        params, stdout = self.imported(w)
        self.check_values(params)
        self.assertIn("file order", stdout)

    def test_nolearn_dict_with_wrong_count_for_a_layer(self):
        w = os.path.join(self.tmp, "n.pkl")
        with open(w, "wb") as f:
            pickle.dump(collections.OrderedDict([("conv1", self.values[:1]),
                                                 ("out", self.values[2:])]), f, protocol=2)
        code, _, err = self.run_with(w)
        self.assertEqual(code, 1)
        self.assertIn("n.pkl['conv1'] holds 1 arrays, Conv2DLayer \"conv1\" has 2 parameters",
                      err)

    def test_float64_weights_make_a_float64_model(self):
        w = os.path.join(self.tmp, "w64.npz")
        np.savez(w, *[v.astype(np.float64) for v in self.values])
        code, _, err = self.run_with(w)
        self.assertEqual(code, 0, err)
        model, params = S.load_model(os.path.join(self.tmp, "out"))
        self.assertEqual(model["dtype"], "float64")
        self.assertEqual(params["out.W"].dtype, np.float64)


if __name__ == "__main__":
    unittest.main()
