"""The softmax loss of a linear classifier, ``linear_softmax``: cs231n's
``softmax_loss_vectorized(W, X, y, reg)``, which is also PyTorch's
``torch.nn.functional.linear_cross_entropy`` plus an L2 penalty on ``W``.

As PyTorch's (``W`` = its ``linear_weight`` with the feature axis moved first): class weights,
``ignore_index``, label smoothing, probability targets, an unbatched ``(D,)`` input and
K-dimensional weights ``(D, C, d1..dK)``, its data loss computed by
:func:`service.losses.multiclass.cross_entropy` on the scores.

Part of the "linear" family; the registry lists it after :mod:`.linear`'s linear_svm, whose
penalty, parameters, sampler and reduction note it shares (:mod:`.linear` says how the penalty
enters each reduction). Why a module of its own: PyTorch's options and layouts make it the larger
of the two losses, and they concern it alone.
"""

from __future__ import annotations

import math
from typing import Any

from . import _checks, errors
from ._math import ns
from .linear import _REDUCTION_NOTE, _REG, _penalty, _sampler
from .multiclass import _IGNORE, _SMOOTHING, _weight, cross_entropy
from .spec import Array, Example, InputSpec, LossOutput, LossSpec


def _softmax_scores(W: Array, X: Array, targets: Array, b: Array | None
                    ) -> tuple[Any, Array, Array]:
    """Check shapes; return (xp, X as rows (R, D), S = X W + b in PyTorch's logits layout).

    ``W`` (D, C) or (D, C, d1..dK), ``X`` (N, D) (R = N) or unbatched (D,) (R = 1, K = 0 only),
    ``b`` of ``W``'s shape without D. ``S[n, c, k] = sum_d X[n, d] W[d, c, k] + b[c, k]``:
    ``(N, C, d1..dK)``, or ``(C,)`` unbatched. ``targets`` must be class indices of shape
    ``(N, d1..dK)`` (``()`` unbatched) or class probabilities of ``S``'s shape.
    """
    xp = ns(W, X, targets, b)
    if W.ndim < 2:
        raise errors.InvalidShape(
            "W must have at least 2 dimensions (weights of shape (D, C), or (D, C, d1, ..., dK) "
            f"for a K-dimensional loss), got shape {_checks.fmt_shape(W.shape)}", ("W",))
    _checks.ndim_in(X, "X", (1, 2), "(features of shape (N, D), one row per sample, or (D,) "
                    "for one unbatched sample)")
    d, out = int(W.shape[0]), tuple(int(k) for k in W.shape[1:])
    if X.shape[-1] != d:
        raise errors.ShapeMismatch(
            f"X has {X.shape[-1]} features per sample but W has D = {d} rows; X must be "
            f"(N, {d}) or ({d},)", ("X",))
    if X.ndim == 1 and len(out) > 1:
        raise errors.InvalidShape(
            f"a K-dimensional loss (W of shape {_checks.fmt_shape(W.shape)}) needs batched X of "
            f"shape (N, {d}); got unbatched X of shape {_checks.fmt_shape(X.shape)}", ("X",))
    if b is not None and tuple(b.shape) != out:
        raise errors.ShapeMismatch(
            f"b must have shape {_checks.fmt_shape(out)}, one bias per class"
            f"{' and position' if len(out) > 1 else ''} (W without its first axis); got "
            f"{_checks.fmt_shape(b.shape)}", ("b",))
    x2 = X if X.ndim == 2 else xp.reshape(X, (1, d))
    s = xp.reshape(xp.matmul(x2, xp.reshape(W, (d, math.prod(out)))),
                   (*(int(k) for k in X.shape[:-1]), *out))
    if b is not None:
        s = s + b
    index = tuple(int(k) for k in X.shape[:-1]) + out[1:]
    if tuple(targets.shape) not in (index, tuple(s.shape)):
        raise errors.ShapeMismatch(
            f"targets must have shape {_checks.fmt_shape(index)} (class indices, one per "
            f"{'sample' if len(out) == 1 else 'sample and position'} of X W) or "
            f"{_checks.fmt_shape(s.shape)} (class probabilities, the shape of the scores X W); "
            f"got {_checks.fmt_shape(targets.shape)}", ("targets",))
    return xp, x2, s


