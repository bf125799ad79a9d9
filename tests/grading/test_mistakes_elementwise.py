"""The mistakes of the elementwise losses (mse, l1, binary_cross_entropy, its logits form,
sigmoid_focal, hinge), each produced by a deliberately wrong implementation written here in NumPy,
diagnosed with its code; the right implementation passes with no diagnosis."""

from __future__ import annotations

import numpy as np

from service.grading import Problem
from tests.grading.conftest import N, graded


def test_sum_over_features_in_per_sample():
    rng = np.random.default_rng(1)
    x, t = rng.normal(size=(N, 3)), rng.normal(size=(N, 3))
    problem = Problem("mse", {"predictions": x, "targets": t})
    _, codes, _ = graded(problem, {"per_sample": ((x - t) ** 2).sum(axis=1)})
    assert codes == {("sum_instead_of_mean", "per_sample")}
    _, codes, _ = graded(problem, {"per_sample": ((x - t) ** 2).mean(axis=1)})
    assert codes == set()


def test_mean_instead_of_sum():
    rng = np.random.default_rng(2)
    x, t = rng.normal(size=(N, 2)), rng.normal(size=(N, 2))
    problem = Problem("mse", {"predictions": x, "targets": t}, reduction="sum")
    _, codes, _ = graded(problem, {"value": ((x - t) ** 2).mean(),
                                   "gradient": 2 * (x - t) / x.size})
    assert codes == {("mean_instead_of_sum", "value"), ("mean_instead_of_sum", "gradient")}
    ok, codes, _ = graded(problem, {"value": ((x - t) ** 2).sum(), "gradient": 2 * (x - t)})
    assert ok and codes == set()


def test_log_base_in_binary_cross_entropy_with_logits():
    rng = np.random.default_rng(3)
    x, t = rng.normal(size=(N, 2)), rng.integers(0, 2, size=(N, 2)).astype(float)
    p = 1 / (1 + np.exp(-x))
    value = -(t * np.log10(p) + (1 - t) * np.log10(1 - p)).mean()
    _, codes, _ = graded(Problem("binary_cross_entropy_with_logits",
                                 {"predictions": x, "targets": t}), {"value": value})
    assert codes == {("log_base_10", "value")}


def test_gradient_with_respect_to_sigmoid_probabilities():
    rng = np.random.default_rng(4)
    x, t = rng.normal(size=(N, 3)), rng.integers(0, 2, size=(N, 3)).astype(float)
    p = 1 / (1 + np.exp(-x))
    _, codes, _ = graded(Problem("binary_cross_entropy_with_logits",
                                 {"predictions": x, "targets": t}),
                         {"gradient": (p - t) / (p * (1 - p)) / x.size})
    assert codes == {("gradient_wrt_probabilities", "gradient")}


def test_mse_gradient_missing_factor_2():
    rng = np.random.default_rng(5)
    x, t = rng.normal(size=(N, 2)), rng.normal(size=(N, 2))
    problem = Problem("mse", {"predictions": x, "targets": t})
    _, codes, _ = graded(problem, {"gradient": (x - t) / x.size})
    assert codes == {("mse_gradient_missing_factor_2", "gradient")}
    ok, codes, _ = graded(problem, {"gradient": 2 * (x - t) / x.size})
    assert ok and codes == set()


def test_missing_clipping():
    p = np.array([0.0, 1.0, 0.3, 1.0, 0.0, 0.6])
    t = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    with np.errstate(all="ignore"):
        per = -(t * np.log(p) + (1 - t) * np.log(1 - p))
        grad = (p - t) / (p * (1 - p)) / p.size
    problem = Problem("binary_cross_entropy", {"predictions": p, "targets": t})
    ok, codes, _ = graded(problem, {"value": per.mean(), "per_sample": per, "gradient": grad})
    assert not ok
    assert codes == {("missing_clipping", c) for c in ("value", "per_sample", "gradient")}
    clamped = -(t * np.maximum(np.log(np.where(p > 0, p, 1.0)), -100)
                + (1 - t) * np.maximum(np.log(np.where(p < 1, 1 - p, 1.0)), -100))
    clamped = np.where(p == 0, np.where(t > 0, 100.0, 0.0), clamped)
    clamped = np.where(p == 1, np.where(t < 1, 100.0, 0.0), clamped)
    ok, codes, _ = graded(problem, {"per_sample": clamped})
    assert ok and codes == set()


def test_weighted_mean_with_sample_weights():
    rng = np.random.default_rng(9)
    x, t = rng.normal(size=N), rng.normal(size=N)
    s = rng.uniform(0.2, 2.0, size=N)
    problem = Problem("l1", {"predictions": x, "targets": t}, sample_weight=s)
    _, codes, _ = graded(problem, {"value": (s * np.abs(x - t)).sum() / N})
    assert codes == {("weighted_mean_over_n", "value")}


def test_hinge_on_01_labels():
    rng = np.random.default_rng(6)
    s, y = rng.normal(size=N), np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    problem = Problem("hinge", {"predictions": s, "targets": y})
    _, codes, _ = graded(problem, {"value": np.maximum(0.0, 1.0 - y * s).mean()})
    assert codes == {("hinge_labels_01", "value")}
    ok, codes, _ = graded(problem, {"value": np.maximum(0.0, 1.0 - (2 * y - 1) * s).mean()})
    assert ok and codes == set()


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
    _, codes, _ = graded(problem, {"value": raw.mean(axis=1).sum(),
                                   "per_sample": raw.mean(axis=1), "gradient": grad})
    assert codes == {("hinge_labels_01", c) for c in ("value", "per_sample", "gradient")}
    ys = 2 * y - 1
    right = np.maximum(0.0, 1.0 - ys * s)
    ok, codes, _ = graded(problem, {"value": right.mean(axis=1).sum(),
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
    _, codes, _ = graded(problem, {"value": raw.sum(), "per_sample": raw.mean(axis=1),
                                   "gradient": -y * (1.0 - y * s > 0)})
    assert codes == {("hinge_labels_01", c) for c in ("value", "per_sample", "gradient")}
    ys = 2 * y - 1
    right = np.maximum(0.0, 1.0 - ys * s)
    ok, codes, _ = graded(problem, {"value": right.sum(), "per_sample": right.mean(axis=1),
                                    "gradient": -ys * (1.0 - ys * s > 0)})
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
    _, codes, _ = graded(problem, {"value": swapped.mean(), "per_sample": swapped.mean(axis=1)})
    assert codes == {("focal_alpha_swapped", "value"), ("focal_alpha_swapped", "per_sample")}
    right = (0.25 * t + 0.75 * (1 - t)) * (1 - p_t) ** 2 * bce
    ok, codes, _ = graded(problem, {"value": right.mean()})
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
    _, codes, _ = graded(problem, {"value": swapped.mean()})
    assert codes == {("focal_alpha_swapped", "value")}
