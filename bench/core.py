"""core: the loss core against PyTorch CPU autograd and against the exp-bound, per loss family.

    python -m bench core [--quick] [--families cross_entropy,mse] [--dtypes float64]
                         [--sizes 1e3,1e5] [--threads 1,2] [--no-malloc-tuning]

For every family, shape (N*C in 1e3, 1e5, 1e6, 1e7; C in 10 and 1000 where a class or feature
axis applies, else (N, 10)) and dtype (float32, float64), it times in this process

* ours, forward: ``service.engine.run(name, arrays, dtype=...)`` (validation included), and
  forward + gradient (``want_grad=True``), both with the default reduction (mean) and the
  per-sample breakdown (the API's default); and value + gradient (``want_per_sample=False``,
  what a request with ``"omit": ["per_sample"]`` computes), which is what torch computes;
* the exp-bound: one ``np.exp`` over an array of N*C values of the dtype (a fresh result);

and in one subprocess per torch thread count (``torch.set_num_threads``, with
``THP_MEM_ALLOC_ENABLE=1``) the ``torch.nn.functional`` equivalent forward (under ``no_grad``)
and forward + autograd backward to every differentiable input, on the same arrays (regenerated
there from the same seed). Every time is the best of several runs after a warm-up; the cases run
one after the other in all processes, so each row's ratios come from the same minutes.

Targets: forward + gradient at least 2x faster than the faster torch configuration on every
row; cross_entropy forward + gradient within 3x of the exp-bound. Both are judged like for like,
on our value + gradient (``v+g``); ``ps x`` is what the per-sample breakdown adds (``f+g`` /
``v+g``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._common import ROOT, Targets, best_time, fmt_ms, header, tune_malloc


@dataclass(frozen=True)
class Family:
    loss: str  # the service's name
    classes: tuple[int, ...]  # C values; (10,) with per_class False means shape (N, 10)
    per_class: bool  # whether C is a class/feature axis (else the loss is elementwise)


FAMILIES: dict[str, Family] = {
    "cross_entropy": Family("cross_entropy", (10, 1000), True),
    "bce_with_logits": Family("binary_cross_entropy_with_logits", (10,), False),
    "mse": Family("mse", (10,), False),
    "huber": Family("huber", (10,), False),
    "multi_margin": Family("multi_margin", (10, 1000), True),
    "triplet_margin": Family("triplet_margin", (10, 1000), True),
    "sigmoid_focal": Family("sigmoid_focal", (10,), False),
}
SIZES = (1_000, 100_000, 1_000_000, 10_000_000)
QUICK_SIZES = (1_000, 100_000, 1_000_000)


def make_inputs(family: str, n: int, c: int, dtype: str) -> dict[str, np.ndarray]:
    """The arrays of one case (deterministic: the torch subprocess rebuilds the same ones)."""
    rng = np.random.default_rng(zlib.crc32(f"{family}/{n}/{c}/{dtype}".encode()))
    dt = np.dtype(dtype)

    def normal(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=dt)

    if family in ("cross_entropy", "multi_margin"):
        return {"predictions": normal(n, c), "targets": rng.integers(0, c, size=n)}
    if family in ("bce_with_logits", "sigmoid_focal"):
        return {"predictions": normal(n, c), "targets": rng.integers(0, 2, size=(n, c)).astype(dt)}
    if family in ("mse", "huber"):
        return {"predictions": normal(n, c), "targets": normal(n, c)}
    if family == "triplet_margin":
        return {"anchor": normal(n, c), "positive": normal(n, c), "negative": normal(n, c)}
    raise ValueError(family)


def _torch_fn(family: str) -> tuple[Callable[..., Any], tuple[str, ...]]:
    """The torch equivalent (mean reduction) and its differentiable inputs."""
    import torch
    import torch.nn.functional as F

    def sigmoid_focal(predictions: Any, targets: Any) -> Any:
        # torchvision.ops.sigmoid_focal_loss (alpha=0.25, gamma=2), reduction="mean"
        p = torch.sigmoid(predictions)
        ce = F.binary_cross_entropy_with_logits(predictions, targets, reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        loss = ce * ((1 - p_t) ** 2)
        alpha_t = 0.25 * targets + 0.75 * (1 - targets)
        return (alpha_t * loss).mean()

    table: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {
        "cross_entropy": (lambda predictions, targets: F.cross_entropy(predictions, targets),
                          ("predictions",)),
        "bce_with_logits": (lambda predictions, targets: F.binary_cross_entropy_with_logits(
            predictions, targets), ("predictions",)),
        "mse": (lambda predictions, targets: F.mse_loss(predictions, targets), ("predictions",)),
        "huber": (lambda predictions, targets: F.huber_loss(predictions, targets, delta=1.0),
                  ("predictions",)),
        "multi_margin": (lambda predictions, targets: F.multi_margin_loss(predictions, targets),
                         ("predictions",)),
        "triplet_margin": (lambda anchor, positive, negative: F.triplet_margin_loss(
            anchor, positive, negative), ("anchor", "positive", "negative")),
        "sigmoid_focal": (sigmoid_focal, ("predictions",)),
    }
    return table[family]


def _torch_worker(threads: int) -> int:
    """Read cases (JSON lines) on stdin; answer each with its torch times (JSON lines)."""
    import torch

    torch.set_num_threads(threads)
    print(json.dumps({"ready": torch.__version__}), flush=True)
    for line in sys.stdin:
        case = json.loads(line)
        arrays = make_inputs(case["family"], case["n"], case["c"], case["dtype"])
        fn, diff = _torch_fn(case["family"])
        t = {k: torch.from_numpy(v) for k, v in arrays.items()}

        def forward(fn: Callable[..., Any] = fn, t: dict[str, Any] = t) -> None:
            with torch.no_grad():
                fn(**t)

        def forward_backward(fn: Callable[..., Any] = fn, t: dict[str, Any] = t,
                             diff: tuple[str, ...] = diff) -> None:
            leaves = {k: v.detach().requires_grad_() if k in diff else v for k, v in t.items()}
            fn(**leaves).backward()

        budget = case["budget"]
        out = {"fwd": best_time(forward, budget_s=budget),
               "fb": best_time(forward_backward, budget_s=budget)}
        print(json.dumps(out), flush=True)
    return 0


class _TorchProc:
    def __init__(self, threads: int):
        env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "1"}
        self.threads = threads
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.core", "--torch-worker", str(threads)], cwd=ROOT,
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def wait_ready(self) -> None:
        """Block until the worker has imported torch (seconds of CPU on both cores), so that
        no timing of ours runs while it starts."""
        assert self.proc.stdout is not None
        if "ready" not in json.loads(self.proc.stdout.readline() or "{}"):
            raise RuntimeError(f"the torch worker ({self.threads} threads) did not start")

    def run(self, case: dict[str, Any]) -> dict[str, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the torch worker ({self.threads} threads) died")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _budget(total: int) -> float:
    return 0.4 if total <= 1_000_000 else 0.0  # large cases: warm-up + 2 runs


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench core", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="N*C up to 1e6 only")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--sizes", default=None, help="comma-separated N*C, e.g. 1e3,1e6")
    parser.add_argument("--threads", default="1,2", help="torch thread counts, one process each")
    parser.add_argument("--no-malloc-tuning", action="store_true",
                        help="keep glibc's malloc defaults (the server tunes them)")
    parser.add_argument("--torch-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.torch_worker is not None:
        return _torch_worker(args.torch_worker)

    from service import engine
    from service.config import get_settings
    from service.losses import accel
    from service.losses.accel import parallel
    from service.losses.accel.table import MIN_SIZE, ROWS

    header("core", argv)
    tuned = {} if args.no_malloc_tuning else tune_malloc()
    settings = get_settings()  # as the server: LOSS_SERVICE_FUSED, LOSS_SERVICE_KERNEL_THREADS
    accel.configure(kernels=settings.fused, threads=settings.kernel_threads)
    compile_s = accel.warm_up()  # compiled (or loaded from numba's cache) before any timing
    if accel.active():
        import numba

        names = ", ".join(ROWS)
        print(f"# fused kernels: on (numba {numba.__version__}; {compile_s:.1f} s to compile or "
              f"load, from {MIN_SIZE} elements: {names}); kernel threads: "
              f"{accel.settings().threads} (LOSS_SERVICE_KERNEL_THREADS, from "
              f"{parallel.MIN_PARALLEL_ELEMENTS} elements)")
    else:
        print("# fused kernels: off (" + ("LOSS_SERVICE_FUSED=0" if accel.AVAILABLE
                                          else "numba is not installed") + ")")
    print(f"# malloc: {tuned or 'glibc defaults'}; times are best-of-runs in ms; f+g: forward + "
          "gradient with the per-sample breakdown (the API's default), v+g: value + gradient "
          "only (omit per_sample; what torch computes); ps x = f+g / v+g; speedup = torch best "
          "(fwd+grad) / ours v+g; /exp = ours v+g / exp")
    sizes = ([int(float(s)) for s in args.sizes.split(",")] if args.sizes
             else QUICK_SIZES if args.quick else SIZES)
    torch_procs = [_TorchProc(int(t)) for t in args.threads.split(",")]
    for proc in torch_procs:
        proc.wait_ready()
    targets = Targets()
    cols = (f"{'family':16} {'C':>5} {'N*C':>6} {'dtype':7} {'ours fwd':>9} {'ours f+g':>9} "
            f"{'ours v+g':>9} {'ps x':>6} "
            + " ".join(f"{f'torch{p.threads} f+g':>11}" for p in torch_procs)
            + f" {'exp':>8} {'fwd x':>6} {'speedup':>7} {'/exp':>6}  verdict")
    print(cols)
    try:
        for total in sizes:
            for dtype in args.dtypes.split(","):
                for fam in args.families.split(","):
                    family = FAMILIES[fam]
                    for c in family.classes:
                        n = max(total // c, 1)
                        arrays = make_inputs(fam, n, c, dtype)
                        budget = _budget(total)

                        def ours(want_grad: bool, per_sample: bool = True,
                                 arrays: dict[str, np.ndarray] = arrays,
                                 family: Family = family, dtype: str = dtype) -> None:
                            engine.run(family.loss, arrays, dtype=dtype, want_grad=want_grad,
                                       want_per_sample=per_sample)

                        fwd = best_time(lambda: ours(False), budget_s=budget)
                        fbps = best_time(lambda: ours(True), budget_s=budget)
                        fb = best_time(lambda: ours(True, False), budget_s=budget)
                        big = next(iter(arrays.values()))
                        exp = best_time(lambda big=big: np.exp(big), budget_s=budget)
                        case = {"family": fam, "n": n, "c": c, "dtype": dtype, "budget": budget}
                        theirs = [p.run(case) for p in torch_procs]
                        best_fb = min(r["fb"] for r in theirs)
                        best_fwd = min(r["fwd"] for r in theirs)
                        speedup = best_fb / fb
                        label = f"{fam} C={c if family.per_class else '-'} N*C={total:.0e} {dtype}"
                        verdict = targets.at_least(f"{label}: speedup vs torch", speedup, 2.0)
                        per_exp = fb / exp
                        if fam == "cross_entropy":
                            v2 = targets.at_most(f"{label}: fwd+grad / exp-bound", per_exp, 3.0)
                            verdict = f"{verdict}; /exp {v2}"
                        print(f"{fam:16} {c if family.per_class else '-':>5} {total:>6.0e} "
                              f"{dtype:7} {fmt_ms(fwd):>9} {fmt_ms(fbps):>9} {fmt_ms(fb):>9} "
                              f"{fbps / fb:>5.2f}x "
                              + " ".join(f"{fmt_ms(r['fb']):>11}" for r in theirs)
                              + f" {fmt_ms(exp):>8} {best_fwd / fwd:>5.1f}x {speedup:>6.2f}x "
                              f"{per_exp:>5.1f}x  {verdict}", flush=True)
    finally:
        for p in torch_procs:
            p.close()
    return targets.summary()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
