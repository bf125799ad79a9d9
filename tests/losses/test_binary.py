"""binary_cross_entropy and likelihood (service/losses/binary.py) against the PyTorch oracle
(torch 2.13.0, float64) and, for likelihood, a reference written here with torch ops; the seed
worked examples, probabilities of exactly 0 and 1, the weight forms, and every input and parameter
error of the binary losses with its code and location, their aliases and family flags."""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import evaluate, get_loss
from tests.conftest import assert_close, to_np, torch_oracle
from tests.losses.binary_support import ELEMENTWISE_SHAPES, check_against, soft_labels, weight_for
from tests.losses.support import REDUCTIONS, loss_error, rng_for, tensor_or_none, torch_or_skip

# --------------------------------------------------------------------------------------------
# PyTorch oracle and a reference written here (likelihood)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
@pytest.mark.parametrize("weight_kind", [None, "scalar", "one", "last"])
def test_bce_matches_torch(weight_kind, shape, reduction):
    F = torch_or_skip().nn.functional

    rng = rng_for("bce", weight_kind, shape, reduction)
    p = rng.uniform(0.001, 0.999, size=shape)
    y = soft_labels(rng, shape)
    weight = weight_for(weight_kind, shape, rng)
    if shape == () and isinstance(weight, list):
        weight = weight[0]  # torch refuses a (1,) weight for a 0-d input (tested separately)

    def ref(predictions, targets):
        return F.binary_cross_entropy(predictions, targets, weight=tensor_or_none(weight),
                                      reduction=reduction)

    params = {} if weight is None else {"weight": weight}
    check_against("binary_cross_entropy", params, {"predictions": p, "targets": y}, ref,
                  reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
def test_likelihood_matches_reference(shape, reduction):
    rng = rng_for("lik", shape, reduction)
    p = rng.uniform(0.0, 1.0, size=shape)
    y = soft_labels(rng, shape)

    def ref(predictions, targets):  # seed 002: -(y p + (1 - y)(1 - p))
        loss = -(targets * predictions + (1 - targets) * (1 - predictions))
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    check_against("likelihood", {}, {"predictions": p, "targets": y}, ref, reduction)


# --------------------------------------------------------------------------------------------
# Seed worked examples (golden values from the lecture notes in /work/shared/seeds)
# --------------------------------------------------------------------------------------------


def test_seed_002_binary_cross_entropy():
    # seed 002: targets (0,0,1,0,1), probabilities (0.2,0.4,0.8,0.3,0.9) -> 0.28
    inputs = {"predictions": [0.2, 0.4, 0.8, 0.3, 0.9], "targets": [0.0, 0.0, 1.0, 0.0, 1.0]}
    r = evaluate("bce", inputs)
    assert round(float(to_np(r.value)), 2) == 0.28
    F = torch_or_skip().nn.functional  # the exact value, from torch
    value, _ = torch_oracle(
        lambda predictions, targets: F.binary_cross_entropy(predictions, targets),
        {k: np.asarray(v) for k, v in inputs.items()}, (), "mean")
    assert_close(r.value, value)


def test_seed_003_binary_cross_entropy_and_gradient():
    # seed 003: y = 0, y_hat = 0.9 -> L_CE = 2.30, dL_CE/dy_hat = 10.00
    r = evaluate("binary_cross_entropy", {"predictions": [0.9], "targets": [0.0]},
                 reduction="mean", want_grad=True)
    assert f"{float(to_np(r.value)):.2f}" == "2.30"
    assert f"{float(to_np(r.gradients['predictions'])[0]):.2f}" == "10.00"
    assert_close(r.value, -np.log(0.1))
    assert_close(r.gradients["predictions"], [0.9 / (0.9 * (1 - 0.9))])


def test_seed_002_likelihood():
    # seed 002: targets (1,1,0,0,0), probabilities (0.5,0.9,0.2,0.6,0.1) -> -0.7
    r = evaluate("maximum_likelihood", {"predictions": [0.5, 0.9, 0.2, 0.6, 0.1],
                                        "targets": [1.0, 1.0, 0.0, 0.0, 0.0]}, want_grad=True)
    assert float(to_np(r.value)) == -0.7
    assert_close(r.gradients["predictions"], np.array([-1, -1, 1, 1, 1]) / 5)


# --------------------------------------------------------------------------------------------
# Stability and edge cases
# --------------------------------------------------------------------------------------------


def test_bce_at_probabilities_zero_and_one_matches_torch():
    F = torch_or_skip().nn.functional

    p = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1e-300, 0.5])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.5, 0.25, 1.0, 1.0])
    r = check_against("binary_cross_entropy", {}, {"predictions": p, "targets": y},
                      lambda predictions, targets: F.binary_cross_entropy(
                          predictions, targets, reduction="none"), "none")
    # the -100 clamp: p = 0, y = 1 gives exactly 100; soft labels take the clamped log too
    assert to_np(r.value)[:6].tolist() == [100.0, 100.0, 0.0, 0.0, 50.0, 75.0]
    # torch's gradient formula with its floor 1e-12f (a float32 literal, 9.99999996e-13), as
    # the oracle above shows: (p - y) / 1e-12f, about -+1e12
    eps = float(np.float32(1e-12))
    assert to_np(r.gradients["predictions"])[:4].tolist() == [-1 / eps, 1 / eps, 0.0, 0.0]


