"""The mistake catalog is data: exactly the issues' codes (issue 20 added
softmax_log_underflow), each applicable to registered losses, with applicability read from a
loss's inputs, parameters and family (so new losses light up)."""

from __future__ import annotations

import numpy as np
import pytest

from service.grading import CATALOG, CODES, applicable
from service.losses import LOSSES, InputSpec, LossOutput, LossSpec, ParamSpec

ISSUE_CODES = (
    "sum_instead_of_mean", "mean_instead_of_sum", "log_base_10", "log_base_2",
    "gradient_missing_1_over_n", "gradient_sign_flipped", "gradient_wrt_probabilities",
    "mse_gradient_missing_factor_2", "softmax_overflow", "softmax_log_underflow",
    "missing_clipping",
    "svm_counts_correct_class", "hinge_labels_01", "kl_reversed", "weighted_mean_over_n",
    "label_smoothing_ignored", "label_smoothing_wrong_formula", "focal_alpha_swapped",
    "gradient_transposed", "per_sample_instead_of_reduced", "reduced_instead_of_per_sample",
    "class_index_off_by_one", "regularization_convention", "float32_rounding",
)


def test_the_codes_are_exactly_the_issues():
    assert CODES == ISSUE_CODES


@pytest.mark.parametrize("mistake", CATALOG, ids=lambda m: m.code)
def test_every_mistake_concerns_a_registered_loss(mistake):
    entry = mistake.describe()
    if mistake.code == "regularization_convention" and not entry["applies_to"]:
        pytest.skip("no registered loss has a reg_convention parameter in this tree")
    assert entry["applies_to"], f"{mistake.code} applies to no registered loss"
    assert set(entry) == {"code", "title", "checks", "match", "when", "hint", "applies_to"}
    assert set(entry["checks"]) <= {"value", "per_sample", "gradient"} and entry["hint"]


def _spec(name: str, family: str, inputs: tuple[InputSpec, ...],
          params: tuple[ParamSpec, ...] = ()) -> LossSpec:
    def fn(**kwargs: object) -> LossOutput:  # never called: applicability reads the data only
        raise AssertionError

    return LossSpec(name=name, fn=fn, family=family, summary="", inputs=inputs, formula="",
                    reference="", sampler=lambda rng, n, c: ({}, {}), params=params)


def test_applicability_comes_from_the_specs_data():
    softmax_like = _spec(
        "some_new_softmax_loss", "multiclass",
        (InputSpec("predictions", "logits", "(N, C)", "", differentiable=True),
         InputSpec("targets", "class_indices", "(N,)", "", dtype="int")),
        (ParamSpec("label_smoothing", "float", 0.0, ""),
         ParamSpec("reg_convention", "choice", "sum_squares", "",
                   choices=("sum_squares", "half_sum_squares"))))
    codes = {m.code for m in applicable(softmax_like)}
    assert {"log_base_10", "log_base_2", "softmax_overflow", "gradient_wrt_probabilities",
            "label_smoothing_ignored", "label_smoothing_wrong_formula",
            "class_index_off_by_one", "regularization_convention"} <= codes
    assert not codes & {"kl_reversed", "hinge_labels_01", "missing_clipping",
                        "mse_gradient_missing_factor_2", "focal_alpha_swapped"}
    regression = _spec("some_new_regression", "regression",
                       (InputSpec("predictions", "values", "(*)", "", differentiable=True),
                        InputSpec("targets", "values", "(*)", "")))
    codes = {m.code for m in applicable(regression)}
    assert "log_base_10" not in codes and "softmax_overflow" not in codes
    assert {"sum_instead_of_mean", "gradient_sign_flipped", "float32_rounding"} <= codes
    kl_like = _spec("some_new_divergence", "distribution",
                    (InputSpec("predictions", "log_probabilities", "(*)", "",
                               differentiable=True),
                     InputSpec("targets", "probabilities", "(*)", "")))
    assert "kl_reversed" in {m.code for m in applicable(kl_like)}


def test_registered_losses_get_the_expected_codes():
    def codes(name: str) -> set[str]:
        return {m.code for m in applicable(LOSSES[name])}

    assert {"missing_clipping", "log_base_10"} <= codes("binary_cross_entropy")
    assert "missing_clipping" not in codes("likelihood") and "log_base_10" not in codes("mse")
    assert {"hinge_labels_01", "mse_gradient_missing_factor_2"} <= codes("squared_hinge")
    assert "svm_counts_correct_class" in codes("multi_margin")
    assert "focal_alpha_swapped" in codes("sigmoid_focal")
    assert "focal_alpha_swapped" not in codes("focal")  # softmax focal: alpha per class
    assert "kl_reversed" in codes("kl_div")
    assert "gradient_wrt_probabilities" in codes("gan_discriminator")
    assert "zero_one" in LOSSES and "gradient_sign_flipped" not in codes("zero_one")


def test_listing_order_is_the_catalogs():
    assert [m.code for m in CATALOG] == list(CODES)
    assert np.all([m.match in ("values", "nonfinite", "infinite", "float32") for m in CATALOG])
