"""Reduction, sample weights and the per-sample breakdown: the one place they happen.

Let ``l`` be the unreduced loss (PyTorch's ``reduction='none'`` shape), ``s`` the optional
``sample_weight`` (one weight per sample, i.e. per entry of ``l``'s first axis, broadcast over the
rest; 1 when absent) and ``m`` the kernel's ``mean_weight`` (1 when absent; the target-class weights
of non-ignored targets for CrossEntropy/NLL). Then

* ``none``:      ``s * l``
* ``sum``:       ``sum(s * l)``
* ``mean``:      ``sum(s * a * l) / sum(s * m)`` (unweighted: ``sum(l) / l.size``, as PyTorch),
  where ``a`` is the kernel's ``mean_scale`` (1 when absent; CTC: 1 / target length); a
  convention with ``weights_in_mean=False`` (Keras) divides by ``l.size`` instead
* ``batchmean``: ``sum(s * l) / sum(s)``       (unweighted: ``sum(l) / l.shape[0]``, as PyTorch)

A ``mean`` or ``batchmean`` whose denominator is 0 (every target ignored, weights summing to 0)
is undefined: an ``undefined_mean`` warning and PyTorch's NaN (0 / 0) under lenient validation,
the error under strict (:mod:`.warn`).

The per-sample breakdown is ``per_sample[n] = mean over the non-batch axes of (s * l)[n]`` (a
scalar ``l`` is one sample). Hence, with ``k = l.size / N`` elements per sample:
``sum = k * sum(per_sample)``, and without weights (and without ``mean_scale``)
``mean = mean(per_sample)``.

Gradients are of the reduced value; for ``none``, of ``sum(s * l)``. The cotangent passed to the
kernel's ``vjp`` is ``d value / d l``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import is_numpy_namespace

from . import _checks, errors, warn
from .spec import Array, LossOutput


@dataclass(frozen=True)
class Reduced:
    value: Array  # 0-d for mean/sum/batchmean, the loss's shape for none
    per_sample: Array  # (N,)
    cotangent: Array  # d value / d loss, the loss's shape


def _expand(xp: Any, w: Array, ndim: int) -> Array:
    """(N,) -> (N, 1, ..., 1) so it broadcasts over the non-batch axes."""
    return xp.reshape(w, (w.shape[0],) + (1,) * (ndim - 1))


VIEW_MIN_SIZE = 4096  # below this, a filled array costs less than a broadcast view


def _ones_scaled(xp: Any, like: Array, s: Array | None, denom: Any = None) -> Array:
    """``ones_like(like) [* s] [/ denom]``, the cotangent of an unscaled loss.

    NumPy (large arrays): the same values as a read-only broadcast view of one row of them (no
    memory, no pass over the data; the kernels only read it). Otherwise the arrays themselves.
    """
    view = is_numpy_namespace(xp) and like.size >= VIEW_MIN_SIZE
    ones: Array = np.ones((1,) * like.ndim, dtype=like.dtype) if view else xp.ones_like(like)
    cot = ones if s is None else ones * s
    if denom is not None:
        cot = cot / denom
    return np.broadcast_to(cot, like.shape) if view else cot


def check_sample_weight(xp: Any, sample_weight: Array, loss: Array) -> None:
    n = loss.shape[0] if loss.ndim else 1
    if sample_weight.ndim != 1 or sample_weight.shape[0] != n:
        raise errors.ShapeMismatch(
            f"sample_weight must have shape ({n},), one weight per sample; got "
            f"{_checks.fmt_shape(sample_weight.shape)}",
            ("sample_weight",),
        )
    _checks.in_range(xp, sample_weight, "sample_weight", low=0.0)


def reduce_loss(xp: Any, out: LossOutput, reduction: str,
                sample_weight: Array | None = None, *, weights_in_mean: bool = True) -> Reduced:
    """Apply ``reduction`` (and ``sample_weight``) to a kernel's output; see the module doc.

    ``weights_in_mean=False`` (Keras' ``sum_over_batch_size``): ``mean`` with ``sample_weight``
    divides by the element count, not by the weights' sum.
    """
    loss = out.loss
    scalar = loss.ndim == 0
    l2 = xp.reshape(loss, (1,)) if scalar else loss  # at least 1-d: axis 0 is the batch
    n = l2.shape[0]
    k = math.prod(l2.shape[1:])
    if sample_weight is not None:
        check_sample_weight(xp, sample_weight, loss)
        s = _expand(xp, xp.astype(sample_weight, l2.dtype), l2.ndim)
        weighted = s * l2
    else:
        s = None
        weighted = l2
    per_sample = xp.reshape(weighted, (n, k))
    per_sample = xp.sum(per_sample, axis=1) / k if k else xp.zeros((n,), dtype=l2.dtype)

    if reduction == "none":
        value = xp.reshape(weighted, loss.shape)
        cot = _ones_scaled(xp, l2, s)
    elif reduction == "sum":
        value = xp.sum(weighted)
        cot = _ones_scaled(xp, l2, s)
    elif reduction in ("mean", "batchmean"):
        if reduction == "batchmean":
            denom = xp.sum(s) if s is not None else float(n)
        else:
            m = out.mean_weight
            if m is None:
                denom = xp.sum(s) * k if s is not None and weights_in_mean else float(n * k)
            else:
                m2 = xp.reshape(m, l2.shape)
                denom = xp.sum(m2 * s) if s is not None else xp.sum(m2)
        if float(denom) == 0.0:  # PyTorch's NaN (0 / 0) with a warning; strict refuses it
            warn.suspicious(errors.UndefinedMean(
                f"the {reduction} is undefined: its denominator is 0 (every target ignored, "
                "or weights summing to 0; PyTorch answers NaN); use reduction 'sum' or 'none'",
                ("reduction",)))
        a = None if reduction == "batchmean" else out.mean_scale
        if a is not None:
            a = xp.reshape(a, l2.shape)
            value = xp.sum(weighted * a) / denom
            cot = (a if s is None else a * s) / denom
        else:
            value = xp.sum(weighted) / denom
            cot = _ones_scaled(xp, l2, s, denom)
    else:
        raise errors.UnsupportedReduction(f"unknown reduction {reduction!r}", ("reduction",))
    if scalar:
        cot = xp.reshape(cot, ())
    return Reduced(value=value, per_sample=per_sample, cotangent=cot)
