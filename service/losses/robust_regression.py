"""More regression losses from Keras, optax and scikit-learn (elementwise, PyTorch-style outputs).

* ``log_cosh``: Keras ``LogCosh`` / ``optax.losses.log_cosh``;
* ``half_mse`` [l2_loss]: ``optax.losses.l2_loss``, ``0.5 (x - y)^2``;
* ``mape``: Keras ``MeanAbsolutePercentageError`` (a percentage, eps 1e-7), or scikit-learn's
  ``mean_absolute_percentage_error`` (a fraction, eps = float64 machine epsilon) through params;
* ``msle``: Keras ``MeanSquaredLogarithmicError`` (values clipped below at eps);
* ``pinball`` [quantile]: scikit-learn ``mean_pinball_loss``.

Each kernel takes ``predictions`` ``x`` and ``targets`` ``y`` of the same shape ``(*)`` (no
broadcasting) and returns the elementwise loss and its vector-Jacobian product. Keras averages
each sample over its last axis inside the loss; here the loss stays elementwise, so Keras's
default ``sum_over_batch_size`` number for an ``(N, D)`` input is this service's ``mean``.
"""

from __future__ import annotations

import math
from typing import Any

from . import _checks
from ._math import as_float, ns
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec

PRED = InputSpec("predictions", "values", "(*)", "predicted values", differentiable=True)
TARGET = InputSpec("targets", "values", "(*), same shape as predictions", "target values")

_LOG2 = math.log(2.0)
_F64_EPS = 2.220446049250313e-16  # numpy.finfo(numpy.float64).eps, scikit-learn's MAPE floor

_KERAS_MEAN_NOTE = (
    " Keras averages over the last axis inside the loss, so Keras's default "
    "(sum_over_batch_size) number for an (N, D) input equals this service's mean, and Keras's "
    "per-sample values are this service's per_sample breakdown."
)


def _diff(predictions: Array, targets: Array) -> tuple[Any, Array]:
    _checks.same_shape(predictions, targets, "predictions", "targets")
    return ns(predictions, targets), predictions - targets


def log_cosh(predictions: Array, targets: Array) -> LossOutput:
    """Logarithm of the hyperbolic cosine of the error.

    ``l = log cosh(d)``, ``d = x - y``, computed as ``log1p(2 sinh(|d|/2)^2)`` for ``|d| < 1``
    (no cancellation near 0) and ``|d| + log1p(e^{-2|d|}) - log 2`` otherwise (no overflow at
    ``|d| = 1e3``); ``dl/dx = tanh(d)``.

    Args:
      predictions: [*] predicted values.
      targets: [*] target values, same shape.

    Returns:
      LossOutput with loss [*].

    References:
      Chen, Hua & Li (2019), Log Hyperbolic Cosine Loss Improves Variational Auto-Encoder;
      ``keras.losses.LogCosh``; ``optax.losses.log_cosh``.
    """
    xp, d = _diff(predictions, targets)
    a = xp.abs(d)
    small = a < 1.0
    a_small = xp.where(small, a, xp.zeros_like(a))  # keeps sinh finite in the unused branch
    s = xp.sinh(0.5 * a_small)
    near = xp.log1p(2.0 * s * s)
    far = a + xp.log1p(xp.exp(-2.0 * a)) - _LOG2
    loss = xp.where(small, near, far)
    return LossOutput(loss, lambda cot: {"predictions": xp.tanh(d) * cot})


def half_mse(predictions: Array, targets: Array) -> LossOutput:
    """Half squared error (optax's ``l2_loss``).

    ``l = 0.5 (x - y)^2``; ``dl/dx = x - y``.

    Args:
      predictions: [*] predicted values.
      targets: [*] target values, same shape.

    Returns:
      LossOutput with loss [*].

    References:
      ``optax.losses.l2_loss``.
    """
    _, d = _diff(predictions, targets)
    return LossOutput(0.5 * d * d, lambda cot: {"predictions": d * cot})


def mape(predictions: Array, targets: Array, *, eps: float = 1e-7,
         percent: bool = True) -> LossOutput:
    """Absolute percentage error.

    ``l = s |y - x| / max(|y|, eps)`` with ``s = 100`` (``percent``) or 1;
    ``dl/dx = s sign(x - y) / max(|y|, eps)``, 0 at ``x == y`` (``sign(0) = 0``).

    Args:
      predictions: [*] predicted values.
      targets: [*] target values, same shape.
      eps: lower bound of the denominator ``|y|``, > 0 (Keras 1e-7; scikit-learn uses the
        float64 machine epsilon 2.220446049250313e-16).
      percent: multiply by 100 (Keras); false gives a fraction (scikit-learn).

    Returns:
      LossOutput with loss [*].

    References:
      ``keras.losses.MeanAbsolutePercentageError``;
      ``sklearn.metrics.mean_absolute_percentage_error``.
    """
    xp, d = _diff(predictions, targets)
    scale = 100.0 if percent else 1.0
    w = scale / xp.maximum(xp.abs(targets), eps)
    return LossOutput(xp.abs(d) * w, lambda cot: {"predictions": xp.sign(d) * w * cot})


