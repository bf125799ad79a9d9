"""NumPy vs CuPy through the engine (copies included), and the crossover size ``auto`` should use.

    python -m bench.gpu [--max-elements 1e8] [--repeats 5]

For cross_entropy (forward + gradient, C = 10 and 1000) and mse (forward + gradient), at N*C from
1e5 to 1e8 elements, it times ``engine.run`` on ``numpy`` and on ``cupy`` (one host-to-device copy
in, one device-to-host copy out, as the service does) and prints the ratio numpy/cupy. The
crossover is the smallest size from which the GPU wins for every loss; set it as
``LOSS_SERVICE_GPU_MIN_ELEMENTS``. Runs only where CuPy sees a CUDA device; elsewhere it says why
and exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from service import engine
from service.backends import availability


def _time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (CuPy compiles kernels on first use)
    times = []
    for _ in range(repeats):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-elements", type=float, default=1e8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    status = availability()["cupy"]
    if not status["available"]:
        print(f"skipped: the CuPy backend is not usable here ({status['reason']})")
        return 0
    print(f"device: {status.get('device')}")
    sizes = [int(s) for s in (1e5, 1e6, 1e7, 1e8) if s <= args.max_elements]
    wins: dict[int, bool] = {}
    print(f"{'loss':24} {'elements':>10} {'numpy s':>10} {'cupy s':>10} {'numpy/cupy':>11}")
    for total in sizes:
        wins[total] = True
        for label, inputs in _cases(total):
            name = label.split()[0]
            t_np = _time(lambda n=name, i=inputs: engine.run(n, i, want_grad=True,
                                                             backend="numpy"), args.repeats)
            t_cp = _time(lambda n=name, i=inputs: engine.run(n, i, want_grad=True,
                                                             backend="cupy"), args.repeats)
            ratio = t_np / t_cp
            wins[total] &= ratio > 1.0
            print(f"{label:24} {total:>10.0e} {t_np:>10.4f} {t_cp:>10.4f} {ratio:>10.2f}x")
    crossover = next((s for s in sizes if all(wins[t] for t in sizes if t >= s)), None)
    if crossover is None:
        print("the GPU did not win at any measured size: keep LOSS_SERVICE_BACKEND=numpy")
    else:
        print(f"crossover: LOSS_SERVICE_GPU_MIN_ELEMENTS={crossover}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
