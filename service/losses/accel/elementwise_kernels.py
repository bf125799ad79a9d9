"""The elementwise kernels (numba): one element function per loss, ONE driver for them all.

Why: an elementwise loss in NumPy makes 6 to 30 passes over full-size temporaries; a kernel
makes one pass in blocks of :data:`BLOCK` elements: per element it computes the loss and, when
asked, the gradient times the cotangent (checking the inputs where the loss takes probabilities:
finite logits, targets in [0, 1]); per block, :func:`_finish` (the fused reduction) weights the
rows and sums them. The regression losses check nothing per element: their loss is infinite or
NaN whenever an input is, and so is then every sum it enters, so a chunk whose total is not
finite is reported as bad and the reference runs (it computes the same infinity when the total
overflowed from finite inputs). Values are computed in float64 (float32 inputs widened on load,
rounded once on store), except the binary losses on float32 inputs, which have float32 element
functions and a float32 block buffer (twice the SIMD lanes).

Every kernel is the ONE driver, :data:`_TEMPLATE`, written out for one element function by
:func:`_driver` (as the hand-copied drivers were: a driver that takes the element function as
an argument or closure variable is never found in numba's disk cache, and one dispatching over
every element function compiled 4x slower).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .kernel_math import (
    _F0,
    _F1,
    _F2,
    BLOCK,
    FMAX,
    _bad,
    _bad32,
    _exp,
    _jit,
    _log,
    _softplus_sigmoid,
    _softplus_sigmoid32,
    _sum,
)

# ---- per-element losses: (x, y, p0, p1, square, grad) -> (loss, d loss / d x) ------------------


@_jit(inline="always")
def _mse(x: float, y: float, p0: float, p1: float, square: bool,
         grad: bool) -> tuple[float, float]:
    d = x - y
    return d * d, (2.0 * d if grad else 0.0)


@_jit(inline="always")
def _sign(d: float) -> float:
    return 1.0 if d > 0.0 else (-1.0 if d < 0.0 else 0.0)


@_jit(inline="always")
def _l1(x: float, y: float, p0: float, p1: float, square: bool,
        grad: bool) -> tuple[float, float]:
    d = x - y
    return abs(d), (_sign(d) if grad else 0.0)


@_jit(inline="always")
def _huber(x: float, y: float, delta: float, p1: float, square: bool,
           grad: bool) -> tuple[float, float]:
    d = x - y
    a = abs(d)
    loss = 0.5 * d * d if a < delta else delta * (a - 0.5 * delta)
    return loss, (min(max(d, -delta), delta) if grad else 0.0)


@_jit(inline="always")
def _smooth_l1(x: float, y: float, beta: float, p1: float, square: bool,
               grad: bool) -> tuple[float, float]:
    d = x - y  # beta > 0 (beta = 0 is l1)
    a = abs(d)
    inside = a < beta
    loss = 0.5 * d * d / beta if inside else a - 0.5 * beta
    return loss, ((d / beta if inside else _sign(d)) if grad else 0.0)


@_jit(inline="always")
def _bce_logits(x: float, y: float, p0: float, p1: float, square: bool,
                grad: bool) -> tuple[float, float]:
    sp_pos, sp_neg, s, t = _softplus_sigmoid(x)
    return y * sp_neg + (1.0 - y) * sp_pos, ((1.0 - y) * s - y * t if grad else 0.0)
@_jit(inline="always")
def _focal(x: float, y: float, alpha: float, gamma: float, square: bool,
           grad: bool) -> tuple[float, float]:
    """As :func:`service.losses.sigmoid_focal.sigmoid_focal` (torch/optax); ``alpha < 0``: no
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


# float32 (the binary losses): q^gamma and its log in float64 unless gamma = 2 (their error
# grows with |gamma log q|)


@_jit(inline="always")
def _bce_logits32(x: Any, y: Any, p0: float, p1: float, square: bool,
                  grad: bool) -> tuple[Any, Any]:
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


# ---- the driver: ONE template, one kernel per element function ---------------------------------
# kernel(x, y, sw, cot, loss_out, grad_out, per_sample, totals, starts, c0, c1, k, p0, p1) -> bad
# x, y: flat C-contiguous read-only inputs of N * k elements (every array of one call has the
# inputs' dtype); sw: N weights or empty; cot: the cotangent, one value (any reduction without
# weights) or one per row; loss_out: N * k or empty (not wanted); grad_out: N * k or empty (no
# gradient); per_sample: N or empty (not wanted); p0, p1: the loss's parameters; starts: the
# first row of each chunk (service.losses.accel.parallel.chunk_starts); the kernel processes
# chunks [c0, c1) and writes each one's sum of weighted losses into totals[chunk]. bad: an input
# failed a check (nothing is raised here: the caller runs the reference, which raises the exact
# error). One loop per (gradient, gamma = 2): each keeps only its branches of the element
# function; SQUARE is False but for focal, whose loops for gamma = 2 numba then prunes.

