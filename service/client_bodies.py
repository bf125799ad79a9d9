"""The clients' request bodies and answers: arrays to JSON, b64 or binary bodies (sent as parts,
large texts spliced in, never joined into one copy), and answers back to NumPy
(:class:`LossResult`), problem answers raised as :mod:`service.client_errors`.

Why a module of its own: what goes on the wire is independent of how it is sent (sync, async,
retries: :mod:`service.client`), and ``bench`` builds the same bodies to time the raw exchange.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import orjson

from .api.problems import ProblemError
from .casting import cast
from .client_errors import error_for
from .transport import binary as binary_body
from .transport import json_in
from .transport.json_out import Piece, Splices, encode_array, wire_to_array

COMMON = ("predictions", "targets")


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
    # inputs computed on that look like mistakes ({"code", "loc", "detail"}: NaN inputs,
    # negative class weights...; docs/api.md, Warnings and validate); empty when none
    warnings: list[dict[str, Any]] = field(default_factory=list)

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
    # JSON has no NaN or infinity (orjson would write null): such an array goes as b64, whose
    # IEEE values the service computes on (with a nonfinite_input warning)
    if a.size > threshold or (a.dtype.kind == "f" and not bool(np.isfinite(a).all())):
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
                  wrt: list[str] | tuple[str, ...] | None = None,
                  validate: str | None = None) -> dict[str, Any]:
    """The JSON body for /loss and /gradient. It omits the response's ``gradient`` (a copy of
    ``gradients.predictions``, which is what :class:`LossResult` reads) and, with
    ``per_sample=False``, the per-sample breakdown. With ``encoding="binary"`` the arrays stay
    NumPy arrays, for :func:`service.transport.binary.pack`. With ``splices``, b64 texts are
    held there and the body has placeholders: send it with :func:`request_parts`. ``wrt``: the
    inputs whose gradients /gradient returns (None: the differentiable ones). ``validate``:
    "lenient" (suspicious inputs answered with warnings) or "strict" (refused); None: the
    server's setting."""
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
    if validate is not None:
        body["validate"] = validate
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
                      gradients=grads, raw=data, warnings=list(data.get("warnings") or ()))


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
