"""Which calls each kernel family takes, and the :class:`~.reduction.Launch` that runs it.

Why: a kernel has the math of its loss for some inputs and parameters only; everything else
(and every error) is the reference's. Each function here returns ``None`` (the reference runs)
unless its inputs are real NumPy arrays of the shapes the kernel takes, at least the row's
``min_size`` elements (checked by :func:`service.losses.accel.kernel_evaluation`), and
``sample_weight`` is absent or one value per row. Arrays of another dtype than the requested
one (float32 inputs of a float64 evaluation, int32 class indices) or strided ones are cast or
copied first, as the reference would (:func:`.reduction.in_dtype`). Then, per family:

* elementwise (:mod:`.elementwise_kernels`): ``predictions`` and ``targets`` of one shape (at
  least 1-D); parameters whose math the kernel has (the row's ``params`` gives them); no
  convention with Keras' last-axis mean;
* cross_entropy (:mod:`.ce_kernels`): ``(N, C)`` logits, ``(N,)`` integer class indices, no
  label smoothing, ``weight`` absent or ``C`` values (the rest: probability targets,
  ``(N, C, d1..dK)`` inputs, take the reference);
* multi_margin (:mod:`.margin_kernels`): ``(N, C)`` scores, ``(N,)`` class indices, ``p`` 1 or
  2, ``weight`` absent or ``C`` finite values >= 0;
* triplet_margin (:mod:`.margin_kernels`): ``anchor``, ``positive``, ``negative`` of one
  ``(N, D)`` shape, ``p`` 1 or 2, convention ``torch`` (``swap`` or not) or ``optax`` without
  swap.

The kernels check the inputs' values (finite; class indices in range; targets in [0, 1] where
the loss takes probabilities; weights finite and >= 0) as they go; when a check fails, or the
mean's denominator is 0, :func:`.reduction.run` returns ``None`` and the reference raises the
exact error with its location.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ...casting import CastError, cast
from .reduction import EMPTY, Launch, constant, cotangent, frozen, in_dtype, plain

if TYPE_CHECKING:
    from ..spec import LossSpec
    from .table import Row

_INT64 = np.dtype(np.int64)
_EMPTY64 = EMPTY[np.dtype(np.float64)]


def _weights(sample_weight: Any, n: int, dt: np.dtype) -> tuple[bool, np.ndarray | None]:
    """(eligible, the sample weights or None)."""
    if sample_weight is None:
        return True, None
    sw = in_dtype(sample_weight, dt)
    ok = plain(sw, dt) and sw.shape == (n,)
    return ok, sw if ok else None


def _class_weights(value: Any, c: int, dt: np.dtype) -> np.ndarray | bool | None:
    """Class weights as a read-only array of ``dt`` (as the reference casts them); None: none;
    False: not ``C`` values, or values that overflow ``dt`` (the reference refuses them)."""
    if value is None:
        return None
    try:
        w = cast(np.asarray(value, dtype=np.float64), dt)
    except (CastError, TypeError, ValueError):
        return False
    return frozen(np.ascontiguousarray(w)) if w.shape == (c,) else False


def elementwise(row: Row, kernels: Mapping[str, Any], spec: LossSpec,
                inputs: Mapping[str, Any], params: dict[str, Any], reduction: str,
                sample_weight: Any, dt: np.dtype, want_grad: bool) -> Launch | None:
    x, y = in_dtype(inputs.get("predictions"), dt), in_dtype(inputs.get("targets"), dt)
    if len(inputs) != 2 or not (plain(x, dt) and plain(y, dt)) or x.shape != y.shape or (
            x.ndim == 0):
        return None
    conv = spec.convention(params.get("convention"))
    p = row.params(params) if row.params is not None else (0.0, 0.0)
    n = x.shape[0]
    ok, sw = (True, None) if sample_weight is None else _weights(sample_weight, n, dt)
    if (conv is not None and conv.last_axis_mean) or p is None or not ok:
        return None
    k = x.size // n
    kk = k if conv is None or conv.weights_in_mean else 0
    return Launch(kernels[row.kernels[dt == np.float32]], (frozen(x), frozen(y)), (), (k, *p),
                  n, k, sw, lambda: cotangent(reduction, sw, dt, kk, float(n * k)),
                  {"predictions": x.shape}, x.shape, x.size, rows_always=False)


def cross_entropy(row: Row, kernels: Mapping[str, Any], spec: LossSpec,
                  inputs: Mapping[str, Any], params: dict[str, Any], reduction: str,
                  sample_weight: Any, dt: np.dtype, want_grad: bool) -> Launch | None:
    x, t = in_dtype(inputs.get("predictions"), dt), in_dtype(inputs.get("targets"), _INT64, "iu")
    if len(inputs) != 2 or not plain(x, dt) or x.ndim != 2 or not plain(t, _INT64) or (
            t.shape != x.shape[:1] or float(params.get("label_smoothing", 0.0)) != 0.0):
        return None
    n, c = x.shape
    ok, sw = _weights(sample_weight, n, dt)
    if not ok:
        return None
    kernel, prepare = kernels[row.kernels[0]]
    w = _class_weights(params.get("weight"), c, dt)
    w_in = EMPTY[dt] if w is None or w is False else w
    t_in = frozen(t)
    ignore = int(params.get("ignore_index", -100))

    def denominator() -> tuple[float, np.ndarray] | None:
        """``sum_n [y_n counted] w_{y_n} sw_n``; the row cotangent's scale, float64."""
        if w is False:  # the reference raises its error
            return None
        denom, bad = prepare(t_in, c, ignore, w_in, EMPTY[dt] if sw is None else frozen(sw))
        if bad or (reduction == "mean" and denom == 0.0):
            return None
        return denom, np.array([1.0 / denom if reduction == "mean" else 1.0])

    return Launch(kernel, (frozen(x), t_in), (w_in,), (c, ignore), n, c, sw,
                  denominator, {"predictions": (n, c)}, (n,), x.size, rows_always=True)


