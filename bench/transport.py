"""transport: end-to-end HTTP time of ``/gradient/cross_entropy`` per wire encoding and size.

    python -m bench transport [--quick] [--sizes 1e3,1e6] [--naive-max 1e6]
                              [--omit gradient,per_sample]

For 1e3, 1e5, 1e6 and 1e7 values (predictions of shape (N, 10) and N class indices), sent as
nested JSON lists, as flat tensor objects (``{"shape", "dtype", "data"}``) and as b64 tensors
(with ``"encoding": "b64"`` for the response), it times

* end to end: a client (``http.client`` on a keep-alive connection: the lightest in the standard
  library, so the time is the server's and the wire's) POSTs the body to the service
  (``bench.apps:app`` served by ``bench.serve`` exactly as ``loss-service serve`` does: 1 worker)
  and reads the whole response;
* the in-process lower bound of the same work in this process: ``orjson.loads`` (collector
  paused), ``np.asarray`` (or base64 decoding), ``engine.run`` (forward + gradient) and
  ``orjson.dumps`` of the same response body (or base64 encoding), no HTTP;
* the naive app (``bench.naive_app``: pydantic ``list[list[float]]``, default JSON response),
  nested JSON only, up to ``--naive-max`` values (default 1e6: at 1e7 it takes minutes and GBs).

``--omit`` adds ``"omit": [...]`` to every request (and leaves the same fields out of the lower
bound's response); the naive app, which has no such option, is then not run.

Targets: JSON (nested and flat) end to end within 1.25x of the lower bound; at 1e6 values, the
service at least 3x faster than the naive app (nested JSON) and b64 at least 10x faster than
nested JSON.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import sys
from typing import Any

import numpy as np
import orjson
import pybase64

from ._common import Targets, best_time, fmt_ms, gc_paused, header, server, tune_malloc

SIZES = (1_000, 100_000, 1_000_000, 10_000_000)
QUICK_SIZES = (1_000, 100_000, 1_000_000)
C = 10
ENCODINGS = ("nested", "data", "b64")


def make_case(total: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(total)
    n = total // C
    return rng.standard_normal((n, C)), rng.integers(0, C, size=n)


def body_for(x: np.ndarray, y: np.ndarray, encoding: str, omit: tuple[str, ...] = ()) -> bytes:
    if encoding == "nested":
        obj: dict[str, Any] = {"predictions": x, "targets": y}
    elif encoding == "data":
        obj = {"predictions": {"shape": list(x.shape), "dtype": "float64", "data": x.ravel()},
               "targets": {"shape": list(y.shape), "dtype": "int64", "data": y}}
    else:
        obj = {"predictions": {"shape": list(x.shape), "dtype": "float64",
                               "b64": base64.b64encode(x.tobytes()).decode()},
               "targets": {"shape": list(y.shape), "dtype": "int64",
                           "b64": base64.b64encode(y.tobytes()).decode()},
               "encoding": "b64"}
    if omit:
        obj["omit"] = list(omit)
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def lower_bound(body: bytes, encoding: str, omit: tuple[str, ...] = ()) -> bytes:
    """The same work without HTTP: parse, arrays, compute, the response body."""
    from service import engine

    with gc_paused():
        obj = orjson.loads(body)
        p, t = obj["predictions"], obj["targets"]
        if encoding == "nested":
            x, y = np.asarray(p), np.asarray(t)
        elif encoding == "data":
            x = np.asarray(p["data"]).reshape(p["shape"])
            y = np.asarray(t["data"]).reshape(t["shape"])
        else:
            x = np.frombuffer(pybase64.b64decode(p["b64"], validate=True), "<f8")
            y = np.frombuffer(pybase64.b64decode(t["b64"], validate=True), "<i8")
            x, y = x.reshape(p["shape"]), y.reshape(t["shape"])
        del obj, p, t
    ev = engine.run("cross_entropy", {"predictions": x, "targets": y}, want_grad=True,
                    want_per_sample="per_sample" not in omit).evaluation
    g = ev.gradients["predictions"] if ev.gradients else None

    def enc(a: Any) -> Any:
        if encoding != "b64" or a is None:
            return a
        return {"shape": list(a.shape), "dtype": a.dtype.name,
                "b64": pybase64.b64encode(a).decode("ascii")}

    out = {"loss": "cross_entropy", "value": float(ev.value), "reduction": "mean",
           "per_sample": enc(ev.per_sample), "n_samples": ev.n_samples, "params": ev.params,
           "dtype": "float64", "backend": "numpy", "gradients": {"predictions": enc(g)},
           "gradient": enc(g)}
    for field in omit:
        del out[field]
    return orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)


def _post_time(url: str, path: str, body: bytes, budget: float) -> float:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=600)
    headers = {"content-type": "application/json"}

    def once() -> None:
        conn.request("POST", path, body, headers)
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"{url}{path}: {r.status} {data[:300]!r}")

    try:
        return best_time(once, budget_s=budget)
    finally:
        conn.close()


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench transport", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="up to 1e6 values")
    parser.add_argument("--sizes", default=None, help="comma-separated value counts")
    parser.add_argument("--naive-max", type=float, default=1e6)
    parser.add_argument("--omit", default="", help="response fields every request omits, "
                        "comma-separated: per_sample, gradient (the naive app is then skipped)")
    parser.add_argument("--http", default="auto", help="uvicorn --http (auto, h11, httptools)")
    parser.add_argument("--loop", default="auto", help="uvicorn --loop (auto, asyncio, uvloop)")
    args = parser.parse_args(argv)
    header("transport", argv)
    tune_malloc()  # this process computes the lower bound: tuned like the server
    sizes = ([int(float(s)) for s in args.sizes.split(",")] if args.sizes
             else QUICK_SIZES if args.quick else SIZES)
    targets = Targets()
    omit = tuple(f for f in args.omit.split(",") if f)
    if omit:
        print(f"# every request omits: {', '.join(omit)} (naive app skipped)")
    print("# times in ms (best of runs); e2e/lb = end to end / in-process lower bound")
    print(f"{'values':>7} {'encoding':8} {'body MB':>8} {'lower bd':>9} {'e2e':>9} {'e2e/lb':>7}"
          f" {'naive':>9} {'naive/e2e':>9}  verdict")
    with server("bench.apps:app", http=args.http, loop=args.loop, lifetime_s=3000) as (url, _), \
            server("bench.naive_app:app", http=args.http, loop=args.loop,
                   lifetime_s=3000) as (naive_url, _):
        for total in sizes:
            x, y = make_case(total)
            budget = 1.5 if total <= 1_000_000 else 0.0  # 1e6: 5 to 50 runs
            e2e: dict[str, float] = {}
            for encoding in ENCODINGS:
                body = body_for(x, y, encoding, omit)
                lb = best_time(lambda b=body, e=encoding: lower_bound(b, e, omit),
                               budget_s=budget)
                t = _post_time(url, "/gradient/cross_entropy", body, budget)
                e2e[encoding] = t
                naive_txt, ratio_txt = "-", "-"
                verdict = ""
                if encoding != "b64":
                    verdict = targets.at_most(f"{encoding} JSON {total:.0e} values: e2e / lower "
                                              "bound", t / lb, 1.25)
                if encoding == "nested" and total <= args.naive_max and not omit:
                    tn = _post_time(naive_url, "/gradient/cross_entropy", body, budget)
                    naive_txt, ratio_txt = fmt_ms(tn), f"{tn / t:.1f}x"
                    if total == 1_000_000:
                        v = targets.at_least("nested JSON 1e6 values: naive app / service",
                                             tn / t, 3.0)
                        verdict += f"; vs naive {v}"
                if encoding == "b64" and total == 1_000_000:
                    ratio = e2e["nested"] / t
                    verdict = "b64 vs nested " + targets.at_least(
                        "1e6 values: nested JSON / b64 end to end", ratio, 10.0) + \
                        f" ({ratio:.1f}x)"
                print(f"{total:>7.0e} {encoding:8} {len(body) / 1e6:>8.2f} {fmt_ms(lb):>9} "
                      f"{fmt_ms(t):>9} {t / lb:>6.2f}x {naive_txt:>9} {ratio_txt:>9}  {verdict}",
                      flush=True)
    return targets.summary()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
