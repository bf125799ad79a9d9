"""Count and likelihood losses (poisson_nll, gaussian_nll) against the PyTorch oracle (float64)."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, to_np, to_xp, torch_oracle

SHAPES = [(), (7,), (5, 3), (2, 3, 4)]
REDUCTIONS = ["none", "mean", "sum"]


def _seed(*parts: object) -> int:
    """A seed that is stable across runs (hash() of a str is salted per process)."""
    return zlib.crc32(repr(parts).encode())


# --------------------------------------------------------------------------------------------
# poisson_nll
# --------------------------------------------------------------------------------------------

POISSON_PARAMS = [
    {},
    {"full": True},
    {"log_input": False},
    {"log_input": False, "full": True},
    {"log_input": False, "eps": 1e-3},
    {"log_input": True, "full": True, "eps": 0.5},  # eps is unused with log-rates
]


def _poisson_inputs(rng: np.random.Generator, shape: tuple, log_input: bool) -> dict:
    y = rng.poisson(2.5, size=shape).astype(float)
    flat = y.reshape(-1)
    flat[:4] = [0.0, 1.0, 1.5, 7.25][: flat.size]  # the y > 1 boundary, non-integer counts
    if log_input:
        x = rng.normal(size=shape) * 1.5
    else:
        x = rng.uniform(0.0, 4.0, size=shape)
        x.reshape(-1)[-1] = 0.0  # a zero rate: log(0 + eps)
    return {"predictions": x, "targets": y}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("params", POISSON_PARAMS)
def test_poisson_nll_matches_torch(params, shape, reduction):
    F = pytest.importorskip("torch.nn.functional")
    rng = np.random.default_rng(_seed("poisson", params, shape, reduction))
    log_input = params.get("log_input", True)
    inputs = _poisson_inputs(rng, shape, log_input)

    def fn(predictions, targets):
        return F.poisson_nll_loss(predictions, targets, log_input=log_input,
                                  full=params.get("full", False), eps=params.get("eps", 1e-8),
                                  reduction=reduction)

    value, grads = torch_oracle(fn, inputs, ("predictions",), reduction)
    r = evaluate("poisson_nll", inputs, params, reduction=reduction, want_grad=True)
    assert to_np(r.value).shape == value.shape
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


def test_poisson_nll_alias_and_defaults():
    torch = pytest.importorskip("torch")
    x, y = np.array([0.3, -1.2, 2.0]), np.array([0.0, 4.0, 2.0])
    r = evaluate("poisson_nll_loss", {"predictions": x, "targets": y})
    expected = torch.nn.PoissonNLLLoss()(torch.tensor(x), torch.tensor(y))
    assert r.loss == "poisson_nll"
    assert_close(r.value, expected.numpy())


def test_poisson_nll_stirling_term_only_above_one():
    # Hand formula (torch docs): y log y - y + 0.5 log(2 pi y), added only where y > 1.
    x = np.array([2.0, 2.0, 2.0, 2.0])
    y = np.array([0.0, 1.0, 3.0, 1.5])
    base = evaluate("poisson_nll", {"predictions": x, "targets": y},
                    {"log_input": False}, reduction="none")
    full = evaluate("poisson_nll", {"predictions": x, "targets": y},
                    {"log_input": False, "full": True}, reduction="none", want_grad=True)
    stirling = [0.0, 0.0,
                3 * math.log(3) - 3 + 0.5 * math.log(2 * math.pi * 3),
                1.5 * math.log(1.5) - 1.5 + 0.5 * math.log(2 * math.pi * 1.5)]
    assert_close(to_np(full.value) - to_np(base.value), stirling)
    # the term has no gradient w.r.t. the rate: 1 - y / (x + eps)
    assert_close(full.gradients["predictions"], 1.0 - y / (2.0 + 1e-8))


def test_poisson_nll_golden_log_input():
    # e^x - y x by hand: x = log 2, y = 3 -> 2 - 3 log 2; gradient e^x - y = -1.
    r = evaluate("poisson_nll", {"predictions": [math.log(2.0)], "targets": [3.0]},
                 reduction="sum", want_grad=True)
    assert_close(r.value, 2.0 - 3.0 * math.log(2.0))
    assert_close(r.gradients["predictions"], [-1.0])


def test_poisson_nll_extreme_log_rates():
    torch = pytest.importorskip("torch")
    x = np.array([-1000.0, 700.0, 0.0])
    y = np.array([2.0, 1.0, 0.0])
    r = evaluate("poisson_nll", {"predictions": x, "targets": y}, reduction="none",
                 want_grad=True)
    expected = torch.nn.functional.poisson_nll_loss(torch.tensor(x), torch.tensor(y),
                                                    reduction="none")
    assert np.all(np.isfinite(to_np(r.value)))
    assert_close(r.value, expected.numpy())
    assert_close(r.gradients["predictions"], np.exp(x) - y)


def test_poisson_nll_exp_overflow_is_rejected_per_dtype():
    x = np.array([[0.0, 1.0], [100.0, 0.0]])
    y = np.ones((2, 2))
    # exp(100) is finite in float64 ...
    r = evaluate("poisson_nll", {"predictions": x, "targets": y}, reduction="sum")
    assert np.isfinite(float(to_np(r.value)))
    # ... but overflows float32 (max ~3.4e38, log ~88.72)
    with pytest.raises(LossError) as exc:
        evaluate("poisson_nll", {"predictions": x, "targets": y}, dtype="float32")
    assert exc.value.code == "invalid_value" and exc.value.loc == ("predictions", 1, 0)
    with pytest.raises(LossError) as exc:
        evaluate("poisson_nll", {"predictions": [1.0, 710.0], "targets": [1.0, 1.0]})
    assert exc.value.code == "invalid_value" and exc.value.loc == ("predictions", 1)


def test_poisson_nll_negative_log_rates_are_valid():
    r = evaluate("poisson_nll", {"predictions": [-3.0], "targets": [0.0]}, reduction="sum")
    assert_close(r.value, math.exp(-3.0))


@pytest.mark.parametrize(("inputs", "params", "code", "loc"), [
    ({"predictions": [[0.0, 1.0], [2.0, 3.0]], "targets": [[1.0, 0.0], [-1.0, 2.0]]}, {},
     "invalid_value", ("targets", 1, 0)),
    ({"predictions": [0.5, -0.1, 1.0], "targets": [1.0, 1.0, 1.0]}, {"log_input": False},
     "invalid_value", ("predictions", 1)),
    ({"predictions": [0.5, 1.0], "targets": [[1.0, 1.0]]}, {}, "shape_mismatch", ("targets",)),
    ({"predictions": [0.5], "targets": [1.0]}, {"eps": 0.0}, "invalid_param", ("params", "eps")),
    ({"predictions": [0.5], "targets": [1.0]}, {"eps": -1e-8}, "invalid_param",
     ("params", "eps")),
    ({"predictions": [0.5], "targets": [1.0]}, {"log_input": 1}, "invalid_param",
     ("params", "log_input")),
    ({"predictions": [0.5], "targets": [1.0]}, {"full": "yes"}, "invalid_param",
     ("params", "full")),
])
def test_poisson_nll_errors(inputs, params, code, loc):
    with pytest.raises(LossError) as exc:
        evaluate("poisson_nll", inputs, params)
    assert exc.value.code == code
    assert exc.value.loc == loc


# --------------------------------------------------------------------------------------------
# gaussian_nll
# --------------------------------------------------------------------------------------------

# predictions' shape -> var shapes PyTorch accepts for it (checked against torch below)
VAR_SHAPES = {
    (): [()],
    (7,): [(7,), (1,), ()],
    (5, 3): [(5, 3), (5, 1), (5,), (1, 3), ()],
    (2, 3, 4): [(2, 3, 4), (2, 3, 1), (2, 3), (2, 1, 4), (1, 3, 4), ()],
}
GAUSSIAN_CASES = [(shape, vs) for shape, vss in VAR_SHAPES.items() for vs in vss]
GAUSSIAN_PARAMS = [{}, {"full": True}, {"eps": 0.3}, {"full": True, "eps": 1e-2}]


def _torch_gaussian(reduction: str, params: dict):
    import torch.nn.functional as F

    def fn(predictions, targets, var):
        if var.ndim == 0 and predictions.ndim >= 2:
            # torch accepts a scalar var only as a Python float (no gradient), so expand it;
            # autograd then sums the gradient back to the scalar.
            var = var.expand(predictions.shape)
        return F.gaussian_nll_loss(predictions, targets, var, full=params.get("full", False),
                                   eps=params.get("eps", 1e-6), reduction=reduction)

    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("params", GAUSSIAN_PARAMS)
@pytest.mark.parametrize(("shape", "var_shape"), GAUSSIAN_CASES)
def test_gaussian_nll_matches_torch(shape, var_shape, params, reduction):
    rng = np.random.default_rng(_seed("gauss", shape, var_shape, params, reduction))
    x = rng.normal(size=shape) * 2
    y = rng.normal(size=shape) * 2
    var = rng.uniform(0.01, 2.0, size=var_shape)
    inputs = {"predictions": x, "targets": y, "var": var}
    value, grads = torch_oracle(_torch_gaussian(reduction, params), inputs,
                                ("predictions", "var"), reduction)
    r = evaluate("gaussian_nll", inputs, params, reduction=reduction, want_grad=True)
    assert to_np(r.value).shape == value.shape
    assert_close(r.value, value)
    for k in ("predictions", "var"):
        assert to_np(r.gradients[k]).shape == np.shape(inputs[k])
        assert_close(r.gradients[k], grads[k], err_msg=k)


@pytest.mark.parametrize(("shape", "var_shape"), GAUSSIAN_CASES)
def test_gaussian_nll_none_shape_is_torchs(shape, var_shape):
    torch = pytest.importorskip("torch")
    x, y, var = np.ones(shape), np.zeros(shape), np.full(var_shape, 0.5)
    r = evaluate("gaussian_nll", {"predictions": x, "targets": y, "var": var}, reduction="none")
    tv = 0.5 if var_shape == () else torch.tensor(var)  # torch's float var for the scalar case
    expected = torch.nn.functional.gaussian_nll_loss(torch.tensor(x), torch.tensor(y), tv,
                                                     reduction="none")
    assert to_np(r.value).shape == tuple(expected.shape) == shape
    assert_close(r.value, expected.numpy())


def test_gaussian_nll_var_below_eps_is_clamped_with_identity_gradient():
    x = np.array([[0.3, 1.0, -2.0], [2.0, -1.0, 0.0]])
    y = np.array([[0.0, 1.0, 1.0], [2.5, 0.5, 0.0]])
    var = np.array([[1e-8, 0.0, 5e-7], [0.5, 2.0, 1e-6]])  # below, at and above eps = 1e-6
    inputs = {"predictions": x, "targets": y, "var": var}
    value, grads = torch_oracle(_torch_gaussian("sum", {}), inputs, ("predictions", "var"),
                                "sum")
    r = evaluate("gaussian_nll", inputs, reduction="sum", want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])
    assert_close(r.gradients["var"], grads["var"])
    # closed form at v = max(var, eps), even where var < eps (not 0, as a real clamp would give)
    v = np.maximum(var, 1e-6)
    d = x - y
    assert_close(r.gradients["var"], 0.5 * (1 / v - d**2 / v**2))


def test_gaussian_nll_golden_value():
    # Hand formula: x = 1, y = 3, var = 2 -> 0.5 (log 2 + 4 / 2) = 0.5 log 2 + 1;
    # full adds 0.5 log(2 pi). d/dx = (x - y) / v = -1; d/dvar = 0.5 (1/2 - 4/4) = -0.25.
    r = evaluate("gaussian_nll", {"predictions": [1.0], "targets": [3.0], "var": [2.0]},
                 {"full": True}, want_grad=True)
    assert_close(r.value, 0.5 * math.log(2.0) + 1.0 + 0.5 * math.log(2 * math.pi))
    assert_close(r.gradients["predictions"], [-1.0])
    assert_close(r.gradients["var"], [-0.25])


def test_gaussian_nll_alias_and_class_defaults():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, y, var = rng.normal(size=(4, 2)), rng.normal(size=(4, 2)), rng.uniform(0.1, 1, (4, 1))
    r = evaluate("gaussian_nll_loss", {"predictions": x, "targets": y, "var": var})
    expected = torch.nn.GaussianNLLLoss()(torch.tensor(x), torch.tensor(y), torch.tensor(var))
    assert r.loss == "gaussian_nll"
    assert_close(r.value, expected.numpy())


@pytest.mark.parametrize(("shape", "var_shape"), [
    ((5, 3), (5, 3)), ((5, 3), (5,)), ((5, 3), (1, 3)), ((2, 3, 4), (2, 3)), ((5, 3), ()),
])
def test_gaussian_nll_array_api_strict(xp, shape, var_shape):
    rng = np.random.default_rng(11)
    inputs = {"predictions": rng.normal(size=shape), "targets": rng.normal(size=shape),
              "var": rng.uniform(0.1, 2.0, size=var_shape)}
    ref = evaluate("gaussian_nll", inputs, reduction="mean", want_grad=True)
    got = evaluate("gaussian_nll", {k: to_xp(xp, v) for k, v in inputs.items()},
                   reduction="mean", want_grad=True)
    assert_close(got.value, ref.value, rtol=1e-13)
    for k in ("predictions", "var"):
        assert to_np(got.gradients[k]).shape == np.shape(inputs[k])
        assert_close(got.gradients[k], ref.gradients[k], rtol=1e-13)


@pytest.mark.parametrize(("shape", "var_shape"), [
    ((2, 2), (1, 1)), ((2, 3, 4), (3, 4)), ((2, 3, 4), (2, 3, 4, 1)), ((2, 3, 4), (1, 1, 4)),
    ((5, 3), (3,)), ((5, 3), (5, 2)), ((5, 3), (4,)), ((7,), (7, 1)), ((), (1,)),
])
def test_gaussian_nll_bad_var_shape(shape, var_shape):
    torch = pytest.importorskip("torch")
    x, var = np.zeros(shape), np.ones(var_shape)
    # torch rejects every one of these shapes too
    with pytest.raises((ValueError, RuntimeError)):
        torch.nn.functional.gaussian_nll_loss(torch.tensor(x), torch.tensor(x),
                                              torch.tensor(var))
    with pytest.raises(LossError) as exc:
        evaluate("gaussian_nll", {"predictions": x, "targets": x, "var": var})
    assert exc.value.code == "shape_mismatch" and exc.value.loc == ("var",)


@pytest.mark.parametrize(("var", "loc"), [
    (np.array([[0.5, 1.0, 2.0], [1.0, -0.1, 1.0]] * 2 + [[1.0, 1.0, 1.0]]), ("var", 1, 1)),
    (np.array([0.5, 1.0, 1.0, -2.0, 1.0]), ("var", 3)),  # (N,): loc in var's own shape
    (np.array([[1.0], [1.0], [-1e-9], [1.0], [1.0]]), ("var", 2, 0)),
    (np.array(-1.0), ("var",)),
])
def test_gaussian_nll_negative_var(var, loc):
    x = np.zeros((5, 3))
    with pytest.raises(LossError) as exc:
        evaluate("gaussian_nll", {"predictions": x, "targets": x, "var": var})
    assert exc.value.code == "invalid_value" and exc.value.loc == loc


def test_gaussian_nll_zero_var_is_clamped_not_rejected():
    r = evaluate("gaussian_nll", {"predictions": [1.0], "targets": [1.0], "var": [0.0]},
                 {"eps": 1e-4}, want_grad=True)
    assert_close(r.value, 0.5 * math.log(1e-4))
    assert_close(r.gradients["var"], [0.5 / 1e-4])


@pytest.mark.parametrize(("inputs", "params", "code", "loc"), [
    # (targets broadcast against predictions as in torch: (2,) with (1, 2) is computed)
    ({"predictions": [[1.0, 2.0]], "targets": [1.0, 2.0, 3.0], "var": [[1.0, 1.0]]}, {},
     "shape_mismatch", ("targets",)),
    ({"predictions": [1.0], "targets": [1.0], "var": [1.0]}, {"eps": 0.0}, "invalid_param",
     ("params", "eps")),
    ({"predictions": [1.0], "targets": [1.0], "var": [1.0]}, {"full": 0}, "invalid_param",
     ("params", "full")),
    ({"predictions": [1.0], "targets": [1.0]}, {}, "missing_input", ("var",)),
])
def test_gaussian_nll_errors(inputs, params, code, loc):
    with pytest.raises(LossError) as exc:
        evaluate("gaussian_nll", inputs, params)
    assert exc.value.code == code
    assert exc.value.loc == loc
