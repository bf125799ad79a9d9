"""sigmoid_focal (service/losses/sigmoid_focal.py) against torchvision's sigmoid_focal_loss,
transcribed here in torch ops (torch 2.13.0, float64): its defaults, its reduction to
binary_cross_entropy_with_logits, saturated logits (no NaN, exact values at +-1000) and its alpha,
which each convention defaults."""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import evaluate, get_loss
from tests.conftest import assert_close, to_np, torch_oracle
from tests.losses.binary_support import ELEMENTWISE_SHAPES, check_against, soft_labels
from tests.losses.support import REDUCTIONS, rng_for, torch_or_skip

# --------------------------------------------------------------------------------------------
# torchvision's formula, written here
# --------------------------------------------------------------------------------------------


def _torch_focal(alpha: float, gamma: float, reduction: str):
    """torchvision.ops.sigmoid_focal_loss, transcribed from torchvision/ops/focal_loss.py."""
    torch = torch_or_skip()
    F = torch_or_skip().nn.functional

    def fn(predictions, targets):
        p = torch.sigmoid(predictions)
        ce_loss = F.binary_cross_entropy_with_logits(predictions, targets, reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        loss = ce_loss * ((1 - p_t) ** gamma)
        if alpha >= 0:
            alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
            loss = alpha_t * loss
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
@pytest.mark.parametrize(("alpha", "gamma"), [
    (0.25, 2.0), (-1.0, 0.0), (-1.0, 2.0), (0.5, 0.5), (0.8, 1.0), (0.0, 3.0), (1.0, 1.7),
])
def test_sigmoid_focal_matches_torchvision_formula(alpha, gamma, shape, reduction):
    rng = rng_for("focal", alpha, gamma, shape, reduction)
    x = np.clip(rng.normal(size=shape) * 2.5, -7.0, 7.0)  # 1 - p_t in torchvision cancels beyond
    y = soft_labels(rng, shape)
    check_against("sigmoid_focal", {"alpha": alpha, "gamma": gamma},
                  {"predictions": x, "targets": y}, _torch_focal(alpha, gamma, reduction),
                  reduction)


def test_sigmoid_focal_defaults_are_torchvision_defaults():
    spec = get_loss("sigmoid_focal")
    # alpha = None: the convention's default, 0.25 for the default (torch) convention
    assert spec.defaults == {"alpha": None, "gamma": 2.0, "convention": "torch"}
    assert spec.default_reduction == "mean"  # torchvision's default is 'none' (see notes)
    x, y = np.array([3.0, -1.0, 0.5, -4.0]), np.array([1.0, 1.0, 0.0, 0.0])
    value, _ = torch_oracle(_torch_focal(0.25, 2.0, "mean"), {"predictions": x, "targets": y},
                            (), "mean")
    assert_close(evaluate("sigmoid_focal", {"predictions": x, "targets": y}).value, value)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_focal_without_alpha_and_gamma_is_bce_with_logits(reduction):
    rng = rng_for("focal-bce", reduction)
    inputs = {"predictions": rng.normal(size=(5, 4)) * 4, "targets": soft_labels(rng, (5, 4))}
    a = evaluate("sigmoid_focal", inputs, {"alpha": -1.0, "gamma": 0.0}, reduction=reduction,
                 want_grad=True)
    b = evaluate("bce_with_logits", inputs, reduction=reduction, want_grad=True)
    assert np.array_equal(to_np(a.value), to_np(b.value))
    assert np.array_equal(to_np(a.gradients["predictions"]), to_np(b.gradients["predictions"]))


@pytest.mark.parametrize("gamma", [0.3, 0.5, 0.99, 2.0])
def test_sigmoid_focal_saturated_logits_give_zero_gradient_not_nan(gamma):
    # 1 - p_t == 0 exactly (sigmoid(-1000) underflows): the limit of the gradient is 0
    x, y = np.array([1000.0, -1000.0, 800.0]), np.array([1.0, 0.0, 1.0])
    r = evaluate("sigmoid_focal", {"predictions": x, "targets": y}, {"gamma": gamma},
                 reduction="sum", want_grad=True)
    g = to_np(r.gradients["predictions"])
    assert float(to_np(r.value)) == 0.0
    assert np.all(np.isfinite(g)) and np.all(g == 0.0)


def test_sigmoid_focal_small_gamma_near_saturation_matches_reference():
    # gamma < 1 where 1 - p_t is tiny but representable: finite and equal to the reference
    x = np.array([20.0, -25.0, 30.0])
    y = np.array([1.0, 0.0, 1.0])
    gamma = 0.5
    # torchvision's 1 - p_t rounds to 0 here, so the reference computes 1 - p_t without
    # cancellation (the same formula otherwise)
    torch = torch_or_skip()

    def exact(predictions, targets):
        q = torch.sigmoid(predictions) * (1 - targets) + torch.sigmoid(-predictions) * targets
        ce = torch.nn.functional.binary_cross_entropy_with_logits(predictions, targets,
                                                                  reduction="none")
        a_t = 0.25 * targets + 0.75 * (1 - targets)
        return (a_t * q**gamma * ce).sum()

    check_against("sigmoid_focal", {"gamma": gamma}, {"predictions": x, "targets": y}, exact,
                  "sum")


# --------------------------------------------------------------------------------------------
# Stability and edge cases
# --------------------------------------------------------------------------------------------


def test_multilabel_soft_margin_and_focal_extremes_equal_references():
    F = torch_or_skip().nn.functional

    x = np.array([[1000.0, -1000.0, 1000.0], [-1000.0, 1000.0, 0.0]])
    y = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.5]])
    check_against("multilabel_soft_margin", {}, {"predictions": x, "targets": y},
                  lambda predictions, targets: F.multilabel_soft_margin_loss(
                      predictions, targets, reduction="sum"), "sum")
    yf = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    r = check_against("sigmoid_focal", {}, {"predictions": x, "targets": yf},
                      _torch_focal(0.25, 2.0, "none"), "none")
    assert to_np(r.value).tolist() == [[0.0, 0.0, 750.0], [250.0, 0.0, 0.75 * 0.25 * np.log(2)]]


# --------------------------------------------------------------------------------------------
# alpha: -1 (no weighting) and the default per convention
# --------------------------------------------------------------------------------------------


def test_focal_alpha_minus_one_is_valid():
    r = evaluate("sigmoid_focal", {"predictions": [0.5], "targets": [1.0]}, {"alpha": -1.0})
    assert np.isfinite(float(to_np(r.value)))


def test_focal_alpha_defaults_per_convention():
    # one definition of the default, shared by the loss, the fused kernel and the grader
    from service.losses.sigmoid_focal import TORCH_FOCAL_ALPHA, focal_alpha

    assert focal_alpha(None, "torch") == TORCH_FOCAL_ALPHA == 0.25
    assert focal_alpha(None, "optax") == focal_alpha(None, "keras") == -1.0
    assert focal_alpha(0.3, "optax") == 0.3 and focal_alpha(-1.0, "torch") == -1.0
    x, y = [0.5, -1.0], [1.0, 0.0]
    default = evaluate("sigmoid_focal", {"predictions": x, "targets": y})
    explicit = evaluate("sigmoid_focal", {"predictions": x, "targets": y}, {"alpha": 0.25})
    assert float(to_np(default.value)) == float(to_np(explicit.value))
