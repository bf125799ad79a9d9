"""Multiclass losses on class scores: cross_entropy and nll (softmax family) here; focal in
:mod:`.softmax_focal`; the margin losses multi_margin and multiclass_hinge and the 0-1 loss in
:mod:`.margin`, multilabel_margin in :mod:`.multilabel_margin`. ``SPECS`` holds all seven.

Predictions hold one score per class on PyTorch's class axis (1 of ``(N, C, d1..dK)``, 0 of an
unbatched ``(C,)``); class-index targets have the predictions' shape without that axis. Kernels move
the class axis last, compute there and move gradients back (see :mod:`._classes`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _checks, errors, margin, multilabel_margin, softmax_focal
from ._classes import (
    check_index_targets,
    check_predictions,
    class_vector,
    from_last,
    index_shape,
    num_classes,
    to_last,
)
from ._math import as_float, gather_last, log_softmax, ns, one_hot
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec


def _ce_probabilities(xp: Any, x: Array, targets: Array, w: Array | None, ignore_index: int,
                      eps: float) -> LossOutput:
    if ignore_index >= 0:  # torch: "ignore_index is not supported for floating point target"
        raise errors.InvalidParam(
            "ignore_index must be negative (or left at -100) with class-probability targets: "
            "there is no class index to ignore", ("params", "ignore_index"))
    t = targets if xp.isdtype(targets.dtype, "real floating") else xp.astype(targets, x.dtype)
    _checks.probabilities(xp, t, "targets", warn=True)  # torch computes on any targets
    t = to_last(xp, t)
    _checks.rows_sum_to_one(xp, t, "targets", warn=True)
    c = int(t.shape[-1])
    if eps > 0.0:
        t = (1.0 - eps) * t + eps / c
    wt = t if w is None else t * w
    logp = log_softmax(xp, to_last(xp, x))
    loss = -xp.sum(wt * logp, axis=-1)

    def vjp(cot: Array) -> dict[str, Array]:
        # d/dx_j = p_j sum_c w_c t_c - w_j t_j
        g = xp.exp(logp) * xp.sum(wt, axis=-1, keepdims=True) - wt
        return {"predictions": from_last(xp, g * cot[..., None])}

    def targets_vjp(cot: Array) -> Array:
        # d/dt_c = -(1 - eps) w_c log p_c (the smoothing's eps/C is constant)
        g = -(1.0 - eps) * logp if w is None else -(1.0 - eps) * w * logp
        return from_last(xp, g * cot[..., None])

    return LossOutput(loss, vjp, {"targets": targets_vjp})


def cross_entropy(predictions: Array, targets: Array, *, weight: Array | None = None,
                  ignore_index: int = -100, label_smoothing: float = 0.0) -> LossOutput:
    """Softmax cross-entropy on logits (exactly ``torch.nn.functional.cross_entropy``).

    Index targets: ``l_n = (1-eps) w_{y_n} (-log p_{n,y_n}) + (eps/C) sum_c w_c (-log p_{n,c})``,
    0 where ``y_n == ignore_index``, ``p = softmax(x_n)``; ``mean`` divides by the sum of
    ``w_{y_n}`` over non-ignored targets (``mean_weight``). Probability targets:
    ``l_n = -sum_c w_c t'_{n,c} log p_{n,c}`` with ``t' = (1-eps) t + eps/C``; ``mean`` divides by
    ``N d1..dK``. Gradient: ``(1-eps) w_y (p - onehot_y) + (eps/C)(p sum_c w_c - w)``, resp.
    ``p sum_c w_c t'_c - w t'``. Probability targets also have a gradient (on request, as
    PyTorch differentiates them): ``dl_n/dt_{n,c} = -(1-eps) w_c log p_{n,c}``; index targets
    have none.

    Args:
      predictions: [C], [N, C] or [N, C, d1..dK] logits.
      targets: [], [N] or [N, d1..dK] integer class indices, or class probabilities of the
        predictions' shape (rows summing to 1; integer one-hot rows are cast).
      weight: [C] non-negative class weights, or None.
      ignore_index: index target whose loss is 0 and that is left out of the mean.
      label_smoothing: eps in [0, 1].

    Returns:
      LossOutput with loss [], [N] or [N, d1..dK] and, for index targets, ``mean_weight``.

    References:
      ``torch.nn.functional.cross_entropy``; Szegedy et al. (2016), arXiv:1512.00567 (smoothing).
    """
    xp = ns(predictions, targets)
    x = predictions
    check_predictions(x)
    c = num_classes(x)
    w = class_vector(xp, weight, x, "weight", c)
    eps = float(label_smoothing)
    if tuple(targets.shape) == tuple(x.shape):
        return _ce_probabilities(xp, x, targets, w, ignore_index, eps)
    if not xp.isdtype(targets.dtype, "integral") and tuple(targets.shape) == index_shape(x):
        raise errors.InvalidDtype(
            "targets has the shape of class indices but holds floating-point values: send "
            "integers, or class probabilities of the predictions' shape", ("targets",))
    check_index_targets(xp, x, targets, ignore_index=ignore_index)
    # log p_y = x_y - lse with lse = mx + log s, s = sum_j e^{x_j - mx}: e^{x - mx} is kept for
    # the gradient (p = e / s), the class weights are gathered, and the full log p is formed only
    # for label smoothing (no one-hot but in the gradient)
    z = to_last(xp, x)
    valid = targets != ignore_index
    safe = xp.where(valid, targets, xp.zeros_like(targets))
    vmask = as_float(xp, valid, z)
    m = vmask if w is None else gather_last(xp, xp.broadcast_to(w, z.shape), safe) * vmask
    mx = xp.max(z, axis=-1, keepdims=True)
    e = xp.exp(z - mx)
    s = xp.sum(e, axis=-1, keepdims=True)
    lse = mx + xp.log(s)
    loss = -m * (gather_last(xp, z, safe) - lse[..., 0])
    if eps > 0.0:
        logp = z - lse
        smooth = -xp.sum(logp if w is None else logp * w, axis=-1)
        loss = (1.0 - eps) * loss + (eps / c) * vmask * smooth
    loss = xp.where(valid, loss, xp.zeros_like(loss))  # torch's 0, even for NaN logits

    def vjp(cot: Array) -> dict[str, Array]:
        # an ignored target's row is 0, as torch's, also where an undefined mean (every target
        # ignored, lenient validation) makes the cotangent infinite: 0 * inf would be NaN
        zero = xp.zeros_like(cot)
        p = e / s
        g = (p - one_hot(xp, safe, c, z.dtype)) * xp.where(valid, m * cot, zero)[..., None]
        if eps > 0.0:
            w_sum = float(c) if w is None else xp.sum(w)
            w_c = 1.0 if w is None else w
            g = (1.0 - eps) * g + (eps / c) * xp.where(valid, cot, zero)[..., None] * (
                w_sum * p - w_c)
        return {"predictions": from_last(xp, g)}

    return LossOutput(loss, vjp, mean_weight=m)


def nll(predictions: Array, targets: Array, *, weight: Array | None = None,
        ignore_index: int = -100) -> LossOutput:
    """Negative log-likelihood of log-probabilities (``torch.nn.functional.nll_loss``).

    ``l_n = -w_{y_n} x_{n,y_n}``, 0 where ``y_n == ignore_index``; ``mean`` divides by the sum of
    ``w_{y_n}`` over non-ignored targets. Gradient ``-w_{y_n}`` at ``[n, y_n]``, 0 elsewhere.

    Args:
      predictions: [C], [N, C] or [N, C, d1..dK] log-probabilities (> 0: a warning).
      targets: [], [N] or [N, d1..dK] integer class indices.
      weight: [C] non-negative class weights, or None.
      ignore_index: target value whose loss is 0 and that is left out of the mean.

    Returns:
      LossOutput with loss [], [N] or [N, d1..dK] and ``mean_weight``.

    References:
      ``torch.nn.functional.nll_loss``.
    """
    xp = ns(predictions, targets)
    x = predictions
    check_predictions(x)
    c = num_classes(x)
    w = class_vector(xp, weight, x, "weight", c)
    check_index_targets(xp, x, targets, ignore_index=ignore_index)
    _checks.in_range(xp, x, "predictions", high=0.0, what="log-probabilities", warn=True)
    z = to_last(xp, x)
    valid = targets != ignore_index
    safe = xp.where(valid, targets, xp.zeros_like(targets))
    oh = one_hot(xp, safe, c, z.dtype)
    m = as_float(xp, valid, z)
    if w is not None:
        m = m * xp.sum(oh * w, axis=-1)
    picked = gather_last(xp, z, safe)
    loss = xp.where(valid, -m * picked, xp.zeros_like(picked))  # torch's 0, even for NaN

    def vjp(cot: Array) -> dict[str, Array]:
        # an ignored target's row is 0, as torch's, also under an infinite cotangent (cross_entropy)
        mc = xp.where(valid, m * cot, xp.zeros_like(cot))
        return {"predictions": from_last(xp, -mc[..., None] * oh)}

    return LossOutput(loss, vjp, mean_weight=m)


# ------------------------------------------------------------------------------------ samplers


def _logits(rng: Any, n: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(size=(n, c)) * 2.0, rng.integers(0, c, size=n)


def _sample_ce(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    x, y = _logits(rng, n, c)
    return {"predictions": x, "targets": y}, {
        "weight": rng.uniform(0.5, 2.0, size=c).tolist(), "label_smoothing": 0.1}


def _sample_nll(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    x, y = _logits(rng, n, c)
    logp = x - np.log(np.sum(np.exp(x), axis=1, keepdims=True))
    return {"predictions": logp, "targets": y}, {"weight": rng.uniform(0.5, 2.0, size=c).tolist()}


# ------------------------------------------------------------------------------------ specs

_LOGITS = InputSpec("predictions", "logits", "(C,), (N, C) or (N, C, d1, ..., dK)",
                    "logits, class axis 1 (0 when unbatched)", differentiable=True)
_INDEX = InputSpec("targets", "class_indices", "(), (N,) or (N, d1, ..., dK)",
                   "integer class indices in [0, C), or ignore_index", dtype="int")


def _weight(what: str) -> ParamSpec:
    return ParamSpec("weight", "float_array", None,
                     f"a weight per class (length C) multiplying {what} (a negative one is a "
                     "warning, as PyTorch accepts it); "
                     "null for none",
                     minimum=0.0, nullable=True, warn_outside_range=True)


_IGNORE = ParamSpec("ignore_index", "int", -100,
                    "class-index target value whose loss is 0 and that is left out of the mean")
_SMOOTHING = ParamSpec("label_smoothing", "float", 0.0,
                       "eps: the target becomes (1 - eps) target + eps / C", minimum=0.0,
                       maximum=1.0)
_MEAN_NOTE = ("Index targets: 'mean' divides by the sum of the target-class weights of the "
              "non-ignored targets (the count of non-ignored targets without weights), as "
              "PyTorch; with every target ignored the mean is undefined: PyTorch's NaN with an "
              "undefined_mean warning (the gradient 0, as PyTorch's; strict validation refuses "
              "it). ")

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="cross_entropy",
        fn=cross_entropy,
        family="multiclass",
        aliases=("categorical_cross_entropy", "softmax_cross_entropy",
                 "sparse_categorical_cross_entropy"),
        summary="Softmax cross-entropy on logits, with class-index or class-probability targets.",
        inputs=(
            _LOGITS,
            InputSpec("targets", "class_indices_or_probabilities",
                      "(), (N,) or (N, d1, ..., dK) indices; or the predictions' shape",
                      "integer class indices, or class probabilities of the predictions' shape "
                      "(rows sum to 1)", dtype="index_or_float", grad_on_request=True),
        ),
        params=(
            _weight("each class's term"),
            _IGNORE,
            _SMOOTHING,
        ),
        formula=r"\ell_n = -\sum_c w_c\, q_{n,c} \log \frac{e^{x_{n,c}}}{\sum_k e^{x_{n,k}}},\ "
        r"q_n = (1-\varepsilon)\,\mathrm{onehot}(y_n)\ \text{(or } t_n\text{)} + \varepsilon/C"
        r"\quad(\text{index targets: the } (1-\varepsilon) \text{ term carries } w_{y_n})",
        reference="torch.nn.functional.cross_entropy; Szegedy et al. (2016), Rethinking the "
        "Inception Architecture, arXiv:1512.00567 (label smoothing); cs231n linear "
        "classification notes (softmax classifier)",
        gradient_note=r"index targets: \partial\ell_n/\partial x_n = (1-\varepsilon) w_{y_n}"
        r"(p_n - \mathrm{onehot}(y_n)) + \tfrac{\varepsilon}{C}(p_n \textstyle\sum_c w_c - w), "
        r"0 for ignored targets; probability targets: p_n \sum_c w_c t'_{n,c} - w \odot t'_n. "
        "Smooth everywhere (no kink).",
        notes=_MEAN_NOTE + "Probability targets (any target of the predictions' shape) divide "
        "'mean' by N*d1*...*dK, never by the weights. Probability targets outside [0, 1] or "
        "rows that do not sum to 1, and negative class weights, are computed as PyTorch does, "
        "with a warning each (validate: strict refuses them; Keras renormalises rows). Integer "
        "targets of the predictions' shape are treated as one-hot probability rows (PyTorch "
        "raises). ignore_index >= 0 with probability targets is an error, as in PyTorch. "
        "Keras CategoricalCrossentropy clips probabilities; this loss takes logits.",
        torch_equivalent="torch.nn.functional.cross_entropy",
        shift_invariant=True,
        sampler=_sample_ce,
        examples=(
            Example("seed 003: scores [3.2, 5.1, -1.7], label cat (0): -ln 0.13 = 2.04",
                    {"predictions": [[3.2, 5.1, -1.7]], "targets": [0]}),
            Example("class weights, an ignored target and label smoothing",
                    {"predictions": [[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, 3.0, 0.0]],
                     "targets": [0, -100, 1]},
                    {"weight": [1.0, 2.0, 0.5], "label_smoothing": 0.1}),
            Example("class-probability targets",
                    {"predictions": [[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]],
                     "targets": [[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]]}),
        ),
    ),
    LossSpec(
        name="nll",
        fn=nll,
        family="multiclass",
        aliases=("negative_log_likelihood",),
        summary="Negative log-likelihood of log-probabilities (e.g. log_softmax outputs).",
        inputs=(
            InputSpec("predictions", "log_probabilities", "(C,), (N, C) or (N, C, d1, ..., dK)",
                      "log-probabilities (<= 0), class axis 1 (0 when unbatched)",
                      differentiable=True),
            _INDEX,
        ),
        params=(_weight("each target's log-probability"), _IGNORE),
        formula=r"\ell_n = -w_{y_n}\, x_{n, y_n}\ (0 \text{ if } y_n = \text{ignore\_index})",
        reference="torch.nn.functional.nll_loss",
        gradient_note=r"\partial\ell_n/\partial x_{n,c} = -w_{y_n} [c = y_n]; 0 for ignored "
        "targets (linear, no kink)",
        notes=_MEAN_NOTE + "Predictions > 0 get a warning 'invalid_value' at the first such "
        "element (validate: strict refuses them): PyTorch reads only the target column and "
        "accepts any value, so a positive input (usually probabilities or logits passed by "
        "mistake) gives a negative loss. Negative class weights: a warning 'invalid_param'. "
        "nll(log_softmax(x)) equals cross_entropy(x).",
        torch_equivalent="torch.nn.functional.nll_loss",
        sampler=_sample_nll,
        examples=(
            Example("seed 002: probabilities (.8, 0, 0, .2, 0), class 0: -ln 0.8 = 0.22 "
                    "(log 0 replaced by -1e4: inputs must be finite)",
                    {"predictions": [[-0.2231435513142097, -1e4, -1e4, -1.6094379124341003,
                                      -1e4]], "targets": [0]}),
            Example("class weights", {"predictions": [[-0.1, -2.5, -3.0], [-1.2, -0.5, -2.0]],
                                      "targets": [0, 2]}, {"weight": [1.0, 1.0, 3.0]}),
        ),
    ),
    *softmax_focal.SPECS,
    *margin.SPECS,
    *multilabel_margin.SPECS,
)
