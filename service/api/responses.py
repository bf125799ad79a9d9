"""Response bodies held as parts (:class:`service.transport.json_out.Splices`): sent without
joining them into one copy, and large arrays serialized while they are sent.

Everything that can fail for want of memory happens before the status line is sent, where an
error is still a problem response (:mod:`service.api.errors`), except the serialization of a
lazy array's blocks while it is sent (a few MB each). An error there can only end the
connection, which is what it does: the client sees an incomplete response, never a truncated
200 that looks whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from starlette.responses import Response, StreamingResponse

from ..transport.json_out import LazyJson, Piece

STREAM_BYTES = 1 << 20  # responses above 1 MiB are sent in slices of this size


def json_response(parts: list[Piece], media_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> Response:
    """One response from the parts; a large one is sent in slices of them, so the server never
    holds a second copy of it (the transport's buffer takes one slice at a time). With an array
    serialized as it is sent (:class:`service.transport.json_out.LazyJson`), its length is not known
    beforehand: the response is sent chunked, from a worker thread (Starlette iterates a plain
    iterator there), so the serialization never runs on the event loop."""
    if any(isinstance(p, LazyJson) for p in parts):
        return StreamingResponse(_pieces(parts), media_type=media_type, headers=headers)
    size = sum(len(p) for p in parts)
    if size <= STREAM_BYTES:
        return Response(parts[0] if len(parts) == 1 else b"".join(parts),
                        media_type=media_type, headers=headers)

    async def slices() -> AsyncIterator[memoryview]:
        for view in _pieces(parts):
            yield view

    return StreamingResponse(slices(), media_type=media_type,
                             headers={**(headers or {}), "content-length": str(size)})


def binary_response(header_length: int, parts: list[Piece]) -> Response:
    """An ``application/octet-stream`` response: a JSON header of ``header_length`` bytes (in
    ``Inference-Header-Content-Length``) and the result arrays' bytes."""
    return json_response(parts, "application/octet-stream",
                         {"inference-header-content-length": str(header_length)})


def _pieces(parts: list[Piece]) -> Iterator[memoryview]:
    """The parts' bytes in slices of at most STREAM_BYTES; lazy parts serialized in turn."""
    for part in parts:
        for piece in part if isinstance(part, LazyJson) else (part,):
            view = memoryview(piece)
            for start in range(0, len(view), STREAM_BYTES):
                yield view[start:start + STREAM_BYTES]
