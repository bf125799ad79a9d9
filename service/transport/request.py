"""A request in: its body received, parsed, and decoded by the one decoder.

:func:`receive` reads a body (content type; 413 before reading past the limit; 503 when the
budget of bytes in flight, :mod:`.inflight`, is full) into a :class:`Received`, which
:func:`parse` turns into a JSON object: JSON (:mod:`.json_in`) or the binary tensor format
(:func:`parse_binary`, :mod:`.binary`). The one decoder follows: ``/loss`` and ``/gradient``
(:func:`decode_loss`), ``/compare`` and the offline grader (:mod:`service.api.compare_body`)
all validate with :func:`validate` and read their arrays with one :class:`Decoder` (every rule
of an array in :mod:`.arrays`): one element budget per request, one mapping of array problems
to problem codes, and one mapping of the core's locations into the body (:func:`map_loc`):
``("targets", 3)`` -> ``["body", "targets", 3]`` (or ``["body", "inputs", "var", 0]`` when the
input was sent inside ``inputs``), ``("params", "delta")`` -> ``["body", "params", "delta"]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from ..api.problems import ProblemError, from_validation_error
from ..losses import LossSpec
from ..tuning import gc_paused
from . import json_in
from .arrays import BinaryData, EncodingError, decode_array, replace_text
from .binary import HEADER_LENGTH, MEDIA_TYPE
from .inflight import BodyBudget
from .json_in import _array_places

GC_PAUSE_BYTES = 1 << 20  # bodies from 1 MiB are parsed and decoded with the collector paused


def _media(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(content_type: str) -> bool:
    media = _media(content_type)
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


# A body's bytes are kept as the chunks that brought them until half of its declared length
# has arrived, and only then copied into one buffer of that length: what a request holds grows
# with what it sent (at most twice), never with what it declares, and each byte is still copied
# once (growing a buffer by doubling copies the body twice over: 2x slower at 88 MB).
BUFFER_FROM_BYTES = 65536  # smaller bodies are joined at the end (one chunk: no copy at all)
SMALL_CHUNK = 4096  # chunks smaller than this are gathered into pieces of up to GATHER_BYTES,
GATHER_BYTES = 65536  # so that a body sent a few bytes at a time does not cost an object each


async def read_body(request: Request, max_bytes: int, *, binary: bool = False,
                    any_media: bool = False) -> bytes | bytearray:
    """The raw body; 415 for a content type other than JSON (or ``application/octet-stream``
    where ``binary``; any where ``any_media``: Open Inference Protocol clients send none), 413
    past ``max_bytes`` (never read whole), 503 ``server_busy`` when the server's budget of body
    bytes in flight (:mod:`service.transport.inflight`) is full.

    Memory follows the bytes that arrive, not the ``Content-Length``: the chunks are kept until
    half the declared length has arrived, then copied into one buffer of that length (no list
    of chunks joined into a second copy of a large body at the end).
    """
    content_type = request.headers.get("content-type", "")
    if not (any_media or _is_json(content_type)
            or (binary and _media(content_type) == MEDIA_TYPE)):
        wanted = "application/json" + (f" or {MEDIA_TYPE}" if binary else "")
        raise ProblemError("unsupported_media_type",
                           f"content type must be {wanted}, got {content_type!r}" if
                           content_type else f"content type must be {wanted}",
                           ("header", "content-type"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ProblemError("payload_too_large", f"the body has {declared} bytes; the limit is "
                           f"{max_bytes}", ("body",))
    expected = int(declared) if declared is not None and declared.isdigit() else -1
    budget: BodyBudget = request.app.state.body_budget
    budget.admit(max(expected, 0))
    scope = request.scope
    pieces: list[bytes | bytearray] = []
    buffer: bytearray | None = None
    size = 0
    async for chunk in request.stream():
        end = size + len(chunk)
        if end > max_bytes:
            raise ProblemError("payload_too_large", f"the body exceeds the limit of {max_bytes} "
                               "bytes", ("body",))
        if chunk:
            budget.charge(scope, len(chunk))
        if buffer is not None and end <= expected:
            buffer[size:end] = chunk
        elif expected > BUFFER_FROM_BYTES and 2 * end >= expected and end <= expected:
            buffer = bytearray(expected)  # half of it has arrived: the rest is likely to
            at = 0
            for piece in pieces:
                buffer[at:at + len(piece)] = piece
                at += len(piece)
            pieces.clear()
            buffer[size:end] = chunk
        else:
            if buffer is not None:  # more bytes than declared: keep them all as pieces
                del buffer[size:]
                pieces.append(buffer)
                buffer, expected = None, -1
            last = pieces[-1] if pieces else None
            if len(chunk) >= SMALL_CHUNK or last is None:
                pieces.append(chunk)
            elif type(last) is bytearray and len(last) < GATHER_BYTES:
                last += chunk
            else:
                pieces.append(bytearray(chunk))
        size = end
    if buffer is not None:
        if size < len(buffer):  # the stream ended short of the declared length
            del buffer[size:]
        return buffer
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _header_length(request: Request, size: int) -> int | None:
    """The JSON header's length of an ``application/octet-stream`` body of ``size`` bytes (400
    if ``Inference-Header-Content-Length`` is missing or not a length within the body); None for
    a JSON body."""
    if _media(request.headers.get("content-type", "")) != MEDIA_TYPE:
        return None
    return header_length(request.headers.get(HEADER_LENGTH), size, required=True)


def header_length(value: str | None, size: int, *, required: bool) -> int | None:
    """``Inference-Header-Content-Length`` (``value``) of a body of ``size`` bytes, checked; None
    where it is missing and not ``required``."""
    loc = ("header", HEADER_LENGTH.lower())
    if value is None and not required:
        return None
    if value is None:
        raise ProblemError("invalid_binary_body", f"an {MEDIA_TYPE} request needs the "
                           "Inference-Header-Content-Length header: the length in bytes of the "
                           "JSON header at the start of the body", loc, status=400)
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > size:
        raise ProblemError("invalid_binary_body", "Inference-Header-Content-Length must be the "
                           f"length in bytes of the JSON header, at most the body's {size}; "
                           f"got {value!r:.40}", loc, status=400)
    return int(text)


def parse_binary(body: bytes | bytearray, header_length: int,
                 max_elements: int | None = None) -> Any:
    """An ``application/octet-stream`` body parsed: its JSON header (``body[:header_length]``),
    in which each tensor object of a request array (top level or ``inputs``) that gives
    ``binary_data_size`` gets a :class:`service.transport.arrays.BinaryData` view of its bytes,
    taken from the rest of the body in the order the header names the arrays. 400 when the sizes do
    not add up to the rest of the body; 422 for a size that is not a byte count. (/compare does
    not take binary bodies: a submission's tensors here are refused with the body's other
    unknown fields.) ``max_elements``: as for :func:`service.transport.json_in.parse_json`."""
    obj = json_in.parse_json(bytes(body[:header_length]), max_elements)
    places = [(where[key], loc) for where, key, loc in _array_places(obj)]
    attach_binary(places, memoryview(body).toreadonly()[header_length:])
    return obj


def attach_binary(places: Iterable[tuple[Any, Loc]], section: memoryview) -> None:
    """Give each tensor object among ``places`` (``(object, its location)``, in the order the
    header names them) that has ``binary_data_size`` a
    :class:`service.transport.arrays.BinaryData` view of its bytes, taken from ``section`` (the
    body after the JSON header) in turn; 400 when the sizes do not add up to the section, 422
    for a size that is not a byte count."""
    offset = 0
    for tensor, loc in places:
        if not (isinstance(tensor, dict) and "binary_data_size" in tensor):
            continue
        size = tensor["binary_data_size"]
        at = (*loc, "binary_data_size")
        if type(size) is not int or size < 0:
            raise ProblemError("invalid_tensor", "binary_data_size must be a non-negative "
                               "integer: the number of the tensor's bytes after the JSON header",
                               at)
        if offset + size > len(section):
            raise ProblemError("invalid_binary_body", f"binary_data_size {size} runs past the "
                               f"end of the body: {len(section)} bytes follow the JSON header "
                               f"and the tensors before this one take {offset}", at, status=400)
        tensor["binary_data_size"] = BinaryData(section[offset:offset + size])
        offset += size
    if offset != len(section):
        raise ProblemError("invalid_binary_body", f"{len(section)} bytes follow the JSON header "
                           f"but its tensors' binary_data_size add up to {offset}", ("body",),
                           status=400)


class Received:
    """A request body as received; :meth:`take` hands its bytes over once (the holder keeps no
    reference, so they are freed as soon as they are parsed)."""

    __slots__ = ("_raw", "header_length", "size")

    def __init__(self, raw: bytes | bytearray, header_length: int | None):
        self._raw: bytes | bytearray | None = raw
        self.header_length = header_length  # of a binary body's JSON header; None: JSON
        self.size = len(raw)

    def take(self) -> bytes | bytearray:
        raw, self._raw = self._raw, None
        if raw is None:
            raise RuntimeError("the body was already taken")
        return raw


async def receive(request: Request, max_bytes: int, *, binary: bool = False,
                  any_media: bool = False) -> Received:
    """The body of ``request`` (see :func:`read_body`), with its binary header's length.
    ``any_media`` (the Open Inference Protocol): any content type, binary where the request
    has ``Inference-Header-Content-Length``."""
    raw = await read_body(request, max_bytes, binary=binary, any_media=any_media)
    if any_media:
        return Received(raw, header_length(request.headers.get(HEADER_LENGTH), len(raw),
                                           required=False))
    return Received(raw, _header_length(request, len(raw)) if binary else None)


class Parsed(NamedTuple):
    """A parsed body: the JSON object, and whether its lists may hide booleans."""

    obj: Any
    check_bools: bool


def parse(body: Received, max_elements: int) -> Parsed:
    """The body parsed (taken out of ``body``): arrays of large bodies read in place, at most
    ``max_elements`` of them (:func:`service.transport.json_in.parse_json`). Booleans can hide
    in numeric lists (NumPy reads True as 1.0): lists are scanned for them only if the body holds
    a true/false token and arrays sent as JSON lists."""
    raw = body.take()
    if body.header_length is None:
        obj, text = json_in.parse_json(raw, max_elements), raw
    else:
        obj, text = parse_binary(raw, body.header_length, max_elements), raw[:body.header_length]
    return Parsed(obj, json_in.may_hide_booleans(text, obj))


Loc = tuple[Any, ...]
COMMON_INPUTS = ("predictions", "targets")  # inputs a request may give at its top level


def validate(model: type[BaseModel], obj: Any) -> Any:
    """``obj`` validated by ``model``; pydantic's errors as a problem located in the body."""
    if not isinstance(obj, dict):
        raise ProblemError("invalid_field", "the request body must be a JSON object", ("body",))
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


