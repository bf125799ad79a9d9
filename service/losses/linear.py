"""Linear-classifier losses as course assignments define them: ``linear_svm`` here,
``linear_softmax`` in :mod:`.linear_softmax` (also PyTorch's ``linear_cross_entropy``).

These are cs231n's ``svm_loss_vectorized(W, X, y, reg)`` and ``softmax_loss_vectorized(W, X, y,
reg)``: scores ``S = X W (+ b)``, the data loss averaged over the N samples, plus an L2 penalty on
``W``, with gradients with respect to ``W`` (and ``b``). The penalty, its parameters, the sampler
and the note on reductions below are shared by both and defined here.

The penalty ``R(W)`` belongs to no sample. It enters the unreduced loss as ``l_i = L_i + m_i R``,
where ``m_i`` is the weight element i has in the ``mean`` (1, except for ``linear_softmax`` with
class weights or ignored targets: the target class's weight, 0 for an ignored target), so that

* ``mean``  = ``sum_i L_i / sum_i m_i + R``: exactly the assignment's number (PyTorch's mean plus
  the penalty);
* ``sum``   = ``sum_i L_i + (sum_i m_i) R`` = N times the assignment's number without class
  weights (the usual sum = N * mean);
* ``none``/per-sample = ``L_i + m_i R`` (``L_i + R`` without class weights); with
  ``sample_weight`` s, ``mean`` = the s-weighted mean of ``L_i`` plus ``R`` (the weights never
  scale the penalty under ``mean``).

Gradients are of the reduced value: ``dW = X^T (c * dL/dS) + (sum_i c_i m_i) dR/dW`` for the
cotangent ``c``, so ``mean`` gives the assignment's ``dW``. The features' gradient, when a
request's ``wrt`` names ``X`` (PyTorch's linear_cross_entropy differentiates its input):
``dX = (c * dL/dS) W^T`` (the penalty does not depend on X).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import _checks, errors
from ._math import as_float, gather_last, ns, one_hot
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec

REG_CONVENTIONS = ("sum_squares", "half_sum_squares")


def _scores(W: Array, X: Array, targets: Array, b: Array | None) -> tuple[Any, Array]:
    """Check shapes and labels; return (xp, S = X W + b) of shape (N, C)."""
    xp = ns(W, X, targets, b)
    _checks.ndim_in(W, "W", (2,), "(weights of shape (D, C))")
    _checks.ndim_in(X, "X", (2,), "(features of shape (N, D), one row per sample)")
    d, c = int(W.shape[0]), int(W.shape[1])
    if X.shape[1] != d:
        raise errors.ShapeMismatch(
            f"X has {X.shape[1]} features per row but W has D = {d} rows; X must be (N, {d})",
            ("X",))
    n = int(X.shape[0])
    if targets.ndim != 1 or targets.shape[0] != n:
        raise errors.ShapeMismatch(
            f"targets must have shape ({n},), one class index per row of X; got "
            f"{_checks.fmt_shape(targets.shape)}", ("targets",))
    _checks.class_indices(xp, targets, c)
    s = xp.matmul(X, W)
    if b is not None:
        if b.ndim != 1 or b.shape[0] != c:
            raise errors.ShapeMismatch(
                f"b must have shape ({c},), one bias per class (W has C = {c} columns); got "
                f"{_checks.fmt_shape(b.shape)}", ("b",))
        s = s + b[None, :]
    return xp, s


def _penalty(xp: Any, W: Array, reg: float,
             reg_convention: str) -> tuple[Array | float, Array | float]:
    """(R, dR/dW): reg * sum(W^2) and 2 reg W, or 0.5 reg sum(W^2) and reg W; 0 and 0 for
    reg = 0 (no term at all, as torch's linear_cross_entropy: 0 * sum(W^2) would make a NaN or
    an infinity in W spread to every sample)."""
    if reg == 0.0:
        return 0.0, 0.0
    half = reg_convention == "half_sum_squares"
    r = (0.5 * reg if half else reg) * xp.sum(W * W)
    return r, (reg if half else 2.0 * reg) * W


def _output(xp: Any, W: Array, X: Array, b: Array | None, data: Array, d_scores: Array,
            reg: float, reg_convention: str) -> LossOutput:
    """l_i = L_i + R and its vjp from dL_i/dS_i (one row per sample)."""
    r, d_r = _penalty(xp, W, reg, reg_convention)
    loss = data + r

    def vjp(cot: Array) -> dict[str, Array]:
        ds = d_scores * cot[:, None]
        grads = {"W": xp.matmul(xp.permute_dims(X, (1, 0)), ds) + xp.sum(cot) * d_r}
        if b is not None:
            grads["b"] = xp.sum(ds, axis=0)
        return grads

    def x_vjp(cot: Array) -> Array:
        return xp.matmul(d_scores * cot[:, None], xp.permute_dims(W, (1, 0)))

    return LossOutput(loss, vjp, {"X": x_vjp})


def linear_svm(W: Array, X: Array, targets: Array, b: Array | None = None, *,
               reg: float = 0.0, reg_convention: str = "sum_squares",
               margin: float = 1.0) -> LossOutput:
    """Multiclass SVM (Weston-Watkins hinge) of a linear classifier, cs231n style.

    ``S = X W + b``; ``l_i = sum_{j != y_i} max(0, S_ij - S_{i,y_i} + margin) + R(W)`` with
    ``R = reg sum(W^2)`` (``sum_squares``) or ``0.5 reg sum(W^2)`` (``half_sum_squares``).
    ``dL_i/dS_ij = [m_ij > 0]`` for ``j != y_i`` and ``-sum_{j != y_i} [m_ij > 0]`` at ``y_i``
    (a margin of exactly 0 counts as inactive, like the assignment's ``margin > 0``).

    Args:
      W: [D, C] weights.
      X: [N, D] features, one row per sample.
      targets: [N] class indices in [0, C).
      b: optional [C] biases (not regularised).
      reg: regularisation strength, >= 0.
      reg_convention: ``"sum_squares"`` or ``"half_sum_squares"``.
      margin: the hinge margin (cs231n's ``delta``), >= 0.

    Returns:
      LossOutput with loss [N] = data loss + R per sample; ``mean`` is cs231n's loss.

    References:
      cs231n assignment 1, ``svm_loss_naive`` / ``svm_loss_vectorized``; Weston and Watkins
      (1999), Support Vector Machines for Multi-Class Pattern Recognition.
    """
    xp, s = _scores(W, X, targets, b)
    c = int(s.shape[1])
    y1 = one_hot(xp, targets, c, s.dtype)
    m = s - gather_last(xp, s, targets)[:, None] + margin
    active = as_float(xp, m > 0.0, s) * (1.0 - y1)
    data = xp.sum(m * active, axis=1)
    d_scores = active - y1 * xp.sum(active, axis=1, keepdims=True)
    return _output(xp, W, X, b, data, d_scores, reg, reg_convention)


# ------------------------------------------------------------------------------------ samplers


def _sampler(svm: bool) -> Callable[[Any, int, int], tuple[dict[str, Any], dict[str, Any]]]:
    def sample(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
        d = 3
        inputs = {"W": rng.normal(size=(d, c)), "X": rng.normal(size=(n, d)),
                  "targets": rng.integers(0, c, size=n).astype(np.int64),
                  "b": rng.normal(size=c) * 0.5}
        params: dict[str, Any] = {"reg": float(rng.uniform(0.05, 0.5)),
                                  "reg_convention": REG_CONVENTIONS[int(rng.integers(0, 2))]}
        if svm:
            params["margin"] = float(rng.uniform(0.5, 1.5))
        return inputs, params

    return sample


# ------------------------------------------------------------------------------------ specs

_INPUTS = (
    InputSpec("W", "values", "(D, C)", "weights: one column of D coefficients per class",
              differentiable=True),
    InputSpec("X", "embeddings", "(N, D)", "features, one row per sample (append a column of "
              "ones for cs231n's bias trick)", grad_on_request=True),
    InputSpec("targets", "class_indices", "(N,)", "integer class indices in [0, C)",
              dtype="int"),
    InputSpec("b", "values", "(C,)", "optional bias per class, added to every row of X W; "
              "not regularised", differentiable=True, optional=True),
)
_REG = (
    ParamSpec("reg", "float", 0.0, "regularisation strength lambda (cs231n's reg); 0 gives the "
              "plain data loss", minimum=0.0),
    ParamSpec("reg_convention", "choice", "sum_squares",
              "'sum_squares': R = reg * sum(W^2), dR/dW = 2 reg W (cs231n); 'half_sum_squares':"
              " R = 0.5 reg sum(W^2), dR/dW = reg W (older cs231n, many textbooks)",
              choices=REG_CONVENTIONS),
)
_REDUCTION_NOTE = (
    "The penalty R enters each sample's unreduced loss in full: l_i = L_i + R. Hence 'mean' = "
    "mean_i L_i + R (the assignment's number, and its dW), 'sum' = sum_i L_i + N R (N times "
    "it), per-sample = L_i + R; a sample_weighted 'mean' weights only the data loss. To get "
    "sum_i L_i + R, take N * mean - (N - 1) R, or evaluate with reg = 0 and add R. "
    "b is not regularised; with the bias trick (a column of ones in X) the bias row of W is, as "
    "in cs231n. Default reg = 0 (the assignments always pass reg explicitly)."
)
_SEED_003_W = [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]]
_IDENTITY = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="linear_svm",
        fn=linear_svm,
        family="linear",
        summary="Multiclass SVM loss of a linear classifier S = XW + b with L2 regularisation "
        "(cs231n svm_loss_vectorized).",
        inputs=_INPUTS,
        params=(*_REG, ParamSpec("margin", "float", 1.0, "hinge margin (cs231n's delta)",
                                 minimum=0.0)),
        formula=r"\ell_i = \sum_{j \ne y_i} \max(0,\ S_{ij} - S_{i y_i} + \Delta) + R(W),\quad "
        r"S = XW + b,\quad R = \lambda \textstyle\sum W^2 \text{ or } "
        r"\tfrac12 \lambda \sum W^2",
        reference="cs231n (Stanford) assignment 1, svm_loss_naive / svm_loss_vectorized and the "
        "linear classification notes; Weston and Watkins (1999)",
        gradient_note=r"\partial L_i/\partial S_{ij} = [m_{ij} > 0] (j \ne y_i), "
        r"\partial L_i/\partial S_{i y_i} = -\sum_{j \ne y_i} [m_{ij} > 0], "
        r"m_{ij} = S_{ij} - S_{i y_i} + \Delta; \partial/\partial W = X^\top \partial S + "
        r"(2\lambda \text{ or } \lambda) W, \partial/\partial b = \sum_i \partial S_i. "
        "At m = 0 the hinge counts as inactive (subgradient 0), as the assignment's "
        "'if margin > 0'.",
        notes=_REDUCTION_NOTE + " torch.nn.functional.multi_margin_loss(X W + b, y) is the same "
        "data loss divided by C (and has no regulariser); sklearn's hinge_loss is "
        "Crammer-Singer for 3+ classes.",
        sampler=_sampler(True),
        examples=(
            Example("seed 003: X = I, W = the scores (one row per image): losses 2.9, 0, 12.9, "
                    "mean 5.27",
                    {"W": _SEED_003_W, "X": _IDENTITY, "targets": [0, 1, 2]}),
            Example("with a bias and reg = 0.1 (sum_squares)",
                    {"W": [[0.2, -0.5, 0.1], [1.5, 1.3, 2.1]], "X": [[1.0, 2.0], [0.5, -1.0]],
                     "targets": [2, 0], "b": [0.0, 0.2, -0.1]}, {"reg": 0.1}),
        ),
    ),
)
