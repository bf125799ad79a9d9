"""Sparsemax losses (optax): the binary ``sparsemax`` loss on logits and the multiclass
Fenchel-Young ``multiclass_sparsemax`` loss, built on the sort-based sparsemax projection.

The projection of scores ``z`` onto the probability simplex (Martins and Astudillo 2016): sort
``z`` in decreasing order (``z_(1) >= z_(2) >= ...``), let ``k`` be the largest index with
``1 + k z_(k) > sum_{j <= k} z_(j)``, ``tau = (sum_{j <= k} z_(j) - 1) / k``; then
``sparsemax(z) = max(z - tau, 0)``. Computed for all rows at once with ``xp.sort`` and
``xp.cumulative_sum`` (the support is a prefix of the sorted scores, so counting it gives ``k``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _checks
from ._classes import check_index_targets, check_predictions, num_classes
from ._math import gather_last, ns, one_hot
from .spec import Array, Example, InputSpec, LossOutput, LossSpec


def sparsemax_projection(xp: Any, z: Array) -> Array:
    """Euclidean projection of each row of ``z`` (last axis) onto the probability simplex."""
    c = int(z.shape[-1])
    zs = xp.sort(z, axis=-1, descending=True)
    cs = xp.cumulative_sum(zs, axis=-1)
    k = xp.arange(1, c + 1, dtype=z.dtype)
    support = xp.astype(1.0 + k * zs > cs, xp.int64)  # a prefix of the sorted scores
    size = xp.sum(support, axis=-1)  # >= 1: the largest score is always in the support
    tau = (gather_last(xp, cs, size - 1) - 1.0) / xp.astype(size, z.dtype)
    return xp.maximum(z - tau[..., None], 0.0)


def _sparse_plus(xp: Any, x: Array) -> tuple[Array, Array]:
    """``sparse_plus`` (0 below -1, ``(x + 1)^2 / 4`` on (-1, 1), x above 1) and its slope."""
    inner = (x > -1.0) & (x < 1.0)
    up = x >= 1.0
    zero = xp.zeros_like(x)
    value = xp.where(up, x, xp.where(inner, 0.25 * (x + 1.0) * (x + 1.0), zero))
    slope = xp.where(up, xp.ones_like(x), xp.where(inner, 0.5 * (x + 1.0), zero))
    return value, slope


def sparsemax(predictions: Array, targets: Array) -> LossOutput:
    """Binary sparsemax loss (optax ``sparsemax_loss``).

    ``l = sparse_plus(-x)`` for ``y = 1`` and ``sparse_plus(x)`` for ``y = 0``, where
    ``sparse_plus(u) = 0`` for ``u <= -1``, ``(u + 1)^2 / 4`` for ``-1 < u < 1``, ``u`` for
    ``u >= 1``. It is 0 exactly when ``sparse_sigmoid(x) = y``. The slope is continuous
    (``0``, ``(u + 1)/2``, ``1``): no kink.

    Args:
      predictions: [*] logits.
      targets: [*] labels in {0, 1}, same shape.

    Returns:
      LossOutput with loss [*].

    References:
      Blondel, Martins and Niculae (2020), Learning with Fenchel-Young Losses, JMLR 21
      (sec. 4.4); ``optax.losses.sparsemax_loss``.
    """
    _checks.same_shape(predictions, targets, "predictions", "targets")
    xp = ns(predictions, targets)
    _checks.labels_in(xp, targets, "targets", (0.0, 1.0))
    sign = 1.0 - 2.0 * targets  # -1 for y = 1, +1 for y = 0
    value, slope = _sparse_plus(xp, sign * predictions)
    g = sign * slope
    return LossOutput(value, lambda cot: {"predictions": g * cot})


def multiclass_sparsemax(predictions: Array, targets: Array) -> LossOutput:
    """Multiclass sparsemax loss (optax ``multiclass_sparsemax_loss``), a Fenchel-Young loss.

    With ``p = sparsemax(x_n)``:
    ``l_n = <p, x_n - x_{n,y_n}> + (1 - ||p||^2) / 2``, i.e. ``Omega*(x_n) - x_{n,y_n}`` for the
    Gini negentropy ``Omega(p) = (||p||^2 - 1) / 2``. It is 0 exactly when
    ``sparsemax(x_n) = onehot(y_n)``. Gradient ``p - onehot(y_n)``, continuous (no kink).

    Args:
      predictions: [C] or [N, C] class scores.
      targets: [] or [N] integer class indices.

    Returns:
      LossOutput with loss [] or [N].

    References:
      Martins and Astudillo (2016), From Softmax to Sparsemax, arXiv:1602.02068; Blondel et al.
      (2020), JMLR 21; ``optax.losses.multiclass_sparsemax_loss``.
    """
    xp = ns(predictions, targets)
    x = predictions
    check_predictions(x, max_ndim=2)
    check_index_targets(xp, x, targets)
    oh = one_hot(xp, targets, num_classes(x), x.dtype)
    p = sparsemax_projection(xp, x)
    d = (x - gather_last(xp, x, targets)[..., None]) * (1.0 - oh)  # exactly 0 at y, as optax
    loss = xp.sum(p * d, axis=-1) + 0.5 * (1.0 - xp.sum(p * p, axis=-1))
    # the two terms nearly cancel when p is within rounding of onehot(y): never report -1e-30
    loss = xp.maximum(loss, 0.0)
    g = p - oh
    return LossOutput(loss, lambda cot: {"predictions": g * cot[..., None]})


# ------------------------------------------------------------------------------------ samplers


def _sample_sparsemax(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    x = rng.normal(size=(n, c)) * 1.5
    x = np.where(np.abs(np.abs(x) - 1.0) < 1e-3, 0.5, x)  # away from the joins at +-1
    return {"predictions": x, "targets": rng.integers(0, 2, size=(n, c)).astype(float)}, {}


def _sample_multiclass(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"predictions": rng.normal(size=(n, c)) * 0.6,
            "targets": rng.integers(0, c, size=n)}, {}


# ------------------------------------------------------------------------------------ specs

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="sparsemax",
        fn=sparsemax,
        family="binary",
        summary="Binary sparsemax loss on logits: sparse_plus of the signed logit.",
        inputs=(
            InputSpec("predictions", "logits", "(*)", "real logits", differentiable=True),
            InputSpec("targets", "binary_labels", "(*), same shape as predictions",
                      "labels in {0, 1}"),
        ),
        formula=r"\ell = \operatorname{sparse\_plus}\big((1 - 2y)\,x\big),\ "
        r"\operatorname{sparse\_plus}(u) = \begin{cases} 0 & u \le -1 \\ (u+1)^2/4 & |u| < 1 "
        r"\\ u & u \ge 1 \end{cases}",
        reference="Blondel, Martins and Niculae (2020), Learning with Fenchel-Young Losses, "
        "JMLR 21 (sec. 4.4); optax.losses.sparsemax_loss",
        gradient_note=r"\partial\ell/\partial x = (1 - 2y)\,\operatorname{sparse\_plus}'(u): 0, "
        "(u + 1)/2 or 1; continuous, so no kink choice is needed.",
        notes="optax semantics, elementwise (our 'none'). optax reads any non-zero label as 1 "
        "(jnp.where(labels, ...)); labels other than 0 and 1 are refused here. The binary "
        "counterpart of multiclass_sparsemax; linear (slope 1) for badly wrong logits, like "
        "the logistic loss, and exactly 0 once the logit is beyond 1 on the right side.",
        sampler=_sample_sparsemax,
        examples=(
            Example("zero beyond +-1 on the correct side",
                    {"predictions": [2.0, 0.5, -0.5, -3.0], "targets": [1.0, 1.0, 0.0, 1.0]},
                    reduction="none"),
        ),
    ),
    LossSpec(
        name="multiclass_sparsemax",
        fn=multiclass_sparsemax,
        family="multiclass",
        summary="Multiclass sparsemax loss: the Fenchel-Young loss of the sparsemax "
        "projection.",
        inputs=(
            InputSpec("predictions", "scores", "(C,) or (N, C)",
                      "class scores, one row per sample", differentiable=True),
            InputSpec("targets", "class_indices", "() or (N,)",
                      "integer class indices in [0, C)", dtype="int"),
        ),
        formula=r"\ell_n = \langle p_n, x_n - x_{n,y_n}\mathbf{1}\rangle + \tfrac12(1 - "
        r"\|p_n\|^2),\ p_n = \operatorname{sparsemax}(x_n) = \max(x_n - \tau_n, 0)",
        reference="Martins and Astudillo (2016), From Softmax to Sparsemax, arXiv:1602.02068; "
        "Blondel, Martins and Niculae (2020), JMLR 21; "
        "optax.losses.multiclass_sparsemax_loss",
        gradient_note=r"\partial\ell_n/\partial x_n = \operatorname{sparsemax}(x_n) - "
        r"\mathrm{onehot}(y_n), continuous (the Fenchel conjugate of the Gini negentropy is "
        "differentiable), so no kink choice is needed.",
        notes="optax semantics, per sample (our 'none'); optax projects with "
        "optax.projections.projection_simplex, here the sort-based sparsemax (same values). "
        "An out-of-range label is refused (optax indexes without a check). Zero exactly when "
        "sparsemax puts all mass on the target, which happens at a finite margin (unlike "
        "softmax cross-entropy).",
        shift_invariant=True,
        sampler=_sample_multiclass,
        examples=(
            Example("sparse probabilities: the third class gets 0",
                    {"predictions": [[1.0, 0.8, -1.0], [0.2, 0.1, 0.3]], "targets": [1, 2]},
                    reduction="none"),
        ),
    ),
)
