"""The restricted unpickler: real Theano/Lasagne pickles load, hostile ones are refused without
running anything, broken ones are reported with the file and the byte where reading stopped.

Real pickles: tests/import/*/ (made with Theano 1.0.5 + Lasagne, python 3.11, numpy 1.24).
Python-2 pickles are written here by hand, opcode by opcode, as Python 2.7's pickle and numpy
wrote them (no Python 2 is available); the hostile pickles too, or with __reduce__ (pickling a
hostile object runs nothing).
"""

import collections
import gzip
import io
import os
import pickle
import struct
import subprocess
import tempfile
import unittest
import zipfile

import numpy as np

from theano_serving_import import safe_pickle as sp
from theano_serving_import.errors import ImporterError

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests",
                     "import")


def case(*parts):
    return os.path.join(CASES, *parts)


# -- hand-written pickles ----------------------------------------------------------------------

def g(module, name):
    """GLOBAL opcode."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def u(text):
    """BINUNICODE."""
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def binstring(data):
    """Python 2's str at protocol 2 (SHORT_BINSTRING / BINSTRING)."""
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data
    return b"T" + struct.pack("<i", len(data)) + data


def py2_string0(data):
    """Python 2's str at protocol 0: S'...' with every byte escaped."""
    return b"S'" + "".join("\\x%02x" % c for c in data).encode() + b"'\n"


