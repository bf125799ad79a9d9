"""Checks: tolerance semantics at the boundary, the order of reasons, mismatch reports, and
messages worded exactly as numpy's and torch's assertions."""

from __future__ import annotations

import numpy as np
import pytest

from service.grading import preset, resolve
from service.grading.checks import run_check
from service.grading.tolerance import DEFAULT_PRESET, TORCH_DEFAULTS, Tolerance

EXACT = 2.0**-20  # tolerances and differences that are exact in binary floating point


def test_presets_mirror_numpy_and_torch():
    assert preset("numpy").as_dict() == {"rtol": 1e-7, "atol": 0.0, "equal_nan": True,
                                         "preset": "numpy"}
    assert (preset("torch", "float64").rtol, preset("torch", "float64").atol) == (1e-7, 1e-7)
    assert (preset("torch", "float32").rtol, preset("torch", "float32").atol) == (1.3e-6, 1e-5)
    assert (preset("strict").rtol, preset("strict").atol) == (0.0, 0.0)
    assert resolve(None, "float32") == preset(DEFAULT_PRESET, "float32")
    assert resolve({"rtol": 1e-3}) == Tolerance(1e-3, 0.0, False)
    with pytest.raises(ValueError, match="unknown tolerance preset"):
        preset("loose")


@pytest.mark.torch
def test_torch_table_is_torchs_own():
    torch = pytest.importorskip("torch")
    from torch.testing._comparison import default_tolerances

    for dtype, expected in TORCH_DEFAULTS.items():
        assert default_tolerances(getattr(torch, dtype)) == expected


@pytest.mark.parametrize(("submitted", "passed"), [
    (1.0 + EXACT, True),  # |d| = rtol * |ref| exactly: inside
    (1.0 + 2 * EXACT, False),  # just outside
    (1.0 - EXACT, True),
])
def test_relative_tolerance_boundary(submitted, passed):
    r = run_check("value", np.array(submitted), np.array(1.0), Tolerance(EXACT, 0.0))
    assert r.passed is passed
    assert r.reason == (None if passed else "tolerance")


@pytest.mark.parametrize(("submitted", "passed"), [
    (EXACT, True), (-EXACT, True), (EXACT + 2.0**-40, False)])
def test_absolute_tolerance_boundary(submitted, passed):
    r = run_check("gradient", np.array([submitted, 0.0]), np.zeros(2), Tolerance(0.0, EXACT))
    assert r.passed is passed


def test_the_reference_is_numpys_desired_so_the_test_is_asymmetric():
    tol = Tolerance(0.5, 0.0)
    assert run_check("value", np.array(2.0), np.array(4.0), tol).passed  # |2| <= 0.5 * 4
    assert not run_check("value", np.array(4.0), np.array(2.0), tol).passed  # |2| > 0.5 * 2
    for sub, ref in ((2.0, 4.0), (4.0, 2.0)):  # the same as numpy's own assertion
        try:
            np.testing.assert_allclose(sub, ref, rtol=0.5)
            expected = True
        except AssertionError:
            expected = False
        assert run_check("value", np.array(sub), np.array(ref), tol).passed is expected


def test_shape_comes_before_values_and_nothing_broadcasts():
    r = run_check("value", np.array([2.0]), np.array(2.0), preset("numpy"))
    assert (r.passed, r.reason, r.submitted_shape, r.expected_shape) == (False, "shape", (1,), ())
    assert r.n_mismatched == r.n_total == 1 and r.first_mismatches == []
    r = run_check("gradient", np.ones((3, 2)), np.ones((2, 3)), preset("numpy"))
    assert r.reason == "shape"


def test_nonfinite_reasons():
    ref = np.array([1.0, 2.0, np.inf])
    cases = [
        (np.array([1.0, np.nan, np.inf]), "nonfinite"),  # NaN where the reference is finite
        (np.array([1.0, 2.0, -np.inf]), "nonfinite"),  # the wrong infinity
        (np.array([1.0, 2.0, 1e308]), "nonfinite"),  # finite where the reference is infinite
        (np.array([1.0, 2.5, np.inf]), "tolerance"),  # infinities agree; a finite value is off
        (np.array([1.0, 2.0, np.inf]), None),
    ]
    for sub, reason in cases:
        assert run_check("per_sample", sub, ref, preset("torch")).reason == reason


def test_nan_equals_nan_only_with_equal_nan():
    ref = np.array([np.nan, 1.0])
    assert not run_check("value", ref.copy(), ref, preset("torch")).passed
    assert run_check("value", ref.copy(), ref, preset("numpy")).passed  # numpy: equal_nan=True


