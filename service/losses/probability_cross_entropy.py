"""Multiclass cross-entropy on predicted probabilities: scikit-learn's ``log_loss`` and Keras'
``CategoricalCrossentropy`` / ``SparseCategoricalCrossentropy`` with ``from_logits=False``.

Both compute ``-sum_c t_c log p_c`` per sample; they differ in how ``p`` is made safe to log and
in what a weighted ``mean`` divides by (``convention``):

* ``sklearn`` (the default): ``p`` clipped to ``[eps, 1 - eps]`` with ``eps`` the dtype's machine
  epsilon (2.2e-16 in float64, 1.2e-7 in float32), rows used as given (scikit-learn only warns
  when they do not sum to 1); ``mean`` with ``sample_weight`` is the weighted average.
* ``keras``: each row renormalised ``r = p / sum(p)`` first, then clipped to
  ``[1e-7, 1 - 1e-7]``; ``mean`` with ``sample_weight`` divides by the number of samples
  (``sum_over_batch_size``).

PyTorch has no such loss (its cross_entropy takes logits; ``nll_loss(log p)`` does not clip).
Where a clip is active the gradient is 0 (autograd through the clip); exactly at a bound it
passes, as ``torch.clamp`` (``jnp.clip`` gives one half there).
"""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._classes import check_index_targets, check_predictions, index_shape, num_classes
from ._math import as_float, ns, one_hot
from .spec import Array, Convention, Example, InputSpec, LossOutput, LossSpec, ParamSpec

KERAS_EPS = 1e-7  # keras.backend.epsilon()


def _target_rows(xp: Any, x: Array, targets: Array, c: int) -> Array:
    """Targets as rows of class probabilities of ``x``'s shape and dtype.

    Targets of the predictions' shape are probability rows (integer one-hot rows are cast; values
    in [0, 1], rows summing to 1); otherwise they are class indices of :func:`index_shape`.
    """
    if tuple(targets.shape) == tuple(x.shape):
        t = targets if xp.isdtype(targets.dtype, "real floating") else xp.astype(targets, x.dtype)
        _checks.probabilities(xp, t, "targets")
        _checks.rows_sum_to_one(xp, t, "targets")
        return t
    if not xp.isdtype(targets.dtype, "integral") and tuple(targets.shape) == index_shape(x):
        raise errors.InvalidDtype(
            "targets has the shape of class indices but holds floating-point values: send "
            "integers, or class-probability rows of the predictions' shape", ("targets",))
    check_index_targets(xp, x, targets)
    return one_hot(xp, targets, c, x.dtype)


def _row_sums_positive(xp: Any, p: Array) -> Array:
    """Each row's sum ``S`` (keepdims); Keras divides by it, so it must be positive."""
    s = xp.sum(p, axis=-1, keepdims=True)
    bad = s[..., 0] <= 0.0
    if bool(xp.any(bad)):
        idx = _checks.first_index(xp, bad)
        raise errors.InvalidValue(
            "predictions: under convention 'keras' every row of class probabilities needs a "
            f"positive sum (Keras divides by it); the row at {list(idx)} sums to 0",
            ("predictions", *idx))
    return s


def _clip(xp: Any, p: Array, eps: float) -> tuple[Array, Array]:
    """``clip(p, eps, 1 - eps)`` (bounds rounded to p's dtype) and the mask where the gradient
    passes: inside the range or exactly at a bound (0 strictly outside, where the clip acts)."""
    inside = as_float(xp, (p >= eps) & (p <= 1.0 - eps), p)
    return xp.clip(p, eps, 1.0 - eps), inside


