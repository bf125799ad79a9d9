"""Regression losses against the PyTorch oracle (torch 2.13.0, float64) and worked values."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, to_np, torch_oracle

SHAPES = [(7,), (5, 3), (2, 3, 4)]
REDUCTIONS = ["none", "mean", "sum"]


def _torch_fn(name: str, reduction: str, params: dict):
    import torch.nn.functional as F

    fns = {
        "mse": lambda predictions, targets: F.mse_loss(predictions, targets, reduction=reduction),
        "l1": lambda predictions, targets: F.l1_loss(predictions, targets, reduction=reduction),
        "huber": lambda predictions, targets: F.huber_loss(
            predictions, targets, reduction=reduction, delta=params.get("delta", 1.0)),
        "smooth_l1": lambda predictions, targets: F.smooth_l1_loss(
            predictions, targets, reduction=reduction, beta=params.get("beta", 1.0)),
    }
    return fns[name]


CASES = [
    ("mse", {}), ("l1", {}), ("huber", {}), ("huber", {"delta": 0.3}), ("huber", {"delta": 2.5}),
    ("smooth_l1", {}), ("smooth_l1", {"beta": 0.4}), ("smooth_l1", {"beta": 0.0}),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("name", "params"), CASES)
def test_matches_torch(name, params, shape, reduction):
    rng = np.random.default_rng(zlib.crc32(repr((name, params, shape, reduction)).encode()))
    x = rng.normal(size=shape) * 2
    y = rng.normal(size=shape) * 2
    x.reshape(-1)[0] = y.reshape(-1)[0]  # one exact match: the kink of l1 / smooth_l1(beta=0)
    inputs = {"predictions": x, "targets": y}
    value, grads = torch_oracle(_torch_fn(name, reduction, params), inputs, ("predictions",),
                                reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


@pytest.mark.parametrize("name", ["mse", "l1", "huber", "smooth_l1"])
def test_extreme_values_stay_finite(name):
    x = np.array([1e150, -1e150, 1e-300, 0.0])
    y = np.zeros(4)
    r = evaluate(name, {"predictions": x, "targets": y}, reduction="none", want_grad=True)
    g = to_np(r.gradients["predictions"])
    assert np.all(np.isfinite(g))


def test_seed_003_squared_error():
    # seed 003: y = 0, y_hat = 0.9 -> L_SE = 0.81, dL_SE/dy_hat = 1.80
    r = evaluate("mse", {"predictions": [0.9], "targets": [0.0]}, want_grad=True)
    assert_close(r.value, 0.81)
    assert_close(r.gradients["predictions"], [1.8])


def test_huber_is_delta_times_smooth_l1():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=20) * 3, rng.normal(size=20)
    h = evaluate("huber", {"predictions": x, "targets": y}, {"delta": 1.7}, reduction="none")
    s = evaluate("smooth_l1", {"predictions": x, "targets": y}, {"beta": 1.7}, reduction="none")
    assert_close(h.value, 1.7 * to_np(s.value))


def test_l1_gradient_is_zero_at_the_kink():
    r = evaluate("l1", {"predictions": [1.0, 2.0], "targets": [1.0, 0.0]}, reduction="sum",
                 want_grad=True)
    assert to_np(r.gradients["predictions"]).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("name", ["mse", "l1", "huber", "smooth_l1"])
def test_shape_mismatch_is_not_broadcast(name):
    with pytest.raises(LossError) as exc:
        evaluate(name, {"predictions": np.zeros((3, 1)), "targets": np.zeros(3)})
    assert exc.value.code == "shape_mismatch" and exc.value.loc == ("targets",)


@pytest.mark.parametrize(("name", "params"), [
    ("huber", {"delta": 0.0}), ("huber", {"delta": -1.0}), ("smooth_l1", {"beta": -0.1}),
    ("huber", {"delta": "1"}), ("huber", {"delta": True}), ("huber", {"delta": float("nan")}),
])
def test_invalid_params(name, params):
    with pytest.raises(LossError) as exc:
        evaluate(name, {"predictions": [1.0], "targets": [0.0]}, params)
    assert exc.value.code == "invalid_param"
    assert exc.value.loc == ("params", next(iter(params)))


def test_aliases():
    a = evaluate("mean_squared_error", {"predictions": [1.0, 2.0], "targets": [0.0, 0.0]})
    assert a.loss == "mse" and float(to_np(a.value)) == 2.5
    assert evaluate("mae", {"predictions": [1.0], "targets": [0.0]}).loss == "l1"
