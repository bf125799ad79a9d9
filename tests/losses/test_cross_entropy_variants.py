"""binary_focal, categorical_focal, generalized_cross_entropy, poly1_cross_entropy and brier.

Oracles:
* Keras 3.15.1 and optax 0.2.8 golden values with ``jax.grad`` gradients (JAX, float64), recorded
  by ``tests/goldens/make_cross_entropy_variants.py`` into
  ``tests/goldens/cross_entropy_variants.json``. Keras's BinaryFocalCrossentropy ends in
  ``ops.mean``, which computes in float32 even for float64 inputs: its raw values are compared at
  1e-7, and the same call with that mean done in float64 (also recorded) at 1e-10.
* Independent references in torch 2.13.0 ops (the cited formulas) with autograd for gradients;
  ``torch.clamp`` passes the gradient at a bound and stops it beyond, the service's clip rule.
* scikit-learn 1.9.1 ``brier_score_loss`` live.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, to_np, torch_oracle

GOLDENS = json.loads(
    (Path(__file__).parents[1] / "goldens" / "cross_entropy_variants.json").read_text())
REDUCTIONS = ["none", "mean", "sum"]
EPS = 1e-7


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _reduce(loss, reduction):
    return loss if reduction == "none" else (loss.mean() if reduction == "mean" else loss.sum())


def _error(name, inputs, params=None) -> LossError:
    with pytest.raises(LossError) as exc:
        evaluate(name, inputs, params)
    return exc.value


def _check(name, inputs, params, reduction, torch_fn, rtol=1e-10):
    value, grads = torch_oracle(torch_fn, inputs, ("predictions",), reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=True)
    assert_close(r.value, value, rtol=rtol)
    assert_close(r.gradients["predictions"], grads["predictions"], rtol=rtol)
    return r


def _rows(rng, shape) -> np.ndarray:
    p = rng.uniform(0.05, 1.0, size=shape)
    return p / p.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------------------------------ goldens


def _case_id(case) -> str:
    return f"{case['loss']}-{json.dumps(case['params'], sort_keys=True)}-{case['note'][:15]}"


def _golden_inputs(case) -> dict:
    return dict(case["inputs"])


@pytest.mark.parametrize("case", GOLDENS["cases"], ids=_case_id)
def test_library_goldens(case):
    # Keras 3.15.1 / optax 0.2.8 on JAX (float64): tests/goldens/make_cross_entropy_variants.py
    r = evaluate(case["loss"], _golden_inputs(case), case["params"], reduction="none",
                 want_grad=True)
    if case["loss"] == "binary_focal":
        assert_close(r.value, case["unreduced"], rtol=1e-7)  # Keras's float32 mean
        assert_close(r.value, case["unreduced_float64_mean"])
    else:
        assert_close(r.value, case["unreduced"])
    assert_close(r.gradients["predictions"], case["grad_of_sum"])
    if "targets_as_indices" in case:  # the same one-hot targets sent as class indices
        inputs = {**case["inputs"], "targets": case["targets_as_indices"]}
        ri = evaluate(case["loss"], inputs, case["params"], reduction="none", want_grad=True)
        assert_close(ri.value, case["unreduced"])
        assert_close(ri.gradients["predictions"], case["grad_of_sum"])


def test_goldens_cover_every_loss():
    assert {c["loss"] for c in GOLDENS["cases"]} == {
        "binary_focal", "categorical_focal", "generalized_cross_entropy", "poly1_cross_entropy"}


def test_keras_documentation_examples():
    # keras.losses.binary_focal_crossentropy docstring (gamma=2): [0.330, 0.206]
    r = evaluate("binary_focal", {"predictions": [[0.6, 0.4], [0.4, 0.6]],
                                  "targets": [[0.0, 1.0], [0.0, 0.0]]}, {"gamma": 2.0})
    assert_close(r.per_sample, [0.330, 0.206], rtol=2e-3)
    # keras.losses.CategoricalFocalCrossentropy docstring: 0.23315276 (sum_over_batch_size)
    r = evaluate("categorical_focal", {"predictions": [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]],
                                       "targets": [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]})
    assert_close(r.value, 0.23315276, rtol=1e-7)


# -------------------------------------------------------------------------------- binary_focal


def _torch_binary_focal(params, reduction):
    import torch

    def fn(predictions, targets):
        ls = params.get("label_smoothing", 0.0)
        y = targets * (1.0 - ls) + 0.5 * ls
        p = torch.sigmoid(predictions) if params.get("from_logits") else predictions
        pc = torch.clamp(p, EPS, 1.0 - EPS)
        bce = -(y * torch.log(pc) + (1.0 - y) * torch.log(1.0 - pc))
        p_t = y * p + (1.0 - y) * (1.0 - p)
        loss = (1.0 - p_t) ** params.get("gamma", 2.0) * bce
        if params.get("apply_class_balancing"):
            a = params.get("alpha", 0.25)
            loss = (a * y + (1.0 - a) * (1.0 - y)) * loss
        return _reduce(loss, reduction)
    return fn


BF_PARAMS = [
    {},
    {"apply_class_balancing": True, "alpha": 0.6, "gamma": 1.5},
    {"gamma": 0.0, "label_smoothing": 0.3},
    {"gamma": 0.5},
    {"from_logits": True},
    {"from_logits": True, "apply_class_balancing": True, "gamma": 3.0, "label_smoothing": 0.1},
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (4, 3), (2, 3, 2)])
@pytest.mark.parametrize("params", BF_PARAMS, ids=lambda p: json.dumps(p, sort_keys=True))
def test_binary_focal_matches_torch_reference(params, shape, reduction):
    rng = _rng("bf", json.dumps(params, sort_keys=True), shape, reduction)
    if params.get("from_logits"):
        x = rng.normal(size=shape) * 3.0
    else:
        x = rng.uniform(0.01, 0.99, size=shape)
    t = rng.integers(0, 2, size=shape).astype(float)
    t.reshape(-1)[0] = 0.35  # a soft label
    _check("binary_focal", {"predictions": x, "targets": t}, params, reduction,
           _torch_binary_focal(params, reduction))


def test_binary_focal_clip_at_probabilities_0_and_1():
    # p = 0 or 1 is clipped to [1e-7, 1 - 1e-7]: the clipped BCE, and gradient 0 from it
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-9, 1.0 - 1e-9])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    r = _check("binary_focal", {"predictions": x, "targets": t}, {}, "none",
               _torch_binary_focal({}, "none"))
    v = to_np(r.value)
    assert_close(v[:2], -np.log(EPS), rtol=1e-9)  # the worst case: -log(1e-7) = 16.118
    assert v[2] == 0.0 and v[3] == 0.0  # a perfect prediction: (1 - p_t)^2 = 0


def test_binary_focal_from_logits_is_not_logit_stable_like_keras():
    # Keras applies sigmoid, then the clipped formula: a logit of -1000 with y = 1 gives
    # -log(1e-7) = 16.118 rather than 1000; the gradient vanishes once sigmoid saturates
    x = np.array([-1000.0, 1000.0, 1000.0, -1000.0])
    t = np.array([1.0, 0.0, 1.0, 0.0])
    r = _check("binary_focal", {"predictions": x, "targets": t}, {"from_logits": True}, "none",
               _torch_binary_focal({"from_logits": True}, "none"))
    assert_close(to_np(r.value)[:2], -np.log(EPS), rtol=1e-9)
    assert np.all(to_np(r.gradients["predictions"]) == 0.0)


def test_binary_focal_gamma_below_one_has_infinite_slope_at_a_perfect_prediction():
    # d (1 - p_t)^0.5 / dp is unbounded at p_t = 1 (p = 1, y = 1): reported as -inf
    r = evaluate("binary_focal", {"predictions": [1.0, 0.5], "targets": [1.0, 1.0]},
                 {"gamma": 0.5}, reduction="sum", want_grad=True)
    g = to_np(r.gradients["predictions"])
    assert g[0] == -np.inf and np.isfinite(g[1])


def test_binary_focal_errors():
    e = _error("binary_focal", {"predictions": [0.5, 1.2], "targets": [0.0, 1.0]})
    assert e.code == "probability_out_of_range" and e.loc == ("predictions", 1)
    e = _error("binary_focal", {"predictions": [0.5, 0.2], "targets": [0.0, -1.0]})
    assert e.code == "probability_out_of_range" and e.loc == ("targets", 1)
    e = _error("binary_focal", {"predictions": [0.5, 0.2], "targets": [[0.0, 1.0]]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    for params in ({"alpha": 1.5}, {"gamma": -1.0}, {"label_smoothing": 2.0},
                   {"from_logits": 1}):
        e = _error("binary_focal", {"predictions": [0.5], "targets": [1.0]}, params)
        assert e.code == "invalid_param" and e.loc == ("params", next(iter(params)))
    # logits may be anything
    evaluate("binary_focal", {"predictions": [5.0, -3.0], "targets": [0.0, 1.0]},
             {"from_logits": True})


# --------------------------------------------------------------------------- categorical_focal


def _torch_categorical_focal(params, reduction):
    import torch

    def fn(predictions, targets):
        c = predictions.shape[-1]
        ls = params.get("label_smoothing", 0.0)
        y = targets * (1.0 - ls) + ls / c
        p = torch.softmax(predictions, -1) if params.get("from_logits") else predictions
        o = torch.clamp(p / p.sum(-1, keepdim=True), EPS, 1.0 - EPS)
        alpha = params.get("alpha", 0.25)
        a = torch.tensor(alpha, dtype=torch.float64) if isinstance(alpha, list) else alpha
        loss = (a * (1.0 - o) ** params.get("gamma", 2.0) * (-y * torch.log(o))).sum(-1)
        return _reduce(loss, reduction)
    return fn


CF_PARAMS = [
    {},
    {"alpha": [0.1, 0.7, 0.3, 1.0], "gamma": 1.5, "label_smoothing": 0.2},
    {"gamma": 0.0, "alpha": 1.0},
    {"gamma": 0.5},
    {"from_logits": True, "gamma": 2.5},
    {"from_logits": True, "alpha": [0.5, 0.5, 1.0, 2.0], "label_smoothing": 0.1},
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4,), (6, 4)])
@pytest.mark.parametrize("params", CF_PARAMS, ids=lambda p: json.dumps(p, sort_keys=True))
def test_categorical_focal_matches_torch_reference(params, shape, reduction):
    rng = _rng("cf", json.dumps(params, sort_keys=True), shape, reduction)
    if params.get("from_logits"):
        x = rng.normal(size=shape) * 2.0
    else:
        x = rng.uniform(0.05, 2.0, size=shape)  # not normalised: Keras renormalises
    t = _rows(rng, shape) if len(shape) == 1 else np.eye(4)[rng.integers(0, 4, size=shape[0])]
    if len(shape) > 1:
        t[0] = _rows(rng, (4,))  # one soft row
    _check("categorical_focal", {"predictions": x, "targets": t}, params, reduction,
           _torch_categorical_focal(params, reduction))


def test_categorical_focal_zero_probability_is_clipped():
    x = np.array([[0.0, 1.0, 0.0], [0.2, 0.0, 0.8]])
    t = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    r = _check("categorical_focal", {"predictions": x, "targets": t}, {"alpha": 1.0}, "none",
               _torch_categorical_focal({"alpha": 1.0}, "none"))
    assert_close(r.value, [-np.log(EPS) * (1 - EPS) ** 2] * 2, rtol=1e-9)


def test_categorical_focal_stable_at_logits_of_1000():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    t = np.eye(3)[[1, 1]]
    params = {"from_logits": True}
    r = _check("categorical_focal", {"predictions": x, "targets": t}, params, "none",
               _torch_categorical_focal(params, "none"))
    assert np.all(np.isfinite(to_np(r.value)))
    assert_close(to_np(r.value)[0], 0.25 * -np.log(EPS) * (1 - EPS) ** 2, rtol=1e-9)


def test_categorical_focal_errors():
    t = [[0.0, 1.0, 0.0]]
    e = _error("categorical_focal", {"predictions": [[0.2, -0.1, 0.9]], "targets": t})
    assert e.code == "invalid_value" and e.loc == ("predictions", 0, 1)
    e = _error("categorical_focal", {"predictions": [[0.0, 0.0, 0.0]], "targets": t})
    assert e.code == "invalid_value" and e.loc == ("predictions", 0)
    e = _error("categorical_focal", {"predictions": [[0.2, 0.3, 0.5]],
                                     "targets": [[0.0, 1.0, 1.0]]})
    assert e.code == "probability_rows_not_normalized" and e.loc == ("targets", 0)
    e = _error("categorical_focal", {"predictions": [[0.2, 0.3, 0.5]],
                                     "targets": [[0.0, 1.5, -0.5]]})
    assert e.code == "probability_out_of_range" and e.loc == ("targets", 0, 1)
    e = _error("categorical_focal", {"predictions": [[0.2, 0.3, 0.5]], "targets": [1]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    e = _error("categorical_focal", {"predictions": [[0.2, 0.3, 0.5]], "targets": t},
               {"alpha": [0.5, 0.5]})
    assert e.code == "invalid_param" and e.loc == ("params", "alpha")
    e = _error("categorical_focal", {"predictions": [[0.2, 0.3, 0.5]], "targets": t},
               {"alpha": [0.5, -0.5, 1.0]})
    assert e.code == "invalid_param" and e.loc == ("params", "alpha", 1)


# ------------------------------------------------------------------- generalized_cross_entropy


def _torch_gce(q, reduction):
    import torch

    def fn(predictions, targets):
        p = torch.gather(predictions, -1, targets[..., None])[..., 0]
        return _reduce((1.0 - p**q) / q, reduction)
    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("q", [0.5, 0.05, 0.9, 1.0])
def test_generalized_cross_entropy_matches_torch_reference(q, reduction):
    rng = _rng("gce", q, reduction)
    x = _rows(rng, (6, 4))
    y = rng.integers(0, 4, size=6)
    _check("generalized_cross_entropy", {"predictions": x, "targets": y}, {"q": q}, reduction,
           _torch_gce(q, reduction))
    _check("generalized_cross_entropy", {"predictions": x[0], "targets": np.int64(y[0])},
           {"q": q}, reduction, _torch_gce(q, reduction))


def test_generalized_cross_entropy_limits():
    rng = _rng("gce-limits")
    x, y = _rows(rng, (5, 3)), rng.integers(0, 3, size=5)
    p_y = x[np.arange(5), y]
    small = evaluate("generalized_cross_entropy", {"predictions": x, "targets": y},
                     {"q": 1e-6}, reduction="none")
    assert_close(small.value, -np.log(p_y), rtol=1e-5)  # q -> 0: cross-entropy
    one = evaluate("generalized_cross_entropy", {"predictions": x, "targets": y}, {"q": 1.0},
                   reduction="none")
    assert_close(one.value, 1.0 - p_y)
    edge = evaluate("generalized_cross_entropy", {"predictions": [[0.0, 1.0], [1.0, 0.0]],
                                                  "targets": [1, 1]}, reduction="none",
                    want_grad=True)
    assert_close(edge.value, [0.0, 2.0])  # p_y = 1 gives 0, p_y = 0 gives 1/q
    g = to_np(edge.gradients["predictions"])
    assert_close(g[0], [0.0, -1.0])
    assert g[1, 1] == -np.inf and g[1, 0] == 0.0  # -p^(q-1) at p = 0


def test_generalized_cross_entropy_errors():
    e = _error("generalized_cross_entropy", {"predictions": [[0.5, 0.5]], "targets": [2]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 0)
    e = _error("generalized_cross_entropy", {"predictions": [[1.5, -0.5]], "targets": [0]})
    assert e.code == "probability_out_of_range" and e.loc == ("predictions", 0, 0)
    for q in (0.0, 1.5, -0.1):
        e = _error("generalized_cross_entropy", {"predictions": [[0.5, 0.5]], "targets": [0]},
                   {"q": q})
        assert e.code == "invalid_param" and e.loc == ("params", "q")


# ----------------------------------------------------------------------- poly1_cross_entropy


def _torch_poly1(eps, reduction):
    import torch

    def fn(predictions, targets):
        logp = torch.log_softmax(predictions, -1)
        if not targets.is_floating_point():
            targets = torch.nn.functional.one_hot(targets, predictions.shape[-1]).double()
        loss = -(targets * logp).sum(-1) + eps * (targets * (1.0 - logp.exp())).sum(-1)
        return _reduce(loss, reduction)
    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5,), (6, 5)])
@pytest.mark.parametrize("eps", [2.0, -1.0, 0.0, 7.5])
def test_poly1_matches_torch_reference(eps, shape, reduction):
    rng = _rng("poly", eps, shape, reduction)
    x = rng.normal(size=shape) * 2.0
    probs = _rows(rng, shape)
    idx = np.asarray(rng.integers(0, 5, size=shape[:-1]), dtype=np.int64)
    for t in (probs, idx):
        _check("poly1_cross_entropy", {"predictions": x, "targets": t}, {"epsilon": eps},
               reduction, _torch_poly1(eps, reduction))


def test_poly1_epsilon_zero_is_cross_entropy():
    rng = _rng("poly-ce")
    x, y = rng.normal(size=(8, 4)), rng.integers(0, 4, size=8)
    a = evaluate("poly1_cross_entropy", {"predictions": x, "targets": y}, {"epsilon": 0.0},
                 want_grad=True)
    b = evaluate("cross_entropy", {"predictions": x, "targets": y}, want_grad=True)
    assert_close(a.value, b.value)
    assert_close(a.gradients["predictions"], b.gradients["predictions"])


def test_poly1_stable_at_logits_of_1000():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    y = np.array([1, 2])
    r = _check("poly1_cross_entropy", {"predictions": x, "targets": y}, {}, "none",
               _torch_poly1(2.0, "none"))
    assert_close(r.value, [2000.0 + 2.0, 1.0 + np.log1p(np.exp(-1.0)) + 2.0 * (1 - 1 / (1 + np.e))],
                 rtol=1e-12)


def test_poly1_accurate_when_the_target_dominates():
    # p_y = 1 - 1e-13: CE and 1 - p_y are both ~1e-13, computed without cancellation
    d = 13 * np.log(10.0)
    r = evaluate("poly1_cross_entropy", {"predictions": [[d, 0.0]], "targets": [0]},
                 {"epsilon": 2.0}, reduction="none")
    q = np.exp(-d) / (1 + np.exp(-d))  # 1 - p_y
    assert_close(r.value, [np.log1p(np.exp(-d)) + 2.0 * q], rtol=1e-12)


def test_poly1_errors():
    e = _error("poly1_cross_entropy", {"predictions": [[1.0, 2.0]], "targets": [[0.5, 0.6]]})
    assert e.code == "probability_rows_not_normalized" and e.loc == ("targets", 0)
    e = _error("poly1_cross_entropy", {"predictions": [[1.0, 2.0]], "targets": [3]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 0)
    e = _error("poly1_cross_entropy", {"predictions": [[1.0, 2.0]], "targets": [0, 1]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    e = _error("poly1_cross_entropy", {"predictions": [[1.0, 2.0]], "targets": [0]},
               {"epsilon": -1.5})
    assert e.code == "invalid_param" and e.loc == ("params", "epsilon")


# ------------------------------------------------------------------------------------- brier


def _torch_brier(s, binary, reduction):
    import torch

    def fn(predictions, targets):
        if binary:
            p = predictions.reshape(-1)
            loss = 2.0 * s * (targets.double() - p) ** 2
        else:
            oh = torch.nn.functional.one_hot(targets, predictions.shape[-1]).double()
            loss = s * ((oh - predictions) ** 2).sum(-1)
        return _reduce(loss, reduction)
    return fn


SCALES = {"auto": None, True: 0.5, False: 1.0}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("scale", list(SCALES))
@pytest.mark.parametrize("c", [1, 2, 3, 5])  # c = 1: binary (N,) probabilities
def test_brier_matches_torch_reference(c, scale, reduction):
    rng = _rng("brier", c, scale, reduction)
    binary = c == 1
    x = rng.uniform(size=7) if binary else _rows(rng, (7, c))
    y = rng.integers(0, 2 if binary else c, size=7)
    s = SCALES[scale] if SCALES[scale] is not None else (0.5 if binary or c < 3 else 1.0)
    _check("brier", {"predictions": x, "targets": y}, {"scale_by_half": scale}, reduction,
           _torch_brier(s, binary, reduction))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("scale", [("auto", "auto"), (True, True), (False, False)])
@pytest.mark.parametrize("c", [1, 2, 3, 4])
def test_brier_mean_is_sklearn_brier_score_loss(c, scale, weighted):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = _rng("sk-brier", c, scale, weighted)
    n = 12
    x = rng.uniform(size=n) if c == 1 else _rows(rng, (n, c))
    y = rng.integers(0, 2 if c == 1 else c, size=n)
    y[:2] = [0, 1]
    sw = rng.uniform(0.1, 3.0, size=n) if weighted else None
    kw = {} if c == 1 else {"labels": list(range(c))}
    expected = metrics.brier_score_loss(y, x, sample_weight=sw, scale_by_half=scale[1], **kw)
    r = evaluate("brier", {"predictions": x, "targets": y}, {"scale_by_half": scale[0]},
                 sample_weight=sw)
    assert_close(r.value, expected)
    if c == 1:  # (N, 1) is binary too, as in scikit-learn
        r1 = evaluate("brier", {"predictions": x[:, None], "targets": y},
                      {"scale_by_half": scale[0]}, sample_weight=sw, want_grad=True)
        assert_close(r1.value, expected)
        assert to_np(r1.gradients["predictions"]).shape == (n, 1)


def test_brier_float_binary_labels_and_unnormalised_rows_match_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    x, y = np.array([0.1, 0.9, 0.8, 0.3]), np.array([0.0, 1.0, 1.0, 0.0])
    assert_close(evaluate("brier", {"predictions": x, "targets": y}).value,
                 metrics.brier_score_loss(y, x))
    rows = np.array([[0.5, 0.3, 0.1], [0.2, 0.2, 0.2]])  # sklearn warns, computes
    yi = np.array([0, 2])
    with pytest.warns(UserWarning):
        expected = metrics.brier_score_loss(yi, rows, labels=[0, 1, 2])
    assert_close(evaluate("brier", {"predictions": rows, "targets": yi}).value, expected)


def test_brier_edges():
    r = evaluate("brier", {"predictions": [0.0, 1.0, 1.0, 0.0], "targets": [0, 1, 0, 1]},
                 reduction="none", want_grad=True)
    assert_close(r.value, [0.0, 0.0, 1.0, 1.0])
    assert_close(r.gradients["predictions"], [0.0, 0.0, 2.0, -2.0])


def test_brier_errors():
    e = _error("brier", {"predictions": [0.2, 1.2], "targets": [0, 1]})
    assert e.code == "probability_out_of_range" and e.loc == ("predictions", 1)
    e = _error("brier", {"predictions": [0.2, 0.7], "targets": [0, 2]})
    assert e.code == "invalid_label" and e.loc == ("targets", 1)
    e = _error("brier", {"predictions": [0.2, 0.7], "targets": [0, 1, 1]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    rows = [[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]
    e = _error("brier", {"predictions": rows, "targets": [0, 3]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 1)
    e = _error("brier", {"predictions": rows, "targets": [0.0, 1.0]})
    assert e.code == "invalid_dtype" and e.loc == ("targets",)
    e = _error("brier", {"predictions": np.full((2, 2, 2), 0.5), "targets": [0, 1]})
    assert e.code == "invalid_shape" and e.loc == ("predictions",)
    e = _error("brier", {"predictions": rows, "targets": [0, 1]}, {"scale_by_half": "true"})
    assert e.code == "invalid_param" and e.loc == ("params", "scale_by_half")
    e = _error("brier", {"predictions": rows, "targets": [0, 1]}, {"scale_by_half": 1})
    assert e.code == "invalid_param" and e.loc == ("params", "scale_by_half")


def test_brier_kernel_accepts_boolean_scale_by_half():
    # sklearn's booleans, straight to the kernel
    import array_api_compat.numpy as xnp

    from service.losses.brier import brier

    x, y = xnp.asarray([[0.2, 0.3, 0.5]]), xnp.asarray([2])
    assert_close(brier(x, y, scale_by_half=True).loss, [(0.04 + 0.09 + 0.25) / 2])
    assert_close(brier(x, y, scale_by_half=False).loss, [0.04 + 0.09 + 0.25])
