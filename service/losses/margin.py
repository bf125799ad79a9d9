"""Multiclass margin losses (multi_margin, multiclass_hinge) and the 0-1 loss.

Part of the "multiclass" family; :mod:`.multiclass` re-exports these specs in its ``SPECS`` (the
multi-label margin loss is :mod:`.multilabel_margin`). Predictions are class scores ``(N, C)`` (one
row per sample) or ``(C,)``; targets are integer class indices ``(N,)`` or ``()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _checks, errors
from ._classes import (
    check_index_targets,
    check_predictions,
    class_vector,
    num_classes,
    reshaped_grad,
)
from ._math import as_float, gather_last, ns, one_hot
from .spec import Array, Convention, Example, InputSpec, LossOutput, LossSpec, ParamSpec


def _weston_watkins(xp: Any, x: Array, targets: Array, margin: float, p: int,
                    w: Array | None, scale: float, *, torch_nan: bool) -> LossOutput:
    """``scale * w_y * sum_{j != y} max(0, margin - x_y + x_j)^p`` with its vjp (strict kink).
    ``torch_nan``: a NaN hinge argument contributes nothing, as in torch's kernel (``if (z >
    0)``); else it makes the loss NaN, as NumPy's ``maximum`` (cs231n)."""
    c = num_classes(x)
    oh = one_hot(xp, targets, c, x.dtype)
    z = margin - gather_last(xp, x, targets)[..., None] + x  # (..., C)
    active = as_float(xp, z > 0.0, x) * (1.0 - oh)  # strict: a hinge term of exactly 0 is off
    # z * active keeps a NaN z (0 * NaN) and the target's own NaN (x_y infinite)
    h = xp.where(active > 0.0, z, xp.zeros_like(z)) if torch_nan else z * active
    terms = h * h if p == 2 else h
    coef = scale if w is None else scale * xp.sum(oh * w, axis=-1)[..., None]
    loss = xp.sum(coef * terms, axis=-1)

    def vjp(cot: Array) -> dict[str, Array]:
        d = coef * (2.0 * h if p == 2 else active)  # d loss / d x_j for j != y
        # d loss / d x_y = -sum_j d_j (a where: oh * sum would make 0 * inf NaN off the target)
        g = xp.where(oh > 0.0, -xp.sum(d, axis=-1, keepdims=True), d)
        return {"predictions": g * cot[..., None]}

    return LossOutput(loss, vjp)


def multi_margin(predictions: Array, targets: Array, *, p: int = 1, margin: float = 1.0,
                 weight: Array | None = None) -> LossOutput:
    """Multiclass margin loss (``torch.nn.functional.multi_margin_loss``): Weston-Watkins / C.

    ``l_n = (1/C) sum_{j != y_n} w_{y_n} max(0, margin - x_{n,y_n} + x_{n,j})^p``. Gradient
    ``(w_y/C) p z_j^{p-1} [z_j > 0]`` for ``j != y`` and minus their sum at ``y``, ``z_j`` the hinge
    argument; a term of exactly 0 contributes nothing (strict ``> 0``, as PyTorch).

    Args:
      predictions: [C] or [N, C] class scores; as in torch, a 0-d score is [1] (C = 1), and
        [C] with a [1] target is a batch of one.
      targets: [] or [N] integer class indices.
      p: 1 or 2.
      margin: the margin.
      weight: [C] class weights (``w_{y_n}`` scales sample n; negative ones are a warning), or
        None.

    Returns:
      LossOutput with loss [] or [N] (the target's shape).

    References:
      ``torch.nn.functional.multi_margin_loss``; Weston and Watkins (1999), Support Vector
      Machines for Multi-Class Pattern Recognition.
    """
    xp = ns(predictions, targets)
    shape = tuple(predictions.shape)
    if predictions.ndim == 0:  # torch: one score, C = 1
        predictions = xp.reshape(predictions, (1,))
    if predictions.ndim == 1 and tuple(targets.shape) == (1,):  # torch: a batch of one
        predictions = predictions[None, :]
    check_predictions(predictions, max_ndim=2)
    check_index_targets(xp, predictions, targets)
    c = num_classes(predictions)
    w = class_vector(xp, weight, predictions, "weight", c)
    out = _weston_watkins(xp, predictions, targets, float(margin), int(p), w, 1.0 / c,
                          torch_nan=True)
    return out if tuple(predictions.shape) == shape else reshaped_grad(xp, out, shape)


