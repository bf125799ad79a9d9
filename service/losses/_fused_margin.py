"""Fused kernels (numba) for multi_margin and triplet_margin: one pass over the rows.

Called by :func:`service.losses._fused.evaluate` (which checks that the fused path is active and
the reduction is ``none``, ``mean`` or ``sum``) for the losses in :data:`LOSSES`. It returns
``None``, and the generic path runs, unless:

* multi_margin: ``predictions`` is a real ``(N, C)`` NumPy array with at least
  ``_fused.MIN_SIZE`` elements and ``targets`` an integer ``(N,)`` NumPy array; ``p`` is 1 or 2;
  ``weight`` is None or C finite values >= 0;
* triplet_margin: ``anchor``, ``positive``, ``negative`` are real ``(N, D)`` NumPy arrays of one
  shape, at least ``_fused.MIN_SIZE`` elements each; ``p`` is 1 or 2; convention ``torch``
  (``swap`` true or false) or ``optax`` (without swap);
* ``sample_weight`` is absent or an ``(N,)`` NumPy array.

Arrays of another dtype (float32 inputs of a float64 evaluation, int32 targets) or strided ones
are cast or copied first, as the generic path would (:func:`._fused.in_dtype`).

Everything else falls back: unbatched ``(C,)`` / ``(D,)`` inputs, lists, other norms ``p`` of
triplet_margin, optax with swap (the generic path raises its InvalidParam), a weight vector of
the wrong length. The kernels check every input (finite;
class indices in [0, C); sample weights finite and >= 0) as they go; when a check fails, or the
mean's denominator is 0, this returns ``None`` and the generic path raises the exact error with
its location.

Reduction, cotangent and per-sample breakdown follow :mod:`service.losses.reduce` (the loss has
one value per sample: ``k = 1``) as :func:`service.losses._fused._run` does. The rows are split
into chunks of whole rows (:mod:`service.losses._fused_parallel`), whose totals are added in
order, so results are identical whatever ``LOSS_SERVICE_KERNEL_THREADS``. Results agree with the
generic path to a few ulp (``tests/losses/test_fused_margin.py``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..casting import cast
from . import _fused, _fused_parallel
from ._fused import _frozen, _plain, in_dtype, large
from ._fused_margin_kernels import MULTI_MARGIN, TRIPLET_MARGIN

if TYPE_CHECKING:
    from .evaluation import Evaluation
    from .spec import LossSpec

LOSSES = ("multi_margin", "triplet_margin")
_INT64 = np.dtype(np.int64)
_EMPTY64 = _fused.EMPTY[np.dtype(np.float64)]


def _weights(sample_weight: Any, n: int, dt: np.dtype) -> tuple[bool, np.ndarray | None]:
    """(eligible, the weights or None)."""
    if sample_weight is None:
        return True, None
    sw = in_dtype(sample_weight, dt)
    ok = _plain(sw, dt) and sw.shape == (n,)
    return ok, sw if ok else None


def evaluate(spec: LossSpec, inputs: Mapping[str, Any], params: dict[str, Any], reduction: str,
             sample_weight: Any, dtype: str, want_grad: bool,
             want_per_sample: bool = True) -> Evaluation | None:
    """The evaluation by a fused kernel, or None where the generic path must run (see the module
    docstring). ``params`` are the validated parameters, defaults included."""
    if reduction not in ("none", "mean", "sum") or spec.name not in LOSSES:
        return None
    dt = _fused._DTYPES[dtype]
    if spec.name == "multi_margin":
        return _multi_margin(spec, inputs, params, reduction, sample_weight, dt, dtype,
                             want_grad, want_per_sample)
    return _triplet_margin(spec, inputs, params, reduction, sample_weight, dt, dtype, want_grad,
                           want_per_sample)


def _multi_margin(spec: LossSpec, inputs: Mapping[str, Any], params: dict[str, Any],
                  reduction: str, sample_weight: Any, dt: np.dtype, dtype: str,
                  want_grad: bool, want_ps: bool) -> Evaluation | None:
    x, y = inputs.get("predictions"), inputs.get("targets")
    if not large(x):
        return None
    x, y = in_dtype(x, dt), in_dtype(y, _INT64, "iu")
    if len(inputs) != 2 or not (_plain(x, dt) and _plain(y, _INT64)):
        return None
    assert isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
    if x.ndim != 2 or y.shape != x.shape[:1] or x.size < _fused.MIN_SIZE:
        return None
    n, k = x.shape
    p = params.get("p", 1)
    if p not in (1, 2):
        return None
    weight = params.get("weight")
    w = _EMPTY64
    if weight is not None:
        try:  # as the reference: the weights in the requested dtype (CastError: a weight
            wd = cast(np.asarray(weight, dtype=np.float64), dt)  # that overflows it)
        except (TypeError, ValueError):
            return None
        if wd.shape != (k,) or not bool(np.all(wd >= 0.0)) or not bool(np.all(np.isfinite(wd))):
            return None
        w = _frozen(wd.astype(np.float64))
    ok, sw = _weights(sample_weight, n, dt)
    if not ok:
        return None
    mg = _fused.constant(dt, float(params.get("margin", 1.0)))
    return _run(spec, params, MULTI_MARGIN[(p == 2, want_grad)], (_frozen(x), _frozen(y)),
                (w, mg), (k,),
                ("predictions",), n, k, reduction, sw, dt, dtype, want_grad, want_ps)


def _triplet_margin(spec: LossSpec, inputs: Mapping[str, Any], params: dict[str, Any],
                    reduction: str, sample_weight: Any, dt: np.dtype, dtype: str,
                    want_grad: bool, want_ps: bool) -> Evaluation | None:
    if not large(inputs.get("anchor")):
        return None
    a, pos, neg = (in_dtype(inputs.get(k), dt) for k in ("anchor", "positive", "negative"))
    if len(inputs) != 3 or not (_plain(a, dt) and _plain(pos, dt) and _plain(neg, dt)):
        return None
    assert isinstance(a, np.ndarray) and isinstance(pos, np.ndarray)
    assert isinstance(neg, np.ndarray)
    if a.ndim != 2 or pos.shape != a.shape or neg.shape != a.shape or a.size < _fused.MIN_SIZE:
        return None
    n, k = a.shape
    p = float(params.get("p", 2.0))
    convention = params.get("convention") or "torch"
    swap = bool(params.get("swap", False))
    eps = float(params.get("eps", 1e-6))
    if p not in (1.0, 2.0) or convention not in ("torch", "optax") or (
            convention == "optax" and swap):
        return None
    ok, sw = _weights(sample_weight, n, dt)
    if not ok:
        return None
    torch = convention == "torch"
    ea = _fused.constant(dt, eps if torch else 0.0)
    tail = (k, float(params.get("margin", 1.0)), 0.0 if torch else eps, swap)
    kernel = TRIPLET_MARGIN[(p == 2.0, want_grad)]
    return _run(spec, params, kernel, (_frozen(a), _frozen(pos), _frozen(neg)), (ea,),
                tail, ("anchor", "positive", "negative"), n, k, reduction, sw, dt, dtype,
                want_grad, want_ps)


def _run(spec: LossSpec, params: dict[str, Any], kernel: Any, inputs: tuple[np.ndarray, ...],
         consts: tuple[np.ndarray, ...], tail: tuple[Any, ...], grad_names: tuple[str, ...],
         n: int, k: int, reduction: str, sw: np.ndarray | None, dt: np.dtype, dtype: str,
         want_grad: bool, want_ps: bool) -> Evaluation | None:
    """Reduce as :func:`service.losses._fused._run` for a loss of one value per row (``k = 1``
    in :mod:`service.losses.reduce`): run ``kernel(*inputs, sw, cot, *consts, loss_out, *grads,
    per_sample, totals, starts, c0, c1, *tail)`` on the chunks; None if an input failed a check
    or the mean's denominator is 0."""
    denom, cot = _fused.cotangent(reduction, sw, dt, 1, float(n))
    if cot is None:  # UndefinedMean: the generic path raises it
        return None
    empty = _fused.NO_OUTPUT[dt]
    loss_out = np.empty(n, dt) if reduction == "none" else empty
    grads = [np.empty((n, k), dt) if want_grad else empty for _ in grad_names]
    per_sample = np.empty(n, dt)
    starts = _fused_parallel.chunk_starts(n, k)
    totals = np.zeros(starts.size - 1)
    args = (*inputs, _fused.EMPTY[dt] if sw is None else _frozen(sw), cot, *consts, loss_out,
            *(g.reshape(-1) for g in grads), per_sample, totals, starts)

    def run(c0: int, c1: int) -> bool:
        return bool(kernel(*args, c0, c1, *tail))

    if _fused_parallel.map_chunks(run, starts.size - 1, n * k * len(inputs)):
        return None
    return _fused.result(spec, params, reduction, dtype, totals, denom, loss_out,
                         per_sample if want_ps else None, n,  # (written per row either way)
                         dict(zip(grad_names, grads, strict=True)) if want_grad else None)


