"""Likelihood losses for counts and for Gaussian predictions with variances (PyTorch semantics).

* ``poisson_nll``: ``torch.nn.functional.poisson_nll_loss`` (log-rates or rates, optional
  Stirling term);
* ``gaussian_nll``: ``torch.nn.functional.gaussian_nll_loss`` (a mean and a variance per element,
  or one variance shared along a dimension).

Both are elementwise: the unreduced loss has the predictions' shape and ``mean`` divides by its
element count, as PyTorch does.
"""

from __future__ import annotations

import math
from typing import Any

from . import _checks, errors
from ._math import as_float, nonfinite_as, ns, sum_to
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------------
# Poisson negative log-likelihood
# --------------------------------------------------------------------------------------------


def poisson_nll(predictions: Array, targets: Array, *, log_input: bool = True,
                full: bool = False, eps: float = 1e-8) -> LossOutput:
    """Poisson negative log-likelihood of counts ``y`` under a rate ``lambda``.

    ``log_input``: ``x = log lambda`` and ``l = e^x - y x``; otherwise ``x = lambda >= 0`` and
    ``l = x - y log(x + eps)``. ``full`` adds Stirling's approximation of ``log y!``,
    ``y log y - y + 0.5 log(2 pi y)``, only where ``y > 1`` (PyTorch). Gradients:
    ``dl/dx = e^x - y`` (log_input) or ``1 - y / (x + eps)``; the Stirling term does not depend on
    ``x``. Targets (on request): ``dl/dy = -x`` (log_input) or ``-log(x + eps)``, plus
    ``log y + 1 / (2 y)`` where ``y > 1`` with ``full`` (the Stirling term's derivative; 0 where it
    is masked; PyTorch's autograd gives NaN at ``y == 0`` there, from ``0 * log 0``).

    Args:
      predictions: [*] log-rates (``log_input``) or non-negative rates.
      targets: [*] non-negative counts (need not be integers), same shape.
      log_input: whether ``predictions`` are log-rates.
      full: add the Stirling term (makes the loss the full negative log-likelihood for y > 1).
      eps: added to the rate inside the log when ``log_input`` is false, > 0.

    Returns:
      LossOutput with loss [*].

    References:
      ``torch.nn.functional.poisson_nll_loss``.
    """
    _checks.same_shape(predictions, targets, "predictions", "targets")
    xp = ns(predictions, targets)
    x, y = predictions, targets
    _checks.in_range(xp, y, "targets", low=0.0, what="counts", warn=True)  # torch: any target
    if log_input:
        _checks.exp_finite(xp, x, "predictions", "log-rates (log_input=true)")
        rate = xp.exp(x)
        loss = rate - y * x
        grad = rate - y
        log_rate = x
    else:
        _checks.in_range(xp, x, "predictions", low=0.0, what="rates, since log_input is false",
                         warn=True)
        shifted = x + eps
        log_rate = xp.log(shifted)
        loss = x - y * log_rate
        grad = 1.0 - y / shifted
    stirling_slope = None
    if full:
        big = ~(y <= 1.0)  # torch masks where target <= 1: a NaN count keeps its NaN term
        y_safe = xp.where(big, y, xp.ones_like(y))  # keeps log() finite where the term is masked
        stirling = y_safe * xp.log(y_safe) - y_safe + 0.5 * xp.log((2.0 * math.pi) * y_safe)
        loss = loss + as_float(xp, big, y) * stirling
        stirling_slope = as_float(xp, big, y) * (xp.log(y_safe) + 0.5 / y_safe)
        # an infinite count: NaN, as torch's autograd of y log y (log y + y / y = inf + NaN),
        # which its mask (y <= 1) multiplies by 0 for -inf
        stirling_slope = nonfinite_as(xp, stirling_slope,
                                      lambda: xp.full_like(y, math.nan), key=y)

    def targets_vjp(cot: Array) -> Array:
        g = -log_rate if stirling_slope is None else stirling_slope - log_rate
        return g * cot

    return LossOutput(loss, lambda cot: {"predictions": grad * cot}, {"targets": targets_vjp})


# --------------------------------------------------------------------------------------------
# Gaussian negative log-likelihood
# --------------------------------------------------------------------------------------------


