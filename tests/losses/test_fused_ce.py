"""The fused cross_entropy kernel (``service/losses/accel/``, numba) against the generic path.

float64: the fused and the generic NumPy path agree to 1e-12 relative (or a few ulp of the
array's largest magnitude). float32: both are compared with the float64 evaluation of the same
(float32) inputs, and the fused path must be at least as accurate as the generic one (it sums
and takes the log in float64, so it is usually more accurate). Errors are the reference's: the
kernel only detects them and falls back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.losses import accel, evaluate
from tests.conftest import to_np
from tests.losses.fused_support import assert_per_sample_optional, error, reference, spy_runs

pytest.importorskip("numba")

from service.losses.accel import parallel
from service.losses.accel import reduction as accel_reduction


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per call of the fused cross_entropy: True if it produced the result."""
    return spy_runs(monkeypatch, accel_reduction, "run")


def _reference(monkeypatch: pytest.MonkeyPatch, *args: Any, **kw: Any) -> Any:
    return reference(monkeypatch, "cross_entropy", *args, **kw)


def _parts(r: Any) -> dict[str, np.ndarray]:
    out = {"value": np.asarray(to_np(r.value)), "per_sample": to_np(r.per_sample)}
    if r.gradients is not None:
        out["gradient"] = to_np(r.gradients["predictions"])
    return out


def _assert_close64(fused: Any, ref: Any) -> None:
    for key, want in _parts(ref).items():
        got = _parts(fused)[key]
        assert got.dtype == want.dtype == np.float64 and got.shape == want.shape, key
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=4e-15 * scale, err_msg=key)


def _assert_as_accurate32(fused: Any, ref: Any, truth: Any) -> None:
    """float32: the fused result is within float32 rounding of the float64 truth and no less
    accurate than the generic path's."""
    got, want, exact = _parts(fused), _parts(ref), _parts(truth)
    assert got.keys() == want.keys() == exact.keys()
    for key in exact:
        assert got[key].dtype == want[key].dtype == np.float32, key
        assert got[key].shape == want[key].shape == exact[key].shape, key
        scale = float(np.max(np.abs(exact[key])))
        err = float(np.max(np.abs(got[key] - exact[key])))
        ref_err = float(np.max(np.abs(want[key] - exact[key])))
        assert err <= 2.0 * ref_err + 1e-6 * scale, (key, err, ref_err)


def _case(n: int, c: int, dtype: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c)) * 3.0
    x[0, :2] = [700.0, -700.0]  # a dominant class and one whose exp underflows
    t = rng.integers(0, c, size=n)
    return x.astype(dtype), t


