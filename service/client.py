"""A typed Python client for the service (httpx; sync and async), NumPy arrays in and out.

Both clients talk to ``http://`` URLs through :mod:`service.client_transport` (``http.client``
and asyncio streams under httpx: bodies sent in parts, answers read in one piece); large answers
are parsed in place (:func:`service.transport.json_in.parse_response`).

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
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import numpy as np
import orjson

from .api.problems import ProblemError
from .casting import cast
from .client_compare import GradeReport, grade_request, losses_request, parse_grade
from .client_transport import AsyncWireTransport, WireTransport
from .transport import binary as binary_body
from .transport import json_in
from .transport.json_out import Piece, Splices, encode_array, wire_to_array

DEFAULT_URL = "http://127.0.0.1:8000"
COMMON = ("predictions", "targets")


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


@dataclass(frozen=True)
class LossResult:
    """A /loss or /gradient response with arrays decoded to NumPy. ``raw`` is the parsed
    document; in an answer of 1 MiB or more its b64 texts are views of the received bytes
    (:class:`service.transport.arrays.B64Text`), not ``str``."""

    loss: str
    value: float | np.ndarray
    reduction: str
    per_sample: np.ndarray | None  # None when the call passed per_sample=False
    n_samples: int
    params: dict[str, Any]
    dtype: str
    backend: str
    gradients: dict[str, np.ndarray] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def gradient(self) -> np.ndarray | None:
        """The gradient with respect to ``predictions`` (None where the loss has no such input)."""
        return self.gradients.get("predictions")


def _wire(value: Any, threshold: int, binary: bool = False,
          splices: Splices | None = None) -> tuple[Any, bool]:
    """An input for the request body; True when it went as b64 (or, ``binary``, as a NumPy
    array that :func:`service.transport.binary.pack` sends as bytes). With ``splices``, a b64
    text is held there (see :func:`request_parts`)."""
    if isinstance(value, dict):  # already a tensor object
        return value, "b64" in value
    a = np.asarray(value)
    if a.dtype.kind == "b" or a.dtype.kind not in "iuf":
        return value, False  # let the server report what is wrong with it
    if binary:
        return a, True
    if a.size > threshold:
        if a.dtype.kind in "iu":  # (a uint64 beyond int64: CastError, never wrapped)
            a = cast(a, np.int64)
        return encode_array(a, "b64", splices=splices), True
    return (a.tolist() if isinstance(value, np.ndarray) else value), False


def build_request(predictions: Any = None, targets: Any = None, *,
                  inputs: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
                  reduction: str | None = None, sample_weight: Any = None,
                  dtype: str | None = None, encoding: str | None = None,
                  b64_threshold: int = 4096, per_sample: bool = True,
                  splices: Splices | None = None,
                  wrt: list[str] | tuple[str, ...] | None = None) -> dict[str, Any]:
    """The JSON body for /loss and /gradient. It omits the response's ``gradient`` (a copy of
    ``gradients.predictions``, which is what :class:`LossResult` reads) and, with
    ``per_sample=False``, the per-sample breakdown. With ``encoding="binary"`` the arrays stay
    NumPy arrays, for :func:`service.transport.binary.pack`. With ``splices``, b64 texts are
    held there and the body has placeholders: send it with :func:`request_parts`. ``wrt``: the
    inputs whose gradients /gradient returns (None: the differentiable ones)."""
    body: dict[str, Any] = {}
    big = False
    binary = encoding == "binary"
    for name, value in (("predictions", predictions), ("targets", targets)):
        if value is not None:
            body[name], b = _wire(value, b64_threshold, binary, splices)
            big |= b
    if inputs:
        body["inputs"] = {}
        for name, value in inputs.items():
            body["inputs"][name], b = _wire(value, b64_threshold, binary, splices)
            big |= b
    if params:
        body["params"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                          for k, v in params.items()}
    if reduction is not None:
        body["reduction"] = reduction
    if sample_weight is not None:
        body["sample_weight"], b = _wire(sample_weight, b64_threshold, binary, splices)
        big |= b
    if dtype is not None:
        body["dtype"] = dtype
    body["encoding"] = encoding or ("b64" if big else "json")
    body["omit"] = ["gradient"] if per_sample else ["gradient", "per_sample"]
    if wrt is not None:
        body["wrt"] = list(wrt)
    return body


def parse_result(data: dict[str, Any]) -> LossResult:
    value = data["value"]
    if not isinstance(value, np.ndarray):  # (binary responses carry arrays already)
        value = float(wire_to_array(value)) if not isinstance(value, list | dict) else \
            wire_to_array(value)
    grads = {k: wire_to_array(v) for k, v in (data.get("gradients") or {}).items()}
    return LossResult(loss=data["loss"], value=value, reduction=data["reduction"],
                      per_sample=None if data.get("per_sample") is None
                      else wire_to_array(data["per_sample"]), n_samples=data["n_samples"],
                      params=data["params"], dtype=data["dtype"], backend=data["backend"],
                      gradients=grads, raw=data)


def _check(response: httpx.Response) -> dict[str, Any]:
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if response.status_code < 400 and media == binary_body.MEDIA_TYPE:
        return binary_body.unpack(response.content,
                                  int(response.headers[binary_body.HEADER_LENGTH]))
    try:
        content = response.content
        # a large answer's b64 arrays are decoded from the body itself, never copied into a str
        data = (json_in.parse_response(content) if response.status_code < 400
                else orjson.loads(content)) if content else {}
    except (orjson.JSONDecodeError, ProblemError):
        data = {"code": "http_error", "detail": response.text[:500]}
    if response.status_code >= 400:
        raise error_for(response.status_code, data, response.headers)
    return data


_HEADERS = {"content-type": "application/json", "accept": "application/json"}


def request_parts(body: dict[str, Any], splices: Splices | None = None
                  ) -> tuple[list[Piece], dict[str, str]]:
    """The request's bytes, as parts to send in turn (a large array's bytes or b64 text are
    sent from where they are, never joined into a copy of the whole body), and its headers
    beyond the client's defaults (``Content-Length`` included): a binary body for
    ``"encoding": "binary"``, else JSON (with the texts ``splices`` holds spliced in)."""
    if body.get("encoding") != "binary":
        document = orjson.dumps(body)
        parts: list[Piece] = splices.splice(document) if splices is not None else [document]
        headers = {}
    else:
        parts, length = binary_body.pack(body)
        headers = {"content-type": binary_body.MEDIA_TYPE,
                   "accept": f"{binary_body.MEDIA_TYPE}, application/json",
                   binary_body.HEADER_LENGTH: str(length)}
    size = sum(p.nbytes if isinstance(p, memoryview) else len(p) for p in parts)
    return parts, {**headers, "content-length": str(size)}


def _request(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The request's bytes (joined) and its headers (see :func:`request_parts`)."""
    parts, headers = request_parts(body)
    return b"".join(parts), headers