def probability_cross_entropy(predictions: Array, targets: Array, *,
                              label_smoothing: float = 0.0,
                              convention: str = "sklearn") -> LossOutput:
    """Cross-entropy of class probabilities, one value per sample.

    With ``t`` the target rows (one-hot for index targets) smoothed as
    ``t <- t (1 - ls) + ls / C``:

    * ``sklearn``: ``e`` = the dtype's eps, ``pc = clip(p, e, 1 - e)``,
      ``l_n = -sum_c t_c log pc_c``; ``dl/dp_c = -t_c / pc_c`` where ``e <= p_c <= 1 - e``,
      0 elsewhere. Rows are not renormalised.
    * ``keras``: ``S = sum_c p_c``, ``r = p / S``, ``o = clip(r, 1e-7, 1 - 1e-7)``,
      ``l_n = -sum_c t_c log o_c``; with ``g_c = -t_c / o_c`` where ``1e-7 <= r_c <= 1 - 1e-7``
      (0 elsewhere), ``dl/dp_k = (g_k - sum_c g_c r_c) / S`` (the renormalisation's Jacobian
      ``dr_c/dp_k = (delta_ck - r_c) / S``).

    Float probability-row targets also have a gradient (on request): ``dl_n/dt_c = -(1 - ls)
    log pc_c`` (sklearn), ``-(1 - ls) log o_c`` (keras); integer targets have none.

    Args:
      predictions: [C] or [N, C] class probabilities in [0, 1] (rows need not sum to 1; a row
        summing to 0 is refused under ``keras``).
      targets: [] or [N] integer class indices in [0, C), or class-probability rows of the
        predictions' shape (values in [0, 1], rows summing to 1; integer one-hot rows are cast).
      label_smoothing: ls in [0, 1] (Keras' CategoricalCrossentropy formula).
      convention: "sklearn" or "keras".

    Returns:
      LossOutput with loss [] or [N].

    References:
      ``sklearn.metrics.log_loss``; ``keras.losses.CategoricalCrossentropy`` and
      ``keras.losses.SparseCategoricalCrossentropy`` (``from_logits=False``).
    """
    xp = ns(predictions, targets)
    x = predictions
    check_predictions(x, max_ndim=2)
    c = num_classes(x)
    if c < 2:
        raise errors.InvalidShape(
            f"predictions has {c} class; the multiclass cross-entropy needs at least 2 (for "
            "the probability of one positive class use binary_cross_entropy)", ("predictions",))
    _checks.probabilities(xp, x, "predictions")
    t = _target_rows(xp, x, targets, c)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + label_smoothing / c
    if convention == "keras":
        s = _row_sums_positive(xp, x)
        r = x / s
        o, inside = _clip(xp, r, KERAS_EPS)
        loss = -xp.sum(t * xp.log(o), axis=-1)

        def vjp(cot: Array) -> dict[str, Array]:
            g_o = 0.0 - (t / o) * inside  # 0.0 - a: no -0.0 where t_c = 0
            g = (g_o - xp.sum(g_o * r, axis=-1, keepdims=True)) / s
            return {"predictions": g * cot[..., None]}

        def log_q() -> Array:
            return xp.log(o)
    else:  # sklearn
        eps = float(xp.finfo(x.dtype).eps)
        pc, inside = _clip(xp, x, eps)
        loss = -xp.sum(t * xp.log(pc), axis=-1)

        def vjp(cot: Array) -> dict[str, Array]:
            return {"predictions": 0.0 - (t / pc) * inside * cot[..., None]}

        def log_q() -> Array:
            return xp.log(pc)

    def targets_vjp(cot: Array) -> Array:
        return -(1.0 - label_smoothing) * log_q() * cot[..., None]

    return LossOutput(loss, vjp, {"targets": targets_vjp})


# ------------------------------------------------------------------------------------ sampler