def multiclass_hinge(predictions: Array, targets: Array, *, margin: float = 1.0,
                     p: int = 1, convention: str = "cs231n") -> LossOutput:
    """Multiclass SVM loss, in the definition of cs231n (default) or of a library.

    * ``cs231n`` (Weston-Watkins, not divided by C):
      ``l_n = sum_{j != y_n} max(0, x_{n,j} - x_{n,y_n} + margin)^p`` = C * multi_margin. Gradient
      ``p z_j^{p-1} [z_j > 0]`` for ``j != y`` and minus their sum at ``y`` (strict kink).
    * ``torch`` (``torch.nn.MultiMarginLoss``): the same divided by C (the :func:`multi_margin`
      kernel without class weights).
    * ``optax`` / ``sklearn`` (Crammer-Singer): ``max_j (x_j + margin [j != y]) - x_y``, the
      :func:`service.losses.hinge_variants.multiclass_hinge_cs` kernel (ties at the maximum split
      the gradient evenly); ``p`` must be 1.
    * ``keras`` (``keras.losses.CategoricalHinge`` on one-hot targets): ``max(neg - pos + 1, 0)``
      with ``neg = max_c (1 - t_c) x_c``, which counts the 0 at the true class: the
      :func:`service.losses.hinge_variants.categorical_hinge` kernel; ``p`` and ``margin`` must
      be 1 (Keras has neither).

    Args:
      predictions: [C] or [N, C] class scores.
      targets: [] or [N] integer class indices.
      margin: Delta >= 0.
      p: 1 (hinge) or 2 (squared hinge; cs231n and torch only).
      convention: "cs231n", "torch", "optax", "sklearn" or "keras".

    Returns:
      LossOutput with loss [] or [N].

    Raises:
      InvalidParam: p = 2 under a Crammer-Singer convention, or margin != 1 under keras.

    References:
      cs231n, Linear classification notes (multiclass SVM loss); Weston and Watkins (1999);
      Crammer and Singer (2001); ``torch.nn.MultiMarginLoss``;
      ``optax.losses.multiclass_hinge_loss``; ``sklearn.metrics.hinge_loss``;
      ``keras.losses.CategoricalHinge``.
    """
    xp = ns(predictions, targets)
    check_predictions(predictions, max_ndim=2)
    check_index_targets(xp, predictions, targets)
    if convention == "cs231n":
        return _weston_watkins(xp, predictions, targets, float(margin), int(p), None, 1.0,
                               torch_nan=False)
    if convention == "torch":
        return multi_margin(predictions, targets, p=p, margin=margin)
    if int(p) != 1:
        raise errors.InvalidParam(
            f"p = {p} (squared hinge) exists only in the Weston-Watkins conventions cs231n and "
            f"torch; {convention} defines the plain Crammer-Singer hinge (p = 1)", ("params", "p"))
    # imported here: hinge_variants imports .multiclass, which imports this module
    from . import hinge_variants

    if convention == "keras":
        if float(margin) != 1.0:
            raise errors.InvalidParam(
                "keras.losses.CategoricalHinge has a fixed margin of 1; got margin = "
                f"{margin}", ("params", "margin"))
        onehot = one_hot(xp, targets, num_classes(predictions), predictions.dtype)
        return hinge_variants.categorical_hinge(predictions, onehot)
    return hinge_variants.multiclass_hinge_cs(predictions, targets, margin=margin)


