"""json_parsers: decoding a nested-JSON array body into NumPy: orjson, the service's in-place
parser, simdjson.

    pip install pysimdjson==7.0.2          # optional (not a dependency of the service)
    python -m bench.json_parsers [--sizes 1e5,1e6]

For a body ``{"predictions": [[...] x 10] x N, "targets": [...N class indices]}`` (what the
transport suite sends as nested JSON), it times and measures, per size:

* ``orjson``: ``orjson.loads`` (collector paused) and ``np.asarray`` of both arrays, the
  ordinary JSON path;
* ``in place``: ``service.transport.json_in.parse_json`` (collector paused), which parses large
  arrays in slices straight into NumPy arrays (``service/transport/json_arrays.py``), the
  service's path for JSON bodies from 3 MiB (``JSON_INPLACE_BODY_BYTES``);
* ``simdjson`` (when installed): ``simdjson.Parser().parse`` and ``Array.as_buffer`` of both
  arrays (numbers written straight into a buffer, no Python object per number), copied into
  arrays;

and checks that all give identical arrays (values and dtypes). Times are the best of several
runs; memory is the peak resident size of a fresh process (which reads the body from a file)
that decodes the body once, above its resident size just before (``VmHWM`` after
``clear_refs``, as the memory suite), as a multiple of the decoded arrays' bytes. No target: the
numbers say what a parser that never builds a Python number per value saves.

Not what a simdjson service path would need on top: ``as_buffer`` flattens whatever nesting it
finds, so the shape and the rectangularity of every row would still have to be checked, and
bodies it cannot take (booleans, mixed integers and floats, ragged rows) parsed the ordinary
way.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.metadata
import subprocess
import sys
import tempfile
from typing import Any

import numpy as np
import orjson

from ._common import ROOT, best_time, header, tune_malloc

C = 10


def make_body(total: int) -> bytes:
    rng = np.random.default_rng(total)
    n = total // C
    obj = {"predictions": rng.standard_normal((n, C)), "targets": rng.integers(0, C, size=n)}
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def with_orjson(body: bytes) -> tuple[np.ndarray, np.ndarray]:
    gc.disable()
    try:
        obj = orjson.loads(body)
        return np.asarray(obj["predictions"]), np.asarray(obj["targets"])
    finally:
        gc.enable()


def with_in_place(body: bytes) -> tuple[np.ndarray, np.ndarray]:
    from service.transport.json_in import parse_json

    gc.disable()
    try:
        obj = parse_json(body)
        return np.asarray(obj["predictions"]), np.asarray(obj["targets"])
    finally:
        gc.enable()


def with_simdjson(body: bytes, parser: Any = None) -> tuple[np.ndarray, np.ndarray]:
    import simdjson

    doc = (parser or simdjson.Parser()).parse(body)
    p, t = doc["predictions"], doc["targets"]
    shape = (len(p), len(p[0]))
    x = np.frombuffer(p.as_buffer(of_type="d"), dtype=np.float64).reshape(shape).copy()
    y = np.frombuffer(t.as_buffer(of_type="i"), dtype=np.int64).copy()
    return x, y


def _peak(method: str, body: bytes) -> float:
    """Peak RSS (bytes) that decoding the body adds, measured in a fresh process that reads the
    body from a file (so that no freed memory of making it is there to be reused): the kernel's
    high-water mark reset (``/proc/self/clear_refs``) just before the decode, read just after."""
    code = (
        "import sys; from bench import json_parsers as j; "
        "f = j.METHODS[sys.argv[1]]; f(j.make_body(1000)); "
        "body = open(sys.argv[2], 'rb').read()\n"
        "def kib(key):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(key): return int(line.split()[1])\n"
        "open('/proc/self/clear_refs', 'w').write('5'); before = kib('VmRSS:')\n"
        "x, y = f(body); print((kib('VmHWM:') - before) * 1024)")
    with tempfile.NamedTemporaryFile(suffix=".json") as file:
        file.write(body)
        file.flush()
        out = subprocess.run([sys.executable, "-c", code, method, file.name], check=True,
                             capture_output=True, text=True, cwd=ROOT).stdout
    return float(out.strip())


METHODS = {"orjson": with_orjson, "in place": with_in_place, "simdjson": with_simdjson}


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.json_parsers", description=__doc__)
    parser.add_argument("--sizes", default="1e5,1e6", help="comma-separated value counts")
    args = parser.parse_args(argv)
    header("json_parsers", argv)
    tune_malloc()  # as the server
    try:
        import simdjson
        names = ["orjson", "in place", "simdjson"]
        print(f"# pysimdjson {importlib.metadata.version('pysimdjson')}", end="; ")
    except ImportError:
        names = ["orjson", "in place"]
        print("# pysimdjson not installed (pip install pysimdjson==7.0.2)", end="; ")
    print(f"orjson {orjson.__version__}; times: best of runs; x: orjson's time / that time; "
          "mem: peak RSS added by one decode in a fresh process / decoded bytes")
    print(f"{'values':>7} {'body MB':>8}" + "".join(
        f" {name + ' ms':>12} {'x':>5} {'mem':>5}" for name in names))
    for total in (int(float(s)) for s in args.sizes.split(",")):
        body = make_body(total)
        fns = {n: (functools.partial(with_simdjson, parser=simdjson.Parser())
                   if n == "simdjson" else METHODS[n]) for n in names}
        results = {n: fn(body) for n, fn in fns.items()}
        a = results["orjson"]
        for name, b in results.items():
            if not (np.array_equal(a[0], b[0]) and a[0].dtype == b[0].dtype
                    and np.array_equal(a[1], b[1]) and a[1].dtype == b[1].dtype):
                print(f"{total:.0e}: {name} disagrees with orjson")
                return 1
        decoded = a[0].nbytes + a[1].nbytes
        row = f"{total:>7.0e} {len(body) / 1e6:>8.2f}"
        base = 0.0
        for name in names:
            t = best_time(lambda body=body, f=fns[name]: f(body), budget_s=2.0)
            base = base or t
            row += f" {t * 1e3:>12.1f} {base / t:>4.1f}x {_peak(name, body) / decoded:>4.1f}x"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
