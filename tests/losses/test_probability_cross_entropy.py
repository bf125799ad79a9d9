"""probability_cross_entropy: multiclass cross-entropy on predicted probabilities, with the
``sklearn`` (default) and ``keras`` conventions; its values, behaviour and refusals. Its gradients:
test_probability_cross_entropy_gradients.py.

Oracles: scikit-learn 1.9.1 live (``log_loss`` with ``labels=range(C)``, float64 and float32,
with and without ``sample_weight``) for ``sklearn`` values; Keras 3.15.1 goldens (JAX backend,
float64, ``jax.grad`` gradients) recorded by ``tests/goldens/make_probability_cross_entropy.py``
(``tests/goldens/probability_cross_entropy.json``) for ``keras``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from service.losses import LossError, evaluate, get_loss
from tests.conftest import assert_close, to_np
from tests.losses.support import F32_EPS, F64_EPS, KERAS_EPS, rng_for, sklearn_metrics

NAME = "probability_cross_entropy"
GOLDENS = json.loads(
    (Path(__file__).parents[1] / "goldens" / "probability_cross_entropy.json").read_text())
KERAS_DOC = {"predictions": [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]],
             "targets": [[0, 1, 0], [0, 0, 1]]}


def _error(inputs, params=None, **kw) -> LossError:
    with pytest.raises(LossError) as exc:
        evaluate(NAME, inputs, params, **kw)
    return exc.value


def _log_loss(y, p, **kw) -> float:
    """sklearn's log_loss with labels=range(C), its not-normalised-rows warning silenced."""
    m = sklearn_metrics()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The y_prob values do not sum to one",
                                category=UserWarning)
        return m.log_loss(y, p, labels=list(range(np.shape(p)[-1])), **kw)


def _rows(rng, n, c, *, low=0.02) -> np.ndarray:
    p = rng.uniform(low, 1.0, size=(n, c))
    return p / p.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------------------ the catalogue


def test_spec_and_conventions():
    spec = get_loss(NAME)
    assert spec.family == "multiclass" and spec.differentiable
    for alias in ("categorical_cross_entropy_probs", "log_loss_multiclass"):
        assert get_loss(alias) is spec
    assert [c.name for c in spec.conventions] == ["sklearn", "keras"]
    sk, k = spec.conventions
    assert sk.weights_in_mean and not sk.last_axis_mean
    assert not k.weights_in_mean and not k.last_axis_mean  # the kernel is already per sample
    assert spec.param("convention").default == "sklearn"
    assert "torch" in spec.notes and "nll_loss" in spec.notes
    e = _error({"predictions": [[0.5, 0.5]], "targets": [0]}, {"convention": "torch"})
    assert e.code == "unsupported_convention" and e.loc == ("params", "convention")


# ---------------------------------------------------------------------------- headline numbers


def test_sklearn_docstring_example():
    m = sklearn_metrics()
    p = [[0.1, 0.9], [0.9, 0.1], [0.8, 0.2], [0.35, 0.65]]
    expected = m.log_loss(["spam", "ham", "ham", "spam"], p)
    assert round(expected, 5) == 0.21616
    # labels in sorted order: ham = 0, spam = 1
    r = evaluate(NAME, {"predictions": p, "targets": [1, 0, 0, 1]})
    assert_close(r.value, expected)
    ex = get_loss(NAME).examples[0]
    assert_close(evaluate(NAME, ex.inputs, ex.params, reduction=ex.reduction).value, expected)


@pytest.mark.parametrize("targets", [KERAS_DOC["targets"], [1, 2]], ids=["onehot", "sparse"])
def test_keras_docstring_example(targets):
    inputs = {"predictions": KERAS_DOC["predictions"], "targets": targets}
    keras = {"convention": "keras"}
    assert round(float(evaluate(NAME, inputs, keras).value), 3) == 1.177
    assert round(float(evaluate(NAME, inputs, keras, sample_weight=[0.3, 0.7]).value), 3) == \
        0.814
    assert round(float(evaluate(NAME, inputs, keras, reduction="sum").value), 3) == 2.354
    assert_close(evaluate(NAME, inputs, keras, reduction="none").value, [0.0513, 2.303],
                 rtol=1e-3)
    # the weighted mean is where scikit-learn differs: (0.3 * 0.0513 + 0.7 * 2.303) / 1.0
    sk = evaluate(NAME, inputs, sample_weight=[0.3, 0.7])
    assert_close(sk.value, _log_loss([1, 2], KERAS_DOC["predictions"],
                                     sample_weight=[0.3, 0.7]))
    assert round(float(sk.value), 3) == 1.627


