"""Chunks and threads for the kernels: the same numbers whatever the thread count.

A fused kernel processes a range of *chunks*: fixed groups of whole rows of about
:data:`CHUNK_ELEMENTS` elements (one row per chunk when a row is longer). It writes each chunk's
partial total into ``totals[chunk]``; the caller sums ``totals`` in order. The chunk boundaries
depend on the input's shape only, never on the thread count, so one thread and four threads add
the same partial sums in the same order and return identical results.

:func:`map_chunks` runs a kernel over the chunks on ``threads`` threads (the calling thread
and ``threads - 1`` pool threads; the kernels release the GIL) when the input has at least
:data:`MIN_PARALLEL_ELEMENTS` elements, else on the calling thread. Under a request's time budget
(:mod:`service.deadline`) each thread calls the kernel on runs of about :data:`CHECK_ELEMENTS`
elements and checks the budget before each run, so a computation abandoned at its deadline stops
within milliseconds instead of holding a core to the end (the kernels themselves cannot look at
a clock); without a budget, each thread makes one call. The thread count comes from the caller
(:class:`service.losses.accel.Acceleration`, set from ``LOSS_SERVICE_KERNEL_THREADS``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from ... import deadline

CHUNK_ELEMENTS = 1 << 16  # about 512 KiB of float64 per input: a chunk's work is 50 to 500 us
# Below this, one thread: the hand-off to a pool thread costs 20 to 50 us (measured as the
# 2-thread crossover in bench/README.md, "Threads").
MIN_PARALLEL_ELEMENTS = 1 << 18
# Under a time budget, the kernel is called on runs of chunks of about this many elements, the
# budget checked before each: 0.5 to 10 ms of work per run, against a few microseconds for the
# call and the check.
CHECK_ELEMENTS = 1 << 20
STAGE = "computing the loss"


_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


@functools.lru_cache(maxsize=1024)
def chunk_starts(n_rows: int, row_elements: int) -> np.ndarray:
    """The first row of each chunk, and ``n_rows`` at the end (int64, ``len = chunks + 1``).
    Cached (a small request's call path is a few microseconds): the kernels only read it."""
    step = max(1, CHUNK_ELEMENTS // max(1, row_elements))
    if n_rows <= step:  # one chunk (every small request)
        return np.array((0, n_rows), dtype=np.int64)
    starts = np.arange(0, n_rows, step, dtype=np.int64)
    return np.append(starts, np.int64(n_rows))


def total(totals: np.ndarray) -> float:
    """The sum of the chunks' partial totals, in chunk order (pairwise, as ``np.sum``)."""
    return float(totals[0]) if totals.size == 1 else float(np.sum(totals))


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kernel")
            _pool_size = workers
        return _pool


def _run_range(run: Callable[[int, int], bool], c0: int, c1: int, step: int,
               limit: deadline.Deadline | None) -> bool:
    """``run`` over chunks ``[c0, c1)`` in runs of ``step`` chunks, the budget ``limit`` checked
    before each (:class:`service.deadline.DeadlineExceeded`); True, at once, if a run found an
    input that failed a check (the result is not used then)."""
    for start in range(c0, c1, step):
        if limit is not None:
            limit.check(STAGE)
        if run(start, min(start + step, c1)):
            return True
    return False


def map_chunks(run: Callable[[int, int], bool], n_chunks: int, n_elements: int,
               threads: int = 1) -> bool:
    """Call ``run(c0, c1)`` (process chunks ``[c0, c1)``, return True if an input failed a
    check) over contiguous ranges covering every chunk; True if any call returned True. Past
    the request's time budget, :class:`service.deadline.DeadlineExceeded` (raised once every
    thread has stopped)."""
    limit = deadline.current()  # (the pool's threads do not see the request's context)
    step = n_chunks if limit is None else max(1, CHECK_ELEMENTS * n_chunks // max(1, n_elements))
    threads = min(threads, n_chunks)
    if threads <= 1 or n_elements < MIN_PARALLEL_ELEMENTS:
        return _run_range(run, 0, n_chunks, step, limit)
    edges = [n_chunks * i // threads for i in range(threads + 1)]
    pool = _executor(threads - 1)
    futures = [pool.submit(_run_range, run, edges[i], edges[i + 1], step, limit)
               for i in range(1, threads)]
    try:
        bad = _run_range(run, edges[0], edges[1], step, limit)
    finally:
        wait(futures)  # every range finishes, or stops at its check, before the caller goes on
    for f in futures:
        bad |= bool(f.result())
    return bad
