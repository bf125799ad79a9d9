"""The NumPy fast paths that the reference code takes on NumPy arrays (``is_numpy_namespace``)
when :func:`service.losses.accel.settings` has ``numpy_paths`` on (every setting but
:data:`service.losses.accel.OFF`).

Why: they are the reference's formulas with fewer passes over the data and no avoidable
full-size temporaries (results written in place; a gradient computed only when the vjp is
called), which makes the reference itself fast below the numba kernels' thresholds and where
numba is absent. They differ from the array-API code only in the order of floating-point
operations (a few ulp; ``tests/losses/test_fast_paths.py``), never in formulas, checks or kinks.
Short rows: NumPy reduces a row of C values per inner-loop call, so :func:`_row_max_into`
sweeps the columns over blocks of rows that stay in cache, and the row sums use ``einsum``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..spec import LossOutput

SHORT_ROW = 16  # up to this many columns, a row max sweeps columns (measured crossover: 16-32)
BLOCK_ELEMENTS = 1 << 15  # elements per block of rows: a block and its result stay in L2


def _blocks(n: int, c: int) -> range:
    return range(0, n, max(1, BLOCK_ELEMENTS // c))


def _row_max_into(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``np.max(x, axis=1, out=out)`` for a 2-D block; exact (max does not round)."""
    n, c = x.shape
    if c > SHORT_ROW or c < 2 or n < 256:  # few rows: the per-row calls cost less
        return np.max(x, axis=1, out=out)
    np.maximum(x[:, 0], x[:, 1], out=out)
    for j in range(2, c):  # a loop over the (few) columns, not over rows
        np.maximum(out, x[:, j], out=out)
    return out


def cross_entropy_index(x: np.ndarray, targets: np.ndarray, weight: np.ndarray | None,
                        ignore_index: int) -> LossOutput:
    """:func:`service.losses.multiclass.cross_entropy` for (N, C) NumPy logits, index targets and no
    label smoothing (the caller checked shapes, dtypes and index ranges).

    ``lse = m + log s``, ``s = sum_j e^{x_j - m}`` with the row max ``m``; ``l = -w_y (x_y - lse)``.
    One sweep over blocks of rows that stay in cache computes ``m``, ``e^{x - m}`` (kept for the
    gradient), ``s`` and ``x_y``; the vjp writes ``w_y cot (p - onehot_y)`` with
    ``p = e^{x - m} / s`` into that buffer in a second sweep.
    """
    n, c = x.shape
    x = np.ascontiguousarray(x)
    valid = targets != ignore_index
    all_valid = bool(np.all(valid))
    safe = targets if all_valid else np.where(valid, targets, 0)
    flat = np.arange(0, n * c, c)
    flat += safe  # index of x[n, y_n] in x.ravel()
    e = np.empty_like(x)
    m, s, x_y = np.empty(n, x.dtype), np.empty(n, x.dtype), np.empty(n, x.dtype)
    x_flat = x.reshape(-1)
    step = max(1, BLOCK_ELEMENTS // c)
    for a in _blocks(n, c):  # a loop over blocks of rows
        b = min(n, a + step)
        xb, eb = x[a:b], e[a:b]
        mb = _row_max_into(xb, m[a:b])
        np.subtract(xb, mb[:, None], out=eb)
        np.exp(eb, out=eb)
        np.einsum("ij->i", eb, out=s[a:b])
        np.take(x_flat[a * c:b * c], flat[a:b] - a * c, out=x_y[a:b])
    lse = np.log(s)
    lse += m
    loss = np.subtract(x_y, lse)
    del lse
    # the mean's weights: w_{y_n}, 0 where ignored; none (each sample counts 1) if all count 1
    mw = None if weight is None and all_valid else (
        valid.astype(x.dtype) if weight is None else weight[safe] * valid)
    if mw is None:
        np.negative(loss, out=loss)
    else:
        loss *= -mw
        if not all_valid:
            loss[~valid] = 0.0  # torch's 0, even for NaN logits (0 * NaN is NaN)
    state: dict[str, Any] = {"e": e}

    def vjp(cot: np.ndarray) -> dict[str, np.ndarray]:
        g = state.pop("e", None)  # consumed: the gradient is written into it
        if g is None:  # a second call: recompute e^{x - m}
            g = np.exp(np.subtract(x, m[:, None]))
        g_flat = g.reshape(-1)
        w_cot = cot if mw is None else cot * mw
        scale = w_cot / s
        at_y = np.subtract(x_y, m)  # then (p_y - 1) w_y cot, p_y = e^{x_y - m} / s
        np.exp(at_y, out=at_y)
        at_y /= s
        at_y -= 1.0
        at_y *= w_cot
        for a in _blocks(n, c):
            b = min(n, a + step)
            gb = g[a:b]
            np.multiply(gb, scale[a:b, None], out=gb)
            g_flat[a * c:b * c][flat[a:b] - a * c] = at_y[a:b]
        return {"predictions": g}

    return LossOutput(loss, vjp, mean_weight=mw)