def test_the_libraries_disagree_on_clipped_and_unnormalised_rows():
    inputs = {"predictions": [[0.2, 0.4, 0.2], [0.0, 0.7, 0.3], [0.0, 1.0, 0.0]],
              "targets": [1, 0, 1]}
    sk = evaluate(NAME, inputs, reduction="none")
    k = evaluate(NAME, inputs, {"convention": "keras"}, reduction="none")
    assert_close(sk.value, [-np.log(0.4), -np.log(F64_EPS), -np.log1p(-F64_EPS)])  # 36.04
    assert_close(k.value, [-np.log(0.5), -np.log(KERAS_EPS), -np.log(1.0 - KERAS_EPS)])  # 16.12
    assert round(float(to_np(sk.value)[1]), 2) == 36.04
    assert round(float(to_np(k.value)[1]), 3) == 16.118


# ------------------------------------------------------------------------- sklearn (live)


def _sk_inputs(kind: str, rng, dtype) -> tuple[np.ndarray, np.ndarray]:
    n, c = 8, 4
    p = _rows(rng, n, c)
    y = rng.integers(0, c, size=n)
    y[:c] = np.arange(c)
    if kind == "extreme":  # p = 0 / 1 / tiny / 1 - tiny on the true and on other classes
        p[0] = [0.0, 0.5, 0.5, 0.0]  # p_y = 0
        p[1] = [0.0, 1.0, 0.0, 0.0]  # p_y = 1: clipped to 1 - eps
        p[2] = [1e-20, 0.0, 1.0 - 1e-17, 0.0]
        p[3] = [1.0, 0.0, 0.0, 0.0]  # p_y = 0, another class at 1
        p[4] = [0.0, 0.0, 0.0, 0.0]  # a row of zeros: accepted, p_y clipped to eps
        y[:5] = [0, 1, 2, 3, 1]
    if kind == "unnormalised":
        p = rng.uniform(0.01, 1.0, size=(n, c))  # rows summing to anything in (0, 4)
        p[0] = [0.1, 0.1, 0.1, 0.1]
    return p.astype(dtype), y


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["interior", "extreme", "unnormalised"])
def test_sklearn_matches_log_loss(kind, dtype, weighted):
    rng = rng_for("sk", kind, dtype, weighted)
    p, y = _sk_inputs(kind, rng, dtype)
    sw = rng.uniform(0.2, 3.0, size=len(y)) if weighted else None
    tol = {} if dtype == "float64" else {"rtol": 1e-6, "atol": 1e-6}
    inputs = {"predictions": p, "targets": y}
    mean = evaluate(NAME, inputs, {"convention": "sklearn"}, sample_weight=sw, dtype=dtype)
    assert_close(mean.value, _log_loss(y, p, sample_weight=sw), **tol)
    total = evaluate(NAME, inputs, reduction="sum", sample_weight=sw, dtype=dtype)
    assert_close(total.value, _log_loss(y, p, sample_weight=sw, normalize=False), **tol)
    none = evaluate(NAME, inputs, reduction="none", dtype=dtype)
    per_row = [_log_loss(y[i:i + 1], p[i:i + 1]) for i in range(len(y))]  # test-only loop
    assert_close(none.value, per_row, **tol)


def test_sklearn_unnormalised_rows_warn_in_sklearn_and_are_used_as_given():
    m = sklearn_metrics()
    p, y = np.array([[0.2, 0.4, 0.2], [0.5, 0.5, 0.5]]), np.array([1, 2])
    with pytest.warns(UserWarning, match="do not sum to one"):
        expected = m.log_loss(y, p, labels=[0, 1, 2])
    r = evaluate(NAME, {"predictions": p, "targets": y}, reduction="none")
    assert_close(r.value, [-np.log(0.4), -np.log(0.5)])
    assert_close(np.mean(to_np(r.value)), expected)


