"""Binary losses on logits: binary_cross_entropy_with_logits and multilabel_soft_margin.

Part of the binary family: :mod:`.binary` gathers their specs into the family's ``SPECS``. Why a
module of its own: the family outgrew one file (issue 18); these two are the logistic loss on
logits, ``w [y softplus(-x) + (1 - y) softplus(x)]`` (stable for any logit), elementwise or
averaged over classes. Each kernel takes ``predictions`` (logits) and ``targets`` (labels in
[0, 1], soft labels allowed) of the same shape and returns the loss in PyTorch's
``reduction='none'`` shape with its vector-Jacobian product.

Conventions (``convention``; PyTorch's is the default): binary_cross_entropy_with_logits is the
same elementwise in torch, keras and optax; Keras' mean over the last axis is applied generically.
"""

from __future__ import annotations

from typing import Any

from . import _checks
from ._binary import (
    LOGITS,
    SOFT_TARGETS,
    WEIGHT,
    broadcast_param,
    mixed_labels,
    pair,
    random_weights,
)
from ._math import nonfinite_as, sigmoid_pair, softplus_pair
from .spec import (
    Array,
    Convention,
    Example,
    InputSpec,
    LossOutput,
    LossSpec,
    ParamSpec,
    keras_convention,
)

POS_WEIGHT = ParamSpec("pos_weight", "float_or_float_tensor", None,
                       "weight of the positive (y) term: a number, a list of length 1 or of the "
                       "last dimension (per class, broadcast along the last axis), or a nested "
                       "list that broadcasts to the predictions' shape",
                       minimum=0.0, nullable=True, warn_outside_range=True)


def binary_cross_entropy_with_logits(predictions: Array, targets: Array, *, weight: Any = None,
                                     pos_weight: Any = None) -> LossOutput:
    """Binary cross-entropy on logits (sigmoid and BCE fused, numerically stable).

    ``l = w [c y softplus(-x) + (1 - y) softplus(x)]`` (``= -w[c y log s(x) + (1-y) log s(-x)]``,
    ``c`` = pos_weight); ``dl/dx = w [(1 - y) s(x) - c y s(-x)]``; targets (on request):
    ``dl/dy = w [c softplus(-x) - softplus(x)]``.

    Args:
      predictions: [*] logits x.
      targets: [*] labels y in [0, 1] (soft labels allowed), same shape.
      weight: None, a number, or an array broadcasting to the input's shape ([1] / [last dim]:
        along the last axis).
      pos_weight: None, a number, or positive-class weights broadcasting to the input's shape.

    Returns:
      LossOutput with loss [*]; ``mean`` divides by the element count.

    References:
      ``torch.nn.functional.binary_cross_entropy_with_logits``.
    """
    xp = pair(predictions, targets)
    _checks.probabilities(xp, targets, "targets", warn=True)
    shape = tuple(predictions.shape)
    w = broadcast_param(xp, weight, shape, "weight")
    c = broadcast_param(xp, pos_weight, shape, "pos_weight")
    x, y = predictions, targets
    pos_term = y if c is None else c * y
    # both softplus terms are >= 0, so there is no cancellation (and x = +-1000 is exact)
    sp_pos, sp_neg, e = softplus_pair(xp, x)
    loss = pos_term * sp_neg + (1.0 - y) * sp_pos
    del sp_pos
    # NaN or infinite inputs: torch's arrangement (1 - y) x - (1 + (c - 1) y) log s(x), whose
    # NaN and infinities these are (x = -inf, y = 0.3: NaN; y = inf: -inf)
    loss = nonfinite_as(xp, loss, lambda: (1.0 - y) * x + (
        sp_neg if c is None else (1.0 + (c - 1.0) * y) * sp_neg))
    if w is not None:
        loss = loss * w

    def vjp(cot: Array) -> dict[str, Array]:
        s_pos, s_neg = sigmoid_pair(xp, x, e)
        g = (1.0 - y) * s_pos - pos_term * s_neg
        # torch's backward, (c y + 1 - y) s(x) - c y (s(x) - y without pos_weight)
        g = nonfinite_as(xp, g, lambda: s_pos - y if c is None else
                         (pos_term + 1.0 - y) * s_pos - pos_term)
        if w is not None:
            g = g * w
        return {"predictions": g * cot}

    def targets_vjp(cot: Array) -> Array:
        sp_p, sp_n, _ = softplus_pair(xp, x)
        g = (sp_n if c is None else c * sp_n) - sp_p
        if w is not None:
            g = g * w
        return g * cot

    return LossOutput(loss, vjp, {"targets": targets_vjp})


