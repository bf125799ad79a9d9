"""Start the real server (`loss-service serve` on a free port), wait for /readyz, and make one
request per route with the synchronous client."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from service.api.schemas import example_body
from service.client import LossClient
from service.config import Settings
from service.losses import SPECS
from service.transport import binary as binary_body
from service.transport.json_out import LAZY_JSON_ELEMENTS, tensor_to_wire, wire_to_array
from tests.serverutil import running_server

pytestmark = pytest.mark.slow  # a real server process


@pytest.fixture(scope="module")
def server_process() -> Iterator[tuple[str, int]]:
    """(url, pid) of the server."""
    with running_server() as (url, proc):
        yield url, proc.pid


@pytest.fixture(scope="module")
def server(server_process: tuple[str, int]) -> str:
    return server_process[0]


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_declared_lengths_that_never_arrive_cost_no_memory(server_process):
    """Six connections declare the largest body (256 MiB) and send 15 bytes of it: the server
    holds those bytes, not the declared ones (it grew by 707 MiB when it allocated each
    declared length up front). First in the module, on a server whose heap holds no freed
    memory to reuse."""
    url, pid = server_process
    port = int(url.rsplit(":", 1)[1])
    declared = Settings().max_body_bytes
    before = _rss_bytes(pid)
    conns = []
    try:
        for _ in range(6):
            conn = socket.create_connection(("127.0.0.1", port))
            conn.sendall(b"POST /loss/mse HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         b"\r\nContent-Length: %d\r\n\r\n{\"predictions\":" % declared)
            conns.append(conn)
        assert httpx.get(f"{url}/healthz").status_code == 200  # (after those bytes were read)
        grown = max(_rss_bytes(pid) for _ in range(3)) - before
        assert grown < 32 << 20, f"the server grew by {grown >> 20} MiB"
    finally:
        for conn in conns:
            conn.close()
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_one_request_per_route(server):
    with LossClient(server) as client:
        assert client.ready()
        assert client.version()["service"]
        assert len(client.losses()) == len(SPECS)
        for spec in SPECS:
            assert client.describe(spec.name)["name"] == spec.name
            body = example_body(spec)
            inputs = {**body.get("inputs", {})}
            args = dict(predictions=body.get("predictions"), targets=body.get("targets"),
                        inputs=inputs or None, reduction=body["reduction"],
                        **body.get("params", {}))
            r = client.loss(spec.name, **args)
            assert r.loss == spec.name
            if spec.differentiable:
                g = client.gradient(spec.name, **args)
                given = {*body.get("inputs", {}), *(k for k in ("predictions", "targets")
                                                    if k in body)}
                assert set(g.gradients) == set(spec.differentiable_inputs) & given
    r = httpx.get(f"{server}/healthz")
    assert r.json() == {"status": "ok"}


def test_large_json_request_and_chunked_response(server):
    """A 21 MB nested JSON body (its arrays read in place) and a gradient of 2**20 + 10 values,
    serialized while uvicorn sends it (chunked): the values of a b64 request for the same arrays."""
    rng = np.random.default_rng(12)
    x = rng.normal(size=(LAZY_JSON_ELEMENTS // 10 + 1, 10))
    y = rng.integers(0, 10, len(x))
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=server, timeout=120) as http:
        r = http.post("/gradient/cross_entropy", headers=headers, content=orjson.dumps(
            {"predictions": x, "targets": y}, option=orjson.OPT_SERIALIZE_NUMPY))
        assert r.status_code == 200 and "content-length" not in r.headers
        assert r.headers["transfer-encoding"] == "chunked"
        nested = orjson.loads(r.content)
        b64 = http.post("/gradient/cross_entropy", headers=headers, content=orjson.dumps(
            {"predictions": tensor_to_wire(x), "targets": tensor_to_wire(y),
             "encoding": "b64"})).json()
    assert nested["value"] == b64["value"]
    np.testing.assert_array_equal(np.asarray(nested["gradient"]), wire_to_array(b64["gradient"]))
    np.testing.assert_array_equal(np.asarray(nested["gradients"]["predictions"]),
                                  wire_to_array(b64["gradient"]))
    np.testing.assert_array_equal(np.asarray(nested["per_sample"]),
                                  wire_to_array(b64["per_sample"]))


def test_large_binary_request_through_uvicorn(server):
    """A 17 MB binary body and its 35 MB binary answer (sent in slices, with a Content-Length):
    the values of the b64 request, through the client's ``encoding="binary"``."""
    rng = np.random.default_rng(13)
    x = rng.normal(size=(200_001, 10))
    y = rng.integers(0, 10, len(x))
    with LossClient(server, timeout=120) as client:
        binary = client.gradient("cross_entropy", x, y, encoding="binary")
        b64 = client.gradient("cross_entropy", x, y, encoding="b64")
    assert binary.value == b64.value
    np.testing.assert_array_equal(binary.gradient, b64.gradient)
    np.testing.assert_array_equal(binary.per_sample, b64.per_sample)
    parts, length = binary_body.pack({"predictions": x, "targets": y})
    r = httpx.post(f"{server}/gradient/cross_entropy", content=b"".join(parts), timeout=120,
                   headers={"content-type": binary_body.MEDIA_TYPE,
                            binary_body.HEADER_LENGTH: str(length)})
    assert r.status_code == 200 and int(r.headers["content-length"]) == len(r.content)
    got = binary_body.unpack(r.content, int(r.headers[binary_body.HEADER_LENGTH]))
    np.testing.assert_array_equal(got["gradient"], b64.gradient)
    np.testing.assert_array_equal(got["gradients"]["predictions"], b64.gradient)
    # sent chunked (no Content-Length): the body is gathered as it comes
    r = httpx.post(f"{server}/gradient/cross_entropy", content=iter(parts), timeout=120,
                   headers={"content-type": binary_body.MEDIA_TYPE,
                            binary_body.HEADER_LENGTH: str(length)})
    assert r.status_code == 200, r.text
    got = binary_body.unpack(r.content, int(r.headers[binary_body.HEADER_LENGTH]))
    np.testing.assert_array_equal(got["per_sample"], b64.per_sample)
