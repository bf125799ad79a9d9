"""The Open Inference Protocol with the clients people use, against a real server: Triton's
``tritonclient.http`` (in the test extra) and KServe's ``InferenceRESTClient`` (in a venv of its
own, built from tests/clients/kserve/requirements.txt: kserve pins FastAPI, pydantic and NumPy
versions that must not move the service's), their outputs equal to /gradient's bit for bit; and
docs/api.md's examples run as written (curl, tritonclient, kserve), printing what the docs
show.

Each client is skipped where it cannot be had (not installed, no package registry), or the test
fails where ``LOSS_SERVICE_TEST_REQUIRE`` names it, as CI does (tests/toolenv.py). The requests,
the /gradient reference and the docs' helpers are test_inference_protocol.py's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests import toolenv
from tests.serverutil import running_server

from .test_inference_protocol import (
    CASES,
    DATATYPE,
    ROOT,
    X,
    _block,
    _native,
    _same_as_gradient,
    _same_text,
    _section,
)

CLIENTS = ROOT / "tests" / "clients"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server() as (url, _):
        yield url


def _tritonclient() -> Any:
    try:
        import tritonclient.http as httpclient
    except ImportError:
        toolenv.missing("tritonclient", "tritonclient[http] is not installed")
    return httpclient


def test_tritonclient(server):
    httpclient = _tritonclient()
    from tritonclient.utils import InferenceServerException

    client = httpclient.InferenceServerClient(server.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("cross_entropy") and not client.is_model_ready("nope")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    meta = client.get_model_metadata("cross_entropy")
    assert [i["name"] for i in meta["inputs"]][:2] == ["predictions", "targets"]
    _, inputs, parameters, extra = CASES[1]
    native = asyncio.run(_native_live(server, "cross_entropy", inputs, extra))
    for binary in (False, True):
        tensors = []
        for name, a in inputs:
            t = httpclient.InferInput(name, list(a.shape), DATATYPE[a.dtype.name])
            t.set_data_from_numpy(a, binary_data=binary)
            tensors.append(t)
        outputs = [httpclient.InferRequestedOutput(n, binary_data=binary)
                   for n in ("value", "per_sample", "gradient_predictions")]
        result = client.infer("cross_entropy", tensors, outputs=outputs, parameters=parameters)
        _same_as_gradient({n: result.as_numpy(n) for n in ("value", "per_sample",
                                                             "gradient_predictions")}, native)
    # no outputs named: all of them, binary (tritonclient asks for binary_data_output)
    result = client.infer("cross_entropy", tensors, parameters=parameters)
    assert result.as_numpy("gradient_predictions").shape == X.shape
    with pytest.raises(InferenceServerException, match="input 'targets'") as info:
        bad = httpclient.InferInput("targets", [6], "FP64")
        bad.set_data_from_numpy(np.zeros(6))
        client.infer("cross_entropy", [tensors[0], bad])
    assert info.value.status() == "400"


async def _native_live(url: str, model: str, inputs: Any, extra: dict[str, Any]) -> Any:
    import httpx

    async with httpx.AsyncClient(base_url=url) as c:
        return await _native(c, model, inputs, extra)


def _wire(name: str, a: np.ndarray) -> dict[str, Any]:
    le = a.astype(a.dtype.newbyteorder("<"))
    return {"name": name, "datatype": DATATYPE[a.dtype.name], "shape": list(a.shape),
            "b64": base64.b64encode(le.tobytes()).decode()}


def _unwire(t: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype({v: k for k, v in DATATYPE.items()}[t["datatype"]]).newbyteorder("<")
    return np.frombuffer(base64.b64decode(t["b64"]), dtype).reshape(t["shape"])


def test_kserve_client(server):
    """KServe's ``InferenceRESTClient`` (kserve, pinned in tests/clients/kserve/requirements.txt,
    in a venv of its own: it pins FastAPI, pydantic and NumPy versions of its own) runs
    tests/clients/kserve/calls.py against the server: health, readiness, and infer with JSON
    and with binary data both ways, the outputs (as bytes) equal to /gradient's."""
    python = toolenv.venv("kserve", "kserve", CLIENTS / "kserve" / "requirements.txt") / "python"
    cases = [CASES[2], CASES[1]]  # huber (reduction none, delta); weighted int64 cross-entropy
    outputs = ["value", "per_sample", "gradient_predictions"]
    calls = [{"model": model, "parameters": parameters, "outputs": outputs,
              "inputs": [_wire(n, a) for n, a in inputs]}
             for model, inputs, parameters, _ in cases]
    done = toolenv.run([python, CLIENTS / "kserve" / "calls.py", server], cwd=ROOT,
                       stdin=json.dumps(calls), timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert (out["server_live"], out["server_ready"]) == (True, True)
    assert out["models_ready"] == [True, True] and out["unknown_model_ready"] is False
    for binary in (False, True):
        answers = out["binary" if binary else "json"]
        for (model, inputs, _, extra), got in zip(cases, answers, strict=True):
            native = asyncio.run(_native_live(server, model, inputs, extra))
            assert (got["model_name"], got["id"]) == (native["loss"], f"kserve-{binary}")
            assert got["parameters"]["reduction"] == native["reduction"]
            # the client sent the tensors, and the server answered, as bytes (or as JSON)
            assert got["inputs_as_bytes"] == [binary] * len(inputs)
            assert got["outputs_as_bytes"] is binary
            assert list(got["outputs"]) == outputs
            _same_as_gradient({n: _unwire(t) for n, t in got["outputs"].items()}, native)
    assert out["error"]["status"] == 400
    assert "input 'no_such_input': model huber has no such input" in out["error"]["message"]


def test_the_docs_kserve_example_runs(server, tmp_path):
    """docs/api.md's kserve example, run in the kserve venv, prints what the docs show; the docs
    install the version the test pins."""
    python = toolenv.venv("kserve", "kserve", CLIENTS / "kserve" / "requirements.txt") / "python"
    section = _section()
    example = section[section.index("With KServe's Python client"):]
    pinned = re.search(r"^kserve==\S+$", (CLIENTS / "kserve" / "requirements.txt").read_text(),
                       re.M)
    assert pinned is not None and f"pip install {pinned.group()}" in example
    code = _block(example, "python")
    assert code.count("http://127.0.0.1:8000") == 2
    (tmp_path / "example.py").write_text(code.replace("http://127.0.0.1:8000", server))
    done = toolenv.run([python, "example.py"], cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    _same_text(_block(example[example.index("prints"):], "text"), done.stdout)


def test_the_docs_curl_commands_print_what_is_shown(server, tmp_path):
    """The same commands, run as written by curl (quoting, no content type) on a real server."""
    toolenv.which("curl", "curl")
    lines = _block(_section(), "console").splitlines()
    for command, shown in zip(lines[::2], lines[1::2], strict=True):
        assert command.startswith("$ curl -s localhost:8000/v2/"), command
        command = command.removeprefix("$ ").replace("localhost:8000",
                                                     server.removeprefix("http://"))
        done = toolenv.run(["bash", "-c", command], cwd=tmp_path, timeout=60)
        assert done.returncode == 0, done.stderr
        _same_text(shown, done.stdout)


def test_the_docs_tritonclient_example_runs(server, capsys):
    """docs/api.md's tritonclient example prints what the docs show."""
    _tritonclient()
    section = _section()
    code = _block(section, "python").replace("127.0.0.1:8000", server.removeprefix("http://"))
    exec(compile(code, "docs/api.md", "exec"), {})
    _same_text(_block(section[section.index("prints"):], "text"), capsys.readouterr().out)

