"""Every catalogued mistake, produced by a deliberately wrong implementation written here in NumPy,
is diagnosed with its code; the right implementation passes with no diagnosis.

Each student function below is what a learner plausibly writes (not derived from the service's
variants), so a test fails if the catalog stops recognising the mistake as it occurs in the wild.
"""

from __future__ import annotations

import numpy as np
import pytest

from service.grading import CODES, GradeOptions, Problem, grade, preset
from service.losses import LOSSES

N, C = 6, 4


def _log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def _grade(problem: Problem, submission: dict, **options) -> tuple[bool, set, list]:
    r = grade(problem, submission, GradeOptions(**options))
    return r.passed, {(d.code, d.check) for d in r.diagnosis}, r.diagnosis


@pytest.fixture
def logits():
    rng = np.random.default_rng(7)
    z = rng.normal(size=(N, C)) * 2.0
    y = rng.integers(0, C, size=N)
    y[:C] = np.arange(C)  # every class appears
    return z, y


# -- softmax cross-entropy, written by a student ---------------------------------------------


def student_ce(z, y, *, log=np.log, reduce="mean", weight=None, smoothing=0.0, q=None,
               grad_scale=1.0, naive_softmax=False, dtype=np.float64):
    """Softmax cross-entropy as a student writes it: value, per-sample values, dL/dz.

    ``log`` is the logarithm used; ``naive_softmax`` skips the max subtraction; ``q`` replaces
    the smoothed one-hot target; ``reduce`` divides by N (mean), 1 (sum) or sum w_y (weighted).
    """
    z = np.asarray(z, dtype=dtype)
    n, c = z.shape
    with np.errstate(all="ignore"):
        if naive_softmax:
            e = np.exp(z)
            p = e / e.sum(axis=1, keepdims=True)
            log_p = log(p)
        else:
            base = {np.log10: 10.0, np.log2: 2.0}.get(log, np.e)
            log_p = _log_softmax(z) / dtype(np.log(base))
            p = np.exp(_log_softmax(z))
    onehot = np.eye(c, dtype=dtype)[y]
    if q is None:
        q = (1 - smoothing) * onehot + smoothing / c
    w = np.ones(c, dtype=dtype) if weight is None else np.asarray(weight, dtype=dtype)
    qw = q * w
    with np.errstate(all="ignore"):
        per = -np.where(qw > 0, qw * log_p, 0.0).sum(axis=1)
    denom = {"mean": n, "sum": 1, "weighted": w[y].sum()}[reduce]
    value = per.sum() / denom
    grad = (p * qw.sum(axis=1, keepdims=True) - qw) / denom * grad_scale
    return value, per, grad


def test_a_correct_cross_entropy_passes_with_no_diagnosis(logits):
    z, y = logits
    value, per, grad = student_ce(z, y)
    ok, codes, _ = _grade(Problem("cross_entropy", {"predictions": z, "targets": y}),
                          {"value": value, "per_sample": per, "gradient": grad})
    assert ok and codes == set()


def test_sum_instead_of_mean(logits):
    z, y = logits
    _, per, _ = student_ce(z, y)
    ok, codes, diag = _grade(Problem("cross_entropy", {"predictions": z, "targets": y}),
                             {"value": per.sum()})
    assert not ok and codes == {("sum_instead_of_mean", "value")}
    assert "the sum over the batch" in diag[0].evidence and diag[0].hint


def test_sum_over_features_in_per_sample():
    rng = np.random.default_rng(1)
    x, t = rng.normal(size=(N, 3)), rng.normal(size=(N, 3))
    problem = Problem("mse", {"predictions": x, "targets": t})
    _, codes, _ = _grade(problem, {"per_sample": ((x - t) ** 2).sum(axis=1)})
    assert codes == {("sum_instead_of_mean", "per_sample")}
    _, codes, _ = _grade(problem, {"per_sample": ((x - t) ** 2).mean(axis=1)})
    assert codes == set()


