"""The synchronous client's transport (``service.client_transport``) against a small HTTP/1.1
server in a thread: bodies sent in parts arrive whole, connections are reused, a connection the
server closed while idle is replaced, chunked bodies both ways, errors as httpx's."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import httpx
import orjson
import pytest

from service.client import AsyncLossClient, LossClient
from service.client_transport import AsyncWireTransport, WireTransport
from tests.serverutil import free_port


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 0.3  # an idle keep-alive connection is closed by the server after this
    peers: ClassVar[list[int]] = []
    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []  # (path, headers) of each POST

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding") == "chunked":
            data = b""
            while (size := int(self.rfile.readline().strip(), 16)):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return data
        return self.rfile.read(int(self.headers.get("content-length", 0)))

    def _answer(self, payload: bytes, chunked: bool = False) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        if chunked:
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for i in range(0, len(payload), 7):
                piece = payload[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def do_POST(self) -> None:
        self.peers.append(self.client_address[1])
        self.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = self._body()
        self._answer(orjson.dumps({"n": len(body), "sha": hashlib.sha256(body).hexdigest()}))

    def do_GET(self) -> None:
        self.peers.append(self.client_address[1])
        self._answer(b'{"chunked": true, "text": "' + b"x" * 100 + b'"}', chunked=True)


@pytest.fixture
def url() -> Iterator[str]:
    _Handler.peers = []
    _Handler.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_parts_arrive_whole_and_the_connection_is_reused(url):
    parts = [b'{"a": "', memoryview(b"0123456789" * 50_000), b'"}']
    whole = b"".join(bytes(p) for p in parts)
    with httpx.Client(transport=WireTransport(keepalive_s=10)) as client:
        for _ in range(3):
            r = client.post(f"{url}/x", content=iter(parts),
                            headers={"content-length": str(len(whole))})
            assert r.status_code == 200
            assert r.json() == {"n": len(whole), "sha": hashlib.sha256(whole).hexdigest()}
    assert len(set(_Handler.peers)) == 1  # one connection for the three requests


def test_chunked_bodies_both_ways(url):
    with httpx.Client(transport=WireTransport()) as client:
        r = client.post(f"{url}/x", content=(b"ab%d" % i for i in range(1000)))  # no length
        sent = b"".join(b"ab%d" % i for i in range(1000))
        assert r.json() == {"n": len(sent), "sha": hashlib.sha256(sent).hexdigest()}
        got = client.get(f"{url}/chunked")
        assert got.json() == {"chunked": True, "text": "x" * 100}
        assert "transfer-encoding" not in got.headers


def test_a_connection_the_server_closed_while_idle_is_replaced(url):
    transport = WireTransport(keepalive_s=10)
    with httpx.Client(transport=transport) as client:
        assert client.post(f"{url}/x", content=b"1").status_code == 200
        time.sleep(0.8)  # the server closes the idle connection (its handler's timeout)
        assert client.post(f"{url}/x", content=b"22").json()["n"] == 2
    assert len(set(_Handler.peers)) == 2


def test_errors_are_httpx_errors_and_https_keeps_httpx_transport():
    with httpx.Client(transport=WireTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            client.get(f"http://127.0.0.1:{free_port()}/healthz")
        with pytest.raises(httpx.UnsupportedProtocol):
            client.get("https://127.0.0.1:1/healthz")
    with LossClient("https://loss.example") as c:
        assert not isinstance(c._http._transport, WireTransport)
    with LossClient("http://127.0.0.1:1") as c:
        assert isinstance(c._http._transport, WireTransport)


@pytest.mark.anyio
async def test_the_async_transport_does_the_same(url):
    parts = [b'{"a": "', memoryview(b"0123456789" * 50_000), b'"}']
    whole = b"".join(bytes(p) for p in parts)

    class Parts:
        async def __aiter__(self):
            for p in parts:
                yield p

    async with httpx.AsyncClient(transport=AsyncWireTransport(keepalive_s=10)) as client:
        for _ in range(2):
            r = await client.post(f"{url}/x", content=Parts(),
                                  headers={"content-length": str(len(whole))})
            assert r.json() == {"n": len(whole), "sha": hashlib.sha256(whole).hexdigest()}
        assert len(set(_Handler.peers)) == 1
        got = await client.get(f"{url}/chunked")
        assert got.json() == {"chunked": True, "text": "x" * 100}
        await asyncio.sleep(0.8)  # the server closes the idle connection
        assert (await client.post(f"{url}/x", content=b"22")).json()["n"] == 2
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{free_port()}/healthz")
    async with AsyncLossClient("http://127.0.0.1:1") as c:
        assert isinstance(c._http._transport, AsyncWireTransport)


@pytest.mark.anyio
async def test_the_clients_direct_post_is_the_request_httpx_would_send(url):
    # the clients hand a POST straight to their transport (past httpx.Client.send): the same
    # path under the base URL's prefix, the same headers, the client's timeouts
    body = {"predictions": [1.0]}
    with LossClient(f"{url}/prefix", headers={"x-api-key": "k1"}, timeout=7) as c:
        c._post("/gradient/mse", body)
        c._http.post("/gradient/mse", content=orjson.dumps(body))  # httpx's own way
        assert c._direct.request("/x", content=b"", headers={}).extensions["timeout"] == {
            "connect": 7, "read": 7, "write": 7, "pool": 7}
    async with AsyncLossClient(f"{url}/prefix/", headers={"x-api-key": "k1"}) as a:
        await a._post("/gradient/mse", body)
    (direct, d_headers), (plain, p_headers), (adirect, a_headers) = _Handler.seen
    assert direct == plain == adirect == "/prefix/gradient/mse"
    assert d_headers.keys() == p_headers.keys() == a_headers.keys()
    assert d_headers["x-api-key"] == a_headers["x-api-key"] == "k1"
    assert d_headers["content-type"] == "application/json"
    assert d_headers["host"] == p_headers["host"]
