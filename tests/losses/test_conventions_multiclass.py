"""The ``convention`` parameter of multiclass_hinge, triplet_margin, kl_div and ctc: the Keras and
optax goldens of all four, the conventions of multiclass_hinge, and all four on every namespace.
The convention tests of the other three: test_conventions_triplet.py, test_conventions_kl_div.py
and test_conventions_ctc.py.

Oracles: PyTorch 2.13.0 live (float64 autograd), scikit-learn 1.9.1 live (``hinge_loss`` with
``labels=``), and golden values with ``jax.grad`` gradients recorded from Keras 3.15.1 (JAX backend)
and optax 0.2.8 by ``tests/goldens/make_conventions_multiclass.py``
(``tests/goldens/conventions_multiclass.json``); new gradient paths are also checked by finite
differences. Each convention is checked on inputs where the libraries disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.losses import evaluate, get_loss
from tests.conftest import assert_close, to_np, to_xp
from tests.losses.conventions_support import check_fd, check_torch, ctc_inputs, triplet_inputs
from tests.losses.support import REDUCTIONS, loss_error, reduced, rng_for

GOLDENS = json.loads(
    (Path(__file__).parents[1] / "goldens" / "conventions_multiclass.json").read_text())
# cs231n's worked example (seed 003): one row of class scores per sample (cat, car, frog images)
SVM_SCORES = [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]]
SVM_TARGETS = [0, 1, 2]


# ------------------------------------------------------------------- goldens (Keras, optax)


def _case_id(c: dict) -> str:
    return f"{c['loss']}-{c['library']}-{c['note'][:30]}"


@pytest.mark.parametrize("case", [c for c in GOLDENS["cases"] if "optax_buggy" not in c],
                         ids=_case_id)
def test_library_goldens(case):
    # Keras 3.15.1 / optax 0.2.8 (JAX, float64; Keras' CTC in float32): see the generator
    rtol = case.get("rtol", 1e-10)
    atol = 1e-12 if rtol == 1e-10 else rtol
    r = evaluate(case["loss"], case["inputs"], case["params"], reduction="none",
                 want_grad="grads" in case)
    assert_close(r.value, case["unreduced"], rtol=rtol, atol=atol)
    for k, g in case.get("grads", {}).items():
        assert_close(r.gradients[k], g, rtol=rtol, atol=atol, err_msg=k)
    for reduction, value in case.get("reduced", {}).items():
        got = evaluate(case["loss"], case["inputs"], case["params"], reduction=reduction)
        assert_close(got.value, value, rtol=rtol, atol=atol, err_msg=reduction)
    if "weighted_mean" in case:  # Keras' sum_over_batch_size: divides by N, not by sum(w)
        w = case["weighted_mean"]
        got = evaluate(case["loss"], case["inputs"], case["params"], reduction="mean",
                       sample_weight=w["sample_weight"])
        assert_close(got.value, w["value"], rtol=rtol, atol=atol)
        sw = np.asarray(w["sample_weight"])
        assert not np.isclose(w["value"], np.sum(sw * np.asarray(case["unreduced"]))
                              / sw.sum(), rtol=1e-6)


def test_goldens_cover_every_library_convention():
    pairs = {(c["loss"], c["library"]) for c in GOLDENS["cases"]}
    assert pairs == {("multiclass_hinge", "optax"), ("multiclass_hinge", "keras"),
                     ("triplet_margin", "optax"), ("kl_div", "optax"), ("kl_div", "keras"),
                     ("ctc", "optax"), ("ctc", "keras")}
    for c in GOLDENS["cases"]:
        assert c["params"]["convention"] == c["library"]


def test_optax_missing_abs_is_not_reproduced():
    # headline: optax's norm_degree=1 sums signed differences, so this triplet gives 4.0 in optax
    # where the L1 distances (0.5 against 2.5) satisfy the margin and give 0
    (case,) = [c for c in GOLDENS["cases"] if "optax_buggy" in c]
    assert case["optax_buggy"] == [4.0]
    r = evaluate("triplet_margin", case["inputs"], case["params"], reduction="none")
    assert_close(r.value, case["unreduced"])


# ------------------------------------------------------------------------ multiclass_hinge


def test_cs231n_svm_example_is_2_9_and_torch_divides_by_c():
    # headline: cs231n's notes give 2.9 for the cat image; torch MultiMarginLoss prints 0.9667
    cs = evaluate("multiclass_hinge", {"predictions": SVM_SCORES, "targets": SVM_TARGETS},
                  reduction="none")
    assert_close(cs.value, [2.9, 0.0, 12.9])
    assert cs.params["convention"] == "cs231n"
    th = evaluate("multiclass_hinge", {"predictions": SVM_SCORES, "targets": SVM_TARGETS},
                  {"convention": "torch"}, reduction="none")
    assert_close(th.value, [2.9 / 3, 0.0, 12.9 / 3])
    assert round(float(to_np(th.value)[0]), 4) == 0.9667


def test_conventions_disagree_on_the_cs231n_scores():
    # frog image: Weston-Watkins sums both violations (12.9), Crammer-Singer keeps the worst (6.6)
    values = {c: float(to_np(evaluate("multiclass_hinge",
                                      {"predictions": SVM_SCORES, "targets": SVM_TARGETS},
                                      {"convention": c}, reduction="sum").value))
              for c in ("cs231n", "torch", "optax", "sklearn", "keras")}
    assert_close(values["cs231n"], 15.8)
    assert_close(values["torch"], 15.8 / 3)
    assert_close(values["optax"], 9.5)
    assert values["sklearn"] == values["optax"] == values["keras"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("margin", [1.0, 0.4])
@pytest.mark.parametrize("shape", [(6, 4), (5,)])
def test_torch_convention_matches_torch_multi_margin_loss(shape, margin, p, reduction):
    import torch.nn.functional as F

    rng = rng_for("mh-torch", shape, margin, p, reduction)
    x = rng.normal(size=shape) * 1.5
    y = np.asarray(rng.integers(0, shape[-1], size=shape[:-1]), dtype=np.int64)
    inputs = {"predictions": x, "targets": y}
    params = {"convention": "torch", "margin": margin, "p": p}
    r = check_torch("multiclass_hinge", inputs, params, reduction,
                    lambda predictions, targets: F.multi_margin_loss(
                        predictions, targets, p=p, margin=margin, reduction=reduction),
                    ("predictions",))
    mm = evaluate("multi_margin", inputs, {"margin": margin, "p": p}, reduction=reduction,
                  want_grad=True)
    assert_close(r.value, mm.value)
    assert_close(r.gradients["predictions"], mm.gradients["predictions"])
    cs = evaluate("multiclass_hinge", inputs, {"margin": margin, "p": p}, reduction=reduction)
    assert_close(cs.value, shape[-1] * to_np(r.value))


def _torch_crammer_singer(margin, reduction):
    import torch

    def fn(predictions, targets):
        oh = torch.nn.functional.one_hot(targets, predictions.shape[-1]).to(predictions.dtype)
        a = predictions + margin * (1.0 - oh)
        return reduced(torch.amax(a, dim=-1) - (predictions * oh).sum(-1), reduction)
    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("convention", ["optax", "sklearn"])
@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_crammer_singer_conventions_match_a_torch_reference(convention, margin, reduction):
    rng = rng_for("mh-cs", convention, margin, reduction)
    x = rng.normal(size=(7, 5)) * 1.5
    y = rng.integers(0, 5, size=7)
    inputs = {"predictions": x, "targets": y}
    params = {"convention": convention, "margin": margin}
    r = check_torch("multiclass_hinge", inputs, params, reduction,
                    _torch_crammer_singer(margin, reduction), ("predictions",))
    cs = evaluate("multiclass_hinge_cs", inputs, {"margin": margin}, reduction=reduction,
                  want_grad=True)
    assert_close(r.value, cs.value)
    assert_close(r.gradients["predictions"], cs.gradients["predictions"])


@pytest.mark.parametrize("c", [3, 5])
def test_sklearn_convention_matches_sklearn_hinge_loss(c):
    from sklearn.metrics import hinge_loss

    rng = rng_for("mh-sklearn", c)
    x = rng.normal(size=(9, c)) * 1.5
    y = rng.integers(0, c, size=9)
    w = rng.uniform(0.2, 3.0, size=9)
    inputs = {"predictions": x, "targets": y}
    params = {"convention": "sklearn"}
    r = evaluate("multiclass_hinge", inputs, params)
    assert_close(r.value, hinge_loss(y, x, labels=np.arange(c)))
    rw = evaluate("multiclass_hinge", inputs, params, sample_weight=w)
    assert_close(rw.value, hinge_loss(y, x, labels=np.arange(c), sample_weight=w))
    cs231n = evaluate("multiclass_hinge", inputs, {})
    assert not np.isclose(float(to_np(cs231n.value)), float(to_np(r.value)))


def test_sklearn_convention_on_the_cs231n_scores():
    from sklearn.metrics import hinge_loss

    r = evaluate("multiclass_hinge", {"predictions": SVM_SCORES, "targets": SVM_TARGETS},
                 {"convention": "sklearn"})
    assert_close(r.value, hinge_loss(SVM_TARGETS, np.array(SVM_SCORES), labels=[0, 1, 2]))
    assert_close(r.value, 9.5 / 3)


def test_keras_convention_is_categorical_hinge_on_one_hot_targets():
    rng = rng_for("mh-keras")
    x = rng.normal(size=(8, 4))
    x[0] = [-1.0, -0.5, -2.0, -1.2]  # every wrong score negative: Keras' 0 floor
    y = rng.integers(0, 4, size=8)
    y[0] = 1
    inputs = {"predictions": x, "targets": y}
    for reduction in REDUCTIONS:
        r = evaluate("multiclass_hinge", inputs, {"convention": "keras"}, reduction=reduction,
                     want_grad=True)
        ch = evaluate("categorical_hinge", {"predictions": x, "targets": np.eye(4)[y]},
                      reduction=reduction, want_grad=True)
        assert_close(r.value, ch.value)
        assert_close(r.gradients["predictions"], ch.gradients["predictions"])
    quirk = evaluate("multiclass_hinge", {"predictions": [-1.0, -0.5, -2.0], "targets": 1},
                     {"convention": "keras"}, reduction="none")
    optax = evaluate("multiclass_hinge", {"predictions": [-1.0, -0.5, -2.0], "targets": 1},
                     {"convention": "optax"}, reduction="none")
    assert_close(quirk.value, 1.5)
    assert_close(optax.value, 0.5)


def test_multiclass_hinge_convention_kinks():
    # cs231n/torch: strict (a term of exactly 0 has gradient 0); Crammer-Singer: the target and
    # the best wrong class tie at the kink and share the gradient; Keras: strict
    x, y = [[2.0, 1.0, 0.0]], [0]
    g = {c: to_np(evaluate("multiclass_hinge", {"predictions": x, "targets": y},
                           {"convention": c}, reduction="sum", want_grad=True)
                  .gradients["predictions"])
         for c in ("cs231n", "torch", "optax", "keras")}
    assert np.all(g["cs231n"] == 0.0) and np.all(g["torch"] == 0.0)
    assert_close(g["optax"], [[-0.5, 0.5, 0.0]])
    assert np.all(g["keras"] == 0.0)


@pytest.mark.parametrize("convention", ["cs231n", "torch", "optax", "sklearn", "keras"])
def test_multiclass_hinge_gradients_match_finite_differences(convention):
    rng = rng_for("mh-fd", convention)
    x = np.round(rng.normal(size=(5, 4)) * 1.5, 3) + 1e-4 * rng.normal(size=(5, 4))
    y = rng.integers(0, 4, size=5)
    params = {"convention": convention}
    if convention in ("cs231n", "torch"):
        params["p"] = 2
    check_fd("multiclass_hinge", {"predictions": x, "targets": y}, params)
    check_fd("multiclass_hinge", {"predictions": x, "targets": y}, params, ("mean",),
             sample_weight=rng.uniform(0.5, 2.0, size=5))


@pytest.mark.parametrize("convention", ["optax", "sklearn", "keras"])
def test_squared_hinge_only_for_weston_watkins(convention):
    e = loss_error("multiclass_hinge", {"predictions": SVM_SCORES, "targets": SVM_TARGETS},
                   {"convention": convention, "p": 2})
    assert e.code == "invalid_param" and e.loc == ("params", "p")


def test_keras_margin_is_fixed():
    e = loss_error("multiclass_hinge", {"predictions": SVM_SCORES, "targets": SVM_TARGETS},
                   {"convention": "keras", "margin": 0.5})
    assert e.code == "invalid_param" and e.loc == ("params", "margin")
    r = evaluate("multiclass_hinge", {"predictions": SVM_SCORES, "targets": SVM_TARGETS},
                 {"convention": "keras", "margin": 1.0})
    assert np.isfinite(float(to_np(r.value)))


def test_multiclass_hinge_unknown_convention():
    e = loss_error("multiclass_hinge", {"predictions": SVM_SCORES, "targets": SVM_TARGETS},
                   {"convention": "jax"})
    assert e.code == "unsupported_convention" and e.loc == ("params", "convention")
    assert get_loss("multiclass_hinge").defaults["convention"] == "cs231n"


# ------------------------------------------------------------------- array-API namespaces


NAMESPACE_CASES = [
    ("multiclass_hinge", "torch"), ("multiclass_hinge", "optax"), ("multiclass_hinge", "keras"),
    ("triplet_margin", "optax"), ("kl_div", "optax"), ("kl_div", "keras"), ("ctc", "keras"),
]


def _namespace_inputs(name, convention):
    rng = rng_for("xp", name, convention)
    if name == "multiclass_hinge":
        return {"predictions": rng.normal(size=(4, 3)), "targets": rng.integers(0, 3, size=4)}
    if name == "triplet_margin":
        return triplet_inputs(rng, shape=(3, 4))
    if name == "kl_div":
        q = rng.dirichlet(np.full(3, 2.0), size=4)
        q[0, 0] = 1e-9
        return {"predictions": q if convention == "keras" else np.log(q),
                "targets": rng.dirichlet(np.full(3, 2.0), size=4)}
    return ctc_inputs(rng)


@pytest.mark.parametrize(("name", "convention"), NAMESPACE_CASES)
def test_conventions_run_on_every_namespace(name, convention, xp):
    inputs = _namespace_inputs(name, convention)
    params = {"convention": convention}
    ref = evaluate(name, inputs, params, reduction="mean", want_grad=True)
    got = evaluate(name, {k: to_xp(xp, v) for k, v in inputs.items()}, params,
                   reduction="mean", want_grad=True)
    assert_close(got.value, ref.value, rtol=1e-13)
    for k, g in ref.gradients.items():
        assert_close(got.gradients[k], g, rtol=1e-13, err_msg=k)
    r32 = evaluate(name, inputs, params, dtype="float32", want_grad=True)
    assert to_np(r32.value).dtype == np.float32
    assert_close(r32.value, ref.value, rtol=2e-5, atol=1e-6)
