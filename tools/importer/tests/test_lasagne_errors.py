"""The command on bad input, run as a separate process: an unsupported layer, mismatched weight
files, corrupt files and pickles that try to run code each give exit status 1 and one precise
message — never a traceback, never a crash, never the pickle's code run."""

import os
import pickle
import shutil
import tempfile
import unittest

import numpy as np

from tests import test_lasagne_support as S

NET = """
from lasagne.layers import InputLayer, Conv2DLayer, DenseLayer
def build_model():
    l = InputLayer((None, 1, 5, 5))
    l = Conv2DLayer(l, 2, 3, name='conv1')
    return DenseLayer(l, 3, name='out')
"""
SHAPES = [(2, 1, 3, 3), (2,), (18, 3), (3,)]


class _Evil:
    """Pickles as a call of os.system (what a malicious weights file does)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch %s" % self.marker,))


class _EvilEval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, ("open(%r, 'w').write('x')" % self.marker,))


class CommandErrorTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lasagne-errors-")
        self.net = S.write(self.tmp, "net.py", NET)
        self.marker = os.path.join(self.tmp, "PWNED")
        self.values = [np.ones(s, np.float32) for s in SHAPES]

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fails(self, argv, *expected):
        proc = S.run_command(argv + ["--out", os.path.join(self.tmp, "out"), "--no-check"])
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertTrue(lines[0].startswith("theano-serving-import: error: "), lines[0])
        for text in expected:
            self.assertIn(text, lines[0])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "out", "model.json")))
        return lines[0]

    def pickled(self, name, obj, protocol=2):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=protocol)
        return path

    def test_unsupported_layer(self):
        net = S.write(self.tmp, "rnn.py", "from lasagne.layers import InputLayer, LSTMLayer\n"
                                          "def build_model():\n"
                                          "    return LSTMLayer(InputLayer((None, 4, 3)), 5, "
                                          "name='lstm')\n")
        w = os.path.join(self.tmp, "w.npz")
        np.savez(w)
        self.fails([net, "--weights", w],
                   'rnn.py line 3 (build_model): unsupported layer "lstm" '
                   '(lasagne.layers.recurrent.LSTMLayer): supported: InputLayer, ')

    def test_count_and_shape_mismatches(self):
        w = os.path.join(self.tmp, "w.npz")
        np.savez(w, *self.values[:3])
        self.fails([self.net, "--weights", w], "w.npz holds 3 arrays, the network has 4 "
                                               "parameters")
        bad = list(self.values)
        bad[2] = np.ones((3, 18), np.float32)
        np.savez(w, *bad)
        self.fails([self.net, "--weights", w], 'DenseLayer "out": the weights file has an array '
                                               'of shape (3, 18) for W', "expects (18, 3)")

    def test_corrupt_files(self):
        good = pickle.dumps(self.values, protocol=2)
        cut = os.path.join(self.tmp, "cut.pkl")
        with open(cut, "wb") as f:
            f.write(good[:len(good) // 3])
        self.fails([self.net, "--weights", cut], "cut.pkl")
        garbage = os.path.join(self.tmp, "garbage.pkl")
        with open(garbage, "wb") as f:
            f.write(os.urandom(64) + b"not a pickle")
        self.fails([self.net, "--weights", garbage], "garbage.pkl")
        npz = os.path.join(self.tmp, "w.npz")
        np.savez(npz, *self.values)
        with open(npz, "rb") as f:
            data = f.read()
        with open(npz, "wb") as f:
            f.write(data[:len(data) // 2])
        self.fails([self.net, "--weights", npz], "w.npz")
        empty = os.path.join(self.tmp, "empty.pkl")
        open(empty, "wb").close()
        self.fails([self.net, "--weights", empty], "empty.pkl")

    def test_pickles_that_try_to_run_code(self):
        cases = [
            ("system.pkl", [_Evil(self.marker)], 2, "system"),
            ("system0.pkl", {"param values": [_Evil(self.marker)]}, 0, "system"),
            ("eval.pkl", _EvilEval(self.marker), 2, "eval"),
        ]
        for name, obj, protocol, what in cases:
            with self.subTest(name=name):
                path = self.pickled(name, obj, protocol)
                self.fails([self.net, "--weights", path], name, what)
                self.assertFalse(os.path.exists(self.marker), "the pickle ran code")
        # a pickled "network" whose layer state smuggles a call
        layer_like = b"".join([
            b"\x80\x02clasagne.layers.dense\nDenseLayer\n)\x81}(X\x04\x00\x00\x00name",
            b"X\x03\x00\x00\x00out", b"X\x01\x00\x00\x00W", b"cposix\nsystem\nX\x04\x00\x00\x00",
            b"true\x85R", b"ub."])
        path = os.path.join(self.tmp, "layer.pkl")
        with open(path, "wb") as f:
            f.write(layer_like)
        self.fails(["--weights", path], "layer.pkl", "system")

    def test_incomplete_pickled_network(self):
        # a lasagne layer record without its attributes (e.g. from an unknown Lasagne version)
        data = (b"\x80\x02clasagne.layers.dense\nDenseLayer\n)\x81}(X\x04\x00\x00\x00name"
                b"X\x03\x00\x00\x00outX\x0b\x00\x00\x00input_layerNub.")
        path = os.path.join(self.tmp, "partial.pkl")
        with open(path, "wb") as f:
            f.write(data)
        self.fails(["--weights", path], 'DenseLayer "out"')

    def test_usage_errors(self):
        w = os.path.join(self.tmp, "w.npz")
        np.savez(w, *self.values)
        self.fails(["--weights", w], "holds only parameter values", "give the network code")
        self.fails([self.net, "--weights", os.path.join(self.tmp, "nope.npz")],
                   "nope.npz: No such file")
        self.fails([self.net, "--weights", w, "--output-layer", "fc9"],
                   "no layer named 'fc9' (--output-layer)")


if __name__ == "__main__":
    unittest.main()
