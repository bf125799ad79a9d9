"""Regression losses on relative errors, scikit-learn's by default, Keras's by ``convention``:

* ``mape``: scikit-learn ``mean_absolute_percentage_error`` (default: a fraction, eps = float64
  machine epsilon) / Keras ``MeanAbsolutePercentageError`` (``convention="keras"``: a percentage,
  eps 1e-7, mean over the last axis);
* ``msle``: scikit-learn ``mean_squared_log_error`` (default: no clipping, values <= -1 rejected) /
  Keras ``MeanSquaredLogarithmicError`` (``convention="keras"``: values clipped below at 1e-7,
  mean over the last axis).

Part of the "regression" family: :mod:`.robust_regression` lists these specs in its ``SPECS``,
between half_mse and pinball. Why a module of its own: the two measure the error relative to the
values' scale (``|y - x| / |y|``, and the log of ``(1 + x) / (1 + y)``), with the same pair of
conventions and their floors on small values (eps), which the other regression losses lack.

Each kernel takes ``predictions`` ``x`` and ``targets`` ``y`` of the same shape ``(*)`` (no
broadcasting) and returns the elementwise loss and its vector-Jacobian product. Keras' mean over
the last axis (its per-sample loss) and its ``sum_over_batch_size`` weighting are applied outside
the kernels, by the ``keras`` convention (:func:`service.losses.spec.keras_convention`).

mape and msle have no PyTorch equivalent; optax has neither, so their default is scikit-learn's,
the elementwise reading of a 1-D input as N samples that the course notes use too (issue 19).
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._math import as_float, ns
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

_F64_EPS = 2.220446049250313e-16  # numpy.finfo(numpy.float64).eps, scikit-learn's MAPE floor
_KERAS_EPS = 1e-7  # keras.backend.epsilon()


def mape(predictions: Array, targets: Array, *, eps: float | None = None,
         percent: bool | None = None, convention: str = "sklearn") -> LossOutput:
    """Absolute percentage error.

    ``l = s |y - x| / max(|y|, eps)`` with ``s = 100`` (``percent``) or 1;
    ``dl/dx = s sign(x - y) / max(|y|, eps)``, 0 at ``x == y`` (``sign(0) = 0``). Targets (on
    request): ``dl/dy = s sign(y - x) / m - s |y - x| sign(y) [|y| >= eps] / m^2``,
    ``m = max(|y|, eps)`` (the bound's side where ``|y| < eps``; at ``|y| == eps`` the unclipped
    one, as ``torch.clamp``).

    Args:
      predictions: [*] predicted values.
      targets: [*] target values, same shape.
      eps: lower bound of the denominator ``|y|``, > 0; ``None`` takes the convention's
        (scikit-learn the float64 machine epsilon 2.220446049250313e-16; Keras 1e-7).
      percent: multiply by 100; ``None`` takes the convention's (scikit-learn a fraction,
        Keras a percentage).
      convention: ``"sklearn"`` or ``"keras"``: the defaults of ``eps`` and ``percent``.

    Returns:
      LossOutput with loss [*].

    References:
      ``keras.losses.MeanAbsolutePercentageError``;
      ``sklearn.metrics.mean_absolute_percentage_error``.
    """
    sklearn = convention == "sklearn"
    eps = (_F64_EPS if sklearn else _KERAS_EPS) if eps is None else eps
    percent = (not sklearn) if percent is None else percent
    xp, d = difference(predictions, targets)
    scale = 100.0 if percent else 1.0
    m = xp.maximum(xp.abs(targets), eps)
    w = scale / m

    def targets_vjp(cot: Array) -> Array:
        live = as_float(xp, xp.abs(targets) >= eps, targets)
        return (-xp.sign(d) * w - xp.abs(d) * w * xp.sign(targets) * live / m) * cot

    return LossOutput(xp.abs(d) * w, lambda cot: {"predictions": xp.sign(d) * w * cot},
                      {"targets": targets_vjp})


def _above_minus_one(xp: Any, a: Array, name: str) -> None:
    """scikit-learn's domain of mean_squared_log_error: every value > -1."""
    bad = a <= -1.0
    if bool(xp.any(bad)):
        idx = _checks.first_index(xp, bad)
        raise errors.InvalidValue(
            f"{name} must be > -1 under convention 'sklearn' (scikit-learn's "
            f"mean_squared_log_error raises ValueError for values <= -1); found "
            f"{float(a[idx]):g}", (name, *idx))


