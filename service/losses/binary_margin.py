"""Margin losses on sign labels: soft_margin, hinge, squared_hinge (part of the binary family).

Each kernel takes ``predictions`` (raw scores) and ``targets`` (labels in {-1, 1}) of the same shape
``(*)`` (no broadcasting) and returns the elementwise loss with its vector-Jacobian product. The
hinge losses also accept a batch whose labels are *all* in {0, 1}, mapped to {-1, 1} by ``2y - 1``
(Keras' ``convert_binary_labels_to_hinge`` rule). The specs are exported through
:mod:`service.losses.binary`.

Conventions (no PyTorch equivalent): ``elementwise``, the default (the label rule above, one loss
per score: a 1-D input is N samples, as optax, scikit-learn and the course notes read it),
``keras`` (the same label rule, then Keras' mean over the last axis, applied generically),
``optax`` (``hinge_loss``: labels used as given, elementwise) and ``sklearn`` (binary
``hinge_loss``: (n,) decisions, the larger of two label values is +1, the other -1).
squared_hinge exists only in Keras; its default is hinge's default, squared (issue 19).
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._math import as_float, nonfinite_as, ns, sigmoid, softplus
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

SCORES = InputSpec("predictions", "scores", "(*)", "raw real-valued scores (decision values)",
                   differentiable=True)
SIGN_TARGETS = InputSpec("targets", "sign_labels", "(*), same shape as predictions",
                         "labels in {-1, 1}")
_KERAS_LABELS = ("labels in {-1, 1}, or a batch whose labels are all in {0, 1} (mapped to {-1, 1} "
                 "by 2y - 1)")
HINGE_TARGETS = InputSpec(
    "targets", "sign_labels", "(*), same shape as predictions; (n,) for convention sklearn",
    _KERAS_LABELS + " (conventions elementwise and keras); convention optax: labels in "
    "{-1, 0, 1} used as given; convention "
    "sklearn: at most two distinct whole numbers, the larger meaning +1 (one distinct value "
    "means -1)",
)
SQUARED_HINGE_TARGETS = InputSpec("targets", "sign_labels", "(*), same shape as predictions",
                                  _KERAS_LABELS)
MARGIN = ParamSpec("margin", "float", 1.0, "the margin m: scores with y*s >= m cost nothing",
                   minimum=0.0)


def _pair(predictions: Array, targets: Array) -> Any:
    _checks.same_shape(predictions, targets, "predictions", "targets")
    return ns(predictions, targets)


def _hinge_labels(xp: Any, y: Array) -> Array:
    """``y`` as {-1, 1} labels: all-{0, 1} batches map by ``2y - 1``; anything else must be +-1."""
    if bool(xp.all((y == 0.0) | (y == 1.0))):
        return 2.0 * y - 1.0
    ok = (y == -1.0) | (y == 1.0)
    if not bool(xp.all(ok)):
        off = ~(ok | (y == 0.0))  # in neither label set (0.5, NaN): the one to report first
        idx = _checks.first_index(xp, off if bool(xp.any(off)) else ~ok)
        value = float(y[idx])
        why = " (0 is only accepted when every label is 0 or 1)" if value == 0.0 else ""
        raise errors.InvalidLabel(
            f"targets must be all in {{-1, 1}} or all in {{0, 1}}; found {value:g}{why}",
            ("targets", *idx),
        )
    return y


def soft_margin(predictions: Array, targets: Array) -> LossOutput:
    """Soft margin (logistic) loss on sign labels.

    ``l = log(1 + exp(-y x)) = softplus(-y x)``; ``dl/dx = -y sigmoid(-y x)``. Computed with the
    stable softplus, so it stays finite (and exact) at any finite score.

    Args:
      predictions: [*] raw scores.
      targets: [*] labels in {-1, 1}, same shape.

    Returns:
      LossOutput with loss [*].

    References:
      ``torch.nn.SoftMarginLoss``.
    """
    xp = _pair(predictions, targets)
    _checks.labels_in(xp, targets, "targets", (-1.0, 1.0), warn=True)  # torch: any label
    z = -targets * predictions
    loss = softplus(xp, z)

    def vjp(cot: Array) -> dict[str, Array]:
        # where z is NaN or infinite, torch's backward -y e^z / (1 + e^z) (NaN at z = inf)
        g = nonfinite_as(xp, -targets * sigmoid(xp, z),
                         lambda: -targets * xp.exp(z) / (1.0 + xp.exp(z)), key=z)
        return {"predictions": g * cot}

    return LossOutput(loss, vjp)


def _sklearn_labels(xp: Any, predictions: Array, t: Array) -> Array:
    """scikit-learn's binary ``hinge_loss`` labels: ``LabelBinarizer(neg_label=-1)`` on (n,) labels.

    Labels are whole numbers (sklearn refuses continuous targets). Two distinct values: the
    larger is +1, the other -1. One distinct value: every label is -1 (sklearn's quirk:
    ``hinge_loss([1, 1], [0.5, 2]) = 2.25``). More than two: refused (sklearn's multiclass form
    is multiclass_hinge_cs).
    """
    _checks.ndim_in(predictions, "predictions", (1,),
                    "(convention sklearn: binary hinge_loss takes (n,) decision values)")
    fractional = t != xp.round(t)
    if bool(xp.any(fractional)):
        idx = _checks.first_index(xp, fractional)
        raise errors.InvalidLabel(
            f"convention sklearn: labels must be class labels (whole numbers; sklearn refuses "
            f"continuous targets); found {float(t[idx]):g}",
            ("targets", *idx),
        )
    lo, hi = xp.min(t), xp.max(t)
    third = (t != lo) & (t != hi)
    if bool(xp.any(third)):
        idx = _checks.first_index(xp, third)
        raise errors.InvalidLabel(
            f"convention sklearn: the binary hinge_loss takes at most two distinct label values; "
            f"found {float(lo):g}, {float(hi):g} and {float(t[idx]):g} (the multiclass form is "
            "multiclass_hinge_cs)",
            ("targets", *idx),
        )
    return 2.0 * as_float(xp, (t == hi) & (lo < hi), t) - 1.0


def hinge(predictions: Array, targets: Array, *, margin: float = 1.0,
          convention: str = "elementwise") -> LossOutput:
    """Binary hinge loss.

    ``l = max(0, m - y s)``; ``dl/ds = -y 1[m - y s > 0]`` (strict: 0 at the kink ``y s = m``).
    The conventions differ only in how labels become ``y``: ``elementwise`` and ``keras`` map an
    all-{0, 1} batch by ``2y - 1`` (otherwise labels must be +-1); ``optax`` uses labels in
    {-1, 0, 1} as given;
    ``sklearn`` maps the larger of two distinct values to +1, the other (or a single value) to -1.

    Args:
      predictions: [*] raw scores ([n] for ``sklearn``).
      targets: [*] labels, same shape (see above).
      margin: the margin m, >= 0.
      convention: "elementwise", "keras", "optax" or "sklearn" (Keras' last-axis mean is
        applied outside the kernel).

    Returns:
      LossOutput with loss [*].

    References:
      Cortes & Vapnik, Support-vector networks (1995); ``keras.losses.Hinge``;
      ``optax.losses.hinge_loss``; ``sklearn.metrics.hinge_loss`` (binary).
    """
    xp = _pair(predictions, targets)
    if convention == "optax":
        _checks.labels_in(xp, targets, "targets", (-1.0, 0.0, 1.0))
        y = targets
    elif convention == "sklearn":
        y = _sklearn_labels(xp, predictions, targets)
    else:
        y = _hinge_labels(xp, targets)
    gap = margin - y * predictions
    loss = xp.maximum(gap, 0.0)
    return LossOutput(
        loss, lambda cot: {"predictions": -y * as_float(xp, gap > 0.0, gap) * cot}
    )


def squared_hinge(predictions: Array, targets: Array, *, margin: float = 1.0) -> LossOutput:
    """Squared binary hinge loss.

    ``l = max(0, m - y s)^2``; ``dl/ds = -2 y max(0, m - y s)`` (continuous, no kink choice).

    Args:
      predictions: [*] raw scores.
      targets: [*] labels in {-1, 1} (or all in {0, 1}, mapped by ``2y - 1``), same shape.
      margin: the margin m, >= 0.

    Returns:
      LossOutput with loss [*].

    References:
      ``keras.losses.SquaredHinge``; L2-SVM (Lee & Mangasarian, 2001).
    """
    xp = _pair(predictions, targets)
    y = _hinge_labels(xp, targets)
    h = xp.maximum(margin - y * predictions, 0.0)
    return LossOutput(h * h, lambda cot: {"predictions": -2.0 * y * h * cot})


def _sample_soft_margin(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"predictions": rng.normal(size=(n, c)) * 2.0,
            "targets": rng.choice([-1.0, 1.0], size=(n, c))}, {}


def _sample_hinge(margin: float, zero_one: bool) -> Any:
    def sample(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
        y = rng.choice([-1.0, 1.0], size=(n, c))
        # margin - y*s = d with |d| in [0.1, 1.5]: active and inactive elements, none at the kink
        d = rng.uniform(0.1, 1.5, size=(n, c)) * rng.choice([-1.0, 1.0], size=(n, c))
        s = y * (margin - d)
        targets = (y + 1.0) / 2.0 if zero_one else y
        params = {} if margin == 1.0 else {"margin": margin}
        return {"predictions": s, "targets": targets}, params

    return sample


_COMMON: dict[str, Any] = {"family": "binary"}

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="soft_margin",
        fn=soft_margin,
        inputs=(SCORES, SIGN_TARGETS),
        summary="Soft margin (logistic) loss on {-1, 1} labels: log(1 + exp(-y x)).",
        formula=r"\ell = \log\left(1 + e^{-y x}\right),\ y \in \{-1, 1\}",
        reference="torch.nn.SoftMarginLoss / torch.nn.functional.soft_margin_loss",
        gradient_note=r"\partial\ell/\partial x = -y\,\sigma(-y x)",
        notes="Equals binary_cross_entropy_with_logits on the labels (y + 1)/2. Computed as "
        "softplus(-y x), so it is finite and exact at any finite score; PyTorch evaluates "
        "log(1 + exp(-y x)) naively and returns inf at x = -1000, y = 1 (we return 1000). "
        "Targets outside {-1, 1} are computed as PyTorch does (any value multiplies), with a "
        "warning 'invalid_label' (validate: strict refuses them).",
        torch_equivalent="torch.nn.functional.soft_margin_loss",
        sampler=_sample_soft_margin,
        examples=(Example("scores against {-1, 1} labels",
                          {"predictions": [2.0, -0.5, 0.3], "targets": [1.0, 1.0, -1.0]}),),
        **_COMMON,
    ),
    LossSpec(
        name="hinge",
        fn=hinge,
        inputs=(SCORES, HINGE_TARGETS),
        params=(MARGIN,),
        summary="Binary hinge loss (linear SVM): max(0, margin - y s).",
        formula=r"\ell = \max(0,\ m - y s),\ y \in \{-1, 1\}",
        reference="Cortes & Vapnik (1995), Support-vector networks; keras.losses.Hinge; "
        "sklearn.metrics.hinge_loss (binary); optax.losses.hinge_loss",
        gradient_note=r"\partial\ell/\partial s = -y\,\mathbb{1}[m - y s > 0]; strict, so the "
        "gradient is 0 at the kink y s = m (torch relu's choice; JAX jnp.maximum gives half).",
        notes="No PyTorch equivalent (MultiMarginLoss with C = 2 and HingeEmbeddingLoss differ). "
        "The default, elementwise, is what optax, scikit-learn and the course notes (max(0, 1 - "
        "y f(x)) per sample) agree on: one loss per score, so a 1-D input is N samples, and mean "
        "with sample_weight is the weighted average; on {-1, 1} labels it equals optax's "
        "hinge_loss and (1-D) scikit-learn's. Its label rule is scikit-learn's and Keras' "
        "rather than optax's: a batch whose labels are all in {0, 1} is mapped to {-1, 1} by "
        "2y - 1; otherwise every label must be -1 or 1 (a batch mixing 0 and -1 is rejected with "
        "invalid_label, where Keras would leave it unconverted). keras: the same labels, and the "
        "per-sample loss is the mean over the last axis, so a 1-D input is one sample (reduction "
        "'none' gives a scalar); mean with sample_weight divides by the count. Until issue 19 "
        "keras was the default. optax: elementwise, labels "
        "used as given (a 0 label costs max(0, m)). sklearn: (n,) decisions only; labels by "
        "order (any two whole numbers; a single distinct value means -1 for every label); "
        "fractional labels and more than two distinct values are refused (use "
        "multiclass_hinge_cs, sklearn's multiclass form); mean with sample_weight is "
        "np.average. Keras, optax and sklearn fix the margin at 1: margin is accepted under "
        "every convention and equals theirs at 1.",
        conventions=(
            Convention(
                "elementwise",
                "optax.losses.hinge_loss and sklearn.metrics.hinge_loss (binary) on {-1, 1} "
                "labels; the course notes' max(0, 1 - y f(x))",
                "the default: elementwise (a 1-D input is N samples); labels in {-1, 1}, or an "
                "all-{0, 1} batch mapped by 2y - 1; mean with sample_weight is the weighted "
                "average (divides by the weights' sum)"),
            keras_convention(
                "keras.losses.Hinge",
                "labels: an all-{0, 1} batch is mapped by 2y - 1, otherwise labels must be -1 or "
                "1 (as the default)"),
            Convention(
                "optax", "optax.losses.hinge_loss",
                "elementwise; labels in {-1, 0, 1} used as given, with no {0, 1} mapping, so a 0 "
                "label contributes max(0, margin) with gradient 0; at the kink optax's "
                "jnp.maximum gives gradient -y/2, we give 0"),
            Convention(
                "sklearn", "sklearn.metrics.hinge_loss (binary: (n,) decision values)",
                "predictions and targets must be 1-D; labels are whole numbers, and of two "
                "distinct values the larger is +1 and the other -1 (e.g. {1, 2}); with one "
                "distinct value every label is -1 (hinge_loss([1, 1], [0.5, 2]) = 2.25); "
                "fractional labels and more than two distinct values are refused "
                "(invalid_label; the multiclass form is multiclass_hinge_cs); sample_weight "
                "gives a weighted average (np.average)"),
        ),
        sampler=_sample_hinge(1.0, zero_one=False),
        examples=(
            Example("{-1, 1} labels", {"predictions": [0.8, -2.0, 0.3, 1.5],
                                       "targets": [1.0, -1.0, -1.0, 1.0]}),
            Example("{0, 1} labels are mapped to {-1, 1}",
                    {"predictions": [0.8, -2.0, 0.3], "targets": [1.0, 0.0, 0.0]},
                    {"margin": 0.5}),
        ),
        **_COMMON,
    ),
    LossSpec(
        name="squared_hinge",
        fn=squared_hinge,
        inputs=(SCORES, SQUARED_HINGE_TARGETS),
        params=(MARGIN,),
        summary="Squared binary hinge loss (L2-SVM): max(0, margin - y s)^2.",
        formula=r"\ell = \max(0,\ m - y s)^2,\ y \in \{-1, 1\}",
        reference="keras.losses.SquaredHinge; Lee & Mangasarian (2001), SSVM",
        gradient_note=r"\partial\ell/\partial s = -2y\,\max(0,\ m - y s) (continuous)",
        notes="No PyTorch equivalent, and only Keras has it (optax and scikit-learn do not), so "
        "the default, elementwise, is the square of hinge's default: one loss per score (a 1-D "
        "input is N samples, as the course notes read the hinge), the same label rule as hinge "
        "(all-{0, 1} batches are mapped by 2y - 1), and mean with sample_weight is the weighted "
        "average; it equals jnp.square(optax.losses.hinge_loss(s, y)) on {-1, 1} labels. "
        "convention='keras' adds Keras' mean over the last axis (a 1-D input is one sample) and "
        "divides a weighted mean by the count; until issue 19 it was the default. Keras fixes "
        "the margin at 1; margin is accepted and equals Keras at 1.",
        conventions=(
            Convention(
                "elementwise",
                "hinge's default, squared: jnp.square(optax.losses.hinge_loss(s, y)) on {-1, 1} "
                "labels (optax and scikit-learn have no squared hinge)",
                "the default: elementwise (a 1-D input is N samples); labels in {-1, 1}, or an "
                "all-{0, 1} batch mapped by 2y - 1; mean with sample_weight is the weighted "
                "average (divides by the weights' sum)"),
            keras_convention("keras.losses.SquaredHinge",
                             "labels: an all-{0, 1} batch is mapped by 2y - 1 (as the default)"),
        ),
        sampler=_sample_hinge(0.5, zero_one=True),
        examples=(Example("{-1, 1} labels", {"predictions": [0.8, -2.0, 0.3],
                                             "targets": [1.0, -1.0, -1.0]}),),
        **_COMMON,
    ),
)
