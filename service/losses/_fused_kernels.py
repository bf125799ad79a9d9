"""The numba kernels behind :mod:`service.losses._fused` (imported only when numba is installed).

One kernel per loss makes a single pass over its inputs in blocks of :data:`BLOCK` elements: per
element it checks the inputs (finite; targets in [0, 1] where the loss needs probabilities),
computes the loss and, when asked, the gradient times the cotangent; per block it sums the losses
of each sample (row) in float64, weights them and writes the per-sample breakdown. The regression
losses (mse, l1, huber, smooth_l1) check nothing per element: their loss is infinite or NaN
whenever an input is, and so is then every sum it enters (a weight of 0 makes NaN), so a chunk
whose total is not finite is reported as bad, and the generic path runs (it also does when the
total overflowed from finite inputs: it computes the same infinity). The per-element check cost
a quarter to a third of these kernels' time. Nothing is
allocated beyond the results and a block buffer, which is where the speed comes from: the NumPy
path makes 6 to 30 passes over full-size temporaries.

Values are computed in float64 (float32 inputs widened on load, rounded once on store), except
the binary losses on float32 inputs, which have float32 kernels (twice the SIMD lanes). ``exp``,
``log`` and ``log1p`` are written out here (:func:`_exp`, :func:`_log`, :func:`_log1p01` and
their float32 versions: range reduction and a polynomial, within 1 to 2 ulp of a 40-digit
reference, as NumPy's) because the C library's scalar versions stop the loops from being
vectorized: with them a fused loss was slower than NumPy's SIMD passes.

Kernels are compiled with ``error_model="numpy"`` (no zero-division checks, which block
vectorization), ``nogil`` (the server evaluates large requests in worker threads) and
``fastmath={"contract"}`` (fused multiply-adds only; no reassociation, so the range reductions
stay exact), except the block sums, which may be reassociated (they accumulate in float64).
They are cached on disk where numba finds a writable cache directory (next to this file, or
``NUMBA_CACHE_DIR``), else compiled in each process; :func:`service.losses._fused.warm_up`
compiles them before the server reports ready.

Each loss has its own driver loop below, written out, although the loops differ only in the
element function they call: a driver that takes the element function as a closure variable or
as an argument is never found in numba's disk cache (numba 0.68: every process pickles the
function differently, so the cache key changes; checked with ``kernel.stats.cache_hits``), and
the server would recompile every kernel at each start. The margin kernels' factories
(:mod:`._fused_margin_kernels`) close over booleans only, which cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

BLOCK = 4096  # elements per block: the block buffer and the block's inputs stay in L1/L2
FMAX = 1.7976931348623157e308  # the largest finite float64 (abs(v) <= FMAX: v is finite)
_OPTS: dict[str, Any] = {"nogil": True, "error_model": "numpy", "fastmath": {"contract"}}


def _jit(fn: Callable[..., Any] | None = None, **extra: Any) -> Any:
    """``numba.njit`` with :data:`_OPTS`; cached on disk when a cache directory is writable."""

    def wrap(f: Callable[..., Any]) -> Any:
        opts = {**_OPTS, **extra}
        try:
            return numba.njit(cache=True, **opts)(f)
        except RuntimeError:  # no writable cache location (read-only image): compile per process
            return numba.njit(cache=False, **opts)(f)

    return wrap if fn is None else wrap(fn)


@intrinsic
def _bits_to_f64(typingctx: Any, i: Any) -> Any:
    """Reinterpret an int64 as the float64 with the same bits."""
    sig = types.float64(types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


@intrinsic
def _f64_to_bits(typingctx: Any, v: Any) -> Any:
    """Reinterpret a float64 as the int64 with the same bits."""
    sig = types.int64(types.float64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return sig, codegen


@intrinsic
def _bits_to_f32(typingctx: Any, i: Any) -> Any:
    """Reinterpret an int32 as the float32 with the same bits."""
    sig = types.float32(types.int32)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return sig, codegen


# ---- elementary functions (float64, vectorizable: no calls, no branches) -----------------------

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split (fdlibm): k * _LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
_TINY = 2.2250738585072014e-308  # the smallest normal float64


@_jit(inline="always")
def _exp(z: float) -> float:
    """``e^z``: ``z = k ln2 + r`` with ``|r| <= ln2 / 2``, ``e^r`` by its Taylor polynomial of
    degree 13 (truncation < 5e-18), then ``2^k`` applied as two exact powers of two (so results
    that underflow into subnormals are rounded once). 0 below -745, inf above 709.78."""
    z = min(max(z, -760.0), 710.0)
    k = np.floor(z * _LOG2E + 0.5)
    r = (z - k * _LN2_HI) - k * _LN2_LO
    p = 1.6059043836821613e-10
    p = p * r + 2.08767569878681e-09
    p = p * r + 2.505210838544172e-08
    p = p * r + 2.755731922398589e-07
    p = p * r + 2.7557319223985893e-06
    p = p * r + 2.48015873015873e-05
    p = p * r + 0.0001984126984126984
    p = p * r + 0.001388888888888889
    p = p * r + 0.008333333333333333
    p = p * r + 0.041666666666666664
    p = p * r + 0.16666666666666666
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    ki = np.int64(k)
    k1 = ki >> 1
    return (p * _bits_to_f64((k1 + 1023) << 52)) * _bits_to_f64((ki - k1 + 1023) << 52)


@_jit(inline="always")
def _log_reduced(f: float, k: float, c: float) -> float:
    """``k ln2 + log(1 + f) + c`` for ``f`` in [sqrt(1/2) - 1, sqrt(2) - 1] (fdlibm's ``log1p``:
    ``s = f / (2 + f)``, a minimax polynomial in ``s^2``, and ``f`` itself as the leading term,
    so the result is within 1 ulp)."""
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    r = 1.479819860511658591e-01
    r = r * z + 1.531383769920937332e-01
    r = r * z + 1.818357216161805012e-01
    r = r * z + 2.222219843214978396e-01
    r = r * z + 2.857142874366239149e-01
    r = r * z + 3.999999999940941908e-01
    r = r * z + 6.666666666666735130e-01
    r = r * z
    return k * _LN2_HI - ((hfsq - (s * (hfsq + r) + (k * _LN2_LO + c))) - f)


@_jit(inline="always")
def _log1p01(e: float) -> float:
    """``log(1 + e)`` for ``e`` in [0, 1]: ``f = e`` below sqrt(2) - 1, else ``1 + e = 2 (1 + f)``
    with ``c`` the rounding error of ``1 + e`` (fdlibm)."""
    big = e >= 0.41421356237309503
    u = 1.0 + e
    f = 0.5 * u - 1.0 if big else e  # exact (Sterbenz)
    c = (1.0 - (u - e)) / u if big else 0.0
    return _log_reduced(f, 1.0 if big else 0.0, c)


@_jit(inline="always")
def _log(v: float) -> float:
    """``log v`` for ``v > 0`` (subnormals included): ``v = 2^k (1 + f)`` with ``1 + f`` in
    [sqrt(1/2), sqrt(2))."""
    sub = v < _TINY
    v = v * 18014398509481984.0 if sub else v  # 2^54: subnormals become normal
    bits = _f64_to_bits(v)
    k = ((bits >> 52) & 0x7FF) - 1023 - (54 if sub else 0)
    m = _bits_to_f64((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # in [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    return _log_reduced(m - 1.0, float(k + (1 if big else 0)), 0.0)  # m - 1 is exact


@_jit(inline="always")
def _softplus_sigmoid(x: float) -> tuple[float, float, float, float]:
    """``(softplus(x), softplus(-x), sigma(x), sigma(-x))`` from one ``e = e^{-|x|}`` (as
    :func:`service.losses._math.softplus_pair` and ``sigmoid_pair``)."""
    e = _exp(-abs(x))
    tail = _log1p01(e)
    d = 1.0 / (1.0 + e)
    small = e * d
    return (max(x, 0.0) + tail, max(-x, 0.0) + tail,
            d if x >= 0.0 else small, d if x <= 0.0 else small)


# ---- per-element losses: (loss) or (loss, d loss / d prediction), float64 -----------------------


@_jit(inline="always")
def _mse(x: float, y: float, grad: bool) -> tuple[float, float]:
    d = x - y
    return d * d, (2.0 * d if grad else 0.0)


@_jit(inline="always")
def _sign(d: float) -> float:
    return 1.0 if d > 0.0 else (-1.0 if d < 0.0 else 0.0)


@_jit(inline="always")
def _l1(x: float, y: float, grad: bool) -> tuple[float, float]:
    d = x - y
    return abs(d), (_sign(d) if grad else 0.0)


@_jit(inline="always")
def _huber(x: float, y: float, delta: float, grad: bool) -> tuple[float, float]:
    d = x - y
    a = abs(d)
    loss = 0.5 * d * d if a < delta else delta * (a - 0.5 * delta)
    return loss, (min(max(d, -delta), delta) if grad else 0.0)


@_jit(inline="always")
def _smooth_l1(x: float, y: float, beta: float, grad: bool) -> tuple[float, float]:
    d = x - y  # beta > 0 (beta = 0 is l1)
    a = abs(d)
    inside = a < beta
    loss = 0.5 * d * d / beta if inside else a - 0.5 * beta
    return loss, ((d / beta if inside else _sign(d)) if grad else 0.0)


@_jit(inline="always")
def _bce_logits(x: float, y: float, grad: bool) -> tuple[float, float]:
    sp_pos, sp_neg, s, t = _softplus_sigmoid(x)
    return y * sp_neg + (1.0 - y) * sp_pos, ((1.0 - y) * s - y * t if grad else 0.0)


@_jit(inline="always")
def _focal(x: float, y: float, alpha: float, gamma: float, square: bool,
           grad: bool) -> tuple[float, float]:
    """As :func:`service.losses.binary.sigmoid_focal` (torch/optax); ``alpha < 0``: no
    weighting; ``square``: ``gamma == 2`` (``q^2 = q q``, as NumPy's ``q ** 2``; the caller
    passes it as a constant, so each loop keeps only its branch)."""
    sp_pos, sp_neg, s, t = _softplus_sigmoid(x)
    ce = y * sp_neg + (1.0 - y) * sp_pos
    q = s * (1.0 - y) + t * y
    live = q > 0.0
    log_q = _log(q if live else 1.0)
    if square:
        mod = q * q
    elif gamma == 0.0:
        mod = 1.0
    else:
        mod = _exp(gamma * log_q) if live else 0.0
    a_t = alpha * y + (1.0 - alpha) * (1.0 - y) if alpha >= 0.0 else 1.0
    loss = a_t * mod * ce
    if not grad:
        return loss, 0.0
    g = mod * ((1.0 - y) * s - y * t)
    if gamma != 0.0:
        # r = s t q^(gamma - 1): the reference's exp((gamma - 1) log q - sp_neg - sp_pos);
        # for gamma = 2 the product itself (no log, no exp: as accurate, 3x cheaper)
        r = s * t * q if square else _exp((gamma - 1.0) * log_q - sp_neg - sp_pos)
        g = g + (gamma * (1.0 - 2.0 * y) * r * ce if live else 0.0)
    return loss, a_t * g


# ---- float32: the binary losses in single precision (twice the SIMD lanes, shorter polynomials) --
# Constants are float32 scalars so that no operation widens to float64. exp and log1p are
# Cephes' expf and fdlibm's log1pf (within 1 ulp of float32, as NumPy's); q^gamma and log q for a
# gamma other than 2 are computed in float64 (their error grows with |gamma log q|).

_F0, _F1, _F2, _FH = np.float32(0.0), np.float32(1.0), np.float32(2.0), np.float32(0.5)
_F_MIN, _F_MAX = np.float32(-103.97), np.float32(88.72)  # e^z is 0 below, inf above
_F_LOG2E = np.float32(1.44269504088896341)
_F_C1, _F_C2 = np.float32(0.693359375), np.float32(-2.12194440e-4)  # ln 2 split (Cephes)
_F_P = tuple(np.float32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                     4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))
_F_LP = tuple(np.float32(c) for c in (1.4798198640e-01, 1.5313838422e-01, 1.8183572590e-01,
                                      2.2222198546e-01, 2.8571429849e-01, 4.0000000596e-01,
                                      6.6666668653e-01))
_F_LN2_HI, _F_LN2_LO = np.float32(6.9313812256e-01), np.float32(9.0580006145e-06)
_F_SQRT2M1 = np.float32(0.41421356)


@_jit(inline="always")
def _exp32(z: Any) -> Any:
    """``e^z`` in float32 (Cephes' expf: ``z = k ln2 + r``, a degree-6 polynomial)."""
    z = min(max(z, _F_MIN), _F_MAX)
    k = np.floor(z * _F_LOG2E + _FH)
    r = (z - k * _F_C1) - k * _F_C2
    p = _F_P[0]
    p = p * r + _F_P[1]
    p = p * r + _F_P[2]
    p = p * r + _F_P[3]
    p = p * r + _F_P[4]
    p = p * r + _F_P[5]
    p = p * r * r + r + _F1
    ki = np.int32(k)
    k1 = ki >> np.int32(1)
    return (p * _bits_to_f32((k1 + np.int32(127)) << np.int32(23))) * _bits_to_f32(
        (ki - k1 + np.int32(127)) << np.int32(23))


@_jit(inline="always")
def _log1p01_32(e: Any) -> Any:
    """``log(1 + e)`` for ``e`` in [0, 1] in float32 (fdlibm's log1pf; see :func:`_log1p01`)."""
    big = e >= _F_SQRT2M1
    u = _F1 + e
    f = _FH * u - _F1 if big else e
    c = (_F1 - (u - e)) / u if big else _F0
    k = _F1 if big else _F0
    hfsq = _FH * f * f
    s = f / (_F2 + f)
    z = s * s
    r = _F_LP[0]
    r = r * z + _F_LP[1]
    r = r * z + _F_LP[2]
    r = r * z + _F_LP[3]
    r = r * z + _F_LP[4]
    r = r * z + _F_LP[5]
    r = r * z + _F_LP[6]
    r = r * z
    return k * _F_LN2_HI - ((hfsq - (s * (hfsq + r) + (k * _F_LN2_LO + c))) - f)


@_jit(inline="always")
def _softplus_sigmoid32(x: Any) -> tuple[Any, Any, Any, Any]:
    """:func:`_softplus_sigmoid` in float32."""
    e = _exp32(-abs(x))
    tail = _log1p01_32(e)
    d = _F1 / (_F1 + e)
    small = e * d
    return (max(x, _F0) + tail, max(-x, _F0) + tail,
            d if x >= _F0 else small, d if x <= _F0 else small)


@_jit(inline="always")
def _bce_logits32(x: Any, y: Any, grad: bool) -> tuple[Any, Any]:
    sp_pos, sp_neg, s, t = _softplus_sigmoid32(x)
    return y * sp_neg + (_F1 - y) * sp_pos, ((_F1 - y) * s - y * t if grad else _F0)


@_jit(inline="always")
def _focal32(x: Any, y: Any, alpha: float, gamma: float, square: bool,
             grad: bool) -> tuple[Any, Any]:
    """:func:`_focal` in float32 (q^gamma and its log in float64 unless gamma = 2)."""
    sp_pos, sp_neg, s, t = _softplus_sigmoid32(x)
    ce = y * sp_neg + (_F1 - y) * sp_pos
    q = s * (_F1 - y) + t * y
    live = q > _F0
    log_q = _log(float(q) if live else 1.0)
    g32, a32 = np.float32(gamma), np.float32(alpha)
    if square:
        mod = q * q
    elif gamma == 0.0:
        mod = _F1
    else:
        mod = np.float32(_exp(gamma * log_q)) if live else _F0
    a_t = a32 * y + (_F1 - a32) * (_F1 - y) if alpha >= 0.0 else _F1
    loss = a_t * mod * ce
    if not grad:
        return loss, _F0
    g = mod * ((_F1 - y) * s - y * t)
    if gamma != 0.0:
        if square:
            r = s * t * q
        else:
            r = np.float32(_exp((gamma - 1.0) * log_q - float(sp_neg) - float(sp_pos)))
        g = g + (g32 * (_F1 - _F2 * y) * r * ce if live else _F0)
    return loss, a_t * g


# ---- the block skeleton shared by every kernel ---------------------------------------------------


@_jit(fastmath={"reassoc", "contract"})
def _sum(buf: Any) -> float:
    """``sum(buf)`` in float64 (reassociated: vectorized)."""
    t = 0.0
    for j in range(buf.size):
        t += buf[j]
    return t


@_jit(inline="always")
def _chunk_end(a: int, size: int, k: int) -> int:
    """The end of the block that starts at element ``a``: whole rows of ``k`` elements when a row
    fits in :data:`BLOCK`, else :data:`BLOCK` elements of one row."""
    if k <= BLOCK:
        return min(a + max(1, BLOCK // k) * k, size)
    return min(a + BLOCK, (a // k + 1) * k)


@_jit(inline="always")
def _bad(x: float, y: float, lo: float, hi: float) -> bool:
    """Whether ``x`` is not finite or ``y`` is not in [lo, hi] (NaN included)."""
    return not ((abs(x) <= FMAX) & (y >= lo) & (y <= hi))


@_jit
def _finish(lbuf: Any, rbuf: Any, a: int, b: int, k: int, sw: Any, cot: Any, loss_out: Any,
            grad_out: Any, per_sample: Any, acc: Any) -> None:
    """Reduce the block ``[a, b)`` whose losses are in ``lbuf[:b - a]``: weight by ``sw`` (one
    weight per row; empty: none), write ``loss_out`` (the weighted loss; empty: not wanted),
    scale ``grad_out`` by the per-row cotangent (when ``cot`` has one per row), write the rows'
    means to ``per_sample`` (empty: not wanted) and add the block's weighted sum to ``acc[0]``
    (the total). Unweighted, the total is the block's sum (vectorized) whether or not the rows'
    sums are wanted, so the value never depends on the per-sample breakdown being asked for.
    ``acc[1]`` carries the partial sum of a row longer than a block; ``acc[2]`` is set to 1 for
    a negative or non-finite weight."""
    m = b - a
    has_sw = sw.size > 0
    want_ps = per_sample.size > 0
    row_cot = cot.size > 1 and grad_out.size > 0
    lb = lbuf[:m]
    lo = loss_out[a:b]  # slices (empty when not wanted): LLVM sees indices >= 0
    go = grad_out[a:b]
    if k <= BLOCK:  # whole rows
        r0 = a // k
        rows = m // k
        rb = rbuf[:rows]
        ws = sw[r0:r0 + rows]
        if has_sw or want_ps:  # the rows' sums, weighted
            if k == 1:  # one element per row: elementwise, vectorized
                if has_sw:
                    for i in range(rows):
                        rb[i] = float(ws[i]) * lb[i]
                else:
                    for i in range(rows):
                        rb[i] = lb[i]
            else:
                for i in range(rows):
                    row = lb[i * k:(i + 1) * k]
                    if k < 32:  # short rows: a plain sum (the rows' chains of adds overlap)
                        v = float(row[0])  # float64, also for a float32 buffer
                        for j in range(1, k):
                            v += row[j]
                    else:
                        v = _sum(row)
                    rb[i] = float(ws[i]) * v if has_sw else v
            if want_ps:
                ps = per_sample[r0:r0 + rows]
                if k == 1:
                    for i in range(rows):
                        ps[i] = rb[i]
                else:
                    for i in range(rows):
                        ps[i] = rb[i] / k
        acc[0] += _sum(rb) if has_sw else _sum(lb)
        if has_sw:
            bad = False
            for i in range(rows):
                bad |= not ((ws[i] >= 0.0) & (ws[i] <= FMAX))
            if bad:
                acc[2] = 1.0
            if lo.size > 0:
                for i in range(rows):
                    s = float(ws[i])
                    for j in range(i * k, (i + 1) * k):
                        lo[j] = s * lb[j]
            if row_cot:
                cs = cot[r0:r0 + rows]
                for i in range(rows):
                    c = cs[i]
                    for j in range(i * k, (i + 1) * k):
                        go[j] = go[j] * c
        elif lo.size > 0:
            for j in range(m):
                lo[j] = lb[j]
        return
    r = a // k  # a block inside row r
    s = float(sw[r]) if has_sw else 1.0
    acc[1] += _sum(lb)
    for j in range(lo.size):
        lo[j] = s * lb[j]
    if row_cot:
        c = cot[r]
        for j in range(m):
            go[j] = go[j] * c
    if b == (r + 1) * k:  # the row is complete
        if has_sw and not (s >= 0.0 and s <= FMAX):
            acc[2] = 1.0
        if want_ps:
            per_sample[r] = s * acc[1] / k
        acc[0] += s * acc[1]
        acc[1] = 0.0


# ---- the kernels: one per loss, the same signature ----------------------------------------------
# (x, y, sw, cot, loss_out, grad_out, per_sample, k, p0, p1, totals, starts, c0, c1) -> bad
# x, y: flat C-contiguous read-only inputs of N * k elements (every array of one call has the
# inputs' dtype); sw: N weights or empty; cot: the cotangent,
# one value (any reduction without weights) or one per row; loss_out: N * k or empty (not
# wanted); grad_out: N * k or empty (no gradient); per_sample: N or empty (not wanted); p0, p1:
# the loss's parameters;
# starts: the first row of each chunk (service.losses._fused_parallel.chunk_starts); the kernel
# processes chunks [c0, c1) and writes each one's sum of weighted losses into totals[chunk].
# bad: an input failed a check (nothing is raised here: the caller re-runs the reference path,
# which raises the exact error).

@_jit
def _buffers(size: int, k: int) -> tuple[Any, Any, Any]:
    return np.empty(min(size, BLOCK), np.float64), np.empty(BLOCK, np.float64), np.zeros(3)


@_jit
def mse(x: Any, y: Any, sw: Any, cot: Any, loss_out: Any, grad_out: Any,
        per_sample: Any, k: int, p0: float, p1: float, totals: Any, starts: Any,
        c0: int, c1: int) -> bool:
    lbuf, rbuf, acc = _buffers(x.size, k)
    c = float(cot[0]) if cot.size == 1 else 1.0  # else applied per row
    bad = False
    for ch in range(c0, c1):
        a, end = starts[ch] * k, starts[ch + 1] * k
        acc[0] = 0.0
        while a < end:
            b = _chunk_end(a, end, k)
            xs, ys, gs = x[a:b], y[a:b], grad_out[a:b]  # slices: LLVM sees indices >= 0
            if grad_out.size > 0:
                for j in range(b - a):
                    loss, g = _mse(float(xs[j]), float(ys[j]), True)
                    lbuf[j] = loss
                    gs[j] = g * c
            else:
                for j in range(b - a):
                    lbuf[j] = _mse(float(xs[j]), float(ys[j]), False)[0]
            _finish(lbuf, rbuf, a, b, k, sw, cot, loss_out, grad_out, per_sample, acc)
            a = b
        totals[ch] = acc[0]
        bad |= not abs(acc[0]) <= FMAX  # a non-finite input: see the module docstring
    return bad or acc[2] != 0.0


@_jit
def l1(x: Any, y: Any, sw: Any, cot: Any, loss_out: Any, grad_out: Any,
       per_sample: Any, k: int, p0: float, p1: float, totals: Any, starts: Any,
       c0: int, c1: int) -> bool:
    lbuf, rbuf, acc = _buffers(x.size, k)
    c = float(cot[0]) if cot.size == 1 else 1.0  # else applied per row
    bad = False
    for ch in range(c0, c1):
        a, end = starts[ch] * k, starts[ch + 1] * k
        acc[0] = 0.0
        while a < end:
            b = _chunk_end(a, end, k)
            xs, ys, gs = x[a:b], y[a:b], grad_out[a:b]  # slices: LLVM sees indices >= 0
            if grad_out.size > 0:
                for j in range(b - a):
                    loss, g = _l1(float(xs[j]), float(ys[j]), True)
                    lbuf[j] = loss
                    gs[j] = g * c
            else:
                for j in range(b - a):
                    lbuf[j] = _l1(float(xs[j]), float(ys[j]), False)[0]
            _finish(lbuf, rbuf, a, b, k, sw, cot, loss_out, grad_out, per_sample, acc)
            a = b
        totals[ch] = acc[0]
        bad |= not abs(acc[0]) <= FMAX  # a non-finite input: see the module docstring
    return bad or acc[2] != 0.0


@_jit
def huber(x: Any, y: Any, sw: Any, cot: Any, loss_out: Any, grad_out: Any,
          per_sample: Any, k: int, p0: float, p1: float, totals: Any, starts: Any,
          c0: int, c1: int) -> bool:
    lbuf, rbuf, acc = _buffers(x.size, k)
    c = float(cot[0]) if cot.size == 1 else 1.0  # else applied per row
    bad = False
    for ch in range(c0, c1):
        a, end = starts[ch] * k, starts[ch + 1] * k
        acc[0] = 0.0
        while a < end:
            b = _chunk_end(a, end, k)
            xs, ys, gs = x[a:b], y[a:b], grad_out[a:b]  # slices: LLVM sees indices >= 0
            if grad_out.size > 0:
                for j in range(b - a):
                    loss, g = _huber(float(xs[j]), float(ys[j]), p0, True)
                    lbuf[j] = loss
                    gs[j] = g * c
            else:
                for j in range(b - a):
                    lbuf[j] = _huber(float(xs[j]), float(ys[j]), p0, False)[0]
            _finish(lbuf, rbuf, a, b, k, sw, cot, loss_out, grad_out, per_sample, acc)
            a = b
        totals[ch] = acc[0]
        bad |= not abs(acc[0]) <= FMAX  # a non-finite input: see the module docstring
    return bad or acc[2] != 0.0


@_jit
def smooth_l1(x: Any, y: Any, sw: Any, cot: Any, loss_out: Any, grad_out: Any,
              per_sample: Any, k: int, p0: float, p1: float, totals: Any, starts: Any,
              c0: int, c1: int) -> bool:
    lbuf, rbuf, acc = _buffers(x.size, k)
    c = float(cot[0]) if cot.size == 1 else 1.0  # else applied per row
    bad = False
    for ch in range(c0, c1):
        a, end = starts[ch] * k, starts[ch + 1] * k
        acc[0] = 0.0
        while a < end:
            b = _chunk_end(a, end, k)
            xs, ys, gs = x[a:b], y[a:b], grad_out[a:b]  # slices: LLVM sees indices >= 0
            if grad_out.size > 0:
                for j in range(b - a):
                    loss, g = _smooth_l1(float(xs[j]), float(ys[j]), p0, True)
                    lbuf[j] = loss
                    gs[j] = g * c
            else:
                for j in range(b - a):
                    lbuf[j] = _smooth_l1(float(xs[j]), float(ys[j]), p0, False)[0]
            _finish(lbuf, rbuf, a, b, k, sw, cot, loss_out, grad_out, per_sample, acc)
            a = b
        totals[ch] = acc[0]
        bad |= not abs(acc[0]) <= FMAX  # a non-finite input: see the module docstring
    return bad or acc[2] != 0.0


@_jit
def bce_with_logits(x: Any, y: Any, sw: Any, cot: Any, loss_out: Any, grad_out: Any,
                    per_sample: Any, k: int, p0: float, p1: float, totals: Any, starts: Any,
                    c0: int, c1: int) -> bool:
    lbuf, rbuf, acc = _buffers(x.size, k)
    c = float(cot[0]) if cot.size == 1 else 1.0  # else applied per row
    bad = False
    for ch in range(c0, c1):
        a, end = starts[ch] * k, starts[ch + 1] * k
        acc[0] = 0.0
        while a < end:
            b = _chunk_end(a, end, k)
            xs, ys, gs = x[a:b], y[a:b], grad_out[a:b]  # slices: LLVM sees indices >= 0
            if grad_out.size > 0:
                for j in range(b - a):
                    loss, g = _bce_logits(float(xs[j]), float(ys[j]), True)
                    lbuf[j] = loss
                    gs[j] = g * c
                    bad |= _bad(xs[j], ys[j], 0.0, 1.0)
            else:
                for j in range(b - a):
                    lbuf[j] = _bce_logits(float(xs[j]), float(ys[j]), False)[0]
                    bad |= _bad(xs[j], ys[j], 0.0, 1.0)
            _finish(lbuf, rbuf, a, b, k, sw, cot, loss_out, grad_out, per_sample, acc)
            a = b
        totals[ch] = acc[0]
    return bad or acc[2] != 0.0


@_jit
def sigmoid_focal(x: Any, y: Any, sw: Any, cot: Any, loss_out: Any, grad_out: Any,
                  per_sample: Any, k: int, p0: float, p1: float, totals: Any, starts: Any,
                  c0: int, c1: int) -> bool:
    """p0 = alpha (< 0: no weighting), p1 = gamma."""
    lbuf, rbuf, acc = _buffers(x.size, k)
    c = float(cot[0]) if cot.size == 1 else 1.0  # else applied per row
    bad = False
    for ch in range(c0, c1):
        a, end = starts[ch] * k, starts[ch + 1] * k
        acc[0] = 0.0
        while a < end:
            b = _chunk_end(a, end, k)
            xs, ys, gs = x[a:b], y[a:b], grad_out[a:b]  # slices: LLVM sees indices >= 0
            grad = grad_out.size > 0
            # separate loops for gamma = 2 (q * q) and any other gamma (exp(gamma log q))
            if grad and p1 == 2.0:
                for j in range(b - a):
                    loss, g = _focal(float(xs[j]), float(ys[j]), p0, p1, True, True)
                    lbuf[j] = loss
                    gs[j] = g * c
                    bad |= _bad(xs[j], ys[j], 0.0, 1.0)
            elif grad:
                for j in range(b - a):
                    loss, g = _focal(float(xs[j]), float(ys[j]), p0, p1, False, True)
                    lbuf[j] = loss
                    gs[j] = g * c
                    bad |= _bad(xs[j], ys[j], 0.0, 1.0)
            elif p1 == 2.0:
                for j in range(b - a):
                    lbuf[j] = _focal(float(xs[j]), float(ys[j]), p0, p1, True, False)[0]
                    bad |= _bad(xs[j], ys[j], 0.0, 1.0)
            else:
                for j in range(b - a):
                    lbuf[j] = _focal(float(xs[j]), float(ys[j]), p0, p1, False, False)[0]
                    bad |= _bad(xs[j], ys[j], 0.0, 1.0)
            _finish(lbuf, rbuf, a, b, k, sw, cot, loss_out, grad_out, per_sample, acc)
            a = b
        totals[ch] = acc[0]
    return bad or acc[2] != 0.0


# float32 inputs of the binary losses: the same kernels with the float32 element functions and
# a float32 block buffer (a float64 one halves the vector width of the whole loop)

_F_FMAX = np.float32(3.4028235e38)


@_jit(inline="always")
def _bad32(x: Any, y: Any) -> bool:
    """:func:`_bad` for float32 values and targets in [0, 1]."""
    return not ((abs(x) <= _F_FMAX) & (y >= _F0) & (y <= _F1))


@_jit
def _buffers32(size: int, k: int) -> tuple[Any, Any, Any]:
    return np.empty(min(size, BLOCK), np.float32), np.empty(BLOCK, np.float64), np.zeros(3)


@_jit
def bce_with_logits32(x: Any, y: Any, sw: Any, cot: Any, loss_out: Any, grad_out: Any,
                      per_sample: Any, k: int, p0: float, p1: float, totals: Any, starts: Any,
                      c0: int, c1: int) -> bool:
    """:func:`bce_with_logits` for float32 inputs, in float32."""
    lbuf, rbuf, acc = _buffers32(x.size, k)
    c = cot[0] if cot.size == 1 else _F1  # else applied per row
    bad = False
    for ch in range(c0, c1):
        a, end = starts[ch] * k, starts[ch + 1] * k
        acc[0] = 0.0
        while a < end:
            b = _chunk_end(a, end, k)
            xs, ys, gs = x[a:b], y[a:b], grad_out[a:b]  # slices: LLVM sees indices >= 0
            if grad_out.size > 0:
                for j in range(b - a):
                    loss, g = _bce_logits32(xs[j], ys[j], True)
                    lbuf[j] = loss
                    gs[j] = g * c
                    bad |= _bad32(xs[j], ys[j])
            else:
                for j in range(b - a):
                    lbuf[j] = _bce_logits32(xs[j], ys[j], False)[0]
                    bad |= _bad32(xs[j], ys[j])
            _finish(lbuf, rbuf, a, b, k, sw, cot, loss_out, grad_out, per_sample, acc)
            a = b
        totals[ch] = acc[0]
    return bad or acc[2] != 0.0


@_jit
def sigmoid_focal32(x: Any, y: Any, sw: Any, cot: Any, loss_out: Any, grad_out: Any,
                    per_sample: Any, k: int, p0: float, p1: float, totals: Any, starts: Any,
                    c0: int, c1: int) -> bool:
    """:func:`sigmoid_focal` for float32 inputs, in float32."""
    lbuf, rbuf, acc = _buffers32(x.size, k)
    c = cot[0] if cot.size == 1 else _F1  # else applied per row
    bad = False
    for ch in range(c0, c1):
        a, end = starts[ch] * k, starts[ch + 1] * k
        acc[0] = 0.0
        while a < end:
            b = _chunk_end(a, end, k)
            xs, ys, gs = x[a:b], y[a:b], grad_out[a:b]  # slices: LLVM sees indices >= 0
            grad = grad_out.size > 0
            # separate loops for gamma = 2 (q * q) and any other gamma (exp(gamma log q))
            if grad and p1 == 2.0:
                for j in range(b - a):
                    loss, g = _focal32(xs[j], ys[j], p0, p1, True, True)
                    lbuf[j] = loss
                    gs[j] = g * c
                    bad |= _bad32(xs[j], ys[j])
            elif grad:
                for j in range(b - a):
                    loss, g = _focal32(xs[j], ys[j], p0, p1, False, True)
                    lbuf[j] = loss
                    gs[j] = g * c
                    bad |= _bad32(xs[j], ys[j])
            elif p1 == 2.0:
                for j in range(b - a):
                    lbuf[j] = _focal32(xs[j], ys[j], p0, p1, True, False)[0]
                    bad |= _bad32(xs[j], ys[j])
            else:
                for j in range(b - a):
                    lbuf[j] = _focal32(xs[j], ys[j], p0, p1, False, False)[0]
                    bad |= _bad32(xs[j], ys[j])
            _finish(lbuf, rbuf, a, b, k, sw, cot, loss_out, grad_out, per_sample, acc)
            a = b
        totals[ch] = acc[0]
    return bad or acc[2] != 0.0


# loss -> (kernel for float64 inputs, kernel for float32 inputs)
KERNELS: dict[str, tuple[Any, Any]] = {
    "mse": (mse, mse),
    "l1": (l1, l1),
    "huber": (huber, huber),
    "smooth_l1": (smooth_l1, smooth_l1),
    "binary_cross_entropy_with_logits": (bce_with_logits, bce_with_logits32),
    "sigmoid_focal": (sigmoid_focal, sigmoid_focal32),
}
