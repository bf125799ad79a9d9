"""The ``convention`` parameter of mse, l1, huber, log_cosh, mape and msle: the conventions each
offers, the Keras and optax goldens, every Keras path under finite differences (the generic
last-axis mean and the count-divided weighted mean), the defaults each convention gives mape's
and msle's params, every namespace and the headline numbers. The live PyTorch and scikit-learn
oracles: test_conventions_regression_live.py.

Oracles: Keras 3.15.1 (JAX backend, float64) and optax 0.2.8 goldens with ``jax.grad``
gradients, recorded by ``tests/goldens/make_conventions_regression.py``
(``tests/goldens/conventions_regression.json``), for ``keras`` and ``optax``; finite differences.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.losses import evaluate, get_loss
from tests.conftest import assert_close, finite_difference, to_np, to_xp
from tests.losses.conventions_support import regression_inputs
from tests.losses.support import F64_EPS, REDUCTIONS, loss_error, rng_for

GOLDENS = json.loads(
    (Path(__file__).parents[1] / "goldens" / "conventions_regression.json").read_text())
LOSSES = ("mse", "l1", "huber", "log_cosh", "mape", "msle")


# ------------------------------------------------------------------------ catalog of conventions


def test_conventions_listed():
    expected = {
        "mse": ["torch", "keras", "optax", "sklearn"],
        "l1": ["torch", "keras", "sklearn"],
        "huber": ["torch", "keras", "optax"],
        "log_cosh": ["optax", "keras"],
        "mape": ["sklearn", "keras"],  # issue 19: scikit-learn's (elementwise) by default
        "msle": ["sklearn", "keras"],
    }
    for name, names in expected.items():
        spec = get_loss(name)
        assert [c.name for c in spec.conventions] == names
        assert spec.param("convention").default == names[0]
        keras = spec.convention("keras")
        assert keras is not None and keras.last_axis_mean and not keras.weights_in_mean
        for c in spec.conventions:
            assert c.changes and c.reference
            if c.name != "keras":
                assert not c.last_axis_mean and c.weights_in_mean
    for name in ("smooth_l1", "half_mse", "pinball"):  # one library only, or all agree
        assert get_loss(name).conventions == ()


# --------------------------------------------------------------------- Keras and optax goldens


def _golden_id(c: dict) -> str:
    w = "-weighted" if c["sample_weight"] is not None else ""
    return f"{c['library']}-{c['loss']}-{c['reduction']}{w}-{c['note'][:16]}"


@pytest.mark.parametrize("case", GOLDENS["cases"], ids=_golden_id)
def test_library_goldens(case):
    # keras: cls(reduction=None | "sum" | "sum_over_batch_size")(targets, predictions,
    # sample_weight) is our none | sum | mean; optax: the elementwise loss, our none.
    # Gradients: jax.grad of the reduced value (of the sum for none).
    r = evaluate(case["loss"], case["inputs"], case["params"], reduction=case["reduction"],
                 sample_weight=case["sample_weight"], want_grad=True)
    assert to_np(r.value).shape == np.asarray(case["value"]).shape
    if case["library"] == "keras":
        # Keras 3.15.1 takes ops.mean in float32 even for float64 inputs: as shipped it agrees to
        # float32 rounding; with its mean in float64 (value_exact) to float64 rounding
        assert_close(r.value, case["value"], rtol=3e-7, atol=1e-12)
        assert_close(r.gradients["predictions"], case["grad"], rtol=3e-7, atol=1e-12)
        assert_close(r.value, case["value_exact"], rtol=1e-12, atol=1e-13)
        assert_close(r.gradients["predictions"], case["grad_exact"], rtol=1e-12, atol=1e-13)
    else:
        assert_close(r.value, case["value"], rtol=1e-12, atol=1e-13)
        assert_close(r.gradients["predictions"], case["grad"], rtol=1e-12, atol=1e-13)


def test_goldens_cover_every_keras_and_optax_convention():
    seen = {(c["loss"], c["library"]) for c in GOLDENS["cases"]}
    for name in LOSSES:
        for conv in get_loss(name).conventions:
            if conv.name in ("keras", "optax"):
                assert (name, conv.name) in seen
    libs = GOLDENS["libraries"]
    assert libs["keras_backend"] == "jax" and libs["keras_floatx"] == "float64"
    assert libs["keras"].startswith("3.") and libs["optax"] and libs["jax"]
    # every Keras reduction, weighted, and a 1-D input, for each Keras loss
    for name in LOSSES:
        keras = [c for c in GOLDENS["cases"] if c["loss"] == name and c["library"] == "keras"]
        assert {c["reduction"] for c in keras} == {"none", "mean", "sum"}
        assert any(c["sample_weight"] is not None for c in keras)
        assert any(np.ndim(c["inputs"]["predictions"]) == 1 for c in keras)


# ------------------------------------------------------------- Keras: finite differences


KERAS_SHAPES = [(6,), (4, 3), (2, 3, 4), (1, 5)]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", KERAS_SHAPES)
@pytest.mark.parametrize("name", LOSSES)
def test_keras_gradient_matches_finite_differences(name, shape, reduction, weighted):
    rng = rng_for("keras-fd", name, shape, reduction, weighted)
    inputs = regression_inputs(name, shape, rng)
    params = {"convention": "keras"}
    n = shape[0] if len(shape) > 1 else 1  # a 1-D input is one sample
    sw = rng.uniform(0.2, 2.0, size=n) if weighted else None
    r = evaluate(name, inputs, params, reduction=reduction, sample_weight=sw, want_grad=True)
    fd = finite_difference(name, inputs, params, reduction, "predictions", sample_weight=sw)
    assert_close(r.gradients["predictions"], fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_keras_is_the_last_axis_mean_of_the_elementwise_loss(name):
    rng = rng_for("keras-mean", name)
    inputs = regression_inputs(name, (5, 3, 4), rng)
    elementwise = next(c.name for c in get_loss(name).conventions if c.name != "keras")
    base = {"convention": elementwise}
    if name == "mape":  # the elementwise loss in Keras' numbers
        base = {"convention": "sklearn", "percent": True, "eps": 1e-7}
    if name == "msle":
        base = {"convention": "sklearn", "eps": 1e-7}
    el = to_np(evaluate(name, inputs, base, reduction="none").value)
    k = evaluate(name, inputs, {"convention": "keras"}, reduction="none")
    assert_close(k.value, el.mean(axis=-1))
    w = rng.uniform(0.0, 2.0, size=5)
    km = evaluate(name, inputs, {"convention": "keras"}, reduction="mean", sample_weight=w)
    assert_close(km.value, np.sum(w[:, None] * el.mean(axis=-1)) / 15.0)  # / count, not / sum w
    ks = evaluate(name, inputs, {"convention": "keras"}, reduction="sum", sample_weight=w)
    assert_close(ks.value, np.sum(w[:, None] * el.mean(axis=-1)))


@pytest.mark.parametrize("name", LOSSES)
def test_keras_1d_input_is_one_sample(name):
    inputs = regression_inputs(name, (7,), rng_for("keras-1d", name))
    r = evaluate(name, inputs, {"convention": "keras"}, reduction="none", want_grad=True)
    assert to_np(r.value).shape == () and r.n_samples == 1
    m = evaluate(name, inputs, {"convention": "keras"}, reduction="mean")
    assert_close(r.value, m.value)
    e = loss_error(name, inputs, {"convention": "keras"}, sample_weight=np.ones(7))
    assert e.code == "shape_mismatch" and e.loc == ("sample_weight",)


# ------------------------------------------------------------ params under the conventions


def test_mape_convention_sets_the_defaults_of_eps_and_percent():
    inputs = {"predictions": [0.5, 2.5, -1.0], "targets": [0.0, 2.0, -4.0]}
    keras = to_np(evaluate("mape", inputs, {"convention": "keras"}, reduction="none").value)
    assert_close(keras, 100.0 * np.mean([0.5 / 1e-7, 0.25, 0.75]))
    sk = to_np(evaluate("mape", inputs, {"convention": "sklearn"}, reduction="none").value)
    assert_close(sk, [0.5 / F64_EPS, 0.25, 0.75])
    assert_close(evaluate("mape", inputs, reduction="none").value, sk, rtol=0, atol=0)
    # explicit values override the convention's
    assert_close(evaluate("mape", inputs, {"convention": "sklearn", "percent": True,
                                           "eps": 1e-7}, reduction="none").value,
                 [0.5e9, 25.0, 75.0])
    assert_close(evaluate("mape", inputs, {"convention": "keras", "percent": False},
                          reduction="none").value,
                 np.mean([0.5 / 1e-7, 0.25, 0.75]))
    assert_close(evaluate("mape", inputs, {"convention": "keras", "eps": 0.5},
                          reduction="none").value,
                 100.0 * np.mean([1.0, 0.25, 0.75]))
    assert_close(evaluate("mape", inputs, {"eps": 0.5}, reduction="none").value,
                 [1.0, 0.25, 0.75])
    r = evaluate("mape", inputs, {"eps": None, "percent": None})
    assert r.params["eps"] is None and r.params["percent"] is None
    assert r.params["convention"] == "sklearn"


def test_msle_explicit_eps_clips_in_either_convention():
    x, y = np.array([-0.5, 1.0, 0.0]), np.array([0.5, 2.0, -0.5])
    for conv in ("keras", "sklearn"):
        r = evaluate("msle", {"predictions": x, "targets": y}, {"convention": conv,
                                                                 "eps": 0.0},
                     reduction="sum", want_grad=True)
        cx, cy = np.maximum(x, 0.0), np.maximum(y, 0.0)
        per = (np.log1p(cx) - np.log1p(cy)) ** 2
        assert_close(r.value, per.mean() if conv == "keras" else per.sum())
        g = to_np(r.gradients["predictions"])
        assert g[0] == 0.0


def test_log_cosh_default_is_optax_elementwise():
    inputs = regression_inputs("log_cosh", (4, 3), rng_for("lc"))
    a = evaluate("log_cosh", inputs, reduction="none", want_grad=True)
    b = evaluate("log_cosh", inputs, {"convention": "optax"}, reduction="none", want_grad=True)
    assert to_np(a.value).shape == (4, 3)
    assert_close(a.value, b.value)
    assert_close(a.gradients["predictions"], b.gradients["predictions"])
    d = inputs["predictions"] - inputs["targets"]
    assert_close(a.value, np.logaddexp(d, -d) - np.log(2.0))
    k = evaluate("log_cosh", inputs, {"convention": "keras"}, reduction="none", want_grad=True)
    assert_close(k.value, to_np(a.value).mean(axis=-1))
    assert_close(k.gradients["predictions"], np.tanh(d) / 3)


# ------------------------------------------------------------------- across namespaces


@pytest.mark.parametrize(("name", "conv"), [("mse", "keras"), ("huber", "keras"),
                                            ("log_cosh", "keras"), ("mape", "sklearn"),
                                            ("mape", "keras"), ("msle", "sklearn"),
                                            ("msle", "keras"), ("l1", "sklearn")])
def test_conventions_run_on_every_namespace(xp, name, conv):
    rng = rng_for("xp", name, conv)
    inputs = regression_inputs(name, (4, 3), rng)
    w = rng.uniform(0.5, 2.0, size=4)
    ref = evaluate(name, inputs, {"convention": conv}, reduction="mean", sample_weight=w,
                   want_grad=True)
    r = evaluate(name, {k: to_xp(xp, v) for k, v in inputs.items()}, {"convention": conv},
                 reduction="mean", sample_weight=to_xp(xp, w), want_grad=True)
    assert_close(r.value, ref.value)
    assert_close(r.gradients["predictions"], ref.gradients["predictions"])
    none = evaluate(name, {k: to_xp(xp, v) for k, v in inputs.items()}, {"convention": conv},
                    reduction="none")
    assert to_np(none.value).shape == ((4,) if conv == "keras" else (4, 3))


# ----------------------------------------------------------------------- headline numbers


def test_seed_003_squared_error_is_the_same_in_every_convention():
    # y = 0, y_hat = 0.9: L = 0.81, dL/dy_hat = 1.80 (one element: every convention agrees)
    for conv in ("torch", "keras", "optax", "sklearn"):
        r = evaluate("mse", {"predictions": [0.9], "targets": [0.0]}, {"convention": conv},
                     want_grad=True)
        assert_close(r.value, 0.81)
        assert_close(r.gradients["predictions"], [1.8])


def test_keras_reduction_none_is_per_sample():
    # MeanSquaredError(reduction=None)([[0, 0], [0, 0]], [[1, 2], [3, 4]]) = [2.5, 12.5]
    inputs = {"predictions": [[1.0, 2.0], [3.0, 4.0]], "targets": [[0.0, 0.0], [0.0, 0.0]]}
    k = evaluate("mse", inputs, {"convention": "keras"}, reduction="none")
    assert_close(k.value, [2.5, 12.5])
    t = evaluate("mse", inputs, reduction="none")
    assert_close(t.value, [[1.0, 4.0], [9.0, 16.0]])
    # sum_over_batch_size with sample_weight [1, 0]: 2.5 / 2 (torch-style mean: 5 / 2)
    w = [1.0, 0.0]
    assert_close(evaluate("mse", inputs, {"convention": "keras"}, sample_weight=w).value, 1.25)
    assert_close(evaluate("mse", inputs, sample_weight=w).value, 2.5)
    assert_close(evaluate("mse", inputs, {"convention": "sklearn"}, sample_weight=w).value, 2.5)
    # a 1-D input is one sample: MeanSquaredError(reduction=None)([0, 0, 0], [1, 2, 3]) = 14/3
    one = evaluate("mse", {"predictions": [1.0, 2.0, 3.0], "targets": [0.0, 0.0, 0.0]},
                   {"convention": "keras"}, reduction="none")
    assert_close(one.value, 14.0 / 3.0)


def test_mape_keras_percent_vs_sklearn_fraction():
    # Keras: 100 * mean(|y - x| / max(|y|, 1e-7)); scikit-learn: the fraction, eps64
    inputs = {"predictions": [2.5, 0.0, 2.0], "targets": [3.0, -0.5, 2.0]}
    keras = {"convention": "keras"}
    assert_close(evaluate("mape", inputs, keras).value, 100.0 * (0.5 / 3 + 1.0) / 3)
    assert_close(evaluate("mape", inputs, {"convention": "sklearn"}).value, (0.5 / 3 + 1.0) / 3)
    assert_close(evaluate("mape", inputs).value, (0.5 / 3 + 1.0) / 3)  # the default (issue 19)
    zero = {"predictions": [0.5], "targets": [0.0]}
    assert_close(evaluate("mape", zero, keras).value, 0.5e9)
    assert_close(evaluate("mape", zero, {"convention": "sklearn"}).value, 0.5 / F64_EPS)
    assert_close(evaluate("mape", zero).value, 0.5 / F64_EPS)
