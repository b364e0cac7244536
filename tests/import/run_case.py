#!/usr/bin/env python3
"""Imports one case of tests/import/ with theano-serving-import, then checks the model against the
outputs real Theano (with Lasagne or Keras) computed for the case's inputs, through both engines:
`theano-serving-model verify OUT --inputs inputs.npy --expected outputs.npy`.

    run_case.py CASE_DIR --bin BUILD/bin --out MODEL_DIR

The command line given to the importer is the one a user would type for that kind of file
(case.json `kind`, tests/import/README.md). Exit status 0 only if the import and every engine's
comparison (tolerance and top-1) pass. Uses nothing but the standard library: the importer and the
model tool do the work.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys


def importer_args(case_dir: str, case: dict) -> list:
    """The user's command line for this case, without --out."""
    def path(name):
        return os.path.join(case_dir, name)

    kind = case["kind"]
    if kind == "lasagne":
        args = ["lasagne", path(case["network"]), "--weights", path(case["weights"])]
        if case.get("build") and case["build"] != "build_model":
            args += ["--build", case["build"]]
        if case.get("output_layer"):
            args += ["--output-layer", case["output_layer"]]
        return args
    if kind == "lasagne_pickle":
        return ["lasagne", "--weights", path(case["weights"])]
    if kind == "theano":
        return ["theano", path(case["weights"]), "--input-shape",
                ",".join(str(d) for d in case["input_shape"])]
    if kind == "keras":
        if case["form"] == "json_weights":
            return ["keras", path(case["architecture"]), "--weights", path(case["weights"])]
        return ["keras", path(case["model"])]
    raise SystemExit("%s: unknown case kind %r" % (case_dir, kind))


def run(cmd: list) -> int:
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, timeout=600).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case_dir")
    parser.add_argument("--bin", required=True, help="the build's bin/ directory")
    parser.add_argument("--out", required=True, help="model directory to write (replaced)")
    args = parser.parse_args()
    with open(os.path.join(args.case_dir, "case.json")) as f:
        case = json.load(f)
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    importer = os.path.join(args.bin, "theano-serving-import")
    if run([importer] + importer_args(args.case_dir, case) + ["--out", args.out]) != 0:
        print("FAIL: the import failed")
        return 1
    tool = os.path.join(args.bin, "theano-serving-model")
    rc = run([tool, "verify", args.out,
              "--inputs", os.path.join(args.case_dir, "inputs.npy"),
              "--expected", os.path.join(args.case_dir, "outputs.npy")])
    if rc != 0:
        print("FAIL: the imported model differs from Theano's outputs")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
