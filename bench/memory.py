"""memory: the server's peak RSS for one large request, per wire encoding.

    python -m bench memory [--quick] [--values 1e7] [--ordinary-parser]

One server (``bench.apps:app``, 1 worker, as ``loss-service serve``) answers one
``/gradient/cross_entropy`` request of ``--values`` predictions (shape (N, 10), float64, and N
int64 class indices) per encoding (nested JSON, flat tensor object, b64 tensors with a b64
response, the binary format both ways). Before each request the kernel's high-water mark of the
process is reset (``/proc/PID/clear_refs``), after it ``VmHWM`` is read: the peak minus the idle
RSS just before the request, divided by the request's decoded array bytes (8 bytes per value and
per index).

``--ordinary-parser`` serves the JSON encodings with large arrays parsed by orjson into Python
objects (as 3-D arrays and bodies with errors are), to show what in-place parsing saves.

Target: at most 4x the decoded array bytes above the idle server (the body itself, as bytes and
as parsed JSON, counts against it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx

from ._common import Targets, header, server
from .transport import ENCODINGS, body_for, make_case


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench memory", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1e6 values")
    parser.add_argument("--values", type=float, default=1e7)
    parser.add_argument("--ordinary-parser", action="store_true",
                        help="no in-place parsing of large JSON arrays (JSON encodings only)")
    args = parser.parse_args(argv)
    total = int(1e6 if args.quick else args.values)
    header("memory", argv)
    targets = Targets()
    x, y = make_case(total)
    decoded = x.nbytes + y.nbytes
    print(f"# {total:.0e} values: decoded arrays {decoded / 2**20:.1f} MiB (predictions "
          f"{x.shape} float64, targets {y.shape} int64)")
    print(f"{'encoding':8} {'body MiB':>9} {'idle MiB':>9} {'peak MiB':>9} {'above idle':>11} "
          f"{'x decoded':>9}  verdict")
    env = {"BENCH_ORDINARY_PARSER": "1"} if args.ordinary_parser else None
    json_only = ("nested", "data")
    for encoding in [e for e in ENCODINGS if not args.ordinary_parser or e in json_only]:
        body, headers = body_for(x, y, encoding)
        small, small_headers = body_for(x[:10], y[:10], encoding)
        with server("bench.apps:app", lifetime_s=900, env=env) as (url, proc), \
                httpx.Client(timeout=600) as client:
            r = client.post(f"{url}/gradient/cross_entropy", content=small, headers=small_headers)
            r.raise_for_status()
            idle = _status_kb(proc.pid, "VmRSS")
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # reset VmHWM to VmRSS
            r = client.post(f"{url}/gradient/cross_entropy", content=body, headers=headers)
            r.raise_for_status()
            peak = _status_kb(proc.pid, "VmHWM")
        above = (peak - idle) * 1024
        multiple = above / decoded
        verdict = targets.at_most(f"{encoding}: peak RSS above idle / decoded bytes", multiple, 4.0)
        print(f"{encoding:8} {len(body) / 2**20:>9.1f} {idle / 1024:>9.1f} {peak / 1024:>9.1f} "
              f"{above / 2**20:>10.1f}M {multiple:>8.2f}x  {verdict}", flush=True)
    return targets.summary()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
