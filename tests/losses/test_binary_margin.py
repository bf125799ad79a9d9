"""soft_margin, hinge and squared_hinge (service/losses/binary_margin.py): soft_margin against
the PyTorch oracle (torch 2.13.0, float64), hinge and squared_hinge against a reference written here
with torch ops (PyTorch has none) and against Keras' formula, their kinks, the mapping of {0, 1}
labels, and soft_margin's exact values where torch overflows."""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, to_np, torch_oracle
from tests.losses.binary_support import ELEMENTWISE_SHAPES, check_against
from tests.losses.support import REDUCTIONS, loss_error, rng_for, torch_or_skip

# --------------------------------------------------------------------------------------------
# PyTorch oracle (soft_margin); references written here (hinge, squared_hinge)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
def test_soft_margin_matches_torch(shape, reduction):
    F = torch_or_skip().nn.functional

    rng = rng_for("sm", shape, reduction)
    x = rng.normal(size=shape) * 3.0
    y = rng.choice([-1.0, 1.0], size=shape)
    check_against("soft_margin", {}, {"predictions": x, "targets": y},
                  lambda predictions, targets: F.soft_margin_loss(predictions, targets,
                                                                  reduction=reduction),
                  reduction)


def _torch_hinge(margin: float, squared: bool, zero_one: bool, reduction: str, keras: bool):
    """max(0, m - y s) (squared), with y = 2t - 1 for {0, 1} labels; relu'(0) = 0 at the kink;
    elementwise (the default since issue 19), or then Keras' mean over the last axis."""
    torch = torch_or_skip()

    def fn(predictions, targets):
        y = 2.0 * targets - 1.0 if zero_one else targets
        h = torch.relu(margin - y * predictions)
        loss = h * h if squared else h
        if keras and loss.ndim:
            loss = loss.mean(dim=-1)
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
@pytest.mark.parametrize("margin", [1.0, 0.0, 2.5])
@pytest.mark.parametrize("zero_one", [False, True])
@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("convention", [None, "keras"])  # None: the default, elementwise
def test_hinge_losses_match_reference(name, convention, zero_one, margin, shape, reduction):
    rng = rng_for(name, zero_one, margin, shape, reduction)
    pm = rng.choice([-1.0, 1.0], size=shape)
    s = rng.normal(size=shape) * 2.0
    if np.size(s) > 1:  # put one element exactly on the kink y s = m
        s.reshape(-1)[0] = pm.reshape(-1)[0] * margin
    y = (pm + 1.0) / 2.0 if zero_one else pm
    ref = _torch_hinge(margin, name == "squared_hinge", zero_one, reduction,
                       keras=convention == "keras")
    params = {"margin": margin} if convention is None else {"margin": margin,
                                                            "convention": convention}
    check_against(name, params, {"predictions": s, "targets": y}, ref, reduction)


def _keras_hinge_per_sample(y_true: np.ndarray, y_pred: np.ndarray, squared: bool) -> np.ndarray:
    """keras.losses.Hinge / SquaredHinge (reference doc section 2): convert all-{0, 1} labels by
    2y - 1, then mean over the last axis of max(1 - y * y_pred, 0) (squared)."""
    if np.all((y_true == 0) | (y_true == 1)):
        y_true = 2.0 * y_true - 1.0
    h = np.maximum(1.0 - y_true * y_pred, 0.0)
    return np.mean(h * h if squared else h, axis=-1)


@pytest.mark.parametrize("labels", [(-1.0, 1.0), (0.0, 1.0)])
@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
def test_hinge_losses_match_keras_formula(name, labels):
    rng = rng_for("keras", name, labels)
    y = rng.choice(labels, size=(6, 4))
    s = rng.normal(size=(6, 4)) * 1.5
    r = evaluate(name, {"predictions": s, "targets": y}, {"convention": "keras"},
                 reduction="mean")
    expected = _keras_hinge_per_sample(y, s, squared=name == "squared_hinge")
    assert_close(r.per_sample, expected)
    assert_close(r.value, expected.mean())  # Keras sum_over_batch_size of the per-sample values


def test_hinge_gradient_is_zero_at_the_kink():
    # y s = margin exactly: strict 1[m - y s > 0] gives 0 (torch relu's choice); (N, 1) inputs
    # keep one value per score under the keras convention's last-axis mean too
    r = evaluate("hinge", {"predictions": [[1.0], [-1.0], [0.5], [2.0]],
                           "targets": [[1.0], [-1.0], [1.0], [-1.0]]},
                 reduction="sum", want_grad=True)
    assert to_np(r.value).item() == 0.0 + 0.0 + 0.5 + 3.0
    assert to_np(r.gradients["predictions"]).tolist() == [[0.0], [0.0], [-1.0], [1.0]]
    r2 = evaluate("squared_hinge", {"predictions": [1.0], "targets": [1.0]}, reduction="sum",
                  want_grad=True)
    assert to_np(r2.gradients["predictions"]).tolist() == [0.0]


def test_hinge_all_zero_one_batch_is_mapped():
    a = evaluate("hinge", {"predictions": [[0.3], [-0.2], [1.7]], "targets": [[1.0], [0.0], [0.0]]},
                 reduction="none")
    b = evaluate("hinge", {"predictions": [[0.3], [-0.2], [1.7]],
                           "targets": [[1.0], [-1.0], [-1.0]]}, reduction="none")
    assert_close(a.value, b.value)
    assert_close(a.value, [[0.7], [0.8], [2.7]])  # max(0, 1 - y s) by hand, elementwise
    # an all-ones batch is valid in both conventions and means +1 either way
    c = evaluate("hinge", {"predictions": [0.3], "targets": [1.0]})
    assert_close(c.value, 0.7)


# --------------------------------------------------------------------------------------------
# Stability and edge cases
# --------------------------------------------------------------------------------------------


def test_soft_margin_extremes_are_exact_where_torch_overflows():
    F = torch_or_skip().nn.functional

    x = np.array([-1000.0, 1000.0, 1000.0, -1000.0, 30.0, -30.0])
    y = np.array([1.0, -1.0, 1.0, -1.0, 1.0, 1.0])
    r = evaluate("soft_margin", {"predictions": x, "targets": y}, reduction="none",
                 want_grad=True)
    # exact: log(1 + e^{1000}) = 1000 (to double precision); log(1 + e^{-1000}) = 0
    assert to_np(r.value)[:4].tolist() == [1000.0, 1000.0, 0.0, 0.0]
    assert to_np(r.gradients["predictions"])[:4].tolist() == [-1.0, 1.0, -0.0, 0.0]
    value, grads = torch_oracle(
        lambda predictions, targets: F.soft_margin_loss(predictions, targets, reduction="none"),
        {"predictions": x, "targets": y}, ("predictions",), "none")
    assert np.isinf(value[0]) and np.isinf(value[1])  # torch is naive there (documented)
    finite = np.isfinite(value)
    assert finite[2:].all()
    assert_close(to_np(r.value)[finite], value[finite])
    assert_close(to_np(r.gradients["predictions"])[finite], grads["predictions"][finite])


# --------------------------------------------------------------------------------------------
# Errors, each with its code and location
# --------------------------------------------------------------------------------------------


def test_hinge_mixing_zero_and_minus_one_is_invalid():
    err = loss_error("hinge", {"predictions": [0.1, 0.2, 0.3], "targets": [-1.0, 1.0, 0.0]})
    assert (err.code, err.loc) == ("invalid_label", ("targets", 2))
    assert "all in {-1, 1} or all in {0, 1}" in err.message
