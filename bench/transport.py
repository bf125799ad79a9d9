"""transport: end-to-end HTTP time of ``/gradient/cross_entropy`` per wire encoding and size.

    python -m bench transport [--quick] [--sizes 1e3,1e6] [--naive-max 1e6]
                              [--omit gradient,per_sample]

For 1e3, 1e5, 1e6 and 1e7 values (predictions of shape (N, 10) and N class indices), sent as
nested JSON lists, as flat tensor objects (``{"shape", "dtype", "data"}``), as b64 tensors
(with ``"encoding": "b64"`` for the response) and in the binary tensor format
(``application/octet-stream``: a JSON header, then the arrays' bytes; the response in the same
format), it times

* end to end: a client (``http.client`` on a keep-alive connection: the lightest in the standard
  library, so the time is the server's and the wire's) POSTs the body to the service
  (``bench.apps:app`` served by ``bench.serve`` exactly as ``loss-service serve`` does: 1 worker)
  and reads the whole response;
* the in-process lower bound of the same work in this process: ``orjson.loads`` (collector
  paused), ``np.asarray`` (or base64 decoding, or ``np.frombuffer``), ``engine.run`` (forward +
  gradient) and ``orjson.dumps`` of the same response body (or base64 encoding; the binary
  format's header and the arrays' bytes), no HTTP;
* the naive app (``bench.naive_app``: pydantic ``list[list[float]]``, default JSON response),
  nested JSON only, up to ``--naive-max`` values (default 1e6: at 1e7 it takes minutes and GBs).

``--omit`` adds ``"omit": [...]`` to every request (and leaves the same fields out of the lower
bound's response); the naive app, which has no such option, is then not run.

Targets: JSON (nested and flat) end to end within 1.25x of the lower bound; at 1e6 values, the
service at least 3x faster than the naive app (nested JSON) and b64 at least 10x faster than
nested JSON. The binary format has no target of its own: its row shows what it saves over b64
(``b64/bin``: b64 end to end over binary end to end, at every size).
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

from service.transport import binary as binary_body

from ._common import Targets, best_time, fmt_ms, gc_paused, header, server, tune_malloc

SIZES = (1_000, 100_000, 1_000_000, 10_000_000)
QUICK_SIZES = (1_000, 100_000, 1_000_000)
C = 10
ENCODINGS = ("nested", "data", "b64", "binary")


def make_case(total: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(total)
    n = total // C
    return rng.standard_normal((n, C)), rng.integers(0, C, size=n)


JSON_HEADERS = {"content-type": "application/json"}


def body_for(x: np.ndarray, y: np.ndarray, encoding: str,
             omit: tuple[str, ...] = ()) -> tuple[bytes, dict[str, str]]:
    """The request body and its headers."""
    if encoding == "binary":
        parts, length = binary_body.pack({"predictions": x, "targets": y,
                                          **({"omit": list(omit)} if omit else {})})
        return b"".join(parts), {"content-type": binary_body.MEDIA_TYPE,
                                 binary_body.HEADER_LENGTH: str(length)}
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
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY), JSON_HEADERS


def lower_bound(body: bytes, encoding: str, omit: tuple[str, ...] = (),
                headers: dict[str, str] = JSON_HEADERS) -> Any:
    """The same work without HTTP: parse, arrays, compute, the response body (for the binary
    format: the response's header, and its arrays' own memory to send after it)."""
    from service import engine

    x, y = _arrays(body, encoding, headers)
    ev = engine.run("cross_entropy", {"predictions": x, "targets": y}, want_grad=True,
                    want_per_sample="per_sample" not in omit).evaluation
    g = ev.gradients["predictions"] if ev.gradients else None

    def enc(a: Any) -> Any:
        if a is None or encoding not in ("b64", "binary"):
            return a
        if encoding == "binary":
            return {"shape": list(a.shape), "dtype": a.dtype.name, "binary_data_size": a.nbytes}
        return {"shape": list(a.shape), "dtype": a.dtype.name,
                "b64": pybase64.b64encode(a).decode("ascii")}

    out = {"loss": "cross_entropy", "value": float(ev.value), "reduction": "mean",
           "per_sample": enc(ev.per_sample), "n_samples": ev.n_samples, "params": ev.params,
           "dtype": "float64", "backend": "numpy", "gradients": {"predictions": enc(g)},
           "gradient": enc(g)}
    for field in omit:
        del out[field]
    if encoding == "binary":
        sent = [a for a, key in ((ev.per_sample, "per_sample"), (g, "gradients"), (g, "gradient"))
                if a is not None and key in out]
        return [orjson.dumps(out), *(memoryview(a) for a in sent)]
    return orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)


def _arrays(body: bytes, encoding: str,
            headers: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The request's arrays: parsed (collector paused), decoded, or viewed in place."""
    if encoding == "binary":
        obj = binary_body.unpack(body, int(headers[binary_body.HEADER_LENGTH]))
        return obj["predictions"], obj["targets"]
    with gc_paused():
        obj = orjson.loads(body)
        p, t = obj["predictions"], obj["targets"]
        if encoding == "nested":
            return np.asarray(p), np.asarray(t)
        if encoding == "data":
            return np.asarray(p["data"]).reshape(p["shape"]), np.asarray(t["data"]).reshape(
                t["shape"])
        x = np.frombuffer(pybase64.b64decode(p["b64"], validate=True), "<f8")
        y = np.frombuffer(pybase64.b64decode(t["b64"], validate=True), "<i8")
        return x.reshape(p["shape"]), y.reshape(t["shape"])


def _post_time(url: str, path: str, body: bytes, budget: float,
               headers: dict[str, str]) -> float:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=600)

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
    parser.add_argument("--http", default="service",
                        help="uvicorn --http: service (the product's), auto, h11, httptools")
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
                body, headers = body_for(x, y, encoding, omit)
                lb = best_time(lambda b=body, e=encoding, h=headers: lower_bound(b, e, omit, h),
                               budget_s=budget)
                t = _post_time(url, "/gradient/cross_entropy", body, budget, headers)
                e2e[encoding] = t
                naive_txt, ratio_txt = "-", "-"
                verdict = ""
                if encoding == "binary":
                    ratio_txt = f"{e2e['b64'] / t:.2f}x"
                    verdict = f"b64/bin {ratio_txt}, nested/bin {e2e['nested'] / t:.1f}x"
                elif encoding != "b64":
                    verdict = targets.at_most(f"{encoding} JSON {total:.0e} values: e2e / lower "
                                              "bound", t / lb, 1.25)
                if encoding == "nested" and total <= args.naive_max and not omit:
                    tn = _post_time(naive_url, "/gradient/cross_entropy", body, budget, headers)
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
