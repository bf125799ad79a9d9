"""Every catalogued mistake, produced by a deliberately wrong implementation written here in NumPy,
is diagnosed with its code; the right implementation passes with no diagnosis. This module: the
mistakes in a student's softmax cross-entropy; test_mistakes_elementwise.py and
test_mistakes_multiclass.py: those of the other losses.

Each student function is what a learner plausibly writes (not derived from the service's
variants), so a test fails if the catalog stops recognising the mistake as it occurs in the wild.
"""

from __future__ import annotations

import numpy as np
import pytest

from service.grading import CODES, Problem, preset
from tests.grading.conftest import C, N, graded, log_softmax

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
            log_p = log_softmax(z) / dtype(np.log(base))
            p = np.exp(log_softmax(z))
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
    ok, codes, _ = graded(Problem("cross_entropy", {"predictions": z, "targets": y}),
                          {"value": value, "per_sample": per, "gradient": grad})
    assert ok and codes == set()


def test_sum_instead_of_mean(logits):
    z, y = logits
    _, per, _ = student_ce(z, y)
    ok, codes, diag = graded(Problem("cross_entropy", {"predictions": z, "targets": y}),
                             {"value": per.sum()})
    assert not ok and codes == {("sum_instead_of_mean", "value")}
    assert "the sum over the batch" in diag[0].evidence and diag[0].hint


@pytest.mark.parametrize(("log", "code"), [(np.log10, "log_base_10"), (np.log2, "log_base_2")])
def test_log_base(logits, log, code):
    z, y = logits
    value, per, _ = student_ce(z, y, log=log)
    _, codes, _ = graded(Problem("cross_entropy", {"predictions": z, "targets": y}),
                         {"value": value, "per_sample": per})
    assert codes == {(code, "value"), (code, "per_sample")}


def test_gradient_missing_1_over_n(logits):
    z, y = logits
    _, _, grad = student_ce(z, y, grad_scale=N)
    _, codes, _ = graded(Problem("cross_entropy", {"predictions": z, "targets": y}),
                         {"gradient": grad})
    assert codes == {("gradient_missing_1_over_n", "gradient")}


def test_gradient_sign_flipped(logits):
    z, y = logits
    _, _, grad = student_ce(z, y)
    _, codes, _ = graded(Problem("cross_entropy", {"predictions": z, "targets": y}),
                         {"gradient": -grad})
    assert codes == {("gradient_sign_flipped", "gradient")}


def test_gradient_with_respect_to_probabilities(logits):
    z, y = logits
    p = np.exp(log_softmax(z))
    d_p = -np.eye(C)[y] / p / N  # dL/dp of -mean log p_y, not dL/dz
    _, codes, _ = graded(Problem("cross_entropy", {"predictions": z, "targets": y}),
                         {"gradient": d_p})
    assert codes == {("gradient_wrt_probabilities", "gradient")}


def test_softmax_overflow(logits):
    z, y = logits
    z = z.copy()
    z[0] = [1000.0, 0.0, -5.0, 3.0]  # exp(1000) overflows: inf / inf
    z[1] = -1000.0  # every exp underflows: 0 / 0
    value, per, grad = student_ce(z, y, naive_softmax=True)
    problem = Problem("cross_entropy", {"predictions": z, "targets": y})
    ok, codes, diag = graded(problem, {"value": value, "per_sample": per, "gradient": grad})
    assert not ok
    assert codes == {("softmax_overflow", c) for c in ("value", "per_sample", "gradient")}
    per_sample = next(d for d in diag if d.check == "per_sample")
    assert "not finite at 2 of 6 element(s) (first at index [0])" in per_sample.evidence
    ok, codes, _ = graded(problem, dict(zip(("value", "per_sample", "gradient"),
                                            student_ce(z, y), strict=True)))
    assert ok and codes == set()


def test_weighted_mean_divided_by_n(logits):
    z, y = logits
    w = [0.5, 2.0, 1.0, 3.0]
    problem = Problem("cross_entropy", {"predictions": z, "targets": y}, {"weight": w})
    value, _, grad = student_ce(z, y, weight=w, reduce="mean")
    _, codes, _ = graded(problem, {"value": value, "gradient": grad})
    assert codes == {("weighted_mean_over_n", "value"), ("weighted_mean_over_n", "gradient")}
    value, _, grad = student_ce(z, y, weight=w, reduce="weighted")
    ok, codes, _ = graded(problem, {"value": value, "gradient": grad})
    assert ok and codes == set()