def test_mean_instead_of_sum():
    rng = np.random.default_rng(2)
    x, t = rng.normal(size=(N, 2)), rng.normal(size=(N, 2))
    problem = Problem("mse", {"predictions": x, "targets": t}, reduction="sum")
    _, codes, _ = _grade(problem, {"value": ((x - t) ** 2).mean(),
                                   "gradient": 2 * (x - t) / x.size})
    assert codes == {("mean_instead_of_sum", "value"), ("mean_instead_of_sum", "gradient")}
    ok, codes, _ = _grade(problem, {"value": ((x - t) ** 2).sum(), "gradient": 2 * (x - t)})
    assert ok and codes == set()


@pytest.mark.parametrize(("log", "code"), [(np.log10, "log_base_10"), (np.log2, "log_base_2")])
def test_log_base(logits, log, code):
    z, y = logits
    value, per, _ = student_ce(z, y, log=log)
    _, codes, _ = _grade(Problem("cross_entropy", {"predictions": z, "targets": y}),
                         {"value": value, "per_sample": per})
    assert codes == {(code, "value"), (code, "per_sample")}


def test_log_base_in_binary_cross_entropy_with_logits():
    rng = np.random.default_rng(3)
    x, t = rng.normal(size=(N, 2)), rng.integers(0, 2, size=(N, 2)).astype(float)
    p = 1 / (1 + np.exp(-x))
    value = -(t * np.log10(p) + (1 - t) * np.log10(1 - p)).mean()
    _, codes, _ = _grade(Problem("binary_cross_entropy_with_logits",
                                 {"predictions": x, "targets": t}), {"value": value})
    assert codes == {("log_base_10", "value")}


def test_gradient_missing_1_over_n(logits):
    z, y = logits
    _, _, grad = student_ce(z, y, grad_scale=N)
    _, codes, _ = _grade(Problem("cross_entropy", {"predictions": z, "targets": y}),
                         {"gradient": grad})
    assert codes == {("gradient_missing_1_over_n", "gradient")}


def test_gradient_sign_flipped(logits):
    z, y = logits
    _, _, grad = student_ce(z, y)
    _, codes, _ = _grade(Problem("cross_entropy", {"predictions": z, "targets": y}),
                         {"gradient": -grad})
    assert codes == {("gradient_sign_flipped", "gradient")}


def test_gradient_with_respect_to_probabilities(logits):
    z, y = logits
    p = np.exp(_log_softmax(z))
    d_p = -np.eye(C)[y] / p / N  # dL/dp of -mean log p_y, not dL/dz
    _, codes, _ = _grade(Problem("cross_entropy", {"predictions": z, "targets": y}),
                         {"gradient": d_p})
    assert codes == {("gradient_wrt_probabilities", "gradient")}


def test_gradient_with_respect_to_sigmoid_probabilities():
    rng = np.random.default_rng(4)
    x, t = rng.normal(size=(N, 3)), rng.integers(0, 2, size=(N, 3)).astype(float)
    p = 1 / (1 + np.exp(-x))
    _, codes, _ = _grade(Problem("binary_cross_entropy_with_logits",
                                 {"predictions": x, "targets": t}),
                         {"gradient": (p - t) / (p * (1 - p)) / x.size})
    assert codes == {("gradient_wrt_probabilities", "gradient")}


def test_mse_gradient_missing_factor_2():
    rng = np.random.default_rng(5)
    x, t = rng.normal(size=(N, 2)), rng.normal(size=(N, 2))
    problem = Problem("mse", {"predictions": x, "targets": t})
    _, codes, _ = _grade(problem, {"gradient": (x - t) / x.size})
    assert codes == {("mse_gradient_missing_factor_2", "gradient")}
    ok, codes, _ = _grade(problem, {"gradient": 2 * (x - t) / x.size})
    assert ok and codes == set()


