"""Regression losses: mse, l1, huber, smooth_l1 (PyTorch semantics, elementwise).

Each kernel takes ``predictions`` and ``targets`` of the same shape ``(*)`` (no broadcasting) and
returns the elementwise loss with its vector-Jacobian product. Each is a function of
``d = x - y``, so the targets' gradient (returned when ``wrt`` names them; PyTorch differentiates
them) is ``dl/dy = -dl/dx``, PyTorch's choice at the kinks included.
"""

from __future__ import annotations

from typing import Any

from . import _checks
from ._math import ns, sign
from .spec import (
    Array,
    Convention,
    Example,
    InputSpec,
    LossOutput,
    LossSpec,
    ParamSpec,
    keras_convention,
)

PRED = InputSpec("predictions", "values", "(*)", "predicted values", differentiable=True)
TARGET = InputSpec("targets", "values", "(*), same shape as predictions", "target values",
                   grad_on_request=True)


def difference(predictions: Array, targets: Array) -> tuple[Any, Array]:
    """The namespace and ``predictions - targets``, after checking that the shapes agree."""
    _checks.same_shape(predictions, targets, "predictions", "targets")
    return ns(predictions, targets), predictions - targets


def mse(predictions: Array, targets: Array) -> LossOutput:
    """Squared error.

    ``l = (x - y)^2``; ``dl/dx = 2 (x - y)``, ``dl/dy = -2 (x - y)``.

    Args:
      predictions: [*] predicted values.
      targets: [*] target values, same shape.

    Returns:
      LossOutput with loss [*].

    References:
      ``torch.nn.functional.mse_loss``.
    """
    _, d = difference(predictions, targets)
    return LossOutput(d * d, lambda cot: {"predictions": 2.0 * d * cot},
                      {"targets": lambda cot: -2.0 * d * cot})


def l1(predictions: Array, targets: Array) -> LossOutput:
    """Absolute error.

    ``l = |x - y|``; ``dl/dx = sign(x - y) = -dl/dy``, 0 at ``x == y`` (PyTorch).

    Args:
      predictions: [*] predicted values.
      targets: [*] target values, same shape.

    Returns:
      LossOutput with loss [*].

    References:
      ``torch.nn.functional.l1_loss``.
    """
    xp, d = difference(predictions, targets)
    return LossOutput(xp.abs(d), lambda cot: {"predictions": sign(xp, d) * cot},
                      {"targets": lambda cot: -sign(xp, d) * cot})


def huber(predictions: Array, targets: Array, *, delta: float = 1.0) -> LossOutput:
    """Huber loss.

    ``l = 0.5 d^2`` if ``|d| < delta`` else ``delta (|d| - 0.5 delta)``, ``d = x - y``;
    ``dl/dx = clip(d, -delta, delta) = -dl/dy`` (continuous, so no kink choice is needed).

    Args:
      predictions: [*] predicted values.
      targets: [*] target values, same shape.
      delta: threshold between the quadratic and linear parts, > 0.

    Returns:
      LossOutput with loss [*].

    References:
      Huber (1964); ``torch.nn.functional.huber_loss``.
    """
    xp, d = difference(predictions, targets)
    a = xp.abs(d)
    loss = xp.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    return LossOutput(loss, lambda cot: {"predictions": xp.clip(d, -delta, delta) * cot},
                      {"targets": lambda cot: -xp.clip(d, -delta, delta) * cot})


def smooth_l1(predictions: Array, targets: Array, *, beta: float = 1.0) -> LossOutput:
    """Smooth L1 loss (``huber / beta`` for beta > 0; plain L1 for beta = 0).

    ``l = 0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``;
    ``dl/dx = d / beta`` inside, ``sign(d)`` outside (``sign(0) = 0``, the L1 rule, at beta = 0);
    ``dl/dy = -dl/dx``.

    Args:
      predictions: [*] predicted values.
      targets: [*] target values, same shape.
      beta: width of the quadratic zone, >= 0.

    Returns:
      LossOutput with loss [*].

    References:
      Girshick, Fast R-CNN (2015); ``torch.nn.functional.smooth_l1_loss``.
    """
    xp, d = difference(predictions, targets)
    a = xp.abs(d)
    if beta == 0.0:  # l1, as torch: sign(NaN) = 0
        return LossOutput(a, lambda cot: {"predictions": sign(xp, d) * cot},
                          {"targets": lambda cot: -sign(xp, d) * cot})
    inside = a < beta

    def slope() -> Array:
        return xp.where(inside, d / beta, xp.sign(d))

    loss = xp.where(inside, 0.5 * d * d / beta, a - 0.5 * beta)
    return LossOutput(loss, lambda cot: {"predictions": slope() * cot},
                      {"targets": lambda cot: -slope() * cot})


def _sample(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"predictions": rng.normal(size=(n, c)), "targets": rng.normal(size=(n, c))}, {}


