"""PyTorch's multi-label margin loss, multilabel_margin: every listed class should beat every
unlisted one by 1.

Part of the "multiclass" family: :mod:`.multiclass` lists its spec in its ``SPECS``, after those of
:mod:`.margin`. Why a module of its own: its targets are not one class per sample but lists of
class indices of the predictions' shape, padded with -1, which it validates and counts itself; it
shares with the other margin losses only the class-axis helpers of :mod:`._classes`. Predictions
are class scores ``(N, C)`` (one row per sample) or ``(C,)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _checks, errors
from ._classes import check_predictions, num_classes, reshaped_grad
from ._math import as_float, ns, one_hot
from ._sampling import kink_tolerance, redraw_rows
from .spec import Array, Example, InputSpec, LossOutput, LossSpec


def multilabel_margin(predictions: Array, targets: Array) -> LossOutput:
    """Multi-label margin loss (``torch.nn.functional.multilabel_margin_loss``).

    ``l_n = (1/C) sum_{j in prefix(y_n)} sum_{i not in Y_n} max(0, 1 - (x_{n,y_{n,j}} - x_{n,i}))``
    where ``prefix(y_n)`` is the part of the target row before its first ``-1`` (a class listed
    twice counts twice, as in PyTorch) and ``Y_n`` the set of classes in it. Gradient of each
    active term (``> 0``, strict as PyTorch): ``+1/C`` at ``i`` and ``-1/C`` at ``y_{n,j}``.

    Vectorised without loops: a cumulative count of ``-1`` marks the prefix, one-hot comparisons
    give how often each class is listed (``cnt``, ``(N, C)``), and the hinge terms form an
    ``(N, C, C)`` array ``1 - x_k + x_i`` weighted by ``cnt_k [i not in Y]``.

    Args:
      predictions: [C] or [N, C] class scores (a 0-d score is [1], as in torch).
      targets: [C] or [N, C] integer class indices, padded on the right with -1 (entries after
        the first -1 are ignored, but must still be in [-1, C)); [] or [1] for a 0-d score.

    Returns:
      LossOutput with loss [] or [N].

    References:
      ``torch.nn.MultiLabelMarginLoss``; Weston and Watkins (1999) (pairwise ranking hinge).
    """
    xp = ns(predictions, targets)
    if predictions.ndim == 0 and targets.ndim <= 1 and targets.size == 1:  # torch: C = 1
        out = multilabel_margin(xp.reshape(predictions, (1,)), xp.reshape(targets, (1,)))
        return reshaped_grad(xp, out, ())
    check_predictions(predictions, max_ndim=2)
    _checks.same_shape(predictions, targets, "predictions", "targets")
    if not xp.isdtype(targets.dtype, "integral"):
        raise errors.InvalidDtype("targets holds class indices and must be integers",
                                  ("targets",))
    c = num_classes(predictions)
    bad = (targets < -1) | (targets >= c)
    if bool(xp.any(bad)):
        idx = _checks.first_index(xp, bad)
        raise errors.ClassIndexOutOfRange(
            f"class index {int(targets[idx])} is out of range: indices must be in [0, {c}), "
            "or -1 to end the row's list of target classes", ("targets", *idx))
    x = predictions
    pad = xp.astype(targets == -1, xp.int64)
    listed = xp.cumulative_sum(pad, axis=-1) == 0  # before the first -1
    safe = xp.where(listed, targets, xp.zeros_like(targets))
    oh = one_hot(xp, safe, c, x.dtype) * as_float(xp, listed, x)[..., None]  # (..., P, C)
    cnt = xp.sum(oh, axis=-2)  # how often each class is listed, (..., C)
    outside = as_float(xp, cnt == 0.0, x)
    h = 1.0 - x[..., :, None] + x[..., None, :]  # h[..., k, i] = 1 - x_k + x_i
    w = as_float(xp, h > 0.0, x) * cnt[..., :, None] * outside[..., None, :] / float(c)
    # only the terms torch visits (listed k, unlisted i, h > 0: a NaN h is skipped, as torch's
    # ``if (z > 0)``); w * h alone would make 0 * NaN or 0 * inf NaN
    terms = xp.where(w != 0.0, w * h, xp.zeros_like(h))
    loss = xp.sum(xp.sum(terms, axis=-1), axis=-1)
    g = xp.sum(w, axis=-2) - xp.sum(w, axis=-1)  # +1/C at i, -1/C at the listed class k
    return LossOutput(loss, lambda cot: {"predictions": g * cot[..., None]})


# ------------------------------------------------------------------------------------ samplers


def _sample_multilabel_margin(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Rows listing 0..c distinct classes (one row lists a class twice when c > 1), then -1s."""
    t = np.full((n, c), -1, dtype=np.int64)
    for r in range(n):  # sampler only: random target lists, one row at a time
        k = int(rng.integers(0, c + 1))
        t[r, :k] = rng.permutation(c)[:k]
    if c > 1 and n > 1:
        t[1, :2] = [t[1, 0] if t[1, 0] >= 0 else 0] * 2
    tol = kink_tolerance(c)

    def bad(x: np.ndarray) -> np.ndarray:  # keep every hinge term away from its kink
        return np.any(np.abs(1.0 - x[:, :, None] + x[:, None, :]) < tol, axis=(1, 2))

    return {"predictions": redraw_rows(rng, rng.normal(size=(n, c)), bad), "targets": t}, {}


