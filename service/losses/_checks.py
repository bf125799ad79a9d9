"""One-line checks a kernel runs before computing: shapes, domains, labels.

Each raises a :class:`~service.losses.errors.LossError` whose ``loc`` names the input and, for a
bad element, its index (``("targets", 3)`` or ``("predictions", 2, 0)``). The value checks take
``warn=True`` where the library computes on such values anyway: the error is then reported through
:func:`service.losses.warn.suspicious` (a warning, or raised under strict validation).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from . import errors
from .spec import Array
from .warn import suspicious


def _report(error: errors.LossError, warn: bool) -> None:
    if warn:
        suspicious(error)
    else:
        raise error


def first_index(xp: Any, mask: Array) -> tuple[int, ...]:
    """The multi-index of the first True element of ``mask`` (row-major); () for a 0-d mask."""
    if mask.ndim == 0:
        return ()
    hits = xp.nonzero(mask)
    return tuple(int(h[0]) for h in hits)


def fmt_shape(shape: Iterable[int | None]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(tuple(shape)) == 1 else "") + ")"


def same_shape(a: Array, b: Array, name_a: str, name_b: str) -> None:
    """Shapes must be equal: the core never broadcasts silently."""
    if tuple(a.shape) != tuple(b.shape):
        raise errors.ShapeMismatch(
            f"{name_b} has shape {fmt_shape(b.shape)} but {name_a} has shape "
            f"{fmt_shape(a.shape)}; they must be equal",
            (name_b,),
        )


def broadcast_shape(a: Array | tuple[int, ...], b: Array, name_a: str,
                    name_b: str) -> tuple[int, ...]:
    """The shape ``a`` (an array or a shape) and ``b`` broadcast to (NumPy's and PyTorch's
    rules), or ShapeMismatch at ``name_b``: for the losses whose library broadcasts its inputs."""
    sa, sb = tuple(a if isinstance(a, tuple) else a.shape), tuple(b.shape)
    n = max(len(sa), len(sb))
    pa, pb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    if any(x != y and 1 not in (x, y) for x, y in zip(pa, pb, strict=True)):
        raise errors.ShapeMismatch(
            f"{name_b} has shape {fmt_shape(sb)}, which does not broadcast with {name_a}'s "
            f"shape {fmt_shape(sa)}", (name_b,))
    return tuple(max(x, y) if 0 not in (x, y) else 0 for x, y in zip(pa, pb, strict=True))


def ndim_in(a: Array, name: str, allowed: Iterable[int], what: str = "") -> None:
    allowed = tuple(allowed)
    if a.ndim not in allowed:
        dims = " or ".join(str(d) for d in allowed)
        raise errors.InvalidShape(
            f"{name} must have {dims} dimensions{(' ' + what) if what else ''}, "
            f"got shape {fmt_shape(a.shape)}",
            (name,),
        )


def not_empty(a: Array, name: str) -> None:
    if any(s == 0 for s in a.shape):
        raise errors.EmptyBatch(f"{name} is empty (shape {fmt_shape(a.shape)})", (name,))


def class_indices(xp: Any, targets: Array, num_classes: int, name: str = "targets",
                  ignore_index: int | None = None) -> None:
    """Every index in [0, C), except those equal to ``ignore_index``."""
    bad = (targets < 0) | (targets >= num_classes)
    if ignore_index is not None:
        bad = bad & (targets != ignore_index)
    if bool(xp.any(bad)):
        idx = first_index(xp, bad)
        value = int(targets[idx]) if idx else int(targets)
        extra = f" (or ignore_index={ignore_index})" if ignore_index is not None else ""
        raise errors.ClassIndexOutOfRange(
            f"class index {value} is out of range: indices must be in [0, {num_classes}){extra}",
            (name, *idx),
        )


def probabilities(xp: Any, p: Array, name: str, *, warn: bool = False,
                  nan: bool = True) -> None:
    """Every value in [0, 1]; NaN passes (it propagates; the core has reported it as a
    ``nonfinite_input``) unless ``nan`` is False (torch's ``binary_cross_entropy`` refuses it)."""
    bad = ~((p >= 0) & (p <= 1)) if not nan else (p < 0) | (p > 1)
    if bool(xp.any(bad)):
        idx = first_index(xp, bad)
        _report(errors.ProbabilityOutOfRange(
            f"{name} must hold probabilities in [0, 1]; found {float(p[idx])}", (name, *idx)
        ), warn)


def labels_in(xp: Any, y: Array, name: str, allowed: tuple[float, ...], *,
              warn: bool = False) -> None:
    """Every value is one of ``allowed`` (e.g. (-1, 1))."""
    ok = xp.zeros(y.shape, dtype=xp.bool)
    for v in allowed:  # a loop over the 2-3 allowed label values, not over samples
        ok = ok | (y == v)
    if not bool(xp.all(ok)):
        idx = first_index(xp, ~ok)
        allowed_txt = ", ".join(f"{v:g}" for v in allowed)
        _report(errors.InvalidLabel(
            f"{name} must be in {{{allowed_txt}}}; found {float(y[idx]):g}", (name, *idx)
        ), warn)


def in_range(xp: Any, a: Array, name: str, *, low: float | None = None,
             high: float | None = None, low_open: bool = False, what: str = "",
             warn: bool = False) -> None:
    """Every value within [low, high] (or (low, high] with ``low_open``)."""
    bad = xp.zeros(a.shape, dtype=xp.bool)
    if low is not None:
        bad = bad | ((a <= low) if low_open else (a < low))
    if high is not None:
        bad = bad | (a > high)
    if bool(xp.any(bad)):
        idx = first_index(xp, bad)
        lo = "" if low is None else (f"> {low:g}" if low_open else f">= {low:g}")
        hi = "" if high is None else f"<= {high:g}"
        rule = " and ".join(s for s in (lo, hi) if s)
        _report(errors.InvalidValue(
            f"{name}{(' (' + what + ')') if what else ''} must be {rule}; found {float(a[idx]):g}",
            (name, *idx),
        ), warn)


def param_length(value: Array, name: str, expected: int, what: str) -> None:
    if value.ndim != 1 or value.shape[0] != expected:
        raise errors.InvalidParam(
            f"{name} must have one entry per {what} ({expected}), got shape "
            f"{fmt_shape(value.shape)}",
            ("params", name),
        )


def broadcastable_to(value: Array, target_shape: tuple[int, ...], name: str) -> None:
    """``value`` broadcasts to ``target_shape`` without changing it (a param array)."""
    vs = tuple(value.shape)
    if len(vs) > len(target_shape):
        ok = False
    else:
        ok = all(v in (1, t) for v, t in zip(reversed(vs), reversed(target_shape), strict=False))
    if not ok:
        raise errors.InvalidParam(
            f"{name} of shape {fmt_shape(vs)} does not broadcast to the input shape "
            f"{fmt_shape(target_shape)}",
            ("params", name),
        )


def exp_finite(xp: Any, x: Array, name: str, what: str) -> None:
    """``exp(x)`` must be finite in ``x``'s dtype: ``InvalidValue`` at the first element that
    overflows. ``what`` says what ``x`` holds ("log-rates (log_input=true)", "log q"). The limit
    is rounded down by a relative 1e-6, so exp stays finite after it is rounded to the dtype.
    An infinite ``x`` is not refused here: it was sent as such (the core reports it as a
    ``nonfinite_input``), and exp(inf) = inf is what torch computes with."""
    limit = math.log(float(xp.finfo(x.dtype).max)) * (1.0 - 1e-6)
    bad = (x > limit) & xp.isfinite(x)
    if bool(xp.any(bad)):
        idx = first_index(xp, bad)
        raise errors.InvalidValue(
            f"{name} holds {what} and exp({float(x[idx]):g}) overflows {x.dtype}; values must "
            f"be <= {limit:.4g}",
            (name, *idx),
        )


def rows_sum_to_one(xp: Any, t_last: Array, name: str, *, warn: bool = False) -> None:
    """Each row (class axis last) sums to 1 within ``max(sqrt(eps), 4 C eps)`` of the dtype."""
    c = int(t_last.shape[-1])
    eps = float(xp.finfo(t_last.dtype).eps)
    tol = max(eps**0.5, 4.0 * c * eps)
    sums = xp.sum(t_last, axis=-1)
    bad = xp.abs(sums - 1.0) > tol
    if bool(xp.any(bad)):
        idx = first_index(xp, bad)
        _report(errors.ProbabilityRowsNotNormalized(
            f"{name}: class probabilities must sum to 1 over the class axis (tolerance {tol:.2g});"
            f" the row at {list(idx)} sums to {float(sums[idx]):.17g}",
            (name, *idx),
        ), warn)
