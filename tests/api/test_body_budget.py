"""Request bodies cost memory in proportion to the bytes that arrive, and all of them together
stay within ``LOSS_SERVICE_MAX_INFLIGHT_BYTES``: a body that does not fit gets 503
``server_busy`` with Retry-After, and every request gives its bytes back when it ends, however
it ends (answered, refused, timed out, disconnected). (The slow-upload memory test against a
real server is in test_live_server.py.)"""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import orjson
import pytest

from service import engine
from service.config import Settings
from service.main import create_app
from service.transport import request as body_module
from service.transport.inflight import BodyBudget

pytestmark = pytest.mark.anyio

LIMIT = 1 << 19  # the largest body, and the budget of all bodies in flight
JSON = {"content-type": "application/json"}
BODY = orjson.dumps({"predictions": [0.5, 1.0], "targets": [0.0, 1.0]})


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def app():
    """One app for the module (a fresh app's first request builds FastAPI's routes: 0.5 s)."""
    application = create_app(Settings(max_body_bytes=LIMIT, max_inflight_bytes=LIMIT,
                                      retry_after_s=3, request_timeout_s=5))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as c:
        yield c


def _held(app) -> int:
    return app.state.body_budget.held


class Paused:
    """A streamed (chunked) body that sends ``head``, waits for :meth:`go`, then sends
    ``tail``."""

    def __init__(self, head: bytes, tail: bytes):
        self.head, self.tail = head, tail
        self.sent_head = asyncio.Event()
        self.resume = asyncio.Event()

    async def __aiter__(self):
        yield self.head
        self.sent_head.set()
        await self.resume.wait()
        yield self.tail


def _padded(size: int) -> bytes:
    """A valid /loss/mse body of ``size`` bytes (whitespace after the object)."""
    return BODY + b" " * (size - len(BODY))


async def test_bytes_are_charged_as_they_arrive_and_released_at_the_end(app, client,
                                                                         monkeypatch):
    seen = []
    real = engine.run

    def spy(*args, **kwargs):
        seen.append(_held(app))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "run", spy)
    body = _padded(200_000)
    r = await client.post("/loss/mse", content=body, headers=JSON)
    assert r.status_code == 200 and r.json()["value"] == pytest.approx(0.125)
    assert seen == [len(body)]  # held while the request computes
    assert _held(app) == 0


async def _holding(app, client, size: int) -> tuple[Paused, asyncio.Task]:
    """A request whose first ``size`` bytes have been read, paused before its last chunk."""
    paused = Paused(_padded(size), b"")
    task = asyncio.create_task(client.post("/loss/mse", content=paused, headers=JSON))
    await paused.sent_head.wait()
    while _held(app) < size:  # the chunk is read and charged
        await asyncio.sleep(0.01)
    return paused, task


async def test_a_declared_length_that_does_not_fit_is_503_server_busy(app, client):
    """While one upload holds 300 KB of the 512 KiB budget, a body declaring 300 KB is refused
    before any of it is read; once the first request ends, the same body is answered."""
    paused, task = await _holding(app, client, 300_000)
    r = await client.post("/loss/mse", content=_padded(300_000), headers=JSON)
    assert r.status_code == 503
    problem = r.json()
    assert problem["code"] == "server_busy" and r.headers["retry-after"] == "3"
    assert problem["errors"][0]["loc"] == ["body"]
    assert _held(app) == 300_000  # the refused request held nothing
    paused.resume.set()
    assert (await task).status_code == 200
    assert _held(app) == 0
    r = await client.post("/loss/mse", content=_padded(300_000), headers=JSON)
    assert r.status_code == 200


async def test_a_streamed_body_past_the_budget_is_503_and_gives_its_bytes_back(app, client):
    """A streamed body (no Content-Length) beside one holding 300 KB: its chunk that would take
    the total past 512 KiB ends it with 503; the other completes."""
    paused, task = await _holding(app, client, 300_000)

    async def chunks():
        yield b" " * 100_000
        yield b" " * 200_000

    r = await client.post("/loss/mse", content=chunks(), headers=JSON)
    assert r.status_code == 503 and r.json()["code"] == "server_busy"
    assert r.headers["retry-after"] == "3"
    assert _held(app) == 300_000
    paused.resume.set()
    assert (await task).status_code == 200
    assert _held(app) == 0


