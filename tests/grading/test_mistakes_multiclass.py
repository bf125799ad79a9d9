"""The mistakes of the multiclass losses other than cross-entropy (multiclass_hinge, kl_div,
probability_cross_entropy) and of the linear classifiers (linear_softmax, linear_svm), each produced
by a deliberately wrong implementation written here in NumPy, diagnosed with its code; the right
implementation passes with no diagnosis, under the problem's convention."""

from __future__ import annotations

import numpy as np
import pytest

from service.grading import Problem
from service.losses import LOSSES
from tests.grading.conftest import C, N, graded, log_softmax


def test_multiclass_hinge_counting_the_correct_class(logits):
    z, y = logits
    margins = np.maximum(0.0, z - z[np.arange(N), y][:, None] + 1.0)  # j = y not excluded
    problem = Problem("multiclass_hinge", {"predictions": z, "targets": y})
    _, codes, _ = graded(problem, {"value": margins.sum(axis=1).mean()})
    assert codes == {("svm_counts_correct_class", "value")}
    # the vectorised gradient bug: binary[y] = -row_sum, with j = y counted in the row sum
    binary = (margins > 0).astype(float)
    binary[np.arange(N), y] = -binary.sum(axis=1)
    _, codes, _ = graded(problem, {"gradient": binary / N})
    assert codes == {("svm_counts_correct_class", "gradient")}
    margins[np.arange(N), y] = 0.0
    ok, codes, _ = graded(problem, {"value": margins.sum(axis=1).mean()})
    assert ok and codes == set()


def test_kl_in_the_wrong_direction():
    rng = np.random.default_rng(8)
    q, p = rng.dirichlet(np.ones(C), size=N), rng.dirichlet(np.ones(C), size=N)
    problem = Problem("kl_div", {"predictions": np.log(q), "targets": p}, reduction="batchmean")
    _, codes, _ = graded(problem, {"value": (q * (np.log(q) - np.log(p))).sum() / N})
    assert codes == {("kl_reversed", "value")}
    ok, codes, _ = graded(problem, {"value": (p * (np.log(p) - np.log(q))).sum() / N})
    assert ok and codes == set()


def test_log_base_10_on_probability_cross_entropy():
    """sklearn-style log loss on probability rows: a log10 submission is diagnosed."""
    rng = np.random.default_rng(18)
    p = rng.dirichlet(np.ones(C), size=N)
    y = rng.integers(0, C, size=N)
    problem = Problem("probability_cross_entropy", {"predictions": p, "targets": y})
    picked = p[np.arange(N), y]
    _, codes, _ = graded(problem, {"value": -np.log10(picked).mean(),
                                   "per_sample": -np.log10(picked)})
    assert codes == {("log_base_10", "value"), ("log_base_10", "per_sample")}
    ok, codes, _ = graded(problem, {"value": -np.log(picked).mean()})
    assert ok and codes == set()


def test_grading_follows_the_problems_convention():
    """multiclass_hinge under convention torch is MultiMarginLoss (cs231n's sum / C): a
    submission of that number passes, and cs231n's own number does not."""
    rng = np.random.default_rng(19)
    s, y = rng.normal(size=(N, C)), rng.integers(0, C, size=N)
    margins = np.maximum(0.0, s - s[np.arange(N), y][:, None] + 1.0)
    margins[np.arange(N), y] = 0.0
    cs231n = margins.sum(axis=1).mean()
    problem = Problem("multiclass_hinge", {"predictions": s, "targets": y},
                      {"convention": "torch"})
    ok, codes, _ = graded(problem, {"value": cs231n / C})
    assert ok and codes == set()
    ok, _, _ = graded(problem, {"value": cs231n})
    assert not ok


# -- losses added by other modules: tested only where registered ------------------------------


needs_linear = pytest.mark.skipif(
    "linear_softmax" not in LOSSES or "linear_svm" not in LOSSES,
    reason="linear_softmax / linear_svm are not registered in this tree")