def linear_softmax(W: Array, X: Array, targets: Array, b: Array | None = None, *,
                   reg: float = 0.0, reg_convention: str = "sum_squares",
                   weight: Array | None = None, ignore_index: int = -100,
                   label_smoothing: float = 0.0) -> LossOutput:
    """Softmax cross-entropy of a linear classifier, cs231n style; PyTorch's
    ``linear_cross_entropy`` plus an optional L2 penalty.

    ``S = X W + b`` (over W's first axis); ``l_i = CE(S_i, y_i) + m_i R(W)`` where ``CE`` is
    :func:`service.losses.multiclass.cross_entropy` (class weights ``w``, ``ignore_index``,
    label smoothing ``eps``, index or probability targets), ``m_i`` its ``mean_weight``
    (``w_{y_i}``, 0 if ignored; 1 without class weights or ignored targets, and for probability
    targets) and ``R`` as in :func:`.linear.linear_svm`. Plain index targets:
    ``CE = -log softmax(S_i)_{y_i}`` and ``dL_i/dS_i = softmax(S_i) - onehot(y_i)``; in general
    ``dL/dS`` is cross_entropy's gradient. ``dW = X^T dS + (sum_i c_i m_i) dR/dW``,
    ``db = sum_i dS_i``. The log-softmax subtracts the row maximum, so scores of +-1000 stay
    finite.

    Args:
      W: [D, C] weights, or [D, C, d1..dK] for a K-dimensional loss (PyTorch's linear_weight
        ``(C, d1..dK, D)`` with its last axis moved first).
      X: [N, D] features, one row per sample, or [D] for one unbatched sample (K = 0 only).
      targets: [N] or [N, d1..dK] ([] unbatched) class indices in [0, C) or ``ignore_index``; or
        class probabilities of the scores' shape [N, C, d1..dK] ([C] unbatched).
      b: optional [C] (or [C, d1..dK]) biases (not regularised).
      reg: regularisation strength, >= 0.
      reg_convention: ``"sum_squares"`` or ``"half_sum_squares"``.
      weight: optional [C] class weights.
      ignore_index: index target whose loss is 0 and that is left out of the mean.
      label_smoothing: eps in [0, 1].

    Returns:
      LossOutput with loss [N] ([N, d1..dK], or [] unbatched) = data loss + m R per element and
      ``mean_weight`` m; ``mean`` is cs231n's loss (PyTorch's mean plus R).

    References:
      cs231n assignment 1, ``softmax_loss_naive`` / ``softmax_loss_vectorized``;
      ``torch.nn.functional.linear_cross_entropy`` (= ``cross_entropy(linear(input,
      linear_weight, linear_bias), target, ...)``).
    """
    xp, x2, s = _softmax_scores(W, X, targets, b)
    ce = cross_entropy(s, targets, weight=weight, ignore_index=ignore_index,
                       label_smoothing=label_smoothing)
    r, d_r = _penalty(xp, W, reg, reg_convention)
    m = ce.mean_weight
    loss = ce.loss + (r if m is None else m * r)
    ce_vjp = ce.vjp
    assert ce_vjp is not None
    rows, cols = int(x2.shape[0]), math.prod(int(k) for k in W.shape[1:])

    def vjp(cot: Array) -> dict[str, Array]:
        ds = xp.reshape(ce_vjp(cot)["predictions"], (rows, cols))
        # sum_i c_i m_i; an element with m_i = 0 (an ignored target) adds 0, also where an
        # undefined mean (lenient validation) makes c_i infinite
        count = xp.sum(cot) if m is None else xp.sum(
            xp.where(m != 0.0, cot * m, xp.zeros_like(cot)))
        dw = xp.reshape(xp.matmul(xp.permute_dims(x2, (1, 0)), ds), W.shape)
        grads = {"W": dw + count * d_r}
        if b is not None:
            grads["b"] = xp.reshape(xp.sum(ds, axis=0), b.shape)
        return grads

    def x_vjp(cot: Array) -> Array:  # dX = dS W^T, over every class (and position) column
        ds = xp.reshape(ce_vjp(cot)["predictions"], (rows, cols))
        w2 = xp.reshape(W, (int(W.shape[0]), cols))
        return xp.reshape(xp.matmul(ds, xp.permute_dims(w2, (1, 0))), X.shape)

    return LossOutput(loss, vjp, {"X": x_vjp}, mean_weight=m)


# ------------------------------------------------------------------------------------ specs

