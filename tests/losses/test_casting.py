"""``service.casting.cast``, the one value-preserving conversion, on every array namespace the
core runs on; and the core's use of it (``evaluate`` on NumPy arrays of any integer dtype)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.casting import CastError, cast
from service.losses import LossError, evaluate
from tests.conftest import to_np


def _refused(xp: Any, values: Any, source: Any, target: Any, **kw: Any) -> CastError:
    with pytest.raises(CastError) as exc:
        cast(xp.asarray(values, dtype=source), target, xp=xp, **kw)
    return exc.value


@pytest.mark.parametrize(("values", "index", "bad"), [
    ([1, 4294967297], (1,), 4294967297),  # astype: 1
    ([[0, 5], [-4294967295, 7]], (1, 0), -4294967295),  # astype: 1
    ([2**31], (0,), 2**31),
    ([-(2**31) - 1, 0], (0,), -(2**31) - 1),
])
def test_int64_to_int32_refuses_what_would_wrap(xp, values, index, bad):
    err = _refused(xp, values, xp.int64, xp.int32)
    assert (err.code, err.index, err.value) == ("invalid_number", index, bad)
    assert err.what == f"{bad}, which is out of the int32 range [-2147483648, 2147483647]"


def test_int64_to_int32_keeps_the_extremes(xp):
    out = cast(xp.asarray([-(2**31), 2**31 - 1], dtype=xp.int64), xp.int32, xp=xp)
    assert out.dtype == xp.int32 and to_np(out).tolist() == [-(2**31), 2**31 - 1]


def test_uint64_to_int64_refuses_from_2_63():
    err = _refused(np, [0, 2**63, 2**64 - 1], np.uint64, np.int64)
    assert (err.code, err.index, err.value) == ("invalid_number", (1,), 2**63)
    fits = cast(np.asarray([0, 2**63 - 1], dtype=np.uint64), np.int64)
    assert fits.dtype == np.int64 and fits.tolist() == [0, 2**63 - 1]


@pytest.mark.parametrize(("values", "index", "bad"), [
    ([0.5, 1e39], (1,), 1e39),
    ([[0.5, 2.0], [-3.5e38, 1e300]], (1, 0), -3.5e38),
    ([np.inf, 1e300], (1,), 1e300),  # the first *overflow*: the source's own inf stays
])
def test_float64_to_float32_refuses_an_overflow(xp, values, index, bad):
    err = _refused(xp, values, xp.float64, xp.float32)
    assert (err.code, err.index, err.value) == ("nonfinite_input", index, bad)
    assert err.what == f"{bad:g}, which overflows float32"


def test_float64_to_float32_rounds(xp):
    """Rounding is not a change of value here (the documented rule): float32's nearest, its
    largest finite value included, subnormals and 0 for tiny values."""
    values = [0.1, float(np.finfo(np.float32).max), 1e-40, 1e-50, -0.0]
    out = cast(xp.asarray(values, dtype=xp.float64), xp.float32, xp=xp)
    np.testing.assert_array_equal(to_np(out), np.asarray(values, dtype=np.float32))


def test_nonfinite_values_pass_unless_refused(xp):
    a = xp.asarray([1.0, np.nan, -np.inf], dtype=xp.float64)
    assert np.isnan(to_np(cast(a, xp.float32, xp=xp))[1])
    err = _refused(xp, [1.0, np.nan, -np.inf], xp.float64, xp.float32, finite=True)
    assert (err.code, err.index, err.what) == ("nonfinite_input", (1,), "a non-finite value (nan)")
    err = _refused(xp, [1.0, -np.inf], xp.float64, xp.float64, finite=True)
    assert (err.index, err.what) == ((1,), "a non-finite value (-inf)")


def test_integers_to_floats_round_and_never_overflow(xp):
    big = [2**53 + 1, -(2**63), 2**63 - 1]
    out = cast(xp.asarray(big, dtype=xp.int64), xp.float32, xp=xp, finite=True)
    np.testing.assert_array_equal(to_np(out), np.asarray(big, dtype=np.float32))
    assert to_np(cast(xp.asarray(big, dtype=xp.int64), xp.float64, xp=xp))[0] == 2.0**53


@pytest.mark.parametrize(("source", "target"), [("float64", "int64"), ("float32", "int32"),
                                                ("bool", "int64"), ("bool", "float64")])
def test_floats_and_booleans_are_never_made_integers(xp, source, target):
    err = _refused(xp, [1, 0], getattr(xp, source), getattr(xp, target))
    assert err.code == "invalid_dtype"


def test_the_same_dtype_is_the_same_array(xp):
    for dtype in (xp.float64, xp.int32):
        a = xp.asarray([1, 2], dtype=dtype)
        assert cast(a, dtype, xp=xp) is a


def test_empty_arrays(xp):
    assert cast(xp.zeros((0, 3), dtype=xp.float64), xp.float32, xp=xp).shape == (0, 3)
    assert cast(xp.zeros((0,), dtype=xp.int64), xp.int32, xp=xp).shape == (0,)


@pytest.mark.parametrize("n", [2, 500])  # 500 x 3: the fused cross_entropy kernel
def test_uint64_class_indices_are_not_wrapped_into_ignore_index(n):
    """2**64 - 100 as int64 is -100, cross_entropy's default ignore_index: the sample was
    silently left out. Now refused where it is."""
    x = np.random.default_rng(0).normal(size=(n, 3))
    t = np.zeros(n, dtype=np.uint64)
    t[1] = 2**64 - 100
    with pytest.raises(LossError) as exc:
        evaluate("cross_entropy", {"predictions": x, "targets": t})
    assert (exc.value.code, exc.value.loc) == ("invalid_number", ("targets", 1))
    assert "18446744073709551516, which is out of the int64 range" in exc.value.message
    t[1] = 2
    ok = evaluate("cross_entropy", {"predictions": x, "targets": t})
    assert ok.value == evaluate("cross_entropy", {"predictions": x,
                                                  "targets": t.astype(np.int64)}).value