def test_bce_weight_forms_agree():
    p, y = np.array([[0.3, 0.8], [0.6, 0.1]]), np.array([[1.0, 0.0], [0.0, 0.5]])
    base = to_np(evaluate("bce", {"predictions": p, "targets": y}, reduction="none").value)
    scalar = evaluate("bce", {"predictions": p, "targets": y}, {"weight": 2.0}, reduction="none")
    one = evaluate("bce", {"predictions": p, "targets": y}, {"weight": [2.0]}, reduction="none")
    last = evaluate("bce", {"predictions": p, "targets": y}, {"weight": [2.0, 0.5]},
                    reduction="none")
    assert_close(scalar.value, 2 * base)
    assert_close(one.value, 2 * base)
    assert_close(last.value, base * np.array([2.0, 0.5]))
    # mean divides by the element count (4), not by the weights' sum
    mean = evaluate("bce", {"predictions": p, "targets": y}, {"weight": [2.0, 0.5]})
    assert_close(mean.value, (base * np.array([2.0, 0.5])).sum() / 4)
    # a 0-d input takes a length-1 weight as a scalar (torch raises here)
    zero_d = evaluate("bce", {"predictions": 0.3, "targets": 1.0}, {"weight": [2.0]},
                      reduction="none")
    assert to_np(zero_d.value).shape == ()
    assert_close(zero_d.value, -2 * np.log(0.3))


# --------------------------------------------------------------------------------------------
# Errors, each with its code and location
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "inputs", "code", "loc"), [
    ("bce", {"predictions": [[0.2, 1.2], [0.1, 0.5]], "targets": [[0.0, 1.0], [1.0, 0.0]]},
     "probability_out_of_range", ("predictions", 0, 1)),
    ("bce", {"predictions": [0.2, 0.4], "targets": [0.0, -0.1]},
     "probability_out_of_range", ("targets", 1)),
    ("bce", {"predictions": [0.2, 0.4], "targets": [[0.0, 1.0]]}, "shape_mismatch", ("targets",)),
    ("bce_with_logits", {"predictions": [3.0, 4.0, -1.0], "targets": [0.0, 1.0, 2.0]},
     "probability_out_of_range", ("targets", 2)),
    ("bce_with_logits", {"predictions": [3.0], "targets": [[1.0]]}, "shape_mismatch",
     ("targets",)),
    ("soft_margin", {"predictions": [1.0, 2.0], "targets": [1.0, 0.0]}, "invalid_label",
     ("targets", 1)),
    ("soft_margin", {"predictions": [1.0], "targets": [1.0, -1.0]}, "shape_mismatch",
     ("targets",)),
    ("hinge", {"predictions": [1.0, 2.0, 0.0], "targets": [1.0, -1.0, 0.0]}, "invalid_label",
     ("targets", 2)),
    ("hinge", {"predictions": [1.0, 2.0], "targets": [[0.0, -1.0]]}, "shape_mismatch",
     ("targets",)),
    ("squared_hinge", {"predictions": [[1.0, 2.0]], "targets": [[0.5, 1.0]]}, "invalid_label",
     ("targets", 0, 0)),
    ("multilabel_soft_margin", {"predictions": np.zeros((2, 2, 2)), "targets": np.zeros((2, 2, 2))},
     "invalid_shape", ("predictions",)),
    ("multilabel_soft_margin", {"predictions": [[1.0, 2.0]], "targets": [[0.0, 3.0]]},
     "probability_out_of_range", ("targets", 0, 1)),
    ("multilabel_soft_margin", {"predictions": [[1.0, 2.0]], "targets": [0.0, 1.0]},
     "shape_mismatch", ("targets",)),
    ("sigmoid_focal", {"predictions": [1.0, 2.0], "targets": [1.5, 0.0]},
     "probability_out_of_range", ("targets", 0)),
    ("likelihood", {"predictions": [0.5, -0.5], "targets": [1.0, 0.0]},
     "probability_out_of_range", ("predictions", 1)),
    ("likelihood", {"predictions": [0.5, 0.5], "targets": [1.0, 1.5]},
     "probability_out_of_range", ("targets", 1)),
])
def test_input_errors(name, inputs, code, loc):
    err = loss_error(name, inputs)
    assert (err.code, err.loc) == (code, loc)


