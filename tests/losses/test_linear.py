"""linear_svm / linear_softmax: the seed 003 and 004 worked examples, cs231n's naive loop
implementations (written out below), PyTorch autograd, reductions, stability and errors."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, finite_difference, to_np, to_xp, torch_oracle

CONVENTIONS = ["sum_squares", "half_sum_squares"]


# ------------------------------------------------------------ cs231n assignment 1, naive loops
# Transcribed from cs231n/classifiers/linear_svm.py and softmax.py (the structure every student
# writes): loop over samples and classes, average over N, add reg * sum(W * W) (2017+) or
# 0.5 * reg * sum(W * W) (the older handout), with the matching dW term. A bias b, when given,
# is added to the scores and not regularised.


def _reg(W, reg, convention):
    if convention == "sum_squares":
        return reg * np.sum(W * W), 2 * reg * W
    return 0.5 * reg * np.sum(W * W), reg * W


def svm_loss_naive(W, X, y, reg, convention="sum_squares", b=None, delta=1.0):
    dW = np.zeros(W.shape)
    db = np.zeros(W.shape[1])
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = 0.0
    for i in range(num_train):
        scores = X[i].dot(W) + (0.0 if b is None else b)
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + delta
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
                db[j] += 1
                db[y[i]] -= 1
    loss /= num_train
    dW /= num_train
    db /= num_train
    r, dr = _reg(W, reg, convention)
    return loss + r, dW + dr, db


def softmax_loss_naive(W, X, y, reg, convention="sum_squares", b=None):
    dW = np.zeros_like(W)
    db = np.zeros(W.shape[1])
    num_train = X.shape[0]
    num_classes = W.shape[1]
    loss = 0.0
    for i in range(num_train):
        scores = X[i].dot(W) + (0.0 if b is None else b)
        scores -= np.max(scores)
        probs = np.exp(scores) / np.sum(np.exp(scores))
        loss += -np.log(probs[y[i]])
        for j in range(num_classes):
            dW[:, j] += (probs[j] - (j == y[i])) * X[i]
            db[j] += probs[j] - (j == y[i])
    loss /= num_train
    dW /= num_train
    db /= num_train
    r, dr = _reg(W, reg, convention)
    return loss + r, dW + dr, db


NAIVE = {"linear_svm": svm_loss_naive, "linear_softmax": softmax_loss_naive}


def _data(key, n=20, d=6, c=4, scale=1.0):
    rng = np.random.default_rng(zlib.crc32(repr(key).encode()))
    W = rng.normal(size=(d, c)) * 0.7 * scale
    X = rng.normal(size=(n, d))
    y = rng.integers(0, c, size=n)
    b = rng.normal(size=c)
    return W, X, y, b


# ------------------------------------------------------------ seeds


def test_seed_003_svm_through_identity_features():
    # seed 003: scores (one column per image in the slides) cat [3.2, 5.1, -1.7] label cat,
    # car [1.3, 4.9, 2.0] label car, frog [2.2, 2.5, -3.1] label frog -> 2.9, 0, 12.9, mean 5.27
    W = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    X = np.eye(3)
    inputs = {"W": W, "X": X, "targets": [0, 1, 2]}
    r = evaluate("linear_svm", inputs, reduction="none")
    assert_close(r.value, [2.9, 0.0, 12.9], atol=1e-12)
    m = evaluate("linear_svm", inputs, want_grad=True)
    assert_close(m.value, 15.8 / 3)
    assert round(float(to_np(m.value)), 2) == 5.27


def test_seed_003_svm_through_general_features():
    # the same scores produced by a non-trivial X (N = 3, D = 4) and W = pinv(X) S
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    X = np.random.default_rng(0).normal(size=(3, 4))
    W = np.linalg.pinv(X) @ scores
    assert_close(X @ W, scores, atol=1e-12)
    r = evaluate("linear_svm", {"W": W, "X": X, "targets": [0, 1, 2]}, want_grad=True)
    assert_close(r.value, 15.8 / 3, rtol=1e-12)
    # dS: image 0 has one active margin (car), image 2 two (cat, car), averaged over N = 3
    dS = np.array([[-1, 1, 0], [0, 0, 0], [1, 1, -2]]) / 3.0
    assert_close(r.gradients["W"], X.T @ dS)


def test_seed_003_softmax_single_example():
    # seed 003: scores [3.2, 5.1, -1.7], label cat: -ln(0.13) = 2.04
    r = evaluate("linear_softmax", {"W": [[3.2, 5.1, -1.7]], "X": [[1.0]], "targets": [0]})
    assert round(float(to_np(r.value)), 2) == 2.04


def test_seed_004_softmax_gradient_through_W_and_X():
    # seed 004: scores [5, 4, 2], correct class 0: probabilities [0.71, 0.26, 0.03] and
    # df = [-0.29, 0.26, 0.03]; with S = X W the gradient of W is X^T df
    X = np.array([[1.0, 0.5]])
    W = np.array([[3.0, 2.0, 1.0], [4.0, 4.0, 2.0]])
    assert_close(X @ W, [[5.0, 4.0, 2.0]])
    r = evaluate("linear_softmax", {"W": W, "X": X, "targets": [0], "b": [0.0, 0.0, 0.0]},
                 want_grad=True)
    db = to_np(r.gradients["b"])  # b enters like a feature of 1: its gradient is dS itself
    # exact: p = [0.7054, 0.2595, 0.0351]; the seed prints 0.0351 as 0.03 (truncated), so
    # compare to its two printed decimals within 0.006
    assert_close(db, [-0.29, 0.26, 0.03], rtol=0, atol=0.006)
    assert_close(db + np.array([1.0, 0, 0]), [0.71, 0.26, 0.03], rtol=0, atol=0.006)
    assert_close(db + np.array([1.0, 0, 0]), np.exp([5, 4, 2]) / np.exp([5, 4, 2]).sum())
    assert_close(r.gradients["W"], X.T @ db[None, :])
    assert_close(r.gradients["W"], [[db[0], db[1], db[2]], [0.5 * db[0], 0.5 * db[1],
                                                              0.5 * db[2]]])
    assert_close(r.value, -np.log(np.exp(5) / (np.exp(5) + np.exp(4) + np.exp(2))))


# ------------------------------------------------------------ naive cs231n loops


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("reg", [0.0, 0.05, 2.5])
@pytest.mark.parametrize("name", ["linear_svm", "linear_softmax"])
@pytest.mark.parametrize("with_bias", [False, True])
def test_matches_naive_cs231n(name, reg, convention, with_bias):
    W, X, y, b = _data((name, reg, convention, with_bias))
    inputs = {"W": W, "X": X, "targets": y}
    if with_bias:
        inputs["b"] = b
    loss, dW, db = NAIVE[name](W, X, y, reg, convention, b if with_bias else None)
    r = evaluate(name, inputs, {"reg": reg, "reg_convention": convention}, want_grad=True)
    assert_close(r.value, loss)
    assert_close(r.gradients["W"], dW)
    if with_bias:
        assert_close(r.gradients["b"], db)
    else:
        assert set(r.gradients) == {"W"}


@pytest.mark.parametrize("delta", [0.0, 0.5, 2.0])
def test_svm_margin_matches_naive(delta):
    W, X, y, _ = _data(("delta", delta))
    loss, dW, _ = svm_loss_naive(W, X, y, 0.1, delta=delta)
    r = evaluate("linear_svm", {"W": W, "X": X, "targets": y}, {"reg": 0.1, "margin": delta},
                 want_grad=True)
    assert_close(r.value, loss)
    assert_close(r.gradients["W"], dW)


def test_svm_kink_counts_as_inactive():
    # scores [2, 1, 0] for label 0: the car margin is exactly 1 - 2 + 1 = 0 (inactive, as the
    # assignment's `if margin > 0`), so dS = 0 and the loss is 0
    r = evaluate("linear_svm", {"W": [[2.0, 1.0, 0.0]], "X": [[1.0]], "targets": [0]},
                 want_grad=True)
    loss, dW, _ = svm_loss_naive(np.array([[2.0, 1.0, 0.0]]), np.array([[1.0]]), [0], 0.0)
    assert float(to_np(r.value)) == loss == 0.0
    assert to_np(r.gradients["W"]).tolist() == dW.tolist() == [[0.0, 0.0, 0.0]]


def test_reg_conventions_relate():
    W, X, y, _ = _data("conv")
    a = evaluate("linear_softmax", {"W": W, "X": X, "targets": y},
                 {"reg": 0.3, "reg_convention": "sum_squares"}, want_grad=True)
    b = evaluate("linear_softmax", {"W": W, "X": X, "targets": y},
                 {"reg": 0.6, "reg_convention": "half_sum_squares"}, want_grad=True)
    assert_close(a.value, b.value)
    assert_close(a.gradients["W"], b.gradients["W"])
    plain = evaluate("linear_softmax", {"W": W, "X": X, "targets": y}, want_grad=True)
    assert_close(to_np(a.value) - to_np(plain.value), 0.3 * np.sum(W * W))
    assert_close(to_np(a.gradients["W"]) - to_np(plain.gradients["W"]), 0.6 * W)


# ------------------------------------------------------------ PyTorch autograd


def _torch_linear(name, reduction, reg, convention, margin=1.0):
    import torch.nn.functional as F

    def fn(W, X, targets, b=None):
        s = X @ W + (0.0 if b is None else b)
        if name == "linear_softmax":
            data = F.cross_entropy(s, targets, reduction="none")
        else:
            sy = s.gather(1, targets[:, None])
            m = F.relu(s - sy + margin)  # relu'(0) = 0: the assignment's kink choice
            data = m.sum(1) - margin  # the j = y_i term contributes max(0, margin) = margin
        r = reg * (W * W).sum() * (0.5 if convention == "half_sum_squares" else 1.0)
        loss = data + r
        if reduction == "mean":
            return loss.mean()
        return loss.sum() if reduction == "sum" else loss

    return fn


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("name", ["linear_svm", "linear_softmax"])
def test_matches_torch_autograd(name, convention, reduction):
    W, X, y, b = _data(("torch", name, convention, reduction), n=9, d=5, c=3)
    params = {"reg": 0.2, "reg_convention": convention}
    if name == "linear_svm":
        params["margin"] = 0.8
    inputs = {"W": W, "X": X, "targets": y, "b": b}
    value, grads = torch_oracle(
        _torch_linear(name, reduction, 0.2, convention, params.get("margin", 1.0)),
        inputs, ("W", "b"), reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["W"], grads["W"])
    assert_close(r.gradients["b"], grads["b"])


def test_softmax_is_cross_entropy_of_the_scores():
    W, X, y, b = _data("ce")
    lin = evaluate("linear_softmax", {"W": W, "X": X, "targets": y, "b": b}, reduction="none")
    ce = evaluate("cross_entropy", {"predictions": X @ W + b, "targets": y}, reduction="none")
    assert_close(lin.value, ce.value, rtol=1e-13)


# ------------------------------------------------------------ reductions of the penalty


@pytest.mark.parametrize("name", ["linear_svm", "linear_softmax"])
def test_penalty_enters_each_sample(name):
    W, X, y, _ = _data(("red", name), n=8)
    reg = 0.4
    r_pen = reg * np.sum(W * W)
    inputs = {"W": W, "X": X, "targets": y}
    data = to_np(evaluate(name, inputs, reduction="none").value)
    none = evaluate(name, inputs, {"reg": reg}, reduction="none", want_grad=True)
    assert_close(none.value, data + r_pen)
    assert_close(none.per_sample, data + r_pen)
    mean = evaluate(name, inputs, {"reg": reg}, want_grad=True)
    total = evaluate(name, inputs, {"reg": reg}, reduction="sum", want_grad=True)
    assert_close(mean.value, data.mean() + r_pen)  # the assignment's number
    assert_close(total.value, data.sum() + 8 * r_pen)
    assert_close(total.value, 8 * to_np(mean.value))
    assert_close(total.gradients["W"], 8 * to_np(mean.gradients["W"]))
    assert_close(none.gradients["W"], total.gradients["W"])
    sw = np.linspace(0.5, 2.0, 8)
    weighted = evaluate(name, inputs, {"reg": reg}, sample_weight=sw)
    assert_close(weighted.value, np.sum(sw * data) / sw.sum() + r_pen)


# ------------------------------------------------------------ stability


def test_softmax_extreme_scores_stay_finite():
    torch = pytest.importorskip("torch")
    X = np.array([[1.0], [1.0], [-1.0]])
    W = np.array([[1000.0, -1000.0, 0.0]])
    y = np.array([1, 0, 2])
    r = evaluate("linear_softmax", {"W": W, "X": X, "targets": y}, want_grad=True)
    assert np.isfinite(float(to_np(r.value)))
    assert np.all(np.isfinite(to_np(r.gradients["W"])))
    wt = torch.tensor(W, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(torch.tensor(X) @ wt, torch.tensor(y))
    (gw,) = torch.autograd.grad(loss, wt)
    assert_close(r.value, loss.item())
    assert_close(r.gradients["W"], gw.numpy())
    assert_close(r.value, (2000.0 + 0.0 + 1000.0) / 3)  # -log p_y = max_j s_j - s_y here


def test_svm_extreme_scores():
    W, X, y, _ = _data("big", scale=1e6)
    loss, dW, _ = svm_loss_naive(W, X, y, 1e-9)
    r = evaluate("linear_svm", {"W": W, "X": X, "targets": y}, {"reg": 1e-9}, want_grad=True)
    assert_close(r.value, loss)
    assert_close(r.gradients["W"], dW)


# ------------------------------------------------------------ errors

_OK = {"W": np.zeros((2, 3)), "X": np.ones((4, 2)), "targets": np.array([0, 1, 2, 0])}


@pytest.mark.parametrize("name", ["linear_svm", "linear_softmax"])
@pytest.mark.parametrize(("change", "params", "code", "loc"), [
    ({"W": np.zeros(3)}, {}, "invalid_shape", ("W",)),
    ({"X": np.ones((4, 2, 1))}, {}, "invalid_shape", ("X",)),
    ({"X": np.ones((4, 3))}, {}, "shape_mismatch", ("X",)),
    ({"targets": np.array([0, 1, 2])}, {}, "shape_mismatch", ("targets",)),
    ({"targets": np.array([[0, 1, 2, 0]])}, {}, "shape_mismatch", ("targets",)),
    ({"targets": np.array([0, 1, 3, 0])}, {}, "class_index_out_of_range", ("targets", 2)),
    ({"targets": np.array([0, -1, 1, 0])}, {}, "class_index_out_of_range", ("targets", 1)),
    ({"targets": np.array([0.0, 1.0, 2.0, 0.0])}, {}, "invalid_dtype", ("targets",)),
    ({"b": np.zeros(2)}, {}, "shape_mismatch", ("b",)),
    ({"b": np.zeros((1, 3))}, {}, "shape_mismatch", ("b",)),
    ({"X": np.array([[1.0, np.nan]] * 4)}, {}, "nonfinite_input", ("X", 0, 1)),
    ({}, {"reg": -0.1}, "invalid_param", ("params", "reg")),
    ({}, {"reg_convention": "l2"}, "invalid_param", ("params", "reg_convention")),
])
def test_errors_with_location(name, change, params, code, loc):
    with pytest.raises(LossError) as exc:
        evaluate(name, {**_OK, **change}, params)
    assert exc.value.code == code
    assert exc.value.loc == loc


def test_svm_takes_no_unbatched_x():
    # linear_softmax takes an unbatched (D,) sample (PyTorch's linear_cross_entropy); the SVM not
    with pytest.raises(LossError) as exc:
        evaluate("linear_svm", {**_OK, "X": np.ones(2), "targets": np.array(1)})
    assert exc.value.code == "invalid_shape" and exc.value.loc == ("X",)


def test_svm_margin_must_be_nonnegative():
    with pytest.raises(LossError) as exc:
        evaluate("linear_svm", _OK, {"margin": -1.0})
    assert exc.value.code == "invalid_param" and exc.value.loc == ("params", "margin")
    with pytest.raises(LossError) as exc:
        evaluate("linear_softmax", _OK, {"margin": 1.0})
    assert exc.value.code == "unknown_param"


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


_K = {"W": np.zeros((2, 3, 4)), "X": np.ones((5, 2)), "targets": np.zeros((5, 4), np.int64)}


@pytest.mark.parametrize(("inputs", "params", "code", "loc"), [
    # a target out of range that is not ignore_index
    ({**_OK, "targets": np.array([0, 1, 3, 0])}, {"ignore_index": 3 + 1},
     "class_index_out_of_range", ("targets", 2)),
    ({**_OK, "targets": np.array([0, -100, 1, -1])}, {}, "class_index_out_of_range",
     ("targets", 3)),
    ({**_OK, "targets": np.array([0, 1, 2, 0])}, {"weight": [1.0, 2.0]}, "invalid_param",
     ("params", "weight")),
    ({**_OK, "targets": np.full((4, 3), 1 / 3)}, {"ignore_index": 0}, "invalid_param",
     ("params", "ignore_index")),
    ({**_OK, "targets": np.full((4, 2), 0.5)}, {}, "shape_mismatch", ("targets",)),
    ({**_OK, "X": np.ones(2), "targets": np.array([0])}, {}, "shape_mismatch", ("targets",)),
    ({**_OK, "X": np.ones(3), "targets": np.array(0)}, {}, "shape_mismatch", ("X",)),
    ({**_K, "X": np.ones(2), "targets": np.array(0)}, {}, "invalid_shape", ("X",)),
    ({**_K, "targets": np.zeros((5,), np.int64)}, {}, "shape_mismatch", ("targets",)),
    ({**_K, "b": np.zeros(3)}, {}, "shape_mismatch", ("b",)),
    ({**_K, "targets": np.full((5, 4), 3)}, {}, "class_index_out_of_range", ("targets", 0, 0)),
    ({**_OK}, {"label_smoothing": 1.5}, "invalid_param", ("params", "label_smoothing")),
])
def test_option_errors_with_location(inputs, params, code, loc):
    with pytest.raises(LossError) as exc:
        evaluate("linear_softmax", inputs, params)
    assert exc.value.code == code, exc.value.message
    assert exc.value.loc == loc


def test_every_target_ignored_mean_is_undefined():
    with pytest.raises(LossError) as exc:
        evaluate("linear_softmax", {**_OK, "targets": np.full(4, -100)})
    assert exc.value.code == "undefined_mean"
    r = evaluate("linear_softmax", {**_OK, "targets": np.full(4, -100)}, {"reg": 0.5},
                 reduction="sum", want_grad=True)
    assert float(to_np(r.value)) == 0.0  # ignored elements carry no loss and no penalty
    assert np.all(to_np(r.gradients["W"]) == 0.0)
