"""Max-form hinge and perceptron losses: multiclass_hinge_cs (Crammer-Singer), categorical_hinge
(Keras), perceptron and multiclass_perceptron (optax).

Multiclass predictions are class scores ``(N, C)`` (one row per sample) or ``(C,)``; index targets
are ``(N,)`` or ``()``. The "max" in these losses is subdifferentiated like JAX's ``jnp.max`` and
PyTorch's ``amax``: where several entries share the maximum, the gradient is split evenly between
them. A hinge ``max(0, z)`` contributes gradient 0 at ``z == 0`` exactly (strict ``z > 0``, the
choice of PyTorch's fused hinge kernels; JAX's ``jnp.maximum`` would give one half there).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _checks
from ._classes import check_index_targets, check_predictions, num_classes
from ._math import as_float, gather_last, ns, one_hot
from ._sampling import kink_tolerance, redraw_rows
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec


def _max_subgradient(xp: Any, a: Array) -> tuple[Array, Array]:
    """``max`` over the last axis and its subgradient: ties share the gradient evenly."""
    m = xp.max(a, axis=-1, keepdims=True)
    ties = as_float(xp, a == m, a)
    return xp.squeeze(m, axis=-1), ties / xp.sum(ties, axis=-1, keepdims=True)


def _crammer_singer(xp: Any, x: Array, targets: Array, margin: float) -> LossOutput:
    """``max_j (x_j + margin [j != y]) - x_y`` with its vjp (ties split evenly)."""
    oh = one_hot(xp, targets, num_classes(x), x.dtype)
    m, share = _max_subgradient(xp, x + margin * (1.0 - oh))
    loss = m - gather_last(xp, x, targets)  # exactly 0 when the maximum is the target's entry
    g = share - oh
    return LossOutput(loss, lambda cot: {"predictions": g * cot[..., None]})


def multiclass_hinge_cs(predictions: Array, targets: Array, *, margin: float = 1.0
                        ) -> LossOutput:
    """Crammer-Singer multiclass hinge loss (optax ``multiclass_hinge_loss``).

    ``l_n = max_j (x_{n,j} + margin [j != y_n]) - x_{n,y_n}
    = max(0, margin + max_{j != y_n} x_{n,j} - x_{n,y_n})``. Gradient: ``+1`` at the maximiser
    ``j*`` of ``x_j + margin [j != y]`` and ``-1`` at ``y`` (so 0 when ``j* = y``); ties at the
    maximum share the ``+1`` evenly, like JAX's ``max`` (and PyTorch's ``amax``).

    Args:
      predictions: [C] or [N, C] class scores.
      targets: [] or [N] integer class indices.
      margin: the margin (1 in optax and scikit-learn), >= 0.

    Returns:
      LossOutput with loss [] or [N].

    References:
      Crammer and Singer (2001), On the Algorithmic Implementation of Multiclass Kernel-based
      Vector Machines, JMLR 2; ``optax.losses.multiclass_hinge_loss``;
      ``sklearn.metrics.hinge_loss`` (multiclass).
    """
    xp = ns(predictions, targets)
    check_predictions(predictions, max_ndim=2)
    check_index_targets(xp, predictions, targets)
    return _crammer_singer(xp, predictions, targets, float(margin))


def multiclass_perceptron(predictions: Array, targets: Array) -> LossOutput:
    """Multiclass perceptron loss (optax ``multiclass_perceptron_loss``).

    ``l_n = max_j x_{n,j} - x_{n,y_n}`` (Crammer-Singer with margin 0). Gradient ``+1`` at the
    argmax (split evenly over ties, like JAX's ``max``) and ``-1`` at ``y_n``.

    Args:
      predictions: [C] or [N, C] class scores.
      targets: [] or [N] integer class indices.

    Returns:
      LossOutput with loss [] or [N].

    References:
      Collins (2002), Discriminative Training Methods for Hidden Markov Models, EMNLP;
      ``optax.losses.multiclass_perceptron_loss``.
    """
    xp = ns(predictions, targets)
    check_predictions(predictions, max_ndim=2)
    check_index_targets(xp, predictions, targets)
    return _crammer_singer(xp, predictions, targets, 0.0)


def categorical_hinge(predictions: Array, targets: Array) -> LossOutput:
    """Keras ``CategoricalHinge``: ``max(neg - pos + 1, 0)`` with one-hot (probability) targets.

    ``pos_n = sum_c t_{n,c} x_{n,c}``, ``neg_n = max_c (1 - t_{n,c}) x_{n,c}``. With one-hot
    targets the true class enters ``neg`` as a **0** (``(1 - 1) x_y``), so when every wrong-class
    score is negative ``neg = 0`` instead of the largest wrong score: scores ``[-1, -0.5, -2]``
    with class 1 give ``max(0 + 0.5 + 1, 0) = 1.5`` where Crammer-Singer gives 0.5.

    Gradient (where ``neg - pos + 1 > 0``, strict; 0 elsewhere):
    ``d l / d x_c = (1 - t_c) s_c - t_c``, ``s`` the maximiser indicator of ``(1 - t) x``
    (ties split evenly). Targets (on request): ``d l / d t_c = -x_c (s_c + 1)`` there.

    Args:
      predictions: [C] or [N, C] class scores.
      targets: one-hot or class-probability rows of the predictions' shape.

    Returns:
      LossOutput with loss [] or [N].

    References:
      ``keras.losses.CategoricalHinge`` / ``keras.losses.categorical_hinge`` (Keras 3).
    """
    xp = ns(predictions, targets)
    check_predictions(predictions, max_ndim=2)
    _checks.same_shape(predictions, targets, "predictions", "targets")
    _checks.probabilities(xp, targets, "targets")
    _checks.rows_sum_to_one(xp, targets, "targets")
    x, t = predictions, targets
    pos = xp.sum(t * x, axis=-1)
    neg, share = _max_subgradient(xp, (1.0 - t) * x)
    z = neg - pos + 1.0
    live = (z > 0.0)[..., None]
    g = xp.where(live, (1.0 - t) * share - t, xp.zeros_like(x))
    loss = xp.maximum(z, 0.0)

    def targets_vjp(cot: Array) -> Array:
        return xp.where(live, -x * (share + 1.0), xp.zeros_like(x)) * cot[..., None]

    return LossOutput(loss, lambda cot: {"predictions": g * cot[..., None]},
                      {"targets": targets_vjp})


def perceptron(predictions: Array, targets: Array) -> LossOutput:
    """Binary perceptron loss (optax ``perceptron_loss``).

    ``l = max(0, -y x)`` elementwise with ``y in {-1, 1}``; ``d l / d x = -y [-y x > 0]`` (0 at
    ``x = 0``, strict; optax's ``jnp.maximum`` gives ``-y / 2`` there).

    Args:
      predictions: [*] real scores.
      targets: [*] labels in {-1, 1}, same shape.

    Returns:
      LossOutput with loss [*].

    References:
      Rosenblatt (1958), The Perceptron; ``optax.losses.perceptron_loss``.
    """
    _checks.same_shape(predictions, targets, "predictions", "targets")
    xp = ns(predictions, targets)
    _checks.labels_in(xp, targets, "targets", (-1.0, 1.0))
    z = -targets * predictions
    g = xp.where(z > 0.0, -targets, xp.zeros_like(z))
    return LossOutput(xp.maximum(z, 0.0), lambda cot: {"predictions": g * cot})


# ------------------------------------------------------------------------------------ samplers


def _scores(rng: Any, n: int, c: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Scores with no tie in ``x_j + margin [j != y]`` and no hinge at 0 (within
    :func:`kink_tolerance`)."""
    y = rng.integers(0, c, size=n)
    shift = margin * (np.arange(c)[None, :] != y[:, None])
    tol = kink_tolerance(c)

    def bad(x: np.ndarray) -> np.ndarray:
        return np.any(np.diff(np.sort(x + shift, axis=1), axis=1) <= tol, axis=1)

    return redraw_rows(rng, rng.normal(size=(n, c)), bad), y


def _sample_cs(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    x, y = _scores(rng, n, c, 0.7)
    return {"predictions": x, "targets": y}, {"margin": 0.7}


def _sample_mc_perceptron(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    x, y = _scores(rng, n, c, 0.0)
    return {"predictions": x, "targets": y}, {}


def _sample_categorical_hinge(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    y = rng.integers(0, c, size=n)
    t = np.eye(c)[y]
    tol = kink_tolerance(c)

    def bad(x: np.ndarray) -> np.ndarray:
        v = np.sort((1.0 - t) * x, axis=1)
        z = v[:, -1] - np.sum(t * x, axis=1) + 1.0
        return np.any(np.diff(v, axis=1) <= tol, axis=1) | (np.abs(z) <= tol)

    return {"predictions": redraw_rows(rng, rng.normal(size=(n, c)), bad), "targets": t}, {}


def _sample_perceptron(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    x = rng.normal(size=(n, c))
    x = np.where(np.abs(x) < 1e-3, 0.5, x)
    return {"predictions": x, "targets": rng.choice([-1.0, 1.0], size=(n, c))}, {}


# ------------------------------------------------------------------------------------ specs

_SCORES = InputSpec("predictions", "scores", "(C,) or (N, C)", "class scores, one row per sample",
                    differentiable=True)
_TARGETS = InputSpec("targets", "class_indices", "() or (N,)", "integer class indices in [0, C)",
                     dtype="int")
_TIES = ("Ties at the maximum split the gradient evenly, as JAX's max (optax's gradient) and "
         "PyTorch's amax do.")

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="multiclass_hinge_cs",
        fn=multiclass_hinge_cs,
        family="multiclass",
        aliases=("crammer_singer",),
        summary="Crammer-Singer multiclass hinge: margin violation of the best wrong class.",
        inputs=(_SCORES, _TARGETS),
        params=(ParamSpec("margin", "float", 1.0,
                          "the margin (1 in optax and scikit-learn; 0 gives multiclass_perceptron)",
                          minimum=0.0),),
        formula=r"\ell_n = \max_j \big(x_{n,j} + \Delta[j \ne y_n]\big) - x_{n,y_n} = "
        r"\max\big(0,\ \Delta + \max_{j \ne y_n} x_{n,j} - x_{n,y_n}\big)",
        reference="Crammer and Singer (2001), On the Algorithmic Implementation of Multiclass "
        "Kernel-based Vector Machines, JMLR 2; optax.losses.multiclass_hinge_loss; "
        "sklearn.metrics.hinge_loss (multiclass)",
        gradient_note=r"\partial\ell_n/\partial x_{n,j} = s_j - [j = y_n], s the indicator of "
        r"the maximiser of x_{n,j} + \Delta[j \ne y_n] (so 0 when the target wins). " + _TIES
        + r" At the hinge's kink (x_y - \max_{j\ne y} x_j = \Delta) the target and the best "
        "wrong class tie, so both get one half.",
        notes="optax multiclass_hinge_loss is margin = 1 elementwise (no reduction; our 'none'). "
        "scikit-learn hinge_loss with more than two classes is this loss averaged (our 'mean', "
        "sample_weight as its weights; its labels must be the column order, here class "
        "indices). Keras CategoricalHinge differs: see categorical_hinge (its 0 floor). "
        "Weston-Watkins sums over wrong classes instead: multiclass_hinge (cs231n) and "
        "multi_margin (PyTorch, divided by C). optax maps an out-of-range label to an "
        "all-zero one-hot without error; it is refused here.",
        shift_invariant=True,
        sampler=_sample_cs,
        examples=(
            Example("seed 003 scores: the best wrong class against the target",
                    {"predictions": [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]],
                     "targets": [0, 1, 2]}, reduction="none"),
        ),
    ),
    LossSpec(
        name="categorical_hinge",
        fn=categorical_hinge,
        family="multiclass",
        summary="Keras CategoricalHinge: max(neg - pos + 1, 0) with one-hot targets (0-floor "
        "quirk).",
        inputs=(_SCORES, InputSpec(
            "targets", "probability_rows", "(C,) or (N, C), same shape as predictions",
            "one-hot rows (or class-probability rows summing to 1)", grad_on_request=True)),
        formula=r"\ell_n = \max\big(\max_c (1 - t_{n,c}) x_{n,c} - \sum_c t_{n,c} x_{n,c} + 1,"
        r"\ 0\big)",
        reference="keras.losses.CategoricalHinge / keras.losses.categorical_hinge (Keras 3.15)",
        gradient_note=r"where \mathrm{neg} - \mathrm{pos} + 1 > 0: \partial\ell/\partial x_c = "
        r"(1 - t_c) s_c - t_c, s the maximiser indicator of (1 - t) \odot x; 0 elsewhere "
        "(strict: gradient 0 at exactly 0, where Keras on JAX would give one half). " + _TIES,
        notes="Keras quirk kept: neg = max_c (1 - t_c) x_c includes the 0 of the true class, so "
        "when every wrong-class score is negative neg is 0, not the best wrong score: scores "
        "[-1, -0.5, -2] with target class 1 give 1.5 (Crammer-Singer, multiclass_hinge_cs, "
        "gives 0.5). Equal to multiclass_hinge_cs whenever some wrong-class score is >= 0. "
        "Keras averages over the batch ('sum_over_batch_size' = our 'mean'). Refusals: "
        "targets must lie in [0, 1] with rows summing to 1 (Keras accepts anything, including "
        "{-1, 1} targets its docstring mentions).",
        sampler=_sample_categorical_hinge,
        examples=(
            Example("Keras 0-floor quirk: scores [-1, -0.5, -2], true class 1 give 1.5",
                    {"predictions": [-1.0, -0.5, -2.0], "targets": [0.0, 1.0, 0.0]},
                    reduction="none"),
            Example("a batch of one-hot targets",
                    {"predictions": [[0.2, 1.5, -0.3], [2.0, 0.1, 0.4]],
                     "targets": [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]}),
        ),
    ),
    LossSpec(
        name="perceptron",
        fn=perceptron,
        family="binary",
        summary="Binary perceptron loss max(0, -y x) with labels in {-1, 1}.",
        inputs=(
            InputSpec("predictions", "scores", "(*)", "real-valued scores", differentiable=True),
            InputSpec("targets", "sign_labels", "(*), same shape as predictions",
                      "labels in {-1, 1}"),
        ),
        formula=r"\ell = \max(0,\ -y x)",
        reference="Rosenblatt (1958), The Perceptron; optax.losses.perceptron_loss",
        gradient_note=r"\partial\ell/\partial x = -y\,[-y x > 0]; 0 at x = 0 (strict; optax's "
        "jnp.maximum gives -y/2 there)",
        notes="optax perceptron_loss elementwise (our 'none'); labels are not converted: {0, 1} "
        "labels are refused (optax would compute with them silently). The hinge loss with "
        "margin 0.",
        sampler=_sample_perceptron,
        examples=(
            Example("misclassified samples cost their score",
                    {"predictions": [0.8, -0.3, 1.2, -2.0], "targets": [1.0, 1.0, -1.0, -1.0]},
                    reduction="none"),
        ),
    ),
    LossSpec(
        name="multiclass_perceptron",
        fn=multiclass_perceptron,
        family="multiclass",
        summary="Multiclass perceptron loss: best score minus the target's score.",
        inputs=(_SCORES, _TARGETS),
        formula=r"\ell_n = \max_j x_{n,j} - x_{n,y_n}",
        reference="Collins (2002), Discriminative Training Methods for Hidden Markov Models, "
        "EMNLP; optax.losses.multiclass_perceptron_loss",
        gradient_note=r"\partial\ell_n/\partial x_{n,j} = s_j - [j = y_n], s the argmax "
        "indicator. " + _TIES + " A tie between the target and another class gives the target "
        "-1/2 and the other +1/2.",
        notes="optax multiclass_perceptron_loss elementwise (our 'none'). Equals "
        "multiclass_hinge_cs with margin 0. optax maps an out-of-range label to an all-zero "
        "one-hot without error; it is refused here.",
        shift_invariant=True,
        sampler=_sample_mc_perceptron,
        examples=(
            Example("a batch of scores",
                    {"predictions": [[0.2, 1.5, -0.3], [2.0, 0.1, 0.4]], "targets": [1, 2]},
                    reduction="none"),
        ),
    ),
)