@pytest.mark.parametrize(("name", "shape", "params", "loc"), [
    ("bce", (3, 2), {"weight": [1.0, 2.0, 3.0]}, ("params", "weight")),
    ("bce", (), {"weight": [1.0, 2.0]}, ("params", "weight")),
    ("bce", (2,), {"weight": -1.0}, ("params", "weight")),
    ("bce", (2,), {"weight": [1.0, -1.0]}, ("params", "weight", 1)),
    ("bce", (2,), {"weight": [[1.0, 2.0]]}, ("params", "weight")),  # (1, 2): torch refuses too
    ("bce", (2,), {"weight": [[1.0, 2.0], [1.0]]}, ("params", "weight")),  # ragged
    ("bce", (2,), {"weight": [[1.0, True]]}, ("params", "weight", 0, 1)),
    ("bce", (2,), {"weight": "2"}, ("params", "weight")),
    ("bce_with_logits", (3, 2), {"weight": [1.0, 2.0, 3.0]}, ("params", "weight")),
    ("bce_with_logits", (3, 2), {"pos_weight": [1.0, 2.0, 3.0]}, ("params", "pos_weight")),
    ("bce_with_logits", (3, 2), {"pos_weight": -0.5}, ("params", "pos_weight")),
    ("multilabel_soft_margin", (3, 2), {"weight": [1.0, 2.0, 3.0]}, ("params", "weight")),
    ("multilabel_soft_margin", (3, 2), {"weight": [[1.0], [2.0]]}, ("params", "weight")),
    ("hinge", (2,), {"margin": -0.1}, ("params", "margin")),
    ("squared_hinge", (2,), {"margin": float("inf")}, ("params", "margin")),
    ("sigmoid_focal", (2,), {"alpha": 1.5}, ("params", "alpha")),
    ("sigmoid_focal", (2,), {"alpha": -0.5}, ("params", "alpha")),
    ("sigmoid_focal", (2,), {"gamma": -1.0}, ("params", "gamma")),
])
def test_param_errors(name, shape, params, loc):
    inputs = {"predictions": np.full(shape, 0.5), "targets": np.ones(shape)}
    err = loss_error(name, inputs, params)
    assert (err.code, err.loc) == ("invalid_param", loc)


@pytest.mark.parametrize(("alias", "name"), [
    ("bce", "binary_cross_entropy"), ("log_loss", "binary_cross_entropy"),
    ("binary_crossentropy", "binary_cross_entropy"),
    ("bce_with_logits", "binary_cross_entropy_with_logits"),
    ("maximum_likelihood", "likelihood"),
])
def test_aliases(alias, name):
    assert get_loss(alias).name == name


def test_family_and_property_flags():
    names = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "soft_margin",
             "multilabel_soft_margin", "hinge", "squared_hinge", "sigmoid_focal", "likelihood"]
    for n in names:
        spec = get_loss(n)
        assert spec.family == "binary"
        assert spec.nonnegative == (n != "likelihood")
        assert not spec.zero_at_match and not spec.shift_invariant