def multi_margin(row: Row, kernels: Mapping[str, Any], spec: LossSpec,
                 inputs: Mapping[str, Any], params: dict[str, Any], reduction: str,
                 sample_weight: Any, dt: np.dtype, want_grad: bool) -> Launch | None:
    x, y = in_dtype(inputs.get("predictions"), dt), in_dtype(inputs.get("targets"), _INT64, "iu")
    if len(inputs) != 2 or not (plain(x, dt) and plain(y, _INT64)) or x.ndim != 2 or (
            y.shape != x.shape[:1]) or params.get("p", 1) not in (1, 2):
        return None
    n, k = x.shape
    w = _class_weights(params.get("weight"), k, dt)
    if w is False or (w is not None and not bool(np.all(np.isfinite(w) & (w >= 0.0)))):
        return None
    ok, sw = _weights(sample_weight, n, dt)
    if not ok:
        return None
    w_in = _EMPTY64 if w is None else frozen(w.astype(np.float64))
    kernel = kernels[row.kernels[0]][(params.get("p", 1) == 2, want_grad)]
    mg = constant(dt, float(params.get("margin", 1.0)))
    return Launch(kernel, (frozen(x), frozen(y)), (w_in, mg), (k,), n, k, sw,
                  lambda: cotangent(reduction, sw, dt, 1, float(n)), {"predictions": (n, k)},
                  (n,), 2 * x.size, rows_always=True)


def triplet_margin(row: Row, kernels: Mapping[str, Any], spec: LossSpec,
                   inputs: Mapping[str, Any], params: dict[str, Any], reduction: str,
                   sample_weight: Any, dt: np.dtype, want_grad: bool) -> Launch | None:
    names = ("anchor", "positive", "negative")
    a, pos, neg = (in_dtype(inputs.get(k), dt) for k in names)
    if len(inputs) != 3 or not (plain(a, dt) and plain(pos, dt) and plain(neg, dt)) or (
            a.ndim != 2 or pos.shape != a.shape or neg.shape != a.shape):
        return None
    n, k = a.shape
    p = float(params.get("p", 2.0))
    convention = params.get("convention") or "torch"
    swap = bool(params.get("swap", False))
    eps = float(params.get("eps", 1e-6))
    ok, sw = _weights(sample_weight, n, dt)
    if p not in (1.0, 2.0) or convention not in ("torch", "optax") or (
            convention == "optax" and swap) or not ok:
        return None
    torch = convention == "torch"
    kernel = kernels[row.kernels[0]][(p == 2.0, want_grad)]
    return Launch(kernel, (frozen(a), frozen(pos), frozen(neg)),
                  (constant(dt, eps if torch else 0.0),),
                  (k, float(params.get("margin", 1.0)), 0.0 if torch else eps, swap), n, k, sw,
                  lambda: cotangent(reduction, sw, dt, 1, float(n)),
                  dict.fromkeys(names, (n, k)), (n,), 3 * a.size, rows_always=True)
