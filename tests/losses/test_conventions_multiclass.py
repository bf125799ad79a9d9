"""The ``convention`` parameter of multiclass_hinge, triplet_margin, kl_div and ctc.

Oracles: PyTorch 2.13.0 live (float64 autograd), scikit-learn 1.9.1 live (``hinge_loss`` with
``labels=``), and golden values with ``jax.grad`` gradients recorded from Keras 3.15.1 (JAX backend)
and optax 0.2.8 by ``tests/goldens/make_conventions_multiclass.py``
(``tests/goldens/conventions_multiclass.json``); new gradient paths are also checked by finite
differences. Each convention is checked on inputs where the libraries disagree.
"""

from __future__ import annotations

import json
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

from service.losses import LossError, evaluate, get_loss
from tests.conftest import assert_close, finite_difference, to_np, to_xp, torch_oracle

GOLDENS = json.loads(
    (Path(__file__).parents[1] / "goldens" / "conventions_multiclass.json").read_text())
REDUCTIONS = ["none", "mean", "sum"]
# cs231n's worked example (seed 003): one row of class scores per sample (cat, car, frog images)
SVM_SCORES = [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]]
SVM_TARGETS = [0, 1, 2]


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _error(name, inputs, params=None, **kw) -> LossError:
    with pytest.raises(LossError) as exc:
        evaluate(name, inputs, params, **kw)
    return exc.value


def _reduce(loss, reduction):
    return loss if reduction == "none" else (loss.mean() if reduction == "mean" else loss.sum())


