"""load: a mixed load at concurrency 1, 16 and 64, then a soak; errors and server memory growth.

    python -m bench load [--quick] [--duration 10] [--concurrency 1,16,64] [--soak 300]
                         [--soak-concurrency 16] [--workers 1] [--seed 0] [--hostile]

A live server (``bench.apps:app`` served like ``loss-service serve``, on 127.0.0.1) gets a mix of
small and large requests from async clients in this process, each request drawn at random (seeded)
from this mix:

=======  ======  ==========================================================================
share    kind    request
=======  ======  ==========================================================================
50%      small   ``POST /loss/mse``, 10 values (nested JSON)
25%      small   ``POST /gradient/cross_entropy``, 8x5 logits (nested JSON)
15%      medium  ``POST /gradient/huber``, 1e4 values (tensor objects with flat data)
7%       large   ``POST /gradient/cross_entropy``, 1e5x10 logits (b64 in and out)
3%       bad     a request with a class index out of range: must be answered 422, counted
                 as expected (any other status is an error)
=======  ======  ==========================================================================

``--hostile`` replaces 10% of that mix with requests a hostile client (or a student's code) would
send, one share each of: class indices that wrap in int32 (``4294967297``), a float32 overflow,
a 3.5 MiB body of 40,000 ``"data":`` keys inside an array (the in-place scan's worst case), a
3.5 MiB ragged nested array, a body whose first row is wide and followed by 500,000 ``],``
(an allocation sized from counts), arrays nested 1,000 deep, a ``/compare`` submission nested 495
deep, and a slow upload (a socket that declares a 256 MiB body, sends 15 bytes, waits a second and
hangs up). Each must be answered with a 4xx (the slow upload: anything but a 5xx, or no answer);
a 5xx is an error.

First ``--duration`` seconds at each concurrency (req/s, p50/p99 latency per kind, errors), then a
soak of ``--soak`` seconds at ``--soak-concurrency`` with the server's RSS (all its processes)
sampled every 30 s. An error is any failed connection, timeout, or a status other than 200 (422
for the bad kind). Targets: 0 errors; RSS growth over the soak under 10%. The first RSS reading
follows ``--soak-warmup`` seconds of the same load: the allocator keeps freed large buffers for
reuse (``LOSS_SERVICE_MALLOC_TUNING``), so RSS first climbs to the high-water mark of the
concurrent large requests and then stays there; a leak would keep climbing after it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from ._common import Targets, header, server

KEEPALIVE_S = 2.0  # the clients' keep-alive expiry (see _drive)
HOSTILE = 4  # Kind.expect for a hostile request: any 4xx is the right answer, a 5xx an error


@dataclass(frozen=True)
class Kind:
    name: str
    path: str
    body: bytes
    share: float
    expect: int = 200  # the status, or HOSTILE
    slow_upload: bool = False  # send the headers and 15 bytes of ``body``, then hang up

    def accepts(self, status: int) -> bool:
        return 400 <= status < 500 if self.expect == HOSTILE else status == self.expect


def _b64(a: np.ndarray) -> dict[str, object]:
    return {"shape": list(a.shape), "dtype": str(a.dtype),
            "b64": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()}


def _nested(depth: int) -> str:
    return "[" * depth + "1.0" + "]" * depth


def _hostile(share: float) -> list[Kind]:
    """The hostile kinds of issue 17, ``share`` of the requests in all (see the docstring)."""
    logits = [[0.1, 0.2, 0.3, 0.4, 0.5], [0.5, 0.4, 0.3, 0.2, 0.1]]
    wrap = {"predictions": logits,
            "targets": {"shape": [2], "dtype": "int32", "data": [1, 4294967297]}}
    f32 = {"predictions": [1e39, 0.0], "targets": [0.0, 0.0], "dtype": "float32"}
    keys = b'{"predictions": [1, ' + b'"data": [1, ' * 40_000 + b'1], "targets": [1]}'
    keys += b" " * max(0, (7 << 19) - len(keys))  # 3.5 MiB: the in-place parser's size
    rows = ",".join(["[" + ",".join(["0"] * 1000) + "]"] + ["[0]"] * 900_000)
    ragged = f'{{"predictions": [{rows}], "targets": [0]}}'.encode()
    wide = "[[" + ",".join(["0"] * 1_500_000) + "]" + ",]" * 500_000 + "]"
    counts = f'{{"predictions": {wide}, "targets": [0]}}'.encode()
    deep = f'{{"predictions": {_nested(1000)}, "targets": {_nested(1000)}}}'.encode()
    compare = (f'{{"loss": "mse", "predictions": [1.0, 2.0], "targets": [1.0, 2.5], '
               f'"submission": {{"value": 0.125, "per_sample": {_nested(495)}}}}}').encode()
    upload = (b"POST /loss/mse HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
              b"content-length: 268435456\r\n\r\n" + b'{"predictions": ')
    kinds = [("int32wrap", "/loss/cross_entropy", json.dumps(wrap).encode()),
             ("f32overflow", "/loss/mse", json.dumps(f32).encode()),
             ("scankeys", "/loss/mse", keys),
             ("ragged", "/loss/mse", ragged),
             ("counts", "/loss/mse", counts),
             ("deep1000", "/loss/mse", deep),
             ("cmpdeep495", "/compare", compare)]
    each = share / (len(kinds) + 1)
    return [Kind(n, p, b, each, HOSTILE) for n, p, b in kinds] + [
        Kind("slowupload", "/loss/mse", upload, each, HOSTILE, slow_upload=True)]


def _mix(seed: int, hostile: bool = False) -> list[Kind]:
    rng = np.random.default_rng(seed)
    mse = {"predictions": rng.normal(size=10).round(6).tolist(),
           "targets": rng.normal(size=10).round(6).tolist()}
    ce_small = {"predictions": rng.normal(size=(8, 5)).round(6).tolist(),
                "targets": rng.integers(0, 5, 8).tolist()}
    x, y = rng.normal(size=10_000), rng.normal(size=10_000)
    huber = {"predictions": {"shape": [10_000], "data": x.tolist()},
             "targets": {"shape": [10_000], "data": y.tolist()}}
    ce_large = {"predictions": _b64(rng.normal(size=(100_000, 10))),
                "targets": _b64(rng.integers(0, 10, 100_000).astype(np.int64)),
                "encoding": "b64"}
    bad = {"predictions": [[0.1, 0.2], [0.3, 0.4]], "targets": [0, 7]}

    def enc(obj: object) -> bytes:
        return json.dumps(obj).encode()

    scale = 0.9 if hostile else 1.0
    return [
        Kind("mse10", "/loss/mse", enc(mse), 0.50 * scale),
        Kind("ce8x5", "/gradient/cross_entropy", enc(ce_small), 0.25 * scale),
        Kind("huber1e4", "/gradient/huber", enc(huber), 0.15 * scale),
        Kind("ce1e6b64", "/gradient/cross_entropy", enc(ce_large), 0.07 * scale),
        Kind("bad422", "/loss/cross_entropy", enc(bad), 0.03 * scale, expect=422),
    ] + (_hostile(0.10) if hostile else [])


async def _slow_upload(url: str, kind: Kind) -> int | None:
    """Declare a large body, send a few bytes, wait a second, hang up: the server's answer's
    status if it gave one in that second (None if it did not)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(kind.body)
        await writer.drain()
        try:
            line = await asyncio.wait_for(reader.readline(), 1.0)
        except TimeoutError:
            return None
        parts = line.split()
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)  # the first few error descriptions

    def ok(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if len(self.samples) < 5:
            self.samples.append(f"{kind}: {what}")

    @property
    def n_ok(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3


async def _drive(url: str, mix: list[Kind], concurrency: int, seconds: float, seed: int,
                 tally: Tally, on_tick: object = None) -> None:
    # keep-alive expiry below the server's (uvicorn: 5 s): at the same 5 s, a connection the
    # server closes as it is reused answers ReadError (9 in 200 s at concurrency 64, --hostile)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency,
                          keepalive_expiry=KEEPALIVE_S)
    headers = {"content-type": "application/json"}
    weights = [k.share for k in mix]
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:

        async def worker(index: int) -> None:
            rng = random.Random(seed * 1000 + index)
            while time.perf_counter() < stop:
                kind = rng.choices(mix, weights)[0]
                t0 = time.perf_counter()
                text = ""
                try:
                    if kind.slow_upload:
                        answer = await _slow_upload(url, kind)
                        status = 400 if answer is None else answer  # no answer: held, fine
                    else:
                        r = await client.post(kind.path, content=kind.body, headers=headers)
                        await r.aread()
                        status, text = r.status_code, r.text[:200]
                except (httpx.HTTPError, OSError) as exc:
                    tally.error(kind.name, f"{type(exc).__name__}: {exc}")
                    continue
                if kind.accepts(status):
                    tally.ok(kind.name, time.perf_counter() - t0)
                else:
                    tally.error(kind.name, f"status {status}: {text}")

        tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
        if on_tick is not None:
            tasks.append(asyncio.create_task(on_tick(stop)))  # type: ignore[operator]
        await asyncio.gather(*tasks)


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(c) for c in text]
    return out


