"""Count and positive-value losses: Keras ``Poisson`` and scikit-learn's Tweedie deviances.

* ``poisson``: Keras ``Poisson``, ``x - y log(x + 1e-7)`` with ``x`` a rate;
* ``tweedie_deviance``: ``sklearn.metrics.mean_tweedie_deviance`` (``power`` in
  ``(-inf, 0] U [1, inf)``, with scikit-learn's per-power domain checks);
* ``poisson_deviance`` / ``gamma_deviance``: the Tweedie deviance at power 1 / 2
  (``mean_poisson_deviance`` / ``mean_gamma_deviance``).

All are elementwise: ``predictions`` (the predicted mean or rate ``x``) and ``targets`` (the
observations ``y``) have the same shape ``(*)`` and the unreduced loss has that shape.
scikit-learn's ``sample_weight`` (a weighted average) is this service's ``mean`` with
``sample_weight``.
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._math import as_float, ns, xlogy
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec

_KERAS_EPS = 1e-7  # keras.backend.epsilon()


def poisson(predictions: Array, targets: Array) -> LossOutput:
    """Poisson loss of Keras: the Poisson negative log-likelihood without ``log y!``.

    ``l = x - y log(x + 1e-7)``; ``dl/dx = 1 - y / (x + 1e-7)``; targets (on request):
    ``dl/dy = -log(x + 1e-7)`` (PyTorch's poisson_nll_loss(log_input=False, eps=1e-7)'s).

    Args:
      predictions: [*] predicted rates ``x >= 0``.
      targets: [*] observed counts ``y >= 0``, same shape.

    Returns:
      LossOutput with loss [*].

    References:
      ``keras.losses.Poisson``.
    """
    _checks.same_shape(predictions, targets, "predictions", "targets")
    xp = ns(predictions, targets)
    _checks.in_range(xp, predictions, "predictions", low=0.0, what="rates")
    _checks.in_range(xp, targets, "targets", low=0.0, what="counts")
    shifted = predictions + _KERAS_EPS
    log_rate = xp.log(shifted)
    loss = predictions - targets * log_rate
    g = 1.0 - targets / shifted
    return LossOutput(loss, lambda cot: {"predictions": g * cot},
                      {"targets": lambda cot: -log_rate * cot})


def _check_power(power: float) -> None:
    if 0.0 < power < 1.0:
        raise errors.InvalidParam(
            f"power must be <= 0 or >= 1 (no Tweedie distribution has 0 < power < 1); "
            f"got {power:g}",
            ("params", "power"),
        )


def _check_domain(xp: Any, x: Array, y: Array, power: float) -> None:
    """scikit-learn's per-power checks: p < 0: x > 0; 1 <= p < 2: y >= 0, x > 0; p >= 2: both > 0.

    The targets are checked first, as scikit-learn does.
    """
    if power == 0.0:
        return
    if power >= 2.0:
        _checks.in_range(xp, y, "targets", low=0.0, low_open=True,
                         what=f"observations for Tweedie power {power:g}")
    elif power >= 1.0:
        _checks.in_range(xp, y, "targets", low=0.0,
                         what=f"observations for Tweedie power {power:g}")
    _checks.in_range(xp, x, "predictions", low=0.0, low_open=True,
                     what=f"predicted means for Tweedie power {power:g}")


def tweedie_deviance(predictions: Array, targets: Array, *, power: float = 0.0) -> LossOutput:
    """Unit deviance of the Tweedie distribution with the given ``power``.

    With ``x`` the predicted mean, ``y`` the observation and ``p`` the power:
    ``p = 0``: ``(y - x)^2``; ``p = 1``: ``2 (y log(y / x) - y + x)`` (``0 log 0 = 0``);
    ``p = 2``: ``2 (log(x / y) + y / x - 1)``; otherwise
    ``2 (max(y, 0)^{2-p} / ((1-p)(2-p)) - y x^{1-p} / (1-p) + x^{2-p} / (2-p))``.
    For every power ``dl/dx = 2 (x - y) x^{-p}``. Targets (on request): ``dl/dy = 2 (y - x)``
    (p = 0), ``2 log(y / x)`` (p = 1), ``2 (1/x - 1/y)`` (p = 2), otherwise
    ``2 (max(y, 0)^{1-p} [y > 0 for p < 0] - x^{1-p}) / (1 - p)``; at ``y = 0`` (1 <= p < 2) the
    one-sided derivative, -inf.

    Args:
      predictions: [*] predicted means ``x`` (> 0 unless ``power == 0``).
      targets: [*] observations ``y``, same shape (``>= 0`` for ``1 <= p < 2``, ``> 0`` for
        ``p >= 2``, any real otherwise).
      power: the Tweedie power, in ``(-inf, 0] U [1, inf)``: 0 normal, 1 Poisson, (1, 2)
        compound Poisson-gamma, 2 gamma, 3 inverse Gaussian.

    Returns:
      LossOutput with loss [*].

    References:
      Jorgensen (1997), The Theory of Dispersion Models;
      ``sklearn.metrics.mean_tweedie_deviance``.
    """
    _check_power(power)
    _checks.same_shape(predictions, targets, "predictions", "targets")
    xp = ns(predictions, targets)
    x, y = predictions, targets
    _check_domain(xp, x, y, power)
    d = x - y
    if power == 0.0:
        loss = d * d
        g = 2.0 * d

        def t_slope() -> Array:
            return -2.0 * d
    elif power == 1.0:
        loss = 2.0 * (xlogy(xp, y, y / x) - y + x)
        g = 2.0 * d / x

        def t_slope() -> Array:
            return 2.0 * xp.log(y / x)
    elif power == 2.0:
        loss = 2.0 * (xp.log(x / y) + y / x - 1.0)
        g = 2.0 * d / (x * x)

        def t_slope() -> Array:
            return 2.0 * (1.0 / x - 1.0 / y)
    else:
        p = power
        y_pos = xp.where(y > 0.0, y, xp.zeros_like(y)) if p < 0.0 else y
        loss = 2.0 * (y_pos ** (2.0 - p) / ((1.0 - p) * (2.0 - p))
                      - y * x ** (1.0 - p) / (1.0 - p)
                      + x ** (2.0 - p) / (2.0 - p))
        g = 2.0 * d * x ** (-p)

        def t_slope() -> Array:
            first = y_pos ** (1.0 - p)
            if p < 0.0:  # the term is 0 (constant) where y <= 0
                first = first * as_float(xp, y > 0.0, y)
            return 2.0 * (first - x ** (1.0 - p)) / (1.0 - p)
    return LossOutput(loss, lambda cot: {"predictions": g * cot},
                      {"targets": lambda cot: t_slope() * cot})


def poisson_deviance(predictions: Array, targets: Array) -> LossOutput:
    """Poisson unit deviance, the Tweedie deviance at power 1.

    ``l = 2 (y log(y / x) - y + x)`` (``0 log 0 = 0``); ``dl/dx = 2 (x - y) / x``.

    Args:
      predictions: [*] predicted means ``x > 0``.
      targets: [*] observations ``y >= 0``, same shape.

    Returns:
      LossOutput with loss [*].

    References:
      McCullagh & Nelder (1989), Generalized Linear Models;
      ``sklearn.metrics.mean_poisson_deviance``.
    """
    return tweedie_deviance(predictions, targets, power=1.0)


def gamma_deviance(predictions: Array, targets: Array) -> LossOutput:
    """Gamma unit deviance, the Tweedie deviance at power 2.

    ``l = 2 (log(x / y) + y / x - 1)``; ``dl/dx = 2 (x - y) / x^2``.

    Args:
      predictions: [*] predicted means ``x > 0``.
      targets: [*] observations ``y > 0``, same shape.

    Returns:
      LossOutput with loss [*].

    References:
      McCullagh & Nelder (1989), Generalized Linear Models;
      ``sklearn.metrics.mean_gamma_deviance``.
    """
    return tweedie_deviance(predictions, targets, power=2.0)


# --------------------------------------------------------------------------------------------
# Samplers and specs
# --------------------------------------------------------------------------------------------


def _sample_poisson(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    x = rng.uniform(0.2, 4.0, size=(n, c))
    y = rng.poisson(2.0, size=(n, c)).astype(float)
    y[0, 0] = 0.0  # a zero count
    return {"predictions": x, "targets": y}, {}


def _sample_tweedie(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs, _ = _sample_poisson(rng, n, c)
    inputs["targets"] = inputs["targets"] * rng.uniform(0.5, 1.5, size=(n, c))
    return inputs, {"power": 1.5}


def _sample_gamma(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"predictions": rng.uniform(0.2, 4.0, size=(n, c)),
            "targets": rng.gamma(2.0, 1.0, size=(n, c)) + 0.05}, {}


def _targets(description: str) -> InputSpec:
    return InputSpec("targets", "counts", "(*), same shape as predictions", description,
                     grad_on_request=True)


_MEAN_INPUTS = (
    InputSpec("predictions", "rates", "(*)", "predicted means (rates) x; > 0 unless power = 0",
              differentiable=True),
    _targets("observations y (>= 0 for 1 <= power < 2, > 0 for power >= 2, any real for "
             "power <= 0)"),
)
_POSITIVE_MEAN = InputSpec("predictions", "rates", "(*)", "predicted means (rates) x > 0",
                           differentiable=True)

_SKLEARN_NOTE = (
    " scikit-learn's sample_weight (a weighted average, np.average) equals this service's mean "
    "with sample_weight. scikit-learn accepts 1-D inputs only; here any shape is elementwise."
)

_GRAD_NOTE = (
    r"\partial\ell/\partial x = 2 (x - y)\,x^{-p} for every power p (2(x - y) at p = 0, "
    r"2(x - y)/x at p = 1, 2(x - y)/x^2 at p = 2); smooth in x on its domain, no kink. The "
    "target is data (no gradient)."
)

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="poisson",
        fn=poisson,
        family="counts",
        summary="Keras Poisson loss x - y log(x + 1e-7) of counts y given rates x.",
        inputs=(
            InputSpec("predictions", "rates", "(*)", "predicted rates x >= 0",
                      differentiable=True),
            InputSpec("targets", "counts", "(*), same shape as predictions",
                      "observed counts y >= 0 (non-integer values are accepted)",
                      grad_on_request=True),
        ),
        formula=r"\ell = x - y\,\log(x + 10^{-7})",
        reference="Keras 3 keras.losses.Poisson",
        sampler=_sample_poisson,
        gradient_note=r"\partial\ell/\partial x = 1 - y/(x + 10^{-7}); smooth, no kink.",
        notes="Keras semantics: the rate is used directly (no log input) with eps = 1e-7 inside "
        "the log, so x = 0, y = 2 gives 2 log(1e7) = 32.236. Equals poisson_nll with "
        "log_input=false, eps=1e-7 (use that loss for another eps or the Stirling term). Keras "
        "checks neither input; here rates < 0 and counts < 0 are invalid_value. Keras averages "
        "over the last axis inside the loss, so its default (sum_over_batch_size) number for "
        "an (N, D) input equals this service's mean. Can be negative (nonnegative is false).",
        torch_equivalent="torch.nn.functional.poisson_nll_loss(log_input=False, eps=1e-7)",
        nonnegative=False,
        examples=(Example("rates and counts", {"predictions": [0.0, 1.0, 2.5],
                                               "targets": [2.0, 1.0, 3.0]}),),
    ),
    LossSpec(
        name="tweedie_deviance",
        fn=tweedie_deviance,
        family="counts",
        summary="Tweedie unit deviance (scikit-learn's mean_tweedie_deviance) for a power p.",
        inputs=_MEAN_INPUTS,
        params=(ParamSpec("power", "float", 0.0,
                          "Tweedie power p in (-inf, 0] U [1, inf): 0 normal (squared error), "
                          "1 Poisson, (1, 2) compound Poisson-gamma, 2 gamma, 3 inverse "
                          "Gaussian"),),
        formula=r"\ell = 2\Bigl(\frac{\max(y,0)^{2-p}}{(1-p)(2-p)} - \frac{y\,x^{1-p}}{1-p} + "
        r"\frac{x^{2-p}}{2-p}\Bigr);\ p = 0: (y - x)^2;\ "
        r"p = 1: 2\bigl(y\log\tfrac{y}{x} - y + x\bigr);\ "
        r"p = 2: 2\bigl(\log\tfrac{x}{y} + \tfrac{y}{x} - 1\bigr)",
        reference="Jorgensen (1997), The Theory of Dispersion Models; "
        "sklearn.metrics.mean_tweedie_deviance",
        sampler=_sample_tweedie,
        gradient_note=_GRAD_NOTE,
        notes="scikit-learn semantics and checks: power in (0, 1) is invalid_param at "
        "('params', 'power') (scikit-learn: InvalidParameterError); p < 0 needs x > 0; "
        "1 <= p < 2 needs y >= 0 and x > 0; p >= 2 needs y > 0 and x > 0 (scikit-learn: "
        "ValueError without a location; here invalid_value at the first offending element, "
        "targets checked first). p = 1 uses y log(y/x) = 0 at y = 0. The default power 0 is "
        "the squared error (any real inputs)." + _SKLEARN_NOTE,
        examples=(
            Example("compound Poisson-gamma, power 1.5",
                    {"predictions": [0.5, 1.0, 2.0], "targets": [0.0, 1.5, 3.0]},
                    {"power": 1.5}),
            Example("inverse Gaussian, power 3",
                    {"predictions": [0.5, 1.0, 2.0], "targets": [0.4, 1.5, 3.0]},
                    {"power": 3.0}),
        ),
    ),
    LossSpec(
        name="poisson_deviance",
        fn=poisson_deviance,
        family="counts",
        summary="Poisson unit deviance 2 (y log(y/x) - y + x) (scikit-learn's "
        "mean_poisson_deviance).",
        inputs=(_POSITIVE_MEAN, _targets("observations y >= 0")),
        formula=r"\ell = 2\bigl(y\log\tfrac{y}{x} - y + x\bigr),\quad 0\log 0 = 0",
        reference="McCullagh & Nelder (1989), Generalized Linear Models; "
        "sklearn.metrics.mean_poisson_deviance",
        sampler=_sample_poisson,
        gradient_note=r"\partial\ell/\partial x = 2(x - y)/x; smooth, no kink.",
        notes="tweedie_deviance with power 1. Needs x > 0 and y >= 0 (invalid_value at the "
        "element; scikit-learn raises ValueError). Twice the Poisson negative log-likelihood "
        "minus its value at x = y, so it is 0 at x = y." + _SKLEARN_NOTE,
        zero_at_match=True,
        examples=(Example("counts, one of them zero",
                          {"predictions": [0.5, 1.0, 2.0], "targets": [0.0, 1.0, 3.0]}),),
    ),
    LossSpec(
        name="gamma_deviance",
        fn=gamma_deviance,
        family="counts",
        summary="Gamma unit deviance 2 (log(x/y) + y/x - 1) (scikit-learn's "
        "mean_gamma_deviance).",
        inputs=(_POSITIVE_MEAN, _targets("observations y > 0")),
        formula=r"\ell = 2\bigl(\log\tfrac{x}{y} + \tfrac{y}{x} - 1\bigr)",
        reference="McCullagh & Nelder (1989), Generalized Linear Models; "
        "sklearn.metrics.mean_gamma_deviance",
        sampler=_sample_gamma,
        gradient_note=r"\partial\ell/\partial x = 2(x - y)/x^2; smooth, no kink.",
        notes="tweedie_deviance with power 2. Needs x > 0 and y > 0 (invalid_value at the "
        "element; scikit-learn raises ValueError). Scale-invariant: l(cx, cy) = l(x, y)."
        + _SKLEARN_NOTE,
        zero_at_match=True,
        examples=(Example("positive observations",
                          {"predictions": [0.5, 1.0, 2.0], "targets": [0.4, 1.0, 3.0]}),),
    ),
)
