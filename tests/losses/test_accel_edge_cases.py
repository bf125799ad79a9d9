"""Acceleration on (the kernels of ``service/losses/accel/`` above their thresholds, the reference
below) against the reference alone (``accel.OFF``) on the cases the registry-wide differential
test (``test_accel_differential.py``) does not draw: cross-entropy rows around the kernels' block
sizes, logits of +-1000, read-only inputs, errors; and ``reduce.py``'s read-only cotangent views
(from ``reduce.VIEW_MIN_SIZE`` elements on NumPy) against filled cotangents.

They may differ only in the order of floating-point operations (e.g. a row sum), so values and
gradients agree to a few ulp of the inputs' magnitude (a loss ``lse - x_y`` near 0 inherits the
absolute rounding of ``lse``); errors, exact edge values and dtypes are the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.losses import accel, evaluate, reduce
from service.losses.errors import LossError
from tests.conftest import assert_close, to_np

RTOL = {"float64": 1e-13, "float32": 2e-6}


def _both(monkeypatch: pytest.MonkeyPatch, name: str, inputs: dict[str, Any],
          params: dict[str, Any], **kw: Any) -> tuple[Any, Any]:
    fast = evaluate(name, inputs, params, **kw)
    ref = evaluate(name, inputs, params, **kw, acceleration=accel.OFF)
    return fast, ref


def _assert_same(fast: Any, ref: Any, dtype: str, scale: float = 1.0) -> None:
    """Equal to ``RTOL``, or to 8 ulp of ``scale`` (the inputs' largest magnitude)."""
    rtol, atol = RTOL[dtype], 8 * float(np.finfo(dtype).eps) * max(scale, 1.0)
    for a, b in ((fast.value, ref.value), (fast.per_sample, ref.per_sample)):
        assert to_np(a).dtype == to_np(b).dtype == np.dtype(dtype)
        assert_close(a, b, rtol=rtol, atol=atol)
    assert (fast.gradients is None) == (ref.gradients is None)
    for k, g in (ref.gradients or {}).items():
        assert to_np(fast.gradients[k]).dtype == np.dtype(dtype)
        assert_close(fast.gradients[k], g, rtol=rtol, atol=atol, err_msg=k)


# (N, C): tiny; short rows over several blocks (column sweep); long rows; one class; odd sizes
SHAPES = [(4, 3), (9000, 10), (5000, 16), (300, 17), (40, 1000), (7, 1), (1, 5)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case", ["plain", "weight", "ignore", "weight+ignore"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_fast_path_matches_reference(monkeypatch, dtype, shape, case, reduction):
    rng = np.random.default_rng(abs(hash((shape, case))) % 2**32)
    n, c = shape
    x = (rng.normal(size=shape) * 3).astype(dtype)
    t = rng.integers(0, c, size=n)
    params: dict[str, Any] = {}
    if "weight" in case:
        params["weight"] = rng.uniform(0.5, 2.0, size=c).tolist()
    if "ignore" in case:
        t[rng.random(n) < 0.3] = -100
        t[0] = 0  # never all ignored
    fast, ref = _both(monkeypatch, "cross_entropy", {"predictions": x, "targets": t}, params,
                      reduction=reduction, dtype=dtype, want_grad=True)
    _assert_same(fast, ref, dtype, scale=float(np.abs(x).max()))


def test_cross_entropy_fast_path_with_sample_weight_and_without_gradient(monkeypatch):
    rng = np.random.default_rng(1)
    x, t = rng.normal(size=(6000, 10)), rng.integers(0, 10, size=6000)
    sw = rng.uniform(0.0, 2.0, size=6000)
    fast, ref = _both(monkeypatch, "cross_entropy", {"predictions": x, "targets": t}, {},
                      sample_weight=sw, want_grad=True)
    _assert_same(fast, ref, "float64", scale=8.0)
    fast, ref = _both(monkeypatch, "cross_entropy", {"predictions": x, "targets": t}, {})
    assert fast.gradients is None
    _assert_same(fast, ref, "float64", scale=8.0)


def test_cross_entropy_fast_path_is_exact_at_logits_1000(monkeypatch):
    x = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0], [0.0, -1000.0, 1000.0]])
    r = evaluate("cross_entropy", {"predictions": x, "targets": [2, 1, 1]}, reduction="none",
                 want_grad=True)
    assert to_np(r.value).tolist() == [2000.0, 0.0, 2000.0]
    assert np.all(np.isfinite(to_np(r.gradients["predictions"])))
    fast, ref = _both(monkeypatch, "cross_entropy", {"predictions": x, "targets": [2, 1, 1]}, {},
                      reduction="none", want_grad=True)
    _assert_same(fast, ref, "float64")


