"""The Brier score of scikit-learn: squared error of predicted probabilities, binary or
multiclass. Its spec is listed in :mod:`.cross_entropy_variants`' ``SPECS``."""

from __future__ import annotations

from typing import Any

from . import _checks, errors
from ._classes import check_index_targets
from ._math import ns, one_hot
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec


def brier(predictions: Array, targets: Array, *, scale_by_half: str | bool = "auto"
          ) -> LossOutput:
    """Brier score (scikit-learn ``brier_score_loss``), one value per sample.

    Multiclass ``(N, C)``: ``l_n = s sum_c (onehot(y_n)_c - p_{n,c})^2``. Binary ``(N,)`` (or
    ``(N, 1)``) probabilities of the positive class: the two columns ``(1 - p, p)`` against
    ``(1 - y, y)``, so ``l_n = 2 s (y_n - p_n)^2``. ``s = 1/2`` when ``scale_by_half`` is true,
    or 'auto' with fewer than 3 columns (binary: ``l = (y - p)^2``); ``s = 1`` otherwise.
    Gradient ``2 s (p - onehot)``, resp. ``4 s (p - y)``.

    Args:
      predictions: [N] or [N, 1] probabilities of the positive class, or [N, C] class-probability
        rows (not checked to sum to 1, as scikit-learn, which only warns).
      targets: [N] labels in {0, 1} (binary), or integer class indices in [0, C).
      scale_by_half: 'auto', True or False (as sklearn).

    Returns:
      LossOutput with loss [N].

    References:
      Brier (1950), Verification of Forecasts Expressed in Terms of Probability;
      ``sklearn.metrics.brier_score_loss``.
    """
    xp = ns(predictions, targets)
    x = predictions
    _checks.ndim_in(x, "predictions", (1, 2), "((N,) or (N, 1) binary, (N, C) multiclass)")
    _checks.probabilities(xp, x, "predictions")
    binary = x.ndim == 1 or int(x.shape[1]) == 1
    columns = 2 if binary else int(x.shape[1])
    half = scale_by_half is True or (scale_by_half == "auto" and columns < 3)
    s = 0.5 if half else 1.0
    if binary:
        n = int(x.shape[0])
        if tuple(targets.shape) != (n,):
            raise errors.ShapeMismatch(
                f"targets has shape {_checks.fmt_shape(targets.shape)} but binary predictions "
                f"of shape {_checks.fmt_shape(x.shape)} need labels of shape ({n},)",
                ("targets",))
        y = xp.astype(targets, x.dtype)
        _checks.labels_in(xp, y, "targets", (0.0, 1.0))
        d = xp.reshape(x, (n,)) - y
        loss = (2.0 * s) * d * d
        g = xp.reshape((4.0 * s) * d, x.shape)
        return LossOutput(loss, lambda cot: {"predictions": g * xp.reshape(cot, (n,) + (1,) * (
            x.ndim - 1))})
    check_index_targets(xp, x, targets)  # rows need not sum to 1 (sklearn only warns)
    d = x - one_hot(xp, targets, columns, x.dtype)
    loss = s * xp.sum(d * d, axis=-1)
    g = (2.0 * s) * d
    return LossOutput(loss, lambda cot: {"predictions": g * cot[..., None]})


def _sample_brier(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    p = rng.uniform(0.1, 1.0, size=(n, c))
    return {"predictions": p / p.sum(axis=1, keepdims=True),
            "targets": rng.integers(0, c, size=n)}, {}


SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="brier",
        fn=brier,
        family="binary",
        summary="Brier score: squared error of predicted probabilities (binary or multiclass).",
        inputs=(
            InputSpec("predictions", "probabilities", "(N,), (N, 1) or (N, C)",
                      "probabilities of the positive class (N,) / (N, 1), or class-probability "
                      "rows (N, C)", differentiable=True),
            InputSpec("targets", "class_indices", "(N,)",
                      "labels in {0, 1} (binary), or integer class indices in [0, C)",
                      dtype="index_or_float"),
        ),
        params=(ParamSpec("scale_by_half", "choice", "auto",
                          "halve the sum over classes: 'auto' (halve with fewer than 3 columns, "
                          "binary counting as 2), true or false (as sklearn)",
                          choices=("auto", True, False)),),
        formula=r"\ell_n = s \sum_c (\mathrm{onehot}(y_n)_c - p_{n,c})^2;\ \text{binary: } "
        r"\ell_n = 2 s (y_n - p_n)^2;\ s = \tfrac12 \text{ if halved, else } 1",
        reference="Brier (1950), Verification of Forecasts Expressed in Terms of Probability; "
        "sklearn.metrics.brier_score_loss (scikit-learn 1.9)",
        gradient_note=r"\partial\ell_n/\partial p_{n,c} = 2 s (p_{n,c} - \mathrm{onehot}(y_n)_c)"
        r"; binary: 4 s (p_n - y_n). Smooth.",
        notes="scikit-learn brier_score_loss is our 'mean' (sample_weight as its weights); the "
        "default 'auto' halves binary and 2-column inputs, so binary is mean((y - p)^2) and 3+ "
        "classes range over [0, 2]. Targets are class indices = the column order (sklearn's "
        "labels=range(C)); binary labels must be {0, 1} (sklearn also maps {-1, 1}, strings "
        "and pos_label). Probabilities outside "
        "[0, 1] are refused (sklearn raises too); (N, C) rows that do not sum to 1 are "
        "accepted and used as given (sklearn warns, and computes the same number; the "
        "gradient is that of the formula, with no constraint on the rows).",
        sampler=_sample_brier,
        examples=(
            Example("binary: probabilities of the positive class",
                    {"predictions": [0.1, 0.9, 0.8, 0.3], "targets": [0, 1, 1, 0]}),
            Example("three classes (not halved by 'auto')",
                    {"predictions": [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]], "targets": [0, 2]}),
        ),
    ),
)
