"""The sigmoid focal loss (RetinaNet) under torchvision's, optax's or Keras's definition
(``convention``), and :func:`focal_alpha`, its alpha default per convention.

Part of the binary family: :mod:`.binary` gathers its spec into the family's ``SPECS``. Why a
module of its own: the family outgrew one file (issue 18), and this loss is its largest, with
three conventions; its alpha default is shared with the fused kernel (:mod:`.accel.table`) and
the grader (:mod:`service.grading.variants`). alpha defaults to 0.25 (torch) or none (optax);
keras is Keras' clipped BinaryFocalCrossentropy on logits (:func:`.keras_focal.binary_focal`).
The softmax (multiclass) focal loss is :mod:`.softmax_focal`.
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._binary import LOGITS, SOFT_TARGETS, mixed_labels, pair
from ._math import sigmoid_pair, softplus_pair
from .keras_focal import binary_focal as _keras_binary_focal
from .spec import (
    Array,
    Convention,
    Example,
    LossOutput,
    LossSpec,
    ParamSpec,
    keras_convention,
)

TORCH_FOCAL_ALPHA = 0.25  # torchvision.ops.sigmoid_focal_loss's default


def focal_alpha(alpha: float | None, convention: str | None) -> float:
    """The alpha :func:`sigmoid_focal` uses: ``alpha`` as given, or for ``None`` the
    convention's default: 0.25 for ``torch`` (torchvision), -1 (no weighting) otherwise."""
    if alpha is not None:
        return alpha
    return TORCH_FOCAL_ALPHA if convention in (None, "torch") else -1.0


def sigmoid_focal(predictions: Array, targets: Array, *, alpha: float | None = None,
                  gamma: float = 2.0, convention: str = "torch") -> LossOutput:
    """Sigmoid focal loss (RetinaNet).

    ``l = a_t (1 - p_t)^gamma BCEWithLogits(x, y)``, ``p = s(x)``, ``p_t = p y + (1 - p)(1 - y)``,
    ``a_t = alpha y + (1 - alpha)(1 - y)`` (1 when alpha = -1). ``1 - p_t`` is computed as
    ``q = s(x)(1 - y) + s(-x) y`` (no cancellation). With ``ce' = (1 - y) s(x) - y s(-x)`` and
    ``q' = (1 - 2y) s(x) s(-x)``: ``dl/dx = a_t [gamma q^(gamma-1) q' ce + q^gamma ce']``; the first
    term is evaluated in log space and taken as 0 where ``q == 0`` (its limit), so
    ``0 < gamma < 1`` gives no NaN.

    Targets (on request; torchvision's loss is differentiable in them), torch and optax:
    ``dl/dy = (2 alpha - 1) q^gamma ce + a_t [gamma q^(gamma-1) (s(-x) - s(x)) ce
    + q^gamma (softplus(-x) - softplus(x))]`` (no first term without alpha; the middle term 0
    where ``q == 0``, its limit since ``ce ~ q`` there).

    ``alpha=None`` is the convention's default: 0.25 for ``torch`` (torchvision), no weighting for
    ``optax``. ``keras`` is Keras' ``BinaryFocalCrossentropy(from_logits=True)``: sigmoid, then the
    clipped-probability BCE, no alpha (see :func:`.keras_focal.binary_focal`).

    Args:
      predictions: [*] logits x.
      targets: [*] labels y in [0, 1] (soft labels allowed), same shape.
      alpha: weight of the positive class in [0, 1], -1 for no weighting, or None (the
        convention's default); ``keras`` takes only None or -1.
      gamma: focusing exponent, >= 0 (0 gives alpha-weighted BCE with logits).
      convention: "torch", "optax" or "keras".

    Returns:
      LossOutput with loss [*].

    References:
      Lin et al., Focal Loss for Dense Object Detection (2017);
      ``torchvision.ops.sigmoid_focal_loss``; ``optax.losses.sigmoid_focal_loss``;
      ``keras.losses.BinaryFocalCrossentropy``.
    """
    if convention == "keras":
        if alpha is not None and alpha >= 0.0:
            raise errors.InvalidParam(
                "convention keras: BinaryFocalCrossentropy uses alpha only with "
                "apply_class_balancing=True; leave alpha null here, or use binary_focal with "
                "apply_class_balancing and from_logits for Keras' class-balanced loss",
                ("params", "alpha"),
            )
        return _keras_binary_focal(predictions, targets, gamma=gamma, from_logits=True)
    alpha = focal_alpha(alpha, convention)
    xp = pair(predictions, targets)
    _checks.probabilities(xp, targets, "targets")
    x, y = predictions, targets
    sp_pos, sp_neg, e = softplus_pair(xp, x)  # -log s(-x), -log s(x)
    s, t = sigmoid_pair(xp, x, e)
    ce = y * sp_neg + (1.0 - y) * sp_pos
    q = s * (1.0 - y) + t * y
    mod = q**gamma
    a_t = None if alpha < 0 else alpha * y + (1.0 - alpha) * (1.0 - y)
    loss = mod * ce if a_t is None else a_t * mod * ce

    def vjp(cot: Array) -> dict[str, Array]:
        g = mod * ((1.0 - y) * s - y * t)
        if gamma != 0.0:
            # s t q^(gamma-1) = exp(log s + log t + (gamma-1) log q) <= 2, never overflows
            live = q > 0.0
            log_q = xp.log(xp.where(live, q, xp.ones_like(q)))
            r = xp.exp((gamma - 1.0) * log_q - sp_neg - sp_pos)
            g = g + xp.where(live, gamma * (1.0 - 2.0 * y) * r * ce, xp.zeros_like(q))
        if a_t is not None:
            g = a_t * g
        return {"predictions": g * cot}

    def targets_vjp(cot: Array) -> Array:
        g = mod * (sp_neg - sp_pos)
        if gamma != 0.0:
            live = q > 0.0
            q_safe = xp.where(live, q, xp.ones_like(q))
            dmod = xp.where(live, gamma * q_safe ** (gamma - 1.0) * ce, xp.zeros_like(q))
            g = g + dmod * (t - s)
        if a_t is not None:
            g = a_t * g + (2.0 * alpha - 1.0) * mod * ce
        return g * cot

    return LossOutput(loss, vjp, {"targets": targets_vjp})


