"""A real server bounds each request's head (service/server.py): its size and its time.

Before, one connection sending an endless header line grew a worker by about 1 GiB per 400 MiB
sent, and a connection that sent nothing was kept for ever. The server here takes heads of at
most 4096 bytes that arrive within 1 s of their first byte.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.server import MAX_PIPELINED
from tests.serverutil import running_server

pytestmark = pytest.mark.slow  # a real server process

MAX_HEAD = 4096
TIMEOUT_S = 1.0
BODY = json.dumps({"predictions": [1.0, 2.0], "targets": [0.0, 1.0]}).encode()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int, int]]:
    """(host, port, pid) of a server with small head bounds."""
    env = {"LOSS_SERVICE_MAX_HEADER_BYTES": str(MAX_HEAD),
           "LOSS_SERVICE_HEADER_TIMEOUT_S": str(TIMEOUT_S), "LOSS_SERVICE_FUSED": "false"}
    with running_server(env=env) as (url, proc):
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port), proc.pid


class Conn:
    """A client connection: its socket, and a buffered reader of it (pipelined responses are
    read in turn)."""

    def __init__(self, server: tuple[str, int, int]):
        self.sock = socket.create_connection(server[:2])
        self.sock.settimeout(10)
        self.reader = self.sock.makefile("rb")

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reader.close()
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """One response: (status, headers, body), read by its content-length."""
        status = self.reader.readline()
        assert status, "the connection closed without a response"
        headers = {}
        while line := self.reader.readline().decode("latin-1").rstrip("\r\n"):
            name, _, value = line.partition(": ")
            headers[name.lower()] = value
        return int(status.split()[1]), headers, self.reader.read(int(headers["content-length"]))

    def closed(self) -> bool:
        try:
            return self.reader.read(1) == b""
        except ConnectionResetError:
            return True


def _head(path: str, size: int, body: bytes = BODY) -> bytes:
    """A POST head of exactly ``size`` bytes (padded by an X-Pad header)."""
    start = (f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
             f"content-length: {len(body)}\r\nx-pad: ").encode()
    pad = size - len(start) - 4  # the pad's line end and the blank line
    assert pad >= 0
    return start + b"a" * pad + b"\r\n\r\n"


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_head_of_the_limit_is_served_and_one_byte_more_is_431(server):
    for size, status in ((MAX_HEAD, 200), (MAX_HEAD + 1, 431)):
        with Conn(server) as conn:
            conn.send(_head("/loss/mse", size) + BODY)
            got, headers, body = conn.response()
            assert got == status, body
            if status == 431:
                problem = json.loads(body)
                assert headers["content-type"] == "application/problem+json"
                assert headers["connection"] == "close"
                assert problem["code"] == "headers_too_large" and problem["status"] == 431
                assert problem["errors"][0]["loc"] == ["header"]
                assert str(MAX_HEAD) in problem["detail"]
                assert conn.closed()


def test_an_endless_header_is_cut_off_without_the_server_keeping_it(server):
    """The server closes the connection once the head passes the limit: the client cannot send
    the 256 MiB it meant to, and the worker's memory does not grow with what it sent."""
    before = _rss(server[2]) if sys.platform == "linux" else None
    sent = 0
    with Conn(server) as conn:
        conn.send(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ")
        chunk = b"a" * (1 << 20)
        with pytest.raises(OSError):  # reset (or broken pipe) once the server has closed
            while sent < 256 << 20:
                conn.send(chunk)
                sent += len(chunk)
    assert sent < 64 << 20, sent  # what the sockets' buffers took before the reset
    if before is not None:
        assert _rss(server[2]) - before < 64 << 20
    assert httpx.get(f"http://{server[0]}:{server[1]}/healthz").status_code == 200


def test_each_request_on_a_kept_alive_connection_has_its_own_head_budget(server):
    """Fifty requests of 3000-byte heads on one connection, sent one after the other and then
    pipelined in one write: 150 KB of heads in all, each within the limit."""
    with Conn(server) as conn:
        for _ in range(50):
            conn.send(_head("/loss/mse", 3000) + BODY)
            assert conn.response()[0] == 200
        conn.send((_head("/loss/mse", 3000) + BODY) * 3)
        assert [conn.response()[0] for _ in range(3)] == [200, 200, 200]


def test_a_large_body_arrives_with_its_head_in_one_read(server):
    """Head and body together far beyond the head's limit: only the head counts."""
    values = list(range(200_000))
    body = json.dumps({"predictions": values, "targets": values}).encode()  # ~2.6 MB
    with Conn(server) as conn:
        conn.send(_head("/loss/mse", 1000, body) + body)
        status, _, answer = conn.response()
    assert status == 200, answer
    assert json.loads(answer)["value"] == 0.0


def test_pipelined_requests_are_answered_up_to_a_bound(server):
    """Up to MAX_PIPELINED requests may wait behind the one being answered; a connection that
    queues more (each held ~2 KB: 256 KiB of tiny requests held ~17 MB) is closed."""
    tiny = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"
    with Conn(server) as conn:
        conn.send(tiny * (MAX_PIPELINED + 1))
        assert [conn.response()[0] for _ in range(MAX_PIPELINED + 1)] == [200] * (
            MAX_PIPELINED + 1)
    before = _rss(server[2]) if sys.platform == "linux" else None
    conns = [Conn(server) for _ in range(10)]
    try:
        for conn in conns:
            conn.send(tiny * 7000)  # 245 KB
        for conn in conns:  # closed (EOF or reset) with few of them answered, if any
            answered = b""
            try:
                while chunk := conn.sock.recv(65536):
                    answered += chunk
            except ConnectionResetError:
                pass
            assert answered.count(b"HTTP/1.1 200") <= MAX_PIPELINED + 1
    finally:
        for conn in conns:
            conn.__exit__()
    if before is not None:
        assert _rss(server[2]) - before < 64 << 20


def _chunked(path: str, pieces: list[bytes], trailer: bytes = b"") -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            "transfer-encoding: chunked\r\n\r\n").encode()
    return head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n" + trailer