def test_fast_paths_leave_read_only_inputs_alone():
    # b64 requests decode to read-only views of the received bytes: nothing may write to inputs
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 10))
    t = rng.integers(0, 10, size=500)
    y = rng.normal(size=(500, 10))
    for name, inputs in (("cross_entropy", {"predictions": x, "targets": t}),
                         ("mse", {"predictions": x, "targets": y}),
                         ("binary_cross_entropy_with_logits",
                          {"predictions": x, "targets": (y > 0).astype(float)})):
        frozen = {}
        for k, v in inputs.items():
            a = np.frombuffer(v.tobytes(), dtype=v.dtype).reshape(v.shape)
            assert not a.flags.writeable
            frozen[k] = a
        r = evaluate(name, frozen, want_grad=True)
        for k, v in inputs.items():
            assert np.array_equal(frozen[k], v)
        assert all(np.all(np.isfinite(g)) for g in r.gradients.values())


@pytest.mark.parametrize("name", ["mse", "huber", "binary_cross_entropy_with_logits",
                                  "sigmoid_focal", "multi_margin", "triplet_margin"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_numpy_cotangent_view_matches_reference(monkeypatch, name, reduction):
    # reduce_loss hands NumPy vjps a read-only broadcast view as the cotangent (from
    # reduce.VIEW_MIN_SIZE elements; below, a filled array): the reference with views against
    # the reference with filled cotangents, and the kernels against both
    rng = np.random.default_rng(3)
    n = 5000  # losses of (n,) or (n, 6) elements: above VIEW_MIN_SIZE
    x = rng.normal(size=(n, 6))
    inputs: dict[str, Any] = {
        "mse": {"predictions": x, "targets": rng.normal(size=(n, 6))},
        "huber": {"predictions": x, "targets": rng.normal(size=(n, 6))},
        "binary_cross_entropy_with_logits": {"predictions": x,
                                             "targets": rng.integers(0, 2, (n, 6)) * 1.0},
        "sigmoid_focal": {"predictions": x, "targets": rng.integers(0, 2, (n, 6)) * 1.0},
        "multi_margin": {"predictions": x, "targets": rng.integers(0, 6, n)},
        "triplet_margin": {"anchor": x, "positive": rng.normal(size=(n, 6)),
                           "negative": rng.normal(size=(n, 6))},
    }[name]
    for sw in (None, rng.uniform(0.5, 2.0, size=n)):
        kw = {"reduction": reduction, "sample_weight": sw, "want_grad": True}
        fast, view = _both(monkeypatch, name, inputs, {}, **kw)
        with monkeypatch.context() as m:
            m.setattr(reduce, "VIEW_MIN_SIZE", 1 << 62)  # filled cotangents
            filled = evaluate(name, inputs, {}, **kw, acceleration=accel.OFF)
        _assert_same(view, filled, "float64")
        _assert_same(fast, filled, "float64")


def test_fast_path_errors_are_the_reference_errors(monkeypatch):
    x = np.zeros((3, 4))
    for targets in ([0, 4, 1], [0, 1], [0.0, 1.0, 2.0]):
        errors = []
        for enabled in (True, False):
            monkeypatch.setattr(accel, "SETTINGS", accel.Acceleration() if enabled else accel.OFF)
            with pytest.raises(LossError) as exc:
                evaluate("cross_entropy", {"predictions": x, "targets": targets}, want_grad=True)
            errors.append((exc.value.code, exc.value.loc, str(exc.value)))
        assert errors[0] == errors[1]
