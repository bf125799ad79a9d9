"""kernels: what each numba kernel is worth, against the reference it replaces.

    python -m bench kernels [--quick] [--sizes 1e4,1e5,1e6] [--dtypes float64,float32]
                            [--losses cross_entropy,mse]

Why: the acceleration layer (``service/losses/accel/``) is code kept only because it is faster.
For every loss in its table (``accel.table.ROWS``), rows of 10, this times
``service.engine.run`` with the kernels on and with them off (the reference: what serves below
each kernel's threshold and where numba is absent), value + gradient (``v+g``, no per-sample
breakdown) and forward + gradient with it (``f+g``), alternating on/off within each case so both
see the same minutes; best of runs. A kernel that is not clearly faster (``numpy/kernel`` near
1) should go.
"""

from __future__ import annotations

import argparse
import functools

import numpy as np

from service.engine import run as run_loss
from service.losses import accel
from service.losses.registry import get_loss

from ._common import best_time, header, load

ON = accel.Acceleration(kernels=True, threads=1)
REFERENCE = accel.OFF
ROUNDS = 3  # on, off, off, on, on, off: the best of each


def run(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench kernels", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1e4 and 1e5 values only")
    ap.add_argument("--sizes", help="comma-separated values per call (rows of 10)")
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--losses", help="comma-separated losses of the table (default: all)")
    args = ap.parse_args(argv)
    header("kernels", argv)
    if not accel.AVAILABLE:
        print("# numba is not installed: no kernels to measure (pip install -e '.[fast]')")
        return 1
    accel.configure(kernels=True, threads=1)
    print(f"# warm-up (compile or load every kernel): {accel.warm_up():.1f} s")
    sizes = args.sizes or ("1e4,1e5" if args.quick else "1e4,1e5,1e6")
    rng = np.random.default_rng(0)
    print(f"# times in ms, best of runs; rows of 10; ratio = reference / kernel\n"
          f"{'loss':34s} {'dtype':8s} {'values':>8s} {'pass':4s} {'kernel':>9s} "
          f"{'reference':>10s} {'ratio':>7s}")
    losses = args.losses.split(",") if args.losses else list(accel.table.ROWS)
    unknown = set(losses) - set(accel.table.ROWS)
    if unknown:
        ap.error(f"not in the acceleration table: {', '.join(sorted(unknown))}")
    for loss in losses:
        spec = get_loss(loss)
        for dtype in args.dtypes.split(","):
            for size in (int(float(s)) for s in sizes.split(",")):
                inputs = accel.sample_inputs(spec, rng, size // 10, 10, dtype)
                for label, per_sample in (("v+g", False), ("f+g", True)):
                    best = {"kernel": np.inf, "reference": np.inf}
                    for r in range(2 * ROUNDS):
                        name = ("kernel", "reference")[(r + r // 2) % 2]
                        acc = ON if name == "kernel" else REFERENCE
                        call = functools.partial(run_loss, loss, inputs, dtype=dtype,
                                                 want_grad=True, want_per_sample=per_sample,
                                                 acceleration=acc)
                        best[name] = min(best[name], best_time(call, budget_s=0.1))
                    k, ref = best["kernel"], best["reference"]
                    print(f"{loss:34s} {dtype:8s} {size:8.0e} {label:4s} {k * 1e3:9.3f} "
                          f"{ref * 1e3:10.3f} {ref / k:6.2f}x", flush=True)
    print(f"# load average at end: {load()}")
    return 0
