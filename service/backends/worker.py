"""The device worker: one thread owns the GPU, so HTTP threads never touch CUDA concurrently.

Jobs wait in a bounded queue; when it is full, :class:`QueueFull` tells the caller to answer 503
with ``Retry-After`` instead of piling up work the device cannot absorb.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    """The device queue is full; retry after ``retry_after`` seconds."""

    code = "backend_busy"

    def __init__(self, capacity: int, retry_after: int):
        super().__init__(f"the GPU queue is full ({capacity} requests running or waiting); "
                         f"retry after {retry_after} s")
        self.retry_after = retry_after


class DeviceWorker:
    """A single-thread executor with at most ``capacity`` jobs running or waiting."""

    def __init__(self, capacity: int = 8, retry_after: int = 1):
        self.capacity = capacity
        self.retry_after = retry_after
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="device")
        self._slots = threading.BoundedSemaphore(capacity)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the device thread and wait for it (call from a worker thread, never from
        the event loop). Raises QueueFull at once when ``capacity`` jobs are already queued."""
        if not self._slots.acquire(blocking=False):
            raise QueueFull(self.capacity, self.retry_after)
        try:
            return self._executor.submit(fn, *args, **kwargs).result()
        finally:
            self._slots.release()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
