"""RFC 9457 problem details: every error the service returns, in one shape.

``{"type", "title", "status", "detail", "code", "errors": [{"loc", "msg", "type"}], "request_id",
"instance"}`` with media type ``application/problem+json``. ``code`` is machine-readable (the
core's error codes plus the transport ones below); ``title`` is the code's title from
:data:`service.error_codes.TITLES` (the HTTP status text for a code without one); ``loc`` is the
JSON location of the problem (``["body", "targets", 3]``); ``instance`` names the request
(``urn:loss-service:request:<request_id>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import orjson
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ..error_codes import TITLES
from ..losses.errors import LossError

PROBLEM_MEDIA_TYPE = "application/problem+json"

# status for codes that are not 422
STATUS_BY_CODE: dict[str, int] = {
    "invalid_json": 400,
    "empty_body": 400,
    "invalid_binary_body": 400,
    "invalid_http": 400,
    "unknown_loss": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "too_many_elements": 413,
    "unsupported_media_type": 415,
    "headers_too_large": 431,
    "not_ready": 503,
    "backend_busy": 503,
    "request_timeout": 503,
    "server_busy": 503,
    "out_of_memory": 503,
    "internal_error": 500,
}


class ProblemItem(BaseModel):
    loc: list[str | int] = Field(description="JSON location of the problem")
    msg: str
    type: str = Field(description="machine-readable code of this item")


class Problem(BaseModel):
    """An error response (RFC 9457)."""

    type: str = Field(description="URI reference identifying the problem type")
    title: str = Field(description="short summary of the problem type, the same for every "
                       "occurrence of the code (e.g. Shape mismatch)")
    status: int
    detail: str
    code: str = Field(description="machine-readable error code, e.g. shape_mismatch")
    errors: list[ProblemItem] = Field(default_factory=list)
    suggestions: list[str] | None = Field(
        None, description="closest loss names (unknown_loss only)"
    )
    request_id: str | None = Field(None, description="the request's X-Request-ID")
    instance: str | None = Field(
        None, description="URI reference naming this occurrence: "
        "urn:loss-service:request:<request_id>",
    )


class ProblemError(Exception):
    """Raise anywhere in the HTTP layer to answer with a problem."""

    def __init__(self, code: str, detail: str, loc: Sequence[str | int] = (),
                 status: int | None = None, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.code = code
        self.headers = headers
        self.detail = detail
        self.status = status or STATUS_BY_CODE.get(code, 422)
        self.errors = errors if errors is not None else (
            [{"loc": list(loc), "msg": detail, "type": code}] if loc else []
        )
        self.extra = extra


def instance_for(request_id: str) -> str:
    """The problem's ``instance`` (RFC 9457: a URI reference for this occurrence)."""
    return f"urn:loss-service:request:{request_id}"


def title_for(code: str, status: int) -> str:
    """The problem's ``title``: the code's, else the HTTP status text."""
    title = TITLES.get(code)
    if title is not None:
        return title
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status http.HTTPStatus does not name
        return "Error"


