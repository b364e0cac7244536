#!/usr/bin/env python3
"""Regenerates tests/fuzz/corpus/ (the seed corpora) from real files of the repository.

  tests/fuzz/make_seeds.py            # from the repository root or anywhere

Python standard library only. Seeds:
  fuzz_image       models/fashion_lenet/samples/*.png, tests/fuzz/seed_images/ (JPEG, BMP, TIFF,
                   WebP, colour, 1x1: OpenCV re-encodings of sample 0000), truncations
  fuzz_model_json  models/*/*/model.json, and one-layer models made from tests/golden cases
  fuzz_npy         the members of models/fashion_lenet/1/params.npz
  fuzz_npz         a small params.npz (the real one's small members; the real 1.7 MB one is too
                   big for libFuzzer's -max_len) and a deflated copy
  fuzz_v2_infer    serialized inference.ModelInferRequest messages (FP32, FP64, raw, BYTES, outputs)
  fuzz_classify    serialized theano_serving.v1.ClassifyRequest messages
"""
import glob
import io
import json
import os
import shutil
import struct
import subprocess
import zipfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
MODEL = os.path.join(ROOT, "models", "fashion_lenet", "1")


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# Minimal protobuf wire encoding (enough for the two request messages).
def varint(n):
    n &= (1 << 64) - 1
    b = b""
    while True:
        c = n & 0x7F
        n >>= 7
        if n:
            b += bytes([c | 0x80])
        else:
            return b + bytes([c])


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, n):
    return varint(num << 3) + varint(n)


def packed_int64(num, values):
    return field_bytes(num, b"".join(varint(v) for v in values))


def packed_f32(num, values):
    return field_bytes(num, struct.pack("<%df" % len(values), *values))


def packed_f64(num, values):
    return field_bytes(num, struct.pack("<%dd" % len(values), *values))


def infer_input(name, datatype, shape, contents=b""):
    msg = field_bytes(1, name) + field_bytes(2, datatype) + packed_int64(3, shape)
    if contents:
        msg += field_bytes(5, contents)
    return msg


def infer_request(model, version, inputs, outputs=(), raw=()):
    msg = field_bytes(1, model)
    if version:
        msg += field_bytes(2, version)
    msg += field_bytes(3, "fuzz")
    for i in inputs:
        msg += field_bytes(5, i)
    for o in outputs:
        msg += field_bytes(6, o)
    for r in raw:
        msg += field_bytes(7, r)
    return msg


def classification_output(k):
    param = field_varint(2, k)  # InferParameter.int64_param
    entry = field_bytes(1, "classification") + field_bytes(2, param)
    return field_bytes(1, "output") + field_bytes(2, entry)


# Small models with the ops the importers write, as theano-serving-import writes them.
IMPORTER_OP_SEEDS = {
    "importer_ops_tensor": {
        "input": {"shape": [4, 5, 6]},
        "layers": [
            {"name": "p", "op": "pad", "attrs": {"width": [[1, 0], [0, 2]], "value": 0}},
            {"name": "d", "op": "dimshuffle", "attrs": {"pattern": [0, 1, 3, 2]}},
            {"name": "s", "op": "subtensor", "attrs": {"axis": 3, "start": 0, "stop": 5}},
            {"name": "m", "op": "mul", "params": ["scale"],
             "attrs": {"operands": ["input:0", "param:0"]}},
            {"name": "a", "op": "add", "attrs": {"operands": [0.5, "input:0"]}},
            {"name": "r", "op": "reshape", "attrs": {"shape": [[0], 2, -1, [2], [3]]}},
            {"name": "x", "op": "max", "attrs": {"axis": 1}},
            {"name": "g", "op": "mean", "attrs": {"axis": [2, 3]}},
            {"op": "clip", "attrs": {"min": -1, "max": 1}}],
        "params": {"scale": {"shape": [4, 1, 1]}}},
    "importer_ops_image": {
        "input": {"shape": [3, 8, 8], "grayscale": False},
        "layers": [
            {"name": "c", "op": "conv2d", "attrs": {"border_mode": "half", "filter_flip": False},
             "params": ["W"]},
            {"name": "bn", "op": "batch_norm_inv_std", "params": ["gamma", "beta", "mean", "inv_std"]},
            {"name": "lrn", "op": "local_response_normalization",
             "attrs": {"alpha": 0.0001, "k": 2, "beta": 0.75, "n": 5}},
            {"name": "cat", "op": "concatenate", "inputs": ["bn", "lrn"], "attrs": {"axis": 1}},
            {"op": "flatten", "attrs": {"ndim": 3}},
            {"op": "mean", "attrs": {"axis": 2}},
            {"op": "dense", "params": ["fc"]},
            {"op": "softmax"}],
        "params": {"W": {"shape": [4, 3, 3, 3]}, "gamma": {"shape": [4]}, "beta": {"shape": [4]},
                   "mean": {"shape": [4]}, "inv_std": {"shape": [4]}, "fc": {"shape": [8, 3]}}},
}


