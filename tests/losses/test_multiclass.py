"""Multiclass losses: PyTorch oracle (torch 2.13.0, float64), independent torch-ops references with
autograd for the losses torch lacks, stability, kinks, every error code, and the seeds' examples."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, to_np, to_xp, torch_oracle

REDUCTIONS = ["none", "mean", "sum"]


def _rng(*key) -> np.random.Generator:
    """A generator seeded from ``key`` (crc32: stable across runs, unlike ``hash``)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _index_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return () if len(shape) == 1 else (shape[0], *shape[2:])


def _targets(rng, shape, c, ignore=None, frac=0.0) -> np.ndarray:
    """Class indices for predictions of ``shape``, a fraction set to ``ignore``, one kept valid."""
    t = np.asarray(rng.integers(0, c, size=_index_shape(shape)), dtype=np.int64)
    if ignore is not None:
        if t.ndim:
            t[rng.random(t.shape) < frac] = ignore
        t.reshape(-1)[0] = 0 if ignore != 0 else 1  # at least one target counts in the mean
    return t


def _error(name, inputs, params=None, **kw) -> LossError:
    with pytest.raises(LossError) as exc:
        evaluate(name, inputs, params, **kw)
    return exc.value


def _check(name, inputs, params, reduction, torch_fn, wrt=("predictions",), rtol=1e-10):
    value, grads = torch_oracle(torch_fn, inputs, wrt, reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=bool(wrt))
    assert_close(r.value, value, rtol=rtol)
    for k in wrt:
        assert_close(r.gradients[k], grads[k], rtol=rtol)
    return r


# ----------------------------------------------------------------------------- cross_entropy

SHAPES = [(4,), (6, 4), (3, 4, 5), (2, 4, 2, 3)]  # (C,), (N, C), (N, C, d1), (N, C, d1, d2)
C = 4
W = [0.5, 2.0, 1.0, 0.25]
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
    rng = _rng("ce", shape, reduction, repr(params))
    x = rng.normal(size=shape) * 3
    t = _targets(rng, shape, C, ignore, frac)
    r = _check("cross_entropy", {"predictions": x, "targets": t}, params, reduction,
               _ce(reduction, params))
    assert to_np(r.value).shape == (t.shape if reduction == "none" else ())


CE_PROB_CASES = [{}, {"weight": W}, {"label_smoothing": 0.2}, {"weight": W, "label_smoothing": 0.6},
                 {"ignore_index": -1}]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("params", CE_PROB_CASES)
def test_cross_entropy_probability_targets_match_torch(params, shape, reduction):
    rng = _rng("ce-prob", shape, reduction, repr(params))
    x = rng.normal(size=shape) * 3
    axis = 0 if len(shape) == 1 else 1
    t = _softmax(rng.normal(size=shape) * 2, axis)
    if len(shape) > 1:  # one-hot rows (class 1) for sample 0: zero targets must not give NaN
        t[0] = 0.0
        t[0, 1] = 1.0
    _check("cross_entropy", {"predictions": x, "targets": t}, params, reduction,
           _ce(reduction, params))


def test_cross_entropy_integer_rows_of_input_shape_are_one_hot_probabilities():
    # torch refuses integer targets of the input's shape; we read them as one-hot rows, which
    # gives exactly the index-target result (no weights: the means agree too)
    rng = _rng("onehot")
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
        r = _check("cross_entropy", {"predictions": x, "targets": t}, params, reduction,
                   _ce(reduction, params))
        assert np.all(np.isfinite(to_np(r.value)))
        assert np.all(np.isfinite(to_np(r.gradients["predictions"])))
    # exact values: logsumexp subtracts the max first
    r = evaluate("cross_entropy", {"predictions": x, "targets": [2, 1, 1]}, reduction="none")
    assert to_np(r.value).tolist() == [2000.0, 0.0, 2000.0]


def test_cross_entropy_weighted_mean_with_sample_weight():
    # mean = sum(s_n l_n) / sum(s_n w_{y_n} [y_n != ignore]) (see service/losses/reduce.py)
    rng = _rng("ce-sw")
    x = rng.normal(size=(6, 4))
    t = _targets(rng, (6, 4), 4, -100, 0.3)
    params = {"weight": W}
    none, _ = torch_oracle(_ce("none", params), {"predictions": x, "targets": t}, (), "none")
    s = rng.uniform(0.5, 2.0, size=6)
    m = np.where(t == -100, 0.0, np.asarray(W)[np.where(t == -100, 0, t)])
    r = evaluate("cross_entropy", {"predictions": x, "targets": t}, params, sample_weight=s)
    assert_close(r.value, (s * none).sum() / (s * m).sum())


