"""Distribution losses: kl_div (PyTorch's ``F.kl_div`` semantics, elementwise).

``predictions`` are log-probabilities ``log q``; ``targets`` are probabilities ``p`` (or ``log p``
with ``log_target``), of the same shape ``(*)`` (no broadcasting). The kernel returns the pointwise
terms; summing them over the class axis gives ``KL(p || q)``, and ``batchmean`` divides that sum by
the batch size, which is the true KL divergence averaged over the batch.
"""

from __future__ import annotations

from typing import Any

from . import _checks
from ._math import ns, xlogy
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec


def kl_div(predictions: Array, targets: Array, *, log_target: bool = False) -> LossOutput:
    """Pointwise Kullback-Leibler divergence ``KL(p || q)`` with ``q`` given as log-probabilities.

    ``l = p (log p - x)`` with ``p log p = 0`` where ``p == 0`` (``xlogy``), ``x = log q``; with
    ``log_target`` (``t = log p``): ``l = e^t (t - x)``. ``dl/dx = -p`` (``-e^t``).

    Args:
      predictions: [*] log-probabilities ``log q`` (e.g. ``log_softmax`` outputs), each <= 0.
      targets: [*] probabilities ``p`` in [0, 1], or log-probabilities ``log p`` <= 0 when
        ``log_target``; same shape as ``predictions``.
      log_target: whether ``targets`` holds ``log p`` instead of ``p``.

    Returns:
      LossOutput with loss [*] (elements can be negative; their sum over a distribution is >= 0).

    References:
      Kullback & Leibler (1951), On Information and Sufficiency;
      ``torch.nn.functional.kl_div``.
    """
    xp = ns(predictions, targets)
    _checks.same_shape(predictions, targets, "predictions", "targets")
    _checks.in_range(xp, predictions, "predictions", high=0.0, what="log-probabilities")
    if log_target:
        _checks.in_range(xp, targets, "targets", high=0.0,
                         what="log-probabilities, since log_target is true")
        p = xp.exp(targets)
        loss = p * (targets - predictions)
    else:
        _checks.probabilities(xp, targets, "targets")
        p = targets
        loss = xlogy(xp, targets, targets) - targets * predictions
    return LossOutput(loss, lambda cot: {"predictions": -p * cot})


def _sample(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np  # test-input generation only; the kernel never touches NumPy

    q = rng.dirichlet(np.full(c, 2.0), size=n)
    p = rng.dirichlet(np.full(c, 2.0), size=n)
    if c > 1:  # one exact zero: the xlogy edge (contributes 0, gradient 0)
        p[0, 0] = 0.0
        p[0] /= p[0].sum()
    return {"predictions": np.log(q), "targets": p}, {}


SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="kl_div",
        fn=kl_div,
        family="distribution",
        aliases=("kl_divergence",),
        summary="Kullback-Leibler divergence KL(p || q), with q given as log-probabilities "
        "(PyTorch's KLDivLoss).",
        inputs=(
            InputSpec("predictions", "log_probabilities", "(*)",
                      "log q: log-probabilities of the model distribution (e.g. log_softmax "
                      "outputs), each <= 0", differentiable=True),
            InputSpec("targets", "probabilities", "(*), same shape as predictions",
                      "p: target probabilities in [0, 1], or log p (each <= 0) when log_target "
                      "is true"),
        ),
        params=(ParamSpec("log_target", "bool", False,
                          "targets are log-probabilities log p instead of probabilities p"),),
        reductions=("none", "mean", "sum", "batchmean"),
        default_reduction="mean",
        formula=r"\ell = p\,(\log p - x) \ (\text{0 where } p = 0),\quad x = \log q;"
        r"\quad \text{log\_target: } \ell = e^{t}(t - x),\ t = \log p",
        reference="Kullback & Leibler (1951), On Information and Sufficiency, Ann. Math. "
        "Statist. 22(1); seed 001 ('Deep learning loss functions': KL divergence, no worked "
        "numbers); torch.nn.functional.kl_div",
        gradient_note=r"\partial\ell/\partial x = -p (with log_target: -e^{t}); smooth, no kink. "
        "Gradients are given w.r.t. predictions only (targets are data).",
        notes="PyTorch semantics and argument order: predictions are log q, targets are p, and "
        "the result is KL(p || q) (Keras takes (y_true, y_pred) as probabilities and clips both "
        "to [1e-7, 1]; optax.kl_divergence sums over the last axis per sample). The default "
        "reduction is 'mean' (PyTorch's default), which divides by the number of elements N*C; "
        "PyTorch warns that this is not the true KL and recommends 'batchmean', which divides "
        "the sum by size(0) (for a 1-D input of C probabilities that is C, as in PyTorch). "
        "Pointwise terms can be negative (nonnegative is false), but their sum over a full "
        "distribution is >= 0. A target of exactly 0 contributes 0 (xlogy). PyTorch checks "
        "neither input: it returns NaN for p < 0 and silently accepts predictions > 0; we "
        "reject predictions > 0 (invalid_value), targets outside [0, 1] "
        "(probability_out_of_range) and, with log_target, targets > 0 (invalid_value).",
        torch_equivalent="torch.nn.functional.kl_div",
        nonnegative=False,
        sampler=_sample,
        examples=(
            Example("two 3-class distributions, true KL per sample (batchmean)",
                    {"predictions": [[-1.2039728, -0.6931472, -1.6094379],
                                     [-0.3566749, -1.6094379, -2.3025851]],
                     "targets": [[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]]},
                    reduction="batchmean"),
            Example("log_target: both arguments as log-probabilities",
                    {"predictions": [-0.2231436, -1.6094379],
                     "targets": [-0.5108256, -0.9162907]},
                    {"log_target": True}, reduction="sum"),
        ),
    ),
)