def zero_one(predictions: Array, targets: Array) -> LossOutput:
    """0-1 loss: 1 where the predicted class differs from the target, else 0.

    ``l_n = [argmax_c x_{n,c} != y_n]`` for class scores (ties go to the lowest index), or
    ``[yhat_n != y_n]`` for predicted labels. Not differentiable.

    Args:
      predictions: [N, C] class scores or probabilities, or [N] integer predicted labels.
      targets: [N] integer class indices.

    Returns:
      LossOutput with loss [N] (float64 when both inputs are integers) and no vjp.

    References:
      ``sklearn.metrics.zero_one_loss`` (normalize=True is reduction 'mean', False is 'sum').
    """
    xp = ns(predictions, targets)
    if xp.isdtype(predictions.dtype, "integral"):
        _checks.ndim_in(predictions, "predictions", (1,), "(integer predicted labels (N,))")
        _checks.same_shape(predictions, targets, "predictions", "targets")
        for arr, name in ((predictions, "predictions"), (targets, "targets")):
            bad = arr < 0
            if bool(xp.any(bad)):
                idx = _checks.first_index(xp, bad)
                raise errors.ClassIndexOutOfRange(
                    f"{name} holds class indices, which must be >= 0; found {int(arr[idx])}",
                    (name, *idx))
        return LossOutput(xp.astype(predictions != targets, xp.float64))
    if predictions.ndim != 2:
        raise errors.InvalidDtype(
            "predictions must be class scores of shape (N, C) or integer predicted labels of "
            f"shape (N,); got floating-point values of shape "
            f"{_checks.fmt_shape(predictions.shape)}", ("predictions",))
    check_index_targets(xp, predictions, targets)
    predicted = xp.argmax(predictions, axis=-1)  # first maximum: ties go to the lowest index
    return LossOutput(as_float(xp, predicted != targets, predictions))


# ------------------------------------------------------------------------------------ samplers


