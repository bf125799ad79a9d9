"""Max-form hinge losses: multiclass_hinge_cs, multiclass_perceptron, categorical_hinge, perceptron.

Oracles: golden values and ``jax.grad`` gradients recorded from optax 0.2.8 and Keras 3.15.1 (JAX
backend, float64) by ``tests/goldens/make_hinge_variants.py`` (stored in
``tests/goldens/hinge_variants.json``); independent references written in torch 2.13.0 ops with
autograd (``torch.amax`` splits ties evenly, like JAX's ``max``; ``torch.relu`` has slope 0 at 0,
the service's kink choice); scikit-learn 1.9.1 ``hinge_loss`` live for the multiclass mean.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, to_np, torch_oracle

GOLDENS = json.loads((Path(__file__).parents[1] / "goldens" / "hinge_variants.json").read_text())
REDUCTIONS = ["none", "mean", "sum"]


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _error(name, inputs, params=None) -> LossError:
    with pytest.raises(LossError) as exc:
        evaluate(name, inputs, params)
    return exc.value


def _reduce(loss, reduction):
    return loss if reduction == "none" else (loss.mean() if reduction == "mean" else loss.sum())


def _torch_cs(margin, reduction):
    import torch

    def fn(predictions, targets):
        oh = torch.nn.functional.one_hot(targets, predictions.shape[-1]).to(predictions.dtype)
        a = predictions + margin * (1.0 - oh)
        s_y = (predictions * oh).sum(-1)
        return _reduce(torch.amax(a, dim=-1) - s_y, reduction)
    return fn


def _torch_categorical_hinge(reduction):
    import torch

    def fn(predictions, targets):
        pos = (targets * predictions).sum(-1)
        neg = torch.amax((1.0 - targets) * predictions, dim=-1)
        return _reduce(torch.relu(neg - pos + 1.0), reduction)
    return fn


def _torch_perceptron(reduction):
    import torch

    def fn(predictions, targets):
        return _reduce(torch.relu(-targets * predictions), reduction)
    return fn


def _check(name, inputs, params, reduction, torch_fn):
    value, grads = torch_oracle(torch_fn, inputs, ("predictions",), reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])
    return r


# ------------------------------------------------------------------------------------ goldens


@pytest.mark.parametrize("case", GOLDENS["cases"], ids=lambda c: f"{c['loss']}-{c['note'][:20]}")
def test_library_goldens(case):
    # optax 0.2.8 / Keras 3.15.1 (JAX, float64): tests/goldens/make_hinge_variants.py
    r = evaluate(case["loss"], case["inputs"], case["params"], reduction="none",
                 want_grad="grad_of_sum" in case)
    assert_close(r.value, case["unreduced"])
    if "grad_of_sum" in case:
        assert_close(r.gradients["predictions"], case["grad_of_sum"])


def test_goldens_cover_every_loss():
    assert {c["loss"] for c in GOLDENS["cases"]} == {
        "multiclass_hinge_cs", "multiclass_perceptron", "perceptron", "categorical_hinge"}


# ------------------------------------------------------------------------- torch references

SHAPES = [(5,), (6, 5), (1, 3), (8, 2)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("margin", [1.0, 0.3, 2.5, 0.0])
def test_multiclass_hinge_cs_matches_torch_reference(margin, shape, reduction):
    rng = _rng("cs", margin, shape, reduction)
    x = rng.normal(size=shape) * 1.5
    y = np.asarray(rng.integers(0, shape[-1], size=shape[:-1]), dtype=np.int64)
    inputs = {"predictions": x, "targets": y}
    r = _check("multiclass_hinge_cs", inputs, {"margin": margin}, reduction,
               _torch_cs(margin, reduction))
    assert to_np(r.value).shape == (y.shape if reduction == "none" else ())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_multiclass_perceptron_matches_torch_reference(shape, reduction):
    rng = _rng("mp", shape, reduction)
    x = rng.normal(size=shape)
    y = np.asarray(rng.integers(0, shape[-1], size=shape[:-1]), dtype=np.int64)
    _check("multiclass_perceptron", {"predictions": x, "targets": y}, {}, reduction,
           _torch_cs(0.0, reduction))


def test_ties_split_the_gradient_evenly_like_torch_amax():
    # wrong classes tied at the max; the target tied with a wrong class (margin 0); all tied
    x = np.array([[1.0, 1.0, -0.5], [0.3, 0.3, 0.3], [2.0, 1.0, 2.0], [0.0, 1.0, 0.0]])
    y = np.array([2, 0, 0, 1])
    for name, margin in (("multiclass_hinge_cs", 1.0), ("multiclass_perceptron", 0.0)):
        params = {"margin": margin} if name == "multiclass_hinge_cs" else {}
        r = _check(name, {"predictions": x, "targets": y}, params, "sum",
                   _torch_cs(margin, "sum"))
        assert np.allclose(to_np(r.gradients["predictions"]).sum(axis=1), 0.0)
    r = evaluate("multiclass_perceptron", {"predictions": x, "targets": y}, reduction="none",
                 want_grad=True)
    assert_close(r.gradients["predictions"][1], [-2 / 3, 1 / 3, 1 / 3])
    assert_close(r.gradients["predictions"][2], [-0.5, 0.0, 0.5])


def test_multiclass_hinge_cs_at_the_kink():
    # margin + max wrong - target = 0: the target ties the best wrong class after the margin,
    # so the loss is 0 and the two share the +1 (JAX/torch amax), giving [-1/2, +1/2, 0]
    r = evaluate("multiclass_hinge_cs", {"predictions": [[2.0, 1.0, 0.0]], "targets": [0]},
                 reduction="sum", want_grad=True)
    assert float(to_np(r.value)) == 0.0
    assert_close(r.gradients["predictions"], [[-0.5, 0.5, 0.0]])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4,), (6, 4), (3, 2)])
def test_categorical_hinge_matches_torch_reference(shape, reduction):
    rng = _rng("ch", shape, reduction)
    x = rng.normal(size=shape) * 1.5
    t = np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]
    _check("categorical_hinge", {"predictions": x, "targets": t}, {}, reduction,
           _torch_categorical_hinge(reduction))
    soft = rng.uniform(size=shape)
    soft = soft / soft.sum(axis=-1, keepdims=True)
    _check("categorical_hinge", {"predictions": x, "targets": soft}, {}, reduction,
           _torch_categorical_hinge(reduction))


def test_categorical_hinge_keras_zero_floor_quirk():
    # Keras docs/semantics: neg = max((1 - t) x) includes the 0 at the true class
    x, t = [-1.0, -0.5, -2.0], [0.0, 1.0, 0.0]
    r = evaluate("categorical_hinge", {"predictions": x, "targets": t}, reduction="none")
    assert_close(r.value, 1.5)
    cs = evaluate("multiclass_hinge_cs", {"predictions": x, "targets": 1}, reduction="none")
    assert_close(cs.value, 0.5)  # true Crammer-Singer: 1 + (-1) - (-0.5)


def test_categorical_hinge_equals_crammer_singer_when_a_wrong_score_is_nonnegative():
    rng = _rng("ch-cs")
    x = rng.normal(size=(20, 4))
    x[:, 0] = np.abs(x[:, 0]) + 0.1  # class 0 is never the target and scores >= 0
    y = rng.integers(1, 4, size=20)
    a = evaluate("categorical_hinge", {"predictions": x, "targets": np.eye(4)[y]},
                 reduction="none")
    b = evaluate("multiclass_hinge_cs", {"predictions": x, "targets": y}, reduction="none")
    assert_close(a.value, b.value)


def test_categorical_hinge_kink_has_gradient_zero():
    # neg - pos + 1 = 0 exactly: strict, like torch.relu (Keras on JAX would give one half)
    x = [[0.5, 1.5, 0.25]]
    r = _check("categorical_hinge", {"predictions": np.array(x), "targets": np.array(
        [[0.0, 1.0, 0.0]])}, {}, "sum", _torch_categorical_hinge("sum"))
    assert float(to_np(r.value)) == 0.0
    assert np.all(to_np(r.gradients["predictions"]) == 0.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (4, 3), (2, 3, 2)])
def test_perceptron_matches_torch_reference(shape, reduction):
    rng = _rng("perc", shape, reduction)
    x = rng.normal(size=shape)
    x.reshape(-1)[0] = 0.0  # the kink: gradient 0 (torch.relu), optax would give -y/2
    y = rng.choice([-1.0, 1.0], size=shape)
    _check("perceptron", {"predictions": x, "targets": y}, {}, reduction,
           _torch_perceptron(reduction))


@pytest.mark.parametrize("name", ["multiclass_hinge_cs", "multiclass_perceptron"])
def test_stable_at_scores_of_1000(name):
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [1e300, -1e300, 0.0]])
    y = np.array([1, 2, 0])
    margin = 1.0 if name == "multiclass_hinge_cs" else 0.0
    r = _check(name, {"predictions": x[:2], "targets": y[:2]}, {}, "none",
               _torch_cs(margin, "none"))
    assert_close(r.value, [2000.0 + margin, 1.0 + margin])
    big = evaluate(name, {"predictions": x, "targets": y}, reduction="none", want_grad=True)
    assert np.all(np.isfinite(to_np(big.gradients["predictions"])))


def test_categorical_hinge_and_perceptron_stable_at_1000():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    t = np.eye(3)[[1, 2]]
    r = _check("categorical_hinge", {"predictions": x, "targets": t}, {}, "none",
               _torch_categorical_hinge("none"))
    assert_close(r.value, [2001.0, 2.0])
    p = _check("perceptron", {"predictions": x, "targets": np.where(x > 0, -1.0, 1.0)}, {},
               "none", _torch_perceptron("none"))
    assert np.all(np.isfinite(to_np(p.value)))


# ---------------------------------------------------------------------------------- sklearn


@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_hinge_cs_mean_is_sklearn_hinge_loss(weighted):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = _rng("sk-hinge", weighted)
    x = rng.normal(size=(30, 4)) * 1.5
    y = rng.integers(0, 4, size=30)
    y[:4] = [0, 1, 2, 3]
    sw = rng.uniform(0.2, 2.0, size=30) if weighted else None
    expected = metrics.hinge_loss(y, x, labels=[0, 1, 2, 3], sample_weight=sw)
    r = evaluate("crammer_singer", {"predictions": x, "targets": y}, sample_weight=sw)
    assert_close(r.value, expected)


def test_seed_003_scores():
    # seed 003 scores (cat/car/frog): CS takes the best wrong class, 2.9, 0, 6.6 (WW gives 12.9)
    x = [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]]
    r = evaluate("multiclass_hinge_cs", {"predictions": x, "targets": [0, 1, 2]},
                 reduction="none")
    assert_close(r.value, [2.9, 0.0, 6.6])


def test_margin_zero_is_multiclass_perceptron_and_two_classes_is_weston_watkins():
    rng = _rng("identities")
    x, y = rng.normal(size=(10, 3)), rng.integers(0, 3, size=10)
    a = evaluate("multiclass_hinge_cs", {"predictions": x, "targets": y}, {"margin": 0.0},
                 reduction="none")
    b = evaluate("multiclass_perceptron", {"predictions": x, "targets": y}, reduction="none")
    assert_close(a.value, b.value)
    x2, y2 = rng.normal(size=(10, 2)), rng.integers(0, 2, size=10)
    c = evaluate("multiclass_hinge_cs", {"predictions": x2, "targets": y2}, reduction="none")
    d = evaluate("multiclass_hinge", {"predictions": x2, "targets": y2}, reduction="none")
    assert_close(c.value, d.value)


# ----------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", ["multiclass_hinge_cs", "multiclass_perceptron"])
def test_index_target_errors(name):
    x = np.zeros((3, 4))
    e = _error(name, {"predictions": x, "targets": [0, 4, 1]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 1)
    e = _error(name, {"predictions": x, "targets": [0, -1, 1]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 1)
    e = _error(name, {"predictions": x, "targets": [0, 1]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    e = _error(name, {"predictions": x, "targets": [0.0, 1.0, 2.0]})
    assert e.code == "invalid_dtype" and e.loc == ("targets",)
    e = _error(name, {"predictions": np.zeros((2, 3, 4)), "targets": np.zeros((2, 4), int)})
    assert e.code == "invalid_shape" and e.loc == ("predictions",)


def test_margin_must_be_nonnegative():
    e = _error("multiclass_hinge_cs", {"predictions": [[0.0, 1.0]], "targets": [0]},
               {"margin": -0.5})
    assert e.code == "invalid_param" and e.loc == ("params", "margin")


def test_categorical_hinge_errors():
    x = np.zeros((2, 3))
    e = _error("categorical_hinge", {"predictions": x, "targets": [[0.0, 1.0, 0.0]]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    e = _error("categorical_hinge", {"predictions": x,
                                     "targets": [[0.0, 1.0, 0.0], [-1.0, 1.0, 1.0]]})
    assert e.code == "probability_out_of_range" and e.loc == ("targets", 1, 0)
    e = _error("categorical_hinge", {"predictions": x,
                                     "targets": [[0.0, 1.0, 0.0], [0.0, 1.0, 1.0]]})
    assert e.code == "probability_rows_not_normalized" and e.loc == ("targets", 1)


def test_perceptron_errors():
    e = _error("perceptron", {"predictions": [0.5, 1.0, -1.0], "targets": [1.0, 0.0, -1.0]})
    assert e.code == "invalid_label" and e.loc == ("targets", 1)
    e = _error("perceptron", {"predictions": [0.5, 1.0], "targets": [[1.0, -1.0]]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)


def test_alias():
    r = evaluate("Crammer-Singer", {"predictions": [[0.0, 2.0]], "targets": [0]})
    assert r.loss == "multiclass_hinge_cs"
    assert_close(r.value, 3.0)
