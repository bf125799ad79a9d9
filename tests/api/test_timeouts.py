"""The per-request time budget (``request_timeout_s``): a slow computation is answered with 503
``request_timeout`` and Retry-After without waiting for it, a slow upload with 408, and the
abandoned work stops at its next cooperative check. Durations here are generous upper bounds on
sleeps the tests inject themselves; no test asserts how fast anything runs."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from service import deadline, engine
from service.config import Settings

pytestmark = pytest.mark.anyio

BUDGET_S = 0.3


@pytest.fixture
def settings() -> Settings:
    # inline_max_bytes=0: every body is computed off the event loop, like a large one
    return Settings(request_timeout_s=BUDGET_S, inline_max_bytes=0, retry_after_s=2)


@pytest.fixture
def slow_engine(monkeypatch):
    """engine.run sleeps 2 s first (in its worker thread); ``finished`` is set when it returns."""
    finished = threading.Event()
    real = engine.run

    def slow(*args, **kwargs):
        time.sleep(2.0)
        try:
            return real(*args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(engine, "run", slow)
    return finished


BODY = {"predictions": [0.5, 1.0], "targets": [0.0, 1.0]}


async def test_slow_computation_is_503_request_timeout(client, slow_engine, monkeypatch):
    r = await client.post("/loss/mse", json=BODY)
    assert r.status_code == 503
    problem = r.json()
    assert problem["code"] == "request_timeout"
    assert r.headers["retry-after"] == "2"
    assert "0.3 s" in problem["detail"]
    # the answer came before the abandoned computation finished
    assert not slow_engine.is_set()
    monkeypatch.undo()
    ok = await client.post("/loss/mse", json=BODY)
    assert ok.status_code == 200 and ok.json()["value"] == pytest.approx(0.125)


async def test_abandoned_work_stops_at_its_next_check(client, slow_engine):
    """After the 503, the worker thread wakes up, computes, and is stopped by the check that
    follows the computation: it never encodes a response nobody waits for."""
    from service.api.routes import losses as evaluation

    seen: list[str] = []
    real_check = deadline.check

    def spy(stage: str) -> None:
        try:
            real_check(stage)
        except deadline.DeadlineExceeded:
            seen.append(stage)
            raise

    evaluation.deadline.check = spy  # the module object is shared: restore below
    try:
        r = await client.post("/loss/mse", json=BODY)
        assert r.status_code == 503
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.05)
    finally:
        evaluation.deadline.check = real_check
    assert seen == ["computing the loss"]


async def test_compare_is_bounded_too(client, slow_engine):
    body = {"loss": "mse", "inputs": BODY, "submission": {"value": 0.125}}
    r = await client.post("/compare", json=body)
    assert r.status_code == 503 and r.json()["code"] == "request_timeout"


async def test_slow_upload_is_408(client):
    async def chunks():
        yield b'{"predictions": [0.5],'
        await asyncio.sleep(2.0)
        yield b' "targets": [0.0]}'

    r = await client.post("/loss/mse", content=chunks(),
                          headers={"content-type": "application/json"})
    assert r.status_code == 408
    assert r.json()["code"] == "request_timeout" and r.json()["errors"][0]["loc"] == ["body"]


async def test_fast_requests_are_untouched(client):
    r = await client.post("/gradient/mse", json=BODY)
    assert r.status_code == 200


def test_check_is_a_no_op_without_a_budget():
    deadline.check("anything")  # no budget set: never raises
    with deadline.time_budget(0):
        deadline.check("anything")
    assert deadline.remaining() is None


def test_check_raises_once_the_budget_is_spent():
    with deadline.time_budget(0.01):
        deadline.check("starting")
        assert deadline.remaining() is not None
        time.sleep(0.05)
        with pytest.raises(deadline.DeadlineExceeded, match=r"0\.01 s.*while looping"):
            deadline.check("looping")
    deadline.check("after the block")  # the budget is gone with the block


def test_ctc_stops_between_time_steps_once_the_budget_is_spent():
    """CTC's recursion is the one loop whose length a request controls (T steps): it checks."""
    import numpy as np

    from service.losses import evaluate

    rng = np.random.default_rng(0)
    t_len, n, c = 50, 2, 4
    logits = rng.normal(size=(t_len, n, c))
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    inputs = {"log_probs": log_probs, "targets": [[1, 2], [3, 1]],
              "input_lengths": [t_len, t_len], "target_lengths": [2, 2]}
    evaluate("ctc", inputs)  # fine without a budget
    with deadline.time_budget(1e-9), pytest.raises(deadline.DeadlineExceeded,
                                                   match="CTC's forward pass"):
        time.sleep(0.001)
        evaluate("ctc", inputs)


