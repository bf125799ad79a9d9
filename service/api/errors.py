"""Exception handlers: every error leaves as problem+json, never as a bare 500 or HTML.

Handlers for specific exception types run in Starlette's ExceptionMiddleware, which answers and
is done; the catch-all for ``Exception`` runs in its ServerErrorMiddleware, which answers 500
and then re-raises, so that uvicorn logs the error and closes the connection. A client that goes
away before its body has arrived is not an internal error: it is recorded as 499 (no one reads
it), not logged with a traceback.
"""

from __future__ import annotations

import logging

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
    app.add_exception_handler(ClientDisconnect, _disconnected)
    app.add_exception_handler(Exception, _unexpected)