class _Parts:
    """A body sent as its parts in turn (httpx: an iterable with a ``Content-Length`` is sent
    as it is, not chunked); iterable again for a retry."""

    def __init__(self, parts: list[Piece]):
        self.parts = parts

    def __iter__(self) -> Iterator[Piece]:
        return iter(self.parts)


class _AsyncParts:
    """:class:`_Parts` for the async client (httpx wants an async iterable there)."""

    def __init__(self, parts: list[Piece]):
        self.parts = parts

    async def __aiter__(self) -> AsyncIterator[Piece]:
        for part in self.parts:
            yield part


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
             per_sample: bool = True, **params: Any) -> LossResult:
        """``POST /loss/{name}``; keyword arguments beyond the named ones are the loss's params;
        ``per_sample=False``: no per-sample breakdown (``LossResult.per_sample`` None)."""
        body = build_request(predictions, targets, inputs=inputs, params=params,
                             reduction=reduction, sample_weight=sample_weight, dtype=dtype,
                             encoding=encoding, b64_threshold=self.b64_threshold,
                             per_sample=per_sample, splices=(splices := Splices()))
        return parse_result(self._post(f"/loss/{name}", body, splices))

    def gradient(self, name: str, predictions: Any = None, targets: Any = None, *,
                 inputs: dict[str, Any] | None = None, reduction: str | None = None,
                 sample_weight: Any = None, dtype: str | None = None,
                 encoding: str | None = None, per_sample: bool = True,
                 wrt: list[str] | tuple[str, ...] | None = None, **params: Any) -> LossResult:
        """``POST /gradient/{name}``: the value plus gradients of every differentiable input, or
        of the inputs ``wrt`` names (e.g. ``["predictions", "targets"]``)."""
        body = build_request(predictions, targets, inputs=inputs, params=params,
                             reduction=reduction, sample_weight=sample_weight, dtype=dtype,
                             encoding=encoding, b64_threshold=self.b64_threshold,
                             per_sample=per_sample, splices=(splices := Splices()), wrt=wrt)
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
                   **params: Any) -> LossResult:
        body = build_request(predictions, targets, inputs=inputs, params=params,
                             reduction=reduction, sample_weight=sample_weight, dtype=dtype,
                             encoding=encoding, b64_threshold=self.b64_threshold,
                             per_sample=per_sample, splices=(splices := Splices()))
        return parse_result(await self._post(f"/loss/{name}", body, splices))

    async def gradient(self, name: str, predictions: Any = None, targets: Any = None, *,
                       inputs: dict[str, Any] | None = None, reduction: str | None = None,
                       sample_weight: Any = None, dtype: str | None = None,
                       encoding: str | None = None, per_sample: bool = True,
                       wrt: list[str] | tuple[str, ...] | None = None,
                       **params: Any) -> LossResult:
        body = build_request(predictions, targets, inputs=inputs, params=params,
                             reduction=reduction, sample_weight=sample_weight, dtype=dtype,
                             encoding=encoding, b64_threshold=self.b64_threshold,
                             per_sample=per_sample, splices=(splices := Splices()), wrt=wrt)
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
