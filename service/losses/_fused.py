"""Optional fused kernels (numba) for the elementwise losses: one pass instead of 6 to 30.

Row-wise losses have their own modules, reached through :data:`ROWWISE` with the same
``evaluate`` signature: :mod:`service.losses._fused_ce` (cross_entropy) and
:mod:`service.losses._fused_margin` (multi_margin, triplet_margin). Every kernel splits its rows
into fixed chunks that :mod:`service.losses._fused_parallel` may run on several threads
(``LOSS_SERVICE_KERNEL_THREADS``) with results identical for any thread count.

:func:`evaluate` is tried first by :func:`service.losses.evaluate.evaluate`; it returns ``None``
(the generic path runs) unless everything below holds, so the generic path stays the reference
and the only one for every other case:

* numba is installed (the ``fast`` extra), ``ENABLED`` (``LOSS_SERVICE_FUSED``, default on) and
  the NumPy fast paths are on (``_fast.ENABLED``: tests turn both off to run the reference);
* the loss is one of :data:`LOSSES`, with parameters whose math the kernel has (no ``weight`` /
  ``pos_weight``; sigmoid_focal not under ``keras``) and a convention without Keras' last-axis
  mean; the reduction is ``none``, ``mean`` or ``sum``;
* ``predictions`` and ``targets`` are real NumPy arrays of the same shape (at least 1-D) and at
  least :data:`MIN_SIZE` elements; ``sample_weight`` is absent or a 1-D NumPy array. Arrays of
  another dtype than the requested one (float32 inputs of a float64 evaluation, integers) or
  strided ones are cast or copied first, as the generic path would (:func:`in_dtype`).

Reduction, cotangent and per-sample breakdown follow :mod:`service.losses.reduce` term by term.
The kernels check every input (finite; targets in [0, 1] where the loss takes probabilities;
weights finite and >= 0) as they go; when a check fails, or the mean's denominator is 0, this
returns ``None`` and the generic path raises the exact error with its location. Results agree with
the generic path to a few ulp (``tests/losses/test_fused_kernels.py``).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..casting import CastError, cast
from . import _fast, _fused_parallel
from .binary import focal_alpha
from .evaluation import Evaluation

if TYPE_CHECKING:
    from .spec import LossSpec

log = logging.getLogger("service.losses")


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("0", "false", "no", "off", "f", "n"):
        return False
    if value in ("1", "true", "yes", "on", "t", "y"):
        return True
    return default


AVAILABLE = importlib.util.find_spec("numba") is not None  # tests set it False: "no numba"
ENABLED = _env_flag("LOSS_SERVICE_FUSED", True)
# Smaller inputs stay on the generic path. Not a crossover: the fused path measured 2x to 4x
# faster from 100 elements (it also skips the generic path's per-call overhead), but below this
# the time saved is under 0.1 ms and small requests keep the reference path in service (the
# examples, conventions and goldens are small). bench/README.md, "Fused kernels (numba)".
MIN_SIZE = 1000

LOSSES = ("mse", "l1", "huber", "smooth_l1", "binary_cross_entropy_with_logits", "sigmoid_focal")
# losses whose fused kernels work row by row, each family in its own module with the same
# ``evaluate`` signature as this module's and a ``warm_up()``: loss name -> module
ROWWISE = {"cross_entropy": "_fused_ce", "multi_margin": "_fused_margin",
           "triplet_margin": "_fused_margin"}
_DTYPES = {"float64": np.dtype(np.float64), "float32": np.dtype(np.float32)}
_kernels: dict[str, Any] | None = None


def active() -> bool:
    """Whether the fused kernels may be used (numba importable, enabled, fast paths on)."""
    return AVAILABLE and ENABLED and _fast.ENABLED


def _load() -> dict[str, Any] | None:
    """The kernels (importing numba on first use); None, and ``AVAILABLE`` off, if that fails."""
    global _kernels, AVAILABLE
    if _kernels is None:
        try:
            from ._fused_kernels import KERNELS
        except Exception:  # a broken numba install: keep serving on the generic path
            log.warning("numba is installed but cannot be imported; fused kernels are off",
                        exc_info=True)
            AVAILABLE = False
            return None
        _kernels = KERNELS
    return _kernels


@functools.cache
def _module(name: str) -> Any:
    return importlib.import_module(f".{name}", __package__)


def _family(name: str) -> Any:
    """The module of a row-wise family (importing numba on first use), or None."""
    if _load() is None:
        return None
    return _module(ROWWISE[name])


def _params(name: str, params: Mapping[str, Any]) -> tuple[float, float] | None:
    """The kernel's (p0, p1) for these parameters, or None where it does not have their math."""
    if name == "huber":
        return float(params["delta"]), 0.0
    if name == "smooth_l1":
        beta = float(params["beta"])
        return (beta, 0.0) if beta > 0.0 else None  # beta = 0 is l1's gradient rule
    if name == "binary_cross_entropy_with_logits":
        ok = params.get("weight") is None and params.get("pos_weight") is None
        return (0.0, 0.0) if ok else None
    if name == "sigmoid_focal":
        convention = params.get("convention", "torch")
        if convention not in ("torch", "optax"):
            return None
        return float(focal_alpha(params["alpha"], convention)), float(params["gamma"])
    return 0.0, 0.0


