"""Running the user's network code (NET.py) against the stand-ins.

The code runs unchanged, as a module named after the file (never `__main__`, so an
`if __name__ == "__main__":` training block does not run), with its folder on sys.path so that
it can import its sibling modules. Python 2 code (print statements, `except E, e`, ...) is
translated with lib2to3 (Debian's python3-lib2to3) when it does not compile, and so are sibling
modules it imports. An exception in the user's code becomes an ImporterError naming the file,
the line and the code there (the last frame in the user's files), not a traceback.
"""

import ast
import importlib.abc
import importlib.util
import inspect
import io
import numbers
import os
import re
import sys
import traceback
import types
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from theano_serving_import.errors import ImporterError


def translate_py2(source: str, path: str) -> str:
    """Python 2 source -> Python 3 source with every lib2to3 fixer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lib2to3 is deprecated in 3.11, still shipped
        try:
            from lib2to3 import refactor
        except ImportError:
            raise ImporterError("%s is Python 2 code and lib2to3 is not installed to translate "
                                "it (Debian: apt-get install python3-lib2to3)" % path)
        tool = refactor.RefactoringTool(refactor.get_fixers_from_package("lib2to3.fixes"))
        if not source.endswith("\n"):
            source += "\n"
        try:
            return str(tool.refactor_string(source, path))
        except Exception as e:  # lib2to3's ParseError and friends
            raise ImporterError("%s is neither Python 3 nor Python 2 code lib2to3 can "
                                "translate: %s" % (path, e))


class UserCodeError(ImporterError):
    """An exception raised by the user's code (not one of the importer's refusals); `cause` is
    that exception."""

    def __init__(self, message: str, cause: Optional[BaseException] = None) -> None:
        super().__init__(message)
        self.cause = cause


# What Python 2 code meets when run as Python 3 (before lib2to3 translates it): modules that
# were renamed, builtins that were removed, iterators that were lists.
_PY2_MODULES = {"cPickle", "cStringIO", "StringIO", "urllib2", "urlparse", "Queue",
                "ConfigParser", "copy_reg", "__builtin__", "httplib", "HTMLParser", "Tkinter",
                "commands", "itertools.izip", "thread", "dummy_thread", "repr", "anydbm",
                "cookielib", "SocketServer", "xmlrpclib", "md5", "sets"}
_PY2_NAMES = {"xrange", "unicode", "basestring", "long", "raw_input", "reduce", "unichr",
              "file", "execfile", "cmp", "izip", "imap", "ifilter", "izip_longest", "intern",
              "buffer", "apply", "coerce"}
_PY2_MESSAGES = ("object is not subscriptable", "has no attribute 'iteritems'",
                 "has no attribute 'itervalues'", "has no attribute 'iterkeys'",
                 "has no attribute 'has_key'", "'dict_keys'", "'dict_values'", "'dict_items'",
                 "'map' object", "'filter' object", "'zip' object", "'range' object",
                 "unorderable types", "not supported between instances of",
                 "integer argument expected, got float", "cannot be interpreted as an integer",
                 "unsupported operand type(s) for /", "has no attribute 'next'")


def is_python2_failure(e: Optional[BaseException]) -> bool:
    """Whether an exception of the user's code is what Python 2 code typically raises under
    Python 3 (then the lib2to3-translated run's own error is the one to report)."""
    if e is None:
        return False
    if isinstance(e, ImportError):
        name = getattr(e, "name", None) or ""
        return name in _PY2_MODULES or name.split(".")[0] in _PY2_MODULES
    if isinstance(e, NameError):
        return getattr(e, "name", None) in _PY2_NAMES or any(
            "'%s'" % n in str(e) for n in _PY2_NAMES)
    return any(m in str(e) for m in _PY2_MESSAGES)


def classic_div(a: Any, b: Any) -> Any:
    """Python 2's `a / b` (without `from __future__ import division`): floor division of two
    integers (`num_filters / 4`, `size / 2` in Python 2 network code), true division
    otherwise."""
    if isinstance(a, numbers.Integral) and isinstance(b, numbers.Integral):
        return a // b
    if (isinstance(a, (numbers.Integral, np.ndarray)) and isinstance(b, (numbers.Integral,
                                                                           np.ndarray))
            and np.asarray(a).dtype.kind in "iub" and np.asarray(b).dtype.kind in "iub"):
        return np.floor_divide(a, b)
    return a / b


CLASSIC_DIV = "__ts_classic_div__"


class _ClassicDivision(ast.NodeTransformer):
    """`a / b` -> __ts_classic_div__(a, b); `x /= y` -> x = __ts_classic_div__(x, y)."""

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        self.generic_visit(node)
        if isinstance(node.op, ast.Div):
            call = ast.Call(func=ast.Name(id=CLASSIC_DIV, ctx=ast.Load()),
                            args=[node.left, node.right], keywords=[])
            return ast.copy_location(call, node)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        self.generic_visit(node)
        if isinstance(node.op, ast.Div) and isinstance(node.target, ast.Name):
            value = ast.Call(func=ast.Name(id=CLASSIC_DIV, ctx=ast.Load()),
                             args=[ast.Name(id=node.target.id, ctx=ast.Load()), node.value],
                             keywords=[])
            return ast.copy_location(ast.Assign(targets=[node.target], value=value), node)
        return node


_FUTURE_DIVISION = re.compile(r"^\s*from\s+__future__\s+import\s+[^#\n]*\bdivision\b",
                              re.M)


def compile_py2(translated: str, original: str, path: str) -> Any:
    """Compiles translated Python 2 code with Python 2's integer division (`/` of two ints
    floors) unless the original file says `from __future__ import division` (lib2to3 drops
    __future__ imports)."""
    tree = ast.parse(translated, path)
    if not _FUTURE_DIVISION.search(original):
        tree = ast.fix_missing_locations(_ClassicDivision().visit(tree))
    return compile(tree, path, "exec", dont_inherit=True)


def compile_source(source: str, path: str, force_py2: bool = False) -> Tuple[Any, bool]:
    """(code object, run_as_python2). Code that does not compile as Python 3 is translated
    by lib2to3 and run with Python 2's integer division; `force_py2` does that to code that
    compiles but failed at run time (Python 2 semantics such as indexing the result of map(),
    or a size that Python 2's `/` would have kept an int). The module needs
    `__ts_classic_div__` (CLASSIC_DIV) in its namespace."""
    if force_py2:
        return compile_py2(translate_py2(source, path), source, path), True
    try:
        return compile(source, path, "exec", dont_inherit=True), False
    except SyntaxError as first:
        translated = translate_py2(source, path)
        try:
            return compile_py2(translated, source, path), True
        except SyntaxError:
            raise ImporterError("%s line %s: syntax error: %s%s"
                                % (path, first.lineno, first.msg,
                                   (": " + first.text.strip()) if first.text else ""))


def read_source(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ImporterError("%s: %s" % (path, e.strerror or e))
    for encoding in ("utf-8", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImporterError("%s is not text" % path)


class _Py2SiblingFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the network's sibling modules (files in its folder), translating Python 2 ones."""

    def __init__(self, folder: str, translated: List[str], force_py2: bool = False) -> None:
        self.folder = folder
        self.translated = translated
        self.force_py2 = force_py2

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if "." in fullname:
            return None
        candidate = os.path.join(self.folder, fullname + ".py")
        if not os.path.isfile(candidate):
            return None
        return importlib.util.spec_from_file_location(fullname, candidate, loader=self)

    def create_module(self, spec: Any) -> Optional[types.ModuleType]:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        path = module.__spec__.origin
        code, was_py2 = compile_source(read_source(path), path, self.force_py2)
        if was_py2:
            self.translated.append(os.path.basename(path))
        module.__dict__[CLASSIC_DIV] = classic_div
        exec(code, module.__dict__)


class UserModule:
    """The executed network module and what happened while loading it."""

    def __init__(self, module: types.ModuleType, path: str, translated: List[str],
                 force_py2: bool = False) -> None:
        self.module = module
        self.path = path
        self.translated = translated  # files translated from Python 2
        self.force_py2 = force_py2


def _user_frame(tb: Any, folder: str) -> Optional[traceback.FrameSummary]:
    frames = traceback.extract_tb(tb)
    mine = [f for f in frames if f.filename and os.path.abspath(f.filename).startswith(
        folder + os.sep)]
    return mine[-1] if mine else None


def _describe_exception(e: BaseException) -> str:
    text = str(e)
    return "%s: %s" % (type(e).__name__, text) if text else type(e).__name__


def run_protected(fn: Callable[[], Any], path: str, what: str) -> Any:
    """Runs fn (the user's code); an exception becomes an ImporterError at the user's line."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        return fn()
    except ImporterError as e:
        frame = _user_frame(sys.exc_info()[2], folder)
        if frame is not None:
            raise ImporterError("%s line %d (%s): %s" % (os.path.basename(frame.filename),
                                                         frame.lineno, frame.name, e))
        raise
    except SystemExit as e:
        raise ImporterError("%s called exit(%s) while %s" % (path, e.code, what))
    except RecursionError:
        raise ImporterError("%s: infinite recursion while %s" % (path, what))
    except Exception as e:
        frame = _user_frame(sys.exc_info()[2], folder)
        where = path
        if frame is not None:
            where = "%s line %d, in %s" % (os.path.basename(frame.filename), frame.lineno,
                                          frame.name)
            if frame.line:
                where += ": %s" % frame.line.strip()
        hint = ""
        if isinstance(e, ImportError) and getattr(e, "name", None):
            hint = (" (the network code imports %s, which is not installed here; the importer "
                    "provides only lasagne, theano and nolearn stand-ins)" % e.name)
        raise UserCodeError("%s while %s: %s%s" % (where, what, _describe_exception(e), hint),
                            e)


def load(path: str, force_py2: bool = False) -> UserModule:
    """Executes NET.py (the stand-ins must be installed) and returns its module."""
    source = read_source(path)
    code, was_py2 = compile_source(source, path, force_py2)
    translated = [os.path.basename(path)] if was_py2 else []
    name = os.path.splitext(os.path.basename(path))[0] or "net"
    if not name.isidentifier():
        name = "net"
    module = types.ModuleType(name)
    module.__file__ = os.path.abspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    finder = _Py2SiblingFinder(folder, translated, force_py2)
    sys.path.insert(0, folder)
    sys.meta_path.insert(0, finder)
    previous = sys.modules.get(name)
    before = set(sys.modules)
    sys.modules[name] = module
    stdout = sys.stdout
    sys.stdout = io.StringIO()  # print statements of the network code are not our output
    try:
        module.__dict__[CLASSIC_DIV] = classic_div
        run_protected(lambda: exec(code, module.__dict__), path, "running it")
    finally:
        sys.stdout = stdout
        sys.meta_path.remove(finder)
        if folder in sys.path:
            sys.path.remove(folder)
        forget_modules_from(folder, before)
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
    return UserModule(module, path, translated, force_py2)


def forget_modules_from(folder: str, before: set) -> None:
    """Drops the network's sibling modules from sys.modules (they hold the stand-ins and would
    otherwise be reused by a later import in the same process)."""
    for mod_name in [n for n in sys.modules if n not in before]:
        f = getattr(sys.modules[mod_name], "__file__", None) or ""
        if os.path.abspath(f).startswith(folder + os.sep):
            del sys.modules[mod_name]


def call_build(user: UserModule, fn: Callable[..., Any], fn_name: str,
               build_args: Optional[Dict[str, Any]] = None) -> Tuple[Any, List[str]]:
    """Calls the build function with `build_args` (--build-arg NAME=VALUE) as keyword
    arguments; other required arguments (e.g. `input_var`) get None. Returns (result, notes).
    When the call fails and arguments were filled with None, the message says which ones and
    how to give them."""
    notes: List[str] = []
    kwargs: Dict[str, Any] = dict(build_args or {})
    nones: List[str] = []
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        params = sig.parameters
        takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
        unknown = [k for k in kwargs if k not in params or params[k].kind in (
            params[k].POSITIONAL_ONLY, params[k].VAR_POSITIONAL, params[k].VAR_KEYWORD)]
        if unknown and not takes_kwargs:
            raise ImporterError("--build-arg %s: %s() has no such argument; its arguments: %s"
                                % (", ".join(unknown), fn_name,
                                   ", ".join(str(p) for p in params.values()) or "none"))
        for p in params.values():
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and \
                    p.default is p.empty and p.name not in kwargs:
                kwargs[p.name] = None
                nones.append(p.name)
        if nones:
            notes.append("%s() was called with None for its argument(s) %s"
                         % (fn_name, ", ".join(nones)))
    if build_args:
        notes.append("%s() was called with %s" % (fn_name, ", ".join(
            "%s=%r" % kv for kv in build_args.items())))
    stdout = sys.stdout
    sys.stdout = io.StringIO()
    folder = os.path.dirname(os.path.abspath(user.path))
    sys.path.insert(0, folder)
    finder = _Py2SiblingFinder(folder, user.translated, user.force_py2)
    sys.meta_path.insert(0, finder)
    before = set(sys.modules)
    try:
        try:
            result = run_protected(lambda: fn(**kwargs), user.path, "calling %s()" % fn_name)
        except UserCodeError as e:
            if not nones:
                raise
            raise UserCodeError("%s (%s() was called with None for %s; give the values it "
                                "was built with: --build-arg %s)"
                                % (e, fn_name, ", ".join(nones),
                                   " --build-arg ".join("%s=VALUE" % n for n in nones)),
                                e.cause)
    finally:
        sys.stdout = stdout
        sys.meta_path.remove(finder)
        if folder in sys.path:
            sys.path.remove(folder)
        forget_modules_from(folder, before)
    return result, notes
