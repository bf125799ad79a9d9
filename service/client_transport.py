"""httpx transports on the standard library (``http.client``; the event loop's sockets), for the
clients.

Why: httpx's own transport (httpcore + h11) reads an answer in 64 KiB pieces, parses each with
h11 and joins them, and copies a request body given in parts into one buffer: for a 10 MB answer
that was about 8 ms of the client's time, more than half of what the exchange itself takes
(``python -m bench client``, bench/README.md). Here a request's parts are written to the socket
as they are and the answer is read into one buffer of its ``Content-Length``; httpx keeps
everything else (the client API, headers, timeouts' values, the typed exceptions the client's
retries read). :class:`WireTransport` serves :class:`service.client.LossClient`,
:class:`AsyncWireTransport` :class:`service.client.AsyncLossClient`. Plain ``http://`` only:
``https://`` URLs keep httpx's transport (TLS settings).

Connections are kept alive per host and reused; one that the server closed while it was idle
is noticed on its next use and that request is sent once more on a new connection (the
service's calls are pure). Chunked answers and request bodies without a length work too.
"""

from __future__ import annotations

import asyncio
import functools
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


class AsyncWireTransport(httpx.AsyncBaseTransport):
    """:class:`WireTransport` for the async client, on the event loop's ``sock_*`` calls
    (``http://`` only): the parts sent in turn, the answer received into one buffer of its
    length."""

    def __init__(self, keepalive_s: float = KEEPALIVE_S, max_idle: int = MAX_IDLE):
        self.keepalive_s = keepalive_s
        self.max_idle = max_idle
        self._idle: dict[tuple[str, int], list[tuple[_Stream, float]]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"{type(self).__name__} serves http:// only",
                                            request=request)
        key = (request.url.host, request.url.port or 80)
        timeouts = request.extensions.get("timeout", {})
        stream, reused = await self._checkout(key, timeouts.get("connect"))
        try:
            status, headers, content, keep = await stream.exchange(request, timeouts)
        except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError):
            stream.close()
            if not reused:
                raise
            stream, _ = await self._checkout(key, timeouts.get("connect"), fresh=True)
            try:
                status, headers, content, keep = await stream.exchange(request, timeouts)
            except BaseException:
                stream.close()
                raise
        except BaseException:
            stream.close()
            raise
        conns = self._idle.setdefault(key, [])
        if keep and len(conns) < self.max_idle:
            conns.append((stream, time.monotonic()))
        else:
            stream.close()
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for stream, _ in conns:
                stream.close()

    async def _checkout(self, key: tuple[str, int], connect_timeout: float | None,
                        fresh: bool = False) -> tuple[_Stream, bool]:
        now = time.monotonic()
        conns = [] if fresh else self._idle.get(key, [])
        while conns:
            stream, since = conns.pop()
            if now - since < self.keepalive_s and stream.idle_and_open():
                return stream, True
            stream.close()
        try:
            async with asyncio.timeout(connect_timeout):
                return _Stream(await _connect(*key)), False
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc


async def _connect(host: str, port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in await loop.getaddrinfo(host, port,
                                                                   type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise error


_PIECE = 1 << 16  # bytes asked of the socket at a time while reading an answer's head


class _Stream:
    """One keep-alive connection of :class:`AsyncWireTransport`: a non-blocking socket driven by
    the event loop's ``sock_*`` calls. Parts are sent as they are (no copy into a write buffer);
    an answer of known length is received straight into one buffer of that length (asyncio's
    StreamReader grew a buffer, sliced and copied it: 3 copies, ~3x ``raw`` at 1e7 values)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()  # received and not yet consumed
        self.loop = asyncio.get_running_loop()

    def close(self) -> None:
        self.sock.close()

    def idle_and_open(self) -> bool:
        """False when the server closed the connection (or sent something) while it was idle."""
        if self.buf:
            return False
        try:
            self.sock.recv(1, socket.MSG_PEEK)  # b"": closed; bytes: an answer nobody asked for
        except BlockingIOError:
            return True  # nothing to read: still open
        except OSError:
            pass
        return False

    async def _more(self) -> None:
        data = await self.loop.sock_recv(self.sock, _PIECE)
        if not data:
            raise asyncio.IncompleteReadError(bytes(self.buf), None)
        self.buf += data

    async def readuntil(self, separator: bytes, limit: int = 1 << 20) -> bytes:
        while (end := self.buf.find(separator)) < 0:
            if len(self.buf) > limit:
                raise ValueError(f"no {separator!r} in the answer's first {limit} bytes")
            await self._more()
        end += len(separator)
        out = bytes(self.buf[:end])
        del self.buf[:end]
        return out

    async def readexactly(self, n: int) -> bytes:
        if len(self.buf) >= n:
            out = bytes(self.buf[:n])
            del self.buf[:n]
            return out
        whole = bytearray(n)
        view = memoryview(whole)
        have = len(self.buf)
        view[:have] = self.buf
        self.buf.clear()
        while have < n:
            got = await self.loop.sock_recv_into(self.sock, view[have:])
            if not got:
                raise asyncio.IncompleteReadError(bytes(view[:have]), n)
            have += got
        view.release()
        return bytes(whole)

    async def read_to_end(self) -> bytes:
        try:
            while True:
                await self._more()
        except asyncio.IncompleteReadError:
            pass
        out, self.buf = bytes(self.buf), bytearray()
        return out

    async def exchange(self, request: httpx.Request, timeouts: dict[str, float | None]
                       ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        chunked = "transfer-encoding" in request.headers
        head = [b"%s %s HTTP/1.1\r\n" % (request.method.encode(), request.url.raw_path)]
        head += [b"%s: %s\r\n" % (k, v) for k, v in request.headers.raw]
        send = functools.partial(self.loop.sock_sendall, self.sock)
        try:
            async with asyncio.timeout(timeouts.get("write")):
                await send(b"".join(head) + b"\r\n")
                async for part in request.stream:  # type: ignore[union-attr]
                    size = len(memoryview(part).cast("B"))
                    if size:
                        await send(b"%x\r\n%s\r\n" % (size, bytes(part)) if chunked else part)
                if chunked:
                    await send(b"0\r\n\r\n")
        except TimeoutError as exc:
            raise httpx.WriteTimeout(str(exc), request=request) from exc
        except OSError as exc:
            raise httpx.WriteError(str(exc), request=request) from exc
        try:
            async with asyncio.timeout(timeouts.get("read")):
                return await self._answer(request)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        except (asyncio.IncompleteReadError, ValueError) as exc:
            raise httpx.RemoteProtocolError(f"the server's answer broke off: {exc}",
                                            request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc

    async def _answer(self, request: httpx.Request
                      ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        lines = (await self.readuntil(b"\r\n\r\n")).split(b"\r\n")
        version, status = lines[0].split(b" ", 2)[:2]
        headers = [tuple(x.strip() for x in line.split(b":", 1)) for line in lines[1:] if line]
        fields = {k.lower(): v for k, v in headers}
        if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            pieces = []
            while size := int((await self.readuntil(b"\r\n")).split(b";")[0], 16):
                pieces.append((await self.readexactly(size + 2))[:-2])
            while await self.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            content = b"".join(pieces)
            headers = [h for h in headers if h[0].lower() != b"transfer-encoding"]
        elif request.method == "HEAD" or int(status) in (204, 304):
            content = b""
        elif b"content-length" in fields:
            content = await self.readexactly(int(fields[b"content-length"]))
        else:  # no length: the answer ends with the connection
            content = await self.read_to_end()
            fields[b"connection"] = b"close"
        keep = version == b"HTTP/1.1" and fields.get(b"connection", b"").lower() != b"close"
        return int(status), headers, content, keep  # type: ignore[return-value]