def _sample(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    p = rng.uniform(0.1, 1.0, size=(n, c))
    return {"predictions": p / p.sum(axis=1, keepdims=True),
            "targets": rng.integers(0, c, size=n)}, {}


# ------------------------------------------------------------------------------------ spec

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="probability_cross_entropy",
        fn=probability_cross_entropy,
        family="multiclass",
        aliases=("categorical_cross_entropy_probs", "log_loss_multiclass"),
        summary="Multiclass cross-entropy (log loss) on predicted class probabilities, with "
        "scikit-learn's or Keras' clipping.",
        inputs=(
            InputSpec("predictions", "probabilities", "(C,) or (N, C)",
                      "predicted class probabilities in [0, 1], one row per sample (rows are "
                      "used as given under 'sklearn' and renormalised under 'keras')",
                      differentiable=True),
            InputSpec("targets", "class_indices_or_probabilities",
                      "() or (N,) indices; or the predictions' shape",
                      "integer class indices in [0, C), or class-probability rows of the "
                      "predictions' shape (rows sum to 1; integer one-hot rows are cast)",
                      dtype="index_or_float", grad_on_request=True),
        ),
        params=(
            ParamSpec("label_smoothing", "float", 0.0,
                      "ls: the target rows become t (1 - ls) + ls / C (Keras' "
                      "CategoricalCrossentropy formula; applied under both conventions and to "
                      "index targets too)", minimum=0.0, maximum=1.0),
        ),
        formula=r"\ell_n = -\sum_c t_{n,c} \log \operatorname{clip}(q_{n,c}, \epsilon, "
        r"1 - \epsilon);\ \text{sklearn: } q_n = p_n,\ \epsilon = \text{the dtype's machine "
        r"epsilon};\ \text{keras: } q_n = p_n / \textstyle\sum_k p_{n,k},\ \epsilon = 10^{-7};"
        r"\ t_n = (1 - ls)\,\mathrm{onehot}(y_n)\ (\text{or the target row}) + ls / C",
        reference="sklearn.metrics.log_loss (scikit-learn 1.9); "
        "keras.losses.CategoricalCrossentropy and keras.losses.SparseCategoricalCrossentropy "
        "with from_logits=False (Keras 3.15)",
        gradient_note=r"sklearn: \partial\ell_n/\partial p_{n,c} = -t_{n,c}/p_{n,c} where "
        r"\epsilon \le p_{n,c} \le 1 - \epsilon, else 0. keras: with S = \sum_k p_{n,k}, "
        r"r = p_n/S and g_c = -t_{n,c}/\operatorname{clip}(r_c) where 10^{-7} \le r_c \le "
        r"1 - 10^{-7} (else 0): \partial\ell_n/\partial p_{n,k} = (g_k - \sum_c g_c r_c)/S "
        "(the renormalisation's Jacobian). Where a clip is active (strictly outside the range) "
        "the gradient is 0, as autograd through the clip gives; exactly at a bound it passes "
        "(torch.clamp's choice; jnp.clip gives one half there).",
        notes="convention 'sklearn' is sklearn.metrics.log_loss(y_true, y_proba, "
        "labels=range(C)): class indices are the column order, so string labels map to their "
        "sorted order; 'mean' is log_loss (sample_weight: the weighted average) and 'sum' is "
        "normalize=False. Rows that do not sum to 1 are accepted and used as given, as "
        "scikit-learn does (it only warns); a 1-D input is one sample here (scikit-learn reads "
        "a 1-D y_proba as positive-class probabilities: binary_cross_entropy with convention "
        "'sklearn'). convention 'keras' is CategoricalCrossentropy (probability or one-hot "
        "targets) and SparseCategoricalCrossentropy (index targets), which give the same "
        "numbers: rows are renormalised, so [1, 2, 1] is read as [0.25, 0.5, 0.25]; 'mean' is "
        "Keras' default 'sum_over_batch_size' (with sample_weight it divides by N, not by the "
        "weights' sum; Keras' 'mean_with_sample_weight' is the sklearn convention's mean). "
        "Keras clips 1 - 1e-7 in the dtype: in float32 it is 1 - 2^-23. The libraries "
        "disagree where a clip acts: p = 0 for the true class costs -log(2.2e-16) = 36.04 "
        "(sklearn, float64), -log(1e-7) = 16.12 (Keras, and sklearn in float32). "
        "label_smoothing is Keras' CategoricalCrossentropy formula; SparseCategorical"
        "Crossentropy and log_loss have no smoothing, and it is applied to the one-hot rows of "
        "index targets and under 'sklearn' alike (0, the default, gives the libraries' "
        "numbers). Soft target rows are accepted under both conventions (log_loss itself takes "
        "labels or one-hot indicator rows only). Refusals: probabilities outside [0, 1] "
        "(scikit-learn raises too; Keras does not check), target rows outside [0, 1] or not "
        "summing to 1, fewer than 2 classes, and under 'keras' a prediction row summing to 0 "
        "(Keras gives NaN). PyTorch has no such loss: F.nll_loss(torch.log(p), y) gives inf at "
        "p_y = 0 (and an infinite gradient) instead of clipping, and F.cross_entropy expects "
        "logits (it would apply a second softmax to probabilities).",
        sampler=_sample,
        examples=(
            Example("scikit-learn log_loss docstring example: labels spam/ham mapped in "
                    "sorted order (ham = 0, spam = 1) gives 0.21616",
                    {"predictions": [[0.1, 0.9], [0.9, 0.1], [0.8, 0.2], [0.35, 0.65]],
                     "targets": [1, 0, 0, 1]}),
            Example("Keras CategoricalCrossentropy docstring example: 1.177 (per sample "
                    "0.0513, 2.303)",
                    {"predictions": [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]],
                     "targets": [[0, 1, 0], [0, 0, 1]]}, {"convention": "keras"}),
            Example("the libraries disagree: a row not summing to 1 and p = 0 for the true "
                    "class (sklearn: 36.04 for that row)",
                    {"predictions": [[0.2, 0.4, 0.2], [0.0, 0.7, 0.3]], "targets": [1, 0]},
                    reduction="none"),
        ),
        conventions=(
            Convention("sklearn", "sklearn.metrics.log_loss(y_true, y_proba, labels=range(C))",
                       "p clipped to [eps, 1 - eps] with eps = the dtype's machine epsilon "
                       "(2.2e-16 in float64: p_y = 0 gives 36.04); rows used as given, not "
                       "renormalised; gradient 0 where the clip is active; sample_weight "
                       "gives a weighted average (np.average)"),
            Convention("keras", "keras.losses.CategoricalCrossentropy / "
                       "SparseCategoricalCrossentropy (from_logits=False)",
                       "each row renormalised p / sum(p) first (a row summing to 0 is "
                       "refused), then clipped to [1e-7, 1 - 1e-7] (p_y = 0 gives 16.118); "
                       "the gradient includes the renormalisation's Jacobian and is 0 where "
                       "the clip is active; mean with sample_weight divides by the number of "
                       "samples, not by the weights' sum (sum_over_batch_size)",
                       weights_in_mean=False),
        ),
    ),
)
