"""Acceleration: the ONE accelerated implementation of each loss that has one, and its switch.

The reference of every loss is its array-API code (the loss modules of :mod:`service.losses`);
it runs on every namespace and is what tests compare against. What lives here is only faster:

* :mod:`.table`: one row per accelerated loss (its kernels, parameters, size threshold, warm-up);
  below a row's ``min_size`` elements, and for every loss without a row, the reference runs;
* :mod:`.families`: which calls each family of kernels takes (all others: the reference);
* :mod:`.reduction`: the fused reduction's Python half (cotangent, value, the launch);
* :mod:`.parallel`: fixed chunks of rows, run on one or more threads with identical results;
* kernels (numba, the ``fast`` extra; imported on first use): :mod:`.elementwise_kernels`
  (one driver for every elementwise loss), :mod:`.ce_kernels` (cross-entropy family),
  :mod:`.margin_kernels` (margin family), on :mod:`.kernel_math` (compile options, exp, log).

The switch is explicit: :class:`Acceleration` says what may run (kernels, NumPy paths, kernel
threads). :func:`configure` sets the process's (the server's warm-up and the CLI, from
:class:`service.config.Settings`; nothing here reads the environment); a call of
:func:`service.losses.evaluate` or :func:`service.engine.run` may pass its own
(``acceleration=OFF``: the reference alone), which :func:`settings` then gives for that call.

Imports: NumPy, numba (kernel modules only), :mod:`service.casting`, :mod:`service.deadline`,
and from :mod:`service.losses` the spec types (the result type
:class:`~service.losses.spec.Evaluation` among them), :func:`..sigmoid_focal.focal_alpha` and
the registry (warm-up) — never :mod:`..evaluate`, which calls :func:`kernel_evaluation` here first.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import reduction as _reduction
from .table import ROWS

if TYPE_CHECKING:
    from ..spec import Evaluation, LossSpec

log = logging.getLogger("service.losses")


@dataclass(frozen=True)
class Acceleration:
    """What may run besides the reference: the numba ``kernels`` (``LOSS_SERVICE_FUSED``; where
    numba is installed) and the ``threads`` one kernel call may use
    (``LOSS_SERVICE_KERNEL_THREADS``; results are identical for any count)."""

    kernels: bool = True
    threads: int = 1


OFF = Acceleration(kernels=False)  # the reference alone
SETTINGS = Acceleration()  # the process's, set by configure()
_call: ContextVar[Acceleration | None] = ContextVar("acceleration", default=None)
AVAILABLE = importlib.util.find_spec("numba") is not None  # tests set it False: "no numba"
REDUCTIONS = ("none", "mean", "sum")
_kernels: dict[str, Any] | None = None


def configure(*, kernels: bool = True, threads: int = 1) -> Acceleration:
    """Set the process's acceleration (once, at start-up, from the settings); returns it."""
    global SETTINGS
    SETTINGS = Acceleration(kernels=kernels, threads=max(1, threads))
    return SETTINGS


def settings() -> Acceleration:
    """The acceleration of the call in progress: its own (:func:`using`), else the process's."""
    return _call.get() or SETTINGS


@contextmanager
def using(acceleration: Acceleration | None) -> Iterator[None]:
    """Run the block with ``acceleration`` (None: the process's)."""
    token = _call.set(acceleration)
    try:
        yield
    finally:
        _call.reset(token)


def active() -> bool:
    """Whether the kernels may run now (numba importable, kernels on)."""
    return AVAILABLE and settings().kernels


def kernels() -> dict[str, Any] | None:
    """Every kernel by name (importing numba on first use); None, and ``AVAILABLE`` off, if
    that fails."""
    global _kernels, AVAILABLE
    if _kernels is None:
        try:
            from . import ce_kernels, elementwise_kernels, margin_kernels
        except Exception:  # a broken numba install: keep serving on the reference
            log.warning("numba is installed but cannot be imported; fused kernels are off",
                        exc_info=True)
            AVAILABLE = False
            return None
        _kernels = {**elementwise_kernels.KERNELS, **ce_kernels.KERNELS,
                    **margin_kernels.KERNELS}
    return _kernels


def kernel_evaluation(spec: LossSpec, inputs: Mapping[str, Any], params: dict[str, Any],
                      reduction: str, sample_weight: Any, dtype: str, want_grad: bool,
                      want_per_sample: bool = True) -> Evaluation | None:
    """The evaluation by the loss's kernel, or None where the reference must run (no row, too
    small, kernels off, or a call the kernel does not take: :mod:`.families`). ``params`` are
    the validated parameters, defaults included."""
    row = ROWS.get(spec.name)
    acc = _call.get() or SETTINGS
    if row is None or not (AVAILABLE and acc.kernels) or reduction not in REDUCTIONS:
        return None
    first = inputs.get(spec.inputs[0].name)
    if type(first) is not np.ndarray or first.size < row.min_size:
        return None
    table = _kernels or kernels()
    if table is None:
        return None
    launch = row.prepare(row, table, spec, inputs, params, reduction, sample_weight,
                         _reduction.DTYPES[dtype], want_grad)
    if launch is None:
        return None
    return _reduction.run(spec, params, reduction, dtype, want_grad, want_per_sample,
                          acc.threads, launch)


def warm_up() -> float:
    """Compile every kernel for both dtypes, every variant of the table's rows (a few seconds,
    or a cache load); the seconds taken. Run before the server reports ready so that no request
    pays for a compilation."""
    if not active() or kernels() is None:
        return 0.0
    from ..registry import get_loss

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    for row in ROWS.values():
        spec = get_loss(row.loss)
        for dtype in ("float64", "float32"):
            for params, k in row.warm:
                n = row.min_size // k + 1
                inputs = sample_inputs(spec, rng, n, k, dtype)
                for want_grad, reduction in ((True, "mean"), (False, "none")):
                    r = kernel_evaluation(spec, inputs, {**spec.defaults, **params}, reduction,
                                 np.ones(n, dtype), dtype, want_grad)
                    assert r is not None, f"warm-up of the {row.loss} kernel fell back"
    return time.perf_counter() - start


def sample_inputs(spec: LossSpec, rng: np.random.Generator, n: int, k: int,
                 dtype: str) -> dict[str, np.ndarray]:
    """Valid inputs of ``n`` rows of ``k`` for the loss's kernel (the warm-up's, the tests')."""
    out = {}
    for i in spec.inputs:
        if i.dtype in ("int", "index_or_float"):
            out[i.name] = rng.integers(0, k, size=n)
        elif i.name == "targets":
            out[i.name] = rng.uniform(size=(n, k)).astype(dtype)
        elif not i.optional:
            out[i.name] = rng.normal(size=(n, k)).astype(dtype)
    return out
