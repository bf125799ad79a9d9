"""Clients generated from openapi/openapi.json work: generators take the document whole, the
clients type-check, and they call a live server and parse its answers.

* Python: openapi-python-client generates ``loss_service_client`` with no warning (none about a
  schema it could not process, none dropped), ``mypy --strict`` accepts it with calls.py and the
  docs' example, and both run against the server.
* TypeScript: openapi-typescript generates the types, ``tsc`` (strict) accepts them with
  ts/calls.ts and the docs' example, and node runs both (openapi-fetch).
* The docs' curl example gives the output shown.

The tools are pinned (requirements.txt, ts/package-lock.json) and installed once into
tests/clients/.cache (git-ignored; a new pin makes a new install): the Python ones into a venv of
their own, since openapi-python-client needs an older httpx than the service may have. A test
skips, saying why, where node, npm or curl is missing or the tools cannot be installed (no
network). The examples in docs/api.md ("Calling it from other languages") are read from there,
with the server's address put in for ``http://localhost:8000``; the server has the docs' API key.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ..serverutil import running_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOCUMENT = ROOT / "openapi" / "openapi.json"
CACHE = HERE / ".cache"
DOC_URL = "http://localhost:8000"
KEY = "my-key"  # the key the docs' examples send
LOGITS = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0]])
# the mypy settings for the generated package: strict, less two complaints about the
# generator's own templates, the same for any document (openapi-python-client 0.29.1):
# redundant casts, and client.py's `__exit__(*args: object)` passing its arguments on to httpx
MYPY_INI = """[mypy]
strict = True
warn_redundant_casts = False

[mypy-loss_service_client.client]
disable_error_code = arg-type
"""


def _run(args: list[str | Path], cwd: Path, timeout: float = 300,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def _docs_section() -> str:
    text = (ROOT / "docs" / "api.md").read_text()
    section = text[text.index("\n## Calling it from other languages\n"):]
    end = section.find("\n## ", 1)
    return section if end < 0 else section[:end]


def _block(lang: str, index: int = 0) -> str:
    """The ``index``-th fenced block of ``lang`` in the docs' section."""
    blocks = re.findall(rf"^```{lang}\n(.*?)^```$", _docs_section(), re.S | re.M)
    return blocks[index]


def _cached(name: str, pins: list[Path], build: Any) -> Path:
    """``CACHE/<name>-<hash of the pin files>``, built by ``build(dir)`` once (a venv cannot be
    moved, so it is built in place, and marked complete last: a build that was interrupted is
    built again). ``build`` returns an error message to skip with, or None."""
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in pins)).hexdigest()[:12]
    target = CACHE / f"{name}-{digest}"
    done = target / ".complete"
    if done.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    error = build(target)
    if error is not None:
        shutil.rmtree(target, ignore_errors=True)
        pytest.skip(error)
    done.touch()
    return target


def _python_tools() -> Path:
    """The bin directory of a venv with openapi-python-client and mypy (requirements.txt)."""
    requirements = HERE / "requirements.txt"

    def build(venv: Path) -> str | None:
        # a venv of the interpreter's base Python (a venv's python gives its base's)
        made = _run([sys.executable, "-m", "venv", venv], cwd=CACHE)
        if made.returncode != 0:
            return f"cannot make a venv for openapi-python-client: {made.stderr[-500:]}"
        pip = _run([venv / "bin" / "python", "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", "-r", requirements], cwd=CACHE, timeout=600)
        if pip.returncode != 0:
            return f"cannot install openapi-python-client and mypy: {pip.stderr[-500:]}"
        return None

    return _cached("py", [requirements], build) / "bin"