def test_sklearn_one_hot_targets_are_its_indicator_matrix():
    rng = rng_for("sk-onehot")
    p, y = _rows(rng, 6, 3), np.array([0, 1, 2, 2, 1, 0])
    onehot = np.eye(3)[y]
    expected = sklearn_metrics().log_loss(onehot, p)
    for t in (onehot, onehot.astype(np.int64), y):
        assert_close(evaluate(NAME, {"predictions": p, "targets": t}).value, expected)


def test_sklearn_float32_clips_at_the_float32_eps():
    p = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    r = evaluate(NAME, {"predictions": p, "targets": [0, 0]}, reduction="none",
                 dtype="float32")
    assert_close(r.value, [-np.log(np.float32(F32_EPS)), -np.log1p(-F32_EPS)], rtol=1e-6)
    assert round(float(to_np(r.value)[0]), 2) == 15.94


# ---------------------------------------------------------------------------- Keras goldens


def _golden_id(case) -> str:
    t = np.asarray(case["inputs"]["targets"])
    kind = "sparse" if t.dtype.kind in "iu" else "rows"
    sw = "+sw" if "sample_weight" in case else ""
    ls = case["params"].get("label_smoothing", 0)
    return f"{kind}-{case['reduction']}{sw}-ls{ls}-{case.get('dtype', 'f64')}-{case['note'][:12]}"


@pytest.mark.parametrize("case", GOLDENS["cases"], ids=_golden_id)
def test_keras_goldens(case):
    dtype = case.get("dtype", "float64")
    r = evaluate(case["loss"], case["inputs"], case["params"], reduction=case["reduction"],
                 sample_weight=case.get("sample_weight"), dtype=dtype,
                 want_grad="grad" in case)
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 1e-6, "atol": 0}
    assert_close(r.value, case["value"], **tol)
    if "grad" in case:
        assert_close(r.gradients["predictions"], case["grad"], **tol)


def test_goldens_cover_what_they_claim():
    assert GOLDENS["libraries"]["keras"] == "3.15.1"
    cases = GOLDENS["cases"]
    assert all(c["params"]["convention"] == "keras" for c in cases)
    assert {c["reduction"] for c in cases} == {"none", "sum", "mean"}
    assert any("sample_weight" in c and c["reduction"] == "mean" for c in cases)
    assert any(c["params"].get("label_smoothing") for c in cases)
    assert any(c.get("dtype") == "float32" for c in cases)
    kinds = {np.asarray(c["inputs"]["targets"]).dtype.kind for c in cases}
    assert kinds == {"i", "f"}


# ----------------------------------------------------------------- behaviour and refusals


def test_keras_renormalises_rows_and_sklearn_does_not():
    inputs = {"predictions": [[1.0, 1.0, 0.5], [0.25, 0.5, 0.25]], "targets": [1, 1]}
    k = evaluate(NAME, inputs, {"convention": "keras"}, reduction="none")
    assert_close(k.value, [-np.log(0.4), -np.log(0.5)])
    sk = evaluate(NAME, inputs, reduction="none")
    assert_close(sk.value, [-np.log1p(-F64_EPS), -np.log(0.5)])  # p = 1 clipped to 1 - eps
    # Keras' result is that of the renormalised rows, whatever the scale
    scaled = evaluate(NAME, {"predictions": [[0.2, 0.4, 0.2]], "targets": [1]},
                      {"convention": "keras"}, reduction="none", want_grad=True)
    base = evaluate(NAME, {"predictions": [[0.25, 0.5, 0.25]], "targets": [1]},
                    {"convention": "keras"}, reduction="none", want_grad=True)
    assert_close(scaled.value, base.value)
    # d/dp of a scale-invariant function is orthogonal to p (Euler)
    g = to_np(scaled.gradients["predictions"])
    assert abs(float(np.sum(g * [0.2, 0.4, 0.2]))) < 1e-14


