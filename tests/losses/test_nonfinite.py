"""NaN and infinities in inputs, in the core (issue 19, item 1): every loss, every float input.

Under lenient validation a NaN, ``inf`` or ``-inf`` in an input is computed on as torch computes
on it (tests/losses/test_torch_opinfo_replay.py compares the numbers with torch), with a
``nonfinite_input`` warning at the first such element; strict validation answers with that
error, at the same place and with the same message. A loss whose own domain excludes the value
(an infinite probability, a NaN label, any NaN for torch's ``binary_cross_entropy``) refuses it
under both, at that element. The accelerated paths (numba kernels) never produce the result for
such inputs: they detect them and leave them to the reference, which warns.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from service.losses import LOSSES, LossError, accel, evaluate, get_loss
from service.losses.accel import reduction
from service.losses.accel.table import ROWS
from service.losses.warn import LossWarning
from tests.conftest import sample

from .fused_support import reference, spy_runs

NAMES = sorted(LOSSES)
VALUES = (math.nan, math.inf, -math.inf)
# what a loss may answer instead of computing: the value is outside its domain as well
DOMAIN_CODES = frozenset({"probability_out_of_range", "invalid_value", "invalid_label"})
# losses that compute on no NaN and no infinity in their own inputs (each input's domain
# excludes them; sample weights are the service's): the reason is needed here, and the test
# fails if such a loss computes one after all
REFUSES_EVERY_ONE = {
    "binary_cross_entropy": "torch refuses values outside [0, 1], NaN included",
}


def _injected(name: str) -> Iterator[tuple[str, tuple[int, ...], float, dict[str, Any], Any]]:
    """(input, index, value, inputs, sample_weight): the loss's sampled inputs with one value
    made NaN or infinite, at the first and at the last element of each float input and of a
    sample weight."""
    spec = get_loss(name)
    inputs, params = sample(name, seed=10)
    n = int(np.asarray(evaluate(name, inputs, params, validate="lenient").per_sample).shape[0])
    arrays = {k: np.asarray(v) for k, v in inputs.items() if v is not None}
    arrays["sample_weight"] = np.linspace(0.5, 1.5, n)
    for input_name, a in arrays.items():
        if a.dtype.kind != "f" or (input_name != "sample_weight" and input_name not in
                                   spec.input_names):
            continue
        for flat in sorted({0, a.size - 1}):
            index = tuple(int(i) for i in np.unravel_index(flat, a.shape))
            for v in VALUES:
                bad = np.array(a, copy=True)
                bad[index] = v
                sw = bad if input_name == "sample_weight" else arrays["sample_weight"]
                changed = {k: (bad if k == input_name else x) for k, x in inputs.items()}
                yield input_name, index, v, changed, sw


@pytest.mark.parametrize("name", NAMES)
def test_each_nonfinite_input_warns_or_is_refused_at_its_element(name: str) -> None:
    spec = get_loss(name)
    _, params = sample(name, seed=10)
    kw = {"want_grad": spec.differentiable, "reduction": "none"
          if "none" in spec.reductions else spec.default_reduction}
    computed = 0
    for input_name, index, v, inputs, sw in _injected(name):
        loc = (input_name, *index)
        where = f"{input_name}{list(index)} = {v}"
        with pytest.raises(LossError) as strict:
            evaluate(name, inputs, params, sample_weight=sw, validate="strict", **kw)
        assert (strict.value.code, strict.value.loc) == ("nonfinite_input", loc), where
        try:
            ev = evaluate(name, inputs, params, sample_weight=sw, validate="lenient", **kw)
        except LossError as exc:  # the loss's own domain excludes the value: refused there
            assert exc.code in DOMAIN_CODES and exc.loc == loc, (where, exc)
            continue
        computed += input_name != "sample_weight"  # (every loss takes NaN sample weights)
        # the first warning is the non-finite value, as the strict error says it (a loss's own
        # check may add its warning for the same element: a NaN label is off {-1, 1} too)
        assert ev.warnings[0] == LossWarning("nonfinite_input", loc, strict.value.message)
        assert all(w.code in {"nonfinite_input", *DOMAIN_CODES} for w in ev.warnings), where
        assert np.asarray(ev.value).dtype == np.float64
    assert (computed == 0) == (name in REFUSES_EVERY_ONE), computed


def test_the_first_nonfinite_value_of_each_input_is_the_one_reported() -> None:
    x = np.zeros((3, 4))
    x[1, 2], x[2, 0] = math.inf, math.nan
    y = np.zeros((3, 4))
    y[0, 3] = -math.inf
    ev = evaluate("mse", {"predictions": x, "targets": y}, validate="lenient")
    assert [(w.code, w.loc) for w in ev.warnings] == [
        ("nonfinite_input", ("predictions", 1, 2)), ("nonfinite_input", ("targets", 0, 3))]
    assert math.isnan(float(ev.value))  # inf - 0, NaN - 0 and 0 - (-inf): the mean of them


def test_an_overflow_of_the_dtype_stays_refused_under_lenient() -> None:
    """1e39 sent for a float32 computation is not a value torch was given (it would become inf
    only in the conversion): refused in both modes, also after a NaN of the same input."""
    x = np.array([0.5, math.nan, 1e39, 2.0])
    with pytest.raises(LossError) as exc:
        evaluate("mse", {"predictions": x, "targets": np.zeros(4)}, dtype="float32",
                 validate="lenient")
    assert (exc.value.code, exc.value.loc) == ("nonfinite_input", ("predictions", 2))
    assert "overflows float32" in exc.value.message


@pytest.mark.parametrize("params", [{"weight": [1.0, math.nan]}, {"weight": [math.inf, 1.0]}])
def test_nonfinite_parameters_stay_refused(params: dict[str, Any]) -> None:
    x, t = np.zeros((2, 2)), np.array([0, 1])
    with pytest.raises(LossError) as exc:
        evaluate("cross_entropy", {"predictions": x, "targets": t}, params, validate="lenient")
    assert exc.value.code == "invalid_param" and exc.value.loc[:2] == ("params", "weight")


def _outcome(fn: Any, *args: Any, **kw: Any) -> Any:
    """``fn(*args, **kw)`` (an evaluation), or the (code, location) of the error it raises."""
    try:
        return fn(*args, **kw)
    except LossError as exc:
        return exc.code, exc.loc


def _identical(got: Any, want: Any) -> None:
    """The same numbers bit for bit, NaN where NaN (the fallback is the reference itself)."""
    np.testing.assert_array_equal(got.value, want.value)
    np.testing.assert_array_equal(got.per_sample, want.per_sample)
    assert set(got.gradients) == set(want.gradients)
    for k, g in want.gradients.items():
        np.testing.assert_array_equal(got.gradients[k], g, err_msg=k)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_the_accelerated_paths_leave_nonfinite_inputs_to_the_reference(monkeypatch, name):
    """Large inputs of every loss with a kernel: the kernel is launched, finds the NaN or
    infinity (in an input or in the sample weights) and falls back; the result is the
    reference's, with its warning. Never a kernel's number without the warning."""
    if not accel.AVAILABLE:
        pytest.skip("numba is not installed: no kernels")
    launches = spy_runs(monkeypatch, reduction, "run")  # one entry per kernel launch
    spec, row = get_loss(name), ROWS[name]
    rng = np.random.default_rng(0)
    checked = 0
    for params, k in row.warm:
        n = row.min_size // k + 1
        for dtype in ("float64", "float32"):
            clean = accel.sample_inputs(spec, rng, n, k, dtype)
            sw = rng.uniform(0.5, 2.0, size=n)
            for input_name in [*(i for i, a in clean.items() if a.dtype.kind == "f"),
                               "sample_weight"]:
                for v in VALUES:
                    inputs = {i: np.array(a, copy=True) for i, a in clean.items()}
                    weights = sw.copy()
                    target = weights if input_name == "sample_weight" else inputs[input_name]
                    target.reshape(-1)[rng.integers(target.size)] = v
                    for reduction_ in ("mean", "sum", "none"):
                        kw = {"reduction": reduction_, "sample_weight": weights, "dtype": dtype,
                              "want_grad": True, "validate": "lenient"}
                        launches.clear()
                        got = _outcome(evaluate, name, inputs, params, **kw)
                        assert launches == [False], (input_name, v, reduction_, launches)
                        want = _outcome(reference, monkeypatch, name, inputs, params, **kw)
                        if isinstance(want, tuple):  # refused (a negative sample weight...)
                            assert got == want
                            continue
                        _identical(got, want)
                        assert got.warnings == want.warnings
                        assert got.warnings[0].code == "nonfinite_input"
                        checked += 1
    assert checked
