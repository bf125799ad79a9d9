"""Keras's focal cross-entropies: binary_focal and categorical_focal (the other Keras and optax
cross-entropy variants are in :mod:`.cross_entropy_variants`).

Keras clips probabilities to ``[EPS, 1 - EPS]`` with ``EPS = 1e-7`` (``keras.backend.epsilon()``);
where the clip is active the gradient is 0 (as autograd through ``clip`` gives; at exactly a bound
it passes, as ``torch.clamp``). The Keras losses reproduce Keras's numbers, including where Keras
is less accurate than it could be (``log(1 - p)`` rather than ``log1p(-p)``, sigmoid then clip for
``from_logits``), and say so. Keras averages the last axis inside a loss; here the loss stays
unreduced (elementwise, or per sample where Keras sums over classes), so Keras's
``sum_over_batch_size`` of an ``(N, D)`` input is our ``mean``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _checks, errors
from ._classes import (
    check_predictions,
    class_vector,
    num_classes,
)
from ._math import as_float, ns, power_slope, sigmoid, softmax
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec

EPS = 1e-7  # keras.backend.epsilon()


def _keras_clip(xp: Any, p: Array) -> tuple[Array, Array]:
    """``clip(p, EPS, 1 - EPS)`` and the mask where the clip lets the gradient through."""
    inside = as_float(xp, (p >= EPS) & (p <= 1.0 - EPS), p)
    return xp.clip(p, EPS, 1.0 - EPS), inside


def _row_sums_positive(xp: Any, p: Array) -> None:
    sums = xp.sum(p, axis=-1)
    bad = sums <= 0.0
    if bool(xp.any(bad)):
        idx = _checks.first_index(xp, bad)
        raise errors.InvalidValue(
            "predictions: every row of class probabilities needs a positive sum (Keras divides "
            f"by it); the row at {list(idx)} sums to 0", ("predictions", *idx))


def binary_focal(predictions: Array, targets: Array, *, apply_class_balancing: bool = False,
                 alpha: float = 0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0) -> LossOutput:
    """Keras ``BinaryFocalCrossentropy``, elementwise (before Keras's mean over the last axis).

    With ``y = t (1 - ls) + ls / 2``, ``p = x`` (or ``sigmoid(x)`` with ``from_logits``) and
    ``pc = clip(p, 1e-7, 1 - 1e-7)``:
    ``l = w (1 - p_t)^gamma bce``, ``bce = -[y log pc + (1 - y) log(1 - pc)]``,
    ``p_t = y p + (1 - y)(1 - p)`` (unclipped p, as Keras), ``w = alpha y + (1 - alpha)(1 - y)``
    with ``apply_class_balancing`` and 1 otherwise.
    ``dl/dp = w [gamma (1 - p_t)^(gamma-1) (1 - 2y) bce + (1 - p_t)^gamma [clip passes]
    ((1 - y)/(1 - pc) - y/pc)]``, times ``p (1 - p)`` with ``from_logits``.

    Args:
      predictions: [*] probabilities in [0, 1], or logits with ``from_logits``.
      targets: [*] labels in {0, 1} or soft labels in [0, 1], same shape.
      apply_class_balancing: weigh positives by alpha and negatives by 1 - alpha.
      alpha: the balancing weight in [0, 1] (used only with ``apply_class_balancing``).
      gamma: focusing parameter >= 0.
      from_logits: predictions are logits (Keras: sigmoid, then the clipped formula).
      label_smoothing: ls in [0, 1].

    Returns:
      LossOutput with loss [*].

    References:
      Lin et al. (2017), Focal Loss for Dense Object Detection, arXiv:1708.02002;
      ``keras.losses.BinaryFocalCrossentropy`` (Keras 3.15).
    """
    _checks.same_shape(predictions, targets, "predictions", "targets")
    xp = ns(predictions, targets)
    _checks.probabilities(xp, targets, "targets")
    if not from_logits:
        _checks.probabilities(xp, predictions, "predictions")
    y = targets
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    p = sigmoid(xp, predictions) if from_logits else predictions
    pc, inside = _keras_clip(xp, p)
    bce = -(y * xp.log(pc) + (1.0 - y) * xp.log(1.0 - pc))  # Keras: log(1 - pc), not log1p
    p_t = y * p + (1.0 - y) * (1.0 - p)
    q = 1.0 - p_t
    mod = q**gamma
    w = (alpha * y + (1.0 - alpha) * (1.0 - y)) if apply_class_balancing else 1.0
    loss = w * mod * bce
    dbce = inside * ((1.0 - y) / (1.0 - pc) - y / pc)
    g = w * (power_slope(xp, q, gamma) * (1.0 - 2.0 * y) * bce + mod * dbce)
    if from_logits:
        g = g * (p * sigmoid(xp, -predictions))
    return LossOutput(loss, lambda cot: {"predictions": g * cot})


def categorical_focal(predictions: Array, targets: Array, *, alpha: float | Array = 0.25,
                      gamma: float = 2.0, from_logits: bool = False,
                      label_smoothing: float = 0.0) -> LossOutput:
    """Keras ``CategoricalFocalCrossentropy``, one value per sample (summed over classes).

    With ``y = t (1 - ls) + ls / C``, ``p = x`` (or ``softmax(x)``), ``r = p / sum_c p_c``
    (Keras renormalises) and ``o = clip(r, 1e-7, 1 - 1e-7)``:
    ``l_n = sum_c alpha_c (1 - o_c)^gamma (-y_c log o_c)``. With
    ``g_c = alpha_c y_c [gamma (1 - o_c)^(gamma-1) log o_c - (1 - o_c)^gamma / o_c]`` where the
    clip passes (0 elsewhere), ``dl/dp_k = (g_k - sum_c g_c r_c) / sum_c p_c``, then through the
    softmax with ``from_logits``.

    Args:
      predictions: [C] or [N, C] non-negative class probabilities (renormalised per row), or
        logits with ``from_logits``.
      targets: one-hot or class-probability rows of the predictions' shape.
      alpha: a weight for every class (scalar) or one per class [C].
      gamma: focusing parameter >= 0.
      from_logits: predictions are logits (softmax first).
      label_smoothing: ls in [0, 1].

    Returns:
      LossOutput with loss [] or [N].

    References:
      Lin et al. (2017), arXiv:1708.02002; ``keras.losses.CategoricalFocalCrossentropy``.
    """
    xp = ns(predictions, targets)
    check_predictions(predictions, max_ndim=2)
    _checks.same_shape(predictions, targets, "predictions", "targets")
    _checks.probabilities(xp, targets, "targets")
    _checks.rows_sum_to_one(xp, targets, "targets")
    x = predictions
    c = num_classes(x)
    a = class_vector(xp, alpha, x, "alpha", c) if not isinstance(alpha, int | float) \
        else float(alpha)
    if from_logits:
        p = softmax(xp, x)
    else:
        _checks.in_range(xp, x, "predictions", low=0.0, what="class probabilities")
        _row_sums_positive(xp, x)
        p = x
    y = targets
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + label_smoothing / c
    s = xp.sum(p, axis=-1, keepdims=True)
    r = p / s
    o, inside = _keras_clip(xp, r)
    log_o = xp.log(o)
    mod = (1.0 - o) ** gamma
    loss = xp.sum(a * mod * (-y * log_o), axis=-1)
    # 1 - o >= EPS, so (1 - o)^(gamma - 1) is finite for every gamma >= 0
    g_o = a * y * (gamma * (1.0 - o) ** (gamma - 1.0) * log_o - mod / o) * inside
    g = (g_o - xp.sum(g_o * r, axis=-1, keepdims=True)) / s
    if from_logits:
        g = p * (g - xp.sum(g * p, axis=-1, keepdims=True))
    return LossOutput(loss, lambda cot: {"predictions": g * cot[..., None]})


# ------------------------------------------------------------------------------------ samplers


def _sample_binary_focal(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    p = rng.uniform(0.05, 0.95, size=(n, c))
    t = rng.integers(0, 2, size=(n, c)).astype(float)
    t[0, 0] = 0.3  # a soft label
    return {"predictions": p, "targets": t}, {
        "apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5, "label_smoothing": 0.1}


def _sample_categorical_focal(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    p = rng.uniform(0.2, 1.0, size=(n, c))
    p /= p.sum(axis=1, keepdims=True)
    t = np.eye(c)[rng.integers(0, c, size=n)]
    return {"predictions": p, "targets": t}, {
        "alpha": rng.uniform(0.2, 1.0, size=c).tolist(), "gamma": 1.5, "label_smoothing": 0.1}


# ------------------------------------------------------------------------------------ specs

_GAMMA = ParamSpec("gamma", "float", 2.0, "focusing parameter: (1 - p_t)^gamma down-weights easy "
                   "examples", minimum=0.0)
_FROM_LOGITS = ParamSpec("from_logits", "bool", False,
                         "predictions are logits (Keras applies sigmoid / softmax first)")
_KERAS_CLIP = ("Keras clips probabilities to [1e-7, 1 - 1e-7] (keras.backend.epsilon()); the "
               "gradient is 0 where the clip is active (it passes at exactly a bound, as "
               "torch.clamp).")

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="binary_focal",
        fn=binary_focal,
        family="binary",
        summary="Keras BinaryFocalCrossentropy: clipped binary cross-entropy times "
        "(1 - p_t)^gamma, optionally class-balanced.",
        inputs=(
            InputSpec("predictions", "probabilities", "(*)",
                      "probabilities in [0, 1] (logits with from_logits)", differentiable=True),
            InputSpec("targets", "binary_labels", "(*), same shape as predictions",
                      "labels in {0, 1}, or soft labels in [0, 1]"),
        ),
        params=(
            ParamSpec("apply_class_balancing", "bool", False,
                      "weigh the positive term by alpha and the negative by 1 - alpha"),
            ParamSpec("alpha", "float", 0.25,
                      "balancing weight of positives (only with apply_class_balancing)",
                      minimum=0.0, maximum=1.0),
            _GAMMA,
            _FROM_LOGITS,
            ParamSpec("label_smoothing", "float", 0.0, "ls: targets become y (1 - ls) + ls / 2",
                      minimum=0.0, maximum=1.0),
        ),
        formula=r"\ell = w\,(1 - p_t)^\gamma\big[-y \log \bar p - (1 - y)\log(1 - \bar p)\big],"
        r"\ \bar p = \operatorname{clip}(p, 10^{-7}, 1 - 10^{-7}),\ p_t = y p + (1-y)(1-p),\ "
        r"w = \alpha y + (1 - \alpha)(1 - y)\ \text{(balanced) or } 1",
        reference="Lin et al. (2017), Focal Loss for Dense Object Detection, arXiv:1708.02002; "
        "keras.losses.BinaryFocalCrossentropy (Keras 3.15)",
        gradient_note=r"\partial\ell/\partial p = w\big[\gamma(1-p_t)^{\gamma-1}(1-2y)\,"
        r"\mathrm{bce} + (1-p_t)^\gamma [\text{clip passes}]\big(\tfrac{1-y}{1-\bar p} - "
        r"\tfrac{y}{\bar p}\big)\big], times p(1-p) with from_logits. " + _KERAS_CLIP
        + " For 0 < gamma < 1 the slope of (1 - p_t)^gamma at p_t = 1 is +inf.",
        notes="Keras semantics: alpha is used only with apply_class_balancing (torchvision "
        "sigmoid_focal_loss always applies alpha = 0.25; optax sigmoid_focal_loss defaults to "
        "no alpha); label smoothing is toward 1/2; p_t uses the unclipped probability. "
        "from_logits: Keras applies sigmoid and then the clipped formula (all backends), so "
        "it is NOT logit-stable: a logit of -1000 with y = 1 gives -log(1e-7) = 16.118 (the "
        "exact loss is 1000) and the gradient vanishes once sigmoid saturates; "
        "sigmoid_focal is the stable loss. Keras averages over the last axis per sample: our "
        "per_sample, and Keras's 'sum_over_batch_size' is our 'mean'. Refusals: probabilities "
        "and targets outside [0, 1] (Keras clips them silently); alpha outside [0, 1] and "
        "gamma < 0 (Keras does not check).",
        sampler=_sample_binary_focal,
        examples=(
            Example("Keras documentation example (gamma = 2): per-sample 0.330, 0.206",
                    {"predictions": [[0.6, 0.4], [0.4, 0.6]],
                     "targets": [[0.0, 1.0], [0.0, 0.0]]},
                    {"gamma": 2.0, "from_logits": False}, reduction="none"),
            Example("class balancing on logits",
                    {"predictions": [-0.8, 0.3, 2.1], "targets": [0.0, 1.0, 1.0]},
                    {"apply_class_balancing": True, "alpha": 0.25, "from_logits": True}),
        ),
    ),
    LossSpec(
        name="categorical_focal",
        fn=categorical_focal,
        family="multiclass",
        summary="Keras CategoricalFocalCrossentropy: alpha (1 - p_c)^gamma times the "
        "categorical cross-entropy, per sample.",
        inputs=(
            InputSpec("predictions", "probabilities", "(C,) or (N, C)",
                      "non-negative class probabilities, renormalised per row as Keras does "
                      "(logits with from_logits)", differentiable=True),
            InputSpec("targets", "probability_rows", "(C,) or (N, C), same shape as predictions",
                      "one-hot rows or class-probability rows summing to 1"),
        ),
        params=(
            ParamSpec("alpha", "float_or_float_array", 0.25,
                      "a weight for every class, or a list of one weight per class (length C)",
                      minimum=0.0),
            _GAMMA,
            _FROM_LOGITS,
            ParamSpec("label_smoothing", "float", 0.0, "ls: targets become y (1 - ls) + ls / C",
                      minimum=0.0, maximum=1.0),
        ),
        formula=r"\ell_n = -\sum_c \alpha_c (1 - o_{n,c})^\gamma\, y_{n,c} \log o_{n,c},\ "
        r"o_n = \operatorname{clip}\big(p_n / \textstyle\sum_c p_{n,c},\ 10^{-7},\ 1 - 10^{-7}"
        r"\big)",
        reference="Lin et al. (2017), arXiv:1708.02002; "
        "keras.losses.CategoricalFocalCrossentropy (Keras 3.15)",
        gradient_note=r"with g_c = \alpha_c y_c[\gamma(1-o_c)^{\gamma-1}\log o_c - "
        r"(1-o_c)^\gamma/o_c] where the clip passes (0 elsewhere) and S = \sum_c p_c: "
        r"\partial\ell/\partial p_k = (g_k - \sum_c g_c r_c)/S, r = p/S; through the softmax "
        "with from_logits. " + _KERAS_CLIP,
        notes="Keras semantics: the modulating factor uses every class's clipped probability "
        "(not only the target's), so soft targets weigh each class by its own (1 - o_c)^gamma; "
        "probabilities are renormalised per row, then clipped; from_logits applies softmax "
        "first (and then the same clip). Keras's default alpha = 0.25 (torchvision/optax "
        "focal losses differ: see sigmoid_focal and focal). The loss is per sample (Keras "
        "sums over classes): Keras's 'sum_over_batch_size' is our 'mean'. Refusals: negative "
        "probabilities or a row summing to 0; targets outside [0, 1] or rows not summing to 1; "
        "negative alpha or gamma (Keras accepts them all).",
        sampler=_sample_categorical_focal,
        examples=(
            Example("Keras documentation example",
                    {"predictions": [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]],
                     "targets": [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]}, reduction="none"),
            Example("per-class alpha on logits",
                    {"predictions": [[1.0, 2.0, -1.0]], "targets": [[0.0, 1.0, 0.0]]},
                    {"alpha": [0.25, 0.5, 0.25], "from_logits": True}),
        ),
    ),
)
