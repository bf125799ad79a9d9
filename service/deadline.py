"""A per-request time budget, checked cooperatively.

Python threads cannot be killed, so a request that runs past its budget is bounded in two ways:

* the HTTP layer stops *waiting* for it when the budget is spent and answers at once (the caller
  is not kept hanging; see :func:`service.api.offload.run_off_loop`);
* the work itself calls :func:`check` between stages (after parsing, after computing, before
  encoding) and inside the loops whose length the request controls (CTC's time steps, samplers
  that redraw inputs, the fused kernels' chunks, the body's keys as it is parsed in place), so
  an abandoned computation stops at its next check instead of holding a CPU to the end. One
  vectorized NumPy call is never interrupted; its length is bounded by the element limit
  instead.

The budget lives in a context variable, so it follows the request into the thread that computes
it and is invisible to other requests; :func:`current` hands it to threads that do not inherit
the context (a pool's). Nothing here knows about HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

_DEADLINE: ContextVar[float | None] = ContextVar("loss_service_deadline", default=None)
_BUDGET: ContextVar[float] = ContextVar("loss_service_budget", default=0.0)


class DeadlineExceeded(Exception):
    """The request's time budget is spent; ``stage`` says where it was noticed."""

    def __init__(self, budget_s: float, stage: str):
        super().__init__(f"the request ran past its time budget of {budget_s:g} s "
                         f"(noticed while {stage})")
        self.budget_s = budget_s
        self.stage = stage


@contextmanager
def time_budget(seconds: float | None, *, deadline: float | None = None) -> Iterator[None]:
    """Run the block with a budget of ``seconds`` (``None`` or 0: unbounded).

    ``deadline`` (a :func:`time.monotonic` instant) fixes the end explicitly, so that a budget
    started when the request arrived carries over into the thread that computes it.
    """
    if not seconds:
        yield
        return
    end = deadline if deadline is not None else time.monotonic() + seconds
    token, budget_token = _DEADLINE.set(end), _BUDGET.set(seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)
        _BUDGET.reset(budget_token)


def remaining() -> float | None:
    """Seconds left in the current budget (negative when spent), or ``None`` when unbounded."""
    end = _DEADLINE.get()
    return None if end is None else end - time.monotonic()


class Deadline(NamedTuple):
    """The current budget, fixed: checkable from any thread."""

    end: float  # a time.monotonic() instant
    budget_s: float

    def check(self, stage: str) -> None:
        """Raise :class:`DeadlineExceeded` if the budget is spent."""
        if time.monotonic() > self.end:
            raise DeadlineExceeded(self.budget_s, stage)


def current() -> Deadline | None:
    """The current budget (``None``: unbounded), for work handed to other threads."""
    end = _DEADLINE.get()
    return None if end is None else Deadline(end, _BUDGET.get())


def check(stage: str) -> None:
    """Raise :class:`DeadlineExceeded` if the current budget is spent (a no-op without one)."""
    end = _DEADLINE.get()
    if end is not None and time.monotonic() > end:
        raise DeadlineExceeded(_BUDGET.get(), stage)
