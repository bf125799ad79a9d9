"""Keras's cosine similarity loss, cosine_similarity: the negated cosine of the angle between each
predicted vector and its target, one value per vector (the last axis is reduced).

Part of the "embedding" family; the registry lists it just before :mod:`.contrastive`'s losses. Why
a module of its own: it compares each predicted vector with its own target, where ntxent and circle
(:mod:`.contrastive`) compare every embedding of a batch with every other one; the two share only
the overflow-free norm :func:`._math.l2_norm`.
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._math import as_float, l2_norm, ns
from .spec import Array, Example, InputSpec, LossOutput, LossSpec

KERAS_EPS = 1e-7  # keras.backend.epsilon(), the lower bound on a norm in keras.ops.normalize


def cosine_similarity(predictions: Array, targets: Array) -> LossOutput:
    """Keras's cosine similarity loss: the negated cosine of the angle, per vector.

    ``l = -<x / max(||x||, 1e-7), y / max(||y||, 1e-7)>`` over the last axis, in [-1, 1]; a zero
    vector gives 0. With ``x_hat = x / max(||x||, 1e-7)`` and ``c = -l``:
    ``dl/dx = -(y_hat - c x_hat) / ||x||`` where ``||x|| > 1e-7``, ``-y_hat / 1e-7`` where the
    bound is active (the clamped norm is a constant). The loss is symmetric in ``x`` and ``y``:
    the targets' gradient (on request) is ``dl/dy = -(x_hat - c y_hat) / ||y||``, likewise.

    Args:
      predictions: [..., D] predicted vectors.
      targets: same shape, target vectors.

    Returns:
      LossOutput with loss [...] (one value per vector; [] for [D] inputs).

    References:
      ``keras.losses.CosineSimilarity`` / ``keras.losses.cosine_similarity`` (Keras 3;
      ``keras.ops.normalize`` with epsilon = ``keras.backend.epsilon()`` = 1e-7).
    """
    xp = ns(predictions, targets)
    if predictions.ndim == 0:
        raise errors.InvalidShape("predictions must have at least 1 dimension (the vector "
                                  "axis), got shape ()", ("predictions",))
    _checks.same_shape(predictions, targets, "predictions", "targets")
    rx = l2_norm(xp, predictions)
    ry = l2_norm(xp, targets)
    nx = xp.maximum(rx, KERAS_EPS)
    x_hat = predictions / nx
    y_hat = targets / xp.maximum(ry, KERAS_EPS)
    cos = xp.sum(x_hat * y_hat, axis=-1)
    loss = -cos

    def vjp(cot: Array) -> dict[str, Array]:
        free = as_float(xp, rx > KERAS_EPS, rx)  # the norm is a variable only above the bound
        return {"predictions": -cot[..., None] * (y_hat - free * cos[..., None] * x_hat) / nx}

    def targets_vjp(cot: Array) -> Array:
        free = as_float(xp, ry > KERAS_EPS, ry)
        ny = xp.maximum(ry, KERAS_EPS)
        return -cot[..., None] * (x_hat - free * cos[..., None] * y_hat) / ny

    return LossOutput(loss, vjp, {"targets": targets_vjp})


# --------------------------------------------------------------------------- samplers
# NumPy test inputs (never used in a kernel), away from kinks so finite differences are valid.


def _sample_cosine(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"predictions": rng.normal(size=(n, c)), "targets": rng.normal(size=(n, c))}, {}


# --------------------------------------------------------------------------- specs

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="cosine_similarity",
        fn=cosine_similarity,
        family="embedding",
        summary="Negated cosine similarity between predicted and target vectors (Keras's "
        "CosineSimilarity loss): -1 for parallel vectors, 0 for orthogonal, 1 for opposite.",
        inputs=(
            InputSpec("predictions", "embeddings", "(..., D), e.g. (N, D) or (D,)",
                      "predicted vectors (the last axis is the vector)", differentiable=True),
            InputSpec("targets", "embeddings", "same shape as predictions", "target vectors",
                      grad_on_request=True),
        ),
        formula=r"\ell = -\sum_d \frac{x_d}{\max(\lVert x\rVert_2, 10^{-7})}\,"
        r"\frac{y_d}{\max(\lVert y\rVert_2, 10^{-7})} \in [-1, 1]",
        reference="keras.losses.CosineSimilarity / keras.losses.cosine_similarity (Keras 3.15; "
        "keras.ops.normalize, epsilon = keras.backend.epsilon() = 1e-7)",
        gradient_note=r"With \hat x = x/\max(\lVert x\rVert, 10^{-7}), \hat y likewise and "
        r"c = \hat x\cdot\hat y = -\ell: \partial\ell/\partial x = -(\hat y - c\,\hat x)/"
        r"\lVert x\rVert where \lVert x\rVert > 10^{-7}; where the bound is active (tiny or zero "
        r"x) the clamped norm is a constant and \partial\ell/\partial x = -\hat y/10^{-7} (finite "
        r"at x = 0; Keras on jax gives NaN there, through rsqrt(0)). Only predictions are "
        r"differentiable.",
        notes="Keras semantics: the loss is the NEGATED similarity, reduced over the last axis, "
        "so an (N, D) input gives one value per row and Keras's default sum_over_batch_size "
        "equals our mean. Keras normalises with x * min(rsqrt(sum x^2), 1e7), i.e. "
        "x / max(||x||, 1e-7): a zero vector gives 0. optax.losses.cosine_similarity returns the "
        "similarity itself (not negated: ours = -optax for vectors with norms above the bounds) "
        "with epsilon=0.0 clamping the SQUARED norms (so a zero vector gives NaN there); "
        "optax.losses.cosine_distance = 1 - similarity = 1 + ours. PyTorch's "
        "F.cosine_similarity clamps each norm at 1e-8 (and CosineEmbeddingLoss adds 1e-12 to "
        "the squared norms). Shapes must be equal (Keras broadcasts). Norms are computed as "
        "max|x| * ||x / max|x|||, so entries above 1e154 do not overflow sum(x^2) (Keras gives "
        "0 there).",
        nonnegative=False,
        sampler=_sample_cosine,
        examples=(
            Example("Keras's docstring example (losses -0, -1, 1)",
                    {"predictions": [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]],
                     "targets": [[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]]},
                    reduction="none"),
        ),
    ),
)
