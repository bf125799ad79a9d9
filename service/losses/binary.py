"""Binary losses: cross-entropy on probabilities and logits, multi-label, focal, likelihood.

Every kernel takes ``predictions`` and ``targets`` of the same shape (no broadcasting; targets in
[0, 1], soft labels allowed) and returns the loss in PyTorch's ``reduction='none'`` shape with its
vector-Jacobian product. The margin losses on {-1, 1} labels (soft_margin, hinge, squared_hinge)
live in :mod:`service.losses.binary_margin`; :data:`SPECS` exports the whole family.

``weight`` / ``pos_weight`` parameters are a number, a list broadcast along the last axis (length 1
or the last dimension), or a nested list (an N-D array) that broadcasts to the input's shape
without changing it, as PyTorch's weight tensors do (``(N, C)``, ``(1, C)``, ``(N, 1)``...).

Conventions (``convention``; PyTorch's is the default): binary_cross_entropy clamps each log at
-100 (torch), clips p to [1e-7, 1 - 1e-7] (keras) or p and 1 - p to the dtype's [eps, 1 - eps]
(sklearn); binary_cross_entropy_with_logits is the same elementwise in torch, keras and optax;
sigmoid_focal's alpha defaults to 0.25 (torch) or none (optax), and keras is Keras' clipped
BinaryFocalCrossentropy on logits. Keras' mean over the last axis is applied generically.
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._math import as_float, nonfinite_as, ns, sigmoid_pair, softplus_pair
from .binary_margin import SPECS as _MARGIN_SPECS
from .keras_focal import binary_focal as _keras_binary_focal
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

PROBS = InputSpec("predictions", "probabilities", "(*)", "predicted probabilities in [0, 1]",
                  differentiable=True)
LOGITS = InputSpec("predictions", "logits", "(*)", "logits (sigmoid gives the probability)",
                   differentiable=True)
SOFT_TARGETS = InputSpec("targets", "binary_labels", "(*), same shape as predictions",
                         "labels in {0, 1}, or soft labels in [0, 1]")

_WEIGHT_TEXT = ("a number, a list of length 1 or of the last dimension (broadcast along the last "
                "axis), or a nested list that broadcasts to the predictions' shape (e.g. (N, C), "
                "(1, C) or (N, 1)); multiplies the loss (it is not in the mean's denominator)")
WEIGHT = ParamSpec("weight", "float_or_float_tensor", None, "rescaling weight: " + _WEIGHT_TEXT,
                   minimum=0.0, nullable=True, warn_outside_range=True)
LABEL_SMOOTHING = ParamSpec(
    "label_smoothing", "float", 0.0,
    "ls: targets become y (1 - ls) + ls / 2 (Keras' binary formula, toward 1/2; applied under "
    "every convention; PyTorch's BCE has no smoothing)", minimum=0.0, maximum=1.0)
POS_WEIGHT = ParamSpec("pos_weight", "float_or_float_tensor", None,
                       "weight of the positive (y) term: a number, a list of length 1 or of the "
                       "last dimension (per class, broadcast along the last axis), or a nested "
                       "list that broadcasts to the predictions' shape",
                       minimum=0.0, nullable=True, warn_outside_range=True)

LOG_CLAMP = -100.0  # PyTorch clamps each log of BCE at -100
KERAS_EPS = 1e-7  # keras.backend.epsilon(): Keras clips probabilities to [1e-7, 1 - 1e-7]
# PyTorch's floor on p (1 - p) in the BCE gradient: the float32 literal 1e-12f (also in float64)
BCE_EPS = 9.999999960041972e-13


def _pair(predictions: Array, targets: Array) -> Any:
    _checks.same_shape(predictions, targets, "predictions", "targets")
    return ns(predictions, targets)


def _broadcast_param(xp: Any, value: Any, shape: tuple[int, ...], name: str) -> Any:
    """``value`` (None, a float or an array) ready to broadcast against an input of ``shape``.

    An array must broadcast to ``shape`` without changing it (NumPy's and torch's rules: the
    result keeps the input's shape, as torch requires): a 1-D value of length 1 or ``shape[-1]``
    is the per-last-axis form, (1, C), (N, 1) or (N, C) broadcast over both axes. For a 0-d input
    a value of size 1 is taken as a scalar (torch refuses a (1,) weight there).
    """
    if value is None or not hasattr(value, "ndim"):
        return value
    if not shape and value.ndim <= 1 and int(value.size) == 1:
        return xp.reshape(value, ())
    vs, ok = tuple(int(d) for d in value.shape), value.ndim <= len(shape)
    ok = ok and all(v in (1, t) for v, t in zip(reversed(vs), reversed(shape), strict=False))
    if not ok:
        raise errors.InvalidParam(
            f"{name} of shape {_checks.fmt_shape(vs)} does not broadcast to the input shape "
            f"{_checks.fmt_shape(shape)} (a number, a list of length 1 or of the last dimension, "
            "or an array that broadcasts to the input's shape without changing it)",
            ("params", name),
        )
    return value


def _clamped_logs(xp: Any, p: Array) -> tuple[Array, Array]:
    """(max(log p, -100), max(log1p(-p), -100)), with log 0 = -100 and no warning (PyTorch)."""
    floor = xp.full_like(p, LOG_CLAMP)
    pos, below_one = p > 0.0, p < 1.0
    log_p = xp.log(xp.where(pos, p, xp.ones_like(p)))
    log_q = xp.log1p(-xp.where(below_one, p, xp.zeros_like(p)))
    return (xp.where(pos, xp.maximum(log_p, LOG_CLAMP), floor),
            xp.where(below_one, xp.maximum(log_q, LOG_CLAMP), floor))


def _smoothed(y: Array, label_smoothing: float) -> Array:
    """Keras' binary label smoothing: ``y (1 - ls) + ls / 2`` (toward 1/2)."""
    return y * (1.0 - label_smoothing) + 0.5 * label_smoothing if label_smoothing else y


def _clipped(xp: Any, p: Array, eps: float) -> tuple[Array, Array]:
    """``clip(p, eps, 1 - eps)`` (bounds rounded to p's dtype) and the mask where the gradient
    passes (inside, or exactly at a bound, as torch.clamp; 0 where the clip is active)."""
    inside = as_float(xp, (p >= eps) & (p <= 1.0 - eps), p)
    return xp.clip(p, eps, 1.0 - eps), inside


def binary_cross_entropy(predictions: Array, targets: Array, *, weight: Any = None,
                         label_smoothing: float = 0.0, convention: str = "torch") -> LossOutput:
    """Binary cross-entropy on probabilities.

    With ``y = t (1 - ls) + ls / 2`` (Keras' smoothing; ``y = t`` by default):

    * ``torch``: ``l = -w [y max(log p, -100) + (1 - y) max(log(1 - p), -100)]``;
      ``dl/dp = w (p - y) / max(p (1 - p), 1e-12f)`` (PyTorch's formula, also where a log is
      clamped).
    * ``keras``: ``pc = clip(p, 1e-7, 1 - 1e-7)``, ``l = -w [y log pc + (1 - y) log(1 - pc)]``;
      ``dl/dp = w [(1 - y)/(1 - pc) - y/pc]`` where the clip passes, 0 where it is active.
    * ``sklearn``: ``e`` = the dtype's eps, ``l = -w [y log clip(p, e, 1 - e) + (1 - y) log
      clip(1 - p, e, 1 - e)]`` (log_loss clips both columns [1 - p, p]); gradient 0 where a
      clip is active.

    Targets (on request), ``dl/dt = (1 - ls) dl/dy`` with ``dl/dy = -w logit(p) = -w [log p -
    log(1 - p)]`` under ``torch`` (PyTorch's target gradient: the logs unclamped, so +-inf at
    p = 0 or 1), ``-w [log pc - log(1 - pc)]`` under keras and ``-w [log pc - log qc]`` under
    sklearn (the clipped logs of the loss).

    Args:
      predictions: [*] probabilities p in [0, 1].
      targets: [*] labels t in [0, 1] (soft labels allowed), same shape.
      weight: None, a number, or an array broadcasting to the input's shape ([1] / [last dim]:
        along the last axis).
      label_smoothing: ls in [0, 1].
      convention: "torch", "keras" or "sklearn".

    Returns:
      LossOutput with loss [*]; ``mean`` divides by the element count, not by the weights.

    References:
      ``torch.nn.functional.binary_cross_entropy``; ``keras.losses.BinaryCrossentropy``;
      ``sklearn.metrics.log_loss``.
    """
    xp = _pair(predictions, targets)
    # torch refuses values outside [0, 1] in both, NaN included ("all elements of input should
    # be between 0 and 1")
    _checks.probabilities(xp, predictions, "predictions", nan=False)
    _checks.probabilities(xp, targets, "targets", nan=False)
    w = _broadcast_param(xp, weight, tuple(predictions.shape), "weight")
    p, y = predictions, _smoothed(targets, label_smoothing)
    if convention == "torch":
        log_p, log_q = _clamped_logs(xp, p)
        loss = (y - 1.0) * log_q - y * log_p  # PyTorch's arrangement of -[y log p + (1-y) log(1-p)]

        def slope() -> Array:
            return (p - y) / xp.maximum((1.0 - p) * p, BCE_EPS)

        def t_slope() -> Array:
            return xp.log1p(-p) - xp.log(p)
    elif convention == "keras":
        pc, ok = _clipped(xp, p, KERAS_EPS)
        loss = -(y * xp.log(pc) + (1.0 - y) * xp.log(1.0 - pc))  # Keras: log(1 - pc), no log1p

        def slope() -> Array:
            return ok * ((1.0 - y) / (1.0 - pc) - y / pc)

        def t_slope() -> Array:
            return xp.log(1.0 - pc) - xp.log(pc)
    else:  # sklearn
        eps = float(xp.finfo(p.dtype).eps)
        pc, ok_p = _clipped(xp, p, eps)
        qc, ok_q = _clipped(xp, 1.0 - p, eps)
        loss = -((1.0 - y) * xp.log(qc) + y * xp.log(pc))

        def slope() -> Array:
            return ok_q * (1.0 - y) / qc - ok_p * y / pc

        def t_slope() -> Array:
            return xp.log(qc) - xp.log(pc)
    if w is not None:
        loss = loss * w

    def vjp(cot: Array) -> dict[str, Array]:
        g = slope()
        if w is not None:
            g = g * w
        return {"predictions": g * cot}

    def targets_vjp(cot: Array) -> Array:
        g = t_slope() * (1.0 - label_smoothing)
        if w is not None:
            g = g * w
        return g * cot

    return LossOutput(loss, vjp, {"targets": targets_vjp})


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
    xp = _pair(predictions, targets)
    _checks.probabilities(xp, targets, "targets", warn=True)
    shape = tuple(predictions.shape)
    w = _broadcast_param(xp, weight, shape, "weight")
    c = _broadcast_param(xp, pos_weight, shape, "pos_weight")
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
    xp = _pair(predictions, targets)
    _checks.probabilities(xp, targets, "targets", warn=True)
    n_classes = predictions.shape[-1]
    w = _broadcast_param(xp, weight, tuple(predictions.shape), "weight")
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
    xp = _pair(predictions, targets)
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


def likelihood(predictions: Array, targets: Array) -> LossOutput:
    """Negative "maximum likelihood" score of the predicted probabilities (seed 002).

    ``l = -(y p + (1 - y)(1 - p))``: minus the probability given to the observed label;
    ``dl/dp = 1 - 2y``; targets (on request): ``dl/dy = 1 - 2p``. The loss lies in [-1, 0].

    Args:
      predictions: [*] probabilities p in [0, 1].
      targets: [*] labels y in [0, 1] (soft labels allowed), same shape.

    Returns:
      LossOutput with loss [*].

    References:
      Lecture slides "Loss functions: how good is your neural network?" (seed 002).
    """
    xp = _pair(predictions, targets)
    _checks.probabilities(xp, predictions, "predictions")
    _checks.probabilities(xp, targets, "targets")
    p, y = predictions, targets
    loss = -(y * p + (1.0 - y) * (1.0 - p))
    return LossOutput(loss, lambda cot: {"predictions": (1.0 - 2.0 * y) * cot},
                      {"targets": lambda cot: (1.0 - 2.0 * p) * cot})


def _mixed_labels(rng: Any, n: int, c: int) -> Any:
    """Targets in [0, 1]: about half hard {0, 1} labels, half soft."""
    y = rng.uniform(0.0, 1.0, size=(n, c))
    hard = rng.uniform(size=(n, c)) < 0.5
    y[hard] = (y[hard] > 0.5).astype(float)
    return y


def _weights(rng: Any, c: int) -> list[float]:
    return [float(v) for v in rng.uniform(0.5, 2.0, size=c)]


def _sample_bce(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    p = rng.uniform(0.05, 0.95, size=(n, c))
    return {"predictions": p, "targets": _mixed_labels(rng, n, c)}, {"weight": _weights(rng, c)}


def _sample_bce_logits(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs = {"predictions": rng.normal(size=(n, c)) * 2.0, "targets": _mixed_labels(rng, n, c)}
    return inputs, {"weight": _weights(rng, c), "pos_weight": _weights(rng, c)}


def _sample_multilabel(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs = {"predictions": rng.normal(size=(n, c)) * 2.0,
              "targets": rng.integers(0, 2, size=(n, c)).astype(float)}
    return inputs, {"weight": _weights(rng, c)}


def _sample_focal(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs = {"predictions": rng.normal(size=(n, c)) * 2.0, "targets": _mixed_labels(rng, n, c)}
    return inputs, {"alpha": 0.3, "gamma": 1.5}


def _sample_likelihood(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"predictions": rng.uniform(0.0, 1.0, size=(n, c)),
            "targets": _mixed_labels(rng, n, c)}, {}


_SEED_002_BCE = Example(
    "seed 002: targets (0,0,1,0,1), probabilities (0.2,0.4,0.8,0.3,0.9) give 0.28",
    {"predictions": [0.2, 0.4, 0.8, 0.3, 0.9], "targets": [0.0, 0.0, 1.0, 0.0, 1.0]},
)

_BY_NAME: dict[str, LossSpec] = {s.name: s for s in _MARGIN_SPECS}

_OWN: tuple[LossSpec, ...] = (
    LossSpec(
        name="binary_cross_entropy",
        fn=binary_cross_entropy,
        family="binary",
        aliases=("bce", "log_loss", "binary_crossentropy"),
        inputs=(PROBS, SOFT_TARGETS.requestable()),
        params=(WEIGHT, LABEL_SMOOTHING),
        summary="Binary cross-entropy (log loss) on predicted probabilities.",
        formula=r"\ell = -w\left[y \log p + (1 - y)\log(1 - p)\right],\ "
        r"\text{each log clamped at } -100 \text{ (torch; keras and sklearn clip p instead)}",
        reference="torch.nn.BCELoss / torch.nn.functional.binary_cross_entropy; "
        "sklearn.metrics.log_loss (binary); keras.losses.BinaryCrossentropy",
        gradient_note=r"torch: \partial\ell/\partial p = w(p - y)/\max(p(1 - p), \epsilon) with "
        "PyTorch's epsilon = 1e-12f (the float32 literal, 9.99999996e-13, also in float64). The "
        "formula is used where a log is clamped too, so p = 0, y = 1 gives about -1e12. keras "
        "and sklearn: w[(1 - y)/(1 - p) - y/p] with the clipped p (and 1 - p), 0 where a clip "
        "is active (as jax.grad of the clip); at exactly a clip bound the gradient passes (as "
        "torch.clamp; jnp.clip gives half there).",
        notes="torch (default): each log is clamped at -100, so p = 0, y = 1 gives exactly 100; "
        "mean divides by the element count, not by the sum of weights. keras: p clipped to "
        "[1e-7, 1 - 1e-7] (16.118 at p = 0, y = 1; the bound 1 - 1e-7 is rounded to the dtype, "
        "so p = 1, y = 0 gives 15.94 in float32) and the mean over the last axis. sklearn: "
        "log_loss on positive-class probabilities, p and 1 - p clipped to [eps, 1 - eps] with "
        "eps the dtype's machine epsilon (36.04 at p = 0, y = 1 in float64); for an (N, K) input "
        "mean is the average of log_loss over the K columns; sklearn takes hard labels only "
        "(soft labels use the same clipped formula). weight is a number or a list broadcast "
        "along the last axis (PyTorch accepts any broadcastable tensor; a length-1 list also "
        "works for a 0-d input, where PyTorch raises); it multiplies the loss under every "
        "convention (Keras and sklearn have no such weight; use sample_weight for theirs); "
        "negative weights get a warning (PyTorch accepts them). label_smoothing is Keras' binary "
        "formula, y (1 - ls) + ls / 2, applied before the loss under every convention (PyTorch's "
        "BCE has no smoothing).",
        conventions=(
            Convention("torch", "torch.nn.functional.binary_cross_entropy",
                       "each log clamped at -100 (p = 0, y = 1 gives 100); gradient "
                       "w (p - y) / max(p (1 - p), 1e-12); elementwise, mean divides by the "
                       "element count"),
            keras_convention(
                "keras.losses.BinaryCrossentropy(from_logits=False)",
                "p clipped to [1e-7, 1 - 1e-7] instead of the log clamp (p = 0, y = 1 gives "
                "16.118; 1 - 1e-7 is rounded in the dtype) and log(1 - p) evaluated as Keras "
                "does; gradient 0 where the clip is active"),
            Convention(
                "sklearn", "sklearn.metrics.log_loss (binary, (n,) positive-class probabilities)",
                "p and 1 - p clipped to [eps, 1 - eps] with eps = the dtype's machine epsilon "
                "(2.2e-16 in float64: p = 0, y = 1 gives 36.04) instead of the log clamp; "
                "gradient 0 where a clip is active; sample_weight gives a weighted average "
                "(np.average)"),
        ),
        torch_equivalent="torch.nn.functional.binary_cross_entropy",
        sampler=_sample_bce,
        examples=(
            _SEED_002_BCE,
            Example("seed 003: y = 0, y_hat = 0.9 gives 2.30 (gradient 10.00)",
                    {"predictions": [0.9], "targets": [0.0]}),
            Example("per-class weights", {"predictions": [[0.7, 0.1], [0.4, 0.95]],
                                          "targets": [[1.0, 0.0], [0.0, 1.0]]},
                    {"weight": [1.0, 3.0]}),
        ),
    ),
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
    _BY_NAME["soft_margin"],
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
    _BY_NAME["hinge"],
    _BY_NAME["squared_hinge"],
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
    LossSpec(
        name="likelihood",
        fn=likelihood,
        family="binary",
        aliases=("maximum_likelihood",),
        inputs=(PROBS, SOFT_TARGETS.requestable()),
        summary="Negative likelihood of the labels: minus the probability given to each label.",
        formula=r"\ell = -\left[y p + (1 - y)(1 - p)\right]",
        reference="Lecture slides \"Loss functions: how good is your neural network?\" (seed "
        "002, 'maximum likelihood')",
        gradient_note=r"\partial\ell/\partial p = 1 - 2y (constant; no kink)",
        notes="Takes values in [-1, 0] (not non-negative): a perfect prediction scores -1. For "
        "hard labels, -log(-l) is the binary cross-entropy. No library equivalent.",
        sampler=_sample_likelihood,
        nonnegative=False,
        examples=(Example("seed 002: targets (1,1,0,0,0), probabilities (0.5,0.9,0.2,0.6,0.1) "
                          "give -0.7", {"predictions": [0.5, 0.9, 0.2, 0.6, 0.1],
                                        "targets": [1.0, 1.0, 0.0, 0.0, 0.0]}),),
    ),
)

SPECS: tuple[LossSpec, ...] = _OWN