_COMMON: dict[str, Any] = {
    "family": "regression",
    "inputs": (PRED, TARGET),
    "sampler": _sample,
    "zero_at_match": True,
}

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="mse",
        fn=mse,
        aliases=("l2", "mean_squared_error"),
        summary="Mean squared error.",
        formula=r"\ell = (x - y)^2",
        reference="torch.nn.functional.mse_loss; sklearn.metrics.mean_squared_error",
        gradient_note=r"\partial\ell/\partial x = 2(x - y)",
        torch_equivalent="torch.nn.functional.mse_loss",
        conventions=(
            Convention("torch", "torch.nn.functional.mse_loss",
                       "elementwise loss; mean divides by the element count"),
            keras_convention("keras.losses.MeanSquaredError"),
            Convention("optax", "optax.losses.squared_error",
                       "same numbers as torch (optax returns the elementwise loss)"),
            Convention("sklearn", "sklearn.metrics.mean_squared_error",
                       "same numbers as torch; sample_weight is a weighted average (np.average)"),
        ),
        examples=(
            Example("seed 003: y = 0, y_hat = 0.9 gives 0.81 (gradient 1.80)",
                    {"predictions": [0.9], "targets": [0.0]}),
            Example("a small batch", {"predictions": [[1.0, 2.0], [3.0, 4.0]],
                                      "targets": [[1.5, 2.0], [2.0, 4.5]]}),
        ),
        **_COMMON,
    ),
    LossSpec(
        name="l1",
        fn=l1,
        aliases=("mae", "mean_absolute_error"),
        summary="Mean absolute error.",
        formula=r"\ell = |x - y|",
        reference="torch.nn.functional.l1_loss; sklearn.metrics.mean_absolute_error",
        gradient_note=r"\partial\ell/\partial x = \operatorname{sign}(x - y); 0 at x = y "
        "(PyTorch's choice at the kink, kept under every convention; jax.grad of Keras' "
        "MeanAbsoluteError gives 1 there, JAX's abs'(0))",
        torch_equivalent="torch.nn.functional.l1_loss",
        conventions=(
            Convention("torch", "torch.nn.functional.l1_loss",
                       "elementwise loss; mean divides by the element count"),
            keras_convention("keras.losses.MeanAbsoluteError"),
            Convention("sklearn", "sklearn.metrics.mean_absolute_error",
                       "same numbers as torch; sample_weight is a weighted average (np.average)"),
        ),
        examples=(Example("a small batch", {"predictions": [1.0, 2.0, 3.0],
                                            "targets": [1.5, 2.0, 1.0]}),),
        **_COMMON,
    ),
    LossSpec(
        name="huber",
        fn=huber,
        params=(ParamSpec("delta", "float", 1.0, "switch point between quadratic and linear",
                          minimum=0.0, exclusive_minimum=True),),
        summary="Huber loss: quadratic near 0, linear beyond delta.",
        formula=r"\ell = \begin{cases} \tfrac12 d^2 & |d| < \delta \\ "
        r"\delta(|d| - \tfrac12\delta) & \text{otherwise}\end{cases},\ d = x - y",
        reference="Huber (1964), Robust Estimation of a Location Parameter; "
        "torch.nn.functional.huber_loss",
        gradient_note=r"\partial\ell/\partial x = \operatorname{clip}(d, -\delta, \delta)",
        notes="Equals delta * smooth_l1(beta=delta); identical to smooth_l1 at delta = beta = 1.",
        torch_equivalent="torch.nn.functional.huber_loss",
        conventions=(
            Convention("torch", "torch.nn.functional.huber_loss",
                       "elementwise loss; mean divides by the element count"),
            keras_convention("keras.losses.Huber"),
            Convention("optax", "optax.losses.huber_loss",
                       "same numbers as torch (optax returns the elementwise loss)"),
        ),
        examples=(Example("delta = 1", {"predictions": [0.5, 3.0, -2.0],
                                        "targets": [0.0, 0.0, 0.0]}, {"delta": 1.0}),),
        **_COMMON,
    ),
    LossSpec(
        name="smooth_l1",
        fn=smooth_l1,
        params=(ParamSpec("beta", "float", 1.0, "width of the quadratic zone; 0 gives L1",
                          minimum=0.0),),
        summary="Smooth L1 loss (Fast R-CNN): Huber divided by beta.",
        formula=r"\ell = \begin{cases} \tfrac12 d^2/\beta & |d| < \beta \\ "
        r"|d| - \tfrac12\beta & \text{otherwise}\end{cases},\ d = x - y",
        reference="Girshick (2015), Fast R-CNN; torch.nn.functional.smooth_l1_loss",
        gradient_note=r"\partial\ell/\partial x = d/\beta inside, \operatorname{sign}(d) outside; "
        "sign(0) = 0 when beta = 0",
        torch_equivalent="torch.nn.functional.smooth_l1_loss",
        examples=(Example("beta = 0.5", {"predictions": [0.2, 3.0],
                                         "targets": [0.0, 1.0]}, {"beta": 0.5}),),
        **_COMMON,
    ),
)