def _check_torch(name, inputs, params, reduction, fn, wrt):
    value, grads = torch_oracle(fn, inputs, wrt, reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    for k in wrt:
        assert_close(r.gradients[k], grads[k], err_msg=k)
    return r


def _check_fd(name, inputs, params, reductions=("mean", "sum", "none"), rtol=1e-6, atol=1e-7,
              sample_weight=None):
    for reduction in reductions:
        r = evaluate(name, inputs, params, reduction=reduction, want_grad=True,
                     sample_weight=sample_weight)
        for wrt, g in r.gradients.items():
            fd = finite_difference(name, inputs, params, reduction, wrt,
                                   sample_weight=sample_weight)
            assert_close(g, fd, rtol=rtol, atol=atol, err_msg=f"{reduction} d/d{wrt}")


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

    rng = _rng("mh-torch", shape, margin, p, reduction)
    x = rng.normal(size=shape) * 1.5
    y = np.asarray(rng.integers(0, shape[-1], size=shape[:-1]), dtype=np.int64)
    inputs = {"predictions": x, "targets": y}
    params = {"convention": "torch", "margin": margin, "p": p}
    r = _check_torch("multiclass_hinge", inputs, params, reduction,
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
        return _reduce(torch.amax(a, dim=-1) - (predictions * oh).sum(-1), reduction)
    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("convention", ["optax", "sklearn"])
@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_crammer_singer_conventions_match_a_torch_reference(convention, margin, reduction):
    rng = _rng("mh-cs", convention, margin, reduction)
    x = rng.normal(size=(7, 5)) * 1.5
    y = rng.integers(0, 5, size=7)
    inputs = {"predictions": x, "targets": y}
    params = {"convention": convention, "margin": margin}
    r = _check_torch("multiclass_hinge", inputs, params, reduction,
                     _torch_crammer_singer(margin, reduction), ("predictions",))
    cs = evaluate("multiclass_hinge_cs", inputs, {"margin": margin}, reduction=reduction,
                  want_grad=True)
    assert_close(r.value, cs.value)
    assert_close(r.gradients["predictions"], cs.gradients["predictions"])


@pytest.mark.parametrize("c", [3, 5])
def test_sklearn_convention_matches_sklearn_hinge_loss(c):
    from sklearn.metrics import hinge_loss

    rng = _rng("mh-sklearn", c)
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
    rng = _rng("mh-keras")
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
    rng = _rng("mh-fd", convention)
    x = np.round(rng.normal(size=(5, 4)) * 1.5, 3) + 1e-4 * rng.normal(size=(5, 4))
    y = rng.integers(0, 4, size=5)
    params = {"convention": convention}
    if convention in ("cs231n", "torch"):
        params["p"] = 2
    _check_fd("multiclass_hinge", {"predictions": x, "targets": y}, params)
    _check_fd("multiclass_hinge", {"predictions": x, "targets": y}, params, ("mean",),
              sample_weight=rng.uniform(0.5, 2.0, size=5))


@pytest.mark.parametrize("convention", ["optax", "sklearn", "keras"])
def test_squared_hinge_only_for_weston_watkins(convention):
    e = _error("multiclass_hinge", {"predictions": SVM_SCORES, "targets": SVM_TARGETS},
               {"convention": convention, "p": 2})
    assert e.code == "invalid_param" and e.loc == ("params", "p")


def test_keras_margin_is_fixed():
    e = _error("multiclass_hinge", {"predictions": SVM_SCORES, "targets": SVM_TARGETS},
               {"convention": "keras", "margin": 0.5})
    assert e.code == "invalid_param" and e.loc == ("params", "margin")
    r = evaluate("multiclass_hinge", {"predictions": SVM_SCORES, "targets": SVM_TARGETS},
                 {"convention": "keras", "margin": 1.0})
    assert np.isfinite(float(to_np(r.value)))


def test_multiclass_hinge_unknown_convention():
    e = _error("multiclass_hinge", {"predictions": SVM_SCORES, "targets": SVM_TARGETS},
               {"convention": "jax"})
    assert e.code == "unsupported_convention" and e.loc == ("params", "convention")
    assert get_loss("multiclass_hinge").defaults["convention"] == "cs231n"


# ------------------------------------------------------------------------- triplet_margin


def _triplet_inputs(rng, shape=(5, 4)):
    a = rng.normal(size=shape)
    return {"anchor": a, "positive": a + 0.6 * rng.normal(size=shape),
            "negative": a + 0.9 * rng.normal(size=shape)}


def _torch_optax_triplet(p, margin, eps, reduction):
    import torch

    def dist(u, v):
        return ((u - v).abs() ** p).sum(-1).add(eps) ** (1.0 / p)

    def fn(anchor, positive, negative):
        h = dist(anchor, positive) - dist(anchor, negative) + margin
        return _reduce(torch.clamp_min(h, 0.0), reduction)
    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("p", "eps"), [(2.0, 1e-6), (2.0, 0.05), (4.0, 1e-3), (3.0, 1e-6),
                                        (1.0, 1e-6), (1.5, 0.0)])
def test_optax_convention_matches_a_torch_reference(p, eps, reduction):
    # the reference is optax's formula, with |a - b| (optax omits the abs; see the spec notes)
    rng = _rng("tm-optax", p, eps, reduction)
    inputs = _triplet_inputs(rng)
    params = {"convention": "optax", "p": p, "eps": eps, "margin": 1.5}
    _check_torch("triplet_margin", inputs, params, reduction,
                 _torch_optax_triplet(p, 1.5, eps, reduction),
                 ("anchor", "positive", "negative"))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_convention_matches_torch_and_differs_from_optax(reduction):
    import torch.nn.functional as F

    rng = _rng("tm-torch", reduction)
    inputs = _triplet_inputs(rng)
    params = {"convention": "torch", "eps": 0.05}
    r = _check_torch("triplet_margin", inputs, params, reduction,
                     lambda anchor, positive, negative: F.triplet_margin_loss(
                         anchor, positive, negative, eps=0.05, reduction=reduction),
                     ("anchor", "positive", "negative"))
    o = evaluate("triplet_margin", inputs, {"convention": "optax", "eps": 0.05},
                 reduction=reduction)
    assert not np.allclose(to_np(r.value), to_np(o.value), rtol=1e-6)


def test_optax_docstring_example():
    # optax.losses.triplet_margin_loss's own docstring prints [0.1414 0.1414]
    r = evaluate("triplet_margin", {"anchor": [[0.0, 0.0], [1.0, 1.0]],
                                    "positive": [[0.1, 0.1], [1.1, 1.1]],
                                    "negative": [[1.0, 0.0], [0.0, 1.0]]},
                 {"convention": "optax"}, reduction="none")
    assert np.allclose(to_np(r.value), 0.1414, atol=5e-5)


def test_optax_missing_abs_is_not_reproduced():
    # headline: optax's norm_degree=1 sums signed differences, so this triplet gives 4.0 in optax
    # where the L1 distances (0.5 against 2.5) satisfy the margin and give 0
    (case,) = [c for c in GOLDENS["cases"] if "optax_buggy" in c]
    assert case["optax_buggy"] == [4.0]
    r = evaluate("triplet_margin", case["inputs"], case["params"], reduction="none")
    assert_close(r.value, case["unreduced"])


def test_triplet_eps_defaults_and_swap_refused_under_optax():
    assert get_loss("triplet_margin").defaults["eps"] == 1e-6  # torch's and optax's default
    assert get_loss("triplet_margin").defaults["convention"] == "torch"
    inputs = _triplet_inputs(_rng("tm-swap"))
    e = _error("triplet_margin", inputs, {"convention": "optax", "swap": True})
    assert e.code == "invalid_param" and e.loc == ("params", "swap")
    e = _error("triplet_margin", inputs, {"convention": "keras"})
    assert e.code == "unsupported_convention"


@pytest.mark.parametrize(("p", "eps"), [(2.0, 1e-6), (3.0, 1e-3), (1.0, 0.0), (0.7, 1e-6)])
def test_optax_triplet_gradients_match_finite_differences(p, eps):
    inputs = _triplet_inputs(_rng("tm-fd", p, eps), shape=(4, 3))
    _check_fd("triplet_margin", inputs, {"convention": "optax", "p": p, "eps": eps})


# ------------------------------------------------------------------------------ kl_div


def _log_rows(rng, n, c):
    q = rng.dirichlet(np.full(c, 1.5), size=n)
    p = rng.dirichlet(np.full(c, 1.5), size=n)
    p[0, 0] = 0.0
    p[0] /= p[0].sum()
    return np.log(q), p


@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
def test_kl_torch_convention_matches_torch(reduction):
    import torch.nn.functional as F

    x, p = _log_rows(_rng("kl-torch", reduction), 5, 4)

    def fn(predictions, targets):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return F.kl_div(predictions, targets, reduction=reduction)

    _check_torch("kl_div", {"predictions": x, "targets": p}, {"convention": "torch"},
                 reduction, fn, ("predictions",))


@pytest.mark.parametrize("log_target", [False, True])
def test_kl_optax_mean_is_torch_batchmean_not_torch_mean(log_target):
    import torch.nn.functional as F

    x, p = _log_rows(_rng("kl-optax", log_target), 6, 3)
    t = np.log(p + (p == 0)) - 50.0 * (p == 0) if log_target else p
    inputs = {"predictions": x, "targets": t}
    params = {"convention": "optax", "log_target": log_target}

    def torch_kl(reduction):
        def fn(predictions, targets):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return F.kl_div(predictions, targets, reduction=reduction,
                                log_target=log_target)
        return fn

    value, grads = torch_oracle(torch_kl("batchmean"), inputs, ("predictions",), "batchmean")
    r = evaluate("kl_div", inputs, params, reduction="mean", want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])
    torch_mean = evaluate("kl_div", inputs, {"log_target": log_target}, reduction="mean")
    assert_close(torch_mean.value, to_np(r.value) / 3)  # torch 'mean' divides by N*C
    none = evaluate("kl_div", inputs, params, reduction="none")
    assert to_np(none.value).shape == (6,)