def msle(predictions: Array, targets: Array, *, eps: float = 1e-7) -> LossOutput:
    """Squared logarithmic error with values clipped below at ``eps`` (Keras).

    ``l = (log1p(max(x, eps)) - log1p(max(y, eps)))^2``;
    ``dl/dx = 2 (log1p(max(x, eps)) - log1p(max(y, eps))) / (1 + x)`` where ``x >= eps``, 0 where
    ``x < eps`` (clipped; at ``x == eps`` the unclipped side is taken, as ``torch.clamp``).

    Args:
      predictions: [*] predicted values (values below eps are clipped to eps).
      targets: [*] target values, same shape (clipped likewise).
      eps: the clip floor, >= 0 (Keras 1e-7; 0 reproduces scikit-learn for values >= 0).

    Returns:
      LossOutput with loss [*].

    References:
      ``keras.losses.MeanSquaredLogarithmicError``;
      ``sklearn.metrics.mean_squared_log_error``.
    """
    _checks.same_shape(predictions, targets, "predictions", "targets")
    xp = ns(predictions, targets)
    xc = xp.maximum(predictions, eps)
    r = xp.log1p(xc) - xp.log1p(xp.maximum(targets, eps))
    live = as_float(xp, predictions >= eps, predictions)
    g = 2.0 * r * live / (1.0 + xc)
    return LossOutput(r * r, lambda cot: {"predictions": g * cot})


