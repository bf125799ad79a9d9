"""The clients' errors: one :class:`LossServiceError` subclass per class of problem response,
and ``Retry-After`` read as seconds.

Why a module of its own: the sync and async clients (:mod:`service.client`), the answer checks
(:mod:`service.client_bodies`) and callers that catch these errors share them; kept apart, the
client module holds only the clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds (RFC 9110: delay-seconds or an HTTP-date); None when absent or
    unreadable. A date in the past is 0."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class LossServiceError(Exception):
    """An error response; ``problem`` is the RFC 9457 body (code, detail, errors).

    ``loc`` is the first error's location (``["body", "targets"]``) or None, ``request_id`` the
    request's id (the body's, else the ``X-Request-ID`` header), ``retry_after`` the response's
    ``Retry-After`` in seconds or None. The subclasses below say the class of problem."""

    def __init__(self, status: int, problem: dict[str, Any],
                 headers: Mapping[str, str] | None = None):
        headers = headers or {}
        self.status = status
        self.problem = problem
        self.code: str = problem.get("code", "http_error")
        self.errors: list[dict[str, Any]] = problem.get("errors", [])
        first = self.errors[0] if self.errors and isinstance(self.errors[0], dict) else {}
        self.loc: list[str | int] | None = first.get("loc")
        self.request_id: str | None = problem.get("request_id") or headers.get("x-request-id")
        self.retry_after: float | None = parse_retry_after(headers.get("retry-after"))
        super().__init__(f"{status} {self.code}: {problem.get('detail', '')}")

    @property
    def retryable(self) -> bool:
        """Whether the clients repeat a request answered this way (503 and 429)."""
        return self.status in RETRY_STATUSES


class BadRequestError(LossServiceError):
    """400, 405, 408, 415 and any other 4xx not below: the request itself is malformed (not
    JSON, an empty or truncated body, a wrong method or content type)."""


class AuthenticationError(LossServiceError):
    """401 (or 403): no valid API key."""


class NotFoundError(LossServiceError):
    """404: no such loss (``problem["suggestions"]`` lists the closest names) or route."""


class PayloadTooLargeError(LossServiceError):
    """413: the body or its element count is over the server's limit."""


class InvalidInputError(LossServiceError):
    """422: a field, parameter, array or value the loss cannot take; see ``code`` and ``loc``."""


class UnavailableError(LossServiceError):
    """503 or 429: busy, out of time or memory, or not ready; the clients retried it already."""


class ServerError(LossServiceError):
    """500 (or another 5xx): a bug on the server, logged there under ``request_id``."""


RETRY_STATUSES = frozenset({429, 503})
_ERROR_CLASSES: dict[int, type[LossServiceError]] = {
    401: AuthenticationError, 403: AuthenticationError, 404: NotFoundError,
    413: PayloadTooLargeError, 422: InvalidInputError, 429: UnavailableError,
    503: UnavailableError,
}


def error_for(status: int, problem: dict[str, Any],
              headers: Mapping[str, str] | None = None) -> LossServiceError:
    """The :class:`LossServiceError` subclass for an error response."""
    cls = _ERROR_CLASSES.get(status) or (ServerError if status >= 500 else BadRequestError)
    return cls(status, problem, headers)