def msle(predictions: Array, targets: Array, *, eps: float | None = None,
         convention: str = "sklearn") -> LossOutput:
    """Squared logarithmic error, ``(log1p(x) - log1p(y))^2``, values clipped below at ``eps``.

    ``l = (log1p(max(x, eps)) - log1p(max(y, eps)))^2``;
    ``dl/dx = 2 (log1p(max(x, eps)) - log1p(max(y, eps))) / (1 + x)`` where ``x >= eps``, 0 where
    ``x < eps`` (clipped; at ``x == eps`` the unclipped side is taken, as ``torch.clamp``).
    Without clipping (scikit-learn) ``dl/dx = 2 (log1p(x) - log1p(y)) / (1 + x)`` everywhere.
    Targets (on request), symmetrically: ``dl/dy = -2 (log1p(max(x, eps)) - log1p(max(y, eps)))
    / (1 + y)`` where ``y >= eps`` (0 below), ``-2 (log1p(x) - log1p(y)) / (1 + y)`` unclipped.

    Args:
      predictions: [*] predicted values.
      targets: [*] target values, same shape.
      eps: the clip floor, >= 0; ``None`` takes the convention's (scikit-learn does not clip;
        Keras 1e-7).
      convention: ``"sklearn"`` (values <= -1 are rejected with ``invalid_value``, as
        scikit-learn raises ValueError for them) or ``"keras"`` (values below eps are clipped to
        eps).

    Returns:
      LossOutput with loss [*].

    References:
      ``keras.losses.MeanSquaredLogarithmicError``;
      ``sklearn.metrics.mean_squared_log_error``.
    """
    _checks.same_shape(predictions, targets, "predictions", "targets")
    xp = ns(predictions, targets)
    if convention == "sklearn":
        _above_minus_one(xp, targets, "targets")
        _above_minus_one(xp, predictions, "predictions")
    elif eps is None:
        eps = _KERAS_EPS
    if eps is None:  # scikit-learn: no clipping
        r = xp.log1p(predictions) - xp.log1p(targets)
        g = 2.0 * r / (1.0 + predictions)
        return LossOutput(r * r, lambda cot: {"predictions": g * cot},
                          {"targets": lambda cot: -2.0 * r / (1.0 + targets) * cot})
    xc, yc = xp.maximum(predictions, eps), xp.maximum(targets, eps)
    r = xp.log1p(xc) - xp.log1p(yc)
    live = as_float(xp, predictions >= eps, predictions)
    g = 2.0 * r * live / (1.0 + xc)

    def targets_vjp(cot: Array) -> Array:
        return -2.0 * r * as_float(xp, targets >= eps, targets) / (1.0 + yc) * cot

    return LossOutput(r * r, lambda cot: {"predictions": g * cot}, {"targets": targets_vjp})


# --------------------------------------------------------------------------------------------
# Samplers and specs
# --------------------------------------------------------------------------------------------