@pytest.mark.parametrize("conv", ["sklearn", "keras"])
def test_label_smoothing_on_index_targets_equals_smoothed_one_hot_rows(conv):
    rng = rng_for("ls", conv)
    p, y = _rows(rng, 5, 4), rng.integers(0, 4, size=5)
    params = {"convention": conv, "label_smoothing": 0.3}
    a = evaluate(NAME, {"predictions": p, "targets": y}, params, reduction="none",
                 want_grad=True)
    b = evaluate(NAME, {"predictions": p, "targets": np.eye(4)[y]}, params, reduction="none",
                 want_grad=True)
    c = evaluate(NAME, {"predictions": p, "targets": np.eye(4)[y] * 0.7 + 0.3 / 4},
                 {"convention": conv}, reduction="none", want_grad=True)
    assert_close(a.value, b.value, rtol=1e-14)
    assert_close(a.value, c.value, rtol=1e-14)
    assert_close(a.gradients["predictions"], c.gradients["predictions"], rtol=1e-14)


def test_unbatched_input_is_one_sample():
    p = [0.2, 0.5, 0.3]
    for t in (1, [0.0, 1.0, 0.0]):
        r = evaluate(NAME, {"predictions": p, "targets": t}, reduction="none", want_grad=True)
        assert to_np(r.value).shape == () and r.n_samples == 1
        assert_close(r.value, -np.log(0.5))
        assert_close(r.gradients["predictions"], [0.0, -2.0, 0.0])


def test_refusals():
    ok = {"predictions": [[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]], "targets": [1, 2]}
    e = _error({**ok, "predictions": [[0.2, 0.5, 0.3], [0.1, 1.0 + 1e-9, 0.8]]})
    assert e.code == "probability_out_of_range" and e.loc == ("predictions", 1, 1)
    e = _error({**ok, "predictions": [[0.2, -1e-12, 0.3], [0.1, 0.1, 0.8]]},
               {"convention": "keras"})
    assert e.code == "probability_out_of_range" and e.loc == ("predictions", 0, 1)
    e = _error({**ok, "targets": [[0.2, 0.5, 0.3], [0.1, 0.1, 0.7]]})
    assert e.code == "probability_rows_not_normalized" and e.loc == ("targets", 1)
    e = _error({**ok, "targets": [[0.2, 0.5, 0.3], [-0.1, 0.3, 0.8]]})
    assert e.code == "probability_out_of_range" and e.loc == ("targets", 1, 0)
    e = _error({**ok, "targets": [1.0, 2.0]})
    assert e.code == "invalid_dtype" and e.loc == ("targets",)
    e = _error({**ok, "targets": [1, 3]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 1)
    e = _error({**ok, "targets": [1, 2, 0]})
    assert e.code == "shape_mismatch" and e.loc == ("targets",)
    e = _error({"predictions": [[1.0], [1.0]], "targets": [0, 0]})
    assert e.code == "invalid_shape" and "binary_cross_entropy" in e.message
    e = _error({"predictions": np.full((2, 3, 2), 0.5), "targets": np.zeros((2, 2), int)})
    assert e.code == "invalid_shape" and e.loc == ("predictions",)
    # a row of zeros: Keras divides by its sum (NaN); scikit-learn clips it to eps
    zero = {"predictions": [[0.2, 0.5, 0.3], [0.0, 0.0, 0.0]], "targets": [1, 2]}
    e = _error(zero, {"convention": "keras"})
    assert e.code == "invalid_value" and e.loc == ("predictions", 1)
    r = evaluate(NAME, zero, reduction="none")
    assert_close(r.value, [-np.log(0.5), -np.log(F64_EPS)])
    assert_close(r.value, [_log_loss([1], [[0.2, 0.5, 0.3]]),
                           _log_loss([2], [[0.0, 0.0, 0.0]])])


def test_torch_has_no_clipping_equivalent():
    torch = pytest.importorskip("torch")
    p = torch.tensor([[0.0, 0.7, 0.3]], dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.nll_loss(torch.log(p), torch.tensor([0]))
    assert torch.isinf(loss)
    r = evaluate(NAME, {"predictions": [[0.0, 0.7, 0.3]], "targets": [0]})
    assert np.isfinite(to_np(r.value))
