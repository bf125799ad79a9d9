"""An async load generator (run in its own process by the small-requests suite).

    python -m bench.loadgen URL --concurrency 16 --duration 3 [--body JSON] [--warmup 0.5]
                            [--client httpx|raw]

``concurrency`` tasks send requests back to back (POST with ``--body``, else GET) on as many
keep-alive connections for ``--duration`` seconds after a warm-up. ``httpx`` (the default): one
shared ``httpx.AsyncClient``; ``raw``: HTTP/1.1 written and read on asyncio streams, about 5x less
client CPU per request, for when httpx itself is the bottleneck (it is on 2 cores). Prints one
JSON line: requests, errors, req/s, p50 and p99 latency in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable

import httpx


async def _raw_connection(url: str, body: bytes | None
                          ) -> Callable[[], Awaitable[bool]]:
    """A keep-alive HTTP/1.1 connection; the returned coroutine function sends one request."""
    host, _, rest = url.removeprefix("http://").partition(":")
    port, _, path = rest.partition("/")
    reader, writer = await asyncio.open_connection(host, int(port))
    if body is None:
        request = f"GET /{path} HTTP/1.1\r\nhost: {host}\r\n\r\n".encode()
    else:
        request = (f"POST /{path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json"
                   f"\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body

    async def once() -> bool:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        return head.startswith(b"HTTP/1.1 200")

    return once


async def _load(url: str, body: bytes | None, concurrency: int, warmup: float,
                duration: float, client_kind: str = "httpx") -> dict[str, float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        start = time.perf_counter()
        measure_from = start + warmup
        stop = measure_from + duration

        async def worker() -> None:
            nonlocal errors
            raw = await _raw_connection(url, body) if client_kind == "raw" else None
            while True:
                t0 = time.perf_counter()
                if t0 >= stop:
                    return
                try:
                    if raw is not None:
                        ok = await raw()
                    elif body is None:
                        ok = (await client.get(url)).status_code == 200
                    else:
                        r = await client.post(url, content=body, headers=headers)
                        ok = r.status_code == 200
                except (httpx.HTTPError, OSError, asyncio.IncompleteReadError):
                    ok = False
                t1 = time.perf_counter()
                if t0 >= measure_from and t1 <= stop:
                    if ok:
                        latencies.append(t1 - t0)
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.sort()
    n = len(latencies)

    def pct(q: float) -> float:
        return latencies[min(n - 1, int(q * n))] * 1e3 if n else float("nan")

    return {"requests": n, "errors": errors, "rps": n / duration, "p50_ms": pct(0.50),
            "p99_ms": pct(0.99)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--body", default=None)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--client", choices=("httpx", "raw"), default="httpx")
    args = parser.parse_args(argv)
    body = args.body.encode() if args.body is not None else None
    result = asyncio.run(_load(args.url, body, args.concurrency, args.warmup, args.duration,
                               args.client))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
