"""The cross-entropy family's row-wise kernel (numba): softmax cross-entropy, index targets.

Per row ``n`` of ``C`` logits ``x``: ``m = max x``, ``e = e^{x - m}``, ``s = sum e``,
``lse = m + log s``, ``l = w_y (lse - x_y)`` (0 for an ignored target), and the gradient times the
row's cotangent ``c_n``: ``c_n w_y (e / s - onehot_y)``. That is the reference's formula
(:func:`service.losses.multiclass.cross_entropy`, index targets) term by term; only the order of
the additions in ``s`` differs.

Short rows (``C <=`` :data:`SHORT_ROW_F64` or :data:`SHORT_ROW_F32`): a loop over 10 classes
never reaches a vector loop's body, so each block of rows is transposed into a ``(C, rows)``
buffer and every step (row max, exp, row sums, log, scale) runs across rows, vectorized; the
gradient is transposed back. Longer rows run their loops row by row (each long enough to
vectorize).
Exponentials are computed in the input's precision (:func:`_exp_t`); ``s``, ``lse`` and the
losses in float64, rounded once on store.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import types
from numba.extending import overload

from .kernel_math import BLOCK, FMAX, _exp, _exp32, _jit, _log, _sum

# Up to this many classes, rows are processed in transposed blocks (measured crossovers at 1e6
# values: about 28 classes in float64, about 56 in float32)
SHORT_ROW_F64 = 24
SHORT_ROW_F32 = 48


def _exp_t(z: Any) -> Any:  # typed by the overload below
    raise NotImplementedError


@overload(_exp_t, inline="always")
def _exp_t_impl(z: Any) -> Any:
    """``e^z`` in the precision of ``z`` (float32 inputs: twice the SIMD lanes)."""
    if isinstance(z, types.Float) and z.bitwidth == 32:

        def exp32(z: Any) -> Any:
            return _exp32(z)

        return exp32

    def exp64(z: Any) -> Any:
        return _exp(z)

    return exp64


@_jit(fastmath={"nnan", "ninf", "nsz", "reassoc", "contract"})
def _max(r: Any) -> Any:
    """``max(r)`` (vectorized: the caller checks finiteness separately, so NaN-free is given)."""
    m = r[0]
    for j in range(1, r.size):
        m = max(m, r[j])
    return m


@_jit
def prepare(t: Any, c: int, ignore: int, w: Any, sw: Any) -> tuple[float, bool]:
    """The mean's denominator ``sum_n [y_n != ignore] w_{y_n} sw_n`` (``w``, ``sw`` empty: 1),
    and whether an input failed a check (a target outside ``[0, C)`` other than ``ignore``; a
    weight negative or not finite). The kernel runs only when this found nothing."""
    bad = False
    for j in range(w.size):
        bad |= not ((w[j] >= 0.0) & (w[j] <= FMAX))
    for i in range(sw.size):
        bad |= not ((sw[i] >= 0.0) & (sw[i] <= FMAX))
    if bad:
        return 0.0, True
    den = 0.0
    for i in range(t.size):
        y = t[i]
        if y == ignore:
            continue
        if y < 0 or y >= c:
            return 0.0, True
        v = float(w[y]) if w.size > 0 else 1.0
        den += v * float(sw[i]) if sw.size > 0 else v
    return den, False


@_jit(inline="always")
def _row_terms(x: Any, t: Any, w: Any, sw: Any, i: int, c: int, ignore: int, m: float,
               s: float) -> tuple[float, float, int]:
    """Row ``i``'s weighted loss ``sw_i w_y (lse - x_y)``, its coefficient ``sw_i w_y`` (0 when
    ignored) and the target's column (0 when ignored)."""
    y = t[i]
    valid = y != ignore
    yy = y if valid else 0
    wy = (float(w[yy]) if w.size > 0 else 1.0) if valid else 0.0
    sww = float(sw[i]) if sw.size > 0 else 1.0
    lse = m + _log(s)
    loss = wy * (lse - float(x[i * c + yy])) if valid else 0.0
    return sww * loss, sww * wy, yy


@_jit
def cross_entropy(x: Any, t: Any, sw: Any, cot: Any, w: Any, loss_out: Any, grad_out: Any,
                  per_sample: Any, totals: Any, starts: Any, c0: int, c1: int, c: int,
                  ignore: int) -> bool:
    """Chunks ``[c0, c1)`` (rows ``starts[c0]`` to ``starts[c1]``) of flat ``(N, C)`` logits
    ``x``, index targets ``t`` (checked by :func:`prepare`), class weights ``w`` and sample
    weights ``sw`` (empty: none). Writes ``per_sample`` (``sw_n l_n``), ``loss_out`` (the same;
    empty: not wanted), ``grad_out`` (``N * C``; empty: no gradient; row cotangent
    ``sw_n * cot[0]``) and ``totals[chunk]``; returns True if a logit is not finite."""
    cscale = float(cot[0])
    if c <= (SHORT_ROW_F32 if x.itemsize == 4 else SHORT_ROW_F64):
        return _short_rows(x, t, w, sw, cscale, c, ignore, loss_out, grad_out, per_sample,
                           totals, starts, c0, c1)
    return _long_rows(x, t, w, sw, cscale, c, ignore, loss_out, grad_out, per_sample, totals,
                      starts, c0, c1)


