"""The HTTP server: uvicorn, with the bounds on a request's head that uvicorn lacks.

Why: every limit of the service (body size, elements, time budget, bytes in flight) starts once
a request's headers are complete and counts body bytes. Outside them, uvicorn's parser
(httptools) keeps whatever a connection sends: one connection sending an endless header line
grew a worker by 1 GiB per 400 MiB sent (measured), before any route, API key or limit could see
it; endless trailer fields after a chunked body, by 0.9 GiB per 300 MiB; and a connection that
sends nothing, or its headers a byte at a time, is kept open for ever. So the server's protocol
(:class:`HeadLimitedProtocol`, uvicorn's httptools protocol with two bounds added) refuses:

* a request line and headers longer than ``LOSS_SERVICE_MAX_HEADER_BYTES`` (64 KiB by default;
  nginx takes 32 KiB, Node.js 16 KiB): 431 ``headers_too_large``, as soon as that many bytes of
  the head have arrived; its bytes past the limit are never handed to the parser (a pipelined
  request's head that begins in the same read as the previous request ends is counted from
  the rest of that read on: it may take up to twice the limit); the same for a chunk's size
  line and for the trailer fields of a chunked body;
* a head that has not arrived within ``LOSS_SERVICE_HEADER_TIMEOUT_S`` (20 s) of its first
  byte, or of the connection's start: 408 ``request_timeout`` (a connection that sent nothing
  is closed without an answer).

Both answers are problem documents and close the connection, as is uvicorn's 400 for what its
parser refuses (``invalid_http``; uvicorn's own is plain text). A connection that queues more
than :data:`MAX_PIPELINED` pipelined requests behind the one being answered is closed. Each of
these closes is counted in ``loss_service_connections_closed_total{reason}`` (the code, or
``idle``, or ``pipelined``). The rest is uvicorn's: :class:`GracefulServer` only makes its
graceful shutdown exit with status 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .api.problems import problem_bytes
from .observability.metrics import CONNECTIONS_CLOSED

log = logging.getLogger("service.server")

# requests a connection may queue behind the one being answered (HTTP/1.1 pipelining); more,
# and the connection is closed: each queued request holds ~2 KB, so 256 KiB of tiny requests
# in one read held ~17 MB until they were answered (20 such connections: +340 MiB, measured)
MAX_PIPELINED = 64


class HeadLimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size and a time bound on each request's head (the
    request line and headers), taken from the :class:`ServiceConfig` it is made with. The size
    bound also holds in a chunked body between two pieces of its data: a chunk's size line, and
    the trailer fields after the last chunk, which the parser keeps as it keeps a head."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.max_head_bytes: int = getattr(config, "max_header_bytes", 65536)
        self.head_timeout_s: float = getattr(config, "header_timeout_s", 20.0)
        # bytes that may still arrive before the parser makes progress (a head ends, a piece
        # of a chunked body arrives, a message ends); None: a body of known length
        self.frame_left: int | None = self.max_head_bytes
        self.progress = 0  # counts those events
        self.in_head = True  # reading a request line and headers (or waiting for them)
        self.head_started = False  # a byte of the current head has arrived
        self.chunked = False  # the current request's body is chunked
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a head is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        while (left := self.frame_left) is not None:
            if len(data) <= left:
                self.frame_left = left - len(data)
                self._feed(data)
                return
            progress = self.progress
            self.frame_left = 0
            self._feed(data[:left])  # progress may come within what it may take
            if self.transport.is_closing():
                return
            if self.progress == progress:  # it did not
                what = "the request line and headers take" if self.in_head else (
                    "a chunk's size line or the trailer fields take")
                self._refuse(431, code="headers_too_large", detail=f"{what} more than "
                             f"{self.max_head_bytes} bytes (LOSS_SERVICE_MAX_HEADER_BYTES)")
                return
            data = data[left:]  # the rest: a body, or the next pipelined request's head
        self._feed(data)  # a body of known length: the app bounds it

    def _feed(self, data: bytes) -> None:
        super().data_received(data)
        if len(self.pipeline) > MAX_PIPELINED and not self.transport.is_closing():
            log.warning("closed a connection from %s: more than %d pipelined requests",
                        self._peer(), MAX_PIPELINED)
            CONNECTIONS_CLOSED.labels("pipelined").inc()
            self.transport.close()

    def _progressed(self, frame_left: int | None) -> None:
        self.progress += 1
        self.frame_left = frame_left

    def on_message_begin(self) -> None:  # the first byte of a request
        self.head_started = True
        if self.head_timer is None:  # a later head on the connection: timed from here
            self._arm()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self.in_head = False
        self._disarm()
        self.chunked = any(name == b"transfer-encoding" and b"chunked" in value.lower()
                           for name, value in self.headers)
        self._progressed(self.max_head_bytes if self.chunked else None)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.chunked:
            self._progressed(self.max_head_bytes)
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.in_head, self.head_started = True, False  # the next request's head
        self._progressed(self.max_head_bytes)

    def _arm(self) -> None:
        self._disarm()
        if self.head_timeout_s > 0:
            self.head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing() or not self.in_head:
            return
        if not self.head_started:  # nothing sent: no request to answer
            CONNECTIONS_CLOSED.labels("idle").inc()
            self.transport.close()
            return
        self._refuse(408, code="request_timeout", detail=f"the request line and headers did not "
                     f"arrive within {self.head_timeout_s:g} s (LOSS_SERVICE_HEADER_TIMEOUT_S)")

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to what its parser refuses (a malformed request line or header, a
        bad Content-Length, Content-Length with chunked framing, broken chunks), as a problem
        document (uvicorn's own is plain text)."""
        self._refuse(400, code="invalid_http", detail="the request is not valid HTTP/1.1: a "
                     "malformed request line or header, a bad or repeated Content-Length, or "
                     "Content-Length together with chunked transfer encoding")

    def _refuse(self, status: int, *, code: str, detail: str) -> None:
        """Answer a problem document and close the connection (nothing more is parsed)."""
        self._disarm()
        self.frame_left = None
        if self.transport.is_closing():
            return
        CONNECTIONS_CLOSED.labels(code).inc()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and (
                self.in_head or cycle.response_started):
            # a pipelined head behind an unanswered request, or a body whose answer has begun:
            # an answer here would be read as another request's
            self.transport.close()
            return
        payload, media = problem_bytes(self.url.decode("latin-1") if self.url else "", code,
                                       status, detail,
                                       [{"loc": ["header"], "msg": detail, "type": code}])
        reason = {400: b"Bad Request", 408: b"Request Timeout",
                  431: b"Request Header Fields Too Large"}[status]
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        head += [name + b": " + value + b"\r\n"
                 for name, value in self.server_state.default_headers]
        head += [b"content-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
                 % (media.encode(), len(payload))]
        self.transport.write(b"".join(head) + payload)
        self.transport.close()
        log.warning("%s %s from %s: %s", status, code, self._peer(), detail)

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "?"


class ServiceConfig(uvicorn.Config):
    """uvicorn's configuration with :class:`HeadLimitedProtocol` and its two bounds (a class of
    its own so that it travels to worker processes whole)."""

    def __init__(self, app: Any, *, max_header_bytes: int, header_timeout_s: float,
                 **kwargs: Any) -> None:
        super().__init__(app, http=HeadLimitedProtocol, **kwargs)
        self.max_header_bytes = max_header_bytes
        self.header_timeout_s = header_timeout_s


class GracefulServer(uvicorn.Server):
    """A uvicorn server whose graceful shutdown on SIGTERM/SIGINT exits with status 0.

    uvicorn re-raises the signal once it has drained in-flight requests, so the process would die
    with -15, which process managers and orchestrators read as a crash.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()  # drained: do not re-raise the signal
