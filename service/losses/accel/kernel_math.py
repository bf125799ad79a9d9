"""Numba helpers shared by every kernel in :mod:`service.losses.accel`: the compile options, and
``exp`` / ``log`` written out so that the loops calling them vectorize.

``exp``, ``log`` and ``log1p`` (float64: :func:`_exp`, :func:`_log`, :func:`_log1p01`; float32:
:func:`_exp32`, :func:`_log1p01_32`) are range reduction and a polynomial, within 1 to 2 ulp of
a 40-digit reference, as NumPy's: the C library's scalar versions stop the loops from being
vectorized, and with them a fused loss was slower than NumPy's SIMD passes.

Kernels are compiled with ``error_model="numpy"`` (no zero-division checks, which block
vectorization), ``nogil`` (the server evaluates large requests in worker threads) and
``fastmath={"contract"}`` (fused multiply-adds only; no reassociation, so the range reductions
stay exact), except the sums, which may be reassociated (they accumulate in float64). They are
cached on disk where numba finds a writable cache directory (next to these files, or
``NUMBA_CACHE_DIR``), else compiled in each process; :func:`service.losses.accel.warm_up`
compiles them before the server reports ready.
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




# ---- float32 (twice the SIMD lanes, shorter polynomials) ----------------------------------------
# Constants are float32 scalars so that no operation widens to float64. exp and log1p are
# Cephes' expf and fdlibm's log1pf (within 1 ulp of float32, as NumPy's).

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




_F_FMAX = np.float32(3.4028235e38)


@_jit(fastmath={"reassoc", "contract"})
def _sum(buf: Any) -> float:
    """``sum(buf)`` in float64 (reassociated: vectorized)."""
    t = 0.0
    for j in range(buf.size):
        t += buf[j]
    return t


@_jit(inline="always")
def _bad(x: float, y: float, lo: float, hi: float) -> bool:
    """Whether ``x`` is not finite or ``y`` is not in [lo, hi] (NaN included)."""
    return not ((abs(x) <= FMAX) & (y >= lo) & (y <= hi))


@_jit(inline="always")
def _bad32(x: Any, y: Any) -> bool:
    """:func:`_bad` for float32 values and targets in [0, 1]."""
    return not ((abs(x) <= _F_FMAX) & (y >= _F0) & (y <= _F1))
