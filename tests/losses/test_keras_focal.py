"""binary_focal and categorical_focal, Keras' focal losses (service/losses/keras_focal.py),
against independent references in torch 2.13.0 ops (Keras' formulas) with autograd for gradients;
``torch.clamp`` passes the gradient at a bound and stops it beyond, the service's clip rule. Also
Keras' documentation examples, the clip at probabilities 0 and 1, logits of +-1000 and every
error code. Their Keras goldens are in test_cross_entropy_variants.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, to_np
from tests.losses.support import REDUCTIONS, check_oracle, loss_error, prob_rows, reduced, rng_for

EPS = 1e-7


def test_keras_documentation_examples():
    # keras.losses.binary_focal_crossentropy docstring (gamma=2): [0.330, 0.206]
    r = evaluate("binary_focal", {"predictions": [[0.6, 0.4], [0.4, 0.6]],
                                  "targets": [[0.0, 1.0], [0.0, 0.0]]}, {"gamma": 2.0})
    assert_close(r.per_sample, [0.330, 0.206], rtol=2e-3)
    # keras.losses.CategoricalFocalCrossentropy docstring: 0.23315276 (sum_over_batch_size)
    r = evaluate("categorical_focal", {"predictions": [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]],
                                       "targets": [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]})
    assert_close(r.value, 0.23315276, rtol=1e-7)


# -------------------------------------------------------------------------------- binary_focal


def _torch_binary_focal(params, reduction):
    import torch

    def fn(predictions, targets):
        ls = params.get("label_smoothing", 0.0)
        y = targets * (1.0 - ls) + 0.5 * ls
        p = torch.sigmoid(predictions) if params.get("from_logits") else predictions
        pc = torch.clamp(p, EPS, 1.0 - EPS)
        bce = -(y * torch.log(pc) + (1.0 - y) * torch.log(1.0 - pc))
        p_t = y * p + (1.0 - y) * (1.0 - p)
        loss = (1.0 - p_t) ** params.get("gamma", 2.0) * bce
        if params.get("apply_class_balancing"):
            a = params.get("alpha", 0.25)
            loss = (a * y + (1.0 - a) * (1.0 - y)) * loss
        return reduced(loss, reduction)
    return fn


BF_PARAMS = [
    {},
    {"apply_class_balancing": True, "alpha": 0.6, "gamma": 1.5},
    {"gamma": 0.0, "label_smoothing": 0.3},
    {"gamma": 0.5},
    {"from_logits": True},
    {"from_logits": True, "apply_class_balancing": True, "gamma": 3.0, "label_smoothing": 0.1},
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (4, 3), (2, 3, 2)])
@pytest.mark.parametrize("params", BF_PARAMS, ids=lambda p: json.dumps(p, sort_keys=True))
def test_binary_focal_matches_torch_reference(params, shape, reduction):
    rng = rng_for("bf", json.dumps(params, sort_keys=True), shape, reduction)
    if params.get("from_logits"):
        x = rng.normal(size=shape) * 3.0
    else:
        x = rng.uniform(0.01, 0.99, size=shape)
    t = rng.integers(0, 2, size=shape).astype(float)
    t.reshape(-1)[0] = 0.35  # a soft label
    check_oracle("binary_focal", {"predictions": x, "targets": t}, params, reduction,
                 _torch_binary_focal(params, reduction))


def test_binary_focal_clip_at_probabilities_0_and_1():
    # p = 0 or 1 is clipped to [1e-7, 1 - 1e-7]: the clipped BCE, and gradient 0 from it
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-9, 1.0 - 1e-9])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    r = check_oracle("binary_focal", {"predictions": x, "targets": t}, {}, "none",
                     _torch_binary_focal({}, "none"))
    v = to_np(r.value)
    assert_close(v[:2], -np.log(EPS), rtol=1e-9)  # the worst case: -log(1e-7) = 16.118
    assert v[2] == 0.0 and v[3] == 0.0  # a perfect prediction: (1 - p_t)^2 = 0


def test_binary_focal_from_logits_is_not_logit_stable_like_keras():
    # Keras applies sigmoid, then the clipped formula: a logit of -1000 with y = 1 gives
    # -log(1e-7) = 16.118 rather than 1000; the gradient vanishes once sigmoid saturates
    x = np.array([-1000.0, 1000.0, 1000.0, -1000.0])
    t = np.array([1.0, 0.0, 1.0, 0.0])
    r = check_oracle("binary_focal", {"predictions": x, "targets": t}, {"from_logits": True},
                     "none",
                     _torch_binary_focal({"from_logits": True}, "none"))
    assert_close(to_np(r.value)[:2], -np.log(EPS), rtol=1e-9)
    assert np.all(to_np(r.gradients["predictions"]) == 0.0)


def test_binary_focal_gamma_below_one_has_infinite_slope_at_a_perfect_prediction():
    # d (1 - p_t)^0.5 / dp is unbounded at p_t = 1 (p = 1, y = 1): reported as -inf
    r = evaluate("binary_focal", {"predictions": [1.0, 0.5], "targets": [1.0, 1.0]},
                 {"gamma": 0.5}, reduction="sum", want_grad=True)
    g = to_np(r.gradients["predictions"])
    assert g[0] == -np.inf and np.isfinite(g[1])


def test_binary_focal_errors():
    e = loss_error("binary_focal", {"predictions": [0.5, 1.2], "targets": [0.0, 1.0]})
    assert e.code == "probability_out_of_range" and e.loc == ("predictions", 1)
    e = loss_error("binary_focal", {"predictions": [0.5, 0.2], "targets": [0.0, -1.0]})
    assert e.code == "probability_out_of_range" and e.loc == ("targets", 1)
    e = loss_error("binary_focal", {"predictions": [0.5, 0.2], "targets": [[0.0, 1.0]]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    for params in ({"alpha": 1.5}, {"gamma": -1.0}, {"label_smoothing": 2.0},
                   {"from_logits": 1}):
        e = loss_error("binary_focal", {"predictions": [0.5], "targets": [1.0]}, params)
        assert e.code == "invalid_param" and e.loc == ("params", next(iter(params)))
    # logits may be anything
    evaluate("binary_focal", {"predictions": [5.0, -3.0], "targets": [0.0, 1.0]},
             {"from_logits": True})


# --------------------------------------------------------------------------- categorical_focal


def _torch_categorical_focal(params, reduction):
    import torch

    def fn(predictions, targets):
        c = predictions.shape[-1]
        ls = params.get("label_smoothing", 0.0)
        y = targets * (1.0 - ls) + ls / c
        p = torch.softmax(predictions, -1) if params.get("from_logits") else predictions
        o = torch.clamp(p / p.sum(-1, keepdim=True), EPS, 1.0 - EPS)
        alpha = params.get("alpha", 0.25)
        a = torch.tensor(alpha, dtype=torch.float64) if isinstance(alpha, list) else alpha
        loss = (a * (1.0 - o) ** params.get("gamma", 2.0) * (-y * torch.log(o))).sum(-1)
        return reduced(loss, reduction)
    return fn


CF_PARAMS = [
    {},
    {"alpha": [0.1, 0.7, 0.3, 1.0], "gamma": 1.5, "label_smoothing": 0.2},
    {"gamma": 0.0, "alpha": 1.0},
    {"gamma": 0.5},
    {"from_logits": True, "gamma": 2.5},
    {"from_logits": True, "alpha": [0.5, 0.5, 1.0, 2.0], "label_smoothing": 0.1},
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4,), (6, 4)])
@pytest.mark.parametrize("params", CF_PARAMS, ids=lambda p: json.dumps(p, sort_keys=True))
def test_categorical_focal_matches_torch_reference(params, shape, reduction):
    rng = rng_for("cf", json.dumps(params, sort_keys=True), shape, reduction)
    if params.get("from_logits"):
        x = rng.normal(size=shape) * 2.0
    else:
        x = rng.uniform(0.05, 2.0, size=shape)  # not normalised: Keras renormalises
    t = prob_rows(rng, shape) if len(shape) == 1 else np.eye(4)[rng.integers(0, 4, size=shape[0])]
    if len(shape) > 1:
        t[0] = prob_rows(rng, (4,))  # one soft row
    check_oracle("categorical_focal", {"predictions": x, "targets": t}, params, reduction,
                 _torch_categorical_focal(params, reduction))


def test_categorical_focal_zero_probability_is_clipped():
    x = np.array([[0.0, 1.0, 0.0], [0.2, 0.0, 0.8]])
    t = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    r = check_oracle("categorical_focal", {"predictions": x, "targets": t}, {"alpha": 1.0}, "none",
                     _torch_categorical_focal({"alpha": 1.0}, "none"))
    assert_close(r.value, [-np.log(EPS) * (1 - EPS) ** 2] * 2, rtol=1e-9)


def test_categorical_focal_stable_at_logits_of_1000():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    t = np.eye(3)[[1, 1]]
    params = {"from_logits": True}
    r = check_oracle("categorical_focal", {"predictions": x, "targets": t}, params, "none",
                     _torch_categorical_focal(params, "none"))
    assert np.all(np.isfinite(to_np(r.value)))
    assert_close(to_np(r.value)[0], 0.25 * -np.log(EPS) * (1 - EPS) ** 2, rtol=1e-9)


def test_categorical_focal_errors():
    t = [[0.0, 1.0, 0.0]]
    e = loss_error("categorical_focal", {"predictions": [[0.2, -0.1, 0.9]], "targets": t})
    assert e.code == "invalid_value" and e.loc == ("predictions", 0, 1)
    e = loss_error("categorical_focal", {"predictions": [[0.0, 0.0, 0.0]], "targets": t})
    assert e.code == "invalid_value" and e.loc == ("predictions", 0)
    e = loss_error("categorical_focal", {"predictions": [[0.2, 0.3, 0.5]],
                                         "targets": [[0.0, 1.0, 1.0]]})
    assert e.code == "probability_rows_not_normalized" and e.loc == ("targets", 0)
    e = loss_error("categorical_focal", {"predictions": [[0.2, 0.3, 0.5]],
                                         "targets": [[0.0, 1.5, -0.5]]})
    assert e.code == "probability_out_of_range" and e.loc == ("targets", 0, 1)
    e = loss_error("categorical_focal", {"predictions": [[0.2, 0.3, 0.5]], "targets": [1]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    e = loss_error("categorical_focal", {"predictions": [[0.2, 0.3, 0.5]], "targets": t},
                   {"alpha": [0.5, 0.5]})
    assert e.code == "invalid_param" and e.loc == ("params", "alpha")
    e = loss_error("categorical_focal", {"predictions": [[0.2, 0.3, 0.5]], "targets": t},
                   {"alpha": [0.5, -0.5, 1.0]})
    assert e.code == "invalid_param" and e.loc == ("params", "alpha", 1)
