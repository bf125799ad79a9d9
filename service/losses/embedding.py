"""Pair embedding and ranking losses (PyTorch semantics): margin_ranking, cosine_embedding,
hinge_embedding (the triplet losses are in :mod:`service.losses.triplet`).

Each kernel returns PyTorch's ``reduction='none'`` loss: one value per sample for
cosine_embedding (``(N,)``, or ``()`` for unbatched ``(D,)`` inputs), one per element for
margin_ranking and hinge_embedding. Hinge-type kinks follow
PyTorch, which clamps with ``clamp_min``: the gradient passes where the clamped term is exactly 0
(see each ``gradient_note``).
Labels should be -1 or 1; PyTorch silently accepts other values, and so does the service, with a
warning (strict validation refuses them).
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._math import as_float, ns, sum_to
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec

SIGN_LABELS = (1.0, -1.0)
# aten's EPSILON in cosine_embedding_loss, added to each squared norm: a C++ float, so in float64
# it is float32(1e-12) = 9.999999960041972e-13 (matches torch to ~1e-16, where 1e-12 does not)
COSINE_EPS = 9.999999960041972e-13


# --------------------------------------------------------------------------- helpers


def _sign_labels(xp: Any, targets: Array) -> Array:
    """Checks targets in {-1, 1} (a warning: torch computes on any label; strict validation
    refuses) and returns the mask ``targets == 1``."""
    _checks.labels_in(xp, targets, "targets", SIGN_LABELS, warn=True)
    return targets == 1.0


# --------------------------------------------------------------------------- kernels


def margin_ranking(input1: Array, input2: Array, targets: Array, *,
                   margin: float = 0.0) -> LossOutput:
    """Margin ranking loss.

    ``l = max(0, -y (x1 - x2) + margin)``; ``dl/dx1 = -y = -dl/dx2`` where the term is >= 0
    (PyTorch's ``clamp_min`` passes the gradient at exactly 0), else 0. Targets (on request, as
    PyTorch differentiates them): ``dl/dy = -(x1 - x2)`` there, else 0.

    Args:
      input1: [N] or [] scores of the first item (any shape, as in torch).
      input2: scores of the second item, the same number of dimensions; broadcast with input1.
      targets: the same number of dimensions, broadcast; 1 if input1 should rank higher, -1 if
        input2 should (other labels are a warning).
      margin: required score gap.

    Returns:
      LossOutput with loss of the three shapes broadcast ([N] or [] for equal shapes).

    References:
      ``torch.nn.functional.margin_ranking_loss``.
    """
    xp = ns(input1, input2, targets)
    for a, name in ((input2, "input2"), (targets, "targets")):
        if a.ndim != input1.ndim:  # torch: "All input tensors should have same dimension"
            raise errors.ShapeMismatch(
                f"{name} has {a.ndim} dimensions but input1 has {input1.ndim}; the three inputs "
                "must have the same number of dimensions (their sizes broadcast)", (name,))
    pair = _checks.broadcast_shape(input1, input2, "input1", "input2")
    _checks.broadcast_shape(pair, targets, "input1", "targets")
    _sign_labels(xp, targets)
    h = -targets * (input1 - input2) + margin
    loss = xp.maximum(h, 0.0)

    def vjp(cot: Array) -> dict[str, Array]:
        g = -targets * as_float(xp, h >= 0.0, h) * cot
        return {"input1": sum_to(xp, g, tuple(input1.shape)),
                "input2": sum_to(xp, -g, tuple(input2.shape))}

    def targets_vjp(cot: Array) -> Array:
        g = -(input1 - input2) * as_float(xp, h >= 0.0, h) * cot
        return sum_to(xp, g, tuple(targets.shape))

    return LossOutput(loss, vjp, {"targets": targets_vjp})


def cosine_embedding(input1: Array, input2: Array, targets: Array, *,
                     margin: float = 0.0) -> LossOutput:
    """Cosine embedding loss with PyTorch's epsilon.

    ``cos = <x1, x2> / sqrt((||x1||^2 + 1e-12)(||x2||^2 + 1e-12))``;
    ``l = 1 - cos`` if ``y = 1``, ``max(0, cos - margin)`` if ``y = -1``. With ``m_i =
    ||x_i||^2 + 1e-12``: ``dcos/dx1 = x2/sqrt(m1 m2) - cos x1/m1`` (symmetric for x2);
    ``dl/dcos = -1`` (y = 1), ``1[cos - margin >= 0]`` (y = -1, PyTorch's ``clamp_min``).

    Args:
      input1: [N, D] or [D] embeddings.
      input2: same shape.
      targets: [N] (or [] for [D] inputs), 1 for similar pairs, -1 for dissimilar.
      margin: similarity below which dissimilar pairs cost nothing, in [-1, 1].

    Returns:
      LossOutput with loss [N] (or []).

    References:
      ``torch.nn.functional.cosine_embedding_loss`` (aten ``cosine_embedding_loss``).
    """
    xp = ns(input1, input2, targets)
    _checks.ndim_in(input1, "input1", (1, 2), "((N, D) or (D,))")
    _checks.same_shape(input1, input2, "input1", "input2")
    expected = tuple(input1.shape[:-1])
    if tuple(targets.shape) != expected:
        raise errors.ShapeMismatch(
            f"targets has shape {_checks.fmt_shape(targets.shape)} but input1 has shape "
            f"{_checks.fmt_shape(input1.shape)}; targets must have shape "
            f"{_checks.fmt_shape(expected)}, one label per pair",
            ("targets",),
        )
    pos = _sign_labels(xp, targets)
    neg = targets == -1.0  # torch: a label other than +-1 costs 0
    m1 = xp.sum(input1 * input1, axis=-1) + COSINE_EPS
    m2 = xp.sum(input2 * input2, axis=-1) + COSINE_EPS
    denom = xp.sqrt(m1 * m2)
    cos = xp.sum(input1 * input2, axis=-1) / denom
    h = cos - margin
    zero = xp.zeros_like(cos)
    loss = xp.where(pos, 1.0 - cos, xp.where(neg, xp.maximum(h, 0.0), zero))

    def vjp(cot: Array) -> dict[str, Array]:
        dcos = xp.where(pos, -1.0, xp.where(neg, as_float(xp, h >= 0.0, h), zero)) * cot
        k, c, den = dcos[..., None], cos[..., None], denom[..., None]
        return {
            "input1": k * (input2 / den - c * input1 / m1[..., None]),
            "input2": k * (input1 / den - c * input2 / m2[..., None]),
        }

    return LossOutput(loss, vjp)


def hinge_embedding(predictions: Array, targets: Array, *, margin: float = 1.0) -> LossOutput:
    """Hinge embedding loss.

    ``l = x`` if ``y = 1``, ``max(0, margin - x)`` if ``y = -1``; ``dl/dx = 1`` (y = 1),
    ``-1[margin - x >= 0]`` (y = -1; PyTorch's ``clamp_min`` gives -1 at ``x == margin``). Any
    other label (a warning) costs both terms, as in torch: ``x + max(0, margin - x)``.

    Args:
      predictions: [*] values, typically distances between pairs.
      targets: same shape, 1 for similar pairs, -1 for dissimilar.
      margin: distance beyond which dissimilar pairs cost nothing.

    Returns:
      LossOutput with loss [*].

    References:
      ``torch.nn.functional.hinge_embedding_loss``.
    """
    xp = ns(predictions, targets)
    _checks.broadcast_shape(predictions, targets, "predictions", "targets")  # as torch
    pos = _sign_labels(xp, targets)
    not_neg = targets != -1.0  # torch: where(y != 1, clamp, 0) + where(y != -1, x, 0)
    h = margin - predictions
    zero = xp.zeros_like(predictions)
    loss = xp.where(pos, zero, xp.maximum(h, 0.0)) + xp.where(not_neg, predictions, zero)

    def vjp(cot: Array) -> dict[str, Array]:
        g = as_float(xp, not_neg, h) - xp.where(pos, zero, as_float(xp, h >= 0.0, h))
        return {"predictions": sum_to(xp, g * cot, tuple(predictions.shape))}

    return LossOutput(loss, vjp)


# --------------------------------------------------------------------------- samplers
# They build NumPy test inputs (NumPy only here, never in a kernel) and keep every sample away
# from the kinks, so finite differences are valid.


def _sample_ranking(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np

    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = rng.choice(np.array([-1.0, 1.0]), size=n)
    margin = 0.5
    near = np.abs(-y * (x1 - x2) + margin) < 0.1
    x1[near] += 0.3 * y[near]  # moves the term by -0.3, into (-0.4, -0.2)
    return {"input1": x1, "input2": x2, "targets": y}, {"margin": margin}


def _sample_cosine(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np

    x1, x2 = rng.normal(size=(n, c)), rng.normal(size=(n, c))
    y = rng.choice(np.array([-1.0, 1.0]), size=n)
    margin = 0.1
    cos = np.sum(x1 * x2, -1) / np.sqrt((np.sum(x1 * x1, -1) + 1e-12)
                                         * (np.sum(x2 * x2, -1) + 1e-12))
    y[(y == -1.0) & (np.abs(cos - margin) < 0.05)] = 1.0  # y = 1 has no kink
    return {"input1": x1, "input2": x2, "targets": y}, {"margin": margin}


def _sample_hinge(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np

    x = rng.uniform(0.0, 2.0, size=(n, c))
    y = rng.choice(np.array([-1.0, 1.0]), size=(n, c))
    x[(y == -1.0) & (np.abs(x - 1.0) < 0.05)] += 0.2
    return {"predictions": x, "targets": y}, {}


# --------------------------------------------------------------------------- specs

EMB_SHAPE = "(N, D) or (D,)"
MARGIN_KINK = ("PyTorch clamps with clamp_min, whose gradient passes where the clamped term is "
               "exactly 0, so a term of exactly 0 counts as active; we follow PyTorch.")

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="margin_ranking",
        fn=margin_ranking,
        family="embedding",
        summary="Margin ranking loss: input1 should score higher than input2 (y = 1) or lower "
        "(y = -1) by a margin.",
        inputs=(
            InputSpec("input1", "scores", "(N,) or (); any shape (torch)",
                      "scores of the first items",
                      differentiable=True),
            InputSpec("input2", "scores", "(N,) or (), same shape as input1 (or broadcastable "
                      "with it, with as many dimensions)",
                      "scores of the second items", differentiable=True),
            InputSpec("targets", "sign_labels", "(N,) or (), same shape as input1 (or "
                      "broadcastable, with as many dimensions)",
                      "1 if input1 should rank higher, -1 if input2 should",
                      grad_on_request=True),
        ),
        params=(ParamSpec("margin", "float", 0.0, "required score gap"),),
        formula=r"\ell = \max\bigl(0,\ -y\,(x_1 - x_2) + m\bigr)",
        reference="torch.nn.functional.margin_ranking_loss (torch.nn.MarginRankingLoss)",
        gradient_note=r"\partial\ell/\partial x_1 = -y\,s = -\partial\ell/\partial x_2, "
        r"s = 1[-y(x_1 - x_2) + m \ge 0]. " + MARGIN_KINK,
        notes="As PyTorch: the three inputs have the same number of dimensions and broadcast "
        "their sizes (usually all (N,) or ()). targets other than 1 or -1 multiply as in "
        "PyTorch, with a warning 'invalid_label' (validate: strict refuses them). Verified against "
        "torch 2.13: at a term of exactly 0 the gradient is -y, not 0.",
        torch_equivalent="torch.nn.functional.margin_ranking_loss",
        sampler=_sample_ranking,
        examples=(
            Example("three pairs, margin 0.5",
                    {"input1": [0.8, 0.1, 2.0], "input2": [0.2, 0.9, 1.0],
                     "targets": [1.0, 1.0, -1.0]},
                    {"margin": 0.5}),
        ),
    ),
    LossSpec(
        name="cosine_embedding",
        fn=cosine_embedding,
        family="embedding",
        summary="Cosine embedding loss: pulls similar pairs to cosine 1 and pushes dissimilar "
        "pairs below a margin.",
        inputs=(
            InputSpec("input1", "embeddings", EMB_SHAPE, "first embeddings of each pair",
                      differentiable=True),
            InputSpec("input2", "embeddings", EMB_SHAPE + ", same shape as input1",
                      "second embeddings of each pair", differentiable=True),
            InputSpec("targets", "sign_labels", "(N,) for (N, D) inputs, () for (D,)",
                      "1 for similar pairs, -1 for dissimilar pairs"),
        ),
        params=(ParamSpec("margin", "float", 0.0,
                          "cosine below which dissimilar pairs cost nothing",
                          minimum=-1.0, maximum=1.0),),
        formula=r"\ell = \begin{cases} 1 - \cos(x_1, x_2) & y = 1 \\ "
        r"\max(0, \cos(x_1, x_2) - m) & y = -1 \end{cases},\quad "
        r"\cos = \frac{\langle x_1, x_2\rangle}"
        r"{\sqrt{(\lVert x_1\rVert^2 + 10^{-12})(\lVert x_2\rVert^2 + 10^{-12})}}",
        reference="torch.nn.functional.cosine_embedding_loss (aten cosine_embedding_loss, "
        "EPSILON = 1e-12)",
        gradient_note=r"\partial\cos/\partial x_1 = x_2/\sqrt{m_1 m_2} - \cos\,x_1/m_1, "
        r"m_i = \lVert x_i\rVert^2 + 10^{-12} (symmetric for x_2); "
        r"\partial\ell/\partial\cos = -1 (y = 1), 1[\cos - m \ge 0] (y = -1). "
        + MARGIN_KINK + " Verified against torch 2.13 at cos == margin (orthogonal vectors, "
        "margin 0).",
        notes="PyTorch's exact epsilon: 1e-12 added to each squared norm inside the square "
        "root, so a zero vector gives cos = 0 (loss 1 for y = 1) with finite but very large "
        "gradients, as PyTorch (optax's default eps = 0 gives NaN; Keras clamps the norm at "
        "1e-7). A target other than 1 or -1 costs 0, as in PyTorch, with a warning "
        "'invalid_label' (validate: strict refuses it).",
        torch_equivalent="torch.nn.functional.cosine_embedding_loss",
        sampler=_sample_cosine,
        examples=(
            Example("a similar and a dissimilar pair",
                    {"input1": [[1.0, 0.0, 1.0], [0.5, 1.0, 0.0]],
                     "input2": [[1.0, 0.2, 0.8], [0.4, 1.2, 0.1]],
                     "targets": [1.0, -1.0]},
                    {"margin": 0.2}),
        ),
    ),
    LossSpec(
        name="hinge_embedding",
        fn=hinge_embedding,
        family="embedding",
        summary="Hinge embedding loss: the distance itself for similar pairs, a hinge on "
        "margin - distance for dissimilar pairs.",
        inputs=(
            InputSpec("predictions", "values", "(*)",
                      "values to score, typically distances between the two items of a pair",
                      differentiable=True),
            InputSpec("targets", "sign_labels", "(*), same shape as predictions (or "
                      "broadcastable with it)",
                      "1 for similar pairs, -1 for dissimilar pairs"),
        ),
        params=(ParamSpec("margin", "float", 1.0,
                          "distance beyond which dissimilar pairs cost nothing"),),
        formula=r"\ell = \begin{cases} x & y = 1 \\ \max(0, m - x) & y = -1 \end{cases}",
        reference="torch.nn.functional.hinge_embedding_loss (torch.nn.HingeEmbeddingLoss); "
        "related to the contrastive loss of Hadsell, Chopra & LeCun (2006)",
        gradient_note=r"\partial\ell/\partial x = 1 (y = 1), -1[m - x \ge 0] (y = -1). "
        + MARGIN_KINK + " So the gradient at x == margin, y = -1 is -1.",
        notes="A target other than 1 or -1 costs both terms, as in PyTorch (y = 0 gives "
        "x + max(0, m - x)), with a warning 'invalid_label' (validate: strict refuses it). The "
        "loss is negative where y = 1 and x < 0 (nonnegative is false). targets broadcast "
        "with predictions, as in PyTorch.",
        torch_equivalent="torch.nn.functional.hinge_embedding_loss",
        nonnegative=False,
        sampler=_sample_hinge,
        examples=(
            Example("distances of two similar and two dissimilar pairs",
                    {"predictions": [0.3, 1.2, 0.4, 2.0], "targets": [1.0, 1.0, -1.0, -1.0]}),
        ),
    ),
)
