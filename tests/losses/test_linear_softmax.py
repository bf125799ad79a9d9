"""linear_softmax as PyTorch's linear_cross_entropy (torch 2.13.0, float64): every option
(class weights, ignore_index, label smoothing, probability targets, unbatched and K-dimensional
inputs) and combination against torch autograd and finite differences, the penalty with options,
every namespace, and the warnings of lenient validation."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, finite_difference, to_np, to_xp, torch_oracle

# ------------------------------------------------------------ PyTorch linear_cross_entropy options
# linear_softmax with reg = 0 is torch.nn.functional.linear_cross_entropy with linear_weight = W
# with its first (feature) axis moved last: every option and combination against torch autograd
# (value, reduction none, gradients of W and b) and finite differences.


C = 4


def _lce_data(key, *, n=7, d=5, positions=(), probs=False, unbatched=False, ignore=None):
    """(W, X, targets, b) for linear_softmax: W (D, C, *positions), X (N, D) or (D,)."""
    rng = np.random.default_rng(zlib.crc32(repr(key).encode()))
    W = rng.normal(size=(d, C, *positions))
    X = rng.normal(size=(d,) if unbatched else (n, d))
    b = rng.normal(size=(C, *positions)) * 0.5
    batch = () if unbatched else (n,)
    if probs:
        t = rng.uniform(0.05, 1.0, size=(*batch, C, *positions))
        t = t / t.sum(axis=len(batch), keepdims=True)  # rows summing to 1 over the class axis
    else:
        t = rng.integers(0, C, size=(*batch, *positions))
        if ignore is not None and t.ndim:
            t.reshape(-1)[1::3] = ignore  # every third target ignored (the first one kept)
    return W, X, t, b


def _torch_lce(params, reduction):
    import torch
    import torch.nn.functional as F

    def fn(W, X, targets, b=None):
        kw = {}
        if params.get("weight") is not None:
            kw["weight"] = torch.tensor(params["weight"], dtype=torch.float64)
        if "ignore_index" in params:
            kw["ignore_index"] = params["ignore_index"]
        return F.linear_cross_entropy(X, torch.movedim(W, 0, -1), targets, linear_bias=b,
                                      reduction=reduction,
                                      label_smoothing=params.get("label_smoothing", 0.0), **kw)

    return fn


LCE_CASES = {  # name: (data options, params)
    "weight": ({}, {"weight": [0.5, 2.0, 1.0, 1.5]}),
    "ignore_index_default": ({"ignore": -100}, {}),
    "ignore_index_class": ({"ignore": 1}, {"ignore_index": 1}),
    "label_smoothing": ({}, {"label_smoothing": 0.2}),
    "weight_ignore_smoothing": ({"ignore": 2},
                                {"weight": [0.5, 2.0, 1.0, 1.5], "ignore_index": 2,
                                 "label_smoothing": 0.15}),
    "probabilities": ({"probs": True}, {}),
    "probabilities_smoothing": ({"probs": True}, {"label_smoothing": 0.3}),
    "probabilities_weight_smoothing": ({"probs": True},
                                       {"weight": [0.5, 2.0, 1.0, 1.5], "label_smoothing": 0.1}),
    "unbatched": ({"unbatched": True}, {}),
    "unbatched_weight_smoothing": ({"unbatched": True},
                                   {"weight": [0.5, 2.0, 1.0, 1.5], "label_smoothing": 0.25}),
    "unbatched_probabilities": ({"unbatched": True, "probs": True}, {"label_smoothing": 0.1}),
    "k1_weight_ignore_smoothing": ({"positions": (3,), "ignore": -100},
                                   {"weight": [0.5, 2.0, 1.0, 1.5], "label_smoothing": 0.1}),
    "k2_probabilities": ({"positions": (2, 3), "probs": True}, {"label_smoothing": 0.2}),
}


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("case", list(LCE_CASES))
def test_linear_cross_entropy_options_match_torch(case, reduction, with_bias):
    pytest.importorskip("torch")
    opts, params = LCE_CASES[case]
    W, X, t, b = _lce_data((case, reduction, with_bias), **opts)
    inputs = {"W": W, "X": X, "targets": t}
    if with_bias:
        inputs["b"] = b
    wrt = ("W", "b") if with_bias else ("W",)
    value, grads = torch_oracle(_torch_lce(params, reduction), inputs, wrt, reduction)
    r = evaluate("linear_softmax", inputs, params, reduction=reduction, want_grad=True)
    assert r.warnings == ()
    assert_close(r.value, value, rtol=1e-10, atol=1e-13)
    if reduction == "none":  # per sample: the mean over a sample's positions
        per = value.reshape(1) if value.ndim == 0 else value.reshape(value.shape[0], -1).mean(1)
        assert_close(r.per_sample, per, rtol=1e-10, atol=1e-13)
    assert set(r.gradients) == set(wrt)
    for k in wrt:  # (torch differentiates the W it was given, before moving its axis)
        assert_close(r.gradients[k], grads[k], rtol=1e-10, atol=1e-13, err_msg=f"d/d{k}")


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("case", ["weight_ignore_smoothing", "probabilities_weight_smoothing",
                                  "unbatched_weight_smoothing", "k1_weight_ignore_smoothing"])
def test_linear_cross_entropy_options_gradients_match_finite_differences(case, reduction):
    opts, params = LCE_CASES[case]
    W, X, t, b = _lce_data(("fd", case, reduction), n=4, d=3, **opts)
    inputs = {"W": W, "X": X, "targets": t, "b": b}
    params = {**params, "reg": 0.3, "reg_convention": "half_sum_squares"}
    r = evaluate("linear_softmax", inputs, params, reduction=reduction, want_grad=True)
    for k in ("W", "b"):
        fd = finite_difference("linear_softmax", inputs, params, reduction, k)
        assert_close(r.gradients[k], fd, rtol=1e-6, atol=1e-8, err_msg=f"d/d{k}")


@pytest.mark.parametrize("case", ["weight_ignore_smoothing", "probabilities_smoothing",
                                  "k1_weight_ignore_smoothing", "unbatched_weight_smoothing"])
def test_penalty_with_options_keeps_mean_torch_plus_r(case):
    # l_i = L_i + m_i R (m_i: the target class's weight, 0 if ignored): mean = torch's mean + R,
    # sum = sum_i L_i + (sum_i m_i) R; the gradient adds (sum_i c_i m_i) dR/dW
    pytest.importorskip("torch")
    opts, params = LCE_CASES[case]
    W, X, t, b = _lce_data(("pen", case), **opts)
    inputs = {"W": W, "X": X, "targets": t, "b": b}
    reg = 0.35
    pen = reg * np.sum(W * W)
    plain = {k: evaluate("linear_softmax", inputs, params, reduction=red, want_grad=True)
             for k, red in (("mean", "mean"), ("sum", "sum"), ("none", "none"))}
    withr = {k: evaluate("linear_softmax", inputs, {**params, "reg": reg}, reduction=red,
                         want_grad=True) for k, red in (("mean", "mean"), ("sum", "sum"),
                                                        ("none", "none"))}
    value, _ = torch_oracle(_torch_lce(params, "mean"), inputs, (), "mean")
    assert_close(withr["mean"].value, value + pen)
    assert_close(withr["mean"].gradients["W"], to_np(plain["mean"].gradients["W"]) + 2 * reg * W)
    assert_close(withr["mean"].gradients["b"], plain["mean"].gradients["b"])
    # the mean's denominator sum_i m_i, from the plain sum and mean
    denom = float(to_np(plain["sum"].value)) / float(to_np(plain["mean"].value))
    assert_close(withr["sum"].value, to_np(plain["sum"].value) + denom * pen)
    assert_close(withr["sum"].gradients["W"], to_np(plain["sum"].gradients["W"])
                 + denom * 2 * reg * W)
    m = (to_np(withr["none"].value) - to_np(plain["none"].value)) / pen  # m_i
    if opts.get("probs"):
        assert_close(m, np.ones_like(m))
    elif params.get("weight") is not None:
        w = np.asarray(params["weight"])
        ignore = params.get("ignore_index", -100)
        expected = np.where(t == ignore, 0.0, w[np.where(t == ignore, 0, t)])
        assert_close(m, expected, atol=1e-12)


@pytest.mark.parametrize("case", ["weight_ignore_smoothing", "probabilities_weight_smoothing",
                                  "unbatched_weight_smoothing", "k1_weight_ignore_smoothing",
                                  "k2_probabilities"])
def test_options_on_every_namespace_match_numpy(case, xp):
    opts, params = LCE_CASES[case]
    W, X, t, b = _lce_data(("xp", case), **opts)
    inputs = {"W": W, "X": X, "targets": t, "b": b}
    params = {**params, "reg": 0.1}
    for reduction in ("none", "mean"):
        ref = evaluate("linear_softmax", inputs, params, reduction=reduction, want_grad=True)
        got = evaluate("linear_softmax", {k: to_xp(xp, v) for k, v in inputs.items()}, params,
                       reduction=reduction, want_grad=True)
        assert_close(got.value, ref.value, rtol=1e-13)
        assert_close(got.per_sample, ref.per_sample, rtol=1e-13)
        for k in ("W", "b"):
            assert_close(got.gradients[k], ref.gradients[k], rtol=1e-13, atol=1e-15, err_msg=k)


def test_linear_softmax_is_cross_entropy_of_the_scores_with_options():
    W, X, t, b = _lce_data("ce-options", positions=(2,), ignore=-100)
    params = {"weight": [0.5, 2.0, 1.0, 1.5], "label_smoothing": 0.1}
    lin = evaluate("linear_softmax", {"W": W, "X": X, "targets": t, "b": b}, params,
                   reduction="none")
    s = np.einsum("nd,dck->nck", X, W) + b
    ce = evaluate("cross_entropy", {"predictions": s, "targets": t}, params, reduction="none")
    assert_close(lin.value, ce.value, rtol=1e-13)
    for red in ("mean", "sum"):
        assert_close(evaluate("linear_softmax", {"W": W, "X": X, "targets": t, "b": b}, params,
                              reduction=red).value,
                     evaluate("cross_entropy", {"predictions": s, "targets": t}, params,
                              reduction=red).value, rtol=1e-13)


def test_probability_rows_not_summing_to_one_warn_lenient_refused_strict():
    W, X, t, _ = _lce_data("rows", probs=True)
    t = t * 0.8  # rows sum to 0.8 (every value still in [0, 1])
    inputs = {"W": W, "X": X, "targets": t}
    r = evaluate("linear_softmax", inputs, validate="lenient")
    assert [w.code for w in r.warnings] == ["probability_rows_not_normalized"]
    assert r.warnings[0].loc == ("targets", 0)
    with pytest.raises(LossError) as exc:
        evaluate("linear_softmax", inputs, validate="strict")
    assert exc.value.code == "probability_rows_not_normalized"
    assert exc.value.loc == ("targets", 0)


def test_negative_class_weight_warns_lenient_refused_strict():
    W, X, t, _ = _lce_data("negw")
    inputs = {"W": W, "X": X, "targets": t}
    params = {"weight": [1.0, 1.0, -0.5, 1.0]}
    r = evaluate("linear_softmax", inputs, params, validate="lenient")
    assert [(w.code, w.loc) for w in r.warnings] == [("invalid_param", ("params", "weight", 2))]
    with pytest.raises(LossError) as exc:
        evaluate("linear_softmax", inputs, params, validate="strict")
    assert exc.value.code == "invalid_param" and exc.value.loc == ("params", "weight", 2)