# short rows (transposed blocks), both crossovers (24 in float64, 48 in float32), long rows,
# one row longer than a chunk
SHAPES = [(600, 2), (400, 7), (300, 10), (100, 24), (100, 25), (60, 48), (60, 49), (20, 100),
          (3, 5000), (1, 70_000)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_fused_cross_entropy_matches_reference(monkeypatch, runs, shape, dtype):
    n, c = shape
    x, t = _case(n, c, dtype, seed=n + c)
    rng = np.random.default_rng(5)
    sw = rng.uniform(0.0, 2.0, size=n).astype(dtype)
    ignored = t.copy()
    ignored[1::3] = -100  # the default ignore_index
    in_range = t.copy()
    in_range[1::3] = 1  # an ignore_index that is a class
    variants: list[tuple[np.ndarray, dict[str, Any]]] = [
        (t, {}),
        (t, {"weight": rng.uniform(0.5, 2.0, size=c).tolist()}),
        (ignored, {}) if n > 1 else (t, {"ignore_index": c + 5}),
        (in_range, {"ignore_index": 1}),
    ]
    for targets, params in variants:
        inputs = {"predictions": x, "targets": targets}
        for reduction in ("mean", "sum", "none"):
            for weights in (None, sw):
                for want_grad in (True, False):
                    kw = {"reduction": reduction, "sample_weight": weights, "dtype": dtype,
                          "want_grad": want_grad}
                    fused = evaluate("cross_entropy", inputs, params, **kw)
                    assert runs[-1] is True, (params, kw)
                    assert_per_sample_optional(fused, "cross_entropy", inputs, params, **kw)
                    assert runs[-1] is True, (params, kw)
                    ref = _reference(monkeypatch, inputs, params, **kw)
                    assert (fused.reduction, fused.params, fused.dtype) == (
                        ref.reduction, ref.params, ref.dtype)
                    if dtype == "float64":
                        _assert_close64(fused, ref)
                    else:
                        inputs64 = {"predictions": x.astype(np.float64), "targets": targets}
                        kw64 = {**kw, "dtype": "float64", "sample_weight": None if weights is None
                                else weights.astype(np.float64)}
                        truth = _reference(monkeypatch, inputs64, params, **kw64)
                        _assert_as_accurate32(fused, ref, truth)


@pytest.mark.parametrize("c", [10, 1000])
def test_gradient_is_softmax_minus_one_hot(runs, c):
    # the formula itself, independently of the generic path: p - onehot, over N for the mean
    x, t = _case(3000 // c + 2, c, "float64", seed=c)
    r = evaluate("cross_entropy", {"predictions": x, "targets": t}, want_grad=True)
    assert runs == [True]
    z = x - x.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    onehot = np.eye(c)[t]
    n = x.shape[0]
    np.testing.assert_allclose(to_np(r.gradients["predictions"]), (p - onehot) / n,
                               rtol=1e-12, atol=1e-18)
    lse = np.log(np.exp(z).sum(axis=1)) + x.max(axis=1)
    np.testing.assert_allclose(float(r.value), np.mean(lse - x[np.arange(n), t]), rtol=1e-13)


def test_results_do_not_depend_on_the_thread_count(monkeypatch, runs):
    x, t = _case(20_000, 10, "float64", seed=1)
    sw = np.random.default_rng(2).uniform(size=20_000)
    kw = {"sample_weight": sw, "want_grad": True}
    inputs = {"predictions": x, "targets": t}
    one = evaluate("cross_entropy", inputs, **kw)
    monkeypatch.setattr(accel, "SETTINGS", accel.Acceleration(threads=3))
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ELEMENTS", 0)
    three = evaluate("cross_entropy", inputs, **kw)
    assert runs == [True, True]
    assert float(one.value) == float(three.value)  # the same sums in the same order
    for key, a in _parts(one).items():
        assert np.array_equal(a, _parts(three)[key]), key


@pytest.mark.parametrize("case", ["nan logit", "inf logit", "target too large",
                                  "negative target", "negative sample weight",
                                  "all ignored", "class weights zero", "weight length"])
def test_bad_inputs_raise_the_reference_error(monkeypatch, runs, case):
    x, t = _case(500, 10, "float64", seed=3)
    params: dict[str, Any] = {}
    sw = None
    if case == "nan logit":
        x[321, 4] = np.nan
    elif case == "inf logit":
        x[499, 9] = -np.inf
    elif case == "target too large":
        t[250] = 10
    elif case == "negative target":
        t[3] = -1
    elif case == "negative sample weight":
        sw = np.ones(500)
        sw[17] = -0.5
    elif case == "all ignored":
        t[:] = -100
    elif case == "class weights zero":
        params = {"weight": [0.0] * 10}
    else:
        params = {"weight": [1.0] * 9}
    inputs = {"predictions": x, "targets": t}
    got = error(lambda: evaluate("cross_entropy", inputs, params, sample_weight=sw,
                                  want_grad=True))
    assert runs == [False]
    assert got == error(lambda: _reference(monkeypatch, inputs, params, sample_weight=sw,
                                            want_grad=True))


def test_ineligible_calls_take_the_generic_path(monkeypatch, runs):
    x, t = _case(400, 10, "float64", seed=4)
    probs = np.full((400, 10), 0.1)
    calls: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = [
        ({"predictions": x, "targets": t}, {"label_smoothing": 0.1}, {}),
        ({"predictions": x, "targets": probs}, {}, {}),  # probability targets
        ({"predictions": x[:50], "targets": t[:50]}, {}, {}),  # < MIN_SIZE
        ({"predictions": x.reshape(400, 5, 2), "targets": t.reshape(400, 1)[:, [0, 0]] % 5},
         {}, {}),  # (N, C, d)
    ]
    for inputs, params, kw in calls:
        r = evaluate("cross_entropy", inputs, params, want_grad=True, **kw)
        assert not any(runs), (params, kw)
        ref = _reference(monkeypatch, inputs, params, want_grad=True, **kw)
        for key, want in _parts(ref).items():
            np.testing.assert_array_equal(_parts(r)[key], want, err_msg=key)


def test_other_dtypes_and_strided_inputs_are_cast_for_the_kernel(monkeypatch, runs):
    x, t = _case(400, 10, "float64", seed=4)
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"predictions": x, "targets": t.astype(np.int32)}, {}),  # int32 indices
        ({"predictions": x[:, ::2], "targets": t % 5}, {}),  # not contiguous
        ({"predictions": x.astype(np.float32), "targets": t}, {}),  # float32 -> float64
        ({"predictions": x, "targets": t}, {"sample_weight": np.ones(400, np.float32)}),
    ]
    for inputs, kw in calls:
        runs.clear()
        r = evaluate("cross_entropy", inputs, want_grad=True, **kw)
        assert runs == [True], kw
        _assert_close64(r, _reference(monkeypatch, inputs, want_grad=True, **kw))
    runs.clear()  # float64 inputs of a float32 evaluation
    r = evaluate("cross_entropy", {"predictions": x, "targets": t}, want_grad=True,
                 dtype="float32")
    assert runs == [True]
    _assert_as_accurate32(r, _reference(monkeypatch, {"predictions": x, "targets": t},
                                        want_grad=True, dtype="float32"),
                          _reference(monkeypatch, {"predictions": x, "targets": t},
                                     want_grad=True))


def test_warm_up_compiles_without_falling_back(runs):
    accel.warm_up()
    assert runs and all(runs)