_SOFTMAX_INPUTS = (
    InputSpec("W", "values", "(D, C) or (D, C, d1, ..., dK)",
              "weights: one column of D coefficients per class (per class and position for a "
              "K-dimensional loss; PyTorch's linear_weight (C, d1, ..., dK, D) with its last axis "
              "moved first)", differentiable=True),
    InputSpec("X", "embeddings", "(N, D) or (D,)", "features, one row per sample, or one "
              "unbatched sample (W of shape (D, C) only); append a column of ones for cs231n's "
              "bias trick", grad_on_request=True),
    InputSpec("targets", "class_indices_or_probabilities",
              "(N,) or (N, d1, ..., dK) indices, () for unbatched X; or the scores' shape "
              "(N, C, d1, ..., dK), (C,) unbatched",
              "integer class indices in [0, C) (or ignore_index), or class probabilities of the "
              "scores X W's shape (rows sum to 1)", dtype="index_or_float"),
    InputSpec("b", "values", "(C,) or (C, d1, ..., dK)", "optional bias per class (W's shape "
              "without D), added to every row of X W; not regularised", differentiable=True,
              optional=True),
)

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="linear_softmax",
        fn=linear_softmax,
        family="linear",
        summary="Softmax cross-entropy of a linear classifier S = XW + b with L2 regularisation "
        "(cs231n softmax_loss_vectorized; PyTorch linear_cross_entropy).",
        inputs=_SOFTMAX_INPUTS,
        params=(*_REG, _weight("each class's term"), _IGNORE, _SMOOTHING),
        formula=r"\ell_i = -\sum_c w_c\, q_{i,c} \log \frac{e^{S_{ic}}}{\sum_j e^{S_{ij}}} "
        r"+ m_i R(W),\quad S = XW + b,\quad q_i = (1-\varepsilon)\,\mathrm{onehot}(y_i)\ "
        r"\text{(or } t_i\text{)} + \varepsilon/C,\quad R = \lambda \textstyle\sum W^2 "
        r"\text{ or } \tfrac12 \lambda \sum W^2",
        reference="cs231n (Stanford) assignment 1, softmax_loss_naive / "
        "softmax_loss_vectorized and the linear classification notes; "
        "torch.nn.functional.linear_cross_entropy",
        gradient_note=r"\partial L_i/\partial S_i = \mathrm{softmax}(S_i) - "
        r"\mathrm{onehot}(y_i) without options (in general cross_entropy's gradient: "
        r"(1-\varepsilon) w_{y_i}(p_i - \mathrm{onehot}(y_i)) + \tfrac{\varepsilon}{C}"
        r"(p_i \sum_c w_c - w), 0 for ignored targets; p_i \sum_c w_c t'_{i,c} - w \odot t'_i "
        r"for probability targets); \partial/\partial W = X^\top \partial S + "
        r"(\textstyle\sum_i c_i m_i)(2\lambda \text{ or } \lambda) W, "
        r"\partial/\partial b = \sum_i \partial S_i. Smooth (no kink).",
        notes=_REDUCTION_NOTE + " With class weights or ignored targets the penalty enters "
        "element i as m_i R, m_i = w_{y_i} (0 for an ignored target), so that 'mean' (which "
        "divides by sum_i m_i, as PyTorch) stays PyTorch's mean plus R and 'sum' = "
        "sum_i L_i + (sum_i m_i) R. With reg = 0 it equals "
        "torch.nn.functional.linear_cross_entropy(X, W', targets, linear_bias=b, weight=weight, "
        "ignore_index=ignore_index, label_smoothing=label_smoothing) where W' is W with its "
        "first axis moved last (W^T for a (D, C) W), and cross_entropy(X W + b, targets, ...); "
        "with NaN or infinities in X, W or b, the latter (torch's chunked linear_cross_entropy "
        "gives NaN in more places: an ignored row, the gradient of X). "
        "Class weights, ignore_index, label smoothing, probability targets (targets of the "
        "scores' shape; rows not summing to 1 or values outside [0, 1] are warnings, strict "
        "refuses them), an unbatched X (D,) and K-dimensional W (D, C, d1, ..., dK) behave as "
        "in cross_entropy and PyTorch; ignore_index >= 0 with probability targets is an error "
        "(PyTorch refuses any explicit ignore_index there; the default -100 is accepted). As "
        "in cross_entropy, and unlike PyTorch, integer targets of the scores' shape are read "
        "as one-hot probability rows (PyTorch raises); a 'mean' with every target ignored "
        "is PyTorch's NaN with an undefined_mean warning (gradients 0, as PyTorch's; strict "
        "validation refuses it). "
        "PyTorch's options (LinearCrossEntropyOptions: chunking over the batch to save memory) "
        "changes how, not what, it computes, and has no counterpart here. PyTorch's "
        "weight_decay adds the penalty in the optimiser instead.",
        sampler=_sampler(False),
        examples=(
            Example("seed 004: X W = scores [5, 4, 2], class 0: probabilities [0.705, 0.259, "
                    "0.035] (the seed prints 0.71, 0.26, 0.03), dL/dS = p - onehot, dW = X^T dS",
                    {"W": [[3.0, 2.0, 1.0], [4.0, 4.0, 2.0]], "X": [[1.0, 0.5]],
                     "targets": [0]}),
            Example("seed 003: scores [3.2, 5.1, -1.7], label cat: 2.04",
                    {"W": [[3.2, 5.1, -1.7]], "X": [[1.0]], "targets": [0]}),
            Example("reg = 0.5 with the half_sum_squares convention",
                    {"W": [[0.2, -0.5, 0.1], [1.5, 1.3, 2.1]], "X": [[1.0, 2.0], [0.5, -1.0]],
                     "targets": [2, 0]}, {"reg": 0.5, "reg_convention": "half_sum_squares"}),
            Example("PyTorch's linear_cross_entropy options: class weights, an ignored target "
                    "(-100) and label smoothing",
                    {"W": [[0.2, -0.5, 0.1], [1.5, 1.3, 2.1]],
                     "X": [[1.0, 2.0], [0.5, -1.0], [0.3, 0.3]], "targets": [2, -100, 0]},
                    {"weight": [1.0, 2.0, 0.5], "label_smoothing": 0.1}),
            Example("class-probability targets (the scores' shape)",
                    {"W": [[0.2, -0.5, 0.1], [1.5, 1.3, 2.1]], "X": [[1.0, 2.0], [0.5, -1.0]],
                     "targets": [[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]]}),
        ),
    ),
)
