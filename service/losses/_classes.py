"""Shared checks and layout helpers of the classification losses (:mod:`.multiclass`,
:mod:`.margin`).

PyTorch puts the class axis at position 1 of ``(N, C, d1, ..., dK)`` and at position 0 of an
unbatched ``(C,)``. The kernels move it last (``xp.moveaxis``), compute there, and move the gradient
back, so one code path serves every shape.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from . import _checks, errors
from ._math import one_hot
from .spec import Array, LossOutput


def num_classes(x: Array) -> int:
    """C: the size of the class axis (0 for ``(C,)``, 1 otherwise)."""
    return int(x.shape[0] if x.ndim == 1 else x.shape[1])


def to_last(xp: Any, x: Array) -> Array:
    """``(N, C, d1..dK) -> (N, d1..dK, C)``; ``(C,)`` and ``(N, C)`` are unchanged."""
    return xp.moveaxis(x, 1, -1) if x.ndim > 2 else x


def from_last(xp: Any, g: Array) -> Array:
    """Inverse of :func:`to_last` (for gradients)."""
    return xp.moveaxis(g, -1, 1) if g.ndim > 2 else g


def index_shape(x: Array) -> tuple[int, ...]:
    """Shape of class-index targets for predictions ``x``: ``(N, d1..dK)``, or ``()``."""
    return () if x.ndim == 1 else (int(x.shape[0]), *(int(s) for s in x.shape[2:]))


def check_predictions(x: Array, *, max_ndim: int | None = None) -> None:
    """Class scores of shape ``(C,)``, ``(N, C)`` or (without ``max_ndim``) ``(N, C, d1..dK)``."""
    if max_ndim is not None:
        _checks.ndim_in(x, "predictions", range(1, max_ndim + 1),
                        "(class scores of shape (C,) or (N, C))")
    elif x.ndim == 0:
        raise errors.InvalidShape(
            "predictions must have shape (C,), (N, C) or (N, C, d1, ..., dK); got a scalar",
            ("predictions",),
        )


def check_index_targets(xp: Any, x: Array, targets: Array, *,
                        ignore_index: int | None = None) -> None:
    """Integer targets of :func:`index_shape`, each in ``[0, C)`` or equal to ``ignore_index``."""
    expected = index_shape(x)
    if tuple(targets.shape) != expected:
        raise errors.ShapeMismatch(
            f"targets has shape {_checks.fmt_shape(targets.shape)} but class-index targets for "
            f"predictions of shape {_checks.fmt_shape(x.shape)} must have shape "
            f"{_checks.fmt_shape(expected)} (the predictions' shape without the class axis)",
            ("targets",),
        )
    if not xp.isdtype(targets.dtype, "integral"):
        raise errors.InvalidDtype("targets holds class indices and must be integers",
                                  ("targets",))
    _checks.class_indices(xp, targets, num_classes(x), "targets", ignore_index=ignore_index)


def class_vector(xp: Any, value: Any, like: Array, name: str, c: int) -> Array | None:
    """A per-class parameter (list or array) as a ``(C,)`` array of ``like``'s dtype, or None."""
    if value is None:
        return None
    v = xp.asarray(value, dtype=like.dtype) if isinstance(value, list | tuple) else \
        xp.astype(value, like.dtype)
    _checks.param_length(v, name, c, "class")
    return v


def log_softmax_log1p(xp: Any, x: Array) -> Array:
    """log softmax along the last axis with ``logsumexp = m + log1p(sum_{j != argmax} e^{x_j-m})``.

    The max's own term (exactly 1) is left out of the sum and added by ``log1p``, so
    ``log p`` of a dominant class keeps full relative precision (e.g. ``-2e-13``), which
    ``1 - p_t = -expm1(log p_t)`` of the focal loss needs.
    """
    m = xp.max(x, axis=-1, keepdims=True)
    top = one_hot(xp, xp.argmax(x, axis=-1), int(x.shape[-1]), x.dtype)
    rest = xp.sum(xp.exp(x - m) * (1.0 - top), axis=-1, keepdims=True)
    return (x - m) - xp.log1p(rest)


def reshaped_grad(xp: Any, out: LossOutput, shape: tuple[int, ...]) -> LossOutput:
    """``out`` with its ``predictions`` gradient in ``shape`` (the input was reshaped)."""
    vjp = out.vjp
    assert vjp is not None

    def reshaped(cot: Array) -> dict[str, Array]:
        g = vjp(cot)
        return {**g, "predictions": xp.reshape(g["predictions"], shape)}

    return replace(out, vjp=reshaped)