def test_chunked_bodies_of_small_chunks_and_with_trailers_are_served(server):
    """A 60 KB body in chunks of 7 bytes: about 50 KB of chunk size lines in all, each within
    the bound; then a body with a trailer field."""
    values = list(range(5000))
    body = json.dumps({"predictions": values, "targets": values}).encode()
    pieces = [body[i:i + 7] for i in range(0, len(body), 7)]
    with Conn(server) as conn:
        conn.send(_chunked("/loss/mse", pieces) + b"\r\n")
        assert conn.response()[0] == 200
        conn.send(_chunked("/loss/mse", [BODY], b"x-checksum: 1234\r\n\r\n"))
        assert conn.response()[0] == 200


def test_endless_trailer_fields_are_cut_off(server):
    """Trailer fields after the last chunk are kept by the parser like a head's: bounded too."""
    before = _rss(server[2]) if sys.platform == "linux" else None
    sent = 0
    with Conn(server) as conn:
        conn.send(_chunked("/loss/mse", [BODY], b"x-trailer: "))
        chunk = b"a" * (1 << 20)
        with pytest.raises(OSError):
            while sent < 256 << 20:
                conn.send(chunk)
                sent += len(chunk)
        assert sent < 64 << 20, sent
    if before is not None:
        assert _rss(server[2]) - before < 64 << 20
    with Conn(server) as conn:  # an endless chunk size line
        conn.send(_chunked("/loss/mse", [])[:-3] + b"1;ext=" + b"a" * (2 * MAX_HEAD))
        status, _, body = conn.response()
        assert status == 431 and "chunk" in json.loads(body)["detail"]


@pytest.mark.parametrize("head", [
    b"POST /loss/mse HTTP/1.1\r\nhost: x\r\ncontent-length: 41\r\n"
    b"transfer-encoding: chunked\r\n\r\n",  # both framings: a smuggling attempt
    b"POST /loss/mse HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 41\r\n\r\n",
    b"POST /loss/mse HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n",
    b"GET /\xff\xfe HTTP/1.1\r\nhost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nbad header\r\n\r\n",
], ids=["cl-and-chunked", "two-lengths", "negative-length", "non-ascii-path", "no-colon"])
def test_what_the_parser_refuses_is_a_problem_document(server, head):
    with Conn(server) as conn:
        conn.send(head + BODY)
        status, headers, body = conn.response()
        assert status == 400 and headers["content-type"] == "application/problem+json"
        assert json.loads(body)["code"] == "invalid_http"
        assert conn.closed()


def _closed_total(server: tuple[str, int, int]) -> dict[str, float]:
    text = httpx.get(f"http://{server[0]}:{server[1]}/metrics").text
    return {s.labels["reason"]: s.value for f in text_string_to_metric_families(text)
            for s in f.samples if s.name == "loss_service_connections_closed_total"}


def test_closed_connections_are_counted_by_reason(server):
    before = _closed_total(server)
    with Conn(server) as conn:
        conn.send(_head("/loss/mse", MAX_HEAD + 1))
        assert conn.response()[0] == 431
    with Conn(server) as conn:
        conn.send(b"GET /healthz HTTP/1.1\r\nbad header\r\n\r\n")
        assert conn.response()[0] == 400
    with Conn(server) as conn:
        assert conn.closed()  # idle: closed after the head timeout
    after = _closed_total(server)
    for reason in ("headers_too_large", "invalid_http", "idle"):
        assert after.get(reason, 0) == before.get(reason, 0) + 1, reason


def test_a_slow_head_gets_408_and_a_silent_connection_is_closed(server):
    with Conn(server) as conn:
        start = time.monotonic()
        conn.send(b"GET /healthz HTTP/1.1\r\nho")
        status, _, body = conn.response()
        waited = time.monotonic() - start
        assert status == 408 and json.loads(body)["code"] == "request_timeout"
        assert TIMEOUT_S * 0.9 <= waited < TIMEOUT_S + 5
        assert conn.closed()
    with Conn(server) as conn:
        start = time.monotonic()
        assert conn.closed()  # without an answer
        assert time.monotonic() - start < TIMEOUT_S + 5


def test_the_head_timer_of_a_kept_alive_connection_starts_at_the_heads_first_byte(server):
    """Idle between requests for longer than the head timeout (but within uvicorn's 5 s
    keep-alive): the next request is served; its head's time starts when it starts."""
    with Conn(server) as conn:
        conn.send(_head("/loss/mse", 500) + BODY)
        assert conn.response()[0] == 200
        time.sleep(TIMEOUT_S * 2.5)
        conn.send(_head("/loss/mse", 500) + BODY)
        assert conn.response()[0] == 200


def test_the_open_inference_protocol_gets_its_own_error_shape(server):
    with Conn(server) as conn:
        conn.send(_head("/v2/models/mse/infer", MAX_HEAD + 100))
        status, headers, body = conn.response()
    assert status == 431 and headers["content-type"] == "application/json"
    assert "LOSS_SERVICE_MAX_HEADER_BYTES" in json.loads(body)["error"]