def multilabel_soft_margin(predictions: Array, targets: Array, *,
                           weight: Array | None = None) -> LossOutput:
    """Multi-label soft margin loss: the mean over classes of the per-class logistic loss.

    ``l_n = -(1/C) sum_c w_c [y log s(x) + (1 - y) log s(-x)]`` (``w`` broadcasts to the input:
    ``w_nc``, as torch's weight tensor);
    ``dl_n/dx_c = (w_c / C) (s(x_c) - y_c)``; targets (on request):
    ``dl_n/dy_c = (w_c / C) [softplus(-x_c) - softplus(x_c)]`` (``= -w_c x_c / C``).

    Args:
      predictions: [N, C] or [C] logits.
      targets: same shape, labels in {0, 1} (soft labels in [0, 1] allowed).
      weight: None, a number, or weights broadcasting to the input's shape ([C] class weights;
        (N, C), (1, C), (N, 1)).

    Returns:
      LossOutput with loss [N] (or [] for a 1-D input).

    References:
      ``torch.nn.MultiLabelSoftMarginLoss``.
    """
    _checks.ndim_in(predictions, "predictions", (1, 2), "((C,) or (N, C))")
    xp = pair(predictions, targets)
    _checks.probabilities(xp, targets, "targets", warn=True)
    n_classes = predictions.shape[-1]
    w = broadcast_param(xp, weight, tuple(predictions.shape), "weight")
    x, y = predictions, targets
    sp_pos, sp_neg, e = softplus_pair(xp, x)
    per_class = y * sp_neg + (1.0 - y) * sp_pos
    scale = 1.0 / n_classes if w is None else w / n_classes
    loss = xp.sum(per_class * scale, axis=-1)

    def vjp(cot: Array) -> dict[str, Array]:
        s_pos, s_neg = sigmoid_pair(xp, x, e)
        g = ((1.0 - y) * s_pos - y * s_neg) * scale
        return {"predictions": g * xp.expand_dims(cot, axis=-1)}

    def targets_vjp(cot: Array) -> Array:
        sp_p, sp_n, _ = softplus_pair(xp, x)
        return (sp_n - sp_p) * scale * xp.expand_dims(cot, axis=-1)

    return LossOutput(loss, vjp, {"targets": targets_vjp})


