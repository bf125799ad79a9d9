"""small: throughput and latency of tiny requests, ``/loss/mse`` (10 values) against ``/ping``.

    python -m bench small [--quick] [--duration 3] [--workers 1,2] [--concurrency 1,16,64]
                          [--http auto|h11|httptools] [--loop auto|asyncio|uvloop]
                          [--client httpx|raw]

For 1 and 2 uvicorn workers (``bench.apps:app`` served like ``loss-service serve``) and
concurrency 1, 16 and 64, a load generator in its own process (``bench.loadgen``: async httpx,
keep-alive connections) sends requests back to back for ``--duration`` seconds after a warm-up,
first to ``GET /ping`` (the same app, middleware and settings; a fixed body), then to
``POST /loss/mse``. It reports req/s, p50 and p99 latency. ``--client raw`` swaps httpx for a
lighter client on asyncio streams (see ``bench.loadgen``).

Targets: ``/loss/mse`` at least 60% of ``/ping``'s req/s with the same settings; 2 workers at
least 1.6x the req/s of 1 worker (concurrency 16 and 64). The load generator runs on the same
machine and takes CPU from the server, which bounds what two workers can gain on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from ._common import ROOT, Targets, header, server

MSE_BODY = json.dumps({"predictions": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
                       "targets": [0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0, 1.0, 1.25]})


def _loadgen(url: str, concurrency: int, duration: float, body: str | None,
             client: str) -> dict[str, float]:
    cmd = [sys.executable, "-m", "bench.loadgen", url, "--concurrency", str(concurrency),
           "--duration", str(duration), "--client", client]
    if body is not None:
        cmd += ["--body", body]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=duration + 60,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench small", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1.5 s per point")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--http", default="auto")
    parser.add_argument("--loop", default="auto")
    parser.add_argument("--client", choices=("httpx", "raw"), default="httpx",
                        help="the load generator's client (raw: asyncio streams, lighter)")
    args = parser.parse_args(argv)
    duration = 1.5 if args.quick else args.duration
    header("small", argv)
    targets = Targets()
    print(f"# http={args.http} loop={args.loop} client={args.client}; {duration:g} s per point "
          "after 0.5 s warm-up")
    print(f"{'workers':>7} {'conc':>5} {'route':10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6}  verdict")
    mse_rps: dict[tuple[int, int], float] = {}
    for workers in (int(w) for w in args.workers.split(",")):
        with server("bench.apps:app", workers=workers, http=args.http, loop=args.loop,
                    lifetime_s=600) as (url, _):
            for conc in (int(c) for c in args.concurrency.split(",")):
                ping = _loadgen(f"{url}/ping", conc, duration, None, args.client)
                mse = _loadgen(f"{url}/loss/mse", conc, duration, MSE_BODY, args.client)
                mse_rps[(workers, conc)] = mse["rps"]
                ratio = mse["rps"] / ping["rps"] if ping["rps"] else 0.0
                verdict = f"mse/ping {ratio:.0%}: " + targets.at_least(
                    f"{workers} worker(s), concurrency {conc}: mse/ping req/s", ratio, 0.6)
                if workers > 1 and (1, conc) in mse_rps and conc > 1:
                    scale = mse["rps"] / mse_rps[(1, conc)]
                    verdict += f"; vs 1 worker {scale:.2f}x: " + targets.at_least(
                        f"concurrency {conc}: {workers} workers / 1 worker (mse req/s)", scale,
                        1.6)
                for route, r in (("/ping", ping), ("/loss/mse", mse)):
                    print(f"{workers:>7} {conc:>5} {route:10} {r['rps']:>8.0f} "
                          f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['errors']:>6}"
                          + (f"  {verdict}" if route == "/loss/mse" else ""), flush=True)
    return targets.summary()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
