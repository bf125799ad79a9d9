"""The catalog of common mistakes, as data: one :class:`Mistake` per code.

Each entry says which losses it can concern (a predicate over the registry's :class:`LossSpec`,
so a loss registered later lights up by its inputs, parameters and family), which checks it
affects, how to compute what a mistaken implementation returns (:mod:`.variants`,
:mod:`.formulas`), how to recognise it (``values``: the submission equals the variant within
tolerance; ``nonfinite``: the submission breaks down, NaN or infinite, exactly where the naive
computation does; ``infinite``: the same, with +inf only, the way -log 0 shows; ``float32``: it
matches a float32 evaluation) and what to tell the student. ``finite`` names the check kinds a
mistake leaves intact (it is not reported when the submission breaks down there too) and
``supersedes`` the more general codes it replaces on the checks where both match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..losses import LOSSES, LossSpec
from . import formulas, variants
from .context import Context
from .formulas import HINGE_POWERS, WESTON_WATKINS, Variant

SpecTest = Callable[[LossSpec], bool]

# losses whose every term is a negative log-likelihood (a log base scales them as a whole)
NOT_LOG = frozenset({"sparsemax", "multiclass_sparsemax", "generalized_cross_entropy",
                     "poly1_cross_entropy", "zero_one"})
LOG_EXTRA = frozenset({"binary_cross_entropy", "soft_margin", "linear_softmax",
                       "probability_cross_entropy"})


def _kinds(spec: LossSpec, name: str) -> set[str]:
    return {i.kind for i in spec.inputs if i.name == name}


def _has_param(name: str) -> SpecTest:
    return lambda spec: any(p.name == name for p in spec.params)


def is_log_loss(spec: LossSpec) -> bool:
    logits = any(i.kind == "logits" and i.differentiable for i in spec.inputs)
    return (logits and spec.name not in NOT_LOG) or spec.name in LOG_EXTRA


def _reductions(*names: str) -> SpecTest:
    return lambda spec: all(r in spec.reductions for r in names)


def _class_indices(spec: LossSpec) -> bool:
    targets = _kinds(spec, "targets") & {"class_indices", "class_indices_or_probabilities"}
    scores = "predictions" in spec.input_names or "W" in spec.input_names
    return bool(targets) and scores and spec.family in ("multiclass", "linear")


def _softmax(spec: LossSpec) -> bool:
    multiclass = spec.family == "multiclass" and "logits" in _kinds(spec, "predictions")
    return multiclass or (spec.family == "linear" and "softmax" in spec.name)


def _focal_alpha(spec: LossSpec) -> bool:
    return any(p.name == "alpha" and p.type == "float" and p.maximum == 1.0
               for p in spec.params) and "focal" in spec.name


def _kl(spec: LossSpec) -> bool:
    return (spec.family == "distribution" and "log_probabilities" in _kinds(spec, "predictions")
            and bool(_kinds(spec, "targets") & {"probabilities", "log_probabilities"}))


def _squared(spec: LossSpec) -> bool:
    return spec.name in ("mse", "msle", "squared_hinge") or any(
        p.name == "p" and 2 in p.choices for p in spec.params)


def _differentiable(spec: LossSpec) -> bool:
    return spec.differentiable


def _any(spec: LossSpec) -> bool:
    return True


def _one(fn: Callable[[Context], Variant | None]) -> Callable[[Context], list[Variant]]:
    def run(ctx: Context) -> list[Variant]:
        v = fn(ctx)
        return [v] if v is not None else []

    return run


@dataclass(frozen=True)
class Mistake:
    """One catalogued mistake."""

    code: str
    title: str
    checks: tuple[str, ...]  # check kinds it affects: value, per_sample, gradient
    losses: SpecTest
    variants: Callable[[Context], list[Variant]]
    hint: str
    when: str = ""  # the condition on the request, in words
    match: Literal["values", "nonfinite", "infinite", "float32"] = "values"
    finite: tuple[str, ...] = ()  # check kinds the mistake leaves finite
    supersedes: tuple[str, ...] = ()  # codes it replaces where both match one check

    def applies_to(self, spec: LossSpec) -> bool:
        return self.losses(spec)

    def describe(self) -> dict[str, Any]:
        return {"code": self.code, "title": self.title, "checks": list(self.checks),
                "match": self.match, "when": self.when, "hint": self.hint,
                "applies_to": [s.name for s in LOSSES.values() if self.losses(s)]}


V, P, G = "value", "per_sample", "gradient"
CATALOG: tuple[Mistake, ...] = (
    Mistake("sum_instead_of_mean", "Sum instead of mean", (V, P), _reductions("mean", "sum"),
            variants.sum_instead_of_mean,
            "The reduction is a mean: divide the summed loss by the number of elements (for "
            "class-weighted cross-entropy, by the sum of the target classes' weights).",
            when="reduction 'mean' or 'batchmean'"),
    Mistake("mean_instead_of_sum", "Mean instead of sum", (V, G), _reductions("mean", "sum"),
            variants.mean_instead_of_sum,
            "The reduction is a sum: add the per-sample losses without dividing by N.",
            when="reduction 'sum'"),
    Mistake("log_base_10", "Log base 10 instead of e", (V, P, G), is_log_loss,
            variants.log_base_10,
            "Use the natural logarithm (np.log), not np.log10: these losses are in nats."),
    Mistake("log_base_2", "Log base 2 instead of e", (V, P, G), is_log_loss, variants.log_base_2,
            "Use the natural logarithm (np.log), not np.log2."),
    Mistake("gradient_missing_1_over_n", "Gradient missing the 1/N", (G,),
            lambda s: s.differentiable and _reductions("mean", "sum")(s),
            variants.gradient_missing_1_over_n,
            "The loss is a mean, so its gradient carries the same 1/N: divide the gradient of "
            "the summed loss by N (the count the mean divides by).",
            when="reduction 'mean' or 'batchmean'"),
    Mistake("gradient_sign_flipped", "Gradient with the wrong sign", (G,), _differentiable,
            variants.gradient_sign_flipped,
            "The gradient has the wrong sign: it should point uphill (for softmax "
            "cross-entropy it is p - y, not y - p)."),
    Mistake("gradient_wrt_probabilities", "Gradient with respect to the probabilities", (G,),
            lambda s: any(i.kind == "logits" and i.differentiable for i in s.inputs),
            _one(formulas.gradient_wrt_probabilities),
            "The gradient is taken with respect to the logits z, not the probabilities p: "
            "chain through the softmax or sigmoid (for cross-entropy it simplifies to p - y)."),
    Mistake("mse_gradient_missing_factor_2", "Squared-error gradient missing the factor 2",
            (G,), _squared, variants.mse_gradient_missing_factor_2,
            "d/dx (x - y)^2 = 2 (x - y): keep the factor 2 in the gradient.",
            when="a squared error (mse, msle, squared_hinge, or p = 2)"),
    Mistake("softmax_overflow", "Softmax without subtracting the maximum", (V, P, G), _softmax,
            _one(formulas.softmax_overflow),
            "Subtract each row's maximum before exponentiating (log-sum-exp): exp(1000) "
            "overflows to inf, and inf / inf is NaN.",
            when="scores large enough to overflow exp (or underflow every term)",
            match="nonfinite"),
    Mistake("softmax_log_underflow", "Log of an underflowed softmax", (V, P), _softmax,
            _one(formulas.softmax_log_underflow),
            "The maximum is subtracted, but the target's probability underflowed to 0 and log 0 "
            "is -inf: take the log with log-sum-exp, log p_y = s_y - max - log(sum_j exp(s_j - "
            "max)), instead of np.log of the softmax.",
            when="another class's score leads the target's by more than ~745",
            match="infinite", finite=(G,), supersedes=("softmax_overflow",)),
    Mistake("missing_clipping", "No clipping at p = 0 or 1", (V, P, G),
            lambda s: "probabilities" in _kinds(s, "predictions") and is_log_loss(s),
            _one(formulas.missing_clipping),
            "log(0) is -inf: clamp the logarithm (PyTorch clamps log p and log(1 - p) at -100) "
            "or clip p to [eps, 1 - eps] before taking it.",
            when="a probability of exactly 0 or 1", match="nonfinite"),
    Mistake("svm_counts_correct_class", "Multiclass hinge counting the correct class",
            (V, P, G), lambda s: s.name in WESTON_WATKINS,
            _one(formulas.svm_counts_correct_class),
            "Skip j = y in the sum over classes: the correct class would add max(0, s_y - s_y "
            "+ margin) = margin to every sample."),
    Mistake("hinge_labels_01", "Hinge on {0, 1} labels", (V, P, G),
            lambda s: s.name in HINGE_POWERS, _one(formulas.hinge_labels_01),
            "The hinge needs labels in {-1, +1}: map {0, 1} labels with y = 2y - 1 first."),
    Mistake("kl_reversed", "KL divergence in the wrong direction", (V, P, G), _kl,
            _one(formulas.kl_reversed),
            "KL(p || q) = sum p (log p - log q) takes the expectation under the target p, not "
            "under the prediction q."),
    Mistake("weighted_mean_over_n", "Weighted mean divided by N", (V, G),
            _reductions("mean", "sum"), variants.weighted_mean_over_n,
            "A weighted mean divides by the sum of the weights (for cross-entropy: of the "
            "target classes' weights over the non-ignored samples), not by N.",
            when="reduction 'mean' with sample_weight, class weights or ignored targets"),
    Mistake("label_smoothing_ignored", "Label smoothing ignored", (V, P, G),
            _has_param("label_smoothing"), variants.label_smoothing_ignored,
            "Apply the label smoothing: the target becomes (1 - eps) onehot + eps / C.",
            when="label_smoothing > 0"),
    Mistake("label_smoothing_wrong_formula", "Label smoothing with the wrong formula", (V, P, G),
            lambda s: (_has_param("label_smoothing")(s) and s.family == "multiclass"
                       and "logits" in _kinds(s, "predictions")),  # its variants take softmax
            formulas.label_smoothing_wrong_formula,
            "The smoothed target is (1 - eps) onehot + eps / C: every class, the true one "
            "included, gets eps / C.", when="label_smoothing > 0, no class weights"),
    Mistake("focal_alpha_swapped", "Focal alpha on the wrong class", (V, P, G), _focal_alpha,
            variants.focal_alpha_swapped,
            "alpha weighs the positive class (y = 1) and 1 - alpha the negative one.",
            when="alpha in [0, 1], not 0.5"),
    Mistake("gradient_transposed", "Transposed gradient", (G,), _differentiable,
            variants.gradient_transposed,
            "A gradient has the shape of the input it is taken with respect to: return it "
            "untransposed.", when="a 2-D gradient"),
    Mistake("per_sample_instead_of_reduced", "Per-sample values where a reduced value was "
            "asked", (V,), _reductions("none"), variants.per_sample_instead_of_reduced,
            "'value' is the reduced loss (one number); one value per sample goes in "
            "'per_sample'.", when="reduction 'mean' or 'sum'"),
    Mistake("reduced_instead_of_per_sample", "Reduced value where per-sample values were "
            "asked", (V, P), _any, variants.reduced_instead_of_per_sample,
            "'per_sample' has one value per sample (and with reduction 'none', 'value' is the "
            "unreduced loss), not a single reduced number."),
    Mistake("class_index_off_by_one", "Off-by-one class indices", (V, P, G), _class_indices,
            variants.class_index_off_by_one,
            "Class indices are 0-based: label y selects column y (not y - 1 or y + 1)."),
    Mistake("regularization_convention", "Regularisation with the other convention", (V, P, G),
            _has_param("reg_convention"), variants.regularization_convention,
            "Check the penalty's convention: reg * sum(W^2) has gradient 2 reg W, 0.5 reg * "
            "sum(W^2) has gradient reg W.", when="reg > 0"),
    Mistake("float32_rounding", "float32 rounding only", (V, P, G), _any,
            variants.float32_rounding,
            "The numbers match a float32 computation: compute in float64 (e.g. "
            "np.asarray(x, dtype=np.float64)).", when="dtype float64", match="float32"),
)

CODES: tuple[str, ...] = tuple(m.code for m in CATALOG)
BY_CODE: dict[str, Mistake] = {m.code: m for m in CATALOG}


def applicable(spec: LossSpec) -> list[Mistake]:
    """The catalogued mistakes that can concern ``spec``, in catalog order."""
    return [m for m in CATALOG if m.applies_to(spec)]
