"""Helpers shared by the test_lasagne_* suites (no tests here).

Runs the importer in-process (cli.main) or as the command, and the engine's model tool when a
build is available (THEANO_SERVING_BIN_DIR, set by ctest; else build/bin of the source tree)."""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from theano_serving_import import cli

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("TS_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CASES_DIR = os.path.join(SOURCE_DIR, "tests", "import")
IMPORTER_DIR = os.path.join(SOURCE_DIR, "tools", "importer")


def bin_dir() -> Optional[str]:
    for d in (os.environ.get("THEANO_SERVING_BIN_DIR"), os.path.join(SOURCE_DIR, "build", "bin")):
        if d and os.access(os.path.join(d, "theano-serving-model"), os.X_OK):
            return d
    return None


def model_tool() -> Optional[str]:
    d = bin_dir()
    return os.path.join(d, "theano-serving-model") if d else None


def run_import(argv: Sequence[str]) -> Tuple[int, str, str]:
    """cli.main(['lasagne', ...]) in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["lasagne"] + list(argv))
    return code, out.getvalue(), err.getvalue()


def run_command(argv: Sequence[str], timeout: int = 300) -> subprocess.CompletedProcess:
    """The importer as a separate process (python3 -m theano_serving_import lasagne ...)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = IMPORTER_DIR
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([sys.executable, "-m", "theano_serving_import", "lasagne"] + list(argv),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=timeout)


def write(folder: str, name: str, text: str) -> str:
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def load_model(model_dir: str) -> Tuple[dict, Dict[str, np.ndarray]]:
    with open(os.path.join(model_dir, "model.json")) as f:
        model = json.load(f)
    with np.load(os.path.join(model_dir, "params.npz")) as z:
        params = {k: z[k] for k in z.files}
    return model, params


def import_net(tmp: str, net_code: str, arrays: Sequence[np.ndarray], extra: Sequence[str] = (),
               check: bool = False) -> Tuple[dict, Dict[str, np.ndarray], str]:
    """Writes net.py + w.npz (arr_N) into tmp, imports into tmp/out; returns the model, its
    params and the stdout. Fails the calling test with the importer's message on error."""
    net = write(tmp, "net.py", net_code)
    wpath = os.path.join(tmp, "w.npz")
    np.savez(wpath, *arrays)
    out = os.path.join(tmp, "out")
    if os.path.exists(out):
        shutil.rmtree(out)
    argv = [net, "--weights", wpath, "--out", out] + list(extra)
    if not check:
        argv.append("--no-check")
    code, stdout, stderr = run_import(argv)
    if code != 0:
        raise AssertionError("import failed: %s" % stderr.strip())
    model, params = load_model(out)
    return model, params, stdout


def predict(model_dir: str, x: np.ndarray, engine: str = "reference") -> np.ndarray:
    """The engine's output for the batch x (theano-serving-model predict --json), shaped
    (batch, -1)."""
    tool = model_tool()
    assert tool is not None
    with tempfile.TemporaryDirectory() as tmp:
        xpath = os.path.join(tmp, "x.npy")
        np.save(xpath, x)
        proc = subprocess.run([tool, "predict", model_dir, "--json", xpath, "--engine", engine],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=300)
        if proc.returncode != 0:
            raise AssertionError("predict failed: %s" % proc.stderr.strip())
        rows = json.loads(proc.stdout)
    return np.array([r["output"] for r in rows], dtype=np.float64)


def cut_model(model_dir: str, last_layer: str, out_dir: str) -> None:
    """A copy of the model that ends at `last_layer` (later layers, their parameters and the
    class labels removed)."""
    model, params = load_model(model_dir)
    names = [l.get("name") for l in model["layers"]]
    k = names.index(last_layer)
    model["layers"] = model["layers"][:k + 1]
    model.pop("classes", None)
    used = {p for l in model["layers"] for p in l.get("params", [])}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump(model, f)
    np.savez(os.path.join(out_dir, "params.npz"), **{k: v for k, v in params.items() if k in used})


def verify(model_dir: str, inputs: str, expected: str, engine: str) -> str:
    tool = model_tool()
    assert tool is not None
    proc = subprocess.run([tool, "verify", model_dir, "--inputs", inputs, "--expected", expected,
                           "--engine", engine], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError("verify (%s engine) failed: %s%s" % (engine, proc.stdout,
                                                                  proc.stderr))
    return proc.stdout


def ops(model: dict) -> List[str]:
    return [l["op"] for l in model["layers"]]


def layer(model: dict, name: str) -> dict:
    for l in model["layers"]:
        if l.get("name") == name:
            return l
    raise AssertionError("no layer %r in %s" % (name, [l.get("name") for l in model["layers"]]))
