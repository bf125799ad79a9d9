"""Binary losses on probabilities (binary_cross_entropy, likelihood), and the family's ``SPECS``.

Every kernel takes ``predictions`` and ``targets`` of the same shape (no broadcasting; targets in
[0, 1], soft labels allowed) and returns the loss in PyTorch's ``reduction='none'`` shape with its
vector-Jacobian product. The rest of the family lives beside it: the losses on logits in
:mod:`service.losses.binary_logits` (binary_cross_entropy_with_logits, multilabel_soft_margin) and
:mod:`service.losses.sigmoid_focal`, the margin losses on {-1, 1} labels (soft_margin, hinge,
squared_hinge) in :mod:`service.losses.binary_margin`, and the shared inputs, ``weight`` parameter
and helpers in :mod:`._binary`; :data:`SPECS` exports the whole family, in the catalog's order.

Conventions (``convention``; PyTorch's is the default): binary_cross_entropy clamps each log at
-100 (torch), clips p to [1e-7, 1 - 1e-7] (keras) or p and 1 - p to the dtype's [eps, 1 - eps]
(sklearn). Keras' mean over the last axis is applied generically.
"""

from __future__ import annotations

from typing import Any

from . import _checks
from ._binary import (
    SOFT_TARGETS,
    WEIGHT,
    broadcast_param,
    mixed_labels,
    pair,
    random_weights,
)
from ._math import as_float
from .binary_logits import SPECS as _LOGIT_SPECS
from .binary_margin import SPECS as _MARGIN_SPECS
from .sigmoid_focal import SPECS as _FOCAL_SPECS
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
LABEL_SMOOTHING = ParamSpec(
    "label_smoothing", "float", 0.0,
    "ls: targets become y (1 - ls) + ls / 2 (Keras' binary formula, toward 1/2; applied under "
    "every convention; PyTorch's BCE has no smoothing)", minimum=0.0, maximum=1.0)

LOG_CLAMP = -100.0  # PyTorch clamps each log of BCE at -100
KERAS_EPS = 1e-7  # keras.backend.epsilon(): Keras clips probabilities to [1e-7, 1 - 1e-7]
# PyTorch's floor on p (1 - p) in the BCE gradient: the float32 literal 1e-12f (also in float64)
BCE_EPS = 9.999999960041972e-13


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
    xp = pair(predictions, targets)
    # torch refuses values outside [0, 1] in both, NaN included ("all elements of input should
    # be between 0 and 1")
    _checks.probabilities(xp, predictions, "predictions", nan=False)
    _checks.probabilities(xp, targets, "targets", nan=False)
    w = broadcast_param(xp, weight, tuple(predictions.shape), "weight")
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
    xp = pair(predictions, targets)
    _checks.probabilities(xp, predictions, "predictions")
    _checks.probabilities(xp, targets, "targets")
    p, y = predictions, targets
    loss = -(y * p + (1.0 - y) * (1.0 - p))
    return LossOutput(loss, lambda cot: {"predictions": (1.0 - 2.0 * y) * cot},
                      {"targets": lambda cot: (1.0 - 2.0 * p) * cot})


def _sample_bce(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    p = rng.uniform(0.05, 0.95, size=(n, c))
    return ({"predictions": p, "targets": mixed_labels(rng, n, c)},
            {"weight": random_weights(rng, c)})


def _sample_likelihood(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"predictions": rng.uniform(0.0, 1.0, size=(n, c)),
            "targets": mixed_labels(rng, n, c)}, {}


_SEED_002_BCE = Example(
    "seed 002: targets (0,0,1,0,1), probabilities (0.2,0.4,0.8,0.3,0.9) give 0.28",
    {"predictions": [0.2, 0.4, 0.8, 0.3, 0.9], "targets": [0.0, 0.0, 1.0, 0.0, 1.0]},
)

_BY_NAME: dict[str, LossSpec] = {
    s.name: s for s in (*_LOGIT_SPECS, *_MARGIN_SPECS, *_FOCAL_SPECS)}

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
    _BY_NAME["binary_cross_entropy_with_logits"],
    _BY_NAME["soft_margin"],
    _BY_NAME["multilabel_soft_margin"],
    _BY_NAME["hinge"],
    _BY_NAME["squared_hinge"],
    _BY_NAME["sigmoid_focal"],
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
