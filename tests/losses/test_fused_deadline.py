"""The fused kernels stop at the request's time budget: under a budget, each thread calls the
kernel on runs of chunks and checks the budget before each run, so a computation abandoned at
its deadline (the HTTP layer has answered 503 ``request_timeout``) stops at the next run instead
of holding a core to the end. No test here depends on how fast anything runs: a spent budget is
spent before the loop starts, and a budget that runs out midway is a fake clock that a run
moves forward."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from service import deadline
from service.losses import accel, evaluate
from service.losses.accel import parallel
from service.losses.accel.parallel import CHUNK_ELEMENTS, map_chunks

pytest.importorskip("numba")


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(deadline, "time", SimpleNamespace(monotonic=fake))
    return fake


def _spent() -> deadline.time_budget:
    """A budget whose end has already passed."""
    return deadline.time_budget(1.0, deadline=time.monotonic() - 1.0)


def test_a_spent_budget_stops_before_the_first_chunk():
    processed: list[tuple[int, int]] = []

    def run(c0: int, c1: int) -> bool:
        processed.append((c0, c1))
        return False

    with _spent(), pytest.raises(deadline.DeadlineExceeded, match="computing the loss"):
        map_chunks(run, 64, 64 * CHUNK_ELEMENTS)
    assert processed == []
    assert not map_chunks(run, 64, 64 * CHUNK_ELEMENTS)  # no budget: one call for all
    assert processed == [(0, 64)]


def test_a_budget_that_runs_out_midway_stops_at_the_next_run(monkeypatch, clock):
    """Each run of 4 chunks takes one (fake) second; the budget is 2.5 s: three runs start (at
    0, 1 and 2 s), the fourth check (3 s) stops the loop."""
    step = 4
    monkeypatch.setattr(parallel, "CHECK_ELEMENTS", step * CHUNK_ELEMENTS,
                        raising=False)
    processed: list[tuple[int, int]] = []

    def run(c0: int, c1: int) -> bool:
        processed.append((c0, c1))
        clock.now += 1.0
        return False

    with deadline.time_budget(2.5), pytest.raises(deadline.DeadlineExceeded):
        map_chunks(run, 8 * step, 8 * step * CHUNK_ELEMENTS)
    assert processed == [(0, step), (step, 2 * step), (2 * step, 3 * step)]


def test_every_thread_stops(monkeypatch, clock):
    """On two threads, the budget runs out during the first run: each thread stops at its next
    check, and the error is raised once both have stopped."""
    monkeypatch.setattr(parallel, "CHECK_ELEMENTS", CHUNK_ELEMENTS,
                        raising=False)  # a run: a chunk
    processed: list[tuple[int, int]] = []
    tick = [10.0]

    def run(c0: int, c1: int) -> bool:
        processed.append((c0, c1))
        clock.now += tick[0]
        return False

    with deadline.time_budget(5.0), pytest.raises(deadline.DeadlineExceeded):
        map_chunks(run, 40, 40 * CHUNK_ELEMENTS, 2)
    assert 1 <= len(processed) <= 2  # at most one chunk per thread, of 40
    assert all(c1 - c0 == 1 for c0, c1 in processed)
    processed.clear()
    tick[0] = 0.0  # a budget that does not run out: every chunk, once
    with deadline.time_budget(5.0):
        assert not map_chunks(run, 40, 40 * CHUNK_ELEMENTS, 2)
    assert sorted(processed) == [(c, c + 1) for c in range(40)]


def _inputs(name: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n, c = 8 * CHUNK_ELEMENTS // 8, 8  # 8 chunks of 8192 rows of 8
    if name == "mse":
        return {"predictions": rng.normal(size=(n, c)), "targets": rng.normal(size=(n, c))}
    if name == "triplet_margin":
        return {k: rng.normal(size=(n, c)) for k in ("anchor", "positive", "negative")}
    return {"predictions": rng.normal(size=(n, c)), "targets": rng.integers(0, c, n)}


@pytest.fixture
def chunks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of chunks each kernel call processes (fused kernels on, a check per chunk)."""
    processed: list[int] = []
    real = parallel.map_chunks

    def spy(run, n_chunks: int, n_elements: int, threads: int = 1) -> bool:
        def counted(c0: int, c1: int) -> bool:
            processed.append(c1 - c0)
            return run(c0, c1)

        return real(counted, n_chunks, n_elements, threads)

    monkeypatch.setattr(parallel, "map_chunks", spy)
    monkeypatch.setattr(parallel, "CHECK_ELEMENTS", CHUNK_ELEMENTS, raising=False)
    monkeypatch.setattr(accel, "SETTINGS", accel.Acceleration())
    return processed


@pytest.mark.parametrize("name", ["mse", "cross_entropy", "multi_margin", "triplet_margin"])
def test_the_kernels_stop_at_the_budget(chunks, clock, name):
    """Each family's driver (elementwise, cross_entropy, the margin losses): a spent budget
    processes no chunk; one that runs out after the first chunk processes that one of 8."""
    inputs = _inputs(name)
    evaluate(name, inputs, want_grad=True)  # no budget: every chunk, in one call
    assert chunks == [8]
    chunks.clear()
    with deadline.time_budget(1.0):
        clock.now += 2.0  # spent before the kernel starts
        with pytest.raises(deadline.DeadlineExceeded, match="computing the loss"):
            evaluate(name, inputs, want_grad=True)
    assert chunks == []

    real = parallel.map_chunks  # (the spy) each chunk takes "1 s" of a 0.5 s budget

    def slow(run, n_chunks: int, n_elements: int, threads: int = 1) -> bool:
        def tick(c0: int, c1: int) -> bool:
            clock.now += 1.0
            return run(c0, c1)

        return real(tick, n_chunks, n_elements, threads)

    parallel.map_chunks = slow
    try:
        with deadline.time_budget(0.5), pytest.raises(deadline.DeadlineExceeded):
            evaluate(name, inputs, want_grad=True)
    finally:
        parallel.map_chunks = real
    assert chunks == [1]