def test_softmax_overflow(logits):
    z, y = logits
    z = z.copy()
    z[0] = [1000.0, 0.0, -5.0, 3.0]  # exp(1000) overflows: inf / inf
    z[1] = -1000.0  # every exp underflows: 0 / 0
    value, per, grad = student_ce(z, y, naive_softmax=True)
    problem = Problem("cross_entropy", {"predictions": z, "targets": y})
    ok, codes, diag = _grade(problem, {"value": value, "per_sample": per, "gradient": grad})
    assert not ok
    assert codes == {("softmax_overflow", c) for c in ("value", "per_sample", "gradient")}
    per_sample = next(d for d in diag if d.check == "per_sample")
    assert "not finite at 2 of 6 element(s) (first at index [0])" in per_sample.evidence
    ok, codes, _ = _grade(problem, dict(zip(("value", "per_sample", "gradient"),
                                            student_ce(z, y), strict=True)))
    assert ok and codes == set()


def test_missing_clipping():
    p = np.array([0.0, 1.0, 0.3, 1.0, 0.0, 0.6])
    t = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    with np.errstate(all="ignore"):
        per = -(t * np.log(p) + (1 - t) * np.log(1 - p))
        grad = (p - t) / (p * (1 - p)) / p.size
    problem = Problem("binary_cross_entropy", {"predictions": p, "targets": t})
    ok, codes, _ = _grade(problem, {"value": per.mean(), "per_sample": per, "gradient": grad})
    assert not ok
    assert codes == {("missing_clipping", c) for c in ("value", "per_sample", "gradient")}
    clamped = -(t * np.maximum(np.log(np.where(p > 0, p, 1.0)), -100)
                + (1 - t) * np.maximum(np.log(np.where(p < 1, 1 - p, 1.0)), -100))
    clamped = np.where(p == 0, np.where(t > 0, 100.0, 0.0), clamped)
    clamped = np.where(p == 1, np.where(t < 1, 100.0, 0.0), clamped)
    ok, codes, _ = _grade(problem, {"per_sample": clamped})
    assert ok and codes == set()


def test_multiclass_hinge_counting_the_correct_class(logits):
    z, y = logits
    margins = np.maximum(0.0, z - z[np.arange(N), y][:, None] + 1.0)  # j = y not excluded
    problem = Problem("multiclass_hinge", {"predictions": z, "targets": y})
    _, codes, _ = _grade(problem, {"value": margins.sum(axis=1).mean()})
    assert codes == {("svm_counts_correct_class", "value")}
    # the vectorised gradient bug: binary[y] = -row_sum, with j = y counted in the row sum
    binary = (margins > 0).astype(float)
    binary[np.arange(N), y] = -binary.sum(axis=1)
    _, codes, _ = _grade(problem, {"gradient": binary / N})
    assert codes == {("svm_counts_correct_class", "gradient")}
    margins[np.arange(N), y] = 0.0
    ok, codes, _ = _grade(problem, {"value": margins.sum(axis=1).mean()})
    assert ok and codes == set()


def test_hinge_on_01_labels():
    rng = np.random.default_rng(6)
    s, y = rng.normal(size=N), np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    problem = Problem("hinge", {"predictions": s, "targets": y})
    _, codes, _ = _grade(problem, {"value": np.maximum(0.0, 1.0 - y * s).mean()})
    assert codes == {("hinge_labels_01", "value")}
    ok, codes, _ = _grade(problem, {"value": np.maximum(0.0, 1.0 - (2 * y - 1) * s).mean()})
    assert ok and codes == set()


def test_kl_in_the_wrong_direction():
    rng = np.random.default_rng(8)
    q, p = rng.dirichlet(np.ones(C), size=N), rng.dirichlet(np.ones(C), size=N)
    problem = Problem("kl_div", {"predictions": np.log(q), "targets": p}, reduction="batchmean")
    _, codes, _ = _grade(problem, {"value": (q * (np.log(q) - np.log(p))).sum() / N})
    assert codes == {("kl_reversed", "value")}
    ok, codes, _ = _grade(problem, {"value": (p * (np.log(p) - np.log(q))).sum() / N})
    assert ok and codes == set()