def test_mismatch_report():
    ref = np.arange(12.0).reshape(3, 4)
    sub = ref.copy()
    sub[0, 1] += 0.5
    sub[2, 3] -= 3.0
    sub[1, 0] = 4.1
    r = run_check("gradient", sub, ref, preset("numpy"))
    assert (r.reason, r.n_mismatched, r.n_total) == ("tolerance", 3, 12)
    assert (r.max_abs_diff.value, r.max_abs_diff.index) == (3.0, [2, 3])
    assert (r.max_rel_diff.value, r.max_rel_diff.index) == (0.5, [0, 1])
    assert [m.index for m in r.first_mismatches] == [[0, 1], [1, 0], [2, 3]]
    assert (r.first_mismatches[0].submitted, r.first_mismatches[0].expected) == (1.5, 1.0)


def test_at_most_five_mismatches_are_listed_and_zero_reference_gives_inf_relative():
    r = run_check("gradient", np.ones(8), np.zeros(8), preset("numpy"))
    assert len(r.first_mismatches) == 5 and r.n_mismatched == 8
    assert r.max_rel_diff.value == np.inf


def _numpy_message(sub, ref, rtol, atol, name, equal_nan=True):
    try:
        np.testing.assert_allclose(sub, ref, rtol=rtol, atol=atol, err_msg=name,
                                   equal_nan=equal_nan)
    except AssertionError as exc:
        return str(exc).lstrip("\n")
    raise AssertionError("numpy found no mismatch")


@pytest.mark.parametrize(("sub", "ref"), [
    (np.array(3.0), np.array(2.0)),
    (np.array([1.0, 2.5, 3.0]), np.array([1.0, 2.0, 3.0])),
    (np.arange(12.0).reshape(3, 4) * 1.01, np.arange(12.0).reshape(3, 4)),
    (np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0])),
    (np.array([1.0, np.nan]), np.array([1.0, 2.0])),
    (np.array([1.0, np.inf]), np.array([1.0, 2.0])),
])
def test_numpy_style_message_is_numpys_own(sub, ref):
    tol = preset("numpy")
    r = run_check("gradient", sub, ref, tol)
    assert r.message == _numpy_message(sub, ref, tol.rtol, tol.atol, "gradient")
    assert r.message.startswith("Not equal to tolerance rtol=1e-07, atol=0\ngradient\n")


def test_numpy_style_message_counts_and_differences():
    r = run_check("value", np.array([1.0, 2.5, 3.0, 7.0]), np.array([1.0, 2.0, 3.0, 8.0]),
                  Tolerance(1e-7, 0.0))
    assert "Mismatched elements: 2 / 4 (50%)" in r.message
    assert "Max absolute difference among violations: 1." in r.message
    assert "Max relative difference among violations: 0.25" in r.message
    assert " [1]: 2.5 (ACTUAL), 2.0 (DESIRED)" in r.message


@pytest.mark.torch
@pytest.mark.parametrize(("sub", "ref"), [
    (np.array(3.0), np.array(2.0)),
    (np.array([1.0, 2.5, 3.0]), np.array([1.0, 2.0, 3.0])),
    (np.arange(6.0).reshape(2, 3) + 0.5, np.arange(6.0).reshape(2, 3)),
    (np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0])),
])
def test_torch_style_message_is_torchs_own(sub, ref):
    torch = pytest.importorskip("torch")
    tol = preset("torch")
    r = run_check("value", sub, ref, tol)
    with pytest.raises(AssertionError) as exc:
        torch.testing.assert_close({"value": torch.tensor(sub)}, {"value": torch.tensor(ref)},
                                   rtol=tol.rtol, atol=tol.atol)
    expected = str(exc.value)
    if sub.ndim == 0:  # torch words 0-d tensors in a mapping like tensors; we use its scalar form
        assert r.message.startswith("Scalars are not close!\n\nExpected 2.0 but got 3.0.")
        assert r.message.endswith("The failure occurred for item ['value']")
    else:
        assert r.message == expected


def test_strict_is_equality_in_torch_words():
    r = run_check("value", np.array([1.0, 2.0]), np.array([1.0, 2.0 + 2**-51]),
                  Tolerance(0.0, 0.0, style="torch"))
    assert not r.passed and r.message.startswith("Tensor-likes are not equal!")
    assert "allowed" not in r.message
