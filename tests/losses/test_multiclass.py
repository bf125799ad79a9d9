"""cross_entropy and nll (service/losses/multiclass.py) against the PyTorch oracle (torch 2.13.0,
float64): index and probability targets over every shape, class weights, ignore_index and label
smoothing; stability at logits of +-1000, every error code, the array-API paths, the seeds'
worked examples and the aliases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, to_np, to_xp, torch_oracle
from tests.losses.multiclass_support import C, W, class_targets
from tests.losses.support import REDUCTIONS, check_oracle, loss_error, rng_for


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ----------------------------------------------------------------------------- cross_entropy

SHAPES = [(4,), (6, 4), (3, 4, 5), (2, 4, 2, 3)]  # (C,), (N, C), (N, C, d1), (N, C, d1, d2)
CE_INDEX_CASES = [
    ({}, None, 0.0),
    ({"weight": W}, None, 0.0),
    ({"ignore_index": -100}, -100, 0.4),
    ({"ignore_index": 1}, 1, 0.0),  # an in-range ignore_index: class 1 targets are ignored
    ({"label_smoothing": 0.3}, None, 0.0),
    ({"weight": W, "label_smoothing": 0.25, "ignore_index": -7}, -7, 0.3),
    ({"weight": W, "label_smoothing": 1.0}, None, 0.0),
]


def _ce(reduction, params):
    import torch
    import torch.nn.functional as F

    w = params.get("weight")

    def fn(predictions, targets):
        return F.cross_entropy(
            predictions, targets, reduction=reduction,
            weight=None if w is None else torch.tensor(w, dtype=torch.float64),
            ignore_index=params.get("ignore_index", -100),
            label_smoothing=params.get("label_smoothing", 0.0))
    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("params", "ignore", "frac"), CE_INDEX_CASES)
def test_cross_entropy_index_targets_match_torch(params, ignore, frac, shape, reduction):
    rng = rng_for("ce", shape, reduction, repr(params))
    x = rng.normal(size=shape) * 3
    t = class_targets(rng, shape, C, ignore, frac)
    r = check_oracle("cross_entropy", {"predictions": x, "targets": t}, params, reduction,
                     _ce(reduction, params))
    assert to_np(r.value).shape == (t.shape if reduction == "none" else ())


CE_PROB_CASES = [{}, {"weight": W}, {"label_smoothing": 0.2}, {"weight": W, "label_smoothing": 0.6},
                 {"ignore_index": -1}]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("params", CE_PROB_CASES)
def test_cross_entropy_probability_targets_match_torch(params, shape, reduction):
    rng = rng_for("ce-prob", shape, reduction, repr(params))
    x = rng.normal(size=shape) * 3
    axis = 0 if len(shape) == 1 else 1
    t = _softmax(rng.normal(size=shape) * 2, axis)
    if len(shape) > 1:  # one-hot rows (class 1) for sample 0: zero targets must not give NaN
        t[0] = 0.0
        t[0, 1] = 1.0
    check_oracle("cross_entropy", {"predictions": x, "targets": t}, params, reduction,
                 _ce(reduction, params))


def test_cross_entropy_integer_rows_of_input_shape_are_one_hot_probabilities():
    # torch refuses integer targets of the input's shape; we read them as one-hot rows, which
    # gives exactly the index-target result (no weights: the means agree too)
    rng = rng_for("onehot")
    x = rng.normal(size=(5, 4))
    y = rng.integers(0, 4, size=5)
    onehot = np.eye(4, dtype=np.int64)[y]
    for red in REDUCTIONS:
        a = evaluate("cross_entropy", {"predictions": x, "targets": onehot}, reduction=red,
                     want_grad=True)
        b = evaluate("cross_entropy", {"predictions": x, "targets": y}, reduction=red,
                     want_grad=True)
        assert_close(a.value, b.value, rtol=1e-14)
        assert_close(a.gradients["predictions"], b.gradients["predictions"], rtol=1e-14,
                     atol=1e-16)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_stable_at_logits_1000(reduction):
    x = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0], [0.0, -1000.0, 1000.0]])
    for t, params in (
        (np.array([2, 1, 1]), {}),
        (np.array([2, 1, 1]), {"label_smoothing": 0.1, "weight": [1.0, 2.0, 0.5]}),
        (np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]]), {}),
    ):
        r = check_oracle("cross_entropy", {"predictions": x, "targets": t}, params, reduction,
                         _ce(reduction, params))
        assert np.all(np.isfinite(to_np(r.value)))
        assert np.all(np.isfinite(to_np(r.gradients["predictions"])))
    # exact values: logsumexp subtracts the max first
    r = evaluate("cross_entropy", {"predictions": x, "targets": [2, 1, 1]}, reduction="none")
    assert to_np(r.value).tolist() == [2000.0, 0.0, 2000.0]


def test_cross_entropy_weighted_mean_with_sample_weight():
    # mean = sum(s_n l_n) / sum(s_n w_{y_n} [y_n != ignore]) (see service/losses/reduce.py)
    rng = rng_for("ce-sw")
    x = rng.normal(size=(6, 4))
    t = class_targets(rng, (6, 4), 4, -100, 0.3)
    params = {"weight": W}
    none, _ = torch_oracle(_ce("none", params), {"predictions": x, "targets": t}, (), "none")
    s = rng.uniform(0.5, 2.0, size=6)
    m = np.where(t == -100, 0.0, np.asarray(W)[np.where(t == -100, 0, t)])
    r = evaluate("cross_entropy", {"predictions": x, "targets": t}, params, sample_weight=s)
    assert_close(r.value, (s * none).sum() / (s * m).sum())


def test_cross_entropy_all_ignored():
    x, t = np.zeros((2, 3)), np.array([-100, -100])
    err = loss_error("cross_entropy", {"predictions": x, "targets": t})
    assert err.code == "undefined_mean" and err.loc == ("reduction",)
    r = evaluate("cross_entropy", {"predictions": x, "targets": t}, reduction="sum",
                 want_grad=True)
    assert float(to_np(r.value)) == 0.0 and not np.any(to_np(r.gradients["predictions"]))


def test_cross_entropy_errors():
    x = np.zeros((3, 3))
    e = loss_error("cross_entropy", {"predictions": x, "targets": [[1.2, -0.2, 0.0]] * 3})
    assert e.code == "probability_out_of_range" and e.loc == ("targets", 0, 0)
    e = loss_error("cross_entropy", {"predictions": x,
                                     "targets": [[1.0, 0, 0], [0.5, 0.4, 0.0], [0, 0, 0.5]]})
    assert e.code == "probability_rows_not_normalized" and e.loc == ("targets", 1)
    xk = np.zeros((2, 3, 4))
    tk = np.zeros((2, 3, 4))
    tk[:, 0, :] = 1.0
    tk[1, :, 2] = [0.3, 0.3, 0.3]  # row (n=1, d1=2) sums to 0.9
    e = loss_error("cross_entropy", {"predictions": xk, "targets": tk})
    assert e.code == "probability_rows_not_normalized" and e.loc == ("targets", 1, 2)
    e = loss_error("cross_entropy", {"predictions": [0.0, 1.0], "targets": [0.5, 0.6]})
    assert e.code == "probability_rows_not_normalized" and e.loc == ("targets",)
    e = loss_error("cross_entropy", {"predictions": x, "targets": [[1.0, 0, 0]] * 3},
                   {"ignore_index": 0})
    assert e.code == "invalid_param" and e.loc == ("params", "ignore_index")
    e = loss_error("cross_entropy", {"predictions": x, "targets": [0.0, 1.0, 2.0]})
    assert e.code == "invalid_dtype" and e.loc == ("targets",)
    e = loss_error("cross_entropy", {"predictions": np.zeros((4, 3)), "targets": [0, 1, 2]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    e = loss_error("cross_entropy", {"predictions": x, "targets": [0, 3, 1]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 1)
    e = loss_error("cross_entropy", {"predictions": x, "targets": [0, 1, -1]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 2)
    e = loss_error("cross_entropy", {"predictions": xk, "targets": [[0, 1, 2, 0], [0, 0, 0, 5]]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 1, 3)
    e = loss_error("cross_entropy", {"predictions": [0.0, 1.0], "targets": 2})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets",)
    e = loss_error("cross_entropy", {"predictions": 1.0, "targets": 0})
    assert e.code == "invalid_shape" and e.loc == ("predictions",)
    e = loss_error("cross_entropy", {"predictions": x, "targets": [0, 1, 2]},
                   {"weight": [1.0, 2.0]})
    assert e.code == "invalid_param" and e.loc == ("params", "weight")
    e = loss_error("cross_entropy", {"predictions": x, "targets": [0, 1, 2]},
                   {"weight": [1.0, -2.0, 1.0]})
    assert e.code == "invalid_param" and e.loc == ("params", "weight", 1)
    e = loss_error("cross_entropy", {"predictions": x, "targets": [0, 1, 2]},
                   {"label_smoothing": 1.5})
    assert e.code == "invalid_param" and e.loc == ("params", "label_smoothing")


def test_cross_entropy_row_sum_tolerance_depends_on_dtype():
    x = np.zeros((2, 3))
    off = {"predictions": x, "targets": [[0.5, 0.5 + 1e-5, 0.0], [0.0, 0.0, 1.0]]}
    assert loss_error("cross_entropy", off).code == "probability_rows_not_normalized"
    assert np.isfinite(to_np(evaluate("cross_entropy", off, dtype="float32").value))
    close = {"predictions": x, "targets": [[0.5, 0.5 + 1e-12, 0.0], [0.1, 0.2, 0.7]]}
    assert np.isfinite(to_np(evaluate("cross_entropy", close).value))


def test_cross_entropy_array_api_strict_paths(xp):
    # probability, K-dim and unbatched paths on both namespaces (the registry test covers (N, C))
    rng = rng_for("strict")
    x = rng.normal(size=(2, 3, 4))
    cases = [
        ({"predictions": x, "targets": _softmax(rng.normal(size=(2, 3, 4)), 1)},
         {"label_smoothing": 0.1, "weight": [1.0, 2.0, 3.0]}),
        ({"predictions": x, "targets": class_targets(rng, (2, 3, 4), 3, -100, 0.3)},
         {"weight": [1.0, 2.0, 3.0], "label_smoothing": 0.2}),
        ({"predictions": x[0, :, 0], "targets": np.array(2)}, {}),
    ]
    for inputs, params in cases:
        for red in REDUCTIONS:
            ref = evaluate("cross_entropy", inputs, params, reduction=red, want_grad=True)
            got = evaluate("cross_entropy", {k: to_xp(xp, v) for k, v in inputs.items()},
                           params, reduction=red, want_grad=True)
            assert_close(got.value, ref.value, rtol=1e-13)
            assert_close(got.gradients["predictions"], ref.gradients["predictions"], rtol=1e-13)


# ----------------------------------------------------------------------------- nll


NLL_CASES = [({}, None, 0.0), ({"weight": W}, None, 0.0), ({"ignore_index": -100}, -100, 0.4),
             ({"weight": W, "ignore_index": 2}, 2, 0.0)]


def _nll(reduction, params):
    import torch
    import torch.nn.functional as F

    w = params.get("weight")
    return lambda predictions, targets: F.nll_loss(
        predictions, targets, reduction=reduction, ignore_index=params.get("ignore_index", -100),
        weight=None if w is None else torch.tensor(w, dtype=torch.float64))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("params", "ignore", "frac"), NLL_CASES)
def test_nll_matches_torch(params, ignore, frac, shape, reduction):
    rng = rng_for("nll", shape, reduction, repr(params))
    axis = 0 if len(shape) == 1 else 1
    logp = np.log(_softmax(rng.normal(size=shape) * 2, axis))
    t = class_targets(rng, shape, C, ignore, frac)
    check_oracle("nll", {"predictions": logp, "targets": t}, params, reduction,
                 _nll(reduction, params))


def test_nll_of_log_softmax_is_cross_entropy():
    rng = rng_for("nll-ce")
    x = rng.normal(size=(5, 4, 3))
    t = class_targets(rng, x.shape, 4, -100, 0.3)
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    for red in REDUCTIONS:
        a = evaluate("nll", {"predictions": logp, "targets": t}, {"weight": W}, reduction=red)
        b = evaluate("cross_entropy", {"predictions": x, "targets": t}, {"weight": W},
                     reduction=red)
        assert_close(a.value, b.value, rtol=1e-12)


def test_nll_errors():
    e = loss_error("nll", {"predictions": [[-0.1, -2.0, -3.0], [-1.0, -0.5, 0.25]],
                           "targets": [0, 1]})
    assert e.code == "invalid_value" and e.loc == ("predictions", 1, 2)
    # 0 is log 1, a valid log-probability
    r = evaluate("nll", {"predictions": [[0.0, -50.0]], "targets": [0]})
    assert float(to_np(r.value)) == 0.0
    e = loss_error("nll", {"predictions": [[-0.1, -2.0]], "targets": [0.0]})
    assert e.code == "invalid_dtype" and e.loc == ("targets",)
    e = loss_error("nll", {"predictions": [[-0.1, -2.0]], "targets": [2]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 0)
    e = loss_error("nll", {"predictions": [[-0.1, -2.0]], "targets": [[0]]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)


# ----------------------------------------------------------------------------- seeds, aliases


def test_seed_003_softmax_loss():
    # seed 003: scores [3.2, 5.1, -1.7], label cat: L = -ln(0.13) = 2.04
    scores = [3.2, 5.1, -1.7]
    for inputs in ({"predictions": [scores], "targets": [0]},
                   {"predictions": scores, "targets": 0}):
        value = float(to_np(evaluate("softmax_cross_entropy", inputs).value))
        assert round(value, 2) == 2.04 == round(-math.log(0.13), 2)
        assert_close(value, math.log(sum(math.exp(s) for s in scores)) - 3.2, rtol=1e-14)


def test_seed_003_loss_at_initialization_is_log_c():
    # seed 003: "at initialization all s will be approximately equal": loss = log C, log 10 = 2.3
    x = np.full((4, 10), 0.37)
    r = evaluate("cross_entropy", {"predictions": x, "targets": [0, 3, 9, 5]})
    assert round(float(to_np(r.value)), 1) == 2.3
    assert_close(r.value, math.log(10), rtol=1e-15)


def test_seed_004_softmax_probabilities_and_gradient():
    # seed 004: scores [5, 4, 2], correct class 0: probabilities [0.71, 0.26, 0.03] and gradient
    # df = [-0.29, 0.26, 0.03]. The exact third probability is 0.0351 (rounds to 0.04), hence the
    # 0.01 absolute tolerance for the seed's two-decimal numbers.
    r = evaluate("cross_entropy", {"predictions": [[5.0, 4.0, 2.0]], "targets": [0]},
                 reduction="sum", want_grad=True)
    g = to_np(r.gradients["predictions"])[0]
    p = g + np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(p, [0.71, 0.26, 0.03], atol=0.01)
    np.testing.assert_allclose(g, [-0.29, 0.26, 0.03], atol=0.01)
    e = np.exp([5.0, 4.0, 2.0])
    assert_close(g, e / e.sum() - np.array([1.0, 0.0, 0.0]), rtol=1e-14, atol=1e-16)
    assert_close(r.value, -math.log(e[0] / e.sum()), rtol=1e-14)


def test_seed_002_categorical_cross_entropy():
    # seed 002: probabilities (.8, 0, 0, .2, 0), target class 0: CE = -ln 0.8 = 0.22. log 0 is
    # replaced by -1e4 (inputs must be finite); e^-1e4 underflows to 0, so nothing changes.
    logp = [math.log(0.8), -1e4, -1e4, math.log(0.2), -1e4]
    a = float(to_np(evaluate("negative_log_likelihood",
                             {"predictions": [logp], "targets": [0]}).value))
    assert round(a, 2) == 0.22
    assert_close(a, -math.log(0.8), rtol=1e-15)
    for target in ([[1, 0, 0, 0, 0]], [[1.0, 0.0, 0.0, 0.0, 0.0]]):
        b = float(to_np(evaluate("categorical_cross_entropy",
                                 {"predictions": [logp], "targets": target}).value))
        assert round(b, 2) == 0.22
        assert_close(b, -math.log(0.8), rtol=1e-12)


def test_aliases():
    x = {"predictions": [[1.0, 0.0]], "targets": [0]}
    for alias in ("categorical_cross_entropy", "softmax_cross_entropy",
                  "sparse_categorical_cross_entropy"):
        assert evaluate(alias, x).loss == "cross_entropy"
    assert evaluate("negative_log_likelihood", {"predictions": [[-0.1, -2.4]], "targets": [0]}
                    ).loss == "nll"
    assert evaluate("svm", x).loss == "multiclass_hinge"
    assert evaluate("multiclass-svm", x).loss == "multiclass_hinge"