def test_weighted_mean_divided_by_n(logits):
    z, y = logits
    w = [0.5, 2.0, 1.0, 3.0]
    problem = Problem("cross_entropy", {"predictions": z, "targets": y}, {"weight": w})
    value, _, grad = student_ce(z, y, weight=w, reduce="mean")
    _, codes, _ = _grade(problem, {"value": value, "gradient": grad})
    assert codes == {("weighted_mean_over_n", "value"), ("weighted_mean_over_n", "gradient")}
    value, _, grad = student_ce(z, y, weight=w, reduce="weighted")
    ok, codes, _ = _grade(problem, {"value": value, "gradient": grad})
    assert ok and codes == set()


def test_weighted_mean_with_sample_weights():
    rng = np.random.default_rng(9)
    x, t = rng.normal(size=N), rng.normal(size=N)
    s = rng.uniform(0.2, 2.0, size=N)
    problem = Problem("l1", {"predictions": x, "targets": t}, sample_weight=s)
    _, codes, _ = _grade(problem, {"value": (s * np.abs(x - t)).sum() / N})
    assert codes == {("weighted_mean_over_n", "value")}


def test_label_smoothing_ignored_and_wrong(logits):
    z, y = logits
    eps = 0.2
    problem = Problem("cross_entropy", {"predictions": z, "targets": y},
                      {"label_smoothing": eps})
    value, per, grad = student_ce(z, y)  # smoothing forgotten
    _, codes, _ = _grade(problem, {"value": value, "per_sample": per, "gradient": grad})
    assert codes == {("label_smoothing_ignored", c) for c in ("value", "per_sample", "gradient")}
    onehot = np.eye(C)[y]
    wrong = (1 - eps) * onehot + eps / (C - 1) * (1 - onehot)  # eps spread over C - 1 classes
    value, per, grad = student_ce(z, y, q=wrong)
    _, codes, _ = _grade(problem, {"value": value, "gradient": grad})
    assert codes == {("label_smoothing_wrong_formula", "value"),
                     ("label_smoothing_wrong_formula", "gradient")}
    value, per, grad = student_ce(z, y, smoothing=eps)
    ok, codes, _ = _grade(problem, {"value": value, "per_sample": per, "gradient": grad})
    assert ok and codes == set()


def test_focal_alpha_on_the_wrong_class():
    rng = np.random.default_rng(10)
    x, t = rng.normal(size=(N, 2)), rng.integers(0, 2, size=(N, 2)).astype(float)
    p = 1 / (1 + np.exp(-x))
    p_t = p * t + (1 - p) * (1 - t)
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    problem = Problem("sigmoid_focal", {"predictions": x, "targets": t},
                      {"alpha": 0.25, "gamma": 2.0})
    swapped = (0.75 * t + 0.25 * (1 - t)) * (1 - p_t) ** 2 * bce
    _, codes, _ = _grade(problem, {"value": swapped.mean(), "per_sample": swapped.mean(axis=1)})
    assert codes == {("focal_alpha_swapped", "value"), ("focal_alpha_swapped", "per_sample")}
    right = (0.25 * t + 0.75 * (1 - t)) * (1 - p_t) ** 2 * bce
    ok, codes, _ = _grade(problem, {"value": right.mean()})
    assert ok and codes == set()


def test_gradient_transposed(logits):
    z, y = logits
    _, _, grad = student_ce(z, y)
    ok, codes, diag = _grade(Problem("cross_entropy", {"predictions": z, "targets": y}),
                             {"gradient": grad.T})
    assert not ok and codes == {("gradient_transposed", "gradient")}
    assert "(4, 6)" in diag[0].evidence


