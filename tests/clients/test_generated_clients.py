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
network), and fails instead where ``LOSS_SERVICE_TEST_REQUIRE`` names the tool (CI:
tests/toolenv.py). The examples in docs/api.md ("Calling it from other languages"), the
generators' commands included, are read from there and run, with the server's address put in
for ``http://localhost:8000``; the server has the docs' API key, and what they print is what the
docs show.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .. import toolenv
from ..serverutil import running_server

HERE = Path(__file__).resolve().parent
_run = toolenv.run
ROOT = HERE.parents[1]
DOCUMENT = ROOT / "openapi" / "openapi.json"
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


def _docs_section() -> str:
    text = (ROOT / "docs" / "api.md").read_text()
    section = text[text.index("\n## Calling it from other languages\n"):]
    end = section.find("\n## ", 1)
    return section if end < 0 else section[:end]


def _block(lang: str, index: int = 0) -> str:
    """The ``index``-th fenced block of ``lang`` in the docs' section."""
    blocks = re.findall(rf"^```{lang}\n(.*?)^```$", _docs_section(), re.S | re.M)
    return blocks[index]


def _python_tools() -> Path:
    """The bin directory of a venv with openapi-python-client and mypy (requirements.txt)."""
    return toolenv.venv("openapi-python-client", "py", HERE / "requirements.txt")


def _node_modules() -> Path:
    """node_modules with the pinned openapi-typescript, openapi-fetch and typescript."""
    toolenv.which("node", "node")
    toolenv.which("node", "npm")
    pins = [HERE / "ts" / "package.json", HERE / "ts" / "package-lock.json"]

    def build(folder: Path) -> str | None:
        for p in pins:
            shutil.copy(p, folder)
        npm = _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
                   timeout=600)
        if npm.returncode != 0:
            return f"npm ci failed: {npm.stderr[-500:]}"
        return None

    return toolenv.cached("node", "ts", pins, build) / "node_modules"


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


def _docs_command(index: int, program: str, where: Path) -> list[str]:
    """The generator's command of the ``index``-th bash block of the docs (its last line), to
    run in ``where``, which gets the document at the path the command names."""
    command = shlex.split(_block("bash", index).splitlines()[-1])
    assert command[0] == program and "openapi/openapi.json" in command, command
    (where / "openapi").mkdir()
    shutil.copy(DOCUMENT, where / "openapi" / "openapi.json")
    return command


def _check_example(code: str, stdout: str) -> None:
    """The example prints what its last line's comment says, and that is the mean squared error
    of its arrays, and its gradient 2 (p - t) / n, computed here."""
    shown = code.rstrip().splitlines()[-1].split("// ")[-1].split("# ")[-1]
    assert stdout == shown + "\n"
    value, gradient = stdout.split(" ", 1)
    p, t = (np.array(json.loads(a)) for a in re.findall(r"(?:predictions|targets)[:=]\s*"
                                                        r"(\[\[.*?\]\])", code))
    assert float(value) == np.mean((p - t) ** 2)
    assert json.loads(gradient) == (2 * (p - t) / p.size).tolist()


@pytest.mark.slow
def test_python_client(tmp_path, live):
    tools = _python_tools()
    env = {"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}  # the generator runs ruff
    gen = _run(_docs_command(1, "openapi-python-client", tmp_path), cwd=tmp_path, env=env)
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
    _check_example(_block("python"), example.stdout)


@pytest.mark.slow
def test_typescript_client(tmp_path, live):
    modules = _node_modules()
    (tmp_path / "node_modules").symlink_to(modules, target_is_directory=True)
    for name in ("package.json", "tsconfig.json", "calls.ts"):
        shutil.copy(HERE / "ts" / name, tmp_path)
    (tmp_path / "example.ts").write_text(_block("ts").replace(DOC_URL, live))
    bin_ = modules / ".bin"
    gen = _run(_docs_command(0, "npx", tmp_path), cwd=tmp_path)
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
    _check_example(_block("ts"), example.stdout)


@pytest.mark.slow
def test_curl_example(tmp_path, live):
    toolenv.which("curl", "curl")
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