class Decoder:
    """Decodes one request's arrays against its element budget, remembering where each input
    came from; ``stats["n_elements"]`` counts the elements decoded so far."""

    def __init__(self, max_elements: int, check_bools: bool = True,
                 stats: dict[str, Any] | None = None):
        self.limit = self.budget = max_elements
        self.check_bools = check_bools
        self.where: dict[str, Loc] = {}
        self.stats = {} if stats is None else stats

    def array(self, value: Any, loc: Loc, *, nonfinite_text: bool = False) -> np.ndarray:
        """One array; ``nonfinite_text``: "NaN", "Infinity" and "-Infinity" are numbers."""
        try:
            a = decode_array(replace_text(value) if nonfinite_text else value, loc,
                             max_elements=max(self.budget, 0), check_bools=self.check_bools)
        except EncodingError as exc:
            raise ProblemError(exc.code, exc.message, exc.loc, status=exc.status) from None
        self.budget -= a.size
        self.stats["n_elements"] = self.limit - self.budget
        return a

    def inputs(self, req: Any) -> dict[str, np.ndarray]:
        """The named inputs: ``predictions`` and ``targets`` at the top level, any in
        ``inputs`` (a dict, or a loss's inputs model); each given once."""
        given = [(name, getattr(req, name), ("body", name)) for name in COMMON_INPUTS
                 if getattr(req, name, None) is not None]
        nested = req.inputs
        items: Iterable[tuple[str, Any]] = () if nested is None else nested.items() if \
            isinstance(nested, dict) else ((k, v) for k in type(nested).model_fields
                                           if (v := getattr(nested, k)) is not None)
        for name, value in items:
            if name in COMMON_INPUTS and getattr(req, name, None) is not None:
                raise ProblemError("duplicate_input", f"{name} is given both at the top level "
                                   "and in inputs; give it once", ("body", "inputs", name))
            given.append((name, value, ("body", "inputs", name)))
        found = {}
        for name, value, loc in given:
            found[name] = self.array(value, loc)
            self.where[name] = loc
        return found

    def sample_weight(self, req: Any) -> np.ndarray | None:
        if req.sample_weight is None:
            return None
        self.where["sample_weight"] = ("body", "sample_weight")
        return self.array(req.sample_weight, ("body", "sample_weight"))

    def done(self) -> None:
        """413 when the request's arrays together hold more than its limit."""
        if self.budget < 0:
            raise ProblemError("too_many_elements", f"the request holds more than "
                               f"{self.limit} array elements", ("body",))


