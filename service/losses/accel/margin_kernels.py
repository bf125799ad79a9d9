"""The margin family's row-wise kernels (numba): multi_margin and triplet_margin.

Both losses give one value per row (sample), so each kernel walks whole rows: per row it checks
the inputs (finite; class indices in [0, C)), computes the row's loss, weights it, writes the
loss (``reduction='none'``), the per-sample breakdown and, when asked, the gradient times the
row's cotangent. Rows are processed by *chunks* (:mod:`service.losses.accel.parallel`): a call
handles chunks ``[c0, c1)`` and writes each chunk's weighted total into ``totals[chunk]``, so the
result does not depend on how the chunks are split between threads.

Precision: multi_margin's hinge arguments ``margin - x_y + x_j`` are computed in the inputs'
dtype exactly as the reference does, so the strict kink ``z > 0`` is decided as there also in
float32; everything after that is float64 (rounded once on store). A long row (``C >= SHORT``)
is one loop without floating-point reductions (``fastmath={"contract"}`` only: nothing is
reassociated) that writes the hinge terms to a row buffer and the gradient, then the row sums are
taken over the buffer by a function compiled with ``reassoc`` (vectorized); a short row is one
loop with plain sums. triplet_margin's distances are row sums in a ``reassoc`` function (the
differences ``u - v + eps`` formed there in the inputs' dtype); its gradient loop recomputes the
differences exactly as the reference (no reassociation). Short rows (``D < SHORT``) go by blocks
of rows, the gradient written by one loop over the block's elements. Finiteness is checked as
the rows are read (in the reassociated and plain sums as ``sum(x * 0) == 0``: ``x * 0`` is NaN
for inf and NaN).

Kernel options: :mod:`service.losses.accel.kernel_math` (``_jit``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import types
from numba.extending import overload

from .kernel_math import FMAX, _jit

SHORT = 32  # shorter rows: one loop with plain sums (multi_margin), blocks of rows (triplet)
BLOCK = 2048  # elements per block of short rows (triplet_margin)

# ---- row sums (reassociated: vectorized; float64) -------------------------------------------


@_jit(fastmath={"reassoc", "contract"})
def _hinge_sums(hb: Any) -> tuple[float, float, float]:
    """``(sum h, sum h^2, count of h > 0)`` of a row of hinge terms (``h >= 0``)."""
    s1 = 0.0
    s2 = 0.0
    cnt = 0.0
    for j in range(hb.size):
        h = hb[j]
        s1 += h
        s2 += h * h
        cnt += 1.0 if h > 0.0 else 0.0
    return s1, s2, cnt


@_jit(inline="always")
def _mm_short(x: Any, g: Any, o: int, k: int, base: Any, yi: int, gc: float, p2: bool,
              grad: bool) -> tuple[float, float, float, bool]:
    """The short row ``x[o:o + k]`` of multi_margin in one loop: ``(sum h, sum h^2, count of
    h > 0, finite)`` (only the sums that the loss and gradient need: ``p2`` and ``grad`` are
    constants, so each kernel keeps its branches only), the gradient written to ``g[o:o + k]``
    but at ``y``. Indexed directly (no row slices), with an integer count and a boolean
    finiteness check: 1.7x faster than with slices and float counters."""
    s1, s2, cnt = 0.0, 0.0, 0
    fin = True
    for j in range(k):
        xv = x[o + j]
        z = float(base + xv)
        on = (z > 0.0) & (j != yi)
        h = z if on else 0.0
        if p2:
            s2 += h * h
        if grad or not p2:
            s1 += h
        if grad and p2:
            g[o + j] = h * (2.0 * gc)
        elif grad:
            cnt += 1 if on else 0
            g[o + j] = gc if on else 0.0
        fin &= abs(xv) <= FMAX
    return s1, s2, float(cnt), fin


# ---- multi_margin ----------------------------------------------------------------------------
# MULTI_MARGIN[(p2, grad)]: (x, y, sw, cot, w, mg, loss_out, grad_out, per_sample, totals, starts,
# c0, c1, k) -> bad
# x: N * C scores (flat, read-only); y: N int64 class indices; sw: N weights or empty; cot: one
# cotangent or one per row; w: C class weights (float64) or empty; mg: [margin] in x's dtype;
# loss_out: N (reduction 'none') or empty; grad_out: N * C (grad) or empty; per_sample: N;
# totals: one per chunk; starts: the chunks' first rows (chunk_starts); k: C. p2: p == 2 (else
# p == 1) and grad (the gradient is written) are compile-time constants, one kernel per pair:
# tested per row, their branches made the short rows' loop 1.9x slower.


def _multi_margin_kernel(p2: bool, grad: bool) -> Any:
    """The multi_margin kernel for ``p == 2`` (else 1), with the gradient or without."""

    @_jit
    def multi_margin(x: Any, y: Any, sw: Any, cot: Any, w: Any, mg: Any, loss_out: Any,
                     grad_out: Any, per_sample: Any, totals: Any, starts: Any, c0: int, c1: int,
                     k: int) -> bool:
        return _multi_margin_rows(x, y, sw, cot, w, mg, loss_out, grad_out, per_sample, totals,
                                  starts, c0, c1, k, p2, grad)

    return multi_margin


@_jit(inline="always")
def _multi_margin_rows(x: Any, y: Any, sw: Any, cot: Any, w: Any, mg: Any, loss_out: Any,
                       grad_out: Any, per_sample: Any, totals: Any, starts: Any, c0: int,
                       c1: int, k: int, p2: bool, grad: bool) -> bool:
    has_sw = sw.size > 0
    has_w = w.size > 0
    want_loss = loss_out.size > 0
    one_cot = cot.size == 1
    inv_c = 1.0 / k
    m = mg[0]  # x's dtype: the hinge argument is computed in it, as the reference
    hb = np.empty(k, np.float64)
    bad = False
    for c in range(c0, c1):
        tot = 0.0
        for r in range(starts[c], starts[c + 1]):
            yi = y[r]
            ok = (yi >= 0) & (yi < k)
            bad |= not ok
            yi = yi if ok else 0
            coef = inv_c * w[yi] if has_w else inv_c
            cr = float(cot[0]) if one_cot else float(cot[r])
            gc = coef * cr
            base = m - x[r * k + yi]
            fin = True
            if k < SHORT:  # a short row: plain sums (the rows' chains of adds overlap)
                s1, s2, cnt, fin = _mm_short(x, grad_out, r * k, k, base, yi, gc, p2, grad)
            else:
                xr = x[r * k:(r + 1) * k]  # slices: LLVM sees indices >= 0
                gr = grad_out[r * k:(r + 1) * k]
                for j in range(k):
                    z = float(base + xr[j])
                    h = z if (z > 0.0) & (j != yi) else 0.0
                    hb[j] = h
                    if grad:
                        gr[j] = h * (2.0 * gc) if p2 else (gc if h > 0.0 else 0.0)
                    fin &= abs(xr[j]) <= FMAX
                s1, s2, cnt = _hinge_sums(hb)
            bad |= not fin
            if grad:  # d l / d x_y = -sum_{j != y} d l / d x_j
                grad_out[r * k + yi] = -(2.0 * gc * s1) if p2 else -(gc * cnt)
            loss = coef * (s2 if p2 else s1)
            if has_sw:
                s = float(sw[r])
                bad |= not ((s >= 0.0) & (s <= FMAX))
                loss = s * loss
            per_sample[r] = loss
            if want_loss:
                loss_out[r] = loss
            tot += loss
        totals[c] = tot
    return bad


MULTI_MARGIN = {(p2, grad): _multi_margin_kernel(p2, grad) for p2 in (False, True)
                for grad in (False, True)}


# ---- triplet_margin --------------------------------------------------------------------------


@_jit(fastmath={"reassoc", "contract"})
def _distances(ar: Any, pr: Any, nr: Any, e: Any, p2: bool, swap: bool,
               e_in: float) -> tuple[float, float, float, bool]:
    """``(d(a, p), d(a, n), d(p, n) or 0, finite)`` of one row: ``d = ||u - v + e||_p`` with
    ``e_in`` added inside the root (p = 2) or to the sum (p = 1). Reassociated (vectorized)."""
    s_ap, s_an, s_pn, chk = 0.0, 0.0, 0.0, 0.0  # chk: x * 0 is 0 if x is finite, else NaN
    for j in range(ar.size):
        u = float((ar[j] - pr[j]) + e)
        v = float((ar[j] - nr[j]) + e)
        s_ap += u * u if p2 else abs(u)
        s_an += v * v if p2 else abs(v)
        chk += float(ar[j]) * 0.0 + float(pr[j]) * 0.0 + float(nr[j]) * 0.0
        if swap:
            t = float((pr[j] - nr[j]) + e)
            s_pn += t * t if p2 else abs(t)
    if p2:
        return (np.sqrt(s_ap + e_in), np.sqrt(s_an + e_in),
                np.sqrt(s_pn + e_in) if swap else 0.0, chk == 0.0)
    return s_ap + e_in, s_an + e_in, s_pn + e_in if swap else 0.0, chk == 0.0


@_jit(inline="always")
def _g(z: float, p2: bool) -> float:
    """The numerator of d||z||_p / dz: ``z`` (p = 2, over ``||z||``) or ``sign(z)`` (p = 1)."""
    if p2:
        return z
    return 1.0 if z > 0.0 else (-1.0 if z < 0.0 else 0.0)


def _at(f: Any, j: int) -> Any:  # typed by the overload below
    raise NotImplementedError


@overload(_at, inline="always")
def _at_impl(f: Any, j: Any) -> Any:
    """``f[j]`` of an array of factors, ``f`` itself for one factor (a long row's)."""
    def each(f: Any, j: Any) -> Any:  # (annotated as _at_impl: numba compares the signatures)
        return f[j]

    def one(f: Any, j: Any) -> Any:
        return f

    return each if isinstance(f, types.Array) else one


@_jit(inline="always")
def _triplet_grad(ar: Any, pr: Any, nr: Any, gar: Any, gpr: Any, gnr: Any, fa: Any, fn: Any,
                  fp: Any, e: Any, p2: bool, swap: bool) -> None:
    """The gradients of a long row (one factor each) or of a block of short rows (one factor
    per element): ``fa``, ``fn``, ``fp`` are the factors of ``g(z_ap)``, ``g(z_an)``,
    ``g(z_pn)`` (``cotangent * [active] * weight / d``). The differences are recomputed from
    the inputs (just read: in cache) exactly as the reference (``(u - v) + eps`` in the
    inputs' dtype)."""
    if swap:
        for j in range(ar.size):
            u = _g(float((ar[j] - pr[j]) + e), p2) * _at(fa, j)
            v = _g(float((ar[j] - nr[j]) + e), p2) * _at(fn, j)
            t = _g(float((pr[j] - nr[j]) + e), p2) * _at(fp, j)
            gar[j] = u - v
            gpr[j] = -(u + t)
            gnr[j] = v + t
    else:
        for j in range(ar.size):
            u = _g(float((ar[j] - pr[j]) + e), p2) * _at(fa, j)
            v = _g(float((ar[j] - nr[j]) + e), p2) * _at(fn, j)
            gar[j] = u - v
            gpr[j] = -u
            gnr[j] = v


@_jit(inline="always")
def _distances_short(a: Any, p: Any, n: Any, o: int, k: int, e: Any, p2: bool, swap: bool,
                     e_in: float) -> tuple[float, float, float, bool]:
    """:func:`_distances` of the short row at ``o`` (``k`` < :data:`SHORT` elements), indexed
    directly and inlined, with plain sums (a call and a vectorized loop per row of 10 cost more
    than the work) and a boolean finiteness check."""
    s_ap, s_an, s_pn = 0.0, 0.0, 0.0
    fin = True
    for j in range(o, o + k):
        av, pv, nv = a[j], p[j], n[j]
        u = float((av - pv) + e)
        v = float((av - nv) + e)
        s_ap += u * u if p2 else abs(u)
        s_an += v * v if p2 else abs(v)
        fin &= (abs(av) <= FMAX) & (abs(pv) <= FMAX) & (abs(nv) <= FMAX)
        if swap:
            t = float((pv - nv) + e)
            s_pn += t * t if p2 else abs(t)
    if p2:
        return (np.sqrt(s_ap + e_in), np.sqrt(s_an + e_in),
                np.sqrt(s_pn + e_in) if swap else 0.0, fin)
    return s_ap + e_in, s_an + e_in, s_pn + e_in if swap else 0.0, fin


# TRIPLET_MARGIN[(p2, grad)]: (a, p, n, sw, cot, ea, loss_out, ga, gp, gn, per_sample, totals,
# starts, c0, c1, k, margin, e_in, swap) -> bad
# a, p, n: N * D embeddings (flat, read-only); ea: [eps added to each difference] in the inputs'
# dtype (torch; 0 for optax); e_in: eps added inside the norm (optax; 0 for torch); ga, gp, gn:
# N * D gradients (grad) or all three empty; swap: the distance swap. p2 (p == 2, else p == 1)
# and grad are compile-time constants, one kernel per pair (as multi_margin's). The rest as
# multi_margin's. Short rows (D < SHORT) go by blocks of rows: the rows' gradient factors are
# spread over a block buffer, then one loop over the block's elements writes the gradients (a
# loop per short row costs more in setup than in work).


def _triplet_margin_kernel(p2: bool, grad: bool) -> Any:
    """The triplet_margin kernel for ``p == 2`` (else 1), with the gradient or without."""

    @_jit
    def triplet_margin(a: Any, p: Any, n: Any, sw: Any, cot: Any, ea: Any, loss_out: Any,
                       ga: Any, gp: Any, gn: Any, per_sample: Any, totals: Any, starts: Any,
                       c0: int, c1: int, k: int, margin: float, e_in: float,
                       swap: bool) -> bool:
        return _triplet_rows(a, p, n, sw, cot, ea, loss_out, ga, gp, gn, per_sample, totals,
                             starts, c0, c1, k, margin, e_in, p2, swap, grad)

    return triplet_margin


@_jit(inline="always")
def _triplet_rows(a: Any, p: Any, n: Any, sw: Any, cot: Any, ea: Any, loss_out: Any, ga: Any,
                  gp: Any, gn: Any, per_sample: Any, totals: Any, starts: Any, c0: int, c1: int,
                  k: int, margin: float, e_in: float, p2: bool, swap: bool,
                  grad: bool) -> bool:
    has_sw = sw.size > 0
    want_loss = loss_out.size > 0
    one_cot = cot.size == 1
    e = ea[0]
    nb = max(1, BLOCK // k) if k < SHORT else 1  # rows per block
    size = nb * k if grad and k < SHORT else 0
    fa_b, fn_b, fp_b = np.empty(size), np.empty(size), np.empty(size)
    bad = False
    for c in range(c0, c1):
        tot = 0.0
        r1 = starts[c + 1]
        for b0 in range(starts[c], r1, nb):
            b1 = min(b0 + nb, r1)
            for r in range(b0, b1):
                if k < SHORT:
                    d_ap, d_an, d_pn, fin = _distances_short(a, p, n, r * k, k, e, p2, swap,
                                                             e_in)
                else:
                    d_ap, d_an, d_pn, fin = _distances(a[r * k:(r + 1) * k],
                                                       p[r * k:(r + 1) * k],
                                                       n[r * k:(r + 1) * k], e, p2, swap, e_in)
                bad |= not fin
                w_an = 1.0
                d_neg = d_an
                if swap:
                    d_neg = min(d_an, d_pn)
                    # torch.minimum's backward: the smaller distance takes it, a tie splits it
                    w_an = 1.0 if d_an < d_pn else (0.5 if d_an == d_pn else 0.0)
                h = d_ap - d_neg + margin
                loss = max(h, 0.0)
                if grad:
                    cr = float(cot[0]) if one_cot else float(cot[r])
                    s = cr if h >= 0.0 else 0.0  # clamp_min: active at h == 0
                    if p2:  # g(z) = z / d (0 for a zero vector)
                        f_ap = s / d_ap if d_ap != 0.0 else 0.0
                        f_an = s * w_an / d_an if d_an != 0.0 else 0.0
                        f_pn = s * (1.0 - w_an) / d_pn if d_pn != 0.0 else 0.0
                    else:  # g(z) = sign(z)
                        f_ap, f_an, f_pn = s, s * w_an, s * (1.0 - w_an)
                    if k >= SHORT:  # a long row: its gradients now
                        ar = a[r * k:(r + 1) * k]  # slices: LLVM sees indices >= 0
                        pr = p[r * k:(r + 1) * k]
                        nr = n[r * k:(r + 1) * k]
                        _triplet_grad(ar, pr, nr, ga[r * k:(r + 1) * k],
                                          gp[r * k:(r + 1) * k], gn[r * k:(r + 1) * k], f_ap,
                                          f_an, f_pn, e, p2, swap)
                    else:  # a short row: its factors, the gradients after the block
                        o = (r - b0) * k
                        fa, fn, fp = fa_b[o:o + k], fn_b[o:o + k], fp_b[o:o + k]
                        for j in range(k):
                            fa[j] = f_ap
                        for j in range(k):
                            fn[j] = f_an
                        if swap:
                            for j in range(k):
                                fp[j] = f_pn
                if has_sw:
                    sr = float(sw[r])
                    bad |= not ((sr >= 0.0) & (sr <= FMAX))
                    loss = sr * loss
                per_sample[r] = loss
                if want_loss:
                    loss_out[r] = loss
                tot += loss
            if grad and k < SHORT:
                lo, hi = b0 * k, b1 * k
                m = hi - lo
                _triplet_grad(a[lo:hi], p[lo:hi], n[lo:hi], ga[lo:hi], gp[lo:hi], gn[lo:hi],
                              fa_b[:m], fn_b[:m], fp_b[:m], e, p2, swap)
        totals[c] = tot
    return bad


TRIPLET_MARGIN = {(p2, grad): _triplet_margin_kernel(p2, grad) for p2 in (False, True)
                  for grad in (False, True)}
KERNELS = {"multi_margin": MULTI_MARGIN, "triplet_margin": TRIPLET_MARGIN}  # each by (p2, grad)
