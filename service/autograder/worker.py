"""The student's side of the sandbox: a process of its own that imports the student's module and
calls their function, so an exception, an endless loop or a runaway allocation there never
reaches the grader (:mod:`.sandbox` starts it, limits it and kills it when a call runs too long).

    python -m service.autograder.worker MEMORY_MB SUBMISSION_DIR

Requests arrive as JSON lines on stdin and answers leave as JSON lines on a private copy of the
original stdout; the student's prints go to stderr (the sandbox keeps its tail). Requests:
``{"op": "load", "path": FILE}`` and ``{"op": "call", "path": FILE, "function": NAME,
"arg_names": [...], "args": [...], "returns": [...]}`` (arrays as ``{"array": nested lists,
"dtype"}``), each answered ``{"ok": true, ...}`` or ``{"ok": false,
"kind", "error", "traceback"}`` with the traceback trimmed to the student's own files.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .convert import ConversionError, encode, split_returns

MODULES: dict[str, ModuleType] = {}
SUBMISSION = Path(".")


def _limit_memory(megabytes: int) -> None:
    try:
        import resource
    except ImportError:  # not POSIX: no limit
        return
    limit = megabytes * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def student_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` with only the frames in the student's files (all frames when
    none is), and the exception line."""
    frames = traceback.extract_tb(exc.__traceback__)
    root = str(SUBMISSION.resolve())
    mine = [f for f in frames if f.filename.startswith(root)]
    if isinstance(exc, SyntaxError) and exc.filename and exc.filename.startswith(root):
        mine = []
    shown = traceback.format_list(mine or frames[-3:])
    text = "Traceback (most recent call last):\n" + "".join(shown) if shown else ""
    text += "".join(traceback.format_exception_only(type(exc), exc))
    return text.replace(root + os.sep, "")


def _failure(kind: str, exc: BaseException | None, message: str) -> dict[str, Any]:
    return {"ok": False, "kind": kind, "error": message,
            "traceback": student_traceback(exc) if exc is not None else ""}


def _load(path: str) -> ModuleType:
    if path in MODULES:
        return MODULES[path]
    file = Path(path)
    if str(file.parent) not in sys.path:
        sys.path.insert(0, str(file.parent))
    spec = importlib.util.spec_from_file_location(file.stem, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[file.stem] = module
    spec.loader.exec_module(module)
    MODULES[path] = module
    return module


def _arg(value: Any) -> Any:
    if isinstance(value, dict) and "array" in value:
        return np.asarray(value["array"], dtype=np.dtype(value["dtype"]))
    return value


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """The answer to one request (see the module docstring)."""
    name = Path(request["path"]).name
    try:
        module = _load(request["path"])
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # anything the student's import raises, sys.exit() included
        return _failure("import", exc, f"importing {name} raised {type(exc).__name__}: {exc}")
    if request["op"] == "load":
        return {"ok": True}
    function = request["function"]
    fn = getattr(module, function, None)
    if not callable(fn):
        return _failure("missing", None, f"{name} defines no function {function}()")
    args = [_arg(a) for a in request["args"]]
    names = request["arg_names"]
    try:
        inspect.signature(fn).bind(*args)
    except TypeError as exc:
        return _failure("signature", None, f"{function}{inspect.signature(fn)} cannot be called "
                        f"as {function}({', '.join(names)}): {exc}")
    except ValueError:  # no signature (a builtin): just call it
        pass
    try:
        returned = fn(*args)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the student's exception (or sys.exit()) is the result
        return _failure("exception", exc, f"{function}() raised {type(exc).__name__}: {exc}")
    try:
        arrays = split_returns(returned, tuple(request["returns"]))
    except ConversionError as exc:
        return _failure("returns", None, f"{function}() {exc}")
    return {"ok": True, "outputs": [encode(a) for a in arrays]}


def main(argv: list[str]) -> int:
    """Serve requests until stdin closes."""
    global SUBMISSION
    _limit_memory(int(argv[0]))
    SUBMISSION = Path(argv[1])
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the student's prints go to stderr, never into the answers
    sys.stdout = sys.stderr
    for line in sys.stdin:
        answer = handle(json.loads(line))
        try:
            text = json.dumps(answer)
        except (TypeError, ValueError) as exc:
            text = json.dumps(_failure("returns", None, f"the result cannot be sent: {exc}"))
        out.write(text + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
