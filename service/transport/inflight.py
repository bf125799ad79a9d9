"""The server-wide budget of request-body bytes in flight (``LOSS_SERVICE_MAX_INFLIGHT_BYTES``).

Every other limit bounds one request (its body, its elements, its time); this one bounds them
all together, so that many concurrent uploads cannot take the process's memory between them.
A body's bytes are charged as they arrive (:func:`service.transport.request.read_body` calls
:meth:`BodyBudget.charge` per chunk): a ``Content-Length`` alone charges nothing and allocates
nothing, so connections that declare a large body and send a few bytes cost those few bytes. A
chunk that would take the total past the budget ends its request with 503 ``server_busy`` and
``Retry-After``; a declared length that does not fit in what is left is refused the same way
before any of it is read.

The charge stands until the request ends, response sent included, since the arrays parsed from
a body live about as long; it is released in one place, :class:`ReleaseBodyBytes` (a pure ASGI
middleware around the app), however the request ends: answered, refused, timed out, or the
client gone. A computation abandoned at the time budget may hold its arrays a little longer,
until its next :func:`service.deadline.check`.

The count is per worker process, and only the event loop touches it (no lock).
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ..api.problems import ProblemError

_HELD = "body_bytes_held"  # the request's charge, in its scope's state


class BodyBudget:
    """Bytes of request bodies held by the requests in progress, at most ``limit`` (0: no
    bound)."""

    def __init__(self, limit: int, retry_after_s: int):
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.held = 0

    def _busy(self, detail: str) -> ProblemError:
        return ProblemError("server_busy", detail, ("body",), status=503,
                            headers={"Retry-After": str(self.retry_after_s)})

    def admit(self, declared: int) -> None:
        """503 ``server_busy`` when a body of ``declared`` bytes cannot fit in what is left now
        (nothing is charged: the bytes are, as they arrive)."""
        if self.limit and self.held + declared > self.limit:
            raise self._busy(f"the server is reading or computing other requests' bodies "
                             f"({self.held} bytes of its budget of {self.limit}); a body of "
                             f"{declared} bytes does not fit now: retry later")

    def charge(self, scope: Scope, size: int) -> None:
        """Charge ``size`` more bytes to the request of ``scope``; 503 ``server_busy`` (nothing
        charged) when they would take the total past the budget."""
        if self.limit and self.held + size > self.limit:
            raise self._busy(f"the server is reading or computing other requests' bodies; "
                             f"this one's next {size} bytes do not fit in its budget of "
                             f"{self.limit} bytes: retry later")
        self.held += size
        state: dict[str, Any] = scope.setdefault("state", {})
        state[_HELD] = state.get(_HELD, 0) + size

    def release(self, scope: Scope) -> None:
        """Give back everything the request of ``scope`` was charged (idempotent)."""
        state = scope.get("state")
        if state:
            self.held -= state.pop(_HELD, 0)


class ReleaseBodyBytes:
    """ASGI middleware: when a request ends, however it ends, its body bytes go back to the
    budget."""

    def __init__(self, app: ASGIApp, budget: BodyBudget):
        self.app = app
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})  # (shared by any copy of the scope made inside)
        try:
            await self.app(scope, receive, send)
        finally:
            self.budget.release(scope)
