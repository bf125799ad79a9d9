"""linear_svm / linear_softmax: the seed 003 and 004 worked examples, cs231n's naive loop
implementations (written out below), PyTorch autograd, reductions of the penalty and stability.
linear_softmax's PyTorch linear_cross_entropy options: test_linear_softmax.py; the errors of both:
test_linear_errors.py."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, to_np, torch_oracle

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
