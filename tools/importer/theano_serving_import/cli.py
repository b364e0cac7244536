"""The `theano-serving-import` command: one subcommand per source framework.

    theano-serving-import lasagne [NET.py] --weights FILE --out DIR [...]
    theano-serving-import theano FILE --input-shape C,H,W --out DIR [...]
    theano-serving-import keras MODEL.h5 | ARCH.json --weights WEIGHTS.h5 --out DIR [...]

Each frontend module (lasagne_import, theano_import, keras_import) provides
`add_arguments(parser)` and `build(args) -> ModelBuilder`. The options every subcommand shares
(output, naming, labels, image preprocessing) are applied here, then the model directory is
written and loaded once by `theano-serving-model inspect`, so that a model the engine would refuse
is reported now, with the engine's reason, and never left half-written.

Exit status: 0 imported; 1 the files cannot be imported (one message, no traceback); 2 usage.
"""

import argparse
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from fractions import Fraction
from typing import List, Optional, Sequence

from theano_serving_import import __version__
from theano_serving_import.errors import ImporterError
from theano_serving_import.model_builder import ModelBuilder, read_classes

# subcommand -> (module, one-line help). A module that is not there yet is not offered.
FRONTENDS = {
    "lasagne": ("theano_serving_import.lasagne_import",
                "Lasagne network code + saved weights, or a whole pickled Lasagne network"),
    "theano": ("theano_serving_import.theano_import",
               "a pickled theano.function, symbolic graph, or theano.misc.pkl_utils zip"),
    "keras": ("theano_serving_import.keras_import",
              "a Keras 1.x/2.x model saved on the Theano backend (.h5, or .json + weights .h5)"),
}


def parse_number(text: str) -> float:
    """A float written as a decimal or a fraction: '0.5', '1/255'."""
    try:
        return float(Fraction(text)) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError("not a number: %r" % text)


def parse_numbers(text: str) -> List[float]:
    return [parse_number(t) for t in text.split(",") if t.strip()]


def parse_shape(text: str) -> List[int]:
    """'3,32,32' -> [3, 32, 32]."""
    try:
        shape = [int(t) for t in text.replace("x", ",").split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("not a shape like C,H,W: %r" % text)
    if not shape or any(d <= 0 for d in shape):
        raise argparse.ArgumentTypeError("not a shape of positive sizes: %r" % text)
    return shape


def _add_common(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("output")
    g.add_argument("--out", required=True, metavar="DIR",
                   help="model directory to write (model.json + params.npz); for a model "
                        "repository use REPO/NAME/VERSION, e.g. models/mynet/1")
    g.add_argument("--name", help="model name recorded in model.json (default: the repository "
                                  "folder name when served)")
    g.add_argument("--classes", metavar="FILE",
                   help="class labels, one per line, in output order")
    g.add_argument("--force", action="store_true", help="replace a model already in --out")
    g.add_argument("--no-check", action="store_true",
                   help="do not load the written model with theano-serving-model inspect")
    p = parser.add_argument_group(
        "image preprocessing (encoded images only; tensors are sent already preprocessed)")
    p.add_argument("--scale", type=parse_number, metavar="S",
                   help="pixel multiplier, e.g. 1/255 (default 1)")
    p.add_argument("--mean", type=parse_numbers, metavar="M[,M...]",
                   help="per-channel mean subtracted after scaling")
    p.add_argument("--std", type=parse_numbers, metavar="S[,S...]",
                   help="per-channel divisor after the mean")
    p.add_argument("--channel-order", choices=("RGB", "BGR"),
                   help="colour models: the order of the model's channels")
    p.add_argument("--no-images", action="store_true",
                   help="serve tensors only: refuse encoded images")


def make_parser(available: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="theano-serving-import",
        description="Turn Theano-era model files into a theano-serving model directory, "
                    "without Theano, Lasagne or Keras installed (docs/IMPORT.md).")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in available:
        module_name, help_text = FRONTENDS[name]
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        _add_common(p)
        p.set_defaults(frontend=module)
    return parser


def _available_frontends() -> List[str]:
    names = []
    for name, (module_name, _) in FRONTENDS.items():
        try:
            importlib.util.find_spec(module_name)
        except ModuleNotFoundError:
            continue
        if importlib.util.find_spec(module_name) is not None:
            names.append(name)
    return names


def apply_common(builder: ModelBuilder, args: argparse.Namespace) -> None:
    """--name, --classes and the preprocessing options, over what the frontend found."""
    if args.name:
        builder.name = args.name
    if args.classes:
        builder.classes = read_classes(args.classes)
    spec = builder.input
    for key, value in (("scale", args.scale), ("mean", args.mean), ("std", args.std),
                       ("channel_order", args.channel_order)):
        if value is not None:
            spec[key] = value
    if args.no_images:
        spec["images"] = False


def check_with_engine(model_dir: str) -> Optional[str]:
    """Loads the model with `theano-serving-model inspect`; returns the engine's error text, or
    None when it loads (or when the model tool is not next to the launcher)."""
    bin_dir = os.environ.get("THEANO_SERVING_BIN_DIR", "")
    tool = os.path.join(bin_dir, "theano-serving-model")
    if not bin_dir or not os.access(tool, os.X_OK):
        return None
    proc = subprocess.run([tool, "inspect", model_dir], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
    if proc.returncode != 0:
        return (proc.stderr or proc.stdout).strip()
    return None


def check_out_dir(out_dir: str, force: bool) -> None:
    """Refuses, before any work, an --out that is a file or a non-empty folder (unless --force,
    which replaces model.json and params.npz there and keeps other files)."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ImporterError("--out %s exists and is not a directory" % out_dir)
    present = sorted(os.listdir(out_dir)) if os.path.isdir(out_dir) else []
    if present and not force:
        raise ImporterError("--out %s is not empty (%s); give a new directory, or --force to "
                            "replace model.json and params.npz there"
                            % (out_dir, ", ".join(present)))


def write_checked(builder: ModelBuilder, out_dir: str, check: bool) -> None:
    """Writes into a fresh folder next to out_dir, loads it with the engine, then moves the two
    files into out_dir: a model the engine refuses is never left in out_dir."""
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".import-", dir=parent)
    try:
        builder.write(staging)
        if check:
            error = check_with_engine(staging)
            if error is not None:
                error = error.replace(staging, out_dir)
                raise ImporterError("the engine refuses the imported model (please report this "
                                    "with the files you imported): %s" % error)
        os.makedirs(out_dir, exist_ok=True)
        for f in ("params.npz", "model.json"):
            os.replace(os.path.join(staging, f), os.path.join(out_dir, f))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def summary(builder: ModelBuilder, out_dir: str) -> str:
    n_params = sum(int(a.size) for a in builder.params.values())
    lines = ["wrote %s/model.json and params.npz: %d layers, %d parameters (%s), input %s%s"
             % (out_dir, len(builder.layers), n_params, builder.dtype,
                tuple(builder.input["shape"]),
                "" if builder.input.get("images", True) else " (tensors only)")]
    for note in builder.notes:
        lines.append("note: " + note)
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = make_parser(_available_frontends())
    args = parser.parse_args(argv)
    try:
        check_out_dir(args.out, args.force)
        builder = args.frontend.build(args)
        apply_common(builder, args)
        write_checked(builder, args.out, not args.no_check)
    except ImporterError as e:
        print("theano-serving-import: error: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(summary(builder, args.out))
    return 0