def _scores(rng: Any, n: int, c: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Random scores whose hinge arguments stay at least 1e-3 away from the kink at 0."""
    x = rng.normal(size=(n, c))
    y = rng.integers(0, c, size=n)
    z = margin - x[np.arange(n), y][:, None] + x
    near = (np.abs(z) < 1e-3) & (np.arange(c)[None, :] != y[:, None])
    return x + 0.01 * near, y


def _sample_multi_margin(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    p = int(rng.integers(1, 3))
    x, y = _scores(rng, n, c, 0.8)
    return {"predictions": x, "targets": y}, {
        "p": p, "margin": 0.8, "weight": rng.uniform(0.5, 2.0, size=c).tolist()}


def _sample_hinge(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    p = int(rng.integers(1, 3))
    x, y = _scores(rng, n, c, 1.0)
    return {"predictions": x, "targets": y}, {"p": p}


def _sample_zero_one(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"predictions": rng.normal(size=(n, c)), "targets": rng.integers(0, c, size=n)}, {}


# ------------------------------------------------------------------------------------ specs

_SCORES = InputSpec("predictions", "scores", "(C,) or (N, C)", "class scores, one row per sample",
                    differentiable=True)
_TARGETS = InputSpec("targets", "class_indices", "() or (N,)", "integer class indices in [0, C)",
                     dtype="int")
_P = ParamSpec("p", "choice", 1, "exponent of each hinge term: 1 (hinge) or 2 (squared hinge)",
               choices=(1, 2))
_SVM_SCORES = [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]]

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="multi_margin",
        fn=multi_margin,
        family="multiclass",
        summary="PyTorch's multiclass margin loss: the Weston-Watkins hinge divided by C.",
        inputs=(_SCORES, _TARGETS),
        params=(
            _P,
            ParamSpec("margin", "float", 1.0, "the margin"),
            ParamSpec("weight", "float_array", None,
                      "a weight per class (length C; a negative one is a warning); w_{y_n} "
                      "scales sample n; "
                      "null for none", minimum=0.0, nullable=True, warn_outside_range=True),
        ),
        formula=r"\ell_n = \frac{1}{C}\sum_{j \ne y_n} w_{y_n} "
        r"\max(0,\ \text{margin} - x_{n,y_n} + x_{n,j})^p",
        reference="torch.nn.functional.multi_margin_loss; Weston and Watkins (1999), Support "
        "Vector Machines for Multi-Class Pattern Recognition",
        gradient_note=r"with z_j = margin - x_y + x_j: \partial\ell/\partial x_j = "
        r"\tfrac{w_y}{C} p z_j^{p-1}[z_j > 0] (j \ne y), \partial\ell/\partial x_y = "
        r"-\sum_{j\ne y}\partial\ell/\partial x_j. Kink: strict z_j > 0, so a term of exactly 0 "
        "has gradient 0 (PyTorch's choice).",
        notes="Equals multiclass_hinge / C (without weights). 'mean' divides by N, not by the "
        "weights (unlike cross_entropy). PyTorch silently skips NaN scores; NaN is refused "
        "here. Negative class weights are used as in PyTorch, with a warning "
        "'invalid_param' (validate: strict refuses them). A 0-d score is one class, and a "
        "(C,) score with a (1,) target a batch of one, as in PyTorch.",
        torch_equivalent="torch.nn.functional.multi_margin_loss",
        sampler=_sample_multi_margin,
        examples=(
            Example("seed 003 scores (one row per sample): the SVM losses 2.9, 0, 12.9 divided "
                    "by C = 3", {"predictions": _SVM_SCORES, "targets": [0, 1, 2]},
                    reduction="none"),
            Example("squared hinge with class weights",
                    {"predictions": [[0.1, 0.9, 0.3], [1.5, -0.2, 0.4]], "targets": [0, 2]},
                    {"p": 2, "weight": [1.0, 2.0, 0.5]}),
        ),
    ),
    LossSpec(
        name="multiclass_hinge",
        fn=multiclass_hinge,
        family="multiclass",
        aliases=("svm", "multiclass_svm"),
        summary="Multiclass SVM hinge loss: cs231n's Weston-Watkins sum over wrong classes by "
        "default, or the definition of PyTorch, optax, scikit-learn or Keras (convention).",
        inputs=(_SCORES, _TARGETS),
        params=(
            ParamSpec("margin", "float", 1.0, "the margin Delta (convention keras: must be 1)",
                      minimum=0.0),
            ParamSpec("p", "choice", 1, "exponent of each hinge term: 1 (hinge) or 2 (squared "
                      "hinge; conventions cs231n and torch only)", choices=(1, 2)),
        ),
        formula=r"\ell_n = \sum_{j \ne y_n} \max(0,\ x_{n,j} - x_{n,y_n} + \Delta)^p"
        r"\ \text{(cs231n; torch: divided by } C\text{; optax, sklearn: }"
        r"\max_j(x_{n,j} + \Delta[j \ne y_n]) - x_{n,y_n}\text{; keras: }"
        r"\max(\max_c (1 - t_{n,c}) x_{n,c} - x_{n,y_n} + 1,\ 0),\ t = \text{one-hot}(y_n))",
        reference="cs231n, Linear classification notes (multiclass SVM loss); Weston and "
        "Watkins (1999); Crammer and Singer (2001); torch.nn.MultiMarginLoss; "
        "optax.losses.multiclass_hinge_loss; sklearn.metrics.hinge_loss; "
        "keras.losses.CategoricalHinge",
        gradient_note=r"cs231n, with z_j = x_j - x_y + \Delta: \partial\ell/\partial x_j = "
        r"p z_j^{p-1}[z_j > 0] (j \ne y), \partial\ell/\partial x_y = -\sum_{j \ne y} "
        r"p z_j^{p-1}[z_j > 0]. Kink: strict z_j > 0 (gradient 0 at exactly 0), as cs231n and "
        "PyTorch MultiMargin; torch divides by C. optax/sklearn (Crammer-Singer): +1 at the "
        r"maximiser of x_j + \Delta[j \ne y] and -1 at y; ties at the maximum split the +1 "
        "evenly (JAX's max), so at the hinge's kink the target and the best wrong class get "
        "one half each (multiclass_hinge_cs). keras: (1 - t_c) s_c - t_c where "
        "neg - pos + 1 > 0 (strict; Keras on JAX gives one half at exactly 0), s the maximiser "
        "indicator of (1 - t) x with ties split evenly (categorical_hinge).",
        notes="Default convention cs231n: not divided by C, so it equals C * torch "
        "multi_margin_loss (cs231n's worked example gives 2.9 where PyTorch gives 0.9667). The "
        "Crammer-Singer form (optax, sklearn) and Keras' CategoricalHinge (Crammer-Singer with "
        "a 0 floor at the true class) are different losses, reproduced by the convention "
        "parameter; they are also available on their own as multiclass_hinge_cs and "
        "categorical_hinge. The regularisation term of cs231n is not included.",
        sampler=_sample_hinge,
        conventions=(
            Convention("cs231n", "cs231n multiclass SVM loss (Weston-Watkins sum)",
                       "sum over the wrong classes j of max(0, x_j - x_y + margin)^p"),
            Convention("torch", "torch.nn.MultiMarginLoss",
                       "the cs231n sum divided by the number of classes C (same numbers as "
                       "multi_margin without class weights)"),
            Convention("optax", "optax.losses.multiclass_hinge_loss",
                       "Crammer-Singer: only the best wrong class counts, "
                       "max_j (x_j + margin [j != y]) - x_y (margin replaces optax's fixed 1); "
                       "p must be 1; ties at the maximum split the gradient evenly"),
            Convention("sklearn", "sklearn.metrics.hinge_loss (more than two classes)",
                       "Crammer-Singer, same numbers as optax: max(0, margin - (x_y - max_{j != "
                       "y} x_j)) (margin replaces scikit-learn's fixed 1); p must be 1; 'mean' "
                       "with sample_weight is scikit-learn's weighted average; the labels are "
                       "the column indices (hinge_loss(..., labels=range(C)))"),
            Convention("keras", "keras.losses.CategoricalHinge on one-hot(targets)",
                       "max(neg - pos + 1, 0) with pos = x_y and neg = max_c (1 - t_c) x_c "
                       "over the one-hot row t, which includes a 0 at the true class: when "
                       "every wrong score is negative the loss is 1 - x_y, not Crammer-Singer's "
                       "max(0, 1 + max_{j != y} x_j - x_y); p and margin must be 1 "
                       "(invalid_param otherwise); mean with sample_weight divides by N "
                       "(sum_over_batch_size)", weights_in_mean=False),
        ),
        examples=(
            Example("seed 003 (cs231n): scores cat/car/frog per sample give 2.9, 0, 12.9, "
                    "mean 5.27", {"predictions": _SVM_SCORES, "targets": [0, 1, 2]}),
            Example("the same scores under PyTorch's MultiMarginLoss: 2.9 / 3 = 0.9667, 0, 4.3",
                    {"predictions": _SVM_SCORES, "targets": [0, 1, 2]},
                    {"convention": "torch"}, reduction="none"),
            Example("Crammer-Singer (optax, scikit-learn): only the best wrong class counts",
                    {"predictions": _SVM_SCORES, "targets": [0, 1, 2]},
                    {"convention": "sklearn"}, reduction="none"),
        ),
    ),
    LossSpec(
        name="zero_one",
        fn=zero_one,
        family="multiclass",
        summary="0-1 loss: 1 for a misclassified sample, 0 otherwise (1 - accuracy on average).",
        inputs=(
            InputSpec("predictions", "scores", "(N, C) or (N,)",
                      "class scores or probabilities (N, C), the predicted class being the "
                      "argmax (ties to the lowest index); or integer predicted labels (N,)",
                      dtype="index_or_float"),
            InputSpec("targets", "class_indices", "(N,)", "integer class indices", dtype="int"),
        ),
        formula=r"\ell_n = [\hat y_n \ne y_n],\ \hat y_n = \arg\max_c x_{n,c}",
        reference="sklearn.metrics.zero_one_loss; seed 003 (course lecture, zero-one loss)",
        notes="'mean' is sklearn zero_one_loss (normalize=True), 'sum' the error count "
        "(normalize=False); sample_weight gives sklearn's weighted versions. Not "
        "differentiable (no gradient). With integer predicted labels both inputs are integers, "
        "so the loss is float64 whatever the requested dtype.",
        sampler=_sample_zero_one,
        examples=(
            Example("class scores", {"predictions": [[0.1, 0.7, 0.2], [0.5, 0.3, 0.2],
                                                     [0.2, 0.2, 0.6]], "targets": [1, 2, 2]}),
            Example("predicted labels", {"predictions": [0, 2, 1, 3], "targets": [0, 1, 2, 3]}),
        ),
    ),
)
