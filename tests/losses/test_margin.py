"""multi_margin, multiclass_hinge and zero_one (service/losses/margin.py): multi_margin against
the PyTorch oracle (torch 2.13.0, float64), multiclass_hinge against cs231n's formula written here
with torch ops (and C times torch's multi_margin_loss), zero_one against scikit-learn's
zero_one_loss written out; their strict kinks, ties, every error code and the seed's SVM example."""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, to_np, to_xp, torch_oracle
from tests.losses.multiclass_support import C, W, class_targets
from tests.losses.support import REDUCTIONS, check_oracle, loss_error, rng_for

# ----------------------------------------------------------------------------- multi_margin


MM_CASES = [{}, {"p": 2}, {"margin": 0.3}, {"margin": -0.5, "p": 2},
            {"weight": W}, {"weight": W, "p": 2, "margin": 2.0}]


def _mm(reduction, params):
    import torch
    import torch.nn.functional as F

    w = params.get("weight")
    return lambda predictions, targets: F.multi_margin_loss(
        predictions, targets, p=params.get("p", 1), margin=params.get("margin", 1.0),
        weight=None if w is None else torch.tensor(w, dtype=torch.float64), reduction=reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4,), (7, 4)])
@pytest.mark.parametrize("params", MM_CASES)
def test_multi_margin_matches_torch(params, shape, reduction):
    rng = rng_for("mm", shape, reduction, repr(params))
    x = rng.normal(size=shape)
    t = class_targets(rng, shape, C)
    check_oracle("multi_margin", {"predictions": x, "targets": t}, params, reduction,
                 _mm(reduction, params))


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_kink_is_strict(p):
    # z = margin - x_y + x_j is exactly 0 for (0, 1) and (1, 2): those terms give gradient 0
    x = np.array([[1.0, 0.0, 0.5], [0.25, 1.5, 0.5]])
    t = np.array([0, 1])
    r = check_oracle("multi_margin", {"predictions": x, "targets": t}, {"p": p}, "sum",
                     _mm("sum", {"p": p}))
    expected = {1: [[-1 / 3, 0.0, 1 / 3], [0.0, 0.0, 0.0]],
                2: [[-1 / 3, 0.0, 1 / 3], [0.0, 0.0, 0.0]]}[p]  # p=2: 2*0.5/3 = 1/3 at (0, 2)
    assert_close(r.gradients["predictions"], expected)


def test_multi_margin_errors():
    e = loss_error("multi_margin",
                   {"predictions": np.zeros((2, 3, 2)), "targets": [[0, 0], [1, 1]]})
    assert e.code == "invalid_shape" and e.loc == ("predictions",)
    e = loss_error("multi_margin", {"predictions": np.zeros((2, 3)), "targets": [0, 3]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 1)
    e = loss_error("multi_margin", {"predictions": np.zeros((2, 3)), "targets": [0, 1]}, {"p": 3})
    assert e.code == "invalid_param" and e.loc == ("params", "p")
    e = loss_error("multi_margin", {"predictions": np.zeros((2, 3)), "targets": [0, 1]},
                   {"weight": [1.0]})
    assert e.code == "invalid_param" and e.loc == ("params", "weight")


# ----------------------------------------------------------------------------- multiclass_hinge


def _hinge_ref(reduction, margin, p):
    """cs231n: L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + Delta)^p, written with torch ops.

    relu has derivative 0 at 0 in torch, which is the strict kink."""
    import torch
    import torch.nn.functional as F

    def fn(predictions, targets):
        s, y = predictions, targets
        if s.ndim == 1:
            s, y = s[None], y[None]
        sy = torch.gather(s, 1, y[:, None])
        z = torch.relu(s - sy + margin) ** p
        loss = (z * (1 - F.one_hot(y, s.shape[1]))).sum(1)
        loss = loss[0] if predictions.ndim == 1 else loss
        return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]
    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5,), (8, 5)])
@pytest.mark.parametrize(("margin", "p"), [(1.0, 1), (1.0, 2), (0.0, 1), (2.5, 2)])
def test_multiclass_hinge_matches_reference_and_c_times_torch(margin, p, shape, reduction):
    rng = rng_for("hinge", shape, reduction, margin, p)
    x = rng.normal(size=shape)
    t = class_targets(rng, shape, shape[-1])
    inputs = {"predictions": x, "targets": t}
    params = {"margin": margin, "p": p}
    r = check_oracle("multiclass_hinge", inputs, params, reduction,
                     _hinge_ref(reduction, margin, p))
    value, grads = torch_oracle(_mm(reduction, params), inputs, ("predictions",), reduction)
    c = shape[-1]
    assert_close(r.value, c * value)
    assert_close(r.gradients["predictions"], c * grads["predictions"])


