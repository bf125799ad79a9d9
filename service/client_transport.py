"""An httpx transport on the standard library's ``http.client``, for the synchronous client.

Why: httpx's own transport (httpcore + h11) reads an answer in 64 KiB pieces, parses each with
h11 and joins them, and copies a request body given in parts into one buffer: for a 10 MB answer
that was about 8 ms of the client's time, more than half of what the exchange itself takes
(``python -m bench client``, bench/README.md). Here a request's parts are written to the socket
as they are and the answer is read into one buffer of its ``Content-Length``; httpx keeps
everything else (the client API, headers, timeouts' values, the typed exceptions the client's
retries read). Plain ``http://`` only: ``https://`` URLs keep httpx's transport (TLS settings).

Connections are kept alive per host and reused; one that the server closed while it was idle
is noticed on its next use and that request is sent once more on a new connection (the
service's calls are pure). Chunked answers and request bodies without a length work too.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterable

import httpx

KEEPALIVE_S = 2.0  # an idle connection older than this is closed, not reused (see service.client)
MAX_IDLE = 20  # idle connections kept per host


class WireTransport(httpx.BaseTransport):
    """httpx's transport interface on ``http.client`` connections (``http://`` only)."""

    def __init__(self, keepalive_s: float = KEEPALIVE_S, max_idle: int = MAX_IDLE):
        self.keepalive_s = keepalive_s
        self.max_idle = max_idle
        self._idle: dict[tuple[str, int], list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"{type(self).__name__} serves http:// only",
                                            request=request)
        key = (request.url.host, request.url.port or 80)
        timeouts = request.extensions.get("timeout", {})
        conn, reused = self._checkout(key, timeouts.get("connect"))
        try:
            response = self._exchange(conn, request, timeouts)
        except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError):
            conn.close()
            if not reused:
                raise
            conn, _ = self._checkout(key, timeouts.get("connect"), fresh=True)
            try:
                response = self._exchange(conn, request, timeouts)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise
        status, headers, content, keep = response
        if keep:
            self._checkin(key, conn)
        else:
            conn.close()
        return httpx.Response(status, headers=headers, content=content, request=request)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn, _ in conns:
                conn.close()

    def _checkout(self, key: tuple[str, int], connect_timeout: float | None,
                  fresh: bool = False) -> tuple[http.client.HTTPConnection, bool]:
        now = time.monotonic()
        if not fresh:
            with self._lock:
                conns = self._idle.get(key, [])
                while conns:
                    conn, since = conns.pop()
                    if now - since < self.keepalive_s:
                        return conn, True
                    conn.close()
        conn = http.client.HTTPConnection(key[0], key[1], timeout=connect_timeout)
        try:
            conn.connect()
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, False

    def _checkin(self, key: tuple[str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            conns = self._idle.setdefault(key, [])
            if len(conns) < self.max_idle:
                conns.append((conn, time.monotonic()))
                return
        conn.close()

    @staticmethod
    def _exchange(conn: http.client.HTTPConnection, request: httpx.Request,
                  timeouts: dict[str, float | None]
                  ) -> tuple[int, list[tuple[str, str]], bytes, bool]:
        """Send ``request`` and read its whole answer: (status, headers, body, keep-alive)."""
        conn.sock.settimeout(timeouts.get("write"))
        chunked = "transfer-encoding" in request.headers
        try:
            conn.putrequest(request.method, request.url.raw_path.decode("ascii"),
                            skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.raw:
                conn.putheader(name.decode("latin-1"), value.decode("latin-1"))
            conn.endheaders()
            _send_body(conn, request.stream, chunked)  # type: ignore[arg-type]
        except TimeoutError as exc:
            raise httpx.WriteTimeout(str(exc), request=request) from exc
        except OSError as exc:
            raise httpx.WriteError(str(exc), request=request) from exc
        conn.sock.settimeout(timeouts.get("read"))
        try:
            answer = conn.getresponse()
            content = answer.read()
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        except (http.client.RemoteDisconnected, http.client.BadStatusLine,
                http.client.IncompleteRead) as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc
        # (http.client has undone a chunked answer: its headers must not say so any more)
        headers = [(k, v) for k, v in answer.getheaders() if k.lower() != "transfer-encoding"]
        return answer.status, headers, content, not answer.will_close


def _send_body(conn: http.client.HTTPConnection, stream: Iterable[bytes], chunked: bool) -> None:
    for part in stream:
        if not len(part):
            continue
        if chunked:
            conn.send(b"%x\r\n" % len(memoryview(part).cast("B")))
            conn.send(part)
            conn.send(b"\r\n")
        else:
            conn.send(part)
    if chunked:
        conn.send(b"0\r\n\r\n")