def _rss_mib(pid: int) -> float:
    """Resident memory of the server: its process and every descendant (the workers)."""
    total_kb = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
            todo += _children(p)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total_kb / 1024


def _report(title: str, tally: Tally, seconds: float, mix: list[Kind]) -> None:
    print(f"\n{title}: {tally.n_ok / seconds:.1f} req/s ok, {tally.n_errors} errors")
    print(f"  {'kind':10} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for k in mix:
        lat = tally.latencies.get(k.name, [])
        print(f"  {k.name:10} {len(lat):>8} {len(lat) / seconds:>8.1f} {_pct(lat, 0.5):>8.2f} "
              f"{_pct(lat, 0.99):>8.2f} {tally.errors.get(k.name, 0):>6}")
    every = [x for v in tally.latencies.values() for x in v]
    print(f"  {'all':10} {len(every):>8} {len(every) / seconds:>8.1f} {_pct(every, 0.5):>8.2f} "
          f"{_pct(every, 0.99):>8.2f} {tally.n_errors:>6}")
    for s in tally.samples:
        print(f"  error: {s}")


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s per point, a 30 s soak")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--soak", type=float, default=300.0, help="seconds (0: no soak)")
    parser.add_argument("--soak-concurrency", type=int, default=16)
    parser.add_argument("--soak-warmup", type=float, default=30.0,
                        help="seconds at the soak's concurrency before the first RSS reading")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hostile", action="store_true",
                        help="10%% of the requests hostile (see above)")
    args = parser.parse_args(argv)
    duration = 3.0 if args.quick else args.duration
    soak = 30.0 if args.quick else args.soak
    soak_warmup = 10.0 if args.quick else args.soak_warmup
    header("load", argv)
    mix = _mix(args.seed, hostile=args.hostile)
    print("# mix: " + ", ".join(f"{k.name} {k.share:.0%} ({len(k.body) / 1024:.0f} KiB)"
                                for k in mix))
    targets = Targets()
    total_errors = 0
    with server("bench.apps:app", workers=args.workers, lifetime_s=soak + 600) as (url, proc):
        print(f"# server pid {proc.pid}, {args.workers} worker(s); RSS at start "
              f"{_rss_mib(proc.pid):.1f} MiB")
        for conc in (int(c) for c in args.concurrency.split(",")):
            tally = Tally()
            asyncio.run(_drive(url, mix, conc, duration, args.seed + conc, tally))
            _report(f"concurrency {conc}, {duration:g} s", tally, duration, mix)
            total_errors += tally.n_errors
        if soak > 0:
            warm = Tally()
            asyncio.run(_drive(url, mix, args.soak_concurrency, soak_warmup, args.seed + 2,
                               warm))
            total_errors += warm.n_errors
            print(f"\nsoak warm-up: {soak_warmup:g} s at concurrency {args.soak_concurrency}, "
                  f"{warm.n_ok} ok, {warm.n_errors} errors "
                  f"({', '.join(f'{k} {n}' for k, n in warm.errors.items()) or 'none'})")
            for sample in warm.samples:
                print(f"  error: {sample}")
            before = _rss_mib(proc.pid)
            print(f"\nsoak: {soak:g} s at concurrency {args.soak_concurrency}; RSS before "
                  f"{before:.1f} MiB")
            tally = Tally()

            async def tick(stop: float) -> None:
                start = time.perf_counter()
                while time.perf_counter() + 30 < stop:
                    await asyncio.sleep(30)
                    print(f"  t={time.perf_counter() - start:5.0f} s  RSS "
                          f"{_rss_mib(proc.pid):7.1f} MiB  ok {tally.n_ok}  errors "
                          f"{tally.n_errors}", flush=True)

            asyncio.run(_drive(url, mix, args.soak_concurrency, soak, args.seed + 1, tally,
                               on_tick=tick))
            after = _rss_mib(proc.pid)
            _report(f"soak, {soak:g} s", tally, soak, mix)
            total_errors += tally.n_errors
            growth = after / before - 1.0
            print(f"  RSS before {before:.1f} MiB, after {after:.1f} MiB: growth "
                  f"{growth * 100:+.1f}%  "
                  + targets.at_most("soak RSS growth", growth * 100, 10.0, unit="%"))
        print(f"\nerrors in all phases: {total_errors}  "
              + targets.at_most("errors", float(total_errors), 0.0, unit=""))
    return targets.summary()