@needs_linear
def test_regularization_convention_and_linear_mistakes(logits):
    rng = np.random.default_rng(11)
    _, y = logits
    W, X, reg = rng.normal(size=(3, C)), rng.normal(size=(N, 3)), 0.1
    problem = Problem("linear_softmax", {"W": W, "X": X, "targets": y}, {"reg": reg})
    scores = X @ W
    p = np.exp(log_softmax(scores))
    data = -np.log(p[np.arange(N), y]).mean()
    d_scores = (p - np.eye(C)[y]) / N
    right = {"value": data + reg * np.sum(W * W), "gradients.W": X.T @ d_scores + 2 * reg * W}
    ok, codes, _ = graded(problem, right)
    assert ok and codes == set()
    half = {"value": data + 0.5 * reg * np.sum(W * W), "gradients.W": X.T @ d_scores + reg * W}
    _, codes, _ = graded(problem, half)
    assert codes == {("regularization_convention", "value"),
                     ("regularization_convention", "gradients.W")}
    _, codes, _ = graded(problem, {"gradients.W": right["gradients.W"].T})
    assert codes == {("gradient_transposed", "gradients.W")}
    summed = {"value": N * data + reg * np.sum(W * W),
              "gradients.W": X.T @ (d_scores * N) + 2 * reg * W}
    _, codes, _ = graded(problem, summed)
    assert codes == {("sum_instead_of_mean", "value"),
                     ("gradient_missing_1_over_n", "gradients.W")}


@needs_linear
def test_linear_svm_counting_the_correct_class(logits):
    rng = np.random.default_rng(12)
    _, y = logits
    W, X, reg = rng.normal(size=(3, C)), rng.normal(size=(N, 3)), 0.05
    scores = X @ W
    margins = np.maximum(0.0, scores - scores[np.arange(N), y][:, None] + 1.0)
    problem = Problem("linear_svm", {"W": W, "X": X, "targets": y}, {"reg": reg})
    _, codes, _ = graded(problem, {"value": margins.sum(axis=1).mean() + reg * np.sum(W * W)})
    assert codes == {("svm_counts_correct_class", "value")}


@needs_linear
def test_log_of_an_underflowed_softmax_is_not_told_to_subtract_the_max(logits):
    """cs231n's softmax_loss with the maximum subtracted but np.log(probs): a score 1000 ahead of
    the target's underflows p_y to 0, so the loss is inf while dW stays right. That student did
    subtract the maximum; the hint must say log-sum-exp (softmax_log_underflow), and the student
    who did not subtract it still gets softmax_overflow."""
    rng = np.random.default_rng(13)
    _, y = logits
    W, X, reg = rng.normal(size=(3, C)), rng.normal(size=(N, 3)), 0.1
    s0 = X[0] @ W
    X[0] *= 1000.0 / np.max(np.abs(s0))
    y = y.copy()
    y[0] = int(np.argmin(X[0] @ W))  # the target class trails the leader by ~1000+
    problem = Problem("linear_softmax", {"W": W, "X": X, "targets": y}, {"reg": reg})
    scores = X @ W
    with np.errstate(all="ignore"):
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        stable = {"value": -np.log(p[np.arange(N), y]).mean() + reg * np.sum(W * W),
                  "gradients.W": X.T @ ((p - np.eye(C)[y]) / N) + 2 * reg * W}
        e = np.exp(scores)
        q = e / e.sum(axis=1, keepdims=True)
        naive = {"value": -np.log(q[np.arange(N), y]).mean() + reg * np.sum(W * W),
                 "gradients.W": X.T @ ((q - np.eye(C)[y]) / N) + 2 * reg * W}
    assert np.isinf(stable["value"]) and np.all(np.isfinite(stable["gradients.W"]))
    ok, codes, diag = graded(problem, stable)
    assert not ok and codes == {("softmax_log_underflow", "value")}
    assert "log-sum-exp" in diag[0].hint and "-log p_y is inf" in diag[0].evidence
    _, codes, _ = graded(problem, naive)
    assert codes == {("softmax_overflow", "value"), ("softmax_overflow", "gradients.W")}
    _, codes, _ = graded(problem, {"value": stable["value"]})  # no gradient: the +inf decides
    assert codes == {("softmax_log_underflow", "value")}