def _sample_bce_logits(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs = {"predictions": rng.normal(size=(n, c)) * 2.0, "targets": mixed_labels(rng, n, c)}
    return inputs, {"weight": random_weights(rng, c), "pos_weight": random_weights(rng, c)}


def _sample_multilabel(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs = {"predictions": rng.normal(size=(n, c)) * 2.0,
              "targets": rng.integers(0, 2, size=(n, c)).astype(float)}
    return inputs, {"weight": random_weights(rng, c)}


SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="binary_cross_entropy_with_logits",
        fn=binary_cross_entropy_with_logits,
        family="binary",
        aliases=("bce_with_logits",),
        inputs=(LOGITS, SOFT_TARGETS.requestable()),
        params=(WEIGHT, POS_WEIGHT),
        summary="Binary cross-entropy on logits (sigmoid + BCE fused, numerically stable).",
        formula=r"\ell = -w\left[c\,y \log\sigma(x) + (1 - y)\log(1 - \sigma(x))\right]",
        reference="torch.nn.BCEWithLogitsLoss / "
        "torch.nn.functional.binary_cross_entropy_with_logits; "
        "optax.losses.sigmoid_binary_cross_entropy; "
        "keras.losses.BinaryCrossentropy(from_logits=True)",
        gradient_note=r"\partial\ell/\partial x = w\left[(1 - y)\sigma(x) - c\,y\,\sigma(-x)\right]"
        r" (= w[(c y + 1 - y)\sigma(x) - c y]); c = pos_weight",
        notes="Computed as w[c y softplus(-x) + (1 - y) softplus(x)], so logits of +-1000 give "
        "exact finite values (equal to PyTorch's). Targets outside [0, 1] and negative weight "
        "or pos_weight values are computed as PyTorch does, with a warning (validate: strict "
        "refuses them). weight and pos_weight are numbers or lists broadcast along the last "
        "axis (PyTorch accepts any broadcastable tensor). mean divides by the element count. "
        "All three conventions give the same "
        "elementwise values; keras adds its mean over the last axis. weight and pos_weight are "
        "PyTorch's parameters; they are accepted under every convention (Keras and optax have "
        "no such parameters, so they reproduce those libraries only when absent).",
        conventions=(
            Convention("torch", "torch.nn.functional.binary_cross_entropy_with_logits",
                       "elementwise; mean divides by the element count"),
            keras_convention(
                "keras.losses.BinaryCrossentropy(from_logits=True)",
                "the same elementwise values (Keras' JAX, TensorFlow and torch backends use a "
                "stable log-sigmoid form; its NumPy backend instead applies sigmoid and the "
                "1e-7 clip, saturating at 16.118, which is not reproduced)"),
            Convention("optax", "optax.losses.sigmoid_binary_cross_entropy",
                       "same numbers as torch (optax returns the elementwise loss)"),
        ),
        torch_equivalent="torch.nn.functional.binary_cross_entropy_with_logits",
        sampler=_sample_bce_logits,
        examples=(
            Example("logits with soft labels", {"predictions": [2.0, -1.0, 0.5],
                                                "targets": [1.0, 0.0, 0.3]}),
            Example("pos_weight per class", {"predictions": [[1.5, -0.5], [-2.0, 0.2]],
                                             "targets": [[1.0, 0.0], [0.0, 1.0]]},
                    {"pos_weight": [2.0, 0.5]}),
        ),
    ),
    LossSpec(
        name="multilabel_soft_margin",
        fn=multilabel_soft_margin,
        family="binary",
        inputs=(
            InputSpec("predictions", "logits", "(N, C) or (C,)", "one logit per class",
                      differentiable=True),
            InputSpec("targets", "binary_labels", "same shape as predictions",
                      "per-class labels in {0, 1} (soft labels in [0, 1] allowed)",
                      grad_on_request=True),
        ),
        params=(ParamSpec("weight", "float_or_float_tensor", None,
                          "class weight: a number, one weight per class (length C, or 1), or a "
                          "nested list that broadcasts to the predictions' shape ((N, C), (1, C), "
                          "(N, 1): torch's weight tensor)",
                          minimum=0.0, nullable=True, warn_outside_range=True),),
        summary="Multi-label soft margin loss: per-sample mean over classes of the logistic loss.",
        formula=r"\ell_n = -\frac{1}{C}\sum_c w_c\left[y_{nc}\log\sigma(x_{nc}) + "
        r"(1 - y_{nc})\log\sigma(-x_{nc})\right]",
        reference="torch.nn.MultiLabelSoftMarginLoss / "
        "torch.nn.functional.multilabel_soft_margin_loss",
        gradient_note=r"\partial\ell_n/\partial x_{nc} = \frac{w_c}{C}(\sigma(x_{nc}) - y_{nc})",
        notes="The unreduced loss has one value per sample (shape (N,), or () for a 1-D input), "
        "so mean averages over samples. Equals the per-sample mean over classes of "
        "binary_cross_entropy_with_logits with weight. Inputs are restricted to the documented "
        "(N, C) / (C,) shapes; negative weights and targets outside [0, 1] get a warning, as "
        "PyTorch computes on them (validate: strict refuses them).",
        torch_equivalent="torch.nn.functional.multilabel_soft_margin_loss",
        sampler=_sample_multilabel,
        examples=(Example("two samples, three labels",
                          {"predictions": [[2.0, -1.0, 0.5], [-0.3, 1.2, -2.2]],
                           "targets": [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]}),),
    ),
)
