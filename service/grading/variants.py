"""Mistakes that are the right loss evaluated the wrong way, computed by the engine itself.

Each function returns the variants (possibly none) one mistaken implementation could produce
for the request in ``ctx``: another reduction, a parameter set the other way, shifted class
indices, float32 instead of float64, an output reshaped or scaled. The engine computes them, so
the reference and each variant share one implementation. Formulas no correct loss computes live
in :mod:`.formulas`.
"""

from __future__ import annotations

import math

import numpy as np

from ..losses.sigmoid_focal import focal_alpha
from .context import Context
from .formulas import Variant


def _v(label: str, arrays: dict[str, np.ndarray] | None) -> list[Variant]:
    return [Variant(label, arrays)] if arrays else []


def sum_instead_of_mean(ctx: Context) -> list[Variant]:
    if ctx.reduction not in ("mean", "batchmean"):
        return []
    out = _v("the sum over the batch", ctx.with_penalty(ctx.data_run("sum"), ("value",)))
    k = ctx.elements_per_sample
    if k > 1:
        per_sample = ctx.ref["per_sample"] * k - ctx.penalty["per_sample"] * (k - 1)
        out += _v(f"each sample's sum over its {k} elements", {"per_sample": per_sample})
    return out


def mean_instead_of_sum(ctx: Context) -> list[Variant]:
    if ctx.reduction != "sum" or "mean" not in ctx.spec.reductions:
        return []
    return _v("the mean over the batch", ctx.run_with(reduction="mean"))


def _log_base(ctx: Context, base: float) -> list[Variant]:
    data = ctx.data_run()
    if data is None:
        return []
    scaled = {k: v / math.log(base) for k, v in data.items()}
    return _v(f"the loss with log base {base:g}", ctx.with_penalty(scaled))


def log_base_10(ctx: Context) -> list[Variant]:
    return _log_base(ctx, 10.0)


def log_base_2(ctx: Context) -> list[Variant]:
    return _log_base(ctx, 2.0)


def gradient_missing_1_over_n(ctx: Context) -> list[Variant]:
    if ctx.reduction not in ("mean", "batchmean") or "sum" not in ctx.spec.reductions:
        return []
    summed = ctx.data_run("sum")
    return _v("the gradient of the sum (no 1/N)",
              ctx.with_penalty(ctx.gradient_checks(summed or {})))


def gradient_sign_flipped(ctx: Context) -> list[Variant]:
    return _v("the negated gradient", {k: -v for k, v in ctx.gradient_checks(ctx.ref).items()})


def mse_gradient_missing_factor_2(ctx: Context) -> list[Variant]:
    if ctx.spec.name not in ("mse", "msle", "squared_hinge") and ctx.params.get("p") != 2:
        return []
    data = ctx.data_run()
    halves = {k: v / 2.0 for k, v in ctx.gradient_checks(data or {}).items()}
    return _v("half the gradient (d/dx (x - y)^2 without its factor 2)", ctx.with_penalty(halves))


def weighted_mean_over_n(ctx: Context) -> list[Variant]:
    """A weighted (or partly ignored) mean divided by the count instead of the weight sum."""
    if ctx.reduction not in ("mean", "batchmean"):
        return []
    ignore = ctx.params.get("ignore_index")
    targets = ctx.inputs.get("targets")
    ignored = ignore is not None and targets is not None and bool(np.any(targets == ignore))
    weighted = ctx.sample_weight is not None or ctx.params.get("weight") is not None
    loss = ctx.unreduced
    summed = ctx.data_run("sum")
    if not (weighted or ignored) or loss is None or summed is None:
        return []
    out = []
    counts = {int(loss.size): "the number of elements", ctx.n_samples: "the number of samples"}
    for count, what in counts.items():
        divided = {k: v / count for k, v in summed.items() if k != "per_sample"}
        out += _v(f"the weighted sum divided by {what} ({count})", ctx.with_penalty(divided))
    return out


def label_smoothing_ignored(ctx: Context) -> list[Variant]:
    if not ctx.params.get("label_smoothing"):
        return []
    return _v("the loss without label smoothing", ctx.run_with(params={"label_smoothing": 0.0}))


def focal_alpha_swapped(ctx: Context) -> list[Variant]:
    alpha = focal_alpha(ctx.params.get("alpha"), ctx.params.get("convention"))
    if not isinstance(alpha, float) or not 0.0 <= alpha <= 1.0 or alpha == 0.5:
        return []
    return _v(f"alpha on the negative class (alpha = {1 - alpha:g} instead of {alpha:g})",
              ctx.run_with(params={"alpha": 1.0 - alpha}))


def gradient_transposed(ctx: Context) -> list[Variant]:
    return _v("the transposed gradient", {k: v.T for k, v in ctx.gradient_checks(ctx.ref).items()
                                          if v.ndim == 2})


def per_sample_instead_of_reduced(ctx: Context) -> list[Variant]:
    if ctx.reduction == "none":
        return []
    out = _v("the per-sample values", {"value": ctx.ref["per_sample"]})
    if ctx.elements_per_sample > 1:
        out += _v("the unreduced loss", ctx.run_with(reduction="none"))
    return out


def reduced_instead_of_per_sample(ctx: Context) -> list[Variant]:
    per_sample = ctx.ref["per_sample"]
    out = _v("the mean of the per-sample values", {"per_sample": np.mean(per_sample)})
    out += _v("the sum of the per-sample values", {"per_sample": np.sum(per_sample)})
    if ctx.reduction != "none":
        out += _v("the reduced value", {"per_sample": ctx.ref["value"]})
    else:
        for reduction in ("mean", "sum"):
            run = ctx.run_with(reduction=reduction) if reduction in ctx.spec.reductions else None
            out += _v(f"the {reduction} instead of the unreduced loss",
                      {"value": run["value"]} if run else None)
    return out


def _num_classes(ctx: Context) -> int | None:
    if "W" in ctx.inputs:
        return int(np.shape(ctx.inputs["W"])[-1])
    x = ctx.inputs.get("predictions")
    if x is None or np.ndim(x) == 0:
        return None
    return int(np.shape(x)[0 if np.ndim(x) == 1 else 1])


def class_index_off_by_one(ctx: Context) -> list[Variant]:
    targets = ctx.inputs.get("targets")
    c = _num_classes(ctx)
    if targets is None or np.asarray(targets).dtype.kind not in "iu" or not c:
        return []
    t = np.asarray(targets)
    ignore = ctx.params.get("ignore_index")
    keep = t == ignore if ignore is not None else np.zeros(t.shape, bool)
    out = []
    for shift, why in ((-1, "y - 1 (1-based labels)"), (1, "y + 1")):
        shifted = np.where(keep, t, (t + shift) % c)
        out += _v(f"the loss of class {why}, wrapping around", ctx.run_with(
            inputs={"targets": shifted}))
    return out


def regularization_convention(ctx: Context) -> list[Variant]:
    current = ctx.params.get("reg_convention")
    if current is None or not ctx.params.get("reg"):
        return []
    choices = ctx.spec.param("reg_convention").choices
    out = []
    for other in choices:
        if other != current:
            run = ctx.run_with(params={"reg_convention": other})
            out += _v(f"the penalty with reg_convention '{other}'", run)
    return out


def float32_rounding(ctx: Context) -> list[Variant]:
    if ctx.dtype != "float64":
        return []
    return _v("the loss computed in float32", ctx.run_with(dtype="float32"))
