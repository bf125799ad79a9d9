"""Overlap (segmentation) losses with Keras's formulas: dice and tversky.

Predictions are probabilities (e.g. sigmoid outputs) and targets soft or hard masks, both in
[0, 1], of shape ``(N, ...)``. Unlike Keras's default ``axis=None``, which sums over the whole
batch and returns one number, the unreduced loss here is per sample: the sums run over every
non-batch axis, as Keras's ``axis=(1, ..., ndim-1)``. Keras's ``axis=None`` number is ours for
the batch passed as a single sample (shape ``(1, N, ...)``).
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._math import ns
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec

KERAS_EPS = 1e-7  # keras.backend.epsilon(), added to the denominators


def _overlap_inputs(xp: Any, predictions: Array, targets: Array) -> tuple[int, ...]:
    """Checks and returns the non-batch axes."""
    if predictions.ndim < 2:
        raise errors.InvalidShape(
            f"predictions must have at least 2 dimensions (N, ...), one mask per sample, got "
            f"shape {_checks.fmt_shape(predictions.shape)}; send a single flat mask as (1, D)",
            ("predictions",),
        )
    _checks.same_shape(predictions, targets, "predictions", "targets")
    _checks.probabilities(xp, predictions, "predictions")
    _checks.probabilities(xp, targets, "targets")
    return tuple(range(1, predictions.ndim))


def _per_sample(xp: Any, a: Array, ndim: int) -> Array:
    """(N,) -> (N, 1, ..., 1), broadcasting over the non-batch axes."""
    return xp.reshape(a, (a.shape[0],) + (1,) * (ndim - 1))


def dice(predictions: Array, targets: Array) -> LossOutput:
    """Dice loss per sample, Keras's formula.

    ``l = 1 - 2 sum(y x) / (sum(y) + sum(x) + 1e-7)``, sums over the non-batch axes. With
    ``I = sum(y x)`` and ``den`` the denominator: ``dl/dx = -2 y / den + 2 I / den^2``; the loss is
    symmetric in ``x`` and ``y``, so the targets' gradient (on request) is
    ``dl/dy = -2 x / den + 2 I / den^2``.

    Args:
      predictions: [N, ...] predicted probabilities.
      targets: same shape, target masks in [0, 1].

    Returns:
      LossOutput with loss [N].

    References:
      Milletari, Navab & Ahmadi (2016), V-Net, 3DV; ``keras.losses.Dice`` (Keras 3).
    """
    xp = ns(predictions, targets)
    axes = _overlap_inputs(xp, predictions, targets)
    inter = xp.sum(targets * predictions, axis=axes)
    den = xp.sum(targets, axis=axes) + xp.sum(predictions, axis=axes) + KERAS_EPS
    loss = 1.0 - 2.0 * inter / den

    def vjp(cot: Array) -> dict[str, Array]:
        k = _per_sample(xp, cot / den, predictions.ndim)
        ratio = _per_sample(xp, inter / den, predictions.ndim)
        return {"predictions": 2.0 * k * (ratio - targets)}

    def targets_vjp(cot: Array) -> Array:
        k = _per_sample(xp, cot / den, predictions.ndim)
        ratio = _per_sample(xp, inter / den, predictions.ndim)
        return 2.0 * k * (ratio - predictions)

    return LossOutput(loss, vjp, {"targets": targets_vjp})


def tversky(predictions: Array, targets: Array, *, alpha: float = 0.5,
            beta: float = 0.5) -> LossOutput:
    """Tversky loss per sample, Keras's formula (alpha on the false-negative mass).

    ``l = 1 - I / (I + alpha sum(y (1 - x)) + beta sum((1 - y) x) + 1e-7)``, ``I = sum(y x)``,
    sums over the non-batch axes. With ``den`` the denominator:
    ``dl/dx = -(y den - I (y (1 - alpha) + beta (1 - y))) / den^2``; targets (on request):
    ``dl/dy = -(x den - I (x (1 - alpha - beta) + alpha)) / den^2``.

    Args:
      predictions: [N, ...] predicted probabilities.
      targets: same shape, target masks in [0, 1].
      alpha: weight of the false-negative mass ``sum(y (1 - x))`` (Keras's placement), >= 0.
      beta: weight of the false-positive mass ``sum((1 - y) x)``, >= 0.

    Returns:
      LossOutput with loss [N].

    References:
      Salehi, Erdogmus & Gholipour (2017), Tversky loss function for image segmentation using 3D
      fully convolutional deep networks, MLMI; ``keras.losses.Tversky`` (Keras 3).
    """
    xp = ns(predictions, targets)
    axes = _overlap_inputs(xp, predictions, targets)
    inter = xp.sum(targets * predictions, axis=axes)
    fn = xp.sum(targets * (1.0 - predictions), axis=axes)
    fp = xp.sum((1.0 - targets) * predictions, axis=axes)
    den = inter + alpha * fn + beta * fp + KERAS_EPS
    loss = 1.0 - inter / den

    def vjp(cot: Array) -> dict[str, Array]:
        k = _per_sample(xp, cot / den, predictions.ndim)
        ratio = _per_sample(xp, inter / den, predictions.ndim)
        dden = (1.0 - alpha) * targets + beta * (1.0 - targets)
        return {"predictions": k * (ratio * dden - targets)}

    def targets_vjp(cot: Array) -> Array:
        k = _per_sample(xp, cot / den, predictions.ndim)
        ratio = _per_sample(xp, inter / den, predictions.ndim)
        dden = (1.0 - alpha - beta) * predictions + alpha
        return k * (ratio * dden - predictions)

    return LossOutput(loss, vjp, {"targets": targets_vjp})


def _sample(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np

    x = rng.uniform(0.05, 0.95, size=(n, c, 3))
    y = (rng.uniform(size=(n, c, 3)) < 0.4).astype(np.float64)
    y[0, 0, 0] = 0.3  # a soft target
    return {"predictions": x, "targets": y}, {}


def _sample_tversky(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs, _ = _sample(rng, n, c)
    return inputs, {"alpha": 0.7, "beta": 0.3}


_INPUTS = (
    InputSpec("predictions", "probabilities", "(N, ...), e.g. (N, H, W) or (N, H, W, C)",
              "predicted probabilities (e.g. sigmoid outputs), one mask per sample",
              differentiable=True),
    InputSpec("targets", "probabilities", "same shape as predictions",
              "target masks in [0, 1] (hard or soft)", grad_on_request=True),
)
_PER_SAMPLE = ("Per sample: the sums run over every non-batch axis (Keras's axis=(1, ..., "
               "ndim-1)), so our 'mean' is Keras's sum_over_batch_size with that axis. Keras's "
               "default axis=None sums over the batch too and returns one number: reproduce it "
               "by sending the batch as one sample, shape (1, N, ...). Predictions and targets "
               "must lie in [0, 1] (Keras does not check). ")
_EXAMPLE = {"predictions": [[[0.9, 0.2], [0.7, 0.1]], [[0.4, 0.6], [0.3, 0.8]]],
            "targets": [[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]]}

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="dice",
        fn=dice,
        family="segmentation",
        aliases=("dice_loss",),
        summary="Dice loss: one minus the soft Dice overlap of predicted and target masks "
        "(Keras's Dice), per sample.",
        inputs=_INPUTS,
        formula=r"\ell_n = 1 - \frac{2\sum_i y_{n,i}\,x_{n,i}}{\sum_i y_{n,i} + \sum_i x_{n,i} "
        r"+ 10^{-7}}",
        reference="keras.losses.Dice / keras.losses.dice (Keras 3.15); Milletari, Navab & "
        "Ahmadi (2016), V-Net: Fully Convolutional Neural Networks for Volumetric Medical Image "
        "Segmentation, 3DV",
        gradient_note=r"With I = \sum_i y_i x_i and D = \sum y + \sum x + 10^{-7}: "
        r"\partial\ell/\partial x_i = 2(I/D - y_i)/D. Smooth for x, y in [0, 1] (D >= 1e-7).",
        notes=_PER_SAMPLE + "Keras's 1e-7 sits in the denominator only: an empty target with an "
        "empty prediction gives loss 1. optax.losses.dice_loss differs: it applies a softmax "
        "over the last (class) axis by default, works per class, and uses smooth=1.0 in the "
        "numerator AND the denominator, 1 - (I + s)/(I + a(P - I) + b(T - I) + s) with "
        "a = b = 0.5, i.e. 1 - (2I + 2s)/(P + T + 2s), which gives 0 for two empty masks. "
        "Not in PyTorch or scikit-learn.",
        sampler=_sample,
        examples=(Example("two 2x2 masks", _EXAMPLE, reduction="none"),),
    ),
    LossSpec(
        name="tversky",
        fn=tversky,
        family="segmentation",
        aliases=("tversky_loss",),
        summary="Tversky loss: a Dice generalisation weighting missed target mass (alpha) and "
        "spurious predicted mass (beta) separately (Keras's Tversky), per sample.",
        inputs=_INPUTS,
        params=(
            ParamSpec("alpha", "float", 0.5, "weight of the false-negative mass sum(y (1 - x)) "
                      "(Keras's placement; its docstring calls it the false-positive weight)",
                      minimum=0.0),
            ParamSpec("beta", "float", 0.5, "weight of the false-positive mass sum((1 - y) x)",
                      minimum=0.0),
        ),
        formula=r"\ell_n = 1 - \frac{I_n}{I_n + \alpha\sum_i y_{n,i}(1 - x_{n,i}) + "
        r"\beta\sum_i (1 - y_{n,i})x_{n,i} + 10^{-7}},\quad I_n = \sum_i y_{n,i}x_{n,i}",
        reference="keras.losses.Tversky / keras.losses.tversky (Keras 3.15); Salehi, Erdogmus "
        "& Gholipour (2017), Tversky loss function for image segmentation using 3D fully "
        "convolutional deep networks, MLMI",
        gradient_note=r"With D the denominator and I the intersection: "
        r"\partial\ell/\partial x_i = (I\,((1 - \alpha)y_i + \beta(1 - y_i)) - y_i D)/D^2. "
        r"Smooth for x, y in [0, 1].",
        notes=_PER_SAMPLE + "Which side alpha weighs: we follow Keras, whose code multiplies "
        "alpha by sum(y (1 - x)), the FALSE-NEGATIVE mass (target pixels the prediction "
        "misses), although its docstring says alpha controls false positives. optax "
        "(dice_loss's alpha/beta) and the Salehi et al. paper put alpha on the FALSE POSITIVES "
        "and beta on the false negatives: optax's (alpha, beta) is our (beta, alpha), apart from "
        "optax's smooth=1 in numerator and denominator and its default softmax. "
        "alpha = beta = 0.5 gives 1 - 2I/(sum y + sum x + 2e-7), Dice up to the epsilon.",
        sampler=_sample_tversky,
        examples=(Example("two 2x2 masks, alpha 0.7 on missed target mass", _EXAMPLE,
                          {"alpha": 0.7, "beta": 0.3}, reduction="none"),),
    ),
)
