"""kl_div_with_log_targets and generalized_kl (optax semantics, per-sample sums over the last
axis): against torch 2.13.0 (F.kl_div, and the formula in torch ops for autograd) and optax
goldens."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from service.losses import LossError, evaluate, get_loss
from tests.conftest import assert_close, to_np, torch_oracle

SHAPES = [(5,), (4, 3), (2, 3, 4)]
REDUCTIONS = ["none", "mean", "sum"]
GOLDENS = Path(__file__).parent.parent / "goldens" / "distributions_optax.json"


def _seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode())


def _reduce(t, reduction: str):
    return t if reduction == "none" else (t.mean() if reduction == "mean" else t.sum())


def _log_dirichlet(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    c = shape[-1]
    rows = rng.dirichlet(np.full(c, 1.5), size=int(np.prod(shape[:-1], dtype=int)))
    return np.log(rows).reshape(shape)


# --------------------------------------------------------------------------------------------
# kl_div_with_log_targets: torch's elementwise F.kl_div(log_target=True), summed per sample
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_kl_with_log_targets_matches_torch(shape, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(_seed("kllt", shape, reduction))
    inputs = {"predictions": _log_dirichlet(rng, shape), "targets": _log_dirichlet(rng, shape)}
    inputs["targets"].reshape(-1)[0] = -1000.0  # p = e^-1000 = 0: contributes exactly 0

    def fn(predictions, targets):
        per = torch.nn.functional.kl_div(predictions, targets, reduction="none",
                                         log_target=True).sum(-1)
        return _reduce(per, reduction)

    value, grads = torch_oracle(fn, inputs, ("predictions",), reduction)
    r = evaluate("kl_div_with_log_targets", inputs, reduction=reduction, want_grad=True)
    assert to_np(r.value).shape == np.shape(value)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


def test_kl_with_log_targets_is_kl_div_batchmean():
    rng = np.random.default_rng(1)
    inputs = {"predictions": _log_dirichlet(rng, (6, 5)), "targets": _log_dirichlet(rng, (6, 5))}
    a = evaluate("kl_div_with_log_targets", inputs, want_grad=True)
    b = evaluate("kl_div", inputs, {"log_target": True}, reduction="batchmean", want_grad=True)
    assert_close(a.value, b.value)
    assert_close(a.gradients["predictions"], b.gradients["predictions"])
    # the per-sample breakdown is one KL per row
    assert to_np(a.per_sample).shape == (6,)


# --------------------------------------------------------------------------------------------
# generalized_kl: the formula in torch ops (optax's kl_divergence + sum(q - p))
# --------------------------------------------------------------------------------------------


def _gkl_inputs(rng: np.random.Generator, shape: tuple) -> dict:
    q = rng.uniform(0.05, 3.0, size=shape)
    p = rng.uniform(0.0, 3.0, size=shape)
    p.reshape(-1)[0] = 0.0
    return {"predictions": np.log(q), "targets": p}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_generalized_kl_matches_torch_reference(shape, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(_seed("gkl", shape, reduction))
    inputs = _gkl_inputs(rng, shape)

    def fn(predictions, targets):
        p = targets
        kl = torch.where(p == 0, 0.0, p * torch.log(torch.where(p == 0, 1.0, p))) - p * predictions
        per = kl.sum(-1) + (predictions.exp() - p).sum(-1)
        return _reduce(per, reduction)

    value, grads = torch_oracle(fn, inputs, ("predictions",), reduction)
    r = evaluate("generalized_kl", inputs, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


def test_generalized_kl_identities():
    rng = np.random.default_rng(2)
    # normalized measures: the ordinary KL divergence
    logq, logp = _log_dirichlet(rng, (5, 4)), _log_dirichlet(rng, (5, 4))
    g = evaluate("generalized_kl", {"predictions": logq, "targets": np.exp(logp)},
                 reduction="none")
    k = evaluate("kl_div_with_log_targets", {"predictions": logq, "targets": logp},
                 reduction="none")
    assert_close(g.value, k.value, rtol=1e-9, atol=1e-12)
    # unnormalized: half the Poisson deviance of (x = q, y = p), summed over the last axis
    inputs = _gkl_inputs(rng, (5, 4))
    dev = evaluate("poisson_deviance", {"predictions": np.exp(inputs["predictions"]),
                                        "targets": inputs["targets"]}, reduction="none")
    g = evaluate("generalized_kl", inputs, reduction="none")
    assert_close(g.value, 0.5 * to_np(dev.value).sum(-1))
    # the gradient w.r.t. log q is q - p
    r = evaluate("generalized_kl", inputs, reduction="sum", want_grad=True)
    assert_close(r.gradients["predictions"], np.exp(inputs["predictions"]) - inputs["targets"])


# --------------------------------------------------------------------------------------------
# optax goldens: tests/goldens/distributions_optax.json, written by
# tests/goldens/make_distributions_optax.py (optax 0.2.8 on jax 0.10.2 with x64, float64;
# gradients by jax.grad of the sum of the per-sample values)
# --------------------------------------------------------------------------------------------

GOLDEN_CASES = json.loads(GOLDENS.read_text())["cases"]


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=lambda c: f"{c['loss']}-{c['note'][:20]}")
def test_optax_goldens(case):
    assert json.loads(GOLDENS.read_text())["libraries"]["optax"].startswith("0.")
    r = evaluate(case["loss"], case["inputs"], case["params"], reduction="none", want_grad=True)
    assert to_np(r.value).shape == np.shape(case["unreduced"])
    assert_close(r.value, case["unreduced"], rtol=1e-12, atol=1e-14)
    assert_close(r.gradients["predictions"], case["grad_of_sum"], rtol=1e-12, atol=1e-14)
    # optax does not reduce: jnp.mean of its values is our mean
    m = evaluate(case["loss"], case["inputs"], case["params"], reduction="mean")
    assert_close(m.value, np.mean(case["unreduced"]), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Stability, edge cases, errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_extreme_log_values_stay_finite(dtype):
    # log q = -1000 with p > 0: a large but finite KL; log p = -1000: p underflows to 0 exactly
    x = np.array([[-1000.0, np.log(0.5), np.log(0.5)], [np.log(0.2), np.log(0.8), -1000.0]])
    t = np.array([[np.log(0.5), np.log(0.25), np.log(0.25)], [-1000.0, 0.0, -1000.0]])
    r = evaluate("kl_div_with_log_targets", {"predictions": x, "targets": t}, reduction="none",
                 dtype=dtype, want_grad=True)
    v = to_np(r.value)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(to_np(r.gradients["predictions"])))
    tol = 1e-12 if dtype == "float64" else 1e-6
    assert_close(v[1], -np.log(0.8), rtol=tol)  # p = (0, 1, 0): KL = -log q_1
    assert v[0] == pytest.approx(0.5 * (np.log(0.5) + 1000) + 0.5 * np.log(0.5), rel=tol)
    g = evaluate("generalized_kl", {"predictions": x, "targets": np.exp(t)}, reduction="none",
                 dtype=dtype, want_grad=True)
    assert np.all(np.isfinite(to_np(g.value)))
    assert np.all(np.isfinite(to_np(g.gradients["predictions"])))


def test_one_distribution_gives_a_scalar():
    r = evaluate("kl_div_with_log_targets", {"predictions": [np.log(0.5), np.log(0.5)],
                                             "targets": [np.log(0.9), np.log(0.1)]},
                 reduction="none", want_grad=True)
    assert to_np(r.value).shape == ()
    assert_close(r.value, 0.9 * np.log(1.8) + 0.1 * np.log(0.2))
    assert_close(r.gradients["predictions"], [-0.9, -0.1])


def test_identical_distributions_give_zero():
    t = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]))
    r = evaluate("kl_div_with_log_targets", {"predictions": t, "targets": t}, reduction="none")
    assert np.all(to_np(r.value) == 0.0)
    g = evaluate("generalized_kl", {"predictions": t, "targets": np.exp(t)}, reduction="none",
                 want_grad=True)
    assert_close(g.value, [0.0, 0.0], atol=1e-15)
    assert_close(g.gradients["predictions"], np.zeros((2, 3)), atol=1e-15)


@pytest.mark.parametrize(("name", "inputs", "code", "loc"), [
    ("kl_div_with_log_targets", {"predictions": [[-1.0, 0.5]], "targets": [[-1.0, -0.5]]},
     "invalid_value", ("predictions", 0, 1)),
    ("kl_div_with_log_targets", {"predictions": [[-1.0, -0.5]], "targets": [[-1.0, 0.1]]},
     "invalid_value", ("targets", 0, 1)),
    ("generalized_kl", {"predictions": [[0.0, 1.0], [2.0, 3.0]],
                        "targets": [[1.0, 1.0], [-1.0, 0.0]]},
     "invalid_value", ("targets", 1, 0)),
    ("generalized_kl", {"predictions": [[0.0, 800.0]], "targets": [[1.0, 1.0]]},
     "invalid_value", ("predictions", 0, 1)),
    ("kl_div_with_log_targets", {"predictions": -0.5, "targets": -0.5},
     "invalid_shape", ("predictions",)),
    ("generalized_kl", {"predictions": 0.5, "targets": 0.5}, "invalid_shape", ("predictions",)),
    ("kl_div_with_log_targets", {"predictions": np.zeros((2, 3)) - 1, "targets": np.zeros(3) - 1},
     "shape_mismatch", ("targets",)),
    ("generalized_kl", {"predictions": np.zeros((2, 3)), "targets": np.ones((3, 2))},
     "shape_mismatch", ("targets",)),
])
def test_errors_have_locations(name, inputs, code, loc):
    with pytest.raises(LossError) as exc:
        evaluate(name, inputs)
    assert exc.value.code == code and exc.value.loc == loc


def test_overflow_limit_depends_on_dtype():
    # exp(100) is finite in float64 but overflows float32
    inputs = {"predictions": [[0.0, 100.0]], "targets": [[1.0, 1.0]]}
    assert np.isfinite(float(to_np(evaluate("generalized_kl", inputs).value)))
    with pytest.raises(LossError) as exc:
        evaluate("generalized_kl", inputs, dtype="float32")
    assert exc.value.code == "invalid_value" and exc.value.loc == ("predictions", 0, 1)


def test_specs():
    for name in ("kl_div_with_log_targets", "generalized_kl"):
        spec = get_loss(name)
        assert spec.family == "distribution" and spec.reductions == ("none", "mean", "sum")
        assert spec.input_names == ("predictions", "targets")
