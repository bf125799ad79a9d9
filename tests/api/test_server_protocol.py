"""The server's HTTP protocol (service/server.py) driven directly, with a fake transport: the
cases a real socket cannot time reliably. tests/ops/test_request_head.py runs it in a server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.server import ServerState

from service.server import HeadLimitedProtocol, ServiceConfig

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5000)}.get(name,
                                                                                       default)

    def write(self, data: bytes) -> None:  # type: ignore[override]
        assert not self.closed, "written after close"
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _protocol(app: Any) -> tuple[HeadLimitedProtocol, FakeTransport]:
    config = ServiceConfig(app, max_header_bytes=1024, header_timeout_s=0.05, log_config=None,
                           lifespan="off")
    config.load()
    protocol = HeadLimitedProtocol(config=config, server_state=ServerState(), app_state={},
                                   _loop=asyncio.get_running_loop())
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def test_a_stalled_pipelined_head_behind_an_unanswered_request_only_closes():
    """The head timer fires while the request before it is still being answered: a 408 written
    then would be read as that request's answer, so the connection is only closed."""
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"late"})

    protocol, transport = _protocol(slow)
    protocol.data_received(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\nGET /next HTTP/1.1\r\nho")
    await asyncio.sleep(0.2)  # the pipelined head's timer (0.05 s) has fired
    assert transport.closed and transport.written == b""
    release.set()
    await asyncio.sleep(0.01)
    protocol.connection_lost(None)


async def test_a_stalled_head_after_an_answered_request_gets_408():
    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    protocol, transport = _protocol(ok)
    protocol.data_received(b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n")
    await asyncio.sleep(0.01)
    assert transport.written.startswith(b"HTTP/1.1 200")
    answered = len(transport.written)
    protocol.data_received(b"GET /b HTTP/1.1\r\nho")
    await asyncio.sleep(0.2)
    assert transport.written[answered:].startswith(b"HTTP/1.1 408 Request Timeout")
    assert b'"code":"request_timeout"' in transport.written and transport.closed
    protocol.connection_lost(None)
