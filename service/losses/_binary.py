"""Shared inputs, parameters and helpers of the binary losses on labels in [0, 1]: :mod:`.binary`
(probabilities), :mod:`.binary_logits` and :mod:`.sigmoid_focal` (logits).

Why a module of its own: the three modules share these, and :mod:`.binary` gathers the other two's
specs into the family's ``SPECS`` (in the catalog's order), so they cannot import them from
:mod:`.binary` without an import cycle.

``weight`` / ``pos_weight`` parameters are a number, a list broadcast along the last axis (length 1
or the last dimension), or a nested list (an N-D array) that broadcasts to the input's shape
without changing it, as PyTorch's weight tensors do (``(N, C)``, ``(1, C)``, ``(N, 1)``...).
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._math import ns
from .spec import Array, InputSpec, ParamSpec

LOGITS = InputSpec("predictions", "logits", "(*)", "logits (sigmoid gives the probability)",
                   differentiable=True)
SOFT_TARGETS = InputSpec("targets", "binary_labels", "(*), same shape as predictions",
                         "labels in {0, 1}, or soft labels in [0, 1]")

_WEIGHT_TEXT = ("a number, a list of length 1 or of the last dimension (broadcast along the last "
                "axis), or a nested list that broadcasts to the predictions' shape (e.g. (N, C), "
                "(1, C) or (N, 1)); multiplies the loss (it is not in the mean's denominator)")
WEIGHT = ParamSpec("weight", "float_or_float_tensor", None, "rescaling weight: " + _WEIGHT_TEXT,
                   minimum=0.0, nullable=True, warn_outside_range=True)


def pair(predictions: Array, targets: Array) -> Any:
    """The array namespace of ``predictions`` and ``targets``, which must have the same shape."""
    _checks.same_shape(predictions, targets, "predictions", "targets")
    return ns(predictions, targets)


def broadcast_param(xp: Any, value: Any, shape: tuple[int, ...], name: str) -> Any:
    """``value`` (None, a float or an array) ready to broadcast against an input of ``shape``.

    An array must broadcast to ``shape`` without changing it (NumPy's and torch's rules: the
    result keeps the input's shape, as torch requires): a 1-D value of length 1 or ``shape[-1]``
    is the per-last-axis form, (1, C), (N, 1) or (N, C) broadcast over both axes. For a 0-d input
    a value of size 1 is taken as a scalar (torch refuses a (1,) weight there).
    """
    if value is None or not hasattr(value, "ndim"):
        return value
    if not shape and value.ndim <= 1 and int(value.size) == 1:
        return xp.reshape(value, ())
    vs, ok = tuple(int(d) for d in value.shape), value.ndim <= len(shape)
    ok = ok and all(v in (1, t) for v, t in zip(reversed(vs), reversed(shape), strict=False))
    if not ok:
        raise errors.InvalidParam(
            f"{name} of shape {_checks.fmt_shape(vs)} does not broadcast to the input shape "
            f"{_checks.fmt_shape(shape)} (a number, a list of length 1 or of the last dimension, "
            "or an array that broadcasts to the input's shape without changing it)",
            ("params", name),
        )
    return value


# ------------------------------------------------------------------------------------ samplers


def mixed_labels(rng: Any, n: int, c: int) -> Any:
    """Targets in [0, 1]: about half hard {0, 1} labels, half soft."""
    y = rng.uniform(0.0, 1.0, size=(n, c))
    hard = rng.uniform(size=(n, c)) < 0.5
    y[hard] = (y[hard] > 0.5).astype(float)
    return y


def random_weights(rng: Any, c: int) -> list[float]:
    """``c`` weights in [0.5, 2), for the samplers' weight parameters."""
    return [float(v) for v in rng.uniform(0.5, 2.0, size=c)]
