"""A MemoryError anywhere on a request's path is a problem, never a 500: 503 ``out_of_memory``
with Retry-After (memory is short for now), or 413 ``payload_too_large`` when the one array that
failed needs more than the machine has. The app does not re-raise it (Starlette's catch-all
would, and uvicorn then drops the kept-alive connection): the in-process transport here raises
whatever the app raises, so a passing test shows the error stopped at the handler."""

from __future__ import annotations

import httpx
import numpy as np
import orjson
import pytest

from service import engine
from service.config import Settings
from service.main import create_app
from service.transport import json_in as loss_routes
from service.transport import request as body_module

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
INPUTS = {"predictions": [0.5, 1.0], "targets": [0.0, 1.0]}
ROUTES = {
    "/loss/mse": INPUTS,
    "/gradient/mse": INPUTS,
    "/compare": {"loss": "mse", "inputs": INPUTS, "submission": {"value": 0.125}},
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def client():
    app = create_app(Settings(retry_after_s=4))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


def _body(path: str, large: bool) -> bytes:
    """The route's body; ``large``: padded past the inline limit (computed in a worker
    thread, not on the event loop)."""
    raw = orjson.dumps(ROUTES[path])
    return raw + b" " * 100_000 if large else raw


def _out_of_memory(*args, **kwargs):
    raise MemoryError


@pytest.mark.parametrize("large", [False, True], ids=["inline", "thread"])
@pytest.mark.parametrize("path", list(ROUTES))
async def test_memory_error_while_computing_is_503(client, monkeypatch, path, large):
    monkeypatch.setattr(engine, "run", _out_of_memory)
    r = await client.post(path, content=_body(path, large), headers=JSON)
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "out_of_memory" and r.headers["retry-after"] == "4"
    monkeypatch.undo()
    assert (await client.post(path, content=_body(path, large), headers=JSON)).status_code == 200


@pytest.mark.parametrize("path", list(ROUTES))
async def test_an_array_larger_than_the_machine_is_413(client, monkeypatch, path):
    """A real NumPy MemoryError (1 PiB): no retry can succeed, so not a 503."""
    def huge(*args, **kwargs):
        return np.empty(1 << 50, np.uint8)

    monkeypatch.setattr(engine, "run", huge)
    r = await client.post(path, content=_body(path, True), headers=JSON)
    assert r.status_code == 413
    problem = r.json()
    assert problem["code"] == "payload_too_large" and "more than this machine" in problem["detail"]


async def test_memory_error_while_reading_the_body_is_503(client, monkeypatch):
    """The buffer of a large body cannot be allocated (on the event loop)."""
    monkeypatch.setattr(body_module, "bytearray", _out_of_memory, raising=False)
    r = await client.post("/loss/mse", content=_body("/loss/mse", True), headers=JSON)
    assert r.status_code == 503 and r.json()["code"] == "out_of_memory"


@pytest.mark.parametrize("large", [False, True], ids=["inline", "thread"])
async def test_memory_error_while_parsing_is_503(client, monkeypatch, large):
    monkeypatch.setattr(loss_routes, "parse_json", _out_of_memory)
    r = await client.post("/gradient/mse", content=_body("/gradient/mse", large), headers=JSON)
    assert r.status_code == 503 and r.json()["code"] == "out_of_memory"