def test_per_sample_values_for_a_reduced_value_and_the_reverse(logits):
    z, y = logits
    value, per, _ = student_ce(z, y)
    problem = Problem("cross_entropy", {"predictions": z, "targets": y})
    _, codes, _ = _grade(problem, {"value": per})
    assert codes == {("per_sample_instead_of_reduced", "value")}
    _, codes, _ = _grade(problem, {"per_sample": value})
    assert codes == {("reduced_instead_of_per_sample", "per_sample")}
    none = Problem("cross_entropy", {"predictions": z, "targets": y}, reduction="none")
    _, codes, _ = _grade(none, {"value": per.mean()})
    assert codes == {("reduced_instead_of_per_sample", "value")}


def test_class_index_off_by_one(logits):
    z, y = logits
    value, per, grad = student_ce(z, y - 1)  # 1-based labels read as 0-based (wraps at -1)
    _, codes, _ = _grade(Problem("cross_entropy", {"predictions": z, "targets": y}),
                         {"value": value, "per_sample": per, "gradient": grad})
    assert codes == {("class_index_off_by_one", c) for c in ("value", "per_sample", "gradient")}


def test_float32_rounding(logits):
    z, y = logits
    value, per, grad = student_ce(z, y, dtype=np.float32)
    problem = Problem("cross_entropy", {"predictions": z, "targets": y})
    sub = {"value": float(value), "per_sample": per.astype(np.float64),
           "gradient": grad.astype(np.float64)}
    ok, codes, diag = _grade(problem, sub, tolerance=preset("strict"))
    assert not ok
    assert {c for c, _ in codes} == {"float32_rounding"}
    assert {check for _, check in codes} == {"value", "per_sample", "gradient"}
    assert "float32" in diag[0].evidence
    # the float64 computation with the same formulas is not float32 rounding
    value, per, grad = student_ce(z, y)
    _, codes, _ = _grade(problem, {"value": value, "per_sample": per, "gradient": grad},
                         tolerance=preset("strict"))
    assert not {c for c, _ in codes} & {"float32_rounding"}


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
    p = np.exp(_log_softmax(scores))
    data = -np.log(p[np.arange(N), y]).mean()
    d_scores = (p - np.eye(C)[y]) / N
    right = {"value": data + reg * np.sum(W * W), "gradients.W": X.T @ d_scores + 2 * reg * W}
    ok, codes, _ = _grade(problem, right)
    assert ok and codes == set()
    half = {"value": data + 0.5 * reg * np.sum(W * W), "gradients.W": X.T @ d_scores + reg * W}
    _, codes, _ = _grade(problem, half)
    assert codes == {("regularization_convention", "value"),
                     ("regularization_convention", "gradients.W")}
    _, codes, _ = _grade(problem, {"gradients.W": right["gradients.W"].T})
    assert codes == {("gradient_transposed", "gradients.W")}
    summed = {"value": N * data + reg * np.sum(W * W),
              "gradients.W": X.T @ (d_scores * N) + 2 * reg * W}
    _, codes, _ = _grade(problem, summed)
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
    _, codes, _ = _grade(problem, {"value": margins.sum(axis=1).mean() + reg * np.sum(W * W)})
    assert codes == {("svm_counts_correct_class", "value")}