def warm_up() -> float:
    """Compile both kernels for both dtypes, every branch (or load them from numba's cache); the
    seconds taken."""
    from .registry import get_loss

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    for dtype, dt in _fused._DTYPES.items():
        n = _fused.MIN_SIZE // 8 + 1
        sw = np.ones(n, dt)
        spec = get_loss("multi_margin")
        x = rng.normal(size=(n, 8)).astype(dt)
        y = rng.integers(0, 8, size=n)
        for p in (1, 2):
            for want_grad in (True, False):  # one kernel per (p, want_grad)
                r = evaluate(spec, {"predictions": x, "targets": y}, {**spec.defaults, "p": p},
                             "mean", sw, dtype, want_grad)
                assert r is not None, "warm-up of the fused multi_margin kernel fell back"
        spec = get_loss("triplet_margin")
        a, pos, neg = (rng.normal(size=(n, 8)).astype(dt) for _ in range(3))
        for p, swap, want_grad in itertools.product((1.0, 2.0), (False, True), (True, False)):
            r = evaluate(spec, {"anchor": a, "positive": pos, "negative": neg},
                         {**spec.defaults, "p": p, "swap": swap}, "mean", sw, dtype, want_grad)
            assert r is not None, "warm-up of the fused triplet_margin kernel fell back"
    return time.perf_counter() - start