def py2_ndarray_proto2(a):
    """numpy.ndarray.__reduce__ as numpy under Python 2.7 pickled it at protocol 2."""
    assert a.dtype == np.float32 and a.ndim == 2
    shape = b"K" + bytes([a.shape[0]]) + b"K" + bytes([a.shape[1]]) + b"\x86"
    return (g("numpy.core.multiarray", "_reconstruct") + g("numpy", "ndarray") +
            b"K\x00\x85" + binstring(b"b") + b"\x87R" +
            b"(K\x01" + shape +
            g("numpy", "dtype") + binstring(b"f4") + b"K\x00K\x01\x87R" +
            b"(K\x03" + binstring(b"<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb" +
            b"\x89" + binstring(a.tobytes()) + b"tb")


class _Reduce:
    """An object whose pickle calls func(*args) when loaded by pickle.load."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


class RealPicklesTest(unittest.TestCase):
    """Every real pickle of tests/import loads (Theano 1.0.5 / Lasagne files)."""

    def test_weight_pickles_match_numpy_values(self):
        # Plain-data pickles: the arrays must be exactly what the file holds. The reference is
        # read back from the inputs we trust (our own test data) — recomputed via the .npy
        # round trip, not pickle.load.
        params = sp.load_file(case("lasagne_resnet_mini", "params.pkl"))
        self.assertIsInstance(params, list)
        self.assertTrue(all(isinstance(p, np.ndarray) and p.dtype == np.float32 for p in params))
        nin = sp.load_file(case("lasagne_nin_avgpool", "weights.pkl"))
        self.assertEqual(sorted(nin), ["mean value", "param values", "synset words"])
        inc = sp.load_file(case("lasagne_inception_lrn", "params.pickle"))
        self.assertIsInstance(inc, collections.OrderedDict)
        self.assertTrue(all(isinstance(v, list) for v in inc.values()))

    def test_arrays_equal_what_numpy_wrote(self):
        # The same arrays re-pickled by numpy at protocols 0-5 read back bit-identical.
        params = sp.load_file(case("lasagne_resnet_mini", "params.pkl"))
        for proto in range(0, 6):
            back = sp.loads(pickle.dumps(params, protocol=proto), what="p%d" % proto)
            for a, b in zip(params, back):
                np.testing.assert_array_equal(a, b)
                self.assertEqual((a.dtype, a.shape), (b.dtype, b.shape))

    def test_whole_lasagne_network(self):
        net = sp.load_file(case("lasagne_pickled_net", "network.pkl"))
        self.assertIsInstance(net, sp.Record)
        self.assertEqual(net.qualname, "lasagne.layers.dense.DenseLayer")
        self.assertEqual(net.nonlinearity, sp.GlobalRef("lasagne.nonlinearities", "softmax"))
        w = sp.to_array(net.W)
        self.assertEqual(w.dtype, np.float32)
        self.assertEqual(w.shape[1], net.num_units)
        self.assertEqual(net.W.get("name"), "W")   # .name is the class name; get() the state's
        self.assertEqual(net.W.name, "TensorSharedVariable")

    def test_compiled_function_and_pkl_utils_zip(self):
        for path in (case("theano_function_lenet", "model.pkl"),
                     case("theano_pkl_utils_lenet", "model.zip")):
            f = sp.load_file(path)
            self.assertEqual(f.qualname, "theano.compile.function_module._constructor_Function")
            maker = f.args[0]
            self.assertEqual(maker.name, "FunctionMaker")
            shared = [i for i in maker.inputs if i.get("implicit")]
            arrays = [sp.to_array(i.variable) for i in shared]
            self.assertTrue(arrays and all(isinstance(a, np.ndarray) for a in arrays), path)

    def test_zip_arrays_come_from_the_members(self):
        f = sp.load_file(case("theano_pkl_utils_lenet", "model.zip"))
        maker = f.args[0]
        by_name = {i.variable.get("name"): sp.to_array(i.variable) for i in maker.inputs
                   if i.get("implicit")}
        with zipfile.ZipFile(case("theano_pkl_utils_lenet", "model.zip")) as z:
            with z.open("W0") as m:
                w0 = sp.read_npy_any(m, "W0")
        np.testing.assert_array_equal(by_name["W0"], w0)

    def test_symbolic_graph(self):
        d = sp.load_file(case("theano_symbolic_modern", "graph.pkl"))
        self.assertEqual(sorted(d), ["input", "output"])
        self.assertEqual(d["input"].qualname, "theano.tensor.var.TensorVariable")
        self.assertEqual(d["input"].get("name"), "x")
        self.assertIsNone(d["input"].owner)
        self.assertEqual(d["output"].owner.name, "Apply")

    def test_compressed_pickles(self):
        with open(case("lasagne_resnet_mini", "params.pkl"), "rb") as f:
            data = f.read()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "params.pkl.gz")
            with gzip.open(path, "wb") as f:
                f.write(data)
            params = sp.load_file(path)
            self.assertEqual(len(params), len(sp.loads(data, what="x")))


class RefusedTest(unittest.TestCase):
    """Hostile pickles are refused by name, and nothing they name runs (sentinel file)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.sentinel = os.path.join(self.tmp.name, "pwned")

    def tearDown(self):
        self.tmp.cleanup()

    def assertRefused(self, data, pattern):
        with self.assertRaisesRegex(ImporterError, pattern):
            sp.loads(data, what="evil.pkl")
        self.assertFalse(os.path.exists(self.sentinel), "the pickle ran something")
        # The same file through load_file names the path.
        path = os.path.join(self.tmp.name, "evil.pkl")
        with open(path, "wb") as f:
            f.write(data)
        with self.assertRaisesRegex(ImporterError, "^" + path + ": "):
            sp.load_file(path)
        self.assertFalse(os.path.exists(self.sentinel), "the pickle ran something")

    def test_os_system_via_reduce(self):
        for proto in (0, 2, 4):
            data = pickle.dumps(_Reduce(os.system, "touch " + self.sentinel), protocol=proto)
            self.assertRefused(data, r"refers to (os|posix)\.system, which the importer never "
                                     r"loads \(allowed: numpy arrays.*lasagne\.\*, theano\.\*")

    def test_posix_system_by_hand(self):
        data = b"(" + g("posix", "system") + py2_string0(b"touch " + self.sentinel.encode()) + \
            b"tR."
        self.assertRefused(data, r"posix\.system")

    def test_builtins_eval(self):
        code = "open(%r, 'w')" % self.sentinel
        self.assertRefused(pickle.dumps(_Reduce(eval, code), protocol=3),
                           r"refers to builtins\.eval")
        # Python 2 spelling, mapped like pickle's fix_imports
        self.assertRefused(b"(" + g("__builtin__", "eval") + py2_string0(code.encode()) + b"tR.",
                           r"__builtin__\.eval \(builtins\.eval\)")

    def test_subprocess_popen(self):
        data = pickle.dumps(_Reduce(subprocess.Popen, ["touch", self.sentinel]), protocol=2)
        self.assertRefused(data, r"subprocess\.Popen")

    def test_global_hidden_in_a_records_state(self):
        # A TensorVariable (allowed, inert) whose state's 'tag' calls os.system.
        data = (b"\x80\x02" + g("theano.tensor.var", "TensorVariable") + b")\x81}" +
                u("tag") + g("os", "system") + u("touch " + self.sentinel) + b"\x85R" +
                b"sb.")
        self.assertRefused(data, r"os\.system")

    def test_numpy_functions_are_not_data_constructors(self):
        self.assertRefused(pickle.dumps(_Reduce(np.load, self.sentinel), protocol=2),
                           r"numpy\.load")
        # numpy.testing's runstring exec()s its argument.
        data = (b"\x80\x02" + g("numpy.testing._private.utils", "runstring") +
                u("open(%r, 'w')" % self.sentinel) + b"}\x86R.")
        self.assertRefused(data, r"numpy\.testing\._private\.utils\.runstring")
        # numpy scalar types may be referenced (Theano's Cast.ctor) but not called.
        self.assertRefused(b"\x80\x02" + g("numpy", "float32") + u("1") + b"\x85R.",
                           r"call numpy\.float32")

    def test_reduce_tricks(self):
        # getattr on an allowed reference may not reach dunder attributes...
        data = (b"\x80\x02" + g("__builtin__", "getattr") + g("theano", "function") +
                u("__globals__") + b"\x86R.")
        self.assertRefused(data, r"getattr\(theano\.function, '__globals__'\)")
        # ... builtins may not be called ...
        self.assertRefused(b"\x80\x02" + g("__builtin__", "type") + u("X") + b")}\x87R.",
                           r"call builtins\.type")
        # ... copyreg only reconstructs allowed classes ...
        data = (b"\x80\x02" + g("copy_reg", "_reconstructor") + g("subprocess", "Popen") +
                g("__builtin__", "object") + b"N\x87R.")
        self.assertRefused(data, r"subprocess\.Popen")
        # ... NEWOBJ of a builtin type is refused ...
        self.assertRefused(b"\x80\x02" + g("__builtin__", "object") + b")\x81.",
                           r"instantiate builtins\.object")
        # ... a bytes(n) bomb is refused ...
        self.assertRefused(b"\x80\x02" + g("__builtin__", "bytes") + b"J\x00\x00\x00\x40\x85R.",
                           r"bytes")
        # ... the copyreg extension registry is not consulted ...
        self.assertRefused(b"\x80\x02\x82\x01.", r"extension code 1")
        # ... and BUILD may not set the state of a non-record (here a dict).
        self.assertRefused(b"\x80\x02}}" + u("x") + b"K\x01sb.", r"sets the state of a dict")

    def test_classes_of_the_users_code_are_data_never_called(self):
        # nolearn NeuralNet pickles carry callbacks defined in the training script, e.g.
        # on_epoch_finished=[AdjustVariable('update_learning_rate', start=0.03, stop=0.0001)]:
        # protocol 2 instance (NEWOBJ + BUILD) and protocol 0 (copy_reg._reconstructor).
        class_ref = g("__main__", "AdjustVariable")
        rec = sp.loads(b"\x80\x02" + class_ref + b")\x81}(" + u("name") +
                       u("update_learning_rate") + u("start") + b"G?\x9e\xb8Q\xeb\x85\x1e\xb8" +
                       b"ub.", what="net.pkl")
        self.assertIsInstance(rec, sp.Record)
        self.assertEqual((rec.qualname, rec.get("name"), rec.start),
                         ("__main__.AdjustVariable", "update_learning_rate", 0.03))
        rec0 = sp.loads(g("copy_reg", "_reconstructor") + b"(" + g("mytraining", "Callback") +
                        g("__builtin__", "object") + b"Ntp0\nRp1\n(dp2\n" +
                        py2_string0(b"every") + b"I5\nsb.", what="net.pkl")
        self.assertEqual((rec0.qualname, rec0.every), ("mytraining.Callback", 5))
        # A function of the user's code may be referenced (a frontend then names it) ...
        ref = sp.loads(b"\x80\x02" + g("__main__", "my_nonlinearity") + b".", what="net.pkl")
        self.assertTrue(ref.user_code)
        # ... but never called, at any protocol, nor may user code reach the standard library.
        self.assertRefused(b"\x80\x02" + g("__main__", "evil") + u(self.sentinel) + b"\x85R.",
                           r"call __main__\.evil \(from your own code, which the importer never "
                           r"runs\)")
        self.assertRefused(g("mytraining", "run") + b"(tR.", r"call mytraining\.run")
        self.assertRefused(b"\x80\x02" + g("shutil", "rmtree") + u(self.sentinel) + b"\x85R.",
                           r"refers to shutil\.rmtree, which the importer never loads")

    def test_a_theano_function_named_by_the_file_is_not_called(self):
        # theano.* names become inert records even when the file "calls" them.
        rec = sp.loads(b"\x80\x02" + g("theano.misc.pkl_utils", "load") + u(self.sentinel) +
                       b"\x85R.", what="x")
        self.assertIsInstance(rec, sp.Record)
        self.assertEqual((rec.qualname, rec.args),
                         ("theano.misc.pkl_utils.load", (self.sentinel,)))

    def test_dtype_state_cannot_set_flags(self):
        # A float64 dtype whose state claims the 'holds Python objects' flags (63): numpy would
        # then read the float bytes as object pointers. The state's flags are ignored.
        arr = (g("numpy.core.multiarray", "_reconstruct") + g("numpy", "ndarray") +
               b"K\x00\x85C\x01b\x87R(K\x01K\x02\x85" +
               g("numpy", "dtype") + u("f8") + b"\x89\x88\x87R" +
               b"(K\x03" + u("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb" +
               b"\x89C\x10" + struct.pack("<2d", 1.5, -2.0) + b"tb.")
        a = sp.loads(b"\x80\x03" + arr, what="x")
        self.assertFalse(a.dtype.hasobject)
        np.testing.assert_array_equal(a, [1.5, -2.0])

    def test_structured_dtype_refused(self):
        data = (b"\x80\x03" + g("numpy", "dtype") + u("V8") + b"\x89\x88\x87R" +
                b"(K\x03" + u("|") + b"N" + u("a") + b"\x85}J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb.")
        with self.assertRaisesRegex(ImporterError, "structured"):
            sp.loads(data, what="x")

    def test_array_sizes_must_match_the_bytes(self):
        # shape (1000, 1000) float32 from 4 bytes: refused, not allocated.
        data = (b"\x80\x03" + g("numpy.core.multiarray", "_reconstruct") + g("numpy", "ndarray") +
                b"K\x00\x85C\x01b\x87R(K\x01M\xe8\x03M\xe8\x03\x86" + g("numpy", "dtype") +
                u("f4") + b"\x89\x88\x87R\x89C\x04\x00\x00\x00\x00tb.")
        with self.assertRaisesRegex(ImporterError, r"needs 4000000 bytes, the pickle has 4"):
            sp.loads(data, what="x")

    def test_length_fields_do_not_allocate(self):
        # BYTEARRAY8 / BINBYTES8 announcing 2**40 bytes in a 20-byte file: truncated, quickly.
        for op in (b"\x96", b"\x8e"):
            with self.assertRaisesRegex(ImporterError, r"ends early|not a valid pickle"):
                sp.loads(b"\x80\x05" + op + struct.pack("<Q", 1 << 40) + b"abc", what="x")

    def test_persistent_ids_need_a_loader(self):
        with self.assertRaisesRegex(ImporterError, r"persistent id 'ndarray\.W'"):
            sp.loads(b"\x80\x02" + u("ndarray.W") + b"Q.", what="x")

    def test_deep_nesting_is_not_a_crash(self):
        depth = 200000
        data = b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."
        out = sp.loads(data, what="x")
        self.assertIsInstance(out, list)


class BrokenFilesTest(unittest.TestCase):
    def test_truncated_real_pickles(self):
        with open(case("theano_function_lenet", "model.pkl"), "rb") as f:
            data = f.read()
        for cut in (0, 1, 2, 100, 5000, len(data) // 2, len(data) - 1):
            with self.assertRaisesRegex(
                    ImporterError, r"^model\.pkl: (the pickle ends early, at byte \d+ "
                                   r"\(truncated file\?\)|not a valid pickle)"):
                sp.loads(data[:cut], what="model.pkl")

    def test_truncation_reports_where_it_stopped(self):
        data = pickle.dumps([np.arange(100, dtype=np.float32)] * 3, protocol=2)
        with self.assertRaisesRegex(ImporterError, r"ends early, at byte %d" % 300):
            sp.loads(data[:300], what="w.pkl")

    def test_corrupt_bytes_never_escape_as_other_errors(self):
        # Byte flips all over a real pickle: each either loads or is an ImporterError.
        with open(case("theano_symbolic_modern", "graph.pkl"), "rb") as f:
            data = bytearray(f.read())
        rng = np.random.RandomState(0)
        for _ in range(300):
            mutated = bytearray(data)
            for pos in rng.randint(0, len(data), size=3):
                mutated[pos] = rng.randint(0, 256)
            try:
                sp.loads(bytes(mutated), what="graph.pkl")
            except ImporterError:
                pass

    def test_not_a_pickle(self):
        with self.assertRaisesRegex(ImporterError, r"^x: not a valid pickle"):
            sp.loads(b"hello world, not a pickle", what="x")

    def test_missing_file(self):
        with self.assertRaisesRegex(ImporterError, r"/nonexistent/model.pkl: No such file"):
            sp.load_file("/nonexistent/model.pkl")


class Python2Test(unittest.TestCase):
    """Pickles as Python 2.7 wrote them (hand-written opcodes)."""

    def test_protocol0_dict_of_arrays(self):
        raw = np.array([[1.0, -2.5, 3.25], [0.5, 1e-3, -7.0]], np.float32).tobytes()
        data = (b"(dp0\n" + py2_string0(b"W") + b"p1\n" +
                g("numpy.core.multiarray", "_reconstruct") + b"p2\n(" + g("numpy", "ndarray") +
                b"p3\n(I0\ntp4\n" + py2_string0(b"b") + b"p5\ntp6\nRp7\n" +
                b"(I1\n(I2\nI3\ntp8\n" + g("numpy", "dtype") + b"p9\n(" + py2_string0(b"f4") +
                b"p10\nI0\nI1\ntp11\nRp12\n(I3\n" + py2_string0(b"<") +
                b"p13\nNNNI-1\nI-1\nI0\ntp14\nbI00\n" + py2_string0(raw) + b"p15\ntp16\nbs.")
        out = sp.loads(data, what="py2.pkl")
        np.testing.assert_array_equal(
            out["W"], np.array([[1.0, -2.5, 3.25], [0.5, 1e-3, -7.0]], np.float32))

    def test_protocol2_list_of_arrays_with_latin1_bytes(self):
        a = np.array([[np.float32(-0.0), 1e-38], [255.0, -1.5]], np.float32)  # bytes >= 0x80
        data = b"\x80\x02]q\x00" + py2_ndarray_proto2(a) + b"a."
        out = sp.loads(data, what="py2.pkl")
        np.testing.assert_array_equal(out[0].view(np.uint32), a.view(np.uint32))

    def test_protocol0_new_style_instance_via_copy_reg(self):
        data = (g("copy_reg", "_reconstructor") + b"p0\n(" +
                g("lasagne.layers.dense", "DenseLayer") + b"p1\n" + g("__builtin__", "object") +
                b"p2\nNtp3\nRp4\n(dp5\n" + py2_string0(b"num_units") + b"p6\nI10\nsb.")
        rec = sp.loads(data, what="py2.pkl")
        self.assertEqual((rec.qualname, rec.num_units), ("lasagne.layers.dense.DenseLayer", 10))

    def test_protocol0_old_style_instance(self):
        data = (b"(i" + b"lasagne.init\nConstant\n" + b"p0\n(dp1\n" + py2_string0(b"val") +
                b"p2\nF0.25\nsb.")
        rec = sp.loads(data, what="py2.pkl")
        self.assertEqual((rec.qualname, rec.val), ("lasagne.init.Constant", 0.25))

    def test_protocol2_ordered_dict_and_set(self):
        data = (b"\x80\x02" + g("collections", "OrderedDict") + b"](](" + binstring(b"a") +
                b"K\x01e](" + binstring(b"b") + b"K\x02ee\x85R" +
                g("__builtin__", "set") + b"]K\x03a\x85R\x86.")
        od, s = sp.loads(data, what="py2.pkl")
        self.assertEqual(list(od.items()), [("a", 1), ("b", 2)])
        self.assertEqual(s, {3})


class GpuHoldersTest(unittest.TestCase):
    """Theano's CudaNdarray (old back-end) and GpuArray (gpuarray back-end) pickles read as
    numpy: theano/sandbox/cuda/type.py CudaNdarray_pickler, theano/gpuarray/type.py
    GpuArray_pickler."""

    W = np.array([[1.0, 2.0], [3.0, -4.0]], np.float32)

    def test_cuda_ndarray_shared_variable(self):
        data = (b"\x80\x02" + g("theano.sandbox.cuda.var", "CudaNdarraySharedVariable") +
                b")\x81}(" + u("name") + u("W") + u("container") +
                g("theano.gof.link", "Container") + b")\x81}" + u("storage") + b"]" +
                g("theano.sandbox.cuda.type", "CudaNdarray_unpickler") +
                py2_ndarray_proto2(self.W) + b"\x85Ra" + b"sbub.")
        var = sp.loads(data, what="gpu.pkl")
        self.assertEqual(var.get("name"), "W")
        a = sp.to_array(var)
        self.assertIs(type(a), np.ndarray)
        np.testing.assert_array_equal(a, self.W)

    def test_gpuarray(self):
        data = (b"\x80\x02" + g("theano.gpuarray.type", "GpuArray_unpickler") +
                py2_ndarray_proto2(self.W) + u("None") + b"\x86R.")
        np.testing.assert_array_equal(sp.loads(data, what="gpu.pkl"), self.W)

    def test_holder_of_something_else_is_refused(self):
        data = (b"\x80\x02" + g("theano.sandbox.cuda.type", "CudaNdarray_unpickler") +
                u("rm -rf /") + b"\x85R.")
        with self.assertRaisesRegex(ImporterError, r"GPU array holder whose data is str"):
            sp.loads(data, what="gpu.pkl")


class PklUtilsZipTest(unittest.TestCase):
    def write_zip(self, path, members, obj):
        """Writes a pkl_utils-style zip: `obj` pickled with numpy arrays as persistent ids
        'ndarray.NAME' (NAME = the array's key in `members`)."""
        ids = {id(a): name for name, a in members.items()}

        class P(pickle.Pickler):
            def persistent_id(self, o):
                if isinstance(o, np.ndarray) and id(o) in ids:
                    return "ndarray." + ids[id(o)]
                return None

        buf = io.BytesIO()
        P(buf, protocol=2).dump(obj)
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("pkl", buf.getvalue())
            for name, a in members.items():
                b = io.BytesIO()
                np.save(b, a)
                z.writestr(name, b.getvalue())

    def test_members_resolve_and_missing_member_is_named(self):
        w = np.arange(6, dtype=np.float32).reshape(2, 3)
        b = np.ones(3, np.float32)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "model.zip")
            self.write_zip(path, {"conv1.W": w, "b": b}, {"W": w, "b": b, "W again": w})
            out = sp.load_file(path)
            np.testing.assert_array_equal(out["W"], w)
            self.assertIs(out["W"], out["W again"])
            # Rewrite without the 'b' member.
            with zipfile.ZipFile(path) as z:
                kept = {n: z.read(n) for n in z.namelist() if n != "b"}
            with zipfile.ZipFile(path, "w") as z:
                for n, data in kept.items():
                    z.writestr(n, data)
            with self.assertRaisesRegex(ImporterError,
                                        r"model\.zip: the pickle refers to member 'b' "
                                        r"\(persistent id 'ndarray\.b'\), which the zip does not "
                                        r"have \(members: pkl, conv1\.W\)"):
                sp.load_file(path)

    def test_zip_without_pkl(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "weights.npz")
            np.savez(path, a=np.zeros(2))
            with self.assertRaisesRegex(ImporterError, r"without a 'pkl' member.*members: a\.npy"):
                sp.load_file(path)


class NpyTest(unittest.TestCase):
    def test_numeric_and_object_members(self):
        ragged = np.empty(2, dtype=object)
        ragged[0], ragged[1] = np.ones((2, 2), np.float32), np.zeros(3, np.float64)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.npz")
            np.savez(path, a=np.arange(12, dtype=">f4").reshape(3, 4),
                     f=np.asfortranarray(np.arange(6.0).reshape(2, 3)), ragged=ragged)
            out = sp.read_npz_any(path)
        self.assertEqual(list(out), ["a", "f", "ragged"])
        np.testing.assert_array_equal(out["a"], np.arange(12).reshape(3, 4))
        np.testing.assert_array_equal(out["f"], np.arange(6.0).reshape(2, 3))
        np.testing.assert_array_equal(out["ragged"][0], np.ones((2, 2)))
        self.assertEqual(out["ragged"][1].dtype, np.float64)

    def test_object_member_with_a_hostile_pickle(self):
        evil = np.empty(1, dtype=object)
        with tempfile.TemporaryDirectory() as d:
            sentinel = os.path.join(d, "pwned")
            evil[0] = _Reduce(os.system, "touch " + sentinel)
            path = os.path.join(d, "evil.npz")
            np.savez(path, evil=evil)
            with self.assertRaisesRegex(ImporterError,
                                        r"evil\.npz:evil\.npy \(object array data\): the pickle "
                                        r"refers to (os|posix)\.system"):
                sp.read_npz_any(path)
            self.assertFalse(os.path.exists(sentinel))

    def test_truncated_npy(self):
        b = io.BytesIO()
        np.save(b, np.arange(100, dtype=np.float32))
        with self.assertRaisesRegex(ImporterError, r"x: the \.npy data ends early: 200 of 400"):
            sp.read_npy_any(io.BytesIO(b.getvalue()[:-200]), "x")


if __name__ == "__main__":
    unittest.main()
