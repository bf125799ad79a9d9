"""A typed Python client for the service (httpx; sync and async), NumPy arrays in and out.

Both clients talk to ``http://`` URLs through :mod:`service.client_transport` (``http.client``
and the event loop's sockets under httpx: bodies sent in parts, answers read in one piece); large
answers are parsed in place (:func:`service.transport.json_in.parse_response`). Bodies and answers
are built and read in :mod:`service.client_bodies`, the errors live in
:mod:`service.client_errors`; everything is importable from here.

    from service.client import LossClient

    with LossClient("http://127.0.0.1:8000") as client:
        r = client.gradient("cross_entropy", logits, labels, label_smoothing=0.1)
        r.value, r.per_sample, r.gradient  # float, np.ndarray, np.ndarray
        r = client.gradient("mse", big_predictions, big_targets, per_sample=False)
        r.per_sample  # None: the server skipped the breakdown (same value and gradient)

Arrays with more than ``b64_threshold`` elements travel as base64 tensors (both ways), which is
orders of magnitude cheaper than nested JSON lists; ``encoding="binary"`` sends every array as
raw bytes after a JSON header and gets the results the same way (``application/octet-stream``,
:mod:`service.transport.binary`: a third fewer bytes than base64 and no encoding step). A problem
response raises a :class:`LossServiceError` subclass per class of problem
(:class:`InvalidInputError` for a 422, :class:`UnavailableError` for a 503...) carrying the problem
body (``code``, ``errors`` with locations, ``loc``, ``request_id``, ``retry_after``).

Every call is pure (the same request gives the same answer), so the clients repeat it: a 503
(``backend_busy``, ``request_timeout``, ``server_busy``, ``out_of_memory``, ``not_ready``), a 429
and a connection that failed or dropped are tried again up to ``retries`` times (3), waiting the
response's ``Retry-After`` or else ``backoff`` * 2**attempt seconds with jitter, never more than
``max_wait`` (30 s) at a time. Other errors are never repeated. When the retries are spent the
last answer's error is raised (the httpx exception, for a connection error).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from .client_bodies import (
    _HEADERS,
    COMMON,
    LossResult,
    _AsyncParts,
    _check,
    _Parts,
    _request,
    build_request,
    parse_result,
    request_parts,
)
from .client_compare import GradeReport, grade_request, losses_request, parse_grade
from .client_errors import (
    RETRY_STATUSES,
    AuthenticationError,
    BadRequestError,
    InvalidInputError,
    LossServiceError,
    NotFoundError,
    PayloadTooLargeError,
    ServerError,
    UnavailableError,
    error_for,
    parse_retry_after,
)
from .client_transport import AsyncWireTransport, WireTransport
from .transport.json_out import Splices

__all__ = [  # the client's API, wherever it is defined
    "COMMON", "DEFAULT_URL", "RETRY_STATUSES", "AsyncLossClient", "AuthenticationError",
    "BadRequestError", "GradeReport", "InvalidInputError", "LossClient", "LossResult",
    "LossServiceError", "NotFoundError", "PayloadTooLargeError", "RetryPolicy", "ServerError",
    "UnavailableError", "_request", "build_request", "error_for", "parse_result",
    "parse_retry_after", "request_parts",
]

DEFAULT_URL = "http://127.0.0.1:8000"


# Pooled connections are dropped after this many idle seconds: below the server's keep-alive
# timeout (uvicorn's 5 s), so that a connection the server is closing is not reused (with equal
# timeouts, `python -m bench load --hostile` at concurrency 64 saw 9 ReadErrors in 200 s; 0 with
# 2 s). An expired connection only costs opening a new one.
KEEPALIVE_S = 2.0
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20,
                       keepalive_expiry=KEEPALIVE_S)

# The failures a pure call is repeated for: the connection could not be made, or broke before
# the answer arrived (a pooled connection the server was closing included). A read timeout is
# not one: the server was still computing, and asking again would start the work over.
RETRY_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.WriteError,
    httpx.RemoteProtocolError)

# How the clients wait between tries; module attributes so that tests can replace them.
_sleep = time.sleep
_asleep = asyncio.sleep


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long the clients retry: at most ``retries`` repeats; before each, the
    answer's ``Retry-After`` if it has one, else ``backoff * 2**attempt`` seconds times a random
    factor in [0.5, 1] (so that many clients do not come back at once); never more than
    ``max_wait`` seconds per wait. ``retries=0`` turns retrying off."""

    retries: int = 3
    backoff: float = 0.5
    max_wait: float = 30.0

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff < 0 or self.max_wait < 0:
            raise ValueError("retries, backoff and max_wait must be >= 0")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before repeat number ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        return min(self.backoff * 2 ** attempt * random.uniform(0.5, 1.0), self.max_wait)

    def wait(self, attempt: int, response: httpx.Response | None) -> float | None:
        """The wait before repeating a call that got ``response`` (None: a connection error),
        or None when it is not to be repeated (not retryable, or the retries are spent)."""
        if attempt >= self.retries:
            return None
        if response is None:
            return self.delay(attempt, None)
        if response.status_code not in RETRY_STATUSES:
            return None
        return self.delay(attempt, parse_retry_after(response.headers.get("retry-after")))


