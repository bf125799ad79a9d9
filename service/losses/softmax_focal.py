"""The softmax focal loss ``focal`` (Lin et al. 2017): logits and integer class targets.

Part of the multiclass family: :mod:`.multiclass` lists its spec in its ``SPECS``, after nll. Why a
module of its own: the family outgrew one file (issue 18), and focal shares with cross_entropy and
nll only the class-axis helpers of :mod:`._classes`. The binary (sigmoid) focal loss is
:mod:`.sigmoid_focal`; Keras's focal cross-entropies are in :mod:`.keras_focal`.
"""

from __future__ import annotations

from typing import Any

from ._classes import (
    check_index_targets,
    check_predictions,
    class_vector,
    log_softmax_log1p,
    num_classes,
)
from ._math import gather_last, ns, one_hot
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec


def focal(predictions: Array, targets: Array, *, gamma: float = 2.0,
          alpha: float | Array | None = None) -> LossOutput:
    """Softmax focal loss on logits (Lin et al. 2017).

    ``l_n = -alpha_t (1 - p_t)^gamma log p_t``, ``p = softmax(x_n)``, ``p_t = p_{y_n}``;
    ``d l / d x_j = -alpha_t (delta_{jy} - p_j)
    [(1-p_t)^gamma - gamma (1-p_t)^{gamma-1} p_t log p_t]``.
    ``1 - p_t`` is computed as ``-expm1(log p_t)``; the second bracket term is evaluated as
    ``gamma (1-p_t)^gamma p_t [log p_t / (1-p_t)]`` with the ratio's limit -1 where ``p_t == 1``,
    so no negative power appears and ``0 <= gamma < 1`` gives no NaN or inf.

    Args:
      predictions: [C] or [N, C] logits.
      targets: [] or [N] integer class indices.
      gamma: focusing parameter >= 0 (0 gives cross-entropy).
      alpha: None (no weighting), a scalar, or [C] per-class weights; ``alpha_t = alpha[y_n]``.

    Returns:
      LossOutput with loss [] or [N].

    References:
      Lin, Goyal, Girshick, He, Dollar (2017), Focal Loss for Dense Object Detection,
      arXiv:1708.02002.
    """
    xp = ns(predictions, targets)
    x = predictions
    check_predictions(x, max_ndim=2)
    c = num_classes(x)
    check_index_targets(xp, x, targets)
    logp = log_softmax_log1p(xp, x)
    oh = one_hot(xp, targets, c, x.dtype)
    log_pt = gather_last(xp, logp, targets)
    pt = xp.exp(log_pt)
    q = -xp.expm1(log_pt)  # 1 - p_t, accurate when p_t is close to 1
    if alpha is None or isinstance(alpha, int | float):
        a_t = 1.0 if alpha is None else float(alpha)
    else:
        a_t = xp.sum(oh * class_vector(xp, alpha, x, "alpha", c), axis=-1)
    mod = q**gamma
    loss = -a_t * mod * log_pt

    def vjp(cot: Array) -> dict[str, Array]:
        # gamma (1-p_t)^(gamma-1) p_t log p_t, written as gamma (1-p_t)^gamma p_t r with
        # r = log p_t / (1 - p_t) in [-inf, -1] and r -> -1 as p_t -> 1: no negative power, no NaN
        zero = q == 0.0
        r = xp.where(zero, -xp.ones_like(q), log_pt / xp.where(zero, xp.ones_like(q), q))
        second = gamma * mod * pt * r
        dl_dlogpt = -a_t * (mod - second)  # d l / d log p_t
        # d log p_t / d x_j = delta_jy - p_j, with 1 - p_t taken as q (no cancellation)
        g = dl_dlogpt[..., None] * (oh * q[..., None] - (1.0 - oh) * xp.exp(logp))
        return {"predictions": g * cot[..., None]}

    return LossOutput(loss, vjp)


# ------------------------------------------------------------------------------------ samplers


def _sample_focal(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    x, y = rng.normal(size=(n, c)) * 2.0, rng.integers(0, c, size=n)
    return {"predictions": x, "targets": y}, {
        "gamma": 1.5, "alpha": rng.uniform(0.25, 1.0, size=c).tolist()}


# ------------------------------------------------------------------------------------ specs

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="focal",
        fn=focal,
        family="multiclass",
        summary="Softmax focal loss: cross-entropy down-weighted on well-classified samples.",
        inputs=(
            InputSpec("predictions", "logits", "(C,) or (N, C)", "logits, one row per sample",
                      differentiable=True),
            InputSpec("targets", "class_indices", "() or (N,)", "integer class indices in [0, C)",
                      dtype="int"),
        ),
        params=(
            ParamSpec("gamma", "float", 2.0, "focusing parameter; 0 gives cross-entropy",
                      minimum=0.0),
            ParamSpec("alpha", "float_or_float_array", None,
                      "class balancing: a scalar, or one non-negative weight per class (length "
                      "C); null for none", minimum=0.0, nullable=True),
        ),
        formula=r"\ell_n = -\alpha_{y_n} (1 - p_{n,y_n})^\gamma \log p_{n,y_n},\ "
        r"p_n = \operatorname{softmax}(x_n)",
        reference="Lin, Goyal, Girshick, He, Dollar (2017), Focal Loss for Dense Object "
        "Detection, arXiv:1708.02002",
        gradient_note=r"\partial\ell_n/\partial x_{n,j} = -\alpha_t(\delta_{j y_n} - p_{n,j})"
        r"[(1-p_t)^\gamma - \gamma (1-p_t)^{\gamma-1} p_t \log p_t]; 1-p_t = -expm1(log p_t); "
        r"the second term is written \gamma(1-p_t)^\gamma p_t \cdot \log p_t/(1-p_t) with the "
        r"ratio's limit -1 at p_t = 1, so 0 \le \gamma < 1 gives no NaN or inf. "
        "log p_t uses logsumexp = m + log1p(sum of the other terms), so 1 - p_t near 0 keeps "
        "full relative precision. Smooth (no kink).",
        notes="The multiclass (softmax) form with integer targets; the binary/sigmoid form is "
        "torchvision sigmoid_focal_loss. alpha=None (no weighting) as optax; Keras "
        "CategoricalFocalCrossentropy defaults to alpha=0.25 and applies it to every class. "
        "gamma = 0 with alpha = None equals cross_entropy (reduction 'none'); 'mean' always "
        "divides by N (alpha is not in the denominator).",
        sampler=_sample_focal,
        shift_invariant=True,
        examples=(
            Example("gamma = 2", {"predictions": [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0]],
                                  "targets": [0, 1]}),
            Example("per-class alpha", {"predictions": [[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]],
                                        "targets": [0, 2]},
                    {"gamma": 1.0, "alpha": [0.25, 0.5, 1.0]}),
        ),
    ),
)