def test_multiclass_hinge_kink_matches_relu_reference():
    x = np.array([[1.0, 0.0, 0.5], [0.25, 1.5, 0.5], [2.0, 1.0, 1.0]])  # z = 0 for 3 terms
    t = np.array([0, 1, 0])
    r = check_oracle("multiclass_hinge", {"predictions": x, "targets": t}, {}, "sum",
                     _hinge_ref("sum", 1.0, 1))
    assert to_np(r.gradients["predictions"]).tolist() == [[-1.0, 0.0, 1.0], [0.0, 0.0, 0.0],
                                                          [0.0, 0.0, 0.0]]


def test_seed_003_multiclass_svm():
    # seed 003 (cs231n): scores per sample for classes cat, car, frog; labels cat, car, frog
    scores = [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]]
    inputs = {"predictions": scores, "targets": [0, 1, 2]}
    none = to_np(evaluate("svm", inputs, reduction="none").value)
    assert [round(v, 1) for v in none] == [2.9, 0.0, 12.9]
    exact = [max(0.0, 5.1 - 3.2 + 1) + max(0.0, -1.7 - 3.2 + 1),
             max(0.0, 1.3 - 4.9 + 1) + max(0.0, 2.0 - 4.9 + 1),
             max(0.0, 2.2 + 3.1 + 1) + max(0.0, 2.5 + 3.1 + 1)]
    assert_close(none, exact, rtol=1e-14)
    mean = float(to_np(evaluate("multiclass_svm", inputs).value))
    assert round(mean, 2) == 5.27
    assert_close(mean, sum(exact) / 3, rtol=1e-14)


def test_multiclass_hinge_errors():
    e = loss_error("multiclass_hinge", {"predictions": [[0.0, 1.0]], "targets": [0]},
                   {"margin": -1.0})
    assert e.code == "invalid_param" and e.loc == ("params", "margin")
    e = loss_error("multiclass_hinge", {"predictions": [[0.0, 1.0]], "targets": [0, 1]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)


# ----------------------------------------------------------------------------- zero_one


def _sklearn_zero_one(y_true, y_pred, normalize=True, sample_weight=None):
    """sklearn.metrics.zero_one_loss for multiclass labels, written out (1.9.1 source)."""
    correct = (np.asarray(y_true) == np.asarray(y_pred)).astype(float)
    w = np.ones(len(correct)) if sample_weight is None else np.asarray(sample_weight, float)
    score = np.average(correct, weights=w) if normalize else np.dot(correct, w)
    return 1.0 - score if normalize else w.sum() - score


def test_zero_one_matches_sklearn_formula():
    rng = rng_for("zero-one")
    x = rng.normal(size=(40, 5))
    y = rng.integers(0, 5, size=40)
    y_pred = np.argmax(x, axis=1)
    s = rng.uniform(0.5, 2.0, size=40)
    for inputs in ({"predictions": x, "targets": y}, {"predictions": y_pred, "targets": y}):
        assert_close(evaluate("zero_one", inputs).value, _sklearn_zero_one(y, y_pred))
        assert_close(evaluate("zero_one", inputs, reduction="sum").value,
                     _sklearn_zero_one(y, y_pred, normalize=False))
        assert_close(evaluate("zero_one", inputs, sample_weight=s).value,
                     _sklearn_zero_one(y, y_pred, sample_weight=s))
        assert_close(evaluate("zero_one", inputs, reduction="sum", sample_weight=s).value,
                     _sklearn_zero_one(y, y_pred, normalize=False, sample_weight=s))
        assert to_np(evaluate("zero_one", inputs, reduction="none").value).tolist() == \
            (y_pred != y).astype(float).tolist()


def test_zero_one_ties_go_to_the_lowest_index(xp):
    x = to_xp(xp, np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.2, 0.4, 0.4]]))
    t = to_xp(xp, np.array([0, 1, 2]))
    r = evaluate("zero_one", {"predictions": x, "targets": t}, reduction="none")
    assert to_np(r.value).tolist() == [0.0, 1.0, 1.0]
    labels = evaluate("zero_one", {"predictions": to_xp(xp, np.array([0, 1, 1])), "targets": t},
                      reduction="none")
    assert to_np(labels.value).tolist() == [0.0, 0.0, 1.0]


def test_zero_one_dtype_and_errors():
    r = evaluate("zero_one", {"predictions": [[0.1, 0.9]], "targets": [0]}, dtype="float32")
    assert to_np(r.value).dtype == np.float32 and float(to_np(r.value)) == 1.0
    e = loss_error("zero_one", {"predictions": [0.0, 1.0], "targets": [0, 1]})
    assert e.code == "invalid_dtype" and e.loc == ("predictions",)
    e = loss_error("zero_one", {"predictions": [0, -1], "targets": [0, 1]})
    assert e.code == "class_index_out_of_range" and e.loc == ("predictions", 1)
    e = loss_error("zero_one", {"predictions": [0, 1], "targets": [0, -2]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 1)
    e = loss_error("zero_one", {"predictions": [[0.1, 0.9]], "targets": [2]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 0)
    e = loss_error("zero_one", {"predictions": [0, 1, 2], "targets": [0, 1]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    e = loss_error("zero_one", {"predictions": [[0.1, 0.9]], "targets": [0]}, want_grad=True)
    assert e.code == "not_differentiable"