def _sample_focal(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs = {"predictions": rng.normal(size=(n, c)) * 2.0, "targets": mixed_labels(rng, n, c)}
    return inputs, {"alpha": 0.3, "gamma": 1.5}


SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="sigmoid_focal",
        fn=sigmoid_focal,
        family="binary",
        inputs=(LOGITS, SOFT_TARGETS.requestable()),
        params=(
            ParamSpec("alpha", "float", None, "weight of the positive class in [0, 1]; -1 "
                      "disables the weighting; null (the default) takes the convention's "
                      "default: 0.25 for torch (torchvision), no weighting for optax (alpha=None) "
                      "and keras (alpha is unused without apply_class_balancing; keras accepts "
                      "only null or -1)", minimum=0.0, maximum=1.0, extra_allowed=(-1.0,),
                      nullable=True),
            ParamSpec("gamma", "float", 2.0, "focusing exponent; 0 gives (alpha-weighted) BCE",
                      minimum=0.0),
        ),
        summary="Sigmoid focal loss (RetinaNet): BCE with logits down-weighted on easy examples.",
        formula=r"\ell = \alpha_t (1 - p_t)^\gamma\,\mathrm{BCE}(x, y),\ p = \sigma(x),\ "
        r"p_t = p y + (1 - p)(1 - y),\ \alpha_t = \alpha y + (1 - \alpha)(1 - y)",
        reference="Lin et al. (2017), Focal Loss for Dense Object Detection; "
        "torchvision.ops.sigmoid_focal_loss; optax.losses.sigmoid_focal_loss; "
        "keras.losses.BinaryFocalCrossentropy",
        gradient_note=r"with q = 1 - p_t = \sigma(x)(1-y) + \sigma(-x)y: "
        r"\partial\ell/\partial x = \alpha_t[\gamma q^{\gamma-1} q' \mathrm{BCE} + "
        r"q^\gamma((1-y)\sigma(x) - y\sigma(-x))], q' = (1-2y)\sigma(x)\sigma(-x); valid for "
        "soft labels. Where q = 0 (a saturated, correct logit) the first term is taken as its "
        "limit 0, so 0 < gamma < 1 gives a zero gradient instead of NaN (torch and optax). "
        "keras: binary_focal's gradient (from_logits): the clipped BCE's slope is 0 where the "
        "clip is active, then times sigma(x) sigma(-x).",
        notes="torch (default): torchvision semantics (alpha = -1 disables the weighting; "
        "alpha = -1, gamma = 0 is exactly BCE with logits), but the default reduction here is "
        "'mean' while torchvision's default is 'none'. 1 - p_t is computed without "
        "cancellation, so saturated logits keep their tiny loss where torchvision rounds it to "
        "0. optax: the same formula (optax also computes 1 - p_t in log space) with alpha "
        "defaulting to no weighting. keras: BinaryFocalCrossentropy(from_logits=True, "
        "apply_class_balancing=False), which applies sigmoid and then the clipped probability "
        "BCE, so it is not logit-stable (a logit of -1000 with y = 1 gives 16.118, and the "
        "gradient vanishes once sigmoid saturates); Keras' class-balanced form is binary_focal "
        "with apply_class_balancing and from_logits. Before conventions, alpha defaulted to "
        "0.25; an explicit alpha means what it meant.",
        conventions=(
            Convention("torch", "torchvision.ops.sigmoid_focal_loss",
                       "alpha defaults to 0.25; elementwise, mean divides by the element count"),
            Convention("optax", "optax.losses.sigmoid_focal_loss",
                       "alpha defaults to no weighting (optax's alpha=None); otherwise the same "
                       "numbers as torch"),
            keras_convention(
                "keras.losses.BinaryFocalCrossentropy(from_logits=True, "
                "apply_class_balancing=False)",
                "p = sigmoid(x) clipped to [1e-7, 1 - 1e-7] inside the BCE (not logit-stable: "
                "saturates at 16.118, gradient 0 where the clip is active), times "
                "(1 - p_t)^gamma with the unclipped p; no alpha weighting (alpha must be null or "
                "-1; use binary_focal for apply_class_balancing)"),
        ),
        sampler=_sample_focal,
        examples=(Example("RetinaNet defaults", {"predictions": [3.0, -1.0, 0.5, -4.0],
                                                 "targets": [1.0, 1.0, 0.0, 0.0]}),),
    ),
)