@_jit
def _short_rows(x: Any, t: Any, w: Any, sw: Any, cscale: float, c: int, ignore: int,
                loss_out: Any, grad_out: Any, per_sample: Any, totals: Any, starts: Any,
                c0: int, c1: int) -> bool:
    """:func:`cross_entropy` for short rows: each block of rows is transposed into a
    ``(C, rows)`` buffer, so that every step (max, exp, sums, log, scale) runs across rows as a
    vectorized loop; the gradient is transposed back."""
    grad = grad_out.size > 0
    keep = loss_out.size > 0
    bad = False
    rb = max(1, BLOCK // c)  # rows per block (the buffer's row stride)
    et = np.empty(rb * c, x.dtype)  # the block, transposed; then e^{x - m}
    mr = np.empty(rb, x.dtype)  # row max
    sr = np.empty(rb, np.float64)  # row sum of e
    xy = np.empty(rb, np.float64)  # x at the target
    wr = np.empty(rb, np.float64)  # w_y (0: ignored)
    swr = np.empty(rb, np.float64)  # sample weight
    yr = np.empty(rb, np.int64)  # target column (0 when ignored)
    rl = np.empty(rb, np.float64)  # weighted loss
    for ch in range(c0, c1):
        acc = 0.0
        r0 = starts[ch]
        while r0 < starts[ch + 1]:
            r1 = min(r0 + rb, starts[ch + 1])
            nr = r1 - r0
            xs = x[r0 * c:r1 * c]
            for j in range(c):  # transpose: contiguous stores (2x faster than the other way)
                col = et[j * rb:j * rb + nr]
                for r in range(nr):
                    col[r] = xs[r * c + j]
            m = mr[:nr]
            for r in range(nr):
                m[r] = et[r]
            for j in range(1, c):
                col = et[j * rb:j * rb + nr]
                for r in range(nr):
                    m[r] = max(m[r], col[r])  # a NaN is caught below, whatever it makes of m
            s = sr[:nr]
            s[:] = 0.0
            for j in range(c):
                col = et[j * rb:j * rb + nr]
                for r in range(nr):
                    v = col[r]
                    e = _exp_t(v - m[r])
                    col[r] = e
                    s[r] += e
                    bad |= not (abs(v) <= FMAX)
            for r in range(nr):
                y = t[r0 + r]
                valid = y != ignore
                yy = y if valid else 0
                yr[r] = yy
                xy[r] = xs[r * c + yy]
                wr[r] = (float(w[yy]) if w.size > 0 else 1.0) if valid else 0.0
                swr[r] = float(sw[r0 + r]) if sw.size > 0 else 1.0
            ps = per_sample[r0:r1]
            lr = rl[:nr]
            for r in range(nr):  # one array in and out: vectorized
                lr[r] = _log(s[r])
            for r in range(nr):
                lse = m[r] + lr[r]
                lr[r] = swr[r] * (wr[r] * (lse - xy[r]))
                ps[r] = lr[r]
            if keep:
                lo = loss_out[r0:r1]
                for r in range(nr):
                    lo[r] = lr[r]
            acc += _sum(lr)
            if grad:
                for r in range(nr):  # e at the target (a gather: its own loop)
                    xy[r] = et[yr[r] * rb + r]
                for r in range(nr):  # vectorized: the target's gradient (in xy), the scale
                    k = swr[r] * wr[r] * cscale
                    xy[r] = (xy[r] / s[r] - 1.0) * k
                    wr[r] = k / s[r]
                gs = grad_out[r0 * c:r1 * c]
                if x.itemsize == 4:  # transpose back: the faster loop order per dtype
                    for j in range(c):
                        col = et[j * rb:j * rb + nr]
                        for r in range(nr):
                            gs[r * c + j] = col[r] * wr[r]
                else:
                    for r in range(nr):
                        scale = wr[r]
                        for j in range(c):
                            gs[r * c + j] = et[j * rb + r] * scale
                for r in range(nr):
                    gs[r * c + yr[r]] = xy[r]
            r0 = r1
        totals[ch] = acc
    return bad


@_jit
def _long_rows(x: Any, t: Any, w: Any, sw: Any, cscale: float, c: int, ignore: int,
               loss_out: Any, grad_out: Any, per_sample: Any, totals: Any, starts: Any,
               c0: int, c1: int) -> bool:
    """:func:`cross_entropy` for long rows, one row at a time (every loop vectorizes)."""
    grad = grad_out.size > 0
    keep = loss_out.size > 0
    bad = False
    buf = np.empty(c, x.dtype)  # e when no gradient is wanted
    one = np.empty(1, x.dtype)
    for ch in range(c0, c1):
        acc = 0.0
        for n in range(starts[ch], starts[ch + 1]):
            xr = x[n * c:(n + 1) * c]
            er = grad_out[n * c:(n + 1) * c] if grad else buf
            m = _max(xr)
            for j in range(c):
                v = xr[j]
                er[j] = _exp_t(v - m)
                bad |= not (abs(v) <= FMAX)
            s = _sum(er)
            rl, coef, yy = _row_terms(x, t, w, sw, n, c, ignore, float(m), s)
            per_sample[n] = rl
            if keep:
                loss_out[n] = rl
            acc += rl
            if grad:
                k = coef * cscale
                gy = (float(er[yy]) / s - 1.0) * k
                one[0] = k / s  # the scale in the logits' dtype (float32: no widening)
                scale = one[0]
                for j in range(c):
                    er[j] = er[j] * scale
                er[yy] = gy
        totals[ch] = acc
    return bad


KERNELS = {"cross_entropy": (cross_entropy, prepare)}  # the kernel and its denominator
