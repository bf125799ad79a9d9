"""Cross-entropy variants of Keras and optax: generalized_cross_entropy (Keras) and
poly1_cross_entropy (optax); Keras's focal cross-entropies are in :mod:`.keras_focal`. ``SPECS``
also lists brier (scikit-learn), which lives in :mod:`.brier`.

generalized_cross_entropy reads only ``p_y`` and clips nothing, as Keras's does. Keras
averages the last axis inside a loss; here the loss stays unreduced (one value per sample), so
Keras's ``sum_over_batch_size`` of an ``(N, C)`` input is our ``mean``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _checks
from . import brier as _brier
from ._classes import (
    check_index_targets,
    check_predictions,
    log_softmax_log1p,
    num_classes,
)
from ._math import gather_last, ns, one_hot, power_slope
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec


def generalized_cross_entropy(predictions: Array, targets: Array, *, q: float = 0.5
                              ) -> LossOutput:
    """Generalized cross-entropy (Keras ``CategoricalGeneralizedCrossEntropy``).

    ``l_n = (1 - p_{n,y_n}^q) / q`` on class probabilities; ``q -> 0`` approaches
    ``-log p_y``, ``q = 1`` is ``1 - p_y``. ``dl/dp_{n,y_n} = -p_{n,y_n}^(q-1)`` (``-inf`` at
    ``p_y = 0`` for ``q < 1``), 0 for the other classes.

    Args:
      predictions: [C] or [N, C] class probabilities in [0, 1].
      targets: [] or [N] integer class indices.
      q: in (0, 1].

    Returns:
      LossOutput with loss [] or [N].

    References:
      Zhang and Sabuncu (2018), Generalized Cross Entropy Loss for Training Deep Neural
      Networks with Noisy Labels, arXiv:1805.07836;
      ``keras.losses.CategoricalGeneralizedCrossEntropy``.
    """
    xp = ns(predictions, targets)
    check_predictions(predictions, max_ndim=2)
    check_index_targets(xp, predictions, targets)
    _checks.probabilities(xp, predictions, "predictions")
    x = predictions
    oh = one_hot(xp, targets, num_classes(x), x.dtype)
    p = gather_last(xp, x, targets)
    loss = (1.0 - p**q) / q
    dp = -power_slope(xp, p, q) / q  # -p^(q-1); -inf at p = 0 when q < 1
    hit = oh == 1.0
    return LossOutput(loss, lambda cot: {
        "predictions": xp.where(hit, (dp * cot)[..., None], xp.zeros_like(x))})


def poly1_cross_entropy(predictions: Array, targets: Array, *, epsilon: float = 2.0
                        ) -> LossOutput:
    """Poly-1 cross-entropy (optax ``poly_loss_cross_entropy``).

    ``l_n = -sum_c t_c log p_c + epsilon sum_c t_c (1 - p_c)``, ``p = softmax(x_n)``; index
    targets are one-hot rows. ``1 - p_c`` is computed as ``-expm1(log p_c)`` (no cancellation
    when ``p_c`` is near 1). ``dl/dx = p sum_c t_c - t + epsilon p (sum_c t_c p_c - t)``.
    Float probability targets (on request): ``dl/dt_c = -log p_c + epsilon (1 - p_c)``.

    Args:
      predictions: [C] or [N, C] logits.
      targets: [] or [N] integer class indices, or class-probability rows of the predictions'
        shape.
      epsilon: coefficient of the first polynomial term, >= -1.

    Returns:
      LossOutput with loss [] or [N].

    References:
      Leng et al. (2022), PolyLoss: A Polynomial Expansion Perspective of Classification Loss
      Functions, arXiv:2204.12511; ``optax.losses.poly_loss_cross_entropy``.
    """
    xp = ns(predictions, targets)
    x = predictions
    check_predictions(x, max_ndim=2)
    c = num_classes(x)
    if tuple(targets.shape) == tuple(x.shape):
        t = targets if xp.isdtype(targets.dtype, "real floating") else xp.astype(targets, x.dtype)
        _checks.probabilities(xp, t, "targets")
        _checks.rows_sum_to_one(xp, t, "targets")
    else:
        check_index_targets(xp, x, targets)
        t = one_hot(xp, targets, c, x.dtype)
    logp = log_softmax_log1p(xp, x)
    p = xp.exp(logp)
    ce = -xp.sum(t * logp, axis=-1)
    loss = ce + epsilon * xp.sum(t * -xp.expm1(logp), axis=-1)
    g = p * xp.sum(t, axis=-1, keepdims=True) - t
    g = g + epsilon * p * (xp.sum(t * p, axis=-1, keepdims=True) - t)

    def targets_vjp(cot: Array) -> Array:
        return (-logp - epsilon * xp.expm1(logp)) * cot[..., None]

    return LossOutput(loss, lambda cot: {"predictions": g * cot[..., None]},
                      {"targets": targets_vjp})


# ------------------------------------------------------------------------------------ samplers


def _sample_gce(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    p = rng.uniform(0.2, 1.0, size=(n, c))
    p /= p.sum(axis=1, keepdims=True)
    return {"predictions": p, "targets": rng.integers(0, c, size=n)}, {"q": 0.7}


def _sample_poly1(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    x = rng.normal(size=(n, c)) * 2.0
    t = np.exp(rng.normal(size=(n, c)))
    return {"predictions": x, "targets": t / t.sum(axis=1, keepdims=True)}, {"epsilon": 1.5}


# ------------------------------------------------------------------------------------ specs

_INDEX = InputSpec("targets", "class_indices", "() or (N,)", "integer class indices in [0, C)",
                   dtype="int")

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="generalized_cross_entropy",
        fn=generalized_cross_entropy,
        family="multiclass",
        summary="Generalized cross-entropy (1 - p_y^q)/q, robust to noisy labels.",
        inputs=(
            InputSpec("predictions", "probabilities", "(C,) or (N, C)",
                      "class probabilities in [0, 1], one row per sample", differentiable=True),
            _INDEX,
        ),
        params=(ParamSpec("q", "float", 0.5,
                          "q in (0, 1]: toward 0 it approaches cross-entropy, at 1 it is 1 - p_y",
                          minimum=0.0, maximum=1.0, exclusive_minimum=True),),
        formula=r"\ell_n = \frac{1 - p_{n,y_n}^{\,q}}{q}",
        reference="Zhang and Sabuncu (2018), Generalized Cross Entropy Loss for Training Deep "
        "Neural Networks with Noisy Labels, arXiv:1805.07836; "
        "keras.losses.CategoricalGeneralizedCrossEntropy (Keras 3.15)",
        gradient_note=r"\partial\ell_n/\partial p_{n,y_n} = -p_{n,y_n}^{q-1} (-inf at p_y = 0 "
        "for q < 1), 0 for the other classes. Smooth for p_y > 0.",
        notes="Keras semantics: no clipping, no renormalisation (only p_y is read, so rows are "
        "not checked to sum to 1). Keras's class refuses q = 1 (it requires 0 < q < 1) while "
        "its function accepts it; q = 1 is allowed here. Keras's one_hot maps an "
        "out-of-range label to a zero row (loss 1/q) silently; it is refused here. Keras's "
        "'sum_over_batch_size' is our 'mean'.",
        sampler=_sample_gce,
        examples=(
            Example("q = 0.5", {"predictions": [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]],
                                "targets": [0, 1]}, {"q": 0.5}, reduction="none"),
        ),
    ),
    LossSpec(
        name="poly1_cross_entropy",
        fn=poly1_cross_entropy,
        family="multiclass",
        summary="Poly-1 loss: softmax cross-entropy plus epsilon (1 - p_t).",
        inputs=(
            InputSpec("predictions", "logits", "(C,) or (N, C)", "logits, one row per sample",
                      differentiable=True),
            InputSpec("targets", "class_indices_or_probabilities",
                      "() or (N,) indices; or the predictions' shape",
                      "integer class indices, or class-probability rows summing to 1",
                      dtype="index_or_float", grad_on_request=True),
        ),
        params=(ParamSpec("epsilon", "float", 2.0,
                          "coefficient of the (1 - p_t) term (the paper recommends 2 for "
                          "ImageNet classification, -1 for detection)", minimum=-1.0),),
        formula=r"\ell_n = -\sum_c t_{n,c}\log p_{n,c} + \epsilon \sum_c t_{n,c}(1 - p_{n,c}),"
        r"\ p_n = \operatorname{softmax}(x_n)",
        reference="Leng et al. (2022), PolyLoss: A Polynomial Expansion Perspective of "
        "Classification Loss Functions, arXiv:2204.12511; optax.losses.poly_loss_cross_entropy",
        gradient_note=r"\partial\ell/\partial x = p\sum_c t_c - t + \epsilon\, p \odot "
        r"(\sum_c t_c p_c - t). Smooth (no kink).",
        notes="optax semantics (per sample, no reduction: our 'none'; optax.losses only, it is "
        "not re-exported at optax's top level in 0.2.8). Index targets are a convenience "
        "(one-hot rows). epsilon >= -1 keeps the loss non-negative and is required here "
        "(optax accepts any value). 1 - p is computed as -expm1(log p), more accurate than "
        "optax's 1 - softmax when p is close to 1.",
        shift_invariant=True,
        sampler=_sample_poly1,
        examples=(
            Example("epsilon = 2 with index targets",
                    {"predictions": [[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]], "targets": [0, 2]}),
            Example("probability targets",
                    {"predictions": [[2.0, 0.5, -1.0]], "targets": [[0.8, 0.2, 0.0]]},
                    {"epsilon": 1.0}, reduction="none"),
        ),
    ),
    *_brier.SPECS,
)
