"""client: the Python client (``service.client``) against a raw exchange of the same bytes.

    python -m bench client [--quick] [--sizes 1e3,1e5,1e6,1e7] [--encodings json,b64,binary]
                           [--transport wire|httpx] [--profile SIZE:ENCODING]

Why: most callers use ``service.client``; the time it adds to a request (building the body,
httpx, reading and decoding the answer) is theirs to pay on every call. Against one server
(``bench.apps:app``, 1 worker, started like ``loss-service serve``), for ``/gradient/cross_entropy``
with N x 10 float64 logits and int64 labels (N * 10 values), per encoding:

* ``raw``: ``http.client`` on a keep-alive connection sends the request bytes the client would
  send (built beforehand) and reads the answer's bytes, decoding nothing: the wire and the server;
* ``sync``: ``LossClient.gradient`` (arrays in, NumPy arrays out), ``per_sample=False``;
* ``async``: ``AsyncLossClient.gradient`` the same way, in one event loop.

Every request omits the response's duplicate ``gradient`` (the client always does) and the
per-sample breakdown. Best of several runs after a warm-up; nested JSON stops at 1e6 values
(seconds per request beyond). Target (issue 22): the client within 1.1x of ``raw`` from 1e5 values.
``--transport httpx`` gives the clients httpx's own transport (what they used before
:mod:`service.client_transport`), for a before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import http.client
import io
import pstats
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import numpy as np

from service.client import AsyncLossClient, LossClient, _request, build_request

from ._common import Targets, best_time, header, load, server

PATH = "/gradient/cross_entropy"
CLASSES = 10


def _threshold(encoding: str) -> int:
    return {"json": 1 << 62, "b64": 0, "binary": 0}[encoding]


def _raw(url: str, content: bytes, headers: dict[str, str]) -> Callable[[], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    sent = {"content-type": "application/json", "accept": "application/json", **headers}

    def exchange() -> bytes:
        conn.request("POST", PATH, body=content, headers=sent)
        response = conn.getresponse()
        data = response.read()
        assert response.status == 200, data[:300]
        return data

    return exchange


def _point(spec: str) -> tuple[int, str]:
    size, _, enc = spec.partition(":")
    return int(float(size)), enc


def _profiled(label: str, call: Callable[[], object], calls: int = 200) -> str:
    """The client's own time per call by function (cProfile: own time, top 15), the waits for
    the server (``recv_into`` and the like) included: what the client adds is the rest."""
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(calls):
        call()
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(15)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    return f"# profile of the sync client, {label}, {calls} calls (cProfile, own time):\n" + \
        "\n".join(lines[2:])


def run(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench client", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="up to 1e6 values")
    ap.add_argument("--sizes", help="comma-separated values per request (N * 10)")
    ap.add_argument("--encodings", default="json,b64,binary")
    ap.add_argument("--profile", metavar="SIZE:ENCODING",
                    help="also profile the sync client's calls at that point (cProfile, 200 "
                    "calls, the client's process only), e.g. 1e5:binary")
    ap.add_argument("--transport", choices=("wire", "httpx"), default="wire",
                    help="the clients' own transports (default) or httpx's (the one before)")
    args = ap.parse_args(argv)
    sizes = [int(float(s)) for s in (args.sizes or ("1e3,1e5,1e6" if args.quick
                                                    else "1e3,1e5,1e6,1e7")).split(",")]
    header("client", argv)
    targets = Targets()
    rng = np.random.default_rng(0)
    print("# ms, best of runs; x raw = client / raw")
    print(f"{'values':>8} {'encoding':8} {'raw':>9} {'sync':>9} {'async':>9} {'sync x raw':>10} "
          f"{'async x raw':>11}  verdict")
    profiles: list[str] = []
    loop = asyncio.new_event_loop()
    with server("bench.apps:app", lifetime_s=1800) as (url, _):
        own = args.transport == "wire"
        sync = {e: LossClient(url, b64_threshold=_threshold(e), timeout=120,
                              transport=None if own else httpx.HTTPTransport())
                for e in ("json", "b64", "binary")}
        asyn = {e: AsyncLossClient(url, b64_threshold=_threshold(e), timeout=120,
                                   transport=None if own else httpx.AsyncHTTPTransport())
                for e in ("json", "b64", "binary")}
        for size in sizes:
            n = size // CLASSES
            x = rng.normal(size=(n, CLASSES))
            y = rng.integers(0, CLASSES, size=n)
            for enc in args.encodings.split(","):
                if enc == "json" and size > 1_000_000:
                    continue
                mode = "binary" if enc == "binary" else None
                body = build_request(x, y, encoding=mode, b64_threshold=_threshold(enc),
                                     per_sample=False)
                content, extra = _request(body)
                budget = 1.0 if size >= 1_000_000 else 0.5
                raw = best_time(_raw(url, content, extra), budget_s=budget, min_runs=3)
                call = functools.partial(sync[enc].gradient, "cross_entropy", x, y,
                                         encoding=mode, per_sample=False)
                acall = functools.partial(asyn[enc].gradient, "cross_entropy", x, y,
                                          encoding=mode, per_sample=False)
                t_sync = best_time(call, budget_s=budget, min_runs=3)
                t_async = best_time(lambda f=acall: loop.run_until_complete(f()),
                                    budget_s=budget, min_runs=3)
                verdict = ""
                if size >= 100_000:
                    verdict = targets.at_most(f"{size:.0e} {enc}: sync / raw", t_sync / raw,
                                              1.1)
                    targets.at_most(f"{size:.0e} {enc}: async / raw", t_async / raw, 1.1)
                if args.profile and _point(args.profile) == (size, enc):
                    profiles.append(_profiled(f"{size:.0e} {enc}", call))
                print(f"{size:8.0e} {enc:8} {raw * 1e3:9.3f} {t_sync * 1e3:9.3f} "
                      f"{t_async * 1e3:9.3f} {t_sync / raw:9.2f}x {t_async / raw:10.2f}x  "
                      f"{verdict}", flush=True)
        for c in sync.values():
            c.close()
        for a in asyn.values():
            loop.run_until_complete(a.aclose())
    loop.close()
    print(f"# load average at end: {load()}")
    for report in profiles:
        print(report)
    return targets.summary()