def _var_broadcast_shape(pred_shape: tuple[int, ...],
                         var_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The shape ``var`` is broadcast from (PyTorch's rules), or None if ``var`` is not accepted.

    * the predictions' shape (one variance per element);
    * a scalar (PyTorch's float ``var``: one variance for everything);
    * the predictions' shape without its last dimension (unsqueezed: one variance per row);
    * the predictions' shape with exactly one dimension replaced by 1 (shared along it).
    """
    if var_shape == pred_shape or var_shape == ():
        return var_shape
    if len(var_shape) + 1 == len(pred_shape) and pred_shape[:-1] == var_shape:
        return (*var_shape, 1)
    if len(var_shape) == len(pred_shape):
        diff = [v for p, v in zip(pred_shape, var_shape, strict=True) if p != v]
        if len(diff) == 1 and diff[0] == 1:
            return var_shape
    return None


def gaussian_nll(predictions: Array, targets: Array, var: Array, *, full: bool = False,
                 eps: float = 1e-6) -> LossOutput:
    """Gaussian negative log-likelihood with a predicted mean and variance.

    ``l = 0.5 (log v + (x - y)^2 / v)``, ``v = max(var, eps)``, plus ``0.5 log(2 pi)`` with
    ``full``. Gradients: ``dl/dx = (x - y) / v`` and ``dl/dvar = 0.5 (1/v - (x - y)^2 / v^2)``,
    the clamp treated as the identity (PyTorch clamps under ``no_grad``), so a variance below
    ``eps`` gets the gradient at ``eps``; a broadcast ``var`` gets the sum over the elements it
    covers. Targets (on request): ``dl/dy = -(x - y) / v``, summed likewise where the targets are
    broadcast.

    Args:
      predictions: [N, *] predicted means.
      targets: [N, *] observations, the same shape or one that broadcasts with it (as torch).
      var: [N, *] variances >= 0; or [N, *] with one dimension of size 1 (shared along it); or
        [N, *] without the last dimension (one per row); or a scalar.
      full: add the constant ``0.5 log(2 pi)``.
      eps: lower clamp of the variance, > 0.

    Returns:
      LossOutput with loss [N, *] (the predictions' shape).

    References:
      Nix & Weigend (1994), Estimating the mean and variance of the target probability
      distribution; ``torch.nn.functional.gaussian_nll_loss``.
    """
    # torch broadcasts the targets (``input - target``); var follows its own rules below
    _checks.broadcast_shape(predictions, targets, "predictions", "targets")
    xp = ns(predictions, targets, var)
    pred_shape, var_shape = tuple(predictions.shape), tuple(var.shape)
    bshape = _var_broadcast_shape(pred_shape, var_shape)
    if bshape is None:
        fmt = _checks.fmt_shape
        raise errors.ShapeMismatch(
            f"var has shape {fmt(var_shape)} but predictions have shape {fmt(pred_shape)}; var "
            f"must have the predictions' shape, that shape with one dimension of size 1, that "
            f"shape without its last dimension ({fmt(pred_shape[:-1])}), or be a scalar",
            ("var",),
        )
    _checks.in_range(xp, var, "var", low=0.0, what="variances")
    v = xp.reshape(xp.maximum(var, eps), bshape)
    d = predictions - targets
    d2_over_v = d * d / v
    loss = 0.5 * (xp.log(v) + d2_over_v)
    if full:
        loss = loss + _HALF_LOG_2PI
    g_x = d / v
    g_v = 0.5 * (1.0 - d2_over_v) / v

    def vjp(cot: Array) -> dict[str, Array]:
        # a broadcast input's gradient is the sum over the elements it covers
        return {"predictions": sum_to(xp, g_x * cot, pred_shape),
                "var": xp.reshape(sum_to(xp, g_v * cot, bshape), var_shape)}

    return LossOutput(loss, vjp,
                      {"targets": lambda cot: sum_to(xp, -g_x * cot, tuple(targets.shape))})


# --------------------------------------------------------------------------------------------
# Samplers and specs
# --------------------------------------------------------------------------------------------


def _sample_poisson(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    x = rng.normal(size=(n, c))
    y = rng.poisson(2.0, size=(n, c)).astype(float)
    return {"predictions": x, "targets": y}, {}


def _sample_gaussian(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    x = rng.normal(size=(n, c))
    y = rng.normal(size=(n, c))
    var_shape = [(n, c), (n, 1), (n,)][int(rng.integers(3))]
    return {"predictions": x, "targets": y, "var": rng.uniform(0.2, 2.0, size=var_shape)}, {}


_POISSON_INPUTS = (
    InputSpec("predictions", "rates", "(*)",
              "log-rates log(lambda) when log_input is true (the default), else rates >= 0",
              differentiable=True),
    InputSpec("targets", "counts", "(*), same shape as predictions",
              "observed counts >= 0 (non-integer values are accepted, as in PyTorch)",
              grad_on_request=True),
)

_GAUSSIAN_INPUTS = (
    InputSpec("predictions", "values", "(N, *)", "predicted means", differentiable=True),
    InputSpec("targets", "values", "(N, *), same shape as predictions or broadcastable with it",
              "observed values", grad_on_request=True),
    InputSpec("var", "variances",
              "(N, *); or (N, *) with one dimension of size 1; or (N, *) without its last "
              "dimension; or a scalar",
              "predicted variances >= 0 (clamped below at eps), per element or shared",
              differentiable=True),
)

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="poisson_nll",
        fn=poisson_nll,
        family="counts",
        aliases=("poisson_nll_loss",),
        summary="Poisson negative log-likelihood of counts given (log-)rates.",
        inputs=_POISSON_INPUTS,
        params=(
            ParamSpec("log_input", "bool", True,
                      "predictions are log-rates (loss e^x - y x); false: rates "
                      "(loss x - y log(x + eps))"),
            ParamSpec("full", "bool", False,
                      "add Stirling's term y log y - y + 0.5 log(2 pi y) where y > 1"),
            ParamSpec("eps", "float", 1e-8,
                      "added to the rate inside the log when log_input is false",
                      minimum=0.0, exclusive_minimum=True),
        ),
        formula=r"\ell = \begin{cases} e^{x} - y\,x & \text{log\_input} \\ "
        r"x - y \log(x + \epsilon) & \text{otherwise} \end{cases}"
        r" \;+\; \mathbb{1}[\text{full} \wedge y > 1]\,\bigl(y\log y - y + "
        r"\tfrac12\log(2\pi y)\bigr)",
        reference="torch.nn.functional.poisson_nll_loss / torch.nn.PoissonNLLLoss",
        sampler=_sample_poisson,
        gradient_note=r"\partial\ell/\partial x = e^{x} - y (log_input) or "
        r"1 - y/(x + \epsilon) (rates); the Stirling term does not depend on x. Smooth: no kink.",
        notes="Negative targets and, with log_input=false, negative predictions are computed as "
        "PyTorch does (NaN for x + eps < 0), with a warning 'invalid_value' (validate: strict "
        "refuses them). With log_input=true a "
        "log-rate whose exp overflows the dtype (x > 709.78 in float64, > 88.72 in float32) is "
        "rejected with invalid_value (PyTorch returns inf). The Stirling term is added only where "
        "y > 1, as PyTorch does (it approximates log y!, which is 0 at y in {0, 1}). Keras "
        "Poisson is x - y log(x + 1e-7), i.e. log_input=false with eps=1e-7, averaged over the "
        "last axis. Can be negative, so not a non-negative loss.",
        torch_equivalent="torch.nn.functional.poisson_nll_loss",
        nonnegative=False,
        examples=(
            Example("log-rates (log_input = true, the default)",
                    {"predictions": [0.0, 1.0, -0.5], "targets": [1.0, 2.0, 0.0]}),
            Example("rates with the Stirling term",
                    {"predictions": [0.5, 2.0, 4.0], "targets": [0.0, 3.0, 5.0]},
                    {"log_input": False, "full": True}),
        ),
    ),
    LossSpec(
        name="gaussian_nll",
        fn=gaussian_nll,
        family="counts",
        aliases=("gaussian_nll_loss",),
        summary="Gaussian negative log-likelihood with predicted means and variances.",
        inputs=_GAUSSIAN_INPUTS,
        params=(
            ParamSpec("full", "bool", False, "add the constant 0.5 log(2 pi)"),
            ParamSpec("eps", "float", 1e-6, "lower clamp of the variance: v = max(var, eps)",
                      minimum=0.0, exclusive_minimum=True),
        ),
        formula=r"\ell = \tfrac12\Bigl(\log v + \frac{(x - y)^2}{v}\Bigr)"
        r" \;+\; \mathbb{1}[\text{full}]\,\tfrac12\log(2\pi),\quad v = \max(\sigma^2, \epsilon)",
        reference="Nix & Weigend (1994), Estimating the mean and variance of the target "
        "probability distribution; torch.nn.functional.gaussian_nll_loss",
        sampler=_sample_gaussian,
        gradient_note=r"\partial\ell/\partial x = (x - y)/v; "
        r"\partial\ell/\partial\sigma^2 = \tfrac12\bigl(1/v - (x - y)^2/v^2\bigr) with "
        r"v = \max(\sigma^2, \epsilon) and the clamp treated as the identity (PyTorch clamps "
        "under no_grad), so var < eps gets the gradient at eps, not 0. A shared (broadcast) "
        "var gets the sum over the elements it covers.",
        notes="var shapes follow PyTorch: the predictions' shape; that shape with exactly one "
        "dimension of size 1 (e.g. (N, 1), or (1, C)); that shape without its last dimension "
        "(unsqueezed to (..., 1)); or a scalar (PyTorch's float var). Anything else is "
        "shape_mismatch at ('var',). targets broadcast with the predictions, as in PyTorch "
        "(a broadcast predictions' gradient is summed). var < 0 is invalid_value at the "
        "element (PyTorch raises ValueError); var = 0 is clamped to eps. The unreduced loss has "
        "the broadcast shape and mean divides by its element count. Can be negative "
        "(log v < 0 for small variances).",
        torch_equivalent="torch.nn.functional.gaussian_nll_loss",
        nonnegative=False,
        examples=(
            Example("one variance per element",
                    {"predictions": [[1.0, 2.0], [0.5, 0.0]],
                     "targets": [[1.5, 2.0], [0.0, 1.0]],
                     "var": [[0.5, 1.0], [2.0, 0.1]]}),
            Example("one variance per sample (homoscedastic rows), full likelihood",
                    {"predictions": [[1.0, 2.0], [0.5, 0.0]],
                     "targets": [[1.5, 2.0], [0.0, 1.0]],
                     "var": [0.5, 2.0]},
                    {"full": True}),
        ),
    ),
)