def test_every_code_is_tested_here():
    """Each catalogued code has a test above (by name in this module's source)."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    missing = [c for c in CODES if f'"{c}"' not in source]
    assert missing == []


def test_hinge_on_01_labels_under_keras_row_means():
    """hinge's keras convention (the default until issue 19) averages each row: the diagnosis
    reduces the same way, for the value, the per-sample values and the gradient, with reduction
    sum on (N, 3) scores."""
    rng = np.random.default_rng(16)
    s, y = rng.normal(size=(N, 3)), rng.integers(0, 2, size=(N, 3)).astype(float)
    y[0] = [0.0, 1.0, 1.0]  # both labels present
    problem = Problem("hinge", {"predictions": s, "targets": y}, {"convention": "keras"},
                      reduction="sum")
    raw = np.maximum(0.0, 1.0 - y * s)
    grad = -y * (1.0 - y * s > 0) / 3.0
    _, codes, _ = _grade(problem, {"value": raw.mean(axis=1).sum(),
                                   "per_sample": raw.mean(axis=1), "gradient": grad})
    assert codes == {("hinge_labels_01", c) for c in ("value", "per_sample", "gradient")}
    ys = 2 * y - 1
    right = np.maximum(0.0, 1.0 - ys * s)
    ok, codes, _ = _grade(problem, {"value": right.mean(axis=1).sum(),
                                    "per_sample": right.mean(axis=1),
                                    "gradient": -ys * (1.0 - ys * s > 0) / 3.0})
    assert ok and codes == set()


def test_hinge_on_01_labels_under_the_elementwise_default():
    """hinge's default since issue 19 is elementwise: the diagnosis sums every score's hinge
    for reduction sum, and each sample's per-sample value is its row mean."""
    rng = np.random.default_rng(18)
    s, y = rng.normal(size=(N, 3)), rng.integers(0, 2, size=(N, 3)).astype(float)
    y[0] = [0.0, 1.0, 1.0]  # both labels present
    problem = Problem("hinge", {"predictions": s, "targets": y}, reduction="sum")
    raw = np.maximum(0.0, 1.0 - y * s)
    _, codes, _ = _grade(problem, {"value": raw.sum(), "per_sample": raw.mean(axis=1),
                                   "gradient": -y * (1.0 - y * s > 0)})
    assert codes == {("hinge_labels_01", c) for c in ("value", "per_sample", "gradient")}
    ys = 2 * y - 1
    right = np.maximum(0.0, 1.0 - ys * s)
    ok, codes, _ = _grade(problem, {"value": right.sum(), "per_sample": right.mean(axis=1),
                                    "gradient": -ys * (1.0 - ys * s > 0)})
    assert ok and codes == set()


def test_focal_alpha_on_the_wrong_class_with_the_default_alpha():
    """alpha omitted: sigmoid_focal's torch convention uses torchvision's 0.25, and swapping it
    is still diagnosed."""
    rng = np.random.default_rng(17)
    x, t = rng.normal(size=(N, 2)), rng.integers(0, 2, size=(N, 2)).astype(float)
    p = 1 / (1 + np.exp(-x))
    p_t = p * t + (1 - p) * (1 - t)
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    problem = Problem("sigmoid_focal", {"predictions": x, "targets": t})
    swapped = (0.75 * t + 0.25 * (1 - t)) * (1 - p_t) ** 2 * bce
    _, codes, _ = _grade(problem, {"value": swapped.mean()})
    assert codes == {("focal_alpha_swapped", "value")}


def test_log_base_10_on_probability_cross_entropy():
    """sklearn-style log loss on probability rows: a log10 submission is diagnosed."""
    rng = np.random.default_rng(18)
    p = rng.dirichlet(np.ones(C), size=N)
    y = rng.integers(0, C, size=N)
    problem = Problem("probability_cross_entropy", {"predictions": p, "targets": y})
    picked = p[np.arange(N), y]
    _, codes, _ = _grade(problem, {"value": -np.log10(picked).mean(),
                                   "per_sample": -np.log10(picked)})
    assert codes == {("log_base_10", "value"), ("log_base_10", "per_sample")}
    ok, codes, _ = _grade(problem, {"value": -np.log(picked).mean()})
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
    ok, codes, _ = _grade(problem, {"value": cs231n / C})
    assert ok and codes == set()
    ok, _, _ = _grade(problem, {"value": cs231n})
    assert not ok


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
    ok, codes, diag = _grade(problem, stable)
    assert not ok and codes == {("softmax_log_underflow", "value")}
    assert "log-sum-exp" in diag[0].hint and "-log p_y is inf" in diag[0].evidence
    _, codes, _ = _grade(problem, naive)
    assert codes == {("softmax_overflow", "value"), ("softmax_overflow", "gradients.W")}
    _, codes, _ = _grade(problem, {"value": stable["value"]})  # no gradient: the +inf decides
    assert codes == {("softmax_log_underflow", "value")}
