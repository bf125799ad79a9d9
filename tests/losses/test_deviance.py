"""poisson (Keras), tweedie_deviance, poisson_deviance, gamma_deviance: against torch 2.13.0
(F.poisson_nll_loss, and the deviances written in torch ops for autograd), scikit-learn 1.9.1
live, and Keras 3 goldens."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import pytest

from service.losses import LossError, evaluate, get_loss
from tests.conftest import assert_close, to_np, torch_oracle

SHAPES = [(), (7,), (5, 3), (2, 3, 4)]
REDUCTIONS = ["none", "mean", "sum"]
GOLDENS = Path(__file__).parent.parent / "goldens" / "deviance.json"


def _seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode())


def _reduce(t, reduction: str):
    return t if reduction == "none" else (t.mean() if reduction == "mean" else t.sum())


# --------------------------------------------------------------------------------------------
# poisson (Keras): torch's poisson_nll_loss with rates and eps = 1e-7 is the same formula
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_poisson_matches_torch(shape, reduction):
    import_torch = pytest.importorskip("torch")
    F = import_torch.nn.functional
    rng = np.random.default_rng(_seed("poisson", shape, reduction))
    x = rng.uniform(0.0, 4.0, size=shape)
    y = rng.poisson(2.0, size=shape).astype(float)
    if x.size > 2:
        x.reshape(-1)[:2] = [0.0, 0.0]  # a rate of exactly 0: log(1e-7)
        y.reshape(-1)[:2] = [2.0, 0.0]
    inputs = {"predictions": x, "targets": y}
    value, grads = torch_oracle(
        lambda predictions, targets: F.poisson_nll_loss(
            predictions, targets, log_input=False, full=False, eps=1e-7, reduction=reduction),
        inputs, ("predictions",), reduction)
    r = evaluate("poisson", inputs, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


def test_poisson_equals_poisson_nll_with_rates_and_keras_eps():
    rng = np.random.default_rng(0)
    inputs = {"predictions": rng.uniform(0, 3, size=(4, 5)),
              "targets": rng.poisson(1.5, size=(4, 5)).astype(float)}
    a = evaluate("poisson", inputs, reduction="none", want_grad=True)
    b = evaluate("poisson_nll", inputs, {"log_input": False, "eps": 1e-7}, reduction="none",
                 want_grad=True)
    assert_close(a.value, b.value, rtol=1e-15)
    assert_close(a.gradients["predictions"], b.gradients["predictions"], rtol=1e-15)


def test_poisson_zero_rate_is_finite():
    # Keras doc value: rate 0 with count 2 gives 2 log(1e7) = 32.236
    r = evaluate("poisson", {"predictions": [0.0], "targets": [2.0]}, want_grad=True)
    assert_close(r.value, 2 * math.log(1e7))
    assert_close(r.gradients["predictions"], [1.0 - 2.0 / 1e-7])
    big = evaluate("poisson", {"predictions": [1e300, 0.0], "targets": [1e300, 0.0]},
                   reduction="none", want_grad=True)
    assert np.all(np.isfinite(to_np(big.value)))
    assert np.all(np.isfinite(to_np(big.gradients["predictions"])))


# Keras 3.15.1 (NumPy backend) goldens, float32: tests/goldens/deviance.json, written by
# tests/goldens/make_deviance.py. Keras computes in float32, so the comparison is at float32
# precision; Keras's per-sample value (mean over the last axis) is our per-sample breakdown and
# its default reduction (sum_over_batch_size) our mean.
GOLDEN_CASES = json.loads(GOLDENS.read_text())["cases"]


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=lambda c: c["note"][:24] or "random")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_poisson_keras_goldens(case, dtype):
    assert json.loads(GOLDENS.read_text())["libraries"]["keras"].startswith("3.")
    r = evaluate(case["loss"], case["inputs"], case["params"], reduction="mean", dtype=dtype)
    assert_close(r.per_sample, case["per_sample"], rtol=2e-6, atol=1e-6)
    assert_close(r.value, case["value"], rtol=2e-6, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Tweedie deviances: scikit-learn live, torch autograd for gradients
# --------------------------------------------------------------------------------------------

POWERS = [-2.0, -0.5, 0.0, 1.0, 1.2, 1.5, 1.9, 2.0, 2.5, 3.0, 4.5]


def _tweedie_inputs(power: float, shape: tuple, rng: np.random.Generator) -> dict:
    x = rng.uniform(0.2, 4.0, size=shape)
    if power == 0.0:
        x = rng.normal(size=shape) * 2.0  # any real predictions
        y = rng.normal(size=shape) * 2.0
    elif power < 0:
        y = rng.normal(size=shape) * 2.0  # any real observations
    elif power < 2:
        y = rng.poisson(2.0, size=shape) * rng.uniform(0.5, 1.5, size=shape)
        if y.size:
            y.reshape(-1)[0] = 0.0  # a zero observation is allowed
    else:
        y = rng.gamma(2.0, 1.0, size=shape) + 0.01
    return {"predictions": np.asarray(x, dtype=float), "targets": np.asarray(y, dtype=float)}


def _torch_tweedie(power: float, reduction: str):
    """scikit-learn's _mean_tweedie_deviance, transcribed into torch ops."""
    import torch

    def fn(predictions, targets):
        x, y, p = predictions, targets, power
        if p == 0:
            dev = (y - x) ** 2
        elif p == 1:  # xlogy(y, y / x) with a gradient that stays finite at y = 0
            pos = y > 0
            ylog = torch.where(pos, y * torch.log(torch.where(pos, y, 1.0) / x), 0.0)
            dev = 2 * (ylog - y + x)
        elif p == 2:
            dev = 2 * (torch.log(x / y) + y / x - 1)
        else:
            y_pos = torch.where(y > 0, y, torch.zeros_like(y)) if p < 0 else y
            dev = 2 * (y_pos ** (2 - p) / ((1 - p) * (2 - p)) - y * x ** (1 - p) / (1 - p)
                       + x ** (2 - p) / (2 - p))
        return _reduce(dev, reduction)

    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("power", POWERS)
