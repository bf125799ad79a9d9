"""The per-request middleware (pure ASGI, so it adds little to small requests).

:class:`RequestContextMiddleware`, the outermost layer, for every HTTP request: accepts a client's
``X-Request-ID`` (or makes one) and echoes it; adds ``X-Content-Type-Options: nosniff``; records
the Prometheus metrics, labelled by the route's template (``/loss/{name}``, ``/docs``...); and
writes one structured log line with the request id, route, loss, element count, status and
duration. :class:`ApiKeyMiddleware` enforces the optional API keys (401 problem); it sits inside
the CORS middleware, so that a browser can read its 401 (see :func:`service.main.create_app`).
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import random
import re
import time
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..api.problems import problem_bytes
from . import metrics

log = logging.getLogger("service.access")

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"})
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _route_of(scope: Scope, state: dict[str, Any]) -> str:
    """The template of the route that answered (a label of bounded cardinality), or
    ``unmatched`` (no route, or refused before routing: a 401). The loss routes set
    ``state["route"]`` (``/loss/mse``, or ``/loss/{name}`` for an alias or unknown name); FastAPI's
    operations leave themselves in ``scope["route"]``; a plain Starlette route
    (``/openapi.json``, ``/docs``, ``/redoc``) or mount (``/static``) only its endpoint, found
    here among the app's routes."""
    path = state.get("route") or getattr(scope.get("route"), "path", None)
    if path:
        return path
    endpoint = scope.get("endpoint")
    if endpoint is not None:
        for route in getattr(scope.get("app"), "routes", ()):
            if isinstance(route, Mount):
                if route.app is endpoint:
                    return f"{route.path}/{{path}}"
            elif getattr(route, "endpoint", None) is endpoint:
                return getattr(route, "path", "unmatched")
    return "unmatched"


class ApiKeyMiddleware:
    """With API keys set, answers 401 to a request without a valid one, except the probes,
    ``/metrics`` and CORS preflights."""

    def __init__(self, app: ASGIApp, api_keys: list[str]):
        self.app = app
        self.api_keys = [k.encode() for k in api_keys]

    def _authorized(self, headers: Headers) -> bool:
        given = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        if given is None and auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        if not given:
            return False
        candidate = given.encode()
        ok = False
        for key in self.api_keys:  # compare against every key: timing reveals nothing
            ok |= hmac.compare_digest(candidate, key)
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # (CORS preflights carry no credentials)
        if not self.api_keys or scope["type"] != "http" or scope["path"] in OPEN_PATHS or \
                scope["method"] == "OPTIONS" or self._authorized(Headers(scope=scope)):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["problem_code"] = "unauthorized"
        await self._unauthorized(state.get("request_id"), send, scope["path"])

    @staticmethod
    async def _unauthorized(rid: str | None, send: Send, path: str) -> None:
        """A problem document, or the Open Inference Protocol's ``{"error"}`` under ``/v2``."""
        detail = "a valid API key is required: send `Authorization: Bearer <key>` or " \
                 "`X-API-Key: <key>`"
        payload, media = problem_bytes(path, "unauthorized", 401, detail, [
            {"loc": ["header", "authorization"], "msg": "missing or invalid API key",
             "type": "unauthorized"}], request_id=rid)
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", media.encode()),
            (b"content-length", str(len(payload)).encode()),
            (b"www-authenticate", b'Bearer realm="loss-service"'),
        ]})
        await send({"type": "http.response.body", "body": payload})


@functools.lru_cache(maxsize=4096)  # routes x methods x statuses: bounded
def _request_series(route: str, method: str, status: int) -> tuple[Any, Any]:
    """The request counter's and latency histogram's children for these labels (looking a
    child up by its labels takes a lock and builds a tuple each time)."""
    return (metrics.REQUESTS.labels(route, method, str(status)),
            metrics.LATENCY.labels(route, method))


class RequestContextMiddleware:
    """Request ids, security headers, metrics and the access log (the outermost layer).

    ``access_log_sample`` (``LOSS_SERVICE_ACCESS_LOG_SAMPLE``): the fraction of successful
    requests that get a log line (1: every request); every error response gets one."""

    def __init__(self, app: ASGIApp, access_log_sample: float = 1.0):
        self.app = app
        self.sample = access_log_sample

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id")
        rid = incoming if incoming and _VALID_ID.match(incoming) else os.urandom(16).hex()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        start = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                out = MutableHeaders(scope=message)
                out["x-request-id"] = rid
                out["x-content-type-options"] = "nosniff"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self._record(scope, state, status, time.perf_counter() - start, rid)

    def _record(self, scope: Scope, state: dict[str, Any], status: int, seconds: float,
                rid: str) -> None:
        route = _route_of(scope, state)
        method = scope["method"]
        requests, latency = _request_series(route, method, status)
        requests.inc()
        latency.observe(seconds)
        code = state.get("problem_code")
        if code:
            metrics.ERRORS.labels(code).inc()
        loss = state.get("loss")
        n_elements = state.get("n_elements")
        if loss and status < 400:
            metrics.EVALUATIONS.labels(loss, state.get("kind", "loss"),
                                       state.get("backend", "numpy")).inc()
        if loss and n_elements:
            metrics.ELEMENTS.labels(loss).inc(n_elements)
        if status < 400 and self.sample < 1.0 and random.random() >= self.sample:
            return
        log.info("request", extra={
            "request_id": rid, "method": method, "route": route, "path": scope["path"],
            "loss": loss, "n_elements": n_elements, "status": status,
            "duration_ms": round(seconds * 1000, 3), "code": code,
        })
