"""small: throughput and latency of small requests, against a bare FastAPI app's ``/ping``.

    python -m bench small [--quick] [--duration 3] [--workers 1,2] [--concurrency 1,16,64]
                          [--routes ping,healthz,mse,compare,diagnose,losses]
                          [--profile ROUTE]
                          [--http service|auto|h11|httptools] [--loop auto|asyncio|uvloop]
                          [--client httpx|raw]

Two servers run side by side, started the same way (``bench.serve``: the product's uvicorn
settings, logging and process tuning), with 1 and then 2 workers: a bare FastAPI app with one
``GET /ping`` (``bench.apps:bare``, the baseline) and the service (``bench.apps:app``). At
concurrency 1, 16 and 64 a load generator in its own process (``bench.loadgen``: async httpx,
keep-alive connections) sends requests back to back for ``--duration`` seconds after a warm-up,
first to the bare ``/ping``, then to each of the service's routes:

* ``ping``: the service's own ``GET /ping`` (its middleware and routing, a fixed body);
* ``healthz``: ``GET /healthz``;
* ``mse``: ``POST /loss/mse`` with 10 values;
* ``compare``: ``POST /compare``, a small grade that passes (cross_entropy, 3 x 3, value and
  per-sample);
* ``diagnose``: the same with docs/grading.md's wrong submission (a sum instead of a mean), which
  runs the mistake diagnosis (about a dozen variant evaluations);
* ``losses``: ``GET /losses`` (the catalog).

``--profile ROUTE`` also samples the server with py-spy (``pip install py-spy``) while that
route is loaded (1 worker, the largest concurrency) and prints the functions that take the most
time, by own time and by total time.

It reports req/s, p50 and p99 latency, and each route's req/s over the bare ``/ping``'s at the
same point. ``--client raw`` swaps httpx for a lighter client on asyncio streams.

Targets (issue 22): ``/loss/mse`` at least 0.8x and ``/healthz`` at least 0.9x the bare
``/ping``'s req/s, ``/compare`` at least 0.6x; 2 workers at least 1.6x the req/s of 1 worker
(``/loss/mse``, concurrency 16 and 64). The load generator runs on the same machine and takes
CPU from the server, which bounds what two workers can gain on 2 cores.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ._common import ROOT, Targets, header, server

MSE_BODY = json.dumps({"predictions": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
                       "targets": [0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0, 1.0, 1.25]})
_BATCH = {"loss": "cross_entropy", "predictions": [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0],
                                                    [2.2, 2.5, -3.1]], "targets": [0, 1, 2],
          "tolerance": {"preset": "numpy"}}
COMPARE_BODY = json.dumps({**_BATCH, "submission": {  # right: a grade that passes
    "value": 2.758654710918577,
    "per_sample": [2.0403551528001698, 0.07913177829134899, 6.156477201664211]}})
DIAGNOSE_BODY = json.dumps({**_BATCH, "submission": {  # docs/grading.md: a sum, not a mean
    "value": 8.27596413275573,
    "per_sample": [2.0403551528001698, 0.07913177829134899, 6.156477201664211]}})
# route name: (path, body (None: GET), target ratio to the bare /ping, or None)
ROUTES: dict[str, tuple[str, str | None, float | None]] = {
    "ping": ("/ping", None, None),
    "healthz": ("/healthz", None, 0.9),
    "mse": ("/loss/mse", MSE_BODY, 0.8),
    "compare": ("/compare", COMPARE_BODY, 0.6),
    "diagnose": ("/compare", DIAGNOSE_BODY, None),
    "losses": ("/losses", None, None),
}


def _loadgen(url: str, concurrency: int, duration: float, body: str | None,
             client: str) -> dict[str, float]:
    cmd = [sys.executable, "-m", "bench.loadgen", url, "--concurrency", str(concurrency),
           "--duration", str(duration), "--client", client]
    if body is not None:
        cmd += ["--body", body]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=duration + 60,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _profiled(pid: int, run_load: Callable[[], dict[str, float]]) -> tuple[dict[str, float],
                                                                       str]:
    """``run_load()`` while py-spy samples process ``pid`` (the thread holding the GIL: where
    the CPU goes); the load's result and the report."""
    with tempfile.NamedTemporaryFile(suffix=".txt") as out:
        local = Path(sys.executable).with_name("py-spy")  # the venv's, else the PATH's
        spy = subprocess.Popen([str(local) if local.exists() else "py-spy", "record", "--gil",
                                "--format", "raw", "--rate", "500", "--output", out.name,
                                "--pid", str(pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            result = run_load()
        finally:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        return result, top_frames(Path(out.name).read_text())


# frames that hold every request (the interpreter, the event loop, the server): not listed by
# total time, where they would only say 100 %
_OUTER = ("<frozen", "asyncio/", "bench/", "uvicorn/_compat", "uvicorn/server", "uvloop/")


def top_frames(collapsed: str, n: int = 15) -> str:
    """The ``n`` functions with the most samples of their own and in total (a function counted
    once per stack), from py-spy's collapsed stacks (``frame;frame;... count`` lines)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [re.sub(r"\(\S*?(site-packages|python3\.\d+)/", "(", f).replace(f"{ROOT}/", "")
                  for f in stack.split(";")]
        samples += int(count)
        own[frames[-1]] += int(count)
        for f in set(frames):
            if not f.split(" (", 1)[-1].startswith(_OUTER):
                total[f] += int(count)
    lines = [f"# py-spy: {samples} samples"]
    for title, counts in (("own", own), ("total", total)):
        lines.append(f"# top {n} by {title} time (% of samples):")
        lines += [f"#   {100 * c / max(samples, 1):5.1f}%  {f}" for f, c in counts.most_common(n)]
    return "\n".join(lines)


def _row(workers: int, conc: int, route: str, r: dict[str, float], extra: str = "") -> None:
    print(f"{workers:>7} {conc:>5} {route:14} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} "
          f"{r['p99_ms']:>8.2f} {r['errors']:>6}{extra}", flush=True)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench small", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1.5 s per point")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--profile", choices=tuple(ROUTES),
                        help="sample the server with py-spy while this route is loaded")
    parser.add_argument("--http", default="service",
                        help="uvicorn --http: service (the product's), auto, h11, httptools")
    parser.add_argument("--loop", default="auto")
    parser.add_argument("--client", choices=("httpx", "raw"), default="httpx",
                        help="the load generator's client (raw: asyncio streams, lighter)")
    args = parser.parse_args(argv)
    duration = 1.5 if args.quick else args.duration
    routes = [r for r in args.routes.split(",") if r]
    unknown = set(routes) - set(ROUTES)
    if unknown:
        parser.error(f"unknown routes {sorted(unknown)}; choose from {', '.join(ROUTES)}")
    header("small", argv)
    targets = Targets()
    print(f"# http={args.http} loop={args.loop} client={args.client}; {duration:g} s per point "
          "after 0.5 s warm-up; x bare = req/s / the bare FastAPI app's /ping req/s")
    print(f"{'workers':>7} {'conc':>5} {'route':14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6}  x bare")
    mse_rps: dict[tuple[int, int], float] = {}
    profiles: list[str] = []
    for workers in (int(w) for w in args.workers.split(",")):
        opts = {"workers": workers, "http": args.http, "loop": args.loop, "lifetime_s": 900}
        concurrencies = [int(c) for c in args.concurrency.split(",")]
        with server("bench.apps:bare", ready_path="/ping", **opts) as (bare_url, _), \
                server("bench.apps:app", **opts) as (url, proc):
            for conc in concurrencies:
                bare = _loadgen(f"{bare_url}/ping", conc, duration, None, args.client)
                _row(workers, conc, "bare /ping", bare)
                for name in routes:
                    path, body, target = ROUTES[name]
                    load = functools.partial(_loadgen, f"{url}{path}", conc, duration, body,
                                             args.client)
                    if args.profile == name and workers == 1 and conc == max(concurrencies):
                        r, report = _profiled(proc.pid, load)
                        profiles.append(f"# {path} ({name}), concurrency {conc}:\n{report}")
                    else:
                        r = load()
                    ratio = r["rps"] / bare["rps"] if bare["rps"] else 0.0
                    extra = f"  {ratio:.2f}x"
                    if target is not None:
                        extra += ": " + targets.at_least(
                            f"{workers} worker(s), concurrency {conc}: {path} / bare /ping "
                            "req/s", ratio, target)
                    if name == "mse":
                        mse_rps[(workers, conc)] = r["rps"]
                        if workers > 1 and conc > 1 and (1, conc) in mse_rps:
                            scale = r["rps"] / mse_rps[(1, conc)]
                            extra += f"; vs 1 worker {scale:.2f}x: " + targets.at_least(
                                f"concurrency {conc}: {workers} workers / 1 worker (mse req/s)",
                                scale, 1.6)
                    _row(workers, conc, "/compare diag" if name == "diagnose" else path, r, extra)
    for report in profiles:
        print(report)
    return targets.summary()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
