"""Defaults of the losses PyTorch lacks (issue 19, item 4): hinge, squared_hinge, mape, msle.

Until issue 19 they defaulted to Keras' convention (the per-sample loss is the mean over the last
axis, so a 1-D batch was ONE sample). optax, scikit-learn and the course notes read a 1-D input as
N samples, so the default is now elementwise: scikit-learn's for mape and msle (optax has
neither), ``elementwise`` for hinge (optax's and scikit-learn's on {-1, 1} labels, all-{0, 1}
batches mapped by 2y - 1) and squared_hinge (hinge's default, squared; only Keras has it).
References: scikit-learn 1.9.1 live, and the formulas written here; ``convention: "keras"`` keeps
Keras' numbers (tests/losses/test_conventions_*.py hold those against Keras goldens).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from service.losses import LossError, evaluate, get_loss
from tests.conftest import assert_close, finite_difference, to_np

NAMES = ("hinge", "squared_hinge", "mape", "msle")
F64_EPS = float(np.finfo(np.float64).eps)


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _sklearn():
    return pytest.importorskip("sklearn.metrics")


def _inputs(name: str, shape: tuple[int, ...], rng: np.random.Generator,
            labels: tuple[float, float] = (-1.0, 1.0)) -> dict[str, np.ndarray]:
    if name in ("hinge", "squared_hinge"):
        y = rng.choice(labels, size=shape)
        if y.size >= 2:
            y.reshape(-1)[:2] = labels  # both labels present
        return {"predictions": rng.normal(size=shape) * 1.5, "targets": y}
    if name == "mape":
        y = rng.uniform(0.2, 3.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        return {"predictions": y + rng.normal(size=shape), "targets": y}
    # msle: scikit-learn's domain, values > -1 (some in (-1, 0), which it does not clip)
    return {"predictions": rng.uniform(-0.9, 4.0, size=shape),
            "targets": rng.uniform(-0.9, 4.0, size=shape)}


def _elementwise(name: str, x: np.ndarray, y: np.ndarray, margin: float = 1.0) -> np.ndarray:
    """The formulas of the defaults, elementwise."""
    if name in ("hinge", "squared_hinge"):
        ys = 2.0 * y - 1.0 if np.all((y == 0) | (y == 1)) else y
        h = np.maximum(margin - ys * x, 0.0)
        return h if name == "hinge" else h * h
    if name == "mape":  # a fraction, eps = float64 machine epsilon
        return np.abs(y - x) / np.maximum(np.abs(y), F64_EPS)
    return (np.log1p(x) - np.log1p(y)) ** 2  # msle: no clipping


@pytest.mark.parametrize("name", NAMES)
def test_default_is_elementwise_and_keras_stays_available(name):
    spec = get_loss(name)
    default = spec.conventions[0]
    assert default.name == ("sklearn" if name in ("mape", "msle") else "elementwise")
    assert not default.last_axis_mean and default.weights_in_mean
    keras = spec.convention("keras")
    assert keras is not None and keras.last_axis_mean and not keras.weights_in_mean


@pytest.mark.parametrize("name", NAMES)
def test_a_1d_batch_is_n_samples(name):
    # the example for hinge: [0.3, -0.5, 2] is three samples, not one
    inputs = _inputs(name, (3,), _rng("1d", name))
    if name in ("hinge", "squared_hinge"):
        inputs["predictions"] = np.array([0.3, -0.5, 2.0])
    expected = _elementwise(name, inputs["predictions"], inputs["targets"])
    r = evaluate(name, inputs, reduction="none", want_grad=True)
    assert r.n_samples == 3
    assert_close(r.value, expected)
    assert_close(r.per_sample, expected)
    k = evaluate(name, inputs, {"convention": "keras"}, reduction="none")
    assert k.n_samples == 1 and to_np(k.value).shape == ()


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", [(), (7,), (4, 3), (2, 3, 2)])
@pytest.mark.parametrize("name", NAMES)
def test_default_matches_the_elementwise_formula(name, shape, reduction):
    rng = _rng("formula", name, shape, reduction)
    inputs = _inputs(name, shape, rng, labels=(0.0, 1.0) if len(shape) == 2 else (-1.0, 1.0))
    el = _elementwise(name, inputs["predictions"], inputs["targets"])
    n = 1 if el.ndim == 0 else el.shape[0]
    w = rng.uniform(0.2, 2.0, size=n)
    sw = w.reshape((n,) + (1,) * max(el.ndim - 1, 0)) if el.ndim else w[0]
    weighted = el * sw
    r = evaluate(name, inputs, reduction=reduction, sample_weight=w if el.ndim else None,
                 want_grad=True)
    if el.ndim == 0:
        weighted = el
    expected = {"none": weighted, "sum": weighted.sum(),
                "mean": weighted.sum() / (np.broadcast_to(sw, el.shape).sum() if el.ndim
                                          else 1.0)}[reduction]
    assert_close(r.value, expected)
    if name == "mape" and reduction != "none":
        return  # (its gradients are checked against torch in test_robust_regression.py)
    fd = finite_difference(name, inputs, {}, reduction, "predictions",
                           sample_weight=w if el.ndim else None)
    assert_close(r.gradients["predictions"], fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("labels", [(-1.0, 1.0), (0.0, 1.0)])
def test_hinge_default_matches_sklearn_hinge_loss(labels, weighted):
    m = _sklearn()
    rng = _rng("sk-hinge", labels, weighted)
    inputs = _inputs("hinge", (12,), rng, labels)
    sw = rng.uniform(0.2, 3.0, size=12) if weighted else None
    r = evaluate("hinge", inputs, sample_weight=sw)
    assert_close(r.value, m.hinge_loss(inputs["targets"], inputs["predictions"],
                                       sample_weight=sw))


@pytest.mark.parametrize("weighted", [False, True])
def test_squared_hinge_default_is_the_square_of_the_hinge_default(weighted):
    rng = _rng("sq", weighted)
    inputs = _inputs("hinge", (5, 4), rng, (0.0, 1.0))
    sw = rng.uniform(0.2, 3.0, size=5) if weighted else None
    h = evaluate("hinge", inputs, {"margin": 0.7}, reduction="none")
    q = evaluate("squared_hinge", inputs, {"margin": 0.7}, reduction="none", want_grad=True)
    assert_close(q.value, to_np(h.value) ** 2)
    ys = 2.0 * inputs["targets"] - 1.0
    assert_close(q.gradients["predictions"], -2.0 * ys * to_np(h.value))
    m = evaluate("squared_hinge", inputs, {"margin": 0.7}, sample_weight=sw)
    w = np.ones(5) if sw is None else sw
    assert_close(m.value, np.sum(w[:, None] * to_np(h.value) ** 2) / (4 * w.sum()))


@pytest.mark.parametrize("shape", [(9,), (6, 3)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("name", "sk_name"), [("mape", "mean_absolute_percentage_error"),
                                                ("msle", "mean_squared_log_error")])
def test_mape_msle_defaults_match_sklearn(name, sk_name, weighted, shape):
    m = _sklearn()
    rng = _rng("sk", name, weighted, shape)
    inputs = _inputs(name, shape, rng)
    if name == "mape":
        inputs["targets"].reshape(-1)[-1] = 0.0  # a zero target: |x| / eps64
    sw = rng.uniform(0.2, 3.0, size=shape[0]) if weighted else None
    r = evaluate(name, inputs, sample_weight=sw)
    # scikit-learn's multioutput='uniform_average' over (n, k) is the mean over all elements
    expected = getattr(m, sk_name)(inputs["targets"], inputs["predictions"], sample_weight=sw)
    assert_close(r.value, expected, rtol=1e-12)
    assert r.params["convention"] == "sklearn"


def test_mape_default_is_a_fraction_and_percent_still_scales():
    inputs = {"predictions": [2.5, 0.0, 2.0], "targets": [3.0, -0.5, 2.0]}
    frac = to_np(evaluate("mape", inputs, reduction="none").value)
    assert_close(frac, [0.5 / 3.0, 1.0, 0.0])
    pct = to_np(evaluate("mape", inputs, {"percent": True}, reduction="none").value)
    assert_close(pct, 100.0 * frac)


def test_msle_default_refuses_values_at_or_below_minus_one():
    with pytest.raises(LossError) as exc:
        evaluate("msle", {"predictions": [0.5, -1.0], "targets": [0.0, 0.0]})
    assert exc.value.code == "invalid_value" and exc.value.loc == ("predictions", 1)
    r = evaluate("msle", {"predictions": [0.5, -1.0], "targets": [0.0, 0.0]},
                 {"convention": "keras"})
    assert np.isfinite(to_np(r.value))  # Keras clips to 1e-7


def test_hinge_default_refuses_a_zero_label_beside_minus_one():
    # the default maps only all-{0, 1} batches (scikit-learn and Keras agree); optax would use
    # the 0 as given, so it stays behind convention optax
    with pytest.raises(LossError) as exc:
        evaluate("hinge", {"predictions": [0.1, 0.2, 0.3], "targets": [1.0, -1.0, 0.0]})
    assert exc.value.code == "invalid_label" and exc.value.loc == ("targets", 2)
    r = evaluate("hinge", {"predictions": [0.1, 0.2, 0.3], "targets": [1.0, -1.0, 0.0]},
                 {"convention": "optax"}, reduction="none")
    assert_close(r.value, [0.9, 1.2, 1.0])
