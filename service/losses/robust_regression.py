"""More regression losses from Keras, optax and scikit-learn.

* ``log_cosh``: ``optax.losses.log_cosh`` (default) / Keras ``LogCosh`` (``convention``);
* ``half_mse`` [l2_loss]: ``optax.losses.l2_loss``, ``0.5 (x - y)^2``;
* ``pinball`` [quantile]: scikit-learn ``mean_pinball_loss``.

The relative errors ``mape`` and ``msle`` (scikit-learn's, or Keras's by ``convention``) are in
:mod:`.relative_regression`; :data:`SPECS` lists them between half_mse and pinball.

Each kernel takes ``predictions`` ``x`` and ``targets`` ``y`` of the same shape ``(*)`` (no
broadcasting) and returns the elementwise loss and its vector-Jacobian product. Keras' mean over
the last axis (its per-sample loss) and its ``sum_over_batch_size`` weighting are applied outside
the kernels, by the ``keras`` convention (:func:`service.losses.spec.keras_convention`).
"""

from __future__ import annotations

import math
from typing import Any

from . import relative_regression
from ._math import as_float
from .regression import PRED, TARGET, difference
from .spec import (
    Array,
    Convention,
    Example,
    LossOutput,
    LossSpec,
    ParamSpec,
    keras_convention,
)

_LOG2 = math.log(2.0)


def log_cosh(predictions: Array, targets: Array) -> LossOutput:
    """Logarithm of the hyperbolic cosine of the error.

    ``l = log cosh(d)``, ``d = x - y``, computed as ``log1p(2 sinh(|d|/2)^2)`` for ``|d| < 1``
    (no cancellation near 0) and ``|d| + log1p(e^{-2|d|}) - log 2`` otherwise (no overflow at
    ``|d| = 1e3``); ``dl/dx = tanh(d)``, ``dl/dy = -tanh(d)`` (targets, on request).

    Args:
      predictions: [*] predicted values.
      targets: [*] target values, same shape.

    Returns:
      LossOutput with loss [*].

    References:
      Chen, Hua & Li (2019), Log Hyperbolic Cosine Loss Improves Variational Auto-Encoder;
      ``keras.losses.LogCosh``; ``optax.losses.log_cosh``.
    """
    xp, d = difference(predictions, targets)
    a = xp.abs(d)
    small = a < 1.0
    a_small = xp.where(small, a, xp.zeros_like(a))  # keeps sinh finite in the unused branch
    s = xp.sinh(0.5 * a_small)
    near = xp.log1p(2.0 * s * s)
    far = a + xp.log1p(xp.exp(-2.0 * a)) - _LOG2
    loss = xp.where(small, near, far)
    return LossOutput(loss, lambda cot: {"predictions": xp.tanh(d) * cot},
                      {"targets": lambda cot: -xp.tanh(d) * cot})


def half_mse(predictions: Array, targets: Array) -> LossOutput:
    """Half squared error (optax's ``l2_loss``).

    ``l = 0.5 (x - y)^2``; ``dl/dx = x - y``, ``dl/dy = y - x`` (targets, on request).

    Args:
      predictions: [*] predicted values.
      targets: [*] target values, same shape.

    Returns:
      LossOutput with loss [*].

    References:
      ``optax.losses.l2_loss``.
    """
    _, d = difference(predictions, targets)
    return LossOutput(0.5 * d * d, lambda cot: {"predictions": d * cot},
                      {"targets": lambda cot: -d * cot})


def pinball(predictions: Array, targets: Array, *, alpha: float = 0.5) -> LossOutput:
    """Pinball (quantile) loss.

    With ``d = y - x``: ``l = alpha d`` if ``d >= 0`` else ``(alpha - 1) d``;
    ``dl/dx = -alpha`` where ``d > 0``, ``1 - alpha`` where ``d < 0`` and 0 at ``d == 0`` (the
    subgradient 0 lies in ``[-alpha, 1 - alpha]``; it is PyTorch's ``sign(0) = 0`` rule of L1).
    The loss is a function of ``x - y``, so ``dl/dy = -dl/dx`` (targets, on request).

    Args:
      predictions: [*] predicted quantiles.
      targets: [*] target values, same shape.
      alpha: the quantile level in [0, 1].

    Returns:
      LossOutput with loss [*].

    References:
      Koenker & Bassett (1978), Regression Quantiles, Econometrica 46(1);
      ``sklearn.metrics.mean_pinball_loss``.
    """
    xp, e = difference(predictions, targets)  # e = x - y = -d
    zero = xp.zeros_like(e)
    under = xp.maximum(-e, zero)  # d where d > 0 (the prediction is below the target)
    over = xp.maximum(e, zero)
    loss = alpha * under + (1.0 - alpha) * over
    g = (1.0 - alpha) * as_float(xp, e > 0.0, e) - alpha * as_float(xp, e < 0.0, e)
    return LossOutput(loss, lambda cot: {"predictions": g * cot},
                      {"targets": lambda cot: -g * cot})