class _Direct:
    """A POST handed straight to the client's own transport (:mod:`service.client_transport`),
    past ``httpx.Client.send`` (URL merging, cookies, auth and redirect handling, event hooks:
    none of which these calls use), which cost about 100 us of a call's 350 us of fixed cost
    (``python -m bench client``, 1e3 values). The request is the one the client would build: its
    URL merged once per path, the client's headers, the timeouts as extensions."""

    def __init__(self, http: httpx.Client | httpx.AsyncClient, wire: Any):
        self.wire = wire
        self.http = http
        self.urls: dict[str, httpx.URL] = {}
        self.timeout = http.timeout.as_dict()

    def request(self, path: str, *, content: Any, headers: dict[str, str]) -> httpx.Request:
        url = self.urls.get(path)
        if url is None:
            base = self.http.base_url
            url = self.urls[path] = base.copy_with(
                raw_path=base.raw_path + httpx.URL(path).raw_path.lstrip(b"/"))
        merged = self.http.headers.copy()
        merged.update(headers)
        return httpx.Request("POST", url, content=content, headers=merged,
                             extensions={"timeout": self.timeout})


class LossClient:
    """Synchronous client. Use as a context manager, or call :meth:`close`. ``retries``,
    ``backoff`` and ``max_wait`` make its :class:`RetryPolicy`."""

    def __init__(self, base_url: str = DEFAULT_URL, *, timeout: float = 60.0,
                 b64_threshold: int = 4096, headers: dict[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None, retries: int = 3,
                 backoff: float = 0.5, max_wait: float = 30.0):
        self.b64_threshold = b64_threshold
        self.retry = RetryPolicy(retries, backoff, max_wait)
        if transport is None and base_url.startswith("http://"):
            transport = WireTransport(KEEPALIVE_S)  # (https: httpx's own, with its TLS settings)
        self._http = httpx.Client(base_url=base_url, timeout=timeout, limits=_LIMITS,
                                  headers={**_HEADERS, **(headers or {})}, transport=transport)
        self._direct = _Direct(self._http, transport if isinstance(transport, WireTransport)
                               else None)

    def __enter__(self) -> LossClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The response, after the retries the policy allows."""
        attempt = 0
        while True:
            try:
                if self._direct.wire is not None and method == "POST":
                    request = self._direct.request(path, **kwargs)
                    response = self._direct.wire.handle_request(request)
                else:
                    response = self._http.request(method, path, **kwargs)
            except RETRY_EXCEPTIONS:
                if (wait := self.retry.wait(attempt, None)) is None:
                    raise
            else:
                if (wait := self.retry.wait(attempt, response)) is None:
                    return response
            attempt += 1
            _sleep(wait)

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return _check(self._send("GET", path, params=params))

    def _post(self, path: str, body: dict[str, Any],
              splices: Splices | None = None) -> dict[str, Any]:
        parts, headers = request_parts(body, splices)
        return _check(self._send("POST", path, content=_Parts(parts), headers=headers))

    def loss(self, name: str, predictions: Any = None, targets: Any = None, *,
             inputs: dict[str, Any] | None = None, reduction: str | None = None,
             sample_weight: Any = None, dtype: str | None = None, encoding: str | None = None,
             per_sample: bool = True, validate: str | None = None,
             **params: Any) -> LossResult:
        """``POST /loss/{name}``; keyword arguments beyond the named ones are the loss's params;
        ``per_sample=False``: no per-sample breakdown (``LossResult.per_sample`` None);
        ``validate``: "strict" refuses the inputs "lenient" answers with warnings (None: the
        server's setting, lenient by default)."""
        body = build_request(predictions, targets, inputs=inputs, params=params,
                             reduction=reduction, sample_weight=sample_weight, dtype=dtype,
                             encoding=encoding, b64_threshold=self.b64_threshold,
                             per_sample=per_sample, splices=(splices := Splices()),
                             validate=validate)
        return parse_result(self._post(f"/loss/{name}", body, splices))

    def gradient(self, name: str, predictions: Any = None, targets: Any = None, *,
                 inputs: dict[str, Any] | None = None, reduction: str | None = None,
                 sample_weight: Any = None, dtype: str | None = None,
                 encoding: str | None = None, per_sample: bool = True,
                 wrt: list[str] | tuple[str, ...] | None = None,
                 validate: str | None = None, **params: Any) -> LossResult:
        """``POST /gradient/{name}``: the value plus gradients of every differentiable input, or
        of the inputs ``wrt`` names (e.g. ``["predictions", "targets"]``)."""
        body = build_request(predictions, targets, inputs=inputs, params=params,
                             reduction=reduction, sample_weight=sample_weight, dtype=dtype,
                             encoding=encoding, b64_threshold=self.b64_threshold,
                             per_sample=per_sample, splices=(splices := Splices()), wrt=wrt,
                             validate=validate)
        return parse_result(self._post(f"/gradient/{name}", body, splices))

    def losses(self) -> list[dict[str, Any]]:
        """The catalog (``GET /losses``)."""
        return self._get("/losses")["losses"]

    def describe(self, name: str) -> dict[str, Any]:
        return self._get(f"/losses/{name}")

    def ready(self) -> bool:
        return self._http.get("/readyz").status_code == 200

    def version(self) -> dict[str, Any]:
        return self._get("/version")

    def compare(self, loss: str, predictions: Any = None, targets: Any = None, *,
                submission: dict[str, Any], **options: Any) -> GradeReport | dict[str, Any]:
        """``POST /compare`` (grade): ``submission`` holds value / per_sample / gradient /
        gradients; ``options`` are :func:`service.client_compare.grade_request`'s (inputs,
        params, reduction, tolerance, require, format...). A GradeReport, or the dict of a
        gradescope / prairielearn result."""
        body = grade_request(loss, predictions, targets, submission,
                             threshold=self.b64_threshold, **options)
        return parse_grade(self._post("/compare", body))

    def compare_losses(self, losses: list[Any], predictions: Any = None, targets: Any = None,
                       **options: Any) -> dict[str, Any]:
        """``POST /compare`` (losses): several losses side by side on one batch."""
        body = losses_request(losses, predictions, targets, threshold=self.b64_threshold,
                              **options)
        return self._post("/compare", body)

    def mistakes(self, loss: str | None = None) -> list[dict[str, Any]]:
        """The mistake catalog (``GET /compare/mistakes``), optionally for one loss."""
        params = {"loss": loss} if loss else None
        return self._get("/compare/mistakes", params=params)["mistakes"]

    def case(self, name: str, *, seed: int = 0, n: int = 8, classes: int = 4,
             kind: str = "random") -> dict[str, Any]:
        """Deterministic test cases (``GET /cases/{name}``), as JSON ready to post back."""
        query = {"seed": seed, "n": n, "classes": classes, "kind": kind}
        return self._get(f"/cases/{name}", params=query)


class AsyncLossClient:
    """Asynchronous client with the same methods (and retries) as :class:`LossClient`."""

    def __init__(self, base_url: str = DEFAULT_URL, *, timeout: float = 60.0,
                 b64_threshold: int = 4096, headers: dict[str, str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, retries: int = 3,
                 backoff: float = 0.5, max_wait: float = 30.0):
        self.b64_threshold = b64_threshold
        self.retry = RetryPolicy(retries, backoff, max_wait)
        if transport is None and base_url.startswith("http://"):
            transport = AsyncWireTransport(KEEPALIVE_S)
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=_LIMITS,
                                       headers={**_HEADERS, **(headers or {})},
                                       transport=transport)
        self._direct = _Direct(self._http, transport if isinstance(transport, AsyncWireTransport)
                               else None)

    async def __aenter__(self) -> AsyncLossClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                if self._direct.wire is not None and method == "POST":
                    response = await self._direct.wire.handle_async_request(
                        self._direct.request(path, **kwargs))
                else:
                    response = await self._http.request(method, path, **kwargs)
            except RETRY_EXCEPTIONS:
                if (wait := self.retry.wait(attempt, None)) is None:
                    raise
            else:
                if (wait := self.retry.wait(attempt, response)) is None:
                    return response
            attempt += 1
            await _asleep(wait)

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return _check(await self._send("GET", path, params=params))

    async def _post(self, path: str, body: dict[str, Any],
                    splices: Splices | None = None) -> dict[str, Any]:
        parts, headers = request_parts(body, splices)
        return _check(await self._send("POST", path, content=_AsyncParts(parts),
                                       headers=headers))

    async def loss(self, name: str, predictions: Any = None, targets: Any = None, *,
                   inputs: dict[str, Any] | None = None, reduction: str | None = None,
                   sample_weight: Any = None, dtype: str | None = None,
                   encoding: str | None = None, per_sample: bool = True,
                   validate: str | None = None, **params: Any) -> LossResult:
        body = build_request(predictions, targets, inputs=inputs, params=params,
                             reduction=reduction, sample_weight=sample_weight, dtype=dtype,
                             encoding=encoding, b64_threshold=self.b64_threshold,
                             per_sample=per_sample, splices=(splices := Splices()),
                             validate=validate)
        return parse_result(await self._post(f"/loss/{name}", body, splices))

    async def gradient(self, name: str, predictions: Any = None, targets: Any = None, *,
                       inputs: dict[str, Any] | None = None, reduction: str | None = None,
                       sample_weight: Any = None, dtype: str | None = None,
                       encoding: str | None = None, per_sample: bool = True,
                       wrt: list[str] | tuple[str, ...] | None = None,
                       validate: str | None = None, **params: Any) -> LossResult:
        body = build_request(predictions, targets, inputs=inputs, params=params,
                             reduction=reduction, sample_weight=sample_weight, dtype=dtype,
                             encoding=encoding, b64_threshold=self.b64_threshold,
                             per_sample=per_sample, splices=(splices := Splices()), wrt=wrt,
                             validate=validate)
        return parse_result(await self._post(f"/gradient/{name}", body, splices))

    async def losses(self) -> list[dict[str, Any]]:
        return (await self._get("/losses"))["losses"]

    async def describe(self, name: str) -> dict[str, Any]:
        return await self._get(f"/losses/{name}")

    async def ready(self) -> bool:
        return (await self._http.get("/readyz")).status_code == 200

    async def version(self) -> dict[str, Any]:
        return await self._get("/version")

    async def compare(self, loss: str, predictions: Any = None, targets: Any = None, *,
                      submission: dict[str, Any], **options: Any
                      ) -> GradeReport | dict[str, Any]:
        body = grade_request(loss, predictions, targets, submission,
                             threshold=self.b64_threshold, **options)
        return parse_grade(await self._post("/compare", body))

    async def compare_losses(self, losses: list[Any], predictions: Any = None,
                             targets: Any = None, **options: Any) -> dict[str, Any]:
        body = losses_request(losses, predictions, targets, threshold=self.b64_threshold,
                              **options)
        return await self._post("/compare", body)

    async def mistakes(self, loss: str | None = None) -> list[dict[str, Any]]:
        params = {"loss": loss} if loss else None
        return (await self._get("/compare/mistakes", params=params))["mistakes"]

    async def case(self, name: str, *, seed: int = 0, n: int = 8, classes: int = 4,
                   kind: str = "random") -> dict[str, Any]:
        query = {"seed": seed, "n": n, "classes": classes, "kind": kind}
        return await self._get(f"/cases/{name}", params=query)
