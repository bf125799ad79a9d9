"""Process tuning for serving large arrays: glibc malloc settings and garbage-collector pauses.

**malloc.** Each request allocates and frees arrays of up to hundreds of MB. With glibc's
defaults, a block above the mmap threshold (adaptive, at most 32 MiB) is a fresh ``mmap`` that
is unmapped when freed, and threads of the request threadpool get their own arenas, whose heaps
cannot hold such blocks; so every large temporary is page-faulted in again on every request,
which costs more than computing on it (``python -m bench core`` measures a 1e7-value ``np.exp``
at about 2.5x its in-place time). :func:`tune_process` makes the threads share the main arena
and raises the mmap and trim thresholds, so freed blocks are reused. The cost: the server keeps
up to ``MALLOC_TRIM_THRESHOLD_`` bytes of freed memory instead of returning it at once.
Variables already set in the environment win; ``LOSS_SERVICE_MALLOC_TUNING=false`` turns it off.

**TCP_NODELAY.** asyncio sets ``TCP_NODELAY`` on a connection only when the listening socket
object says ``IPPROTO_TCP``; the socket uvicorn binds for several workers says 0, so with the
standard event loop every response (headers and body are written separately) met Nagle's
algorithm and the client's delayed ACK: 40 ms per request. :func:`tcp_listener` fixes the label.

**gc.** Parsing a large nested JSON array creates millions of lists, and CPython's cyclic
collector, triggered by their count, walks them again and again (1.3 to 2x the parse time). They
hold no cycles, so :func:`gc_paused` holds collection off while a large body is parsed and
evaluated; process-wide and reference-counted, so concurrent requests nest safely.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import os
import socket
import threading
from collections.abc import Iterator

from .config import Settings

# glibc mallopt parameters and the values set (the environment variable of each wins)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
MALLOC_SETTINGS: dict[str, tuple[int, int]] = {
    "MALLOC_ARENA_MAX": (_M_ARENA_MAX, 1),
    "MALLOC_MMAP_THRESHOLD_": (_M_MMAP_THRESHOLD, 1 << 30),
    "MALLOC_TRIM_THRESHOLD_": (_M_TRIM_THRESHOLD, 1 << 30),
}


def tune_malloc() -> dict[str, int]:
    """Apply :data:`MALLOC_SETTINGS` to this process (``mallopt``) and to the processes it
    starts (the environment variables glibc reads at start-up). Returns what was set; ``{}``
    where glibc is not the C library."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return {}
    applied = {}
    for env, (param, value) in MALLOC_SETTINGS.items():
        if env in os.environ:
            continue
        if mallopt(param, value) == 1:
            os.environ[env] = str(value)
            applied[env] = value
    return applied


def tune_process(settings: Settings) -> dict[str, int]:
    """The server's process tuning (``loss-service serve`` calls it before starting)."""
    return tune_malloc() if settings.malloc_tuning else {}


def tcp_listener(sock: socket.socket) -> socket.socket:
    """The same listening socket, labelled ``IPPROTO_TCP`` so that asyncio sets ``TCP_NODELAY``
    on the connections it accepts (uvloop sets it anyway)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
        return sock
    return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())


_lock = threading.Lock()
_paused = 0
_was_enabled = False


@contextlib.contextmanager
def gc_paused(active: bool = True) -> Iterator[None]:
    """No cyclic garbage collection inside the block (in any thread) when ``active``."""
    global _paused, _was_enabled
    if not active:
        yield
        return
    with _lock:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0 and _was_enabled:
                gc.enable()