def test_label_smoothing_ignored_and_wrong(logits):
    z, y = logits
    eps = 0.2
    problem = Problem("cross_entropy", {"predictions": z, "targets": y},
                      {"label_smoothing": eps})
    value, per, grad = student_ce(z, y)  # smoothing forgotten
    _, codes, _ = graded(problem, {"value": value, "per_sample": per, "gradient": grad})
    assert codes == {("label_smoothing_ignored", c) for c in ("value", "per_sample", "gradient")}
    onehot = np.eye(C)[y]
    wrong = (1 - eps) * onehot + eps / (C - 1) * (1 - onehot)  # eps spread over C - 1 classes
    value, per, grad = student_ce(z, y, q=wrong)
    _, codes, _ = graded(problem, {"value": value, "gradient": grad})
    assert codes == {("label_smoothing_wrong_formula", "value"),
                     ("label_smoothing_wrong_formula", "gradient")}
    value, per, grad = student_ce(z, y, smoothing=eps)
    ok, codes, _ = graded(problem, {"value": value, "per_sample": per, "gradient": grad})
    assert ok and codes == set()


def test_gradient_transposed(logits):
    z, y = logits
    _, _, grad = student_ce(z, y)
    ok, codes, diag = graded(Problem("cross_entropy", {"predictions": z, "targets": y}),
                             {"gradient": grad.T})
    assert not ok and codes == {("gradient_transposed", "gradient")}
    assert "(4, 6)" in diag[0].evidence


def test_per_sample_values_for_a_reduced_value_and_the_reverse(logits):
    z, y = logits
    value, per, _ = student_ce(z, y)
    problem = Problem("cross_entropy", {"predictions": z, "targets": y})
    _, codes, _ = graded(problem, {"value": per})
    assert codes == {("per_sample_instead_of_reduced", "value")}
    _, codes, _ = graded(problem, {"per_sample": value})
    assert codes == {("reduced_instead_of_per_sample", "per_sample")}
    none = Problem("cross_entropy", {"predictions": z, "targets": y}, reduction="none")
    _, codes, _ = graded(none, {"value": per.mean()})
    assert codes == {("reduced_instead_of_per_sample", "value")}


def test_class_index_off_by_one(logits):
    z, y = logits
    value, per, grad = student_ce(z, y - 1)  # 1-based labels read as 0-based (wraps at -1)
    _, codes, _ = graded(Problem("cross_entropy", {"predictions": z, "targets": y}),
                         {"value": value, "per_sample": per, "gradient": grad})
    assert codes == {("class_index_off_by_one", c) for c in ("value", "per_sample", "gradient")}


def test_float32_rounding(logits):
    z, y = logits
    value, per, grad = student_ce(z, y, dtype=np.float32)
    problem = Problem("cross_entropy", {"predictions": z, "targets": y})
    sub = {"value": float(value), "per_sample": per.astype(np.float64),
           "gradient": grad.astype(np.float64)}
    ok, codes, diag = graded(problem, sub, tolerance=preset("strict"))
    assert not ok
    assert {c for c, _ in codes} == {"float32_rounding"}
    assert {check for _, check in codes} == {"value", "per_sample", "gradient"}
    assert "float32" in diag[0].evidence
    # the float64 computation with the same formulas is not float32 rounding
    value, per, grad = student_ce(z, y)
    _, codes, _ = graded(problem, {"value": value, "per_sample": per, "gradient": grad},
                         tolerance=preset("strict"))
    assert not {c for c, _ in codes} & {"float32_rounding"}


def test_every_code_is_tested_here():
    """Each catalogued code has a test in the mistake modules (by name in the source of
    test_mistakes*.py)."""
    from pathlib import Path

    source = "".join(p.read_text() for p in sorted(Path(__file__).parent.glob("test_mistakes*.py")))
    missing = [c for c in CODES if f'"{c}"' not in source]
    assert missing == []
