"""The ``convention`` parameter of binary_cross_entropy (and its ``label_smoothing``),
binary_cross_entropy_with_logits, sigmoid_focal, hinge and squared_hinge: the conventions each
offers, the Keras and optax goldens, the headline numbers, finite differences for every new
gradient path (away from hinge kinks and clip bounds) and every namespace. Each loss's own
convention tests: test_conventions_bce.py, test_conventions_sigmoid_focal.py and
test_conventions_hinge.py.

Oracles: Keras 3.15.1 (JAX backend, float64) and optax 0.2.8 goldens with ``jax.grad``
gradients, recorded by ``tests/goldens/make_conventions_binary.py``
(``tests/goldens/conventions_binary.json``), for ``keras`` and ``optax`` (the Keras cases cover the
generic last-axis mean: a 2-D input under reductions none, sum and mean, and mean and none with
sample_weight); scikit-learn 1.9.1 live (``log_loss``, ``hinge_loss``) for the headline
``sklearn`` values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.losses import evaluate, get_loss
from tests.conftest import assert_close, finite_difference, to_np, to_xp
from tests.losses.conventions_support import interior_probabilities
from tests.losses.support import F64_EPS, loss_error, rng_for, sklearn_metrics

GOLDENS = json.loads(
    (Path(__file__).parents[1] / "goldens" / "conventions_binary.json").read_text())


# ------------------------------------------------------------------------------ the catalogue


def test_conventions_offered():
    offered = {name: tuple(c.name for c in get_loss(name).conventions)
               for name in ("binary_cross_entropy", "binary_cross_entropy_with_logits",
                            "sigmoid_focal", "hinge", "squared_hinge")}
    assert offered == {
        "binary_cross_entropy": ("torch", "keras", "sklearn"),
        "binary_cross_entropy_with_logits": ("torch", "keras", "optax"),
        "sigmoid_focal": ("torch", "optax", "keras"),
        "hinge": ("elementwise", "keras", "optax", "sklearn"),  # issue 19: elementwise default
        "squared_hinge": ("elementwise", "keras"),
    }
    for name in offered:
        spec = get_loss(name)
        assert spec.param("convention").default == spec.conventions[0].name
        keras = spec.convention("keras")
        assert keras is not None and keras.last_axis_mean and not keras.weights_in_mean


@pytest.mark.parametrize(("name", "conv"), [("bce", "optax"), ("bce_with_logits", "sklearn"),
                                            ("sigmoid_focal", "sklearn"), ("hinge", "torch"),
                                            ("squared_hinge", "optax"),
                                            ("squared_hinge", "sklearn")])
def test_libraries_without_the_loss_are_refused(name, conv):
    err = loss_error(name, {"predictions": [0.5], "targets": [1.0]}, {"convention": conv})
    assert err.code == "unsupported_convention" and err.loc == ("params", "convention")


# ----------------------------------------------------------------------------- Keras/optax


def _case_id(c: dict) -> str:
    sw = "-sw" if "sample_weight" in c else ""
    return f"{c['loss']}-{c['library']}-{c['reduction']}{sw}-{c['note'][:18]}"


@pytest.mark.parametrize("case", GOLDENS["cases"], ids=_case_id)
def test_library_goldens(case):
    # Keras 3.15.1 (JAX, float64) / optax 0.2.8: tests/goldens/make_conventions_binary.py
    dtype = case.get("dtype", "float64")
    r = evaluate(case["loss"], case["inputs"], case["params"], reduction=case["reduction"],
                 sample_weight=case.get("sample_weight"), dtype=dtype,
                 want_grad="grad" in case)
    rtol, atol = (1e-6, 1e-6) if dtype == "float32" else (1e-10, 1e-12)
    assert to_np(r.value).shape == np.shape(case["value"])
    assert_close(r.value, case["value"], rtol=rtol, atol=atol)
    if "grad" in case:
        assert_close(r.gradients["predictions"], case["grad"])


def test_goldens_cover_every_keras_and_optax_convention():
    covered = {(c["loss"], c["params"]["convention"]) for c in GOLDENS["cases"]}
    assert covered == {
        ("binary_cross_entropy", "keras"), ("binary_cross_entropy_with_logits", "keras"),
        ("binary_cross_entropy_with_logits", "optax"), ("sigmoid_focal", "keras"),
        ("sigmoid_focal", "optax"), ("hinge", "keras"), ("hinge", "optax"),
        ("squared_hinge", "keras")}
    with_weights = {(c["loss"], c["reduction"]) for c in GOLDENS["cases"]
                    if "sample_weight" in c}
    assert {n for n, r in with_weights if r == "mean"} == {
        "binary_cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal", "hinge",
        "squared_hinge"}


# ------------------------------------------------------------------------- headline numbers


@pytest.mark.parametrize(("conv", "expected"), [
    ("torch", 100.0), ("keras", -np.log(1e-7)), ("sklearn", -np.log(F64_EPS)),
])
def test_headline_bce_at_p0_y1(conv, expected):
    # issue: BCE at p = 0, y = 1 gives 100 (torch) / 16.118 (keras) / 36.04 (sklearn, float64)
    r = evaluate("bce", {"predictions": [0.0], "targets": [1.0]}, {"convention": conv},
                 want_grad=True)
    assert_close(r.value, expected)
    assert round(float(to_np(r.value)), 2) == {"torch": 100.0, "keras": 16.12,
                                               "sklearn": 36.04}[conv]
    # torch's gradient formula -1/max(p(1 - p), 1e-12f) even where the log is clamped; the
    # clipping libraries give 0 (the clip is active)
    assert_close(r.gradients["predictions"], [-1.0 / 9.999999960041972e-13 if conv == "torch"
                                              else 0.0])


def test_headline_sklearn_values_live():
    m = sklearn_metrics()
    r = evaluate("bce", {"predictions": [0.0], "targets": [1.0]}, {"convention": "sklearn"})
    assert_close(r.value, m.log_loss([1], [0.0], labels=[0, 1]))
    h = evaluate("hinge", {"predictions": [0.5, 2.0], "targets": [1.0, 1.0]},
                 {"convention": "sklearn"})
    assert_close(h.value, 2.25)  # sklearn quirk: one distinct label means -1 for every label
    assert_close(h.value, m.hinge_loss([1, 1], [0.5, 2.0]))


def test_headline_keras_float32_rounds_the_upper_clip_bound():
    # p = 1, y = 0: -log(1 - float32(1 - 1e-7)) = -log(2^-23) = 15.94 in float32
    r = evaluate("bce", {"predictions": [[1.0]], "targets": [[0.0]]}, {"convention": "keras"},
                 reduction="none", dtype="float32")
    assert_close(r.value, [23 * np.log(2.0)], rtol=1e-6)
    r64 = evaluate("bce", {"predictions": [[1.0]], "targets": [[0.0]]}, {"convention": "keras"},
                   reduction="none")
    assert_close(r64.value, [-np.log(1.0 - (1.0 - 1e-7))])


# --------------------------------------------------------------------- finite differences


FD_CASES = [
    ("bce", {"convention": "keras"}),
    ("bce", {"convention": "keras", "label_smoothing": 0.3, "weight": [1.0, 2.0, 0.5]}),
    ("bce", {"convention": "sklearn"}),
    ("bce", {"convention": "sklearn", "label_smoothing": 0.2}),
    ("bce", {"convention": "torch", "label_smoothing": 0.4}),
    ("bce_with_logits", {"convention": "keras", "pos_weight": 2.0}),
    ("sigmoid_focal", {"convention": "keras"}),
    ("sigmoid_focal", {"convention": "keras", "gamma": 0.7}),
    ("sigmoid_focal", {"convention": "optax"}),
    ("hinge", {"convention": "keras"}),
    ("hinge", {"convention": "optax"}),
    ("squared_hinge", {"convention": "keras", "margin": 0.5}),
]


def _fd_inputs(name, params, rng, shape):
    if name == "bce":
        p, y = interior_probabilities(rng, shape)
        return {"predictions": np.clip(p, 0.05, 0.95), "targets": y}
    if name in ("hinge", "squared_hinge"):
        y = rng.choice([-1.0, 1.0], size=shape)
        if params.get("convention") == "optax":
            y.reshape(-1)[0] = 0.0
        m = params.get("margin", 1.0)
        d = rng.uniform(0.1, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        return {"predictions": y * (m - d) + (y == 0) * 0.3, "targets": y}
    return {"predictions": rng.normal(size=shape) * 2.0, "targets": rng.uniform(size=shape)}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(("name", "params"), FD_CASES, ids=lambda v: repr(v)[:40])
def test_gradients_match_finite_differences(name, params, reduction):
    rng = rng_for("fd", name, repr(params), reduction)
    inputs = _fd_inputs(name, params, rng, (4, 3))
    sw = rng.uniform(0.5, 2.0, size=4)
    r = evaluate(name, inputs, params, reduction=reduction, sample_weight=sw, want_grad=True)
    fd = finite_difference(name, inputs, params, reduction, "predictions", sample_weight=sw)
    assert_close(r.gradients["predictions"], fd, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------- across namespaces


@pytest.mark.parametrize(("name", "params"), [
    ("bce", {"convention": "keras", "label_smoothing": 0.1}),
    ("bce", {"convention": "sklearn"}),
    ("bce", {"convention": "torch", "label_smoothing": 0.1}),
    ("sigmoid_focal", {"convention": "keras"}),
    ("sigmoid_focal", {"convention": "optax"}),
    ("hinge", {"convention": "optax"}),
    ("hinge", {"convention": "sklearn"}),
])
def test_conventions_run_on_every_namespace(xp, name, params):
    rng = rng_for("xp", name, repr(params))
    shape = (6,) if params["convention"] == "sklearn" and name == "hinge" else (4, 3)
    inputs = _fd_inputs(name, params, rng, shape)
    if name == "hinge" and params["convention"] == "sklearn":
        inputs["targets"] = (inputs["targets"] + 1.0) / 2.0 + 1.0  # labels {1, 2}
    if name == "bce":
        inputs["predictions"].reshape(-1)[:2] = [0.0, 1.0]  # clipped
    w = rng.uniform(0.5, 2.0, size=shape[0])
    for dtype in ("float64", "float32"):
        ref = evaluate(name, inputs, params, reduction="mean", sample_weight=w, dtype=dtype,
                       want_grad=True)
        r = evaluate(name, {k: to_xp(xp, v) for k, v in inputs.items()}, params,
                     reduction="mean", sample_weight=to_xp(xp, w), dtype=dtype, want_grad=True)
        tol = {"rtol": 1e-10} if dtype == "float64" else {"rtol": 1e-5, "atol": 1e-6}
        assert_close(r.value, ref.value, **tol)
        assert_close(r.gradients["predictions"], ref.gradients["predictions"], **tol)