def pinball(predictions: Array, targets: Array, *, alpha: float = 0.5) -> LossOutput:
    """Pinball (quantile) loss.

    With ``d = y - x``: ``l = alpha d`` if ``d >= 0`` else ``(alpha - 1) d``;
    ``dl/dx = -alpha`` where ``d > 0``, ``1 - alpha`` where ``d < 0`` and 0 at ``d == 0`` (the
    subgradient 0 lies in ``[-alpha, 1 - alpha]``; it is PyTorch's ``sign(0) = 0`` rule of L1).

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
    xp, e = _diff(predictions, targets)  # e = x - y = -d
    zero = xp.zeros_like(e)
    under = xp.maximum(-e, zero)  # d where d > 0 (the prediction is below the target)
    over = xp.maximum(e, zero)
    loss = alpha * under + (1.0 - alpha) * over
    g = (1.0 - alpha) * as_float(xp, e > 0.0, e) - alpha * as_float(xp, e < 0.0, e)
    return LossOutput(loss, lambda cot: {"predictions": g * cot})


# --------------------------------------------------------------------------------------------
# Samplers and specs
# --------------------------------------------------------------------------------------------


def _sample(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"predictions": rng.normal(size=(n, c)) * 2.0,
            "targets": rng.normal(size=(n, c)) * 2.0}, {}


def _sample_mape(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    y = rng.uniform(0.5, 2.0, size=(n, c)) * rng.choice([-1.0, 1.0], size=(n, c))
    return {"predictions": y + rng.normal(size=(n, c)), "targets": y}, {}


def _sample_msle(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    x = rng.exponential(2.0, size=(n, c)) + 0.1
    y = rng.exponential(2.0, size=(n, c)) + 0.1
    x[0, 0] = -0.5  # clipped to eps: gradient 0
    y[-1, -1] = -0.25
    return {"predictions": x, "targets": y}, {}


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
        reference="Keras 3 keras.losses.LogCosh; optax.losses.log_cosh; Chen, Hua & Li (2019), "
        "Log Hyperbolic Cosine Loss Improves Variational Auto-Encoder",
        sampler=_sample,
        gradient_note=r"\partial\ell/\partial x = \tanh(x - y); smooth, no kink.",
        notes="Computed as log1p(2 sinh^2(|d|/2)) for |d| < 1 and |d| + log1p(e^{-2|d|}) - log 2 "
        "otherwise: exact near 0 and finite for errors of 1e3 and beyond (log cosh 1000 = "
        "1000 - log 2). Keras computes d + softplus(-2d) - log 2 and optax "
        "logaddexp(d, -d) - log 2; both agree to rounding. Keras builds log 2 as a float32 "
        "constant, so its float64 numbers are off by about 1.9e-9 (absolute)."
        + _KERAS_MEAN_NOTE,
        examples=(Example("errors of 0.5, 0 and 3",
                          {"predictions": [0.5, 2.0, -1.0], "targets": [0.0, 2.0, 2.0]}),),
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
    LossSpec(
        name="mape",
        fn=mape,
        params=(
            ParamSpec("eps", "float", 1e-7,
                      "lower bound of |y| in the denominator (Keras 1e-7; scikit-learn "
                      "2.220446049250313e-16, the float64 machine epsilon)",
                      minimum=0.0, exclusive_minimum=True),
            ParamSpec("percent", "bool", True,
                      "multiply by 100 (Keras); false gives a fraction (scikit-learn)"),
        ),
        summary="Absolute percentage error |y - x| / |y| (x100 by default, as Keras).",
        formula=r"\ell = s\,\frac{|y - x|}{\max(|y|, \epsilon)},\quad "
        r"s = 100 \text{ (percent) or } 1",
        reference="Keras 3 keras.losses.MeanAbsolutePercentageError; "
        "sklearn.metrics.mean_absolute_percentage_error",
        sampler=_sample_mape,
        gradient_note=r"\partial\ell/\partial x = s\,\operatorname{sign}(x - y)/\max(|y|, "
        r"\epsilon); 0 at x = y (sign(0) = 0, PyTorch's L1 rule). The target is data (no "
        "gradient).",
        notes="Defaults reproduce Keras (a percentage, eps = 1e-7; a target of 0 gives "
        "1e9 |x|). scikit-learn's mean_absolute_percentage_error is a fraction with eps = "
        "float64 machine epsilon: use percent=false, eps=2.220446049250313e-16 (a target of 0 "
        "then gives about 4.5e15 |x|). scikit-learn's sample_weight average equals this "
        "service's mean with sample_weight; its multioutput='uniform_average' over (N, k) "
        "equals mean." + _KERAS_MEAN_NOTE,
        examples=(
            Example("Keras: percentages", {"predictions": [2.5, 0.0, 2.0],
                                           "targets": [3.0, -0.5, 2.0]}),
            Example("scikit-learn: a fraction, float64 eps",
                    {"predictions": [2.5, 0.0, 2.0], "targets": [3.0, -0.5, 2.0]},
                    {"percent": False, "eps": 2.220446049250313e-16}),
        ),
        **_COMMON,
    ),
    LossSpec(
        name="msle",
        fn=msle,
        params=(ParamSpec("eps", "float", 1e-7,
                          "values below eps are clipped to eps (Keras 1e-7); 0 reproduces "
                          "scikit-learn for non-negative inputs", minimum=0.0),),
        summary="Squared error of log(1 + value), values clipped below at eps (Keras).",
        formula=r"\ell = \bigl(\log(1 + \max(x, \epsilon)) - \log(1 + \max(y, \epsilon))\bigr)^2",
        reference="Keras 3 keras.losses.MeanSquaredLogarithmicError; "
        "sklearn.metrics.mean_squared_log_error",
        sampler=_sample_msle,
        gradient_note=r"\partial\ell/\partial x = 2\bigl(\log(1 + x) - \log(1 + \max(y, "
        r"\epsilon))\bigr)/(1 + x) where x \ge \epsilon; 0 where x < \epsilon (clipped). At "
        r"x = \epsilon the unclipped side is used (torch.clamp's rule; Keras on JAX splits "
        "jnp.maximum ties 0.5/0.5).",
        notes="Keras semantics: values below eps (including negatives) are silently clipped to "
        "eps = 1e-7. log1p is used where Keras writes log(v + 1) (more accurate for tiny v; the "
        "difference is below 1e-16 absolute). scikit-learn's mean_squared_log_error uses "
        "log1p(v) without clipping and raises ValueError for any value <= -1 (values in "
        "(-1, 0) are allowed there); with eps=0 this loss reproduces scikit-learn exactly for "
        "non-negative inputs, while negatives are clipped to 0 here. Keras builds eps as a "
        "float32 constant (1.0000000116860974e-07)." + _KERAS_MEAN_NOTE,
        examples=(
            Example("Keras defaults (the negative prediction is clipped to 1e-7)",
                    {"predictions": [1.0, 2.0, -1.0], "targets": [1.5, 2.0, 0.5]}),
            Example("scikit-learn (eps = 0, non-negative inputs)",
                    {"predictions": [2.5, 0.0, 2.0, 8.0], "targets": [3.0, 0.5, 2.0, 7.0]},
                    {"eps": 0.0}),
        ),
        **_COMMON,
    ),
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
