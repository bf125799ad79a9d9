"""NumPy vs CuPy through the engine (copies included), and the crossover size ``auto`` should use.

    python -m bench.gpu [--sizes 1e4,...,1e8] [--repeats 5] [--dtype float64]

For cross_entropy (forward + gradient, C = 10 and 1000) and mse (forward + gradient), at N*C
elements from 1e4 to 1e8, it times ``engine.run`` on ``numpy`` (the path the service serves: the
fused kernels where numba is installed) and on ``cupy`` (one host-to-device copy in, the core on
the device, one device-to-host copy out, as the service does) and prints the ratio numpy/cupy. For
the GPU it also splits the time into its phases (pack + copy in, compute, copy out), measured
separately with the device synchronized. The crossover is the smallest size from which the GPU
wins for every loss at that size and every larger one; set it as ``LOSS_SERVICE_GPU_MIN_ELEMENTS``.
Runs only where CuPy sees a CUDA device; elsewhere it says why and exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from service import engine
from service.backends import availability, get_backend
from service.losses import accel, evaluate
from service.tuning import tune_malloc

DEFAULT_SIZES = "1e4,3e4,1e5,3e5,1e6,3e6,1e7,3e7,1e8"


def _time(fn: Callable[[], object], repeats: int, budget_s: float = 2.0) -> float:
    """Median of up to ``repeats`` timed calls after one warm-up (CuPy and numba compile on first
    use); fewer calls when they would take longer than ``budget_s`` in all."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(max(1, min(repeats, int(budget_s / max(first, 1e-9))))):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _cases(total: int) -> list[tuple[str, dict[str, np.ndarray]]]:
    rng = np.random.default_rng(0)
    cases = []
    for c in (10, 1000):
        n = max(total // c, 1)
        cases.append((f"cross_entropy C={c}", {
            "predictions": rng.normal(size=(n, c)), "targets": rng.integers(0, c, size=n)}))
    cases.append(("mse", {"predictions": rng.normal(size=total),
                          "targets": rng.normal(size=total)}))
    return cases


def _phases(name: str, inputs: dict[str, np.ndarray], dtype: str,
            repeats: int) -> tuple[float, float, float]:
    """(copy in, compute, copy out) seconds of one evaluation on the CuPy backend."""
    import cupy

    backend = get_backend("cupy")
    sync = cupy.cuda.get_current_stream().synchronize

    def copy_in() -> dict:
        dev = backend.to_device(inputs)
        sync()
        return dev

    dev = copy_in()

    def compute() -> dict:
        ev = evaluate(name, dev, dtype=dtype, want_grad=True)
        sync()
        return {"value": ev.value, "per_sample": ev.per_sample, **ev.gradients}

    results = compute()
    t_in = _time(copy_in, repeats)
    t_compute = _time(compute, repeats)
    t_out = _time(lambda: backend.to_host(results), repeats)
    return t_in, t_compute, t_out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"comma-separated element counts (default {DEFAULT_SIZES})")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--copy-threads", type=int, default=None,
                        help="threads of the CuPy backend's host copies (default: its own)")
    args = parser.parse_args(argv)
    tune_malloc()  # the server's malloc settings (service/tuning.py), for both backends
    status = availability()["cupy"]
    if not status["available"]:
        print(f"skipped: the CuPy backend is not usable here ({status['reason']})")
        return 0
    import cupy

    if args.copy_threads is not None:
        get_backend("cupy").copy_threads = args.copy_threads
    print(f"device: {status.get('device')}; CuPy {cupy.__version__}; NumPy {np.__version__}; "
          f"CPU path: {'fused kernels (numba)' if accel.active() else 'NumPy'}; "
          f"dtype {args.dtype}; copy threads {get_backend('cupy').copy_threads}")
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    wins: dict[int, bool] = {}
    print(f"{'loss':22} {'elements':>9} {'numpy ms':>10} {'cupy ms':>9} {'numpy/cupy':>10}"
          f"   cupy phases ms: {'in':>7} {'compute':>8} {'out':>7}")
    for total in sizes:
        wins[total] = True
        for label, inputs in _cases(total):
            name = label.split()[0]
            t_np = _time(lambda n=name, i=inputs: engine.run(
                n, i, dtype=args.dtype, want_grad=True, backend="numpy"), args.repeats)
            t_cp = _time(lambda n=name, i=inputs: engine.run(
                n, i, dtype=args.dtype, want_grad=True, backend="cupy"), args.repeats)
            t_in, t_compute, t_out = _phases(name, inputs, args.dtype, args.repeats)
            ratio = t_np / t_cp
            wins[total] &= ratio > 1.0
            print(f"{label:22} {total:>9.0e} {t_np * 1e3:>10.2f} {t_cp * 1e3:>9.2f} "
                  f"{ratio:>9.2f}x   {'':16}{t_in * 1e3:>7.2f} {t_compute * 1e3:>8.2f} "
                  f"{t_out * 1e3:>7.2f}", flush=True)
            cupy.get_default_memory_pool().free_all_blocks()
    crossover = next((s for s in sizes if all(wins[t] for t in sizes if t >= s)), None)
    if crossover is None:
        print("the GPU did not win at any measured size: keep LOSS_SERVICE_BACKEND=numpy")
    else:
        print(f"crossover: LOSS_SERVICE_GPU_MIN_ELEMENTS={crossover}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
