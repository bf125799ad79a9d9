"""json_parsers: decoding a nested-JSON array body into NumPy, orjson against simdjson.

    pip install pysimdjson==7.0.2          # not a dependency of the service: this measures
    python -m bench.json_parsers [--sizes 1e5,1e6]   # whether it should become one

For a body ``{"predictions": [[...] x 10] x N, "targets": [...N class indices]}`` (what the
transport suite sends as nested JSON), it times and measures, per size:

* ``orjson``: ``orjson.loads`` (collector paused) and ``np.asarray`` of both arrays, the
  service's JSON path today;
* ``simdjson``: ``simdjson.Parser().parse`` and ``Array.as_buffer`` of both arrays (numbers
  written straight into a buffer, no Python object per number), copied into arrays;

and checks that both give identical arrays. Times are the best of several runs; memory is the
peak resident size of a fresh process that decodes the body once, above its resident size just
before (``VmHWM`` after ``clear_refs``, as the memory suite), as a multiple of the decoded
arrays' bytes. No target: the numbers say
how much a parser that never builds Python numbers would save (bench/README.md, "What is left").

Not what a service path would need on top: ``as_buffer`` flattens whatever nesting it finds, so
the shape and the rectangularity of every row would still have to be checked, and bodies it
cannot take (booleans, mixed integers and floats, ragged rows) parsed the ordinary way.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import subprocess
import sys
from typing import Any

import numpy as np
import orjson

from ._common import ROOT, best_time, header

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


def with_simdjson(body: bytes, parser: Any = None) -> tuple[np.ndarray, np.ndarray]:
    import simdjson

    doc = (parser or simdjson.Parser()).parse(body)
    p, t = doc["predictions"], doc["targets"]
    shape = (len(p), len(p[0]))
    x = np.frombuffer(p.as_buffer(of_type="d"), dtype=np.float64).reshape(shape).copy()
    y = np.frombuffer(t.as_buffer(of_type="i"), dtype=np.int64).copy()
    return x, y


def _peak(method: str, total: int) -> float:
    """Peak RSS (bytes) that decoding the body adds, measured in a fresh process: the kernel's
    high-water mark reset (``/proc/self/clear_refs``) just before the decode, read just after."""
    code = (
        "import sys; from bench.json_parsers import make_body, with_orjson, with_simdjson; "
        "f = with_orjson if sys.argv[1] == 'orjson' else with_simdjson; f(make_body(1000)); "
        "body = make_body(int(sys.argv[2]))\n"
        "def kib(key):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(key): return int(line.split()[1])\n"
        "open('/proc/self/clear_refs', 'w').write('5'); before = kib('VmRSS:')\n"
        "x, y = f(body); print((kib('VmHWM:') - before) * 1024)")
    out = subprocess.run([sys.executable, "-c", code, method, str(total)], check=True,
                         capture_output=True, text=True, cwd=ROOT).stdout
    return float(out.strip())


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.json_parsers", description=__doc__)
    parser.add_argument("--sizes", default="1e5,1e6", help="comma-separated value counts")
    args = parser.parse_args(argv)
    header("json_parsers", argv)
    try:
        import simdjson
    except ImportError:
        print("pysimdjson is not installed: pip install pysimdjson==7.0.2")
        return 0
    sj = simdjson.Parser()
    print(f"# pysimdjson {importlib.metadata.version('pysimdjson')}, orjson "
          f"{orjson.__version__}; times: best of runs; memory: peak RSS added by one decode in "
          "a fresh process / decoded bytes")
    print(f"{'values':>7} {'body MB':>8} {'orjson ms':>10} {'simdjson ms':>12} {'speedup':>8} "
          f"{'orjson mem':>11} {'simdjson mem':>13}")
    for total in (int(float(s)) for s in args.sizes.split(",")):
        body = make_body(total)
        a, b = with_orjson(body), with_simdjson(body, sj)
        if not (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])):
            print(f"{total:.0e}: the two parsers disagree")
            return 1
        decoded = a[0].nbytes + a[1].nbytes
        t_or = best_time(lambda body=body: with_orjson(body), budget_s=2.0)
        t_sj = best_time(lambda body=body: with_simdjson(body, sj), budget_s=2.0)
        m_or, m_sj = _peak("orjson", total) / decoded, _peak("simdjson", total) / decoded
        print(f"{total:>7.0e} {len(body) / 1e6:>8.2f} {t_or * 1e3:>10.1f} {t_sj * 1e3:>12.1f} "
              f"{t_or / t_sj:>7.1f}x {m_or:>10.1f}x {m_sj:>12.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