def _sample_mape(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    y = rng.uniform(0.5, 2.0, size=(n, c)) * rng.choice([-1.0, 1.0], size=(n, c))
    return {"predictions": y + rng.normal(size=(n, c)), "targets": y}, {}


def _sample_msle(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    x = rng.exponential(2.0, size=(n, c)) + 0.1
    y = rng.exponential(2.0, size=(n, c)) + 0.1
    x[0, 0] = -0.5  # in (-1, 0): log1p'd as is by sklearn, clipped to eps (gradient 0) by keras
    y[-1, -1] = -0.25
    return {"predictions": x, "targets": y}, {}


_COMMON: dict[str, Any] = {
    "family": "regression",
    "inputs": (PRED, TARGET),
    "zero_at_match": True,
}

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="mape",
        fn=mape,
        params=(
            ParamSpec("eps", "float", None,
                      "lower bound of |y| in the denominator; null (default): the "
                      "convention's, scikit-learn 2.220446049250313e-16 (the float64 machine "
                      "epsilon), Keras 1e-7", minimum=0.0, exclusive_minimum=True, nullable=True),
            ParamSpec("percent", "bool", None,
                      "multiply by 100; null (default): the convention's, false for scikit-learn "
                      "(a fraction), true for Keras (a percentage)", nullable=True),
        ),
        summary="Absolute percentage error |y - x| / |y|, a fraction (scikit-learn); x100 with "
        "percent or convention keras.",
        formula=r"\ell = s\,\frac{|y - x|}{\max(|y|, \epsilon)},\quad "
        r"s = 100 \text{ (percent) or } 1",
        reference="sklearn.metrics.mean_absolute_percentage_error; Keras 3 "
        "keras.losses.MeanAbsolutePercentageError",
        sampler=_sample_mape,
        gradient_note=r"\partial\ell/\partial x = s\,\operatorname{sign}(x - y)/\max(|y|, "
        r"\epsilon); 0 at x = y (sign(0) = 0, PyTorch's L1 rule; JAX's abs gives -s/max(|y|, "
        r"\epsilon) there). The target is data (no gradient).",
        notes="No PyTorch or optax equivalent: the default is scikit-learn's, the elementwise "
        "reading (a 1-D input is N samples) scikit-learn and the course notes share. "
        "convention='sklearn' (default) reproduces mean_absolute_percentage_error: a fraction "
        "(scikit-learn returns one; only Keras multiplies by 100), eps = float64 machine epsilon "
        "(a target of 0 gives about 4.5e15 |x|), elementwise, and mean with sample_weight is "
        "the weighted average (np.average; multioutput='uniform_average' over (N, k) is the mean "
        "over all elements). convention='keras' reproduces Keras: a percentage, eps = 1e-7 (a "
        "target of 0 gives 1e9 |x|), the per-sample loss is the mean over the last axis (a 1-D "
        "input is one sample) and mean with sample_weight divides by the number of samples. "
        "Explicit eps and percent override the convention's values. Until issue 19 the default "
        "was Keras'.",
        examples=(
            Example("scikit-learn (the default): a fraction, float64 eps",
                    {"predictions": [2.5, 0.0, 2.0], "targets": [3.0, -0.5, 2.0]}),
            Example("Keras: percentages", {"predictions": [2.5, 0.0, 2.0],
                                           "targets": [3.0, -0.5, 2.0]},
                    {"convention": "keras"}),
        ),
        conventions=(
            Convention("sklearn", "sklearn.metrics.mean_absolute_percentage_error",
                       "a fraction (no x100); eps = 2.220446049250313e-16 (float64 machine "
                       "epsilon); elementwise loss (a 1-D input is N samples); mean with "
                       "sample_weight is the weighted average (divides by the weights' sum)"),
            keras_convention("keras.losses.MeanAbsolutePercentageError",
                             "a percentage (x100); eps = 1e-7"),
        ),
        **_COMMON,
    ),
    LossSpec(
        name="msle",
        fn=msle,
        params=(ParamSpec("eps", "float", None,
                          "values below eps are clipped to eps; null (default): the "
                          "convention's, scikit-learn no clipping, Keras 1e-7",
                          minimum=0.0, nullable=True),),
        summary="Squared error of log(1 + value) (scikit-learn); values clipped below at eps "
        "with eps or convention keras.",
        formula=r"\ell = \bigl(\log(1 + \max(x, \epsilon)) - \log(1 + \max(y, \epsilon))\bigr)^2",
        reference="sklearn.metrics.mean_squared_log_error; Keras 3 "
        "keras.losses.MeanSquaredLogarithmicError",
        sampler=_sample_msle,
        gradient_note=r"\partial\ell/\partial x = 2\bigl(\log(1 + x) - \log(1 + \max(y, "
        r"\epsilon))\bigr)/(1 + x) where x \ge \epsilon; 0 where x < \epsilon (clipped). At "
        r"x = \epsilon the unclipped side is used (torch.clamp's rule; Keras on JAX splits "
        "jnp.maximum ties 0.5/0.5). Without clipping (convention='sklearn', the default): "
        r"2(\log(1 + x) - \log(1 + y))/(1 + x) everywhere.",
        notes="No PyTorch or optax equivalent: the default is scikit-learn's, the elementwise "
        "reading (a 1-D input is N samples) scikit-learn and the course notes share. "
        "convention='sklearn' (default) reproduces mean_squared_log_error: log1p(v) without "
        "clipping (values in (-1, 0) are allowed), values <= -1 are rejected with invalid_value "
        "(scikit-learn raises ValueError), elementwise, and mean with sample_weight is the "
        "weighted average. convention='keras': values below eps (including negatives) are "
        "silently clipped to eps = 1e-7, the per-sample loss is the mean over the last axis (a "
        "1-D input is one sample) and mean with sample_weight divides by the number of samples. "
        "log1p is used where Keras writes log(v + 1) (more accurate for tiny v; the difference "
        "is below 1e-16 absolute); Keras with its float32 floatx builds eps as a float32 "
        "constant (1.0000000116860974e-07). An explicit eps clips in either convention. Until "
        "issue 19 the default was Keras'.",
        examples=(
            Example("scikit-learn (the default: no clipping; values must be > -1)",
                    {"predictions": [2.5, 0.0, 2.0, 8.0], "targets": [3.0, -0.5, 2.0, 7.0]}),
            Example("Keras (the negative prediction is clipped to 1e-7)",
                    {"predictions": [1.0, 2.0, -1.0], "targets": [1.5, 2.0, 0.5]},
                    {"convention": "keras"}),
        ),
        conventions=(
            Convention("sklearn", "sklearn.metrics.mean_squared_log_error",
                       "no clipping; values <= -1 rejected (invalid_value); elementwise loss (a "
                       "1-D input is N samples); mean with sample_weight is the weighted average "
                       "(divides by the weights' sum)"),
            keras_convention("keras.losses.MeanSquaredLogarithmicError",
                             "values below 1e-7 clipped to 1e-7"),
        ),
        **_COMMON,
    ),
)