_AT_TOP = ("submission", "require", "weights", "sample_weight")  # /compare fields, not per loss


def map_loc(loc: Loc, where: dict[str, Loc], *, prefix: Loc = ("body",),
            name: Loc = ("path", "name"), top: tuple[str, ...] = ()) -> list[Any]:
    """A location the core reports, in the body: an input where it was sent, ``name`` (the
    loss) at ``name``, a loss's own fields under ``prefix``, and ``top`` fields at the top."""
    if not loc:
        return [*prefix]
    head, rest = loc[0], loc[1:]
    if head in where:
        return [*where[head], *rest]
    if head == "name":
        return [*name]
    if head in top or head in _AT_TOP:
        return ["body", *loc]
    if head in ("params", "reduction", "dtype", "wrt"):
        return [*prefix, *loc]
    return ["body", "inputs", *loc]


@dataclass
class LossCall:
    """A decoded ``/loss`` or ``/gradient`` request: what :func:`service.engine.run` takes, and
    how to answer."""

    spec: LossSpec
    want_grad: bool
    arrays: dict[str, np.ndarray]
    sample_weight: np.ndarray | None
    where: dict[str, Loc]  # the body location of each input, for the core's errors
    params: dict[str, Any]
    reduction: str | None
    dtype: str
    backend: str | None  # as requested; None: the server's setting
    encoding: str  # of the result arrays
    omit: frozenset[str]
    n_elements: int
    body_bytes: int  # the size of the body it came in
    validate: str | None = None  # "lenient" or "strict"; None: the server's setting
    wrt: list[str] | None = None  # the inputs whose gradients are asked for; None: the default

    def locate(self, loc: Loc) -> list[Any]:
        return map_loc(loc, self.where, top=COMMON_INPUTS)


