"""Size limits from settings: body bytes (413 before reading it all) and element count."""

from __future__ import annotations

import pytest

from service.config import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings() -> Settings:
    return Settings(max_body_bytes=16384, max_elements=1000)


async def test_body_over_limit_is_413_before_reading(client):
    big = b'{"predictions": [' + b"1.0," * 5000 + b'1.0], "targets": [0]}'
    r = await client.post("/loss/mse", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"


async def test_streamed_body_over_limit_is_413(client):
    async def chunks():
        yield b'{"predictions": ['
        for _ in range(5000):
            yield b"1.0,"
        yield b"1.0]}"

    r = await client.post("/loss/mse", content=chunks(),
                          headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"


async def test_more_elements_than_the_limit_is_413(client):
    r = await client.post("/loss/mse", json={"predictions": [0.5] * 600, "targets": [0.0] * 600})
    assert r.status_code == 413 and r.json()["code"] == "too_many_elements"