def _node_modules() -> Path:
    """node_modules with the pinned openapi-typescript, openapi-fetch and typescript."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    pins = [HERE / "ts" / "package.json", HERE / "ts" / "package-lock.json"]

    def build(folder: Path) -> str | None:
        for p in pins:
            shutil.copy(p, folder)
        npm = _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
                   timeout=600)
        if npm.returncode != 0:
            return f"npm ci failed: {npm.stderr[-500:]}"
        return None

    return _cached("ts", pins, build) / "node_modules"


@pytest.fixture(scope="module")
def live() -> Iterator[str]:
    # no fused kernels: nothing to compile in the warm-up, so the server is ready in a second
    with running_server(env={"LOSS_SERVICE_API_KEYS": KEY, "LOSS_SERVICE_FUSED": "false"}) \
            as (url, _):
        yield url


def _check_calls(out: dict[str, Any]) -> None:
    """What calls.py and calls.ts parsed, against the reference."""
    assert out["mse"] == {"value": 0.375, "gradient": [[-0.25, 0.25], [0.0, -0.5]]}
    shifted = LOGITS - LOGITS.max(axis=1, keepdims=True)
    per_sample = np.log(np.exp(shifted).sum(axis=1)) - shifted[[0, 1], [0, 1]]
    ce = out["cross_entropy"]
    assert ce["shape"] == [2]
    assert ce["per_sample"] == pytest.approx(per_sample.tolist(), rel=1e-13)
    assert ce["value"] == pytest.approx(per_sample.mean(), rel=1e-13)
    assert out["compare"] == {"passed": True, "score": 1.0, "checks": ["value"]}
    assert out["unauthorized"] == {"status": 401, "code": "unauthorized"}


@pytest.mark.slow
def test_python_client(tmp_path, live):
    tools = _python_tools()
    env = {"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}  # the generator runs ruff
    gen = _run([tools / "openapi-python-client", "generate", "--path", DOCUMENT, "--meta", "none",
                "--output-path", tmp_path / "loss_service_client"], cwd=tmp_path, env=env)
    log = gen.stdout + gen.stderr
    assert gen.returncode == 0, log
    assert "Warning" not in log and "WARNING" not in log and "Unable to" not in log, log
    shutil.copy(HERE / "calls.py", tmp_path)
    (tmp_path / "example.py").write_text(_block("python").replace(DOC_URL, live))
    (tmp_path / "mypy.ini").write_text(MYPY_INI)
    mypy = _run([tools / "mypy", "--config-file", "mypy.ini", "--cache-dir", ".mypy_cache",
                 "loss_service_client", "calls.py", "example.py"], cwd=tmp_path)
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr

    calls = _run([tools / "python", "calls.py", live, KEY], cwd=tmp_path, timeout=60)
    assert calls.returncode == 0, calls.stderr
    _check_calls(json.loads(calls.stdout))
    example = _run([tools / "python", "example.py"], cwd=tmp_path, timeout=60)
    assert example.returncode == 0, example.stderr
    assert example.stdout == "0.375 [[-0.25, 0.25], [0.0, -0.5]]\n"


@pytest.mark.slow
def test_typescript_client(tmp_path, live):
    modules = _node_modules()
    (tmp_path / "node_modules").symlink_to(modules, target_is_directory=True)
    for name in ("package.json", "tsconfig.json", "calls.ts"):
        shutil.copy(HERE / "ts" / name, tmp_path)
    (tmp_path / "example.ts").write_text(_block("ts").replace(DOC_URL, live))
    bin_ = modules / ".bin"
    gen = _run([bin_ / "openapi-typescript", DOCUMENT, "-o", "loss-service.ts"], cwd=tmp_path)
    assert gen.returncode == 0, gen.stdout + gen.stderr
    assert "warn" not in (gen.stdout + gen.stderr).lower(), gen.stdout + gen.stderr
    tsc = _run([bin_ / "tsc", "-p", "."], cwd=tmp_path)
    assert tsc.returncode == 0, tsc.stdout + tsc.stderr

    env = {"LOSS_SERVICE_URL": live, "LOSS_SERVICE_KEY": KEY}
    calls = _run(["node", "dist/calls.js"], cwd=tmp_path, env=env, timeout=60)
    assert calls.returncode == 0, calls.stderr
    _check_calls(json.loads(calls.stdout))
    example = _run(["node", "dist/example.js"], cwd=tmp_path, timeout=60)
    assert example.returncode == 0, example.stderr
    assert example.stdout == "0.375 [[-0.25,0.25],[0,-0.5]]\n"


@pytest.mark.slow
def test_curl_example(tmp_path, live):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    lines = _block("console").splitlines()
    command = "\n".join(line.removeprefix("$ ") for line in lines[:-1])
    out = _run(["bash", "-c", command.replace(DOC_URL, live)], cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == json.loads(lines[-1])


def test_the_docs_install_the_pinned_tools():
    """The docs' install commands name the versions the tests pin."""
    pins = json.loads((HERE / "ts" / "package.json").read_text())["devDependencies"]
    npm = _block("bash", 0)
    for name, version in pins.items():
        assert f"{name}@{version}" in npm, name
    pinned = re.search(r"^openapi-python-client==\S+$", (HERE / "requirements.txt").read_text(),
                       re.M)
    assert pinned is not None and f"pip install {pinned.group()}" in _block("bash", 1)
    assert "(docs/api.md#calling-it-from-other-languages)" in (ROOT / "README.md").read_text()