async def test_every_ending_gives_the_bytes_back(app, client):
    async def chunks():
        for _ in range(100):
            yield b" " * 10_000

    r = await client.post("/loss/mse", content=chunks(), headers=JSON)
    assert r.status_code == 413 and _held(app) == 0
    r = await client.post("/loss/mse", content=orjson.dumps(
        {"predictions": [1.0] * 10_000, "targets": [1.0]}), headers=JSON)
    assert r.status_code == 422 and _held(app) == 0
    r = await client.post("/loss/mse", content=b"{" * 100_000, headers=JSON)
    assert r.status_code == 400 and _held(app) == 0
    r = await client.post("/compare", content=orjson.dumps(
        {"loss": "mse", "inputs": {"predictions": [1.0] * 10_000, "targets": [1.0]},
         "submission": {"value": 1.0}}), headers=JSON)
    assert r.status_code == 422 and _held(app) == 0
    x = np.arange(20_000, dtype=np.float64)
    header, data = orjson.dumps({"predictions": {"shape": [20_000], "dtype": "float64",
                                                 "binary_data_size": x.nbytes},
                                 "targets": {"shape": [20_000], "dtype": "float64",
                                             "binary_data_size": x.nbytes}}), x.tobytes()
    r = await client.post("/loss/mse", content=header + data + data, headers={
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(header))})
    assert r.status_code == 200 and _held(app) == 0


async def test_a_slow_upload_gives_its_bytes_back_at_the_408():
    app = create_app(Settings(request_timeout_s=0.2))
    first = Paused(_padded(100_000), b"")
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        r = await client.post("/loss/mse", content=first, headers=JSON)
        assert r.status_code == 408
        assert _held(app) == 0


async def test_a_disconnected_client_gives_its_bytes_back(app):
    """The ASGI app driven directly: 150 KB of a declared 300 KB arrive, then the client goes
    away."""
    messages = [{"type": "http.request", "body": b" " * 150_000, "more_body": True},
                {"type": "http.disconnect"}]
    sent = []

    async def receive():
        if len(messages) == 1:
            assert _held(app) == 150_000  # charged before the next read
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/loss/mse", "raw_path": b"/loss/mse",
             "query_string": b"", "root_path": "", "server": ("testserver", 80),
             "client": ("127.0.0.1", 1234), "headers": [
                 (b"host", b"testserver"), (b"content-type", b"application/json"),
                 (b"content-length", b"300000")]}
    await app(scope, receive, send)  # no exception: not an internal error
    assert not messages
    assert sent[0]["status"] == 499  # (recorded as "client closed request"; nobody reads it)
    assert _held(app) == 0


def _chunks_of(body: bytes, sizes: list[int]) -> list[bytes]:
    out, at = [], 0
    for size in sizes:
        out.append(body[at:at + size])
        at += size
    out.append(body[at:])
    return out


class FakeRequest:
    """What read_body uses of a request: headers, the stream of chunks, the app's budget."""

    def __init__(self, chunks: list[bytes], declared: int | None, budget):
        self.headers = {"content-type": "application/json",
                        **({} if declared is None else {"content-length": str(declared)})}
        self.chunks = chunks
        self.scope: dict = {}
        self.app = type("App", (), {})()
        self.app.state = type("State", (), {"body_budget": budget})()

    async def stream(self):
        for chunk in self.chunks:
            yield chunk
        yield b""


@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("sizes", [[1 << 20], [65536] * 20, [1] * 5000 + [3000] * 200,
                                   [100, 5000, 7, 80_000, 3, 3, 3, 200_000, 1]])
async def test_read_body_returns_the_bytes_sent(declared, sizes):
    rng = np.random.default_rng(len(sizes))
    body = rng.integers(0, 256, sum(sizes) + 1000, dtype=np.uint8).tobytes()
    budget = BodyBudget(0, 1)
    request = FakeRequest(_chunks_of(body, sizes), len(body) if declared else None, budget)
    got = await body_module.read_body(request, 1 << 24)
    assert bytes(got) == body
    assert budget.held == len(body) == request.scope["state"]["body_bytes_held"]
    budget.release(request.scope)
    assert budget.held == 0


async def test_read_body_holds_memory_for_the_bytes_sent_not_those_declared():
    """A body declaring 64 MiB that has sent 1 MiB holds its 1 MiB of chunks, no 64 MiB
    buffer; the buffer of the declared length comes once half of it has arrived."""
    declared = 64 << 20
    held: list[tuple[int, int]] = []

    class Watch(FakeRequest):
        async def stream(self):
            for chunk in self.chunks:
                yield chunk

    chunk = b" " * (1 << 20)
    request = Watch([chunk] * 64, declared, BodyBudget(0, 1))
    import tracemalloc

    tracemalloc.start()
    try:
        stream = request.stream

        async def watched():
            sent = 0
            async for c in stream():
                yield c
                sent += len(c)  # (read_body is back for the next chunk: this one is stored)
                held.append((sent, tracemalloc.get_traced_memory()[0]))

        request.stream = watched
        got = await body_module.read_body(request, 1 << 30)
    finally:
        tracemalloc.stop()
    assert len(got) == declared
    first_sent, first_traced = held[0]
    assert first_sent == 1 << 20 and first_traced < 4 << 20  # (nothing near 64 MiB)
    for sent, traced in held:
        assert traced < 2 * sent + (4 << 20)  # never more than twice what has arrived