_TEMPLATE_LINE = sys._getframe().f_lineno + 1  # the template's first line (tracebacks point here)
_TEMPLATE = """
def kernel_{name}(x, y, sw, cot, loss_out, grad_out, per_sample, totals, starts, c0, c1, k, p0,
                p1):
    lbuf = np.empty(min(x.size, BLOCK), {buffer})
    rbuf, acc = np.empty(BLOCK, np.float64), np.zeros(3)
    c = {cot} if cot.size == 1 else {one}  # else applied per row
    grad = grad_out.size > 0
    bad = False
    for ch in range(c0, c1):
        a, end = starts[ch] * k, starts[ch + 1] * k
        acc[0] = 0.0
        while a < end:
            b = _chunk_end(a, end, k)
            xs, ys, gs = x[a:b], y[a:b], grad_out[a:b]  # slices: LLVM sees indices >= 0
            if grad and {square} and p1 == 2.0:
                for j in range(b - a):
                    lbuf[j], g = {element}({x}, {y}, p0, p1, True, True)
                    gs[j] = g * c
                    bad |= {check}
            elif grad:
                for j in range(b - a):
                    lbuf[j], g = {element}({x}, {y}, p0, p1, False, True)
                    gs[j] = g * c
                    bad |= {check}
            elif {square} and p1 == 2.0:
                for j in range(b - a):
                    lbuf[j] = {element}({x}, {y}, p0, p1, True, False)[0]
                    bad |= {check}
            else:
                for j in range(b - a):
                    lbuf[j] = {element}({x}, {y}, p0, p1, False, False)[0]
                    bad |= {check}
            _finish(lbuf, rbuf, a, b, k, sw, cot, loss_out, grad_out, per_sample, acc)
            a = b
        totals[ch] = acc[0]
        bad |= {total_check}  # an unchecked loss: a non-finite input makes the total so
    return bad or acc[2] != 0.0
"""
_TEMPLATE_GLOBALS = (_bad, _bad32, FMAX, np)  # what the template uses besides the functions below


def _driver(name: str, element: str, f32: bool = False, checked: bool = False,
            square: bool = False) -> Any:
    """The kernel of ``element`` (the name of an element function above): ``f32``: it takes
    float32 values (else they are widened to float64); ``checked``: each element is checked
    (logits finite, targets in [0, 1]; else the chunk's total is); ``square``: separate loops
    for ``p1 == 2``. Written from :data:`_TEMPLATE` and compiled as code of this file (numba
    caches a kernel by its file, name and bytecode: a driver closing over its element function
    is never found in the cache, as numba pickles a dispatcher differently in every process)."""
    x, y = ("xs[j]", "ys[j]") if f32 else ("float(xs[j])", "float(ys[j])")
    check = ("_bad32(xs[j], ys[j])" if f32 else "_bad(xs[j], ys[j], 0.0, 1.0)") if checked else (
        "False")
    src = _TEMPLATE.format(
        name=name, element=element, x=x, y=y, check=check, square=square,
        buffer="np.float32" if f32 else "np.float64", cot="cot[0]" if f32 else "float(cot[0])",
        one="np.float32(1.0)" if f32 else "1.0",
        total_check="False" if checked else "not abs(acc[0]) <= FMAX")
    namespace: dict[str, Any] = {}
    exec(compile("\n" * (_TEMPLATE_LINE - 1) + src, __file__, "exec"), globals(), namespace)
    return _jit(namespace[f"kernel_{name}"])


# ---- blocks and the fused reduction of a block ------------------------------------------------

@_jit(inline="always")
def _chunk_end(a: int, size: int, k: int) -> int:
    """The end of the block that starts at element ``a``: whole rows of ``k`` elements when a row
    fits in :data:`BLOCK`, else :data:`BLOCK` elements of one row."""
    if k <= BLOCK:
        return min(a + max(1, BLOCK // k) * k, size)
    return min(a + BLOCK, (a // k + 1) * k)


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


# kernel name (service.losses.accel.table) -> kernel
KERNELS: dict[str, Any] = {
    "mse": _driver("mse", "_mse"),
    "l1": _driver("l1", "_l1"),
    "huber": _driver("huber", "_huber"),
    "smooth_l1": _driver("smooth_l1", "_smooth_l1"),
    "bce_with_logits": _driver("bce_with_logits", "_bce_logits", checked=True),
    "sigmoid_focal": _driver("sigmoid_focal", "_focal", checked=True, square=True),
    "bce_with_logits32": _driver("bce_with_logits32", "_bce_logits32", f32=True, checked=True),
    "sigmoid_focal32": _driver("sigmoid_focal32", "_focal32", f32=True, checked=True,
                               square=True),
}