def test_tweedie_matches_torch_reference(power, shape, reduction):
    rng = np.random.default_rng(_seed("tweedie", power, shape, reduction))
    inputs = _tweedie_inputs(power, shape, rng)
    value, grads = torch_oracle(_torch_tweedie(power, reduction), inputs, ("predictions",),
                                reduction)
    r = evaluate("tweedie_deviance", inputs, {"power": power}, reduction=reduction,
                 want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


@pytest.mark.parametrize(("name", "power"), [("poisson_deviance", 1.0),
                                             ("gamma_deviance", 2.0)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_named_deviances_match_torch_reference(name, power, reduction):
    rng = np.random.default_rng(_seed(name, reduction))
    inputs = _tweedie_inputs(power, (6, 4), rng)
    value, grads = torch_oracle(_torch_tweedie(power, reduction), inputs, ("predictions",),
                                reduction)
    r = evaluate(name, inputs, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])
    t = evaluate("tweedie_deviance", inputs, {"power": power}, reduction=reduction)
    assert_close(r.value, t.value, rtol=0, atol=0)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("power", POWERS)
def test_tweedie_matches_sklearn(power, weighted):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(_seed("sk-tweedie", power))
    inputs = _tweedie_inputs(power, (25,), rng)
    sw = rng.uniform(0.1, 3.0, size=25) if weighted else None
    expected = metrics.mean_tweedie_deviance(inputs["targets"], inputs["predictions"],
                                             sample_weight=sw, power=power)
    r = evaluate("tweedie_deviance", inputs, {"power": power}, sample_weight=sw)
    assert_close(r.value, expected)
    if weighted:  # scikit-learn's weighted average is sum(s l) / sum(s)
        per = to_np(evaluate("tweedie_deviance", inputs, {"power": power},
                             reduction="none").value)
        assert_close(r.value, np.sum(sw * per) / np.sum(sw))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("name", "sk_name", "power"), [
    ("poisson_deviance", "mean_poisson_deviance", 1.0),
    ("gamma_deviance", "mean_gamma_deviance", 2.0),
])
def test_named_deviances_match_sklearn(name, sk_name, power, weighted):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(_seed("sk", name))
    inputs = _tweedie_inputs(power, (30,), rng)
    sw = rng.uniform(0.1, 3.0, size=30) if weighted else None
    expected = getattr(metrics, sk_name)(inputs["targets"], inputs["predictions"],
                                         sample_weight=sw)
    assert_close(evaluate(name, inputs, sample_weight=sw).value, expected)


def test_tweedie_2d_mean_is_sklearn_on_the_flattened_input():
    # scikit-learn accepts 1-D inputs only; here the loss is elementwise, so mean = flat mean
    metrics = pytest.importorskip("sklearn.metrics")
    inputs = _tweedie_inputs(1.5, (4, 6), np.random.default_rng(5))
    expected = metrics.mean_tweedie_deviance(inputs["targets"].ravel(),
                                             inputs["predictions"].ravel(), power=1.5)
    assert_close(evaluate("tweedie_deviance", inputs, {"power": 1.5}).value, expected)


def test_tweedie_power_zero_is_mse_and_sklearn_identities():
    rng = np.random.default_rng(9)
    inputs = {"predictions": rng.normal(size=12), "targets": rng.normal(size=12)}
    a = evaluate("tweedie_deviance", inputs, reduction="none", want_grad=True)  # default power 0
    b = evaluate("mse", inputs, reduction="none", want_grad=True)
    assert_close(a.value, b.value, rtol=0, atol=0)
    assert_close(a.gradients["predictions"], b.gradients["predictions"], rtol=0, atol=0)


def test_deviance_gradient_closed_form():
    # dl/dx = 2 (x - y) x^{-p} for every power
    x, y = np.array([0.5, 1.0, 2.0, 3.0]), np.array([0.2, 1.5, 3.0, 1.0])
    for p in (1.0, 1.5, 2.0, 3.0, -1.0, 0.0):
        r = evaluate("tweedie_deviance", {"predictions": x, "targets": y}, {"power": p},
                     reduction="sum", want_grad=True)
        assert_close(r.gradients["predictions"], 2 * (x - y) * x ** (-p))


def test_deviances_vanish_at_a_match_and_scale():
    y = np.array([0.3, 1.0, 7.5])
    for name in ("poisson_deviance", "gamma_deviance"):
        r = evaluate(name, {"predictions": y, "targets": y}, reduction="sum", want_grad=True)
        assert float(to_np(r.value)) == 0.0
        assert np.all(to_np(r.gradients["predictions"]) == 0.0)
    # the gamma deviance is scale-invariant; the Poisson deviance scales linearly
    x = np.array([0.5, 2.0, 4.0])
    g1 = evaluate("gamma_deviance", {"predictions": x, "targets": y}, reduction="none")
    g2 = evaluate("gamma_deviance", {"predictions": 10 * x, "targets": 10 * y}, reduction="none")
    assert_close(g1.value, g2.value)
    p1 = evaluate("poisson_deviance", {"predictions": x, "targets": y}, reduction="none")
    p2 = evaluate("poisson_deviance", {"predictions": 10 * x, "targets": 10 * y},
                  reduction="none")
    assert_close(10 * to_np(p1.value), p2.value)


def test_poisson_deviance_zero_count_uses_xlogy():
    # y = 0: 2 (0 - 0 + x) = 2x
    r = evaluate("poisson_deviance", {"predictions": [0.7, 3.0], "targets": [0.0, 0.0]},
                 reduction="none", want_grad=True)
    assert_close(r.value, [1.4, 6.0])
    assert_close(r.gradients["predictions"], [2.0, 2.0])


def test_deviances_extreme_values_are_finite():
    x = np.array([1e-150, 1e150, 1.0])
    y = np.array([1e-150, 1e-150, 1e150])
    for name, params in (("poisson_deviance", {}), ("gamma_deviance", {}),
                         ("tweedie_deviance", {"power": 1.5})):
        r = evaluate(name, {"predictions": x, "targets": y}, params, reduction="none",
                     want_grad=True)
        assert np.all(np.isfinite(to_np(r.value))), name
        assert np.all(np.isfinite(to_np(r.gradients["predictions"]))), name


# --------------------------------------------------------------------------------------------
# Errors: scikit-learn's domain checks, with locations; scikit-learn rejects the same inputs
# --------------------------------------------------------------------------------------------

DOMAIN_ERRORS = [
    # (loss, params, predictions, targets, loc)
    ("tweedie_deviance", {"power": -1.0}, [1.0, 0.0, 2.0], [1.0, -3.0, 2.0], ("predictions", 1)),
    ("tweedie_deviance", {"power": 1.0}, [1.0, 1.0, 2.0], [1.0, 0.0, -2.0], ("targets", 2)),
    ("tweedie_deviance", {"power": 1.5}, [1.0, -1.0, 2.0], [1.0, 0.0, 2.0], ("predictions", 1)),
    ("tweedie_deviance", {"power": 1.5}, [1.0, 1.0, 0.0], [1.0, 0.0, 2.0], ("predictions", 2)),
    ("tweedie_deviance", {"power": 2.0}, [1.0, 1.0, 2.0], [1.0, 0.0, 2.0], ("targets", 1)),
    ("tweedie_deviance", {"power": 3.0}, [0.0, 1.0, 2.0], [1.0, 1.0, 2.0], ("predictions", 0)),
    ("poisson_deviance", {}, [1.0, 0.0, 2.0], [1.0, 1.0, 2.0], ("predictions", 1)),
    ("poisson_deviance", {}, [1.0, 1.0, 2.0], [-1.0, 1.0, 2.0], ("targets", 0)),
    ("gamma_deviance", {}, [1.0, 1.0, 2.0], [1.0, 1.0, 0.0], ("targets", 2)),
    ("gamma_deviance", {}, [1.0, -1.0, 2.0], [1.0, 1.0, 1.0], ("predictions", 1)),
]


@pytest.mark.parametrize(("name", "params", "x", "y", "loc"), DOMAIN_ERRORS)
def test_domain_errors_have_locations(name, params, x, y, loc):
    with pytest.raises(LossError) as exc:
        evaluate(name, {"predictions": x, "targets": y}, params)
    assert exc.value.code == "invalid_value" and exc.value.loc == loc
    metrics = pytest.importorskip("sklearn.metrics")
    power = {"poisson_deviance": 1.0, "gamma_deviance": 2.0}.get(name, params.get("power"))
    with pytest.raises(ValueError):
        metrics.mean_tweedie_deviance(np.array(y), np.array(x), power=power)


def test_domains_that_are_allowed():
    # power 0: any reals; power < 0: any real observation; 1 <= p < 2: zero observations
    ok = [({"power": 0.0}, [-1.0, 0.0], [-2.0, 3.0]),
          ({"power": -1.0}, [1.0, 2.0], [-2.0, 0.0]),
          ({"power": 1.5}, [1.0, 2.0], [0.0, 0.0])]
    for params, x, y in ok:
        r = evaluate("tweedie_deviance", {"predictions": x, "targets": y}, params)
        assert np.isfinite(float(to_np(r.value)))


def test_2d_locations():
    with pytest.raises(LossError) as exc:
        evaluate("gamma_deviance", {"predictions": [[1.0, 2.0], [3.0, 4.0]],
                                    "targets": [[1.0, 2.0], [3.0, 0.0]]})
    assert exc.value.code == "invalid_value" and exc.value.loc == ("targets", 1, 1)


@pytest.mark.parametrize("power", [0.5, 1e-9, 0.999, "1", True, float("nan")])
def test_power_between_0_and_1_is_invalid(power):
    with pytest.raises(LossError) as exc:
        evaluate("tweedie_deviance", {"predictions": [1.0], "targets": [1.0]}, {"power": power})
    assert exc.value.code == "invalid_param" and exc.value.loc == ("params", "power")


@pytest.mark.parametrize(("x", "y", "loc"), [([1.0, -0.5], [1.0, 1.0], ("predictions", 1)),
                                             ([1.0, 0.5], [-1.0, 1.0], ("targets", 0))])
def test_poisson_rejects_negative_values(x, y, loc):
    with pytest.raises(LossError) as exc:
        evaluate("poisson", {"predictions": x, "targets": y})
    assert exc.value.code == "invalid_value" and exc.value.loc == loc


@pytest.mark.parametrize("name", ["poisson", "tweedie_deviance", "poisson_deviance",
                                  "gamma_deviance"])
def test_shape_mismatch_is_not_broadcast(name):
    with pytest.raises(LossError) as exc:
        evaluate(name, {"predictions": np.ones((3, 1)), "targets": np.ones(3)})
    assert exc.value.code == "shape_mismatch" and exc.value.loc == ("targets",)


def test_family():
    for name in ("poisson", "tweedie_deviance", "poisson_deviance", "gamma_deviance"):
        assert get_loss(name).family == "counts"
