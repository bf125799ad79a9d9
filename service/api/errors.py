"""Exception handlers: every error leaves as problem+json, never as a bare 500 or HTML.

Handlers for specific exception types run in Starlette's ExceptionMiddleware, which answers and
is done; the catch-all for ``Exception`` runs in its ServerErrorMiddleware, which answers 500
and then re-raises, so that uvicorn logs the error and closes the connection. A MemoryError is
not a bug but a request bigger than the memory at hand: it has its own handler (a 503 with
Retry-After, or a 413 when one array alone could never fit), and the connection stays open. Nor
is a client that goes away before its body has arrived: that is recorded as 499 (no one reads
it), not logged as an internal error.
"""

from __future__ import annotations

import logging
import math
import os

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from .problems import ProblemError, problem_response

log = logging.getLogger("service.errors")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
               415: "unsupported_media_type"}


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc, request=request)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = str(exc.detail)
    if exc.status_code == 404:
        detail = f"no route {request.url.path}; see GET /losses and /docs"
    elif exc.status_code == 405:
        detail = f"method {request.method} is not allowed on {request.url.path}"
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(ProblemError(code, detail, status=exc.status_code), headers=headers,
                            request=request)


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": "invalid_field"}
              for e in exc.errors()]
    detail = errors[0]["msg"] if errors else "invalid request"
    return problem_response(ProblemError("invalid_field", detail, errors=errors), request=request)


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        return None


PHYSICAL_MEMORY = _physical_memory()


def _requested_bytes(exc: MemoryError) -> int | None:
    """The size of the array whose allocation failed, where NumPy's MemoryError says (its
    ``shape`` and ``dtype``)."""
    shape, dtype = getattr(exc, "shape", None), getattr(exc, "dtype", None)
    try:
        return math.prod(shape) * dtype.itemsize if shape is not None and dtype is not None \
            else None
    except (TypeError, AttributeError):
        return None


def memory_problem(exc: MemoryError, retry_after_s: int) -> ProblemError:
    """A MemoryError on the request path as a problem: 413 ``payload_too_large`` when the one
    array that failed needs more than the machine's memory (no retry can succeed), else 503
    ``out_of_memory`` with Retry-After (memory is taken by other requests for now)."""
    need = _requested_bytes(exc)
    if need is not None and PHYSICAL_MEMORY is not None and need > PHYSICAL_MEMORY:
        return ProblemError("payload_too_large", f"the request needs an array of {need} bytes, "
                            f"more than this machine's memory ({PHYSICAL_MEMORY} bytes); send "
                            "a smaller batch", ("body",), status=413)
    return ProblemError("out_of_memory", "the server ran out of memory for this request; retry "
                        "later, or send a smaller batch", status=503,
                        headers={"Retry-After": str(retry_after_s)})


async def _memory(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MemoryError)
    log.warning("out of memory on %s %s", request.method, request.url.path, exc_info=exc)
    problem = memory_problem(exc, request.app.state.settings.retry_after_s)
    return problem_response(problem, request=request)


async def _disconnected(request: Request, exc: Exception) -> Response:
    log.info("client went away during %s %s", request.method, request.url.path)
    return Response(status_code=499)  # (nginx's "client closed request")


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(ProblemError("internal_error", "an internal error occurred; it has "
                                         "been logged", status=500), request=request)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(MemoryError, _memory)
    app.add_exception_handler(ClientDisconnect, _disconnected)
    app.add_exception_handler(Exception, _unexpected)
