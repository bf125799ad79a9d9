"""Listwise ranking losses: ranking_softmax (optax's ranking_softmax_loss).

Each row of the last axis is one list of items; the loss has one value per list.
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._math import log_softmax, ns
from .spec import Array, Example, InputSpec, LossOutput, LossSpec


def ranking_softmax(predictions: Array, targets: Array) -> LossOutput:
    """Listwise softmax cross-entropy of relevance labels against item scores.

    ``l = -sum_i y_i log softmax(s)_i`` over the last axis (the list); labels are used as given
    (not normalised), so a list whose labels are all 0 costs 0. ``dl/ds = (sum_i y_i) softmax(s)
    - y``; labels (on request; linear in them): ``dl/dy_i = -log softmax(s)_i``.

    Args:
      predictions: [..., L] item scores (logits), e.g. [N, L] for N lists of L items.
      targets: same shape, relevance labels >= 0 (graded or binary).

    Returns:
      LossOutput with loss [...] (one value per list; [] for an [L] input).

    References:
      Cao, Qin, Liu, Tsai & Li (2007), Learning to Rank: From Pairwise Approach to Listwise
      Approach (ListNet), ICML; Bruch, Wang, Bendersky & Najork (2019), An Analysis of the
      Softmax Cross Entropy Loss for Learning-to-Rank with Binary Relevance, ICTIR;
      ``optax.losses.ranking_softmax_loss`` (optax 0.2.8).
    """
    xp = ns(predictions, targets)
    if predictions.ndim == 0:
        raise errors.InvalidShape("predictions must have at least 1 dimension (the list "
                                  "axis), got shape ()", ("predictions",))
    _checks.same_shape(predictions, targets, "predictions", "targets")
    _checks.in_range(xp, targets, "targets", low=0.0, what="relevance labels")
    logp = log_softmax(xp, predictions, axis=-1)
    # 0 * log p = 0 even where log p underflows to -inf (a label of 0 never contributes)
    loss = -xp.sum(xp.where(targets == 0.0, 0.0, targets * logp), axis=-1)

    def vjp(cot: Array) -> dict[str, Array]:
        total = xp.sum(targets, axis=-1, keepdims=True)
        return {"predictions": cot[..., None] * (total * xp.exp(logp) - targets)}

    return LossOutput(loss, vjp, {"targets": lambda cot: -logp * cot[..., None]})


def _sample(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np

    scores = rng.normal(size=(n, c)) * 2.0
    labels = rng.integers(0, 4, size=(n, c)).astype(np.float64)
    labels[0] = 0.0  # a list without any relevant item (loss 0)
    return {"predictions": scores, "targets": labels}, {}


SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="ranking_softmax",
        fn=ranking_softmax,
        family="ranking",
        aliases=("ranking_softmax_loss",),
        summary="Listwise softmax cross-entropy for learning to rank: relevance labels against "
        "the softmax of each list's scores (optax's ranking_softmax_loss).",
        inputs=(
            InputSpec("predictions", "logits", "(N, L) or (L,); in general (..., L)",
                      "item scores; the last axis is the list", differentiable=True),
            InputSpec("targets", "counts", "same shape as predictions",
                      "relevance labels >= 0 (graded or binary), used as given",
                      grad_on_request=True),
        ),
        formula=r"\ell = -\sum_{i=1}^{L} y_i \log\frac{e^{s_i}}{\sum_{j=1}^{L} e^{s_j}}",
        reference="optax.losses.ranking_softmax_loss (optax 0.2.8, optax/losses/_ranking.py); "
        "Cao et al. (2007), ListNet, ICML; Bruch et al. (2019), An Analysis of the Softmax Cross "
        "Entropy Loss for Learning-to-Rank with Binary Relevance, ICTIR",
        gradient_note=r"\partial\ell/\partial s_i = \bigl(\textstyle\sum_j y_j\bigr)"
        r"\operatorname{softmax}(s)_i - y_i. Smooth, no kinks; log_softmax subtracts the list's "
        r"maximum first, so scores of +-1000 stay exact.",
        notes="optax semantics with its defaults (where=None, weights=None, reduce_fn=jnp.mean): "
        "one value per list, so our 'mean' is optax's default and reduction 'none' is "
        "reduce_fn=None. Labels are not normalised (a list with labels summing to 2 costs twice "
        "a normalised one), and a list whose labels are all 0 costs exactly 0. optax's weights "
        "multiply the labels: pass targets * weights. optax's where mask is not offered (drop "
        "the masked items instead; optax also leaves all-masked lists out of its mean). "
        "Negative labels are rejected (optax accepts them silently). Not in PyTorch, Keras or "
        "scikit-learn.",
        shift_invariant=True,
        sampler=_sample,
        examples=(
            Example("two lists of four items with graded relevance",
                    {"predictions": [[2.0, 1.0, 0.5, -1.0], [0.1, 0.3, 2.0, 0.0]],
                     "targets": [[2.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]}),
        ),
    ),
)