def _torch_keras_kl(reduction):
    import torch

    def fn(predictions, targets):
        # torch.clamp passes the gradient at the bounds: the service's choice (JAX gives 1/2)
        pc = torch.clamp(targets, 1e-7, 1.0)
        qc = torch.clamp(predictions, 1e-7, 1.0)
        return _reduce((pc * torch.log(pc / qc)).sum(-1), reduction)
    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_kl_keras_convention_matches_a_torch_reference(reduction):
    rng = _rng("kl-keras", reduction)
    q = rng.dirichlet(np.full(4, 1.5), size=5)
    p = rng.dirichlet(np.full(4, 1.5), size=5)
    q[0] = [0.0, 1e-9, 0.4, 0.6 - 1e-9]  # clipped: gradient 0
    q[1] = [1.0, 0.0, 0.0, 0.0]  # q exactly 1: not clipped (gradient -p')
    p[2] = [0.0, 0.0, 1.0, 0.0]
    r = _check_torch("kl_div", {"predictions": q, "targets": p}, {"convention": "keras"},
                     reduction, _torch_keras_kl(reduction), ("predictions",))
    g = to_np(r.gradients["predictions"])
    assert g[0, 0] == 0.0 and g[0, 1] == 0.0 and g[1, 0] != 0.0


def test_kl_keras_predictions_are_probabilities_not_log_probabilities():
    q = np.array([[0.3, 0.5, 0.2], [0.7, 0.2, 0.1]])
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    keras = evaluate("kl_div", {"predictions": q, "targets": p}, {"convention": "keras"},
                     reduction="none")
    optax = evaluate("kl_div", {"predictions": np.log(q), "targets": p},
                     {"convention": "optax"}, reduction="none")
    assert_close(keras.value, optax.value)  # no clipping in play: the same KL per sample
    e = _error("kl_div", {"predictions": np.log(q), "targets": p}, {"convention": "keras"})
    assert e.code == "probability_out_of_range" and e.loc[0] == "predictions"
    e = _error("kl_div", {"predictions": q, "targets": p}, {"convention": "optax"})
    assert e.code == "invalid_value" and e.loc[0] == "predictions"


