"""Distribution losses: kl_div (PyTorch's ``F.kl_div`` semantics, elementwise), and optax's
per-sample ``kl_div_with_log_targets`` and ``generalized_kl`` (summed over the last axis).

``predictions`` are log-probabilities ``log q``; ``targets`` are probabilities ``p`` (or ``log p``
with ``log_target``), of the same shape ``(*)`` (no broadcasting). The kernel returns the pointwise
terms; summing them over the class axis gives ``KL(p || q)``, and ``batchmean`` divides that sum by
the batch size, which is the true KL divergence averaged over the batch. kl_div's ``optax``
convention sums over the last axis (one value per distribution); its ``keras`` convention takes
``predictions`` as probabilities ``q`` (not ``log q``), clips both to ``[1e-7, 1]`` and sums over
the last axis.
"""

from __future__ import annotations

import math
from typing import Any

from . import _checks, errors
from ._math import ns, xlogy
from .spec import Array, Convention, Example, InputSpec, LossOutput, LossSpec, ParamSpec

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): Keras clips both distributions to [1e-7, 1]


def kl_div(predictions: Array, targets: Array, *, log_target: bool = False,
           convention: str = "torch") -> LossOutput:
    """Kullback-Leibler divergence ``KL(p || q)``, pointwise (torch) or per sample (optax, keras).

    ``torch`` (default): ``l = p (log p - x)`` elementwise with ``p log p = 0`` where ``p == 0``
    (``xlogy``), ``x = log q``; with ``log_target`` (``t = log p``): ``l = e^t (t - x)``.
    ``dl/dx = -p`` (``-e^t``). Targets (on request; torch and optax): ``dl/dp = log p + 1 - x``
    (NaN at ``p == 0``, as PyTorch's autograd of ``xlogy``: the one-sided derivative is -inf;
    and at ``p == inf``, where it is ``inf + inf / inf``),
    with ``log_target`` ``dl/dt = e^t (t - x + 1)``; not under keras.

    ``optax``: the same terms summed over the last axis (``optax.losses.kl_divergence``; with
    ``log_target``, ``kl_divergence_with_log_targets``), one value per distribution.

    ``keras`` (``keras.losses.KLDivergence``): ``predictions`` are the probabilities ``q``
    themselves, not ``log q``; both are clipped to ``[1e-7, 1]`` and
    ``l = sum_c p'_c log(p'_c / q'_c)`` over the last axis. ``dl/dq_c = -p'_c / q'_c`` where
    ``q_c >= 1e-7`` and 0 where ``q_c`` is clipped (``q_c < 1e-7``; jax.grad of the clip gives one
    half at exactly ``1e-7`` or ``1``, counted here as unclipped). ``log_target`` is refused.

    Args:
      predictions: [*] log-probabilities ``log q`` (e.g. ``log_softmax`` outputs), each <= 0;
        under ``keras`` the probabilities ``q`` in [0, 1].
      targets: [*] probabilities ``p`` in [0, 1], or log-probabilities ``log p`` <= 0 when
        ``log_target``; same shape as ``predictions``.
      log_target: whether ``targets`` holds ``log p`` instead of ``p`` (not under keras).
      convention: "torch", "optax" or "keras".

    Returns:
      LossOutput with loss [*] under torch (elements can be negative; their sum over a
      distribution is >= 0), or [...] (the shape without the last axis) under optax and keras
      (keras can be slightly negative, by its clipping).

    Raises:
      InvalidParam: ``log_target`` under keras.

    References:
      Kullback & Leibler (1951), On Information and Sufficiency;
      ``torch.nn.functional.kl_div``; ``optax.losses.kl_divergence``;
      ``keras.losses.KLDivergence``.
    """
    xp = ns(predictions, targets)
    if convention == "keras":
        return _kl_div_keras(xp, predictions, targets, log_target)
    if convention == "optax":
        _last_axis(predictions, targets)
        if log_target:
            return kl_div_with_log_targets(predictions, targets)
    _checks.same_shape(predictions, targets, "predictions", "targets")
    # the libraries compute on any values: positive log-probabilities and targets off [0, 1] are
    # warnings (strict validation refuses them); a negative target's xlogy is NaN, as in torch
    _checks.in_range(xp, predictions, "predictions", high=0.0, what="log-probabilities",
                     warn=True)
    if log_target:
        _checks.in_range(xp, targets, "targets", high=0.0,
                         what="log-probabilities, since log_target is true", warn=True)
        p = xp.exp(targets)
        loss = p * (targets - predictions)

        def t_slope() -> Array:
            return p * (targets - predictions + 1.0)
    else:
        _checks.probabilities(xp, targets, "targets", warn=True)
        p = targets
        loss = xlogy(xp, targets, targets) - targets * predictions

        def t_slope() -> Array:
            g = xp.log(targets) + 1.0 - predictions
            # and at p = inf: log p + p / p, inf + NaN
            return xp.where((targets == 0.0) | (targets == math.inf),
                            xp.full_like(g, float("nan")), g)
    if convention == "optax":
        return LossOutput(xp.sum(loss, axis=-1),
                          lambda cot: {"predictions": -p * xp.expand_dims(cot, axis=-1)},
                          {"targets": lambda cot: t_slope() * xp.expand_dims(cot, axis=-1)})
    return LossOutput(loss, lambda cot: {"predictions": -p * cot},
                      {"targets": lambda cot: t_slope() * cot})