def _plain(a: Any, dt: np.dtype) -> bool:
    return type(a) is np.ndarray and a.dtype == dt and a.flags.c_contiguous


def large(a: Any) -> bool:
    """Whether ``a`` is a NumPy array of at least :data:`MIN_SIZE` elements (checked before any
    cast by :func:`in_dtype`, so that small inputs are not cast twice)."""
    return type(a) is np.ndarray and a.size >= MIN_SIZE


def in_dtype(a: Any, dt: np.dtype, kinds: str = "fiu") -> Any:
    """``a`` as a C-contiguous array of ``dt`` if it is a NumPy array of kind ``kinds`` that is
    not one already (the cast the generic path makes: float32 inputs of a float64 evaluation,
    int32 class indices, a strided view), else ``a`` itself (which :func:`_plain` then judges).
    A float cast that overflows gives infinities, which the kernels report (the generic path
    then runs and says where); an integer cast that would change a value (a uint64 beyond
    int64) is not made: ``a`` comes back as it is, and the generic path refuses it."""
    if type(a) is np.ndarray and a.dtype.kind in kinds and not (
            a.dtype == dt and a.flags.c_contiguous):
        if dt.kind == "i":
            try:
                return np.ascontiguousarray(cast(a, dt))
            except CastError:
                return a
        with np.errstate(over="ignore"):
            return np.ascontiguousarray(a, dtype=dt)
    return a


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only flat view (``reshape`` always returns a new array object, so ``a`` keeps its
    flags): the kernels are compiled for read-only inputs only (b64 requests arrive read-only;
    one type keeps it to one compilation per dtype)."""
    v = a.reshape(-1)
    v.flags.writeable = False
    return v


# empty arrays per dtype: read-only for "none" inputs of the kernels, writable for outputs that
# are not wanted (the kernels' argument types; nothing is ever written to a size-0 array)
EMPTY = {dt: _frozen(np.empty(0, dt)) for dt in _DTYPES.values()}
NO_OUTPUT = {dt: np.empty(0, dt) for dt in _DTYPES.values()}
_F32_MAX = float(np.finfo(np.float32).max)


@functools.lru_cache(maxsize=1024)
def unit_cotangent(dt: np.dtype, denom: float) -> np.ndarray:
    """``np.ones(1, dt) / denom`` (as :func:`service.losses.reduce._ones_scaled`), read-only and
    cached: the unweighted cotangent of every ``mean`` (``denom`` > 0) or ``sum`` (1.0)."""
    return _frozen(np.ones(1, dt) / denom)


def evaluate(spec: LossSpec, inputs: Mapping[str, Any], params: dict[str, Any], reduction: str,
             sample_weight: Any, dtype: str, want_grad: bool,
             want_per_sample: bool = True) -> Evaluation | None:
    """The evaluation by a fused kernel, or None where the generic path must run (see the module
    docstring). ``params`` are the validated parameters, defaults included."""
    name = spec.name
    if not active() or reduction not in ("none", "mean", "sum"):
        return None
    if name in ROWWISE:
        module = _family(name)
        if module is None:
            return None
        return module.evaluate(spec, inputs, params, reduction, sample_weight, dtype,
                               want_grad, want_per_sample)
    if name not in LOSSES:
        return None
    dt = _DTYPES[dtype]
    x, y = inputs.get("predictions"), inputs.get("targets")
    if not large(x):
        return None
    x, y = in_dtype(x, dt), in_dtype(y, dt)
    if len(inputs) != 2 or not (_plain(x, dt) and _plain(y, dt)):
        return None
    assert isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
    if x.shape != y.shape or x.ndim == 0 or x.size < MIN_SIZE:
        return None
    conv = spec.convention(params.get("convention"))
    if conv is not None and conv.last_axis_mean:
        return None
    p = _params(name, params)
    sw = in_dtype(sample_weight, dt)
    if p is None or (sw is not None and not (_plain(sw, dt) and sw.shape == x.shape[:1])):
        return None
    kernels = _load()
    if kernels is None:
        return None

    kernel = kernels[name][dt == np.float32]  # (float64 kernel, float32 kernel)
    return _run(kernel, spec, x, y, p, params, reduction, sw, dt, dtype, want_grad,
                conv is None or conv.weights_in_mean, want_per_sample)


def _run(kernel: Any, spec: LossSpec, x: np.ndarray, y: np.ndarray, p: tuple[float, float],
         params: dict[str, Any], reduction: str, sw: np.ndarray | None, dt: np.dtype, dtype: str,
         want_grad: bool, weights_in_mean: bool, want_per_sample: bool) -> Evaluation | None:
    n = x.shape[0]
    k = x.size // n
    denom, cot = cotangent(reduction, sw, dt, k if weights_in_mean else 0, float(n * k))
    if cot is None:  # UndefinedMean: the generic path raises it
        return None
    loss_out = np.empty(x.shape, dt) if reduction == "none" else NO_OUTPUT[dt]
    grad_out = np.empty(x.shape, dt) if want_grad else NO_OUTPUT[dt]
    per_sample = np.empty(n, dt) if want_per_sample else NO_OUTPUT[dt]  # empty: rows not summed
    starts = _fused_parallel.chunk_starts(n, k)
    totals = np.zeros(len(starts) - 1, np.float64)
    args = (_frozen(x), _frozen(y), EMPTY[dt] if sw is None else _frozen(sw), cot,
            loss_out.reshape(-1), grad_out.reshape(-1), per_sample, k, p[0], p[1], totals,
            starts)

    def run(c0: int, c1: int) -> bool:
        return bool(kernel(*args, c0, c1))

    if _fused_parallel.map_chunks(run, len(totals), x.size):
        return None
    return result(spec, params, reduction, dtype, totals, denom, loss_out,
                  per_sample if want_per_sample else None, n,
                  {"predictions": grad_out} if want_grad else None)


@functools.lru_cache(maxsize=256)
def constant(dt: np.dtype, value: float) -> np.ndarray:
    """A read-only one-element array of ``value`` in ``dt`` (a parameter a kernel takes in the
    inputs' dtype), cached."""
    return _frozen(np.array([value], dt))


def cotangent(reduction: str, sw: np.ndarray | None, dt: np.dtype, k: int,
              count: float) -> tuple[Any, np.ndarray | None]:
    """``(denominator, cotangent)`` of a fused evaluation, as :mod:`service.losses.reduce`:
    for ``mean`` the denominator is ``count`` (``k`` = 0 or no weights) or ``sum(sw) * k``, and
    the cotangent ``1 / denominator`` or ``sw / denominator`` (None when the denominator is 0:
    UndefinedMean); for ``none`` and ``sum`` (denominator None) ``1`` or ``sw``. The cotangent
    is read-only, one value or one per row."""
    if sw is None:
        if reduction != "mean":
            return None, unit_cotangent(dt, 1.0)
        return count, (unit_cotangent(dt, count) if count != 0.0 else None)
    if reduction != "mean":
        return None, _frozen(sw)
    with np.errstate(all="ignore"):  # as the generic path: overflow is reported in the result
        denom = np.sum(sw) * k if k else count
        if float(denom) == 0.0:
            return denom, None
        return denom, _frozen(sw / denom)


def result(spec: LossSpec, params: dict[str, Any], reduction: str, dtype: str,
           totals: np.ndarray, denom: Any, loss_out: np.ndarray, per_sample: np.ndarray | None,
           n: int, gradients: dict[str, np.ndarray] | None) -> Evaluation:
    """The :class:`~service.losses.evaluate.Evaluation` of a fused kernel's outputs: the value
    is ``loss_out`` (``none``), the chunks' total (``sum``) or the total over ``denom``
    (``mean``), in ``dtype``."""
    dt = _DTYPES[dtype]
    total = _fused_parallel.total(totals)
    if reduction == "none":
        value: Any = loss_out
    else:
        v = total if reduction == "sum" else total / float(denom)
        if dtype == "float32" and not abs(v) <= _F32_MAX:
            with np.errstate(over="ignore"):  # as the generic path: overflow is reported in
                value = dt.type(v)  # the result (inf), without a NumPy warning
        else:
            value = dt.type(v)
    return Evaluation(loss=spec.name, reduction=reduction, value=value, per_sample=per_sample,
                      params=params, dtype=dtype, gradients=gradients, samples=n)


def warm_up() -> float:
    """Compile every kernel for both dtypes (a few seconds, or a cache load); the seconds taken.
    Run before the server reports ready so no request pays for the compilation."""
    if not active() or _load() is None:
        return 0.0
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    for dtype, dt in _DTYPES.items():
        x = rng.normal(size=(MIN_SIZE // 8 + 1, 8)).astype(dt)
        y = rng.uniform(size=x.shape).astype(dt)
        sw = np.ones(x.shape[0], dt)
        from .registry import get_loss

        for name in LOSSES:
            spec = get_loss(name)
            r = evaluate(spec, {"predictions": x, "targets": y}, spec.defaults, "mean", sw,
                         dtype, True)
            assert r is not None, f"warm-up of the fused {name} kernel fell back"
    for module in dict.fromkeys(ROWWISE.values()):
        importlib.import_module(f".{module}", __package__).warm_up()
    return time.perf_counter() - start