def test_kl_keras_can_be_slightly_negative():
    # a zero target is clipped to 1e-7 and contributes 1e-7 log(1e-7 / q): here -1.6e-6
    r = evaluate("kl_div", {"predictions": [[1.0, 1.0]], "targets": [[1.0, 0.0]]},
                 {"convention": "keras"}, reduction="none")
    assert_close(r.value, [1e-7 * np.log(1e-7)])
    assert float(to_np(r.value)[0]) < 0.0


def test_kl_keras_refuses_log_target_and_scalars():
    e = _error("kl_div", {"predictions": [0.5, 0.5], "targets": [0.5, 0.5]},
               {"convention": "keras", "log_target": True})
    assert e.code == "invalid_param" and e.loc == ("params", "log_target")
    for convention in ("keras", "optax"):
        e = _error("kl_div", {"predictions": -0.5, "targets": 0.5}, {"convention": convention})
        assert e.code == "invalid_shape"


@pytest.mark.parametrize(("convention", "log_target"),
                         [("optax", False), ("optax", True), ("keras", False)])
def test_kl_gradients_match_finite_differences(convention, log_target):
    rng = _rng("kl-fd", convention, log_target)
    q = rng.dirichlet(np.full(3, 2.0), size=(2, 4))
    p = rng.dirichlet(np.full(3, 2.0), size=(2, 4))
    x = q if convention == "keras" else np.log(q)
    t = np.log(p) if log_target else p
    params = {"convention": convention, "log_target": log_target}
    _check_fd("kl_div", {"predictions": x, "targets": t}, params,
              ("mean", "sum", "none", "batchmean"))
    _check_fd("kl_div", {"predictions": x, "targets": t}, params, ("mean",),
              sample_weight=rng.uniform(0.5, 2.0, size=2))


# --------------------------------------------------------------------------------- ctc


def _ctc_inputs(rng, t_len=6, n=4, c=5):
    x = rng.normal(size=(t_len, n, c))
    lp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    return {"log_probs": lp, "targets": np.array([[1, 2, 1], [3, 3, 0], [4, 0, 0], [2, 4, 1]]),
            "input_lengths": np.array([6, 5, 4, 6]), "target_lengths": np.array([3, 2, 1, 3])}


def _torch_ctc(reduction):
    import torch.nn.functional as F

    def fn(log_probs, targets, input_lengths, target_lengths):
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths,
                          reduction=reduction)
    return fn


