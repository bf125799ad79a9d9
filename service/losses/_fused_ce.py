"""Fused kernel (numba) for ``cross_entropy`` with class-index targets: one sweep per row block.

Called by :func:`service.losses._fused.evaluate` (which checked that numba is usable, the fused
path is on and the reduction is ``none``, ``mean`` or ``sum``). It returns ``None``, so that the
generic path runs (and raises the exact error where there is one), unless:

* ``predictions`` is a real ``(N, C)`` NumPy array with at least
  :data:`service.losses._fused.MIN_SIZE` elements, and ``targets`` a 1-D integer array of ``N``
  class indices (probability targets and ``(N, C, d1..dK)`` inputs take the generic path); other
  dtypes and strided arrays are cast or copied first (:func:`service.losses._fused.in_dtype`);
* ``label_smoothing`` is 0; ``weight`` is absent or ``C`` values;
* ``sample_weight`` is absent or a 1-D array of ``N`` values of the dtype;
* every target is in ``[0, C)`` or ``ignore_index``, every logit finite, every weight finite and
  ``>= 0``, and the mean's denominator (the sum of the counted targets' class weights times
  their sample weights) is not 0.

The numbers follow :func:`service.losses._fast.cross_entropy_index` and
:mod:`service.losses.reduce` term by term (``tests/losses/test_fused_ce.py``): the per-sample
breakdown ``sw_n l_n``, ``mean = sum(sw l) / sum(sw w_y)``, and the gradient with the row
cotangent ``sw_n / denominator`` (``mean``) or ``sw_n``. Rows are split into fixed chunks
(:mod:`service.losses._fused_parallel`), so the result does not depend on the thread count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..casting import CastError, cast
from . import _fused_parallel
from ._fused import EMPTY, MIN_SIZE, _frozen, _plain, in_dtype, large, result

_INT64 = np.dtype(np.int64)

if TYPE_CHECKING:
    from .evaluation import Evaluation
    from .spec import LossSpec

LOSSES = ("cross_entropy",)
_DTYPES = {"float64": np.dtype(np.float64), "float32": np.dtype(np.float32)}


def _class_weights(value: Any, c: int, dt: np.dtype) -> np.ndarray | bool | None:
    """The class weights as a read-only array of the dtype; None: none; False: not usable here."""
    if value is None:
        return None
    try:  # a weight that overflows the dtype: the generic path refuses it, at its place
        w = cast(np.asarray(value, dtype=np.float64), dt)
    except CastError:
        return False
    if w.shape != (c,):
        return False
    return _frozen(np.ascontiguousarray(w))


def evaluate(spec: LossSpec, inputs: Mapping[str, Any], params: dict[str, Any], reduction: str,
             sample_weight: Any, dtype: str, want_grad: bool,
             want_per_sample: bool = True) -> Evaluation | None:
    """The evaluation by the fused kernel, or None where the generic path must run (see the
    module docstring)."""
    dt = _DTYPES[dtype]
    x, t = inputs.get("predictions"), inputs.get("targets")
    if not large(x):
        return None
    x, t = in_dtype(x, dt), in_dtype(t, _INT64, "iu")
    if len(inputs) != 2 or not _plain(x, dt):
        return None
    assert isinstance(x, np.ndarray)
    if (x.ndim != 2 or x.size < MIN_SIZE or type(t) is not np.ndarray or t.dtype != np.int64
            or t.shape != x.shape[:1] or float(params.get("label_smoothing", 0.0)) != 0.0):
        return None
    n, c = x.shape
    w = _class_weights(params.get("weight"), c, dt)
    sw = in_dtype(sample_weight, dt)
    if w is False or (sw is not None and not (_plain(sw, dt) and sw.shape == (n,))):
        return None
    from ._fused_ce_kernels import cross_entropy, prepare

    empty = EMPTY[dt]
    w_in = empty if w is None else w
    sw_in = empty if sw is None else _frozen(sw)
    t_in = _frozen(np.ascontiguousarray(t))
    ignore = int(params.get("ignore_index", -100))
    denom, bad = prepare(t_in, c, ignore, w_in, sw_in)
    if bad or (reduction == "mean" and denom == 0.0):
        return None  # the generic path raises the exact error (or UndefinedMean)
    cscale = 1.0 / denom if reduction == "mean" else 1.0
    loss_out = np.empty(n, dt) if reduction == "none" else np.empty(0, dt)
    grad_out = np.empty((n, c), dt) if want_grad else np.empty((0, c), dt)
    per_sample = np.empty(n, dt)
    starts = _fused_parallel.chunk_starts(n, c)
    totals = np.zeros(len(starts) - 1, np.float64)
    x_in = _frozen(x)
    flat_grad = grad_out.reshape(-1)

    def run(c0: int, c1: int) -> bool:
        return bool(cross_entropy(x_in, t_in, w_in, sw_in, cscale, c, ignore, loss_out,
                                  flat_grad, per_sample, totals, starts, c0, c1))

    if _fused_parallel.map_chunks(run, len(totals), x.size):
        return None
    return result(spec, params, reduction, dtype, totals, denom, loss_out,
                  per_sample if want_per_sample else None, n,
                  {"predictions": grad_out} if want_grad else None)


def warm_up() -> None:
    """Compile the kernel for both dtypes, short and long rows, with and without weights."""
    from .registry import get_loss

    spec = get_loss("cross_entropy")
    rng = np.random.default_rng(0)
    for dtype, dt in _DTYPES.items():
        for c in (8, 128):
            n = MIN_SIZE // c + 1
            x = rng.normal(size=(n, c)).astype(dt)
            t = rng.integers(0, c, size=n)
            for params, sw in (({}, None), ({"weight": [1.0] * c}, np.ones(n, dt))):
                for reduction in ("mean", "none"):
                    r = evaluate(spec, {"predictions": x, "targets": t},
                                 {**spec.defaults, **params}, reduction, sw, dtype, True)
                    assert r is not None, "warm-up of the fused cross_entropy kernel fell back"
