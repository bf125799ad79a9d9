"""Work off the event loop, within the request's time budget (``LOSS_SERVICE_REQUEST_TIMEOUT_S``).

:func:`start_budget` fixes a request's deadline when its handler starts; :func:`read_within`
bounds the body upload by it (408 ``request_timeout``) and :func:`run_off_loop` the parsing,
computing and encoding (503 ``request_timeout`` with ``Retry-After``). When the budget runs out
the caller gets its answer at once; the worker thread, which cannot be killed, is abandoned and
stops at its next :func:`service.deadline.check` (see :mod:`service.deadline`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.requests import Request

from ..deadline import DeadlineExceeded, time_budget
from .problems import ProblemError

T = TypeVar("T")


def start_budget(request: Request) -> float | None:
    """The request's deadline (a monotonic instant), fixed on first call; ``None``: unbounded."""
    state = request.state
    if not hasattr(state, "deadline"):
        budget = request.app.state.settings.request_timeout_s
        state.deadline = time.monotonic() + budget if budget else None
    return state.deadline


def _budget(request: Request) -> float:
    return float(request.app.state.settings.request_timeout_s)


def timeout_problem(request: Request, stage: str) -> ProblemError:
    """The 503 answered when computing a request ran past its budget."""
    budget = _budget(request)
    return ProblemError(
        "request_timeout",
        f"the request ran past the service's time budget of {budget:g} s ({stage}); send a "
        "smaller batch or split it",
        status=503, headers={"Retry-After": str(request.app.state.settings.retry_after_s)},
    )


async def read_within(request: Request, read: Awaitable[T]) -> T:
    """Await ``read`` (the body upload) within the budget: 408 when the client is too slow."""
    end = start_budget(request)
    if end is None:
        return await read
    try:  # (asyncio's timeout: anyio's cancel scope cost ~10 % of a small request's time)
        async with asyncio.timeout(max(end - time.monotonic(), 0.0)):
            return await read
    except TimeoutError:
        raise ProblemError(
            "request_timeout", f"the request body did not arrive within the time budget of "
            f"{_budget(request):g} s", ("body",), status=408) from None


def run_inline(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run a small job on the event loop, with the budget's cooperative checks."""
    end = start_budget(request)
    try:
        with time_budget(_budget(request) if end else None, deadline=end):
            return fn(*args)
    except DeadlineExceeded as exc:
        raise timeout_problem(request, exc.stage) from None


async def run_off_loop(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a worker thread; past the deadline, answer 503 without waiting."""
    end = start_budget(request)
    budget = _budget(request)

    def job() -> T:
        with time_budget(budget if end else None, deadline=end):
            return fn(*args)

    try:
        if end is None:
            return await anyio.to_thread.run_sync(job)
        with anyio.fail_after(max(end - time.monotonic(), 0.0)):
            return await anyio.to_thread.run_sync(job, abandon_on_cancel=True)
    except TimeoutError:
        raise timeout_problem(request, "computing") from None
    except DeadlineExceeded as exc:
        raise timeout_problem(request, exc.stage) from None


async def run_where(request: Request, on_loop: bool, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on the event loop (:func:`run_inline`) or in a worker thread
    (:func:`run_off_loop`), within the request's budget either way."""
    if on_loop:
        return run_inline(request, fn, *args)
    return await run_off_loop(request, fn, *args)