# ------------------------------------------------------------------------------------ specs

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="multilabel_margin",
        fn=multilabel_margin,
        family="multiclass",
        summary="PyTorch's multi-label margin loss: every listed class should beat every "
        "unlisted one by 1.",
        inputs=(
            InputSpec("predictions", "scores", "(C,) or (N, C)",
                      "class scores, one row per sample", differentiable=True),
            InputSpec("targets", "class_indices", "(C,) or (N, C), same shape as predictions",
                      "each row lists the sample's target classes, then -1 padding (entries "
                      "after the first -1 are ignored)", dtype="int"),
        ),
        formula=r"\ell_n = \frac{1}{C}\sum_{j < J_n}\sum_{i \notin Y_n} "
        r"\max\big(0,\ 1 - (x_{n,y_{n,j}} - x_{n,i})\big),\ J_n = \text{position of the first }"
        r"{-1},\ Y_n = \{y_{n,j} : j < J_n\}",
        reference="torch.nn.MultiLabelMarginLoss / torch.nn.functional.multilabel_margin_loss",
        gradient_note=r"each active term (1 - x_k + x_i > 0, strict as PyTorch) adds +1/C to "
        r"\partial\ell/\partial x_i and -1/C to \partial\ell/\partial x_k; a term of exactly 0 "
        "contributes nothing.",
        notes="PyTorch semantics: only the prefix before the first -1 counts; a class listed "
        "twice counts twice (its terms are doubled); a row starting with -1 has loss 0 and "
        "gradient 0; 'mean' divides by N. Every target entry, listed or not, must be in "
        "[-1, C) (PyTorch's rule too). PyTorch silently skips NaN scores; NaN is refused here. "
        "Memory is O(N C^2).",
        torch_equivalent="torch.nn.functional.multilabel_margin_loss",
        shift_invariant=True,
        sampler=_sample_multilabel_margin,
        examples=(
            Example("PyTorch's documentation example: classes 3 and 0 listed, gives 0.85",
                    {"predictions": [[0.1, 0.2, 0.4, 0.8]], "targets": [[3, 0, -1, 1]]}),
            Example("a class listed twice, and a row with no target class",
                    {"predictions": [[0.1, 0.2, 0.4, 0.8], [1.0, -1.0, 0.5, 0.0]],
                     "targets": [[3, 3, -1, 1], [-1, 0, 1, 2]]}, reduction="none"),
        ),
    ),
)