async def test_an_abandoned_fused_kernel_stops_at_its_next_chunk(client, monkeypatch):
    """A fused evaluation whose first chunk outlasts the budget: the 503 is answered, and the
    worker thread, back from that chunk, stops at the check before the next one: 1 chunk of 4
    runs."""
    import numpy as np

    from service.losses import accel
    from service.losses.accel import parallel
    from service.transport.json_out import tensor_to_wire

    pytest.importorskip("numba")
    monkeypatch.setattr(accel, "SETTINGS", accel.Acceleration())
    monkeypatch.setattr(parallel, "CHECK_ELEMENTS", parallel.CHUNK_ELEMENTS,
                        raising=False)
    processed: list[int] = []
    stopped = threading.Event()
    real = parallel.map_chunks

    def spy(run, n_chunks, n_elements, threads=1):
        def slow(c0, c1):
            processed.append(c1 - c0)
            time.sleep(0.6)  # the first chunk outlasts the 0.3 s budget
            return run(c0, c1)

        try:
            return real(slow, n_chunks, n_elements, threads)
        except deadline.DeadlineExceeded:
            stopped.set()
            raise

    monkeypatch.setattr(parallel, "map_chunks", spy)
    x = np.linspace(-1.0, 1.0, 4 * parallel.CHUNK_ELEMENTS)
    r = await client.post("/loss/mse", json={"predictions": tensor_to_wire(x),
                                             "targets": tensor_to_wire(-x)})
    assert r.status_code == 503 and r.json()["code"] == "request_timeout"
    for _ in range(100):  # the thread wakes up after 0.6 s and stops
        if stopped.is_set():
            break
        await asyncio.sleep(0.05)
    assert stopped.is_set() and processed == [1]


def test_parsing_a_large_body_in_place_stops_at_a_spent_budget():
    """The in-place parser checks the budget before each array it reads (each is a scan)."""
    from service.transport import json_in as body

    n = body.JSON_INPLACE_BODY_BYTES // 6
    raw = b'{"predictions": [%s], "targets": [%s]}' % ((b"0.5," * n)[:-1], (b"0.5," * n)[:-1])
    assert len(raw) >= body.JSON_INPLACE_BODY_BYTES
    assert type(body.parse_json(raw)["predictions"]).__name__ == "ndarray"  # read in place
    with deadline.time_budget(1.0, deadline=time.monotonic() - 1.0), \
            pytest.raises(deadline.DeadlineExceeded, match="parsing the body"):
        body.parse_json(raw)


async def test_compare_parses_off_the_event_loop_within_the_budget(client, monkeypatch):
    """A /compare body is parsed in the worker thread: the server answers other requests while
    it is parsed, and a parse past the budget is a 503 like a computation."""
    from service.transport import json_in as compare_routes

    started, finished = threading.Event(), threading.Event()
    real = compare_routes.parse_json

    def slow_parse(raw, *args):
        started.set()
        time.sleep(0.6)
        finished.set()
        return real(raw, *args)

    monkeypatch.setattr(compare_routes, "parse_json", slow_parse)
    body = {"loss": "mse", "inputs": BODY, "submission": {"value": 0.125}}
    task = asyncio.ensure_future(client.post("/compare", json=body))
    for _ in range(500):  # (bounded: a parse that fails before starting must not hang the test)
        if started.is_set() or task.done():
            break
        await asyncio.sleep(0.01)
    assert started.is_set(), (await task).text
    assert (await client.get("/healthz")).status_code == 200
    assert not finished.is_set()  # answered while the parse was still running
    r = await task
    assert r.status_code == 503 and r.json()["code"] == "request_timeout"
