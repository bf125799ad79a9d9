"""The ``convention`` parameter of hinge and squared_hinge: scikit-learn's labels (any two
values, or one), the labels optax uses as given, and Keras' last-axis mean.

Oracles: scikit-learn 1.9.1 live (``hinge_loss``) for ``sklearn`` values, with its per-sample
values and gradient written out and checked by finite differences; the formulas written out for
``optax`` and ``keras``.
"""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, finite_difference, to_np
from tests.losses.support import loss_error, rng_for, sklearn_metrics

# ------------------------------------------------------------------------- sklearn (live)


def _hinge_labels(kind, rng, n):
    if kind == "pm1":
        return rng.choice([-1.0, 1.0], size=n), np.array([-1.0, 1.0])
    if kind == "01":
        return rng.choice([0.0, 1.0], size=n), np.array([0.0, 1.0])
    if kind == "12":
        return rng.choice([1.0, 2.0], size=n), np.array([1.0, 2.0])
    if kind == "odd":
        return rng.choice([-3.0, 5.0], size=n), np.array([-3.0, 5.0])
    value = {"all1": 1.0, "all0": 0.0, "allm1": -1.0}[kind]
    return np.full(n, value), np.array([value])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", ["pm1", "01", "12", "odd", "all1", "all0", "allm1"])
def test_hinge_sklearn_matches_hinge_loss(kind, weighted):
    m = sklearn_metrics()
    rng = rng_for("sk-hinge", kind, weighted)
    y, values = _hinge_labels(kind, rng, 10)
    if len(values) == 2:
        y[:2] = values  # both values present
    s = rng.normal(size=10) * 1.5
    sw = rng.uniform(0.2, 3.0, size=10) if weighted else None
    r = evaluate("hinge", {"predictions": s, "targets": y}, {"convention": "sklearn"},
                 sample_weight=sw, want_grad=True)
    assert_close(r.value, m.hinge_loss(y, s, sample_weight=sw))
    # the value sklearn computes, per sample, and its gradient (strict at the kink)
    ypm = np.where((y == values.max()) & (len(values) == 2), 1.0, -1.0)
    gap = 1.0 - ypm * s
    none = evaluate("hinge", {"predictions": s, "targets": y}, {"convention": "sklearn"},
                    reduction="none")
    assert_close(none.value, np.maximum(gap, 0.0))
    w = np.ones(10) if sw is None else sw
    assert_close(r.gradients["predictions"], -ypm * (gap > 0) * w / w.sum())


def test_hinge_sklearn_refuses_a_third_label_and_two_dimensional_inputs():
    m = sklearn_metrics()
    err = loss_error("hinge", {"predictions": [0.1, 0.2, 0.3], "targets": [0.0, 1.0, 2.0]},
                     {"convention": "sklearn"})
    assert err.code == "invalid_label" and err.loc == ("targets", 1)  # neither min nor max
    assert "multiclass_hinge_cs" in err.message
    # sklearn refuses continuous (fractional) labels too
    with pytest.raises(ValueError):
        m.hinge_loss([0.5, 1.0], [0.1, 0.2])
    err = loss_error("hinge", {"predictions": [0.1, 0.2], "targets": [1.0, 0.5]},
                     {"convention": "sklearn"})
    assert err.code == "invalid_label" and err.loc == ("targets", 1)
    for shape in ((2, 2), (4, 1), ()):
        err = loss_error("hinge", {"predictions": np.zeros(shape), "targets": np.ones(shape)},
                         {"convention": "sklearn"})
        assert err.code == "invalid_shape" and err.loc == ("predictions",)


def test_hinge_sklearn_margin_is_accepted():
    r = evaluate("hinge", {"predictions": [0.5, -0.2], "targets": [2.0, 1.0]},
                 {"convention": "sklearn", "margin": 2.0}, reduction="none")
    assert_close(r.value, [1.5, 1.8])


def test_sklearn_hinge_gradient_matches_finite_differences():
    rng = rng_for("fd-sk-hinge")
    y = rng.choice([1.0, 2.0], size=8)
    ypm = np.where(y == 2.0, 1.0, -1.0)
    s = ypm * (1.0 - rng.uniform(0.1, 1.0, size=8) * rng.choice([-1.0, 1.0], size=8))
    inputs = {"predictions": s, "targets": y}
    sw = rng.uniform(0.5, 2.0, size=8)
    r = evaluate("hinge", inputs, {"convention": "sklearn"}, sample_weight=sw, want_grad=True)
    fd = finite_difference("hinge", inputs, {"convention": "sklearn"}, "mean", "predictions",
                           sample_weight=sw)
    assert_close(r.gradients["predictions"], fd, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------- hinge: optax/keras


def test_hinge_optax_uses_labels_as_given():
    s, y = [0.4, -2.0, 0.3, 1.5], [0.0, -1.0, 1.0, 0.0]
    r = evaluate("hinge", {"predictions": s, "targets": y}, {"convention": "optax"},
                 reduction="none", want_grad=True)
    assert_close(r.value, [1.0, 0.0, 0.7, 1.0])  # a 0 label costs max(0, 1 - 0) = 1
    assert_close(r.gradients["predictions"], [0.0, 0.0, -1.0, 0.0])
    # an all-{0, 1} batch is not mapped (Keras maps it by 2y - 1)
    k = evaluate("hinge", {"predictions": [[0.4, -2.0]], "targets": [[1.0, 0.0]]},
                 {"convention": "keras"}, reduction="none")
    o = evaluate("hinge", {"predictions": [[0.4, -2.0]], "targets": [[1.0, 0.0]]},
                 {"convention": "optax"}, reduction="none")
    assert_close(k.value, [(0.6 + 0.0) / 2])
    assert_close(o.value, [[0.6, 1.0]])
    err = loss_error("hinge", {"predictions": [0.1, 0.2], "targets": [1.0, 2.0]},
                     {"convention": "optax"})
    assert err.code == "invalid_label" and err.loc == ("targets", 1)


@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
def test_hinge_keras_is_the_last_axis_mean(name):
    # the default until issue 19; now opt-in, with the same numbers
    rng = rng_for("keras-default", name)
    y = rng.choice([0.0, 1.0], size=(5, 3))
    s = rng.normal(size=(5, 3))
    keras = {"convention": "keras"}
    r = evaluate(name, {"predictions": s, "targets": y}, keras, reduction="none")
    h = np.maximum(1.0 - (2 * y - 1) * s, 0.0)
    assert_close(r.value, (h if name == "hinge" else h * h).mean(axis=-1))
    one = evaluate(name, {"predictions": s[0], "targets": y[0]}, keras, reduction="none")
    assert to_np(one.value).shape == ()  # a 1-D input is one sample