def decode_loss(body: Received, spec: LossSpec, model: type[BaseModel], want_grad: bool,
                max_elements: int, stats: dict[str, Any]) -> LossCall:
    """The request in ``body`` (taken out of it), parsed, validated by ``model`` and decoded.

    A large body is parsed and decoded with the cyclic collector paused: the millions of lists
    of a nested JSON array hold no cycles, and they are freed (by reference counting) before it
    resumes (see :mod:`service.tuning`). ``stats`` receives ``n_elements`` and ``encoding``.
    """
    with gc_paused(body.size >= GC_PAUSE_BYTES):
        obj, check_bools = parse(body, max_elements)
        default = "json" if body.header_length is None else "binary"
        call = decode_document(obj, check_bools, spec, model, want_grad, max_elements, stats,
                               body.size, default)
        del obj  # the parsed lists go while the collector is still paused
    return call


def decode_document(obj: Any, check_bools: bool, spec: LossSpec, model: type[BaseModel],
                    want_grad: bool, max_elements: int, stats: dict[str, Any], body_bytes: int,
                    default_encoding: str) -> LossCall:
    """A parsed request document validated by ``model`` and its arrays decoded: the one
    decoding step of ``/loss``, ``/gradient`` and the Open Inference Protocol's ``infer``
    (:mod:`service.transport.inference_protocol` translates its requests into this document)."""
    req = validate(model, obj)
    dec = Decoder(max_elements, check_bools, stats)
    arrays, sw = dec.inputs(req), dec.sample_weight(req)
    dec.done()
    call = LossCall(spec, want_grad, arrays, sw, dec.where, req.params.model_dump(),
                    req.reduction, req.dtype, req.backend,
                    req.encoding if "encoding" in req.model_fields_set else default_encoding,
                    frozenset(req.omit), dec.limit - dec.budget, body_bytes,
                    getattr(req, "validation", None), getattr(req, "wrt", None))
    stats["encoding"] = call.encoding
    return call