def test_cross_entropy_all_ignored():
    x, t = np.zeros((2, 3)), np.array([-100, -100])
    err = _error("cross_entropy", {"predictions": x, "targets": t})
    assert err.code == "undefined_mean" and err.loc == ("reduction",)
    r = evaluate("cross_entropy", {"predictions": x, "targets": t}, reduction="sum",
                 want_grad=True)
    assert float(to_np(r.value)) == 0.0 and not np.any(to_np(r.gradients["predictions"]))


def test_cross_entropy_errors():
    x = np.zeros((3, 3))
    e = _error("cross_entropy", {"predictions": x, "targets": [[1.2, -0.2, 0.0]] * 3})
    assert e.code == "probability_out_of_range" and e.loc == ("targets", 0, 0)
    e = _error("cross_entropy", {"predictions": x,
                                 "targets": [[1.0, 0, 0], [0.5, 0.4, 0.0], [0, 0, 0.5]]})
    assert e.code == "probability_rows_not_normalized" and e.loc == ("targets", 1)
    xk = np.zeros((2, 3, 4))
    tk = np.zeros((2, 3, 4))
    tk[:, 0, :] = 1.0
    tk[1, :, 2] = [0.3, 0.3, 0.3]  # row (n=1, d1=2) sums to 0.9
    e = _error("cross_entropy", {"predictions": xk, "targets": tk})
    assert e.code == "probability_rows_not_normalized" and e.loc == ("targets", 1, 2)
    e = _error("cross_entropy", {"predictions": [0.0, 1.0], "targets": [0.5, 0.6]})
    assert e.code == "probability_rows_not_normalized" and e.loc == ("targets",)
    e = _error("cross_entropy", {"predictions": x, "targets": [[1.0, 0, 0]] * 3},
               {"ignore_index": 0})
    assert e.code == "invalid_param" and e.loc == ("params", "ignore_index")
    e = _error("cross_entropy", {"predictions": x, "targets": [0.0, 1.0, 2.0]})
    assert e.code == "invalid_dtype" and e.loc == ("targets",)
    e = _error("cross_entropy", {"predictions": np.zeros((4, 3)), "targets": [0, 1, 2]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    e = _error("cross_entropy", {"predictions": x, "targets": [0, 3, 1]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 1)
    e = _error("cross_entropy", {"predictions": x, "targets": [0, 1, -1]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 2)
    e = _error("cross_entropy", {"predictions": xk, "targets": [[0, 1, 2, 0], [0, 0, 0, 5]]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 1, 3)
    e = _error("cross_entropy", {"predictions": [0.0, 1.0], "targets": 2})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets",)
    e = _error("cross_entropy", {"predictions": 1.0, "targets": 0})
    assert e.code == "invalid_shape" and e.loc == ("predictions",)
    e = _error("cross_entropy", {"predictions": x, "targets": [0, 1, 2]}, {"weight": [1.0, 2.0]})
    assert e.code == "invalid_param" and e.loc == ("params", "weight")
    e = _error("cross_entropy", {"predictions": x, "targets": [0, 1, 2]},
               {"weight": [1.0, -2.0, 1.0]})
    assert e.code == "invalid_param" and e.loc == ("params", "weight", 1)
    e = _error("cross_entropy", {"predictions": x, "targets": [0, 1, 2]},
               {"label_smoothing": 1.5})
    assert e.code == "invalid_param" and e.loc == ("params", "label_smoothing")


def test_cross_entropy_row_sum_tolerance_depends_on_dtype():
    x = np.zeros((2, 3))
    off = {"predictions": x, "targets": [[0.5, 0.5 + 1e-5, 0.0], [0.0, 0.0, 1.0]]}
    assert _error("cross_entropy", off).code == "probability_rows_not_normalized"
    assert np.isfinite(to_np(evaluate("cross_entropy", off, dtype="float32").value))
    close = {"predictions": x, "targets": [[0.5, 0.5 + 1e-12, 0.0], [0.1, 0.2, 0.7]]}
    assert np.isfinite(to_np(evaluate("cross_entropy", close).value))


def test_cross_entropy_array_api_strict_paths(xp):
    # probability, K-dim and unbatched paths on both namespaces (the registry test covers (N, C))
    rng = _rng("strict")
    x = rng.normal(size=(2, 3, 4))
    cases = [
        ({"predictions": x, "targets": _softmax(rng.normal(size=(2, 3, 4)), 1)},
         {"label_smoothing": 0.1, "weight": [1.0, 2.0, 3.0]}),
        ({"predictions": x, "targets": _targets(rng, (2, 3, 4), 3, -100, 0.3)},
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
    rng = _rng("nll", shape, reduction, repr(params))
    axis = 0 if len(shape) == 1 else 1
    logp = np.log(_softmax(rng.normal(size=shape) * 2, axis))
    t = _targets(rng, shape, C, ignore, frac)
    _check("nll", {"predictions": logp, "targets": t}, params, reduction, _nll(reduction, params))


def test_nll_of_log_softmax_is_cross_entropy():
    rng = _rng("nll-ce")
    x = rng.normal(size=(5, 4, 3))
    t = _targets(rng, x.shape, 4, -100, 0.3)
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    for red in REDUCTIONS:
        a = evaluate("nll", {"predictions": logp, "targets": t}, {"weight": W}, reduction=red)
        b = evaluate("cross_entropy", {"predictions": x, "targets": t}, {"weight": W},
                     reduction=red)
        assert_close(a.value, b.value, rtol=1e-12)


def test_nll_errors():
    e = _error("nll", {"predictions": [[-0.1, -2.0, -3.0], [-1.0, -0.5, 0.25]],
                       "targets": [0, 1]})
    assert e.code == "invalid_value" and e.loc == ("predictions", 1, 2)
    # 0 is log 1, a valid log-probability
    r = evaluate("nll", {"predictions": [[0.0, -50.0]], "targets": [0]})
    assert float(to_np(r.value)) == 0.0
    e = _error("nll", {"predictions": [[-0.1, -2.0]], "targets": [0.0]})
    assert e.code == "invalid_dtype" and e.loc == ("targets",)
    e = _error("nll", {"predictions": [[-0.1, -2.0]], "targets": [2]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 0)
    e = _error("nll", {"predictions": [[-0.1, -2.0]], "targets": [[0]]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)


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
    rng = _rng("mm", shape, reduction, repr(params))
    x = rng.normal(size=shape)
    t = _targets(rng, shape, C)
    _check("multi_margin", {"predictions": x, "targets": t}, params, reduction,
           _mm(reduction, params))


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_kink_is_strict(p):
    # z = margin - x_y + x_j is exactly 0 for (0, 1) and (1, 2): those terms give gradient 0
    x = np.array([[1.0, 0.0, 0.5], [0.25, 1.5, 0.5]])
    t = np.array([0, 1])
    r = _check("multi_margin", {"predictions": x, "targets": t}, {"p": p}, "sum",
               _mm("sum", {"p": p}))
    expected = {1: [[-1 / 3, 0.0, 1 / 3], [0.0, 0.0, 0.0]],
                2: [[-1 / 3, 0.0, 1 / 3], [0.0, 0.0, 0.0]]}[p]  # p=2: 2*0.5/3 = 1/3 at (0, 2)
    assert_close(r.gradients["predictions"], expected)


def test_multi_margin_errors():
    e = _error("multi_margin", {"predictions": np.zeros((2, 3, 2)), "targets": [[0, 0], [1, 1]]})
    assert e.code == "invalid_shape" and e.loc == ("predictions",)
    e = _error("multi_margin", {"predictions": np.zeros((2, 3)), "targets": [0, 3]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 1)
    e = _error("multi_margin", {"predictions": np.zeros((2, 3)), "targets": [0, 1]}, {"p": 3})
    assert e.code == "invalid_param" and e.loc == ("params", "p")
    e = _error("multi_margin", {"predictions": np.zeros((2, 3)), "targets": [0, 1]},
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
    rng = _rng("hinge", shape, reduction, margin, p)
    x = rng.normal(size=shape)
    t = _targets(rng, shape, shape[-1])
    inputs = {"predictions": x, "targets": t}
    params = {"margin": margin, "p": p}
    r = _check("multiclass_hinge", inputs, params, reduction, _hinge_ref(reduction, margin, p))
    value, grads = torch_oracle(_mm(reduction, params), inputs, ("predictions",), reduction)
    c = shape[-1]
    assert_close(r.value, c * value)
    assert_close(r.gradients["predictions"], c * grads["predictions"])


def test_multiclass_hinge_kink_matches_relu_reference():
    x = np.array([[1.0, 0.0, 0.5], [0.25, 1.5, 0.5], [2.0, 1.0, 1.0]])  # z = 0 for 3 terms
    t = np.array([0, 1, 0])
    r = _check("multiclass_hinge", {"predictions": x, "targets": t}, {}, "sum",
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
    e = _error("multiclass_hinge", {"predictions": [[0.0, 1.0]], "targets": [0]},
               {"margin": -1.0})
    assert e.code == "invalid_param" and e.loc == ("params", "margin")
    e = _error("multiclass_hinge", {"predictions": [[0.0, 1.0]], "targets": [0, 1]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)


# ----------------------------------------------------------------------------- focal


def _focal_ref(reduction, gamma, alpha):
    """Lin et al. (2017), softmax form: -alpha_t (1 - p_t)^gamma log p_t, with torch ops."""
    import torch
    import torch.nn.functional as F

    def fn(predictions, targets):
        logp = F.log_softmax(predictions, dim=-1)
        log_pt = torch.gather(logp, -1, targets[..., None])[..., 0]
        if alpha is None:
            a = 1.0
        elif isinstance(alpha, float):
            a = alpha
        else:
            a = torch.tensor(alpha, dtype=torch.float64)[targets]
        loss = -a * (1 - log_pt.exp()) ** gamma * log_pt
        return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]
    return fn


FOCAL_CASES = [(2.0, None), (0.0, None), (0.5, 0.25), (3.7, W), (1.0, W)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4,), (9, 4)])
@pytest.mark.parametrize(("gamma", "alpha"), FOCAL_CASES)
def test_focal_matches_reference(gamma, alpha, shape, reduction):
    rng = _rng("focal", shape, reduction, gamma, repr(alpha))
    x = rng.normal(size=shape) * 3
    t = _targets(rng, shape, C)
    params = {"gamma": gamma, "alpha": alpha}
    _check("focal", {"predictions": x, "targets": t}, params, reduction,
           _focal_ref(reduction, gamma, alpha))


def test_focal_gamma_0_is_cross_entropy():
    rng = _rng("focal-ce")
    x, t = rng.normal(size=(6, 4)) * 2, rng.integers(0, 4, size=6)
    inputs = {"predictions": x, "targets": t}
    for red in REDUCTIONS:
        a = evaluate("focal", inputs, {"gamma": 0.0}, reduction=red, want_grad=True)
        b = evaluate("cross_entropy", inputs, reduction=red, want_grad=True)
        assert_close(a.value, b.value, rtol=1e-13)
        assert_close(a.gradients["predictions"], b.gradients["predictions"], rtol=1e-12,
                     atol=1e-15)
    # per-class alpha = class weights, unreduced (torch's weighted mean divides by sum w_y)
    a = evaluate("focal", inputs, {"gamma": 0.0, "alpha": W}, reduction="none")
    b = evaluate("cross_entropy", inputs, {"weight": W}, reduction="none")
    assert_close(a.value, b.value, rtol=1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_stable_at_logits_1000(reduction):
    x = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0], [0.0, -1000.0, 1000.0]])
    t = np.array([2, 1, 1])
    r = _check("focal", {"predictions": x, "targets": t}, {"gamma": 2.0, "alpha": 0.5},
               reduction, _focal_ref(reduction, 2.0, 0.5))
    assert np.all(np.isfinite(to_np(r.gradients["predictions"])))


@pytest.mark.parametrize("gamma", [0.0, 0.3, 0.5, 0.99])
def test_focal_no_nan_when_p_t_is_1(gamma):
    # Row 1: p_t == 1 exactly (1 - p_t = 0), where (1-p_t)^(gamma-1) would be inf; the limit is
    # used, giving loss 0 and gradient 0. Row 2: 1 - p_t = 2e/(1+2e), e = e^-30, compared with the
    # closed form evaluated in Python (log1p, no cancellation) and with the torch-ops reference.
    x = np.array([[1000.0, -1000.0, 0.0], [30.0, 0.0, 0.0]])
    t = np.array([0, 0])
    r = evaluate("focal", {"predictions": x, "targets": t}, {"gamma": gamma}, reduction="none",
                 want_grad=True)
    g = to_np(r.gradients["predictions"])
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(to_np(r.value)))
    assert to_np(r.value)[0] == 0.0 and np.all(g[0] == 0.0)
    e = math.exp(-30.0)
    q, log_pt, p_j = 2 * e / (1 + 2 * e), -math.log1p(2 * e), e / (1 + 2 * e)
    bracket = q**gamma - gamma * q ** (gamma - 1) * (1 - q) * log_pt
    assert_close(to_np(r.value)[1], -(q**gamma) * log_pt, rtol=1e-12, atol=0)
    assert_close(g[1], [-q * bracket, p_j * bracket, p_j * bracket], rtol=1e-12, atol=0)
    value, _ = torch_oracle(_focal_ref("none", gamma, None),
                            {"predictions": x[1:], "targets": t[1:]}, ("predictions",), "none")
    assert_close(to_np(r.value)[1:], value, rtol=1e-6)


def test_focal_small_one_minus_p_t_is_accurate():
    # logits (20, 0), target 0: 1 - p_t = 1/(1+e^20), -log p_t = log1p(e^-20) (exact formulas)
    q = 1.0 / (1.0 + math.exp(20.0))
    expected = q**2 * math.log1p(math.exp(-20.0))
    r = evaluate("focal", {"predictions": [[20.0, 0.0]], "targets": [0]}, reduction="sum")
    assert_close(r.value, expected, rtol=1e-13, atol=0)


def test_focal_errors():
    inputs = {"predictions": [[0.0, 1.0, 2.0]], "targets": [0]}
    e = _error("focal", inputs, {"gamma": -1.0})
    assert e.code == "invalid_param" and e.loc == ("params", "gamma")
    e = _error("focal", inputs, {"alpha": [0.5, 0.5]})
    assert e.code == "invalid_param" and e.loc == ("params", "alpha")
    e = _error("focal", inputs, {"alpha": [0.5, -0.5, 1.0]})
    assert e.code == "invalid_param" and e.loc == ("params", "alpha", 1)
    e = _error("focal", {"predictions": np.zeros((1, 3, 2)), "targets": [[0, 0]]})
    assert e.code == "invalid_shape" and e.loc == ("predictions",)
    e = _error("focal", {"predictions": [[0.0, 1.0, 2.0]], "targets": [3]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 0)


def test_focal_array_api_strict_unbatched(xp):
    inputs = {"predictions": np.array([0.3, -1.0, 2.0]), "targets": np.array(1)}
    params = {"gamma": 0.5, "alpha": [0.2, 0.3, 0.5]}
    ref = evaluate("focal", inputs, params, reduction="sum", want_grad=True)
    got = evaluate("focal", {k: to_xp(xp, v) for k, v in inputs.items()}, params,
                   reduction="sum", want_grad=True)
    assert_close(got.value, ref.value, rtol=1e-13)
    assert_close(got.gradients["predictions"], ref.gradients["predictions"], rtol=1e-13)


# ----------------------------------------------------------------------------- zero_one


def _sklearn_zero_one(y_true, y_pred, normalize=True, sample_weight=None):
    """sklearn.metrics.zero_one_loss for multiclass labels, written out (1.9.1 source)."""
    correct = (np.asarray(y_true) == np.asarray(y_pred)).astype(float)
    w = np.ones(len(correct)) if sample_weight is None else np.asarray(sample_weight, float)
    score = np.average(correct, weights=w) if normalize else np.dot(correct, w)
    return 1.0 - score if normalize else w.sum() - score


def test_zero_one_matches_sklearn_formula():
    rng = _rng("zero-one")
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
    e = _error("zero_one", {"predictions": [0.0, 1.0], "targets": [0, 1]})
    assert e.code == "invalid_dtype" and e.loc == ("predictions",)
    e = _error("zero_one", {"predictions": [0, -1], "targets": [0, 1]})
    assert e.code == "class_index_out_of_range" and e.loc == ("predictions", 1)
    e = _error("zero_one", {"predictions": [0, 1], "targets": [0, -2]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 1)
    e = _error("zero_one", {"predictions": [[0.1, 0.9]], "targets": [2]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 0)
    e = _error("zero_one", {"predictions": [0, 1, 2], "targets": [0, 1]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    e = _error("zero_one", {"predictions": [[0.1, 0.9]], "targets": [0]}, want_grad=True)
    assert e.code == "not_differentiable"


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