# --------------------------------------------------------------------------------------------
# Samplers and specs
# --------------------------------------------------------------------------------------------


def _sample(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"predictions": rng.normal(size=(n, c)) * 2.0,
            "targets": rng.normal(size=(n, c)) * 2.0}, {}


def _sample_pinball(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"predictions": rng.normal(size=(n, c)),
            "targets": rng.normal(size=(n, c))}, {"alpha": 0.3}


_COMMON: dict[str, Any] = {
    "family": "regression",
    "inputs": (PRED, TARGET),
    "zero_at_match": True,
}

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="log_cosh",
        fn=log_cosh,
        summary="Log-cosh error: quadratic near 0, linear (|d| - log 2) for large errors.",
        formula=r"\ell = \log\cosh(x - y)",
        reference="optax.losses.log_cosh; Keras 3 keras.losses.LogCosh; Chen, Hua & Li (2019), "
        "Log Hyperbolic Cosine Loss Improves Variational Auto-Encoder",
        sampler=_sample,
        gradient_note=r"\partial\ell/\partial x = \tanh(x - y); smooth, no kink.",
        notes="Computed as log1p(2 sinh^2(|d|/2)) for |d| < 1 and |d| + log1p(e^{-2|d|}) - log 2 "
        "otherwise: exact near 0 and finite for errors of 1e3 and beyond (log cosh 1000 = "
        "1000 - log 2). optax computes logaddexp(d, -d) - log 2 and Keras d + softplus(-2d) - "
        "log 2; both agree to rounding. The default (optax) is elementwise; convention='keras' "
        "takes Keras' mean over the last axis. Keras run in float64 with its float32 floatx "
        "builds log 2 as a float32 constant, which moves its numbers by about 1.9e-9 (absolute); "
        "with floatx float64 they agree to rounding.",
        examples=(Example("errors of 0.5, 0 and 3",
                          {"predictions": [0.5, 2.0, -1.0], "targets": [0.0, 2.0, 2.0]}),),
        conventions=(
            Convention("optax", "optax.losses.log_cosh",
                       "elementwise loss (optax does not reduce); mean divides by the element "
                       "count, mean with sample_weight by the weights' sum"),
            keras_convention("keras.losses.LogCosh"),
        ),
        **_COMMON,
    ),
    LossSpec(
        name="half_mse",
        fn=half_mse,
        aliases=("l2_loss",),
        summary="Half squared error, 0.5 (x - y)^2 (optax l2_loss).",
        formula=r"\ell = \tfrac12 (x - y)^2",
        reference="optax.losses.l2_loss",
        sampler=_sample,
        gradient_note=r"\partial\ell/\partial x = x - y",
        notes="Half of mse: optax.losses.l2_loss(predictions, targets) elementwise; optax does "
        "not reduce, so jnp.mean(l2_loss(...)) is this service's mean. Not the same as "
        "PyTorch's mse_loss (no 1/2) or an L2 norm.",
        examples=(Example("a small batch", {"predictions": [1.0, 2.0, 3.0],
                                            "targets": [0.0, 2.0, 5.0]}),),
        **_COMMON,
    ),
    *relative_regression.SPECS,
    LossSpec(
        name="pinball",
        fn=pinball,
        aliases=("quantile",),
        params=(ParamSpec("alpha", "float", 0.5,
                          "the quantile level: under-prediction is weighted alpha, "
                          "over-prediction 1 - alpha", minimum=0.0, maximum=1.0),),
        summary="Pinball (quantile) loss: alpha-weighted under-prediction, (1 - alpha)-weighted "
        "over-prediction.",
        formula=r"\ell = \begin{cases} \alpha\,d & d \ge 0 \\ (\alpha - 1)\,d & d < 0"
        r"\end{cases},\quad d = y - x",
        reference="Koenker & Bassett (1978), Regression Quantiles, Econometrica 46(1); "
        "sklearn.metrics.mean_pinball_loss",
        sampler=_sample_pinball,
        gradient_note=r"\partial\ell/\partial x = -\alpha where y > x, 1 - \alpha where y < x, "
        r"and 0 at y = x (a valid subgradient in [-\alpha, 1 - \alpha], PyTorch's sign(0) = 0 "
        "rule of L1). The target is data (no gradient).",
        notes="scikit-learn semantics (alpha in [0, 1], default 0.5; alpha = 0.5 gives half the "
        "absolute error). scikit-learn's sample_weight average equals this service's mean with "
        "sample_weight, and its multioutput='uniform_average' over (N, k) equals mean. At "
        "y = x the loss is 0 (scikit-learn takes the alpha branch there; both branches give 0).",
        examples=(Example("the 0.9 quantile", {"predictions": [1.0, 2.0, 3.0],
                                               "targets": [2.0, 2.0, 1.0]},
                          {"alpha": 0.9}),),
        **_COMMON,
    ),
)
