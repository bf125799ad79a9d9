"""The Python half of the kernels' fused reduction, shared by every family: the cotangent and
denominator before a kernel runs, the value after, and :func:`run`, which launches a kernel on
its chunks between the two.

Why: :mod:`service.losses.reduce` reduces an array of losses that already exists; the kernels
reduce as they compute (each block in :func:`.elementwise_kernels._finish`, each row in the
row-wise kernels), so they need the cotangent first (``1 / denominator`` or ``sw /
denominator``) and the value from their chunks' totals after. Both follow
:mod:`service.losses.reduce` term by term (``tests/losses/test_accel_differential.py`` checks
them against it). Also here: the casts and views that put inputs in the form every kernel takes
(:func:`in_dtype`, :func:`plain`, :func:`frozen`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ...casting import CastError, cast
from ..spec import Evaluation
from . import parallel

if TYPE_CHECKING:
    from ..spec import LossSpec

DTYPES = {"float64": np.dtype(np.float64), "float32": np.dtype(np.float32)}
_F32_MAX = float(np.finfo(np.float32).max)


def plain(a: Any, dt: np.dtype) -> bool:
    """Whether ``a`` is a C-contiguous NumPy array of ``dt`` (what the kernels take)."""
    return type(a) is np.ndarray and a.dtype == dt and a.flags.c_contiguous


def in_dtype(a: Any, dt: np.dtype, kinds: str = "fiu") -> Any:
    """``a`` as a C-contiguous array of ``dt`` if it is a NumPy array of kind ``kinds`` that is
    not one already (the cast the reference makes: float32 inputs of a float64 evaluation,
    int32 class indices, a strided view), else ``a`` itself (which :func:`plain` then judges).
    A float cast that overflows gives infinities, which the kernels report (the reference then
    runs and says where); an integer cast that would change a value (a uint64 beyond int64) is
    not made: ``a`` comes back as it is, and the reference refuses it."""
    if type(a) is np.ndarray and a.dtype.kind in kinds and not plain(a, dt):
        if dt.kind == "i":
            try:
                return np.ascontiguousarray(cast(a, dt))
            except CastError:
                return a
        with np.errstate(over="ignore"):
            return np.ascontiguousarray(a, dtype=dt)
    return a


def frozen(a: np.ndarray) -> np.ndarray:
    """A read-only flat view (``reshape`` always returns a new array object, so ``a`` keeps its
    flags): the kernels are compiled for read-only inputs only (b64 requests arrive read-only;
    one type keeps it to one compilation per dtype)."""
    v = a.reshape(-1)
    v.flags.writeable = False
    return v


# empty arrays per dtype: read-only for "none" inputs of the kernels, writable for outputs that
# are not wanted (the kernels' argument types; nothing is ever written to a size-0 array)
EMPTY = {dt: frozen(np.empty(0, dt)) for dt in DTYPES.values()}
NO_OUTPUT = {dt: np.empty(0, dt) for dt in DTYPES.values()}


@functools.lru_cache(maxsize=1024)
def constant(dt: np.dtype, value: float) -> np.ndarray:
    """``[value]`` in ``dt``, read-only and cached: a parameter a kernel takes in the inputs'
    dtype."""
    return frozen(np.array([value], dt))


@functools.lru_cache(maxsize=1024)
def _unit(dt: np.dtype, denom: float) -> np.ndarray:
    """``np.ones(1, dt) / denom`` (as :func:`service.losses.reduce._ones_scaled`), read-only
    and cached: the unweighted cotangent of every ``mean`` (``denom`` > 0) or ``sum`` (1.0)."""
    return frozen(np.ones(1, dt) / denom)


def cotangent(reduction: str, sw: np.ndarray | None, dt: np.dtype, k: int,
              count: float) -> tuple[Any, np.ndarray] | None:
    """``(denominator, cotangent)`` as :mod:`service.losses.reduce`: for ``mean`` the
    denominator is ``count`` (``k`` = 0 or no weights) or ``sum(sw) * k``, and the cotangent
    ``1 / denominator`` or ``sw / denominator`` (None when the denominator is 0: UndefinedMean,
    which the reference raises); for ``none`` and ``sum`` (denominator None) ``1`` or ``sw``.
    The cotangent is read-only, one value or one per row."""
    if sw is None:
        if reduction != "mean":
            return None, _unit(dt, 1.0)
        return (count, _unit(dt, count)) if count != 0.0 else None
    if reduction != "mean":
        return None, frozen(sw)
    with np.errstate(all="ignore"):  # as the reference: overflow is reported in the result
        denom = np.sum(sw) * k if k else count
        return (denom, frozen(sw / denom)) if float(denom) != 0.0 else None


def result(spec: LossSpec, params: dict[str, Any], reduction: str, dtype: str,
           totals: np.ndarray, denom: Any, loss_out: np.ndarray, per_sample: np.ndarray | None,
           n: int, gradients: dict[str, np.ndarray] | None) -> Evaluation:
    """The :class:`~service.losses.spec.Evaluation` of a kernel's outputs: the value is
    ``loss_out`` (``none``), the chunks' total (``sum``) or the total over ``denom``
    (``mean``), in ``dtype``."""
    dt = DTYPES[dtype]
    total = parallel.total(totals)
    value: Any = loss_out
    if reduction != "none":
        v = total if reduction == "sum" else total / float(denom)
        if dtype == "float32" and not abs(v) <= _F32_MAX:
            with np.errstate(over="ignore"):  # as the reference: overflow is reported in the
                value = dt.type(v)  # result (inf), without a NumPy warning
        else:
            value = dt.type(v)
    return Evaluation(loss=spec.name, reduction=reduction, value=value, per_sample=per_sample,
                      params=params, dtype=dtype, gradients=gradients, samples=n)


class Launch(NamedTuple):
    """One kernel call over every chunk: ``kernel(*arrays, sw, cot, *extra, loss_out, *grads,
    per_sample, totals, starts, c0, c1, *tail)``; ``n`` rows of ``k`` elements;
    ``cotangent()`` gives ``(denominator, cot)`` or None (an input that fails a check, or an
    undefined mean: the reference raises)."""

    kernel: Any
    arrays: tuple[np.ndarray, ...]
    extra: tuple[Any, ...]
    tail: tuple[Any, ...]
    n: int
    k: int
    sw: np.ndarray | None
    cotangent: Callable[[], tuple[Any, np.ndarray] | None]
    grads: dict[str, tuple[int, ...]]  # input name -> gradient shape
    loss_shape: tuple[int, ...]
    n_elements: int  # the size that decides threads and budget checks (parallel.map_chunks)
    rows_always: bool  # the kernel writes per_sample whether or not it is wanted


def run(spec: LossSpec, params: dict[str, Any], reduction: str, dtype: str, want_grad: bool,
        want_ps: bool, threads: int, launch: Launch) -> Evaluation | None:
    """Run ``launch`` on ``threads`` threads and reduce; None where the reference must run."""
    kernel, arrays, extra, tail, n, k, sw, cotangent, shapes, loss_shape, size, rows = launch
    got = cotangent()
    if got is None:
        return None
    denom, cot = got
    dt = DTYPES[dtype]
    empty = NO_OUTPUT[dt]
    loss_out = np.empty(loss_shape, dt) if reduction == "none" else empty
    grads = {name: np.empty(shape, dt) for name, shape in shapes.items()} if want_grad else None
    per_sample = np.empty(n, dt) if want_ps or rows else empty
    starts = parallel.chunk_starts(n, k)
    totals = np.zeros(len(starts) - 1, np.float64)
    args = (*arrays, EMPTY[dt] if sw is None else frozen(sw), cot, *extra, loss_out.reshape(-1),
            *([g.reshape(-1) for g in grads.values()] if grads else [empty] * len(shapes)),
            per_sample, totals, starts)

    def call(c0: int, c1: int) -> bool:
        return bool(kernel(*args, c0, c1, *tail))

    if parallel.map_chunks(call, len(totals), size, threads):
        return None
    return result(spec, params, reduction, dtype, totals, denom, loss_out,
                  per_sample if want_ps else None, n, grads)
