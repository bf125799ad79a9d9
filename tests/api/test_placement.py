"""Where a /loss request is computed is decided from the decoded request (issue 18, item 4): a
small body computed by NumPy on the event loop, one that may go to the GPU or a large body in a
worker thread, whatever bytes the body holds."""

from __future__ import annotations

import threading

import pytest

from service import engine

pytestmark = pytest.mark.anyio

SMALL = {"predictions": [0.5, 1.0], "targets": [0.0, 1.0]}


@pytest.fixture
def threads(monkeypatch) -> list[bool]:
    """For each engine.run call: whether it ran on the event loop's thread."""
    seen: list[bool] = []
    real = engine.run

    def spy(*args, **kwargs):
        seen.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "run", spy)
    return seen


@pytest.mark.parametrize(("extra", "on_loop"), [
    ({}, True),
    ({"backend": "numpy"}, True),
    ({"backend": "auto"}, True),  # far fewer elements than gpu_min_elements: NumPy
    ({"backend": "cupy"}, False),  # the device worker is never waited on from the loop
])
async def test_small_bodies_run_where_the_decoded_backend_says(client, threads, extra, on_loop):
    await client.post("/loss/mse", json={**SMALL, **extra})
    assert threads == [on_loop]


async def test_large_bodies_run_in_a_worker_thread(client, threads):
    n = 20_000  # a body larger than inline_max_bytes (64 KiB)
    r = await client.post("/loss/mse", json={"predictions": [0.25] * n, "targets": [0.0] * n})
    assert r.status_code == 200 and threads == [False]