def _kl_div_keras(xp: Any, q: Array, targets: Array, log_target: bool) -> LossOutput:
    """``keras.losses.kl_divergence(targets, q)`` on probabilities, with its vjp."""
    if log_target:
        raise errors.InvalidParam(
            "keras.losses.KLDivergence takes probabilities for both arguments; log_target is "
            "not available under convention keras", ("params", "log_target"))
    _last_axis(q, targets)
    _checks.probabilities(xp, q, "predictions")
    _checks.probabilities(xp, targets, "targets")
    p_c = xp.clip(targets, KERAS_EPSILON, 1.0)
    q_c = xp.clip(q, KERAS_EPSILON, 1.0)
    loss = xp.sum(p_c * xp.log(p_c / q_c), axis=-1)
    g = xp.where(q >= KERAS_EPSILON, -p_c / q_c, xp.zeros_like(q))
    return LossOutput(loss, lambda cot: {"predictions": g * xp.expand_dims(cot, axis=-1)})


def _sample(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np  # test-input generation only; the kernel never touches NumPy

    q = rng.dirichlet(np.full(c, 2.0), size=n)
    p = rng.dirichlet(np.full(c, 2.0), size=n)
    if c > 1:  # one exact zero: the xlogy edge (contributes 0, gradient 0)
        p[0, 0] = 0.0
        p[0] /= p[0].sum()
    return {"predictions": np.log(q), "targets": p}, {}


def _last_axis(predictions: Array, targets: Array) -> None:
    """Same shape, at least 1-D: the last axis holds the distribution."""
    _checks.same_shape(predictions, targets, "predictions", "targets")
    if predictions.ndim == 0:
        raise errors.InvalidShape(
            "predictions must have at least 1 dimension (the last axis holds the "
            "distribution), got shape ()",
            ("predictions",),
        )


def kl_div_with_log_targets(predictions: Array, targets: Array) -> LossOutput:
    """Kullback-Leibler divergence ``KL(p || q)`` per sample, both given as log-probabilities.

    ``l = sum_c e^{t_c} (t_c - x_c)`` over the last axis, ``x = log q``, ``t = log p``;
    ``dl/dx_c = -e^{t_c}``; targets (on request): ``dl/dt_c = e^{t_c} (t_c - x_c + 1)``.

    Args:
      predictions: [..., C] log-probabilities ``log q`` of the model distribution, each <= 0.
      targets: [..., C] log-probabilities ``log p`` of the target distribution, each <= 0; same
        shape.

    Returns:
      LossOutput with loss [...] (one value per distribution: the input shape without its last
      axis; a scalar for a single 1-D distribution).

    References:
      Kullback & Leibler (1951), On Information and Sufficiency;
      ``optax.losses.kl_divergence_with_log_targets``.
    """
    xp = ns(predictions, targets)
    _last_axis(predictions, targets)
    _checks.in_range(xp, predictions, "predictions", high=0.0, what="log-probabilities")
    _checks.in_range(xp, targets, "targets", high=0.0, what="log-probabilities")
    p = xp.exp(targets)
    loss = xp.sum(p * (targets - predictions), axis=-1)
    return LossOutput(
        loss, lambda cot: {"predictions": -p * xp.expand_dims(cot, axis=-1)},
        {"targets": lambda cot: p * (targets - predictions + 1.0) * xp.expand_dims(cot, axis=-1)})


def generalized_kl(predictions: Array, targets: Array) -> LossOutput:
    """Generalized (unnormalized) Kullback-Leibler divergence per sample.

    ``l = sum_c [p_c (log p_c - x_c) + e^{x_c} - p_c]`` over the last axis, ``x = log q``, with
    ``0 log 0 = 0``; the Bregman divergence of ``f(v) = v log v - v``, >= 0 for any non-negative
    ``p`` and positive ``q``, equal to ``KL(p || q)`` when both sum to 1.
    ``dl/dx_c = e^{x_c} - p_c = q_c - p_c``; targets (on request): ``dl/dp_c = log p_c - x_c``
    (-inf at ``p_c = 0``, the one-sided derivative).

    Args:
      predictions: [..., C] ``log q``, logs of a positive (not necessarily normalized) measure.
      targets: [..., C] the non-negative target measure ``p`` (need not sum to 1); same shape.

    Returns:
      LossOutput with loss [...] (the input shape without its last axis).

    References:
      Boyd & Vandenberghe (2004), Convex Optimization, p. 90; Bregman (1967);
      ``optax.losses.generalized_kl_divergence``.
    """
    xp = ns(predictions, targets)
    _last_axis(predictions, targets)
    _checks.exp_finite(xp, predictions, "predictions", "log q")
    _checks.in_range(xp, targets, "targets", low=0.0, what="a non-negative measure")
    q = xp.exp(predictions)
    terms = xlogy(xp, targets, targets) - targets * predictions + q - targets
    g = q - targets
    return LossOutput(
        xp.sum(terms, axis=-1), lambda cot: {"predictions": g * xp.expand_dims(cot, axis=-1)},
        {"targets": lambda cot: (xp.log(targets) - predictions) * xp.expand_dims(cot, axis=-1)})


def _sample_log_targets(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np  # test-input generation only

    q = rng.dirichlet(np.full(c, 2.0), size=n)
    p = rng.dirichlet(np.full(c, 2.0), size=n)
    return {"predictions": np.log(q), "targets": np.log(p)}, {}


def _sample_generalized(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np  # test-input generation only

    q = rng.uniform(0.1, 2.0, size=(n, c))
    p = rng.uniform(0.1, 2.0, size=(n, c))
    p[0, 0] = 0.0  # the 0 log 0 edge: contributes q, gradient q
    return {"predictions": np.log(q), "targets": p}, {}


SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="kl_div",
        fn=kl_div,
        family="distribution",
        aliases=("kl_divergence",),
        summary="Kullback-Leibler divergence KL(p || q), with q given as log-probabilities "
        "(PyTorch's KLDivLoss; optax's and Keras' per-sample KL by convention).",
        inputs=(
            InputSpec("predictions", "log_probabilities", "(*)",
                      "log q: log-probabilities of the model distribution (e.g. log_softmax "
                      "outputs), each <= 0. UNDER CONVENTION keras: the probabilities q "
                      "themselves, in [0, 1] (Keras' y_pred), not log q", differentiable=True),
            InputSpec("targets", "probabilities", "(*), same shape as predictions",
                      "p: target probabilities in [0, 1], or log p (each <= 0) when log_target "
                      "is true", grad_on_request=True),
        ),
        params=(ParamSpec("log_target", "bool", False,
                          "targets are log-probabilities log p instead of probabilities p "
                          "(not under convention keras)"),),
        reductions=("none", "mean", "sum", "batchmean"),
        default_reduction="mean",
        formula=r"\ell = p\,(\log p - x) \ (\text{0 where } p = 0),\quad x = \log q;"
        r"\quad \text{log\_target: } \ell = e^{t}(t - x),\ t = \log p"
        r"\quad \text{(optax: } \textstyle\sum_c \text{ over the last axis; keras: } "
        r"\sum_c p'_c \log(p'_c / q'_c),\ p' = \operatorname{clip}(p, 10^{-7}, 1),\ "
        r"q' = \operatorname{clip}(q, 10^{-7}, 1),\ q \text{ given as probabilities})",
        reference="Kullback & Leibler (1951), On Information and Sufficiency, Ann. Math. "
        "Statist. 22(1); seed 001 ('Deep learning loss functions': KL divergence, no worked "
        "numbers); torch.nn.functional.kl_div; optax.losses.kl_divergence; "
        "keras.losses.KLDivergence",
        gradient_note=r"\partial\ell/\partial x = -p (with log_target: -e^{t}); smooth, no kink "
        "(optax: the same, per element of the summed row). Convention keras, w.r.t. the "
        r"probabilities q: \partial\ell/\partial q_c = -p'_c / q'_c where q_c \ge 10^{-7}, and 0 "
        r"where q_c < 10^{-7} (clipped; jax.grad of Keras' clip gives one half at exactly "
        r"10^{-7} or 1, counted here as unclipped). "
        "Gradients are given w.r.t. predictions only (targets are data).",
        notes="PyTorch semantics and argument order by default: predictions are log q, targets "
        "are p, and the result is KL(p || q). Convention optax (optax.losses.kl_divergence, "
        "kl_divergence_with_log_targets with log_target) sums over the last axis, one value per "
        "distribution, so its 'mean' is PyTorch's 'batchmean' for (N, C) inputs. Convention "
        "keras (keras.losses.KLDivergence) takes predictions as PROBABILITIES q, not log q, "
        "clips both p and q to [1e-7, 1] and sums over the last axis (a 0 target contributes "
        "1e-7 log(1e-7 / q'), so the value can be slightly negative); log_target is refused "
        "there (invalid_param). The default "
        "reduction is 'mean' (PyTorch's default), which divides by the number of elements N*C; "
        "PyTorch warns that this is not the true KL and recommends 'batchmean', which divides "
        "the sum by size(0) (for a 1-D input of C probabilities that is C, as in PyTorch). "
        "Pointwise terms can be negative (nonnegative is false), but their sum over a full "
        "distribution is >= 0. A target of exactly 0 contributes 0 (xlogy). PyTorch checks "
        "neither input: it returns NaN for p < 0 and accepts predictions > 0; so does the "
        "service, with a warning for predictions > 0 (invalid_value), targets outside [0, 1] "
        "(probability_out_of_range) and, with log_target, targets > 0 (invalid_value); "
        "validate: strict refuses them.",
        torch_equivalent="torch.nn.functional.kl_div",
        nonnegative=False,
        sampler=_sample,
        conventions=(
            Convention("torch", "torch.nn.KLDivLoss",
                       "elementwise terms p (log p - log q); 'mean' divides by the element "
                       "count N*C, 'batchmean' by N"),
            Convention("optax", "optax.losses.kl_divergence (log_target: "
                       "optax.losses.kl_divergence_with_log_targets)",
                       "the terms are summed over the last axis: one value per distribution "
                       "(shape without the last axis), so 'mean' averages the per-sample KL "
                       "(PyTorch's 'batchmean' for (N, C) inputs); inputs need at least one "
                       "axis"),
            Convention("keras", "keras.losses.KLDivergence",
                       "PREDICTIONS ARE PROBABILITIES q, NOT log q (Keras' y_pred); p and q are "
                       "both clipped to [1e-7, 1] (a 0 target contributes 1e-7 log(1e-7 / q'), "
                       "so the loss can be slightly negative) and the terms are summed (not "
                       "averaged) over the last axis; the gradient is w.r.t. q and 0 where q < "
                       "1e-7; log_target is refused (invalid_param); predictions or targets "
                       "outside [0, 1] are refused (probability_out_of_range), where Keras "
                       "clips them silently; mean with sample_weight "
                       "divides by the number of samples (sum_over_batch_size)",
                       weights_in_mean=False),
        ),
        examples=(
            Example("two 3-class distributions, true KL per sample (batchmean)",
                    {"predictions": [[-1.2039728, -0.6931472, -1.6094379],
                                     [-0.3566749, -1.6094379, -2.3025851]],
                     "targets": [[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]]},
                    reduction="batchmean"),
            Example("log_target: both arguments as log-probabilities",
                    {"predictions": [-0.2231436, -1.6094379],
                     "targets": [-0.5108256, -0.9162907]},
                    {"log_target": True}, reduction="sum"),
        ),
    ),
    LossSpec(
        name="kl_div_with_log_targets",
        fn=kl_div_with_log_targets,
        family="distribution",
        summary="Kullback-Leibler divergence KL(p || q) per sample, with both p and q given as "
        "log-probabilities (optax).",
        inputs=(
            InputSpec("predictions", "log_probabilities", "(..., C) or (C,)",
                      "log q: log-probabilities of the model distribution over the last axis, "
                      "each <= 0", differentiable=True),
            InputSpec("targets", "log_probabilities", "(..., C) or (C,), same shape as "
                      "predictions",
                      "log p: log-probabilities of the target distribution, each <= 0",
                      grad_on_request=True),
        ),
        formula=r"\ell = \sum_c e^{t_c}\,(t_c - x_c),\quad x = \log q,\ t = \log p",
        reference="Kullback & Leibler (1951), On Information and Sufficiency; "
        "optax.losses.kl_divergence_with_log_targets",
        sampler=_sample_log_targets,
        gradient_note=r"\partial\ell/\partial x_c = -e^{t_c} = -p_c; smooth, no kink. The "
        r"targets' gradient, when wrt names them: "
        r"\partial\ell/\partial t_c = e^{t_c}(t_c - x_c + 1)",
        notes="optax semantics: summed over the last axis, one value per distribution (the "
        "unreduced shape is the input shape without its last axis; a single 1-D distribution "
        "gives a scalar). optax does not reduce further, so jnp.mean(optax_value) is this "
        "service's mean (and sum is the sum). Same number as kl_div with log_target=true and "
        "reduction batchmean for (N, C) inputs; PyTorch's kl_div is elementwise instead. A "
        "log-target of -inf (p = 0) gives NaN in optax and is a nonfinite_input here: use a "
        "very negative value (e.g. -1e3), which contributes exactly 0. Inputs above 0 are "
        "invalid_value (optax checks nothing). Rows are not checked to be normalized, so the "
        "value can be negative for unnormalized inputs (nonnegative is false); for normalized "
        "rows it is >= 0.",
        nonnegative=False,
        examples=(
            Example("two 3-class distributions",
                    {"predictions": [[-1.2039728, -0.6931472, -1.6094379],
                                     [-0.3566749, -1.6094379, -2.3025851]],
                     "targets": [[-1.6094379, -0.6931472, -1.2039728],
                                 [-0.5108256, -1.2039728, -2.3025851]]}),
        ),
    ),
    LossSpec(
        name="generalized_kl",
        fn=generalized_kl,
        family="distribution",
        summary="Generalized Kullback-Leibler divergence of unnormalized measures, per sample "
        "(optax).",
        inputs=(
            InputSpec("predictions", "log_probabilities", "(..., C) or (C,)",
                      "log q: logs of the model measure (log-probabilities, or logs of any "
                      "positive weights)", differentiable=True),
            InputSpec("targets", "counts", "(..., C) or (C,), same shape as predictions",
                      "p: the non-negative target measure (probabilities or any non-negative "
                      "weights; need not sum to 1)", grad_on_request=True),
        ),
        formula=r"\ell = \sum_c \bigl[p_c(\log p_c - x_c) + e^{x_c} - p_c\bigr],\quad "
        r"x = \log q,\ 0\log 0 = 0",
        reference="optax.losses.generalized_kl_divergence (formerly convex_kl_divergence); "
        "Boyd & Vandenberghe (2004), Convex Optimization, p. 90; Bregman (1967)",
        sampler=_sample_generalized,
        gradient_note=r"\partial\ell/\partial x_c = e^{x_c} - p_c = q_c - p_c; smooth, no kink. "
        "Gradients are given w.r.t. predictions only (targets are data).",
        notes="optax semantics: KL(p || q) + sum(q - p) over the last axis, one value per "
        "sample (the input shape without its last axis); jnp.mean(optax_value) is this "
        "service's mean. Equals kl_div_with_log_targets when p and q both sum to 1, and half "
        "the sum of poisson_deviance(x = q, y = p) over the last axis. optax's docstring asks "
        "for strictly positive targets but its code uses 0 log 0 = 0, which is what is done "
        "here (p = 0 contributes q). Targets < 0 are invalid_value; a log q whose exp "
        "overflows the dtype (> 709.78 in float64) is invalid_value (optax returns inf). "
        "Non-negative for any valid input (a Bregman divergence).",
        examples=(
            Example("unnormalized measures",
                    {"predictions": [[0.0, -0.6931472, 0.4054651],
                                     [-1.2039728, 0.0, 0.6931472]],
                     "targets": [[1.0, 0.2, 2.0], [0.0, 1.5, 1.0]]}),
        ),
    ),
)
