"""The grader's side of the sandbox: finds the module that defines each function, runs the
student's code in a separate process (:mod:`.worker`) with a time limit per call and a memory
limit, and turns every way that can go wrong into a :class:`CallFailure` instead of a crash.

This isolates the grader from mistakes (exceptions, endless loops, runaway memory, prints), not
from malice: the student's process runs as the same user with the same files and network as the
grader. The platforms' containers are the security boundary.
"""

from __future__ import annotations

import ast
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .convert import decode

STDERR_TAIL = 2000  # characters of the student's output kept with a failure
STARTUP_S = 10.0  # allowance for starting Python and NumPy, on top of the import's time limit
MAX_TIMEOUTS = 2  # a function that timed out this often is not called again
SKIP_DIRS = {"__pycache__", "__MACOSX", ".git", ".ipynb_checkpoints"}


@dataclass(frozen=True)
class CallFailure:
    """Why a call produced no result: ``kind`` is one of import, missing, signature, exception,
    returns, timeout, crashed; ``detail`` the trimmed traceback or the student's output."""

    kind: str
    message: str
    detail: str = ""


@dataclass(frozen=True)
class Located:
    """Where a function is defined, or why it could not be found."""

    path: Path | None
    problem: str = ""


def python_files(submission: Path) -> list[Path]:
    """The Python files of a submission (a file, or a folder searched recursively)."""
    if submission.is_file():
        return [submission]
    found = [p for p in submission.rglob("*.py")
             if not any(part in SKIP_DIRS or part.startswith(".")
                        for part in p.relative_to(submission).parts)]
    return sorted(found, key=lambda p: (len(p.parts), str(p)))


def syntax_errors(files: list[Path]) -> dict[Path, str]:
    """The files that do not parse, with the compiler's message."""
    out = {}
    for f in files:
        try:
            ast.parse(f.read_bytes(), filename=str(f))
        except SyntaxError as exc:
            out[f] = f"{f.name}, line {exc.lineno}: {exc.msg}"
        except ValueError as exc:  # null bytes
            out[f] = f"{f.name}: {exc}"
    return out


def _defines(tree: ast.Module, name: str) -> bool:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return True
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
        if isinstance(node, ast.ImportFrom | ast.Import) and any(
                (a.asname or a.name) == name for a in node.names):
            return True
    return False


def locate(files: list[Path], function: str) -> Located:
    """The first file (shallowest, then by name) that defines ``function`` at top level."""
    broken = []
    for f in files:
        try:
            tree = ast.parse(f.read_bytes(), filename=str(f))
        except (SyntaxError, ValueError):
            broken.append(f.name)
            continue
        if _defines(tree, function):
            return Located(f)
    names = ", ".join(f.name for f in files) or "no Python file"
    why = f"; {', '.join(broken)} did not compile" if broken else ""
    return Located(None, f"no module defines {function}() (searched: {names}){why}")


def _json_arg(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        dtype = "int64" if value.dtype.kind in "iu" else "float64"
        return {"array": value.tolist(), "dtype": dtype}
    return value


class Sandbox:
    """One worker process at a time for a submission, restarted after a timeout or crash.

    Use as a context manager; :meth:`call` returns the output arrays or a CallFailure.
    """

    def __init__(self, submission: Path, *, timeout_s: float = 10.0, memory_mb: int = 2048):
        self.root = submission if submission.is_dir() else submission.parent
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self._broken: dict[Path, CallFailure] = {}  # modules whose import failed for good
        self._loaded: set[Path] = set()  # modules the running worker has imported
        self._timeouts: dict[tuple[Path, str], int] = {}

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker (if any)."""
        self._kill()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _start(self) -> subprocess.Popen[str]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        if self._stderr is not None:
            self._stderr.close()
        # kept open across calls (the worker writes to it); closed on restart and in close()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": os.pathsep.join(
                   p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "service.autograder.worker", str(self.memory_mb),
             str(self.root.resolve())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            cwd=self.root, env=env, text=True, start_new_session=True)
        return self._proc

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        self._loaded.clear()
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                proc.kill()
        if proc is not None:
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()

    def output_tail(self) -> str:
        """The last characters the student's code printed."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        self._stderr.seek(0, 2)
        return text[-STDERR_TAIL:]

    def _ask(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any] | CallFailure:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._crashed()
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(max(0.0, deadline - time.monotonic())):
                tail = self.output_tail()
                self._kill()
                return CallFailure("timeout", f"did not finish within {self.timeout_s:g} s "
                                   "(an endless loop?)", tail)
        line = proc.stdout.readline()
        if not line:
            return self._crashed()
        return json.loads(line)

    def _crashed(self) -> CallFailure:
        proc = self._proc
        code = proc.wait() if proc is not None else None
        tail = self.output_tail()
        self._kill()
        why = "ran out of memory or was killed" if code is not None and code < 0 else \
            f"exited with status {code}"
        return CallFailure("crashed", f"the process running your code {why}", tail)

    def _load(self, path: Path) -> CallFailure | None:
        if path in self._broken:
            return self._broken[path]
        if path in self._loaded and self._proc is not None and self._proc.poll() is None:
            return None
        answer = self._ask({"op": "load", "path": str(path.resolve())},
                           self.timeout_s + STARTUP_S)
        if isinstance(answer, CallFailure):
            if answer.kind == "timeout":
                answer = CallFailure("import", f"importing {path.name} did not finish within "
                                     f"{self.timeout_s:g} s (an endless loop at import?)",
                                     answer.detail)
            self._broken[path] = answer
            return answer
        if not answer["ok"]:
            self._broken[path] = CallFailure(answer["kind"], answer["error"],
                                             answer["traceback"])
            return self._broken[path]
        self._loaded.add(path)
        return None

    def call(self, path: Path, function: str, arg_names: list[str], args: list[Any],
             returns: tuple[str, ...]) -> list[np.ndarray] | CallFailure:
        """``function(*args)`` from the module at ``path``: its outputs, or why there are none.

        After MAX_TIMEOUTS timeouts a function is not called again (each costs the time limit).
        """
        failed = self._load(path)
        if failed is not None:
            return failed
        key = (path, function)
        if self._timeouts.get(key, 0) >= MAX_TIMEOUTS:
            return CallFailure("timeout", f"not run: {function}() already timed out "
                               f"{MAX_TIMEOUTS} times (limit {self.timeout_s:g} s per call)")
        answer = self._ask({"op": "call", "path": str(path.resolve()), "function": function,
                            "arg_names": arg_names, "args": [_json_arg(a) for a in args],
                            "returns": list(returns)}, self.timeout_s)
        if isinstance(answer, CallFailure):
            if answer.kind == "timeout":
                self._timeouts[key] = self._timeouts.get(key, 0) + 1
            return answer
        if not answer["ok"]:
            return CallFailure(answer["kind"], answer["error"], answer["traceback"])
        return [decode(o) for o in answer["outputs"]]
