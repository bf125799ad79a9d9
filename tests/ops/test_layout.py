"""The code's layout stays what the package docstrings say (issue 18, items 5 and 6).

* Every file of ``service/`` and ``tests/`` stays under 400 lines.
* Every package's docstring says what lives there and what it may import, and the packages with
  a rule on imports keep it: read from the source (``ast``), so a new import across a boundary
  fails here rather than in review.
* Importing the service reads no environment: the settings are read when ``create_app`` (or a
  command) builds them, then passed to what needs them. Checked in a fresh interpreter whose
  ``os.environ`` records who reads it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service"
MAX_LINES = 400

# What each package may import of the rest of the service (its docstring says the same).
# ``service`` itself stands for the package's top level (``__version__``).
ALLOWED = {
    "service.losses": {"service.casting", "service.deadline"},
    "service.backends": set(),
    "service.grading": {"service", "service.engine", "service.losses"},
    "service.autograder": {"service", "service.engine", "service.losses", "service.grading"},
}


def _python_files(top: Path) -> list[Path]:
    return sorted(p for p in top.rglob("*.py") if ".cache" not in p.parts)


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _service_imports(path: Path) -> set[str]:
    """The modules of the service that ``path`` imports (relative imports resolved)."""
    module = _module(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                if node.module:
                    found.add(".".join([*base, node.module]))
                else:  # from .. import engine: the names are modules (or the package's own)
                    found |= {".".join(base if alias.name.startswith("__") else
                                       [*base, alias.name]) for alias in node.names}
            elif node.module:
                found.add(node.module)
    return {name for name in found if name == "service" or name.startswith("service.")}


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("top", ["service", "tests"])
def test_every_file_is_under_400_lines(top):
    long = {str(p.relative_to(ROOT)): n for p in _python_files(ROOT / top)
            if (n := len(p.read_text().splitlines())) >= MAX_LINES}
    assert not long, f"files of {MAX_LINES} lines or more: {long}"


def test_every_package_says_what_lives_there_and_what_it_may_import():
    packages = sorted(p.parent for p in SERVICE.rglob("__init__.py"))
    assert len(packages) >= 9
    for package in packages:
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
        name = _module(package / "__init__.py")
        assert len(doc) > 150, f"{name}: no docstring saying what lives there"
        assert "import" in doc, f"{name}: its docstring does not say what it may import"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_its_docstring_allows(package):
    allowed = ALLOWED[package]
    crossing = {}
    for path in _python_files(SERVICE.joinpath(*package.split(".")[1:])):
        for name in _service_imports(path):
            if _within(name, package):
                continue
            if not any(name == a or (a != "service" and _within(name, a)) for a in allowed):
                crossing.setdefault(_module(path), set()).add(name)
    assert not crossing, f"{package} imports outside what it may: {crossing}"


def test_the_import_rule_sees_a_crossing():
    """The scan itself finds relative and absolute imports (the rule above is not vacuous)."""
    assert "service.casting" in _service_imports(SERVICE / "losses" / "evaluate.py")
    assert "service.engine" in _service_imports(SERVICE / "grading" / "context.py")


RECORDER = r"""
import importlib, json, os, pkgutil, sys, traceback

SERVICE = sys.argv[1]
reads = []


class Recording(os._Environ):
    def _note(self, key):
        frame = sys._getframe(1)  # the first caller outside os, collections.abc and this class
        while frame.f_code.co_filename in ("<string>", os.__file__) or \
                "_collections_abc" in frame.f_code.co_filename:
            frame = frame.f_back
        caller = frame.f_code.co_filename
        # the service's own reads, and its settings built (pydantic-settings reads them); not a
        # library's copy of the whole environment (numba's config, wsgiref)
        if caller.startswith(SERVICE) or "pydantic_settings" in caller:
            reads.append([str(key), caller])

    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self._note(key)
        return super().__contains__(key)


env = os.environ
os.environ = Recording(env._data, env.encodekey, env.decodekey, env.encodevalue,
                       env.decodevalue)
import service

failed = []
for info in pkgutil.walk_packages(service.__path__, "service."):
    if ".cupy" in info.name:
        continue
    try:
        importlib.import_module(info.name)
    except Exception:
        failed.append([info.name, traceback.format_exc(limit=1)])
print(json.dumps({"reads": reads, "failed": failed}))
"""


def test_importing_the_service_reads_no_environment():
    done = subprocess.run([sys.executable, "-c", RECORDER, str(SERVICE)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert not out["failed"], out["failed"]
    assert out["reads"] == [], f"read at import: {out['reads']}"