def problem_body(code: str, status: int, detail: str, errors: list[dict[str, Any]],
                 **extra: Any) -> dict[str, Any]:
    """The problem's JSON body; ``extra`` adds fields (None values are left out). A
    ``request_id`` also sets ``instance``."""
    body: dict[str, Any] = {
        "type": f"urn:loss-service:problem:{code}",
        "title": title_for(code, status),
        "status": status,
        "detail": detail,
        "code": code,
        "errors": errors,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    if body.get("request_id"):
        body["instance"] = instance_for(body["request_id"])
    return body


def problem_response(exc: ProblemError, headers: dict[str, str] | None = None,
                     request: Request | None = None) -> Response:
    """The problem as a response; with ``request``, its id goes in the body and its code in the
    request state (for metrics and the access log)."""
    extra = dict(exc.extra)
    if request is not None:
        request.state.problem_code = exc.code
        extra["request_id"] = getattr(request.state, "request_id", None)
        if is_inference_protocol(request.url.path):
            return inference_error(exc, headers)
    body = problem_body(exc.code, exc.status, exc.detail, exc.errors, **extra)
    merged = {**(exc.headers or {}), **(headers or {})} or None
    return Response(orjson.dumps(body), status_code=exc.status, media_type=PROBLEM_MEDIA_TYPE,
                    headers=merged)


def is_inference_protocol(path: str) -> bool:
    """Whether ``path`` is one of the Open Inference Protocol's (``/v2...``), whose errors are
    ``{"error": "..."}`` (:mod:`service.api.routes.inference_protocol`)."""
    return path == "/v2" or path.startswith("/v2/")


def problem_bytes(path: str, code: str, status: int, detail: str, errors: list[dict[str, Any]],
                  **extra: Any) -> tuple[bytes, str]:
    """(body, media type) of an error answered outside the routes (the API keys' 401, the HTTP
    protocol's refusals): a problem document, or ``{"error": detail}`` under ``/v2``."""
    if is_inference_protocol(path):
        return orjson.dumps({"error": detail}), "application/json"
    return orjson.dumps(problem_body(code, status, detail, errors, **extra)), PROBLEM_MEDIA_TYPE


def inference_error(exc: ProblemError, headers: dict[str, str] | None = None) -> Response:
    """The problem as the Open Inference Protocol answers errors: ``{"error": message}``, with
    400 where the native API answers 422 (the protocol's status for a bad request)."""
    merged = {**(exc.headers or {}), **(headers or {})} or None
    return Response(orjson.dumps({"error": exc.detail}), media_type="application/json",
                    status_code=400 if exc.status == 422 else exc.status, headers=merged)


def from_loss_error(exc: LossError, loc: Sequence[str | int]) -> ProblemError:
    """A core error as a problem; ``loc`` is the error's location already mapped into the body."""
    extra: dict[str, Any] = {}
    if exc.code == "unknown_loss":
        extra["suggestions"] = list(getattr(exc, "suggestions", ()))
    return ProblemError(exc.code, exc.message, loc, **extra)


# pydantic's tags of the scalar branches of a union (``float | list[float]``): no body field
# has these names, so they never belong to a JSON location
_UNION_TAGS = frozenset({"float", "int", "bool", "str", "none"})


def _clean_loc(loc: Sequence[Any]) -> list[str | int]:
    """Drop pydantic's union-variant tags (``'constrained-float'``, ``'literal[-1]'``,
    ``'float'``)."""
    return [p for p in loc
            if isinstance(p, int) or (str(p).isidentifier() and p not in _UNION_TAGS)]


def _code_for(item: dict[str, Any]) -> str:
    loc = _clean_loc(item["loc"])
    kind = item["type"]
    head = loc[0] if loc else ""
    if head == "params":
        if len(loc) > 1 and loc[1] == "convention":
            return "unsupported_convention"
        return "unknown_param" if kind == "extra_forbidden" else "invalid_param"
    if head == "inputs" and kind == "extra_forbidden":
        return "unknown_input"
    if head == "reduction":
        return "unsupported_reduction"
    if head == "dtype":
        return "unsupported_dtype"
    if kind == "extra_forbidden":
        return "unknown_field"
    if kind == "missing":
        return "missing_field"
    return "invalid_field"


def from_validation_error(exc: ValidationError, prefix: Sequence[str | int] = ("body",)
                          ) -> ProblemError:
    """Pydantic's validation errors, in the problem shape (first error's code on top)."""
    items = []
    for err in exc.errors(include_url=False):
        loc = [*prefix, *_clean_loc(err["loc"])]
        code = _code_for(err)
        msg = err["msg"]
        if code == "unsupported_convention" and err["type"] == "extra_forbidden":
            msg = ("this loss is defined the same way in every library it appears in; it takes "
                   "no convention")
        items.append({"loc": loc, "msg": msg, "type": code})
    # several union branches report one problem: keep the first per location
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for it in items:
        key = tuple(it["loc"])
        if key not in seen:
            seen.add(key)
            unique.append(it)
    first = unique[0]
    detail = f"{first['msg']} at {'.'.join(str(p) for p in first['loc'])}"
    if len(unique) > 1:
        detail += f" (and {len(unique) - 1} more)"
    return ProblemError(first["type"], detail, errors=unique)


def error_descriptions() -> dict[int, str]:
    """What each error status means, for the OpenAPI document (codes: docs/errors.md)."""
    return {
        400: "Malformed JSON (or JSON nested more than 1024 deep) or empty body; for an "
        "application/octet-stream body, a missing or wrong Inference-Header-Content-Length, or "
        "tensor sizes that do not add up to the bytes after the header (`invalid_binary_body`)",
        401: "The server has API keys and the request gives none that is valid "
        "(`unauthorized`): send `X-API-Key: <key>` or `Authorization: Bearer <key>`",
        404: "Unknown loss (the body suggests the closest names)",
        405: "Method not allowed",
        408: "The body did not arrive within the time budget, or the headers within "
        "`LOSS_SERVICE_HEADER_TIMEOUT_S` (`request_timeout`)",
        413: "Body or element count over the configured limit, or an array larger than the "
        "machine's memory",
        415: "Content type is not application/json (or application/octet-stream, where the "
        "route takes binary bodies)",
        422: "Invalid input: bad shape, value, parameter or reduction, an array of more than 32 "
        "dimensions (`too_deep`), or a backend that is not available here (see `code` and "
        "`errors`)",
        500: "An internal error (`internal_error`): a bug, logged with its traceback",
        503: "Not ready yet (`/readyz`); or, with Retry-After: the GPU queue is full "
        "(`backend_busy`), the time budget ran out (`request_timeout`), the server's budget of "
        "body bytes in flight is full (`server_busy`), or memory ran out (`out_of_memory`)",
    }


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem bodies for ``statuses``."""
    descriptions = error_descriptions()
    return {
        s: {"description": descriptions[s],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for s in statuses
    }