def main():
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    samples = sorted(glob.glob(os.path.join(ROOT, "models", "fashion_lenet", "samples", "*.png")))
    pngs = [open(p, "rb").read() for p in samples]

    # fuzz_image
    for p, data in zip(samples, pngs):
        out("fuzz_image", os.path.basename(p), data)
    out("fuzz_image", "truncated_png", pngs[0][:60])
    # Other formats and a colour image: re-encodings of samples/0000_ankle_boot.png by OpenCV
    # (cv::imencode, as core/preprocess.h EncodeImage), kept in tests/fuzz/seed_images/.
    for p in sorted(glob.glob(os.path.join(ROOT, "tests", "fuzz", "seed_images", "*"))):
        out("fuzz_image", os.path.basename(p), open(p, "rb").read())
    jpg = os.path.join(ROOT, "tests", "fuzz", "seed_images", "sample0.jpg")
    if os.path.exists(jpg):
        data = open(jpg, "rb").read()
        out("fuzz_image", "truncated_jpg", data[: len(data) // 2])

    # fuzz_model_json
    for p in sorted(glob.glob(os.path.join(ROOT, "models", "*", "*", "model.json"))):
        out("fuzz_model_json", p.split(os.sep)[-3] + "_" + p.split(os.sep)[-2] + ".json",
            open(p, "rb").read())
    for g in sorted(glob.glob(os.path.join(ROOT, "tests", "golden", "*.json"))):
        cases = json.load(open(g)).get("cases", [])
        for c in cases[:6]:
            ins = c.get("inputs", [])
            if not ins or len(ins[0].get("shape", [])) != 4:
                continue
            shape = ins[0]["shape"][1:]
            if shape[0] not in (1, 3):
                continue
            if c["op"] == "network":
                layers = c["layers"]
            else:
                layers = [{"op": c["op"], "attrs": c.get("attrs", {}),
                           "params": [i["name"] for i in ins[1:]]}]
            model = {"input": {"shape": shape, "grayscale": shape[0] == 1},
                     "layers": layers,
                     "params": {i["name"]: {"shape": i["shape"]} for i in ins[1:]}}
            out("fuzz_model_json", c["name"] + ".json", json.dumps(model))

    # The ops the importers write (docs/MODEL_FORMAT.md), on a tensor-only input and an image.
    for name, model in IMPORTER_OP_SEEDS.items():
        out("fuzz_model_json", name + ".json", json.dumps(model))

    # fuzz_npy and fuzz_npz
    small = {}
    with zipfile.ZipFile(os.path.join(MODEL, "params.npz")) as z:
        for name in z.namelist():
            data = z.read(name)
            if len(data) <= 32768:
                out("fuzz_npy", name, data)
            else:  # big members: the header and a truncated body only
                out("fuzz_npy", name.replace(".npy", "_truncated.npy"), data[:1024])
            if len(data) < 4096:
                small[name] = data
    for method, tag in ((zipfile.ZIP_STORED, "stored"), (zipfile.ZIP_DEFLATED, "deflated")):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", method) as z:
            for name, data in small.items():
                z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, method)
        out("fuzz_npz", "small_%s.npz" % tag, buf.getvalue())

    # fuzz_v2_infer
    m = "fashion_lenet"
    zeros = [0.5] * 784
    contents32 = packed_f32(6, zeros)
    out("fuzz_v2_infer", "fp32", infer_request(m, "", [infer_input("input", "FP32", [1, 1, 28, 28],
                                                                   contents32)]))
    out("fuzz_v2_infer", "fp64_v1", infer_request(
        m, "1", [infer_input("input", "FP64", [1, 1, 28, 28], packed_f64(7, zeros))]))
    out("fuzz_v2_infer", "fp32_raw_top3", infer_request(
        m, "", [infer_input("input", "FP32", [1, 1, 28, 28])], [classification_output(3)],
        [struct.pack("<784f", *zeros)]))
    out("fuzz_v2_infer", "bytes_2", infer_request(
        m, "", [infer_input("input", "BYTES", [2], field_bytes(8, pngs[0]) + field_bytes(8, pngs[1]))],
        [classification_output(2)]))
    out("fuzz_v2_infer", "bytes_raw", infer_request(
        m, "", [infer_input("input", "BYTES", [1, 1])], [],
        [struct.pack("<I", len(pngs[2])) + pngs[2]]))
    out("fuzz_v2_infer", "bad_shape", infer_request(m, "", [infer_input("input", "FP32", [1, 1, 27, 28],
                                                                        contents32)]))

    # fuzz_classify
    def image(data, ident):
        return field_bytes(1, data) + field_bytes(2, ident)
    out("fuzz_classify", "one", field_bytes(1, m) + field_bytes(3, image(pngs[0], "a")))
    out("fuzz_classify", "three_top2_v1", field_bytes(1, m) + field_varint(2, 1) +
        b"".join(field_bytes(3, image(p, str(i))) for i, p in enumerate(pngs[:3])) +
        field_varint(4, 2))
    out("fuzz_classify", "unknown_model", field_bytes(1, "../fashion_lenet") +
        field_bytes(3, image(pngs[0], "a")))
    out("fuzz_classify", "garbage_image", field_bytes(1, m) + field_bytes(3, image(b"GIF89a\x01", "x")))


if __name__ == "__main__":
    main()
