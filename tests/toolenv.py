"""Outside tools the tests call (a browser, node, curl, client libraries in venvs of their own):
where they are missing, a test skips, or fails when CI said it must have them.

A developer's ``pytest`` skips a test whose tool is missing, saying why. CI (``.ci/run``)
installs the tools and names them in ``LOSS_SERVICE_TEST_REQUIRE`` (comma-separated, from
:data:`TOOLS`); a named tool that is missing fails the test instead, so a broken install cannot
pass as a skip. An unknown name is a usage error (tests/conftest.py), not a silent no-op.

Client libraries whose dependencies would move the service's own (kserve pins FastAPI, pydantic
and NumPy versions; openapi-python-client an older httpx) are installed from a pinned
requirements file into a venv of their own under ``tests/clients/.cache`` (git-ignored), once:
a new pin makes a new venv.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "tests" / "clients" / ".cache"
REQUIRE = "LOSS_SERVICE_TEST_REQUIRE"
TOOLS = {
    "chromium": "the browser test of /docs and /redoc (apt-get install chromium)",
    "node": "the generated TypeScript client (node and npm: apt-get install nodejs npm)",
    "curl": "the docs' curl examples (apt-get install curl)",
    "openapi-python-client": "the generated Python client (a venv from the package registry)",
    "kserve": "KServe's InferenceRESTClient (a venv from the package registry)",
    "tritonclient": "Triton's client (tritonclient[http], in the test extra)",
}


def required() -> set[str]:
    """The tools ``LOSS_SERVICE_TEST_REQUIRE`` names."""
    return {t.strip() for t in os.environ.get(REQUIRE, "").split(",") if t.strip()}


def unknown_required() -> set[str]:
    return required() - TOOLS.keys()


def missing(tool: str, why: str) -> NoReturn:
    """Skip the calling test, or fail it where the tool is required."""
    assert tool in TOOLS, tool
    if tool in required():
        pytest.fail(f"{why} ({REQUIRE} requires {tool}: {TOOLS[tool]})", pytrace=False)
    pytest.skip(why)


def which(tool: str, *commands: str) -> str:
    """The path of the first of ``commands`` on the PATH; else :func:`missing`."""
    for command in commands:
        path = shutil.which(command)
        if path is not None:
            return path
    missing(tool, f"{' or '.join(commands)} is not installed")


def run(args: list[str | Path], cwd: Path, timeout: float = 300,
        env: dict[str, str] | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, input=stdin,
                          check=False)


def cached(tool: str, name: str, pins: list[Path], build: Callable[[Path], str | None]) -> Path:
    """``CACHE/<name>-<hash of the pin files>``, built by ``build(dir)`` once (a venv cannot be
    moved, so it is built in place, and marked complete last: a build that was interrupted is
    built again; a lock keeps two test processes from building it at once). ``build`` returns
    an error message (the tool is then :func:`missing`), or None."""
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in pins)).hexdigest()[:12]
    target = CACHE / f"{name}-{digest}"
    done = target / ".complete"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        error = build(target)
        if error is not None:
            shutil.rmtree(target, ignore_errors=True)
            missing(tool, error)
        done.touch()
    return target


def venv(tool: str, name: str, requirements: Path) -> Path:
    """The bin directory of a venv with ``requirements`` installed (pinned: the file is a
    ``pip freeze``), built once. Where the registry cannot be reached, the tool is missing."""

    def build(folder: Path) -> str | None:
        # a venv of the interpreter's base Python (a venv's python gives its base's)
        made = run([sys.executable, "-m", "venv", folder], cwd=CACHE)
        if made.returncode != 0:
            return f"cannot make a venv for {tool}: {made.stderr[-500:]}"
        pip = run([folder / "bin" / "python", "-m", "pip", "install", "--quiet",
                   "--disable-pip-version-check", "-r", requirements], cwd=CACHE, timeout=900)
        if pip.returncode != 0:
            return f"cannot install {requirements.name} for {tool}: {pip.stderr[-500:]}"
        return None

    return cached(tool, name, [requirements], build) / "bin"
