"""Running the user's network code (NET.py) against the stand-ins.

The code runs unchanged, as a module named after the file (never `__main__`, so an
`if __name__ == "__main__":` training block does not run), with its folder on sys.path so that
it can import its sibling modules. Python 2 code (print statements, `except E, e`, ...) is
translated with lib2to3 (Debian's python3-lib2to3) when it does not compile, and so are sibling
modules it imports. An exception in the user's code becomes an ImporterError naming the file,
the line and the code there (the last frame in the user's files), not a traceback.
"""

import importlib.abc
import importlib.util
import inspect
import io
import os
import sys
import traceback
import types
import warnings
from typing import Any, Callable, List, Optional, Tuple

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
    """An exception raised by the user's code (not one of the importer's refusals)."""


def compile_source(source: str, path: str, force_py2: bool = False) -> Tuple[Any, bool]:
    """(code object, translated_from_python2). Code that does not compile as Python 3 is
    translated; `force_py2` translates code that compiles but failed at run time (Python 2
    semantics such as indexing the result of map())."""
    if force_py2:
        translated = translate_py2(source, path)
        if translated != source + ("" if source.endswith("\n") else "\n"):
            return compile(translated, path, "exec", dont_inherit=True), True
    try:
        return compile(source, path, "exec", dont_inherit=True), False
    except SyntaxError as first:
        translated = translate_py2(source, path)
        try:
            return compile(translated, path, "exec", dont_inherit=True), True
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
        raise UserCodeError("%s while %s: %s%s" % (where, what, _describe_exception(e), hint))


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


def call_build(user: UserModule, fn: Callable[..., Any], fn_name: str) -> Tuple[Any, List[str]]:
    """Calls the build function; required positional arguments (e.g. `input_var`) get None.
    Returns (result, notes)."""
    notes: List[str] = []
    args: List[Any] = []
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        for p in sig.parameters.values():
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
                args.append(None)
        if args:
            notes.append("%s() was called with None for its argument(s) %s"
                         % (fn_name, ", ".join(p.name for p in sig.parameters.values()
                                              if p.default is p.empty and p.kind in (
                                                  p.POSITIONAL_ONLY,
                                                  p.POSITIONAL_OR_KEYWORD))))
    stdout = sys.stdout
    sys.stdout = io.StringIO()
    folder = os.path.dirname(os.path.abspath(user.path))
    sys.path.insert(0, folder)
    finder = _Py2SiblingFinder(folder, user.translated, user.force_py2)
    sys.meta_path.insert(0, finder)
    before = set(sys.modules)
    try:
        result = run_protected(lambda: fn(*args), user.path, "calling %s()" % fn_name)
    finally:
        sys.stdout = stdout
        sys.meta_path.remove(finder)
        if folder in sys.path:
            sys.path.remove(folder)
        forget_modules_from(folder, before)
    return result, notes