def test_ctc_torch_mean_divides_by_target_length_keras_optax_do_not():
    # headline: the same per-sample losses; torch's mean divides each by its target length
    inputs = _ctc_inputs(_rng("ctc-mean"))
    per = to_np(evaluate("ctc", inputs, reduction="none").value)
    value, _ = torch_oracle(_torch_ctc("mean"), inputs, (), "mean")
    torch_mean = evaluate("ctc", inputs, {"convention": "torch"}, reduction="mean")
    assert_close(torch_mean.value, value)
    assert_close(torch_mean.value, np.mean(per / inputs["target_lengths"]))
    for convention in ("keras", "optax"):
        r = evaluate("ctc", inputs, {"convention": convention}, reduction="mean")
        assert_close(r.value, per.mean())
        none = evaluate("ctc", inputs, {"convention": convention}, reduction="none")
        assert_close(none.value, per)
    assert not np.isclose(per.mean(), value)


@pytest.mark.parametrize("convention", ["keras", "optax"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_library_conventions_match_torch_none_reduced_plainly(convention, reduction):
    inputs = _ctc_inputs(_rng("ctc-plain", convention, reduction))

    def fn(**kw):
        return _reduce(_torch_ctc("none")(**kw), reduction)

    _check_torch("ctc", inputs, {"convention": convention}, reduction, fn, ("log_probs",))


def test_ctc_weighted_mean_keras_divides_by_n_optax_by_weights():
    inputs = _ctc_inputs(_rng("ctc-w"))
    w = np.array([1.0, 3.0, 0.5, 2.0])
    per = to_np(evaluate("ctc", inputs, reduction="none").value)
    k = evaluate("ctc", inputs, {"convention": "keras"}, sample_weight=w)
    o = evaluate("ctc", inputs, {"convention": "optax"}, sample_weight=w)
    assert_close(k.value, np.sum(w * per) / 4)
    assert_close(o.value, np.sum(w * per) / w.sum())


@pytest.mark.parametrize("convention", ["keras", "optax"])
def test_ctc_exact_gradient_matches_finite_differences(convention):
    inputs = _ctc_inputs(_rng("ctc-fd", convention), t_len=4, n=2, c=3)
    inputs["targets"] = np.array([[1, 2], [2, 0]])
    inputs["input_lengths"] = np.array([4, 3])
    inputs["target_lengths"] = np.array([2, 1])
    params = {"convention": convention, "gradient_convention": "exact"}
    _check_fd("ctc", inputs, params, rtol=1e-5, atol=1e-7)
    _check_fd("ctc", inputs, params, ("mean",), rtol=1e-5, atol=1e-7,
              sample_weight=np.array([0.5, 2.0]))


def test_ctc_unbatched_under_library_conventions():
    inputs = _ctc_inputs(_rng("ctc-unbatched"))
    one = {"log_probs": inputs["log_probs"][:, 0, :], "targets": inputs["targets"][0],
           "input_lengths": 6, "target_lengths": 3}
    none = evaluate("ctc", one, reduction="none")
    for convention in ("keras", "optax"):
        r = evaluate("ctc", one, {"convention": convention}, reduction="mean")
        assert_close(r.value, none.value)
    torch_mean = evaluate("ctc", one, reduction="mean")
    assert_close(torch_mean.value, to_np(none.value) / 3)


# ------------------------------------------------------------------- array-API namespaces

NAMESPACE_CASES = [
    ("multiclass_hinge", "torch"), ("multiclass_hinge", "optax"), ("multiclass_hinge", "keras"),
    ("triplet_margin", "optax"), ("kl_div", "optax"), ("kl_div", "keras"), ("ctc", "keras"),
]


def _namespace_inputs(name, convention):
    rng = _rng("xp", name, convention)
    if name == "multiclass_hinge":
        return {"predictions": rng.normal(size=(4, 3)), "targets": rng.integers(0, 3, size=4)}
    if name == "triplet_margin":
        return _triplet_inputs(rng, shape=(3, 4))
    if name == "kl_div":
        q = rng.dirichlet(np.full(3, 2.0), size=4)
        q[0, 0] = 1e-9
        return {"predictions": q if convention == "keras" else np.log(q),
                "targets": rng.dirichlet(np.full(3, 2.0), size=4)}
    return _ctc_inputs(rng)


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
