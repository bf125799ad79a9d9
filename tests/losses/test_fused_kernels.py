"""The elementwise kernels (``service/losses/accel/``, numba) against the generic NumPy path.

Both run on the same arrays: the fused path with the kernels on (a spy checks that it ran
and did not fall back), the reference with it off. Values, per-sample breakdowns and gradients
agree to ``RTOL`` or, where a result is a difference of nearly equal terms (a gradient with soft
labels), to a few ulp of the array's largest magnitude; errors are the reference's, code, location
and message alike (the kernels only detect them and fall back).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.losses import accel, evaluate
from service.losses.accel import families, parallel
from service.losses.accel import reduction as accel_reduction
from service.losses.accel.table import ROWS
from tests.conftest import to_np
from tests.losses.fused_support import (
    assert_fused_after_cast,
    assert_generic,
    assert_same,
    error,
    reference,
    spy_runs,
    sweep,
)

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[2]
LOSSES = ("mse", "l1", "huber", "smooth_l1", "binary_cross_entropy_with_logits", "sigmoid_focal")


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per fused kernel run: True if it produced the result, False if it fell back."""
    return spy_runs(monkeypatch, accel_reduction, "run")


def _inputs(name: str, shape: tuple[int, ...], dtype: str, seed: int) -> dict[str, np.ndarray]:
    """Random inputs with the edge cases each kernel branches on."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * 3.0
    flat = x.reshape(-1)
    if name in ("binary_cross_entropy_with_logits", "sigmoid_focal"):
        flat[:8] = [0.0, 40.0, -40.0, 300.0, -300.0, 800.0, -800.0, 1e-300]  # saturation, underflow
        y = rng.uniform(size=shape)
        hard = rng.uniform(size=shape) < 0.5
        y[hard] = np.round(y[hard])
    else:
        y = rng.normal(size=shape) * 2.0
        y.reshape(-1)[:4] = flat[:4]  # d = 0: l1's and smooth_l1's sign(0) = 0
        y.reshape(-1)[4:8] = flat[4:8] + np.array([0.5, -0.5, 1.0, -1.0])  # at the kinks
    return {"predictions": x.astype(dtype), "targets": y.astype(dtype)}


CASES: list[tuple[str, dict[str, Any]]] = [
    ("mse", {}),
    ("mse", {"convention": "sklearn"}),
    ("l1", {}),
    ("huber", {}),
    ("huber", {"delta": 0.5}),
    ("smooth_l1", {"beta": 0.5}),
    ("smooth_l1", {"beta": 1.0}),
    ("binary_cross_entropy_with_logits", {}),
    ("binary_cross_entropy_with_logits", {"convention": "optax"}),
    ("sigmoid_focal", {}),
    ("sigmoid_focal", {"convention": "optax"}),
    ("sigmoid_focal", {"alpha": 0.3, "gamma": 1.5}),
    ("sigmoid_focal", {"alpha": -1.0, "gamma": 0.0}),
    ("sigmoid_focal", {"gamma": 0.5}),
]
# 1-D (one element per sample); short rows; rows over several blocks; rows longer than a block
# (kernels' BLOCK = 4096); 3-D
SHAPES = [(5000,), (700, 7), (30, 300), (2, 5000), (3, 4, 250)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}{p}" for n, p in CASES])
def test_fused_matches_reference(monkeypatch, runs, name, params, shape, dtype):
    inputs = _inputs(name, shape, dtype, seed=len(runs) + sum(shape))
    rng = np.random.default_rng(7)
    sw = rng.uniform(0.0, 2.0, size=shape[0]).astype(dtype)
    sw[0] = 0.0
    sweep(monkeypatch, runs, name, inputs, params, dtype, sw)
    assert len(runs) == 24


def test_fused_is_exact_at_extreme_logits(runs):
    x = np.zeros(4096)
    x[:4] = [1000.0, -1000.0, 1000.0, -1000.0]
    y = np.zeros(4096)
    y[:4] = [1.0, 0.0, 0.0, 1.0]
    r = evaluate("binary_cross_entropy_with_logits", {"predictions": x, "targets": y},
                 reduction="none", want_grad=True)
    assert runs == [True]
    assert to_np(r.value)[:4].tolist() == [0.0, 0.0, 1000.0, 1000.0]
    assert to_np(r.gradients["predictions"])[:4].tolist() == [0.0, 0.0, 1.0, -1.0]
    assert float(to_np(r.value)[4]) == float(np.log(2.0))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_mean_of_large_input_matches_reference(monkeypatch, runs, dtype):
    # 1e6 values: the float64 block sums against NumPy's pairwise sums
    inputs = _inputs("sigmoid_focal", (100_000, 10), dtype, seed=3)
    fused = evaluate("sigmoid_focal", inputs, dtype=dtype, want_grad=True)
    assert runs == [True]
    assert_same(fused, reference(monkeypatch, "sigmoid_focal", inputs, dtype=dtype,
                                   want_grad=True), dtype)


BAD: list[tuple[str, str, Any, str]] = [
    # (loss, input, value at one element, dtype)
    ("mse", "predictions", np.nan, "float64"),
    ("mse", "predictions", np.inf, "float32"),
    ("mse", "targets", -np.inf, "float64"),
    ("huber", "targets", np.nan, "float32"),
    ("l1", "predictions", -np.inf, "float64"),
    ("smooth_l1", "targets", np.inf, "float64"),
    ("binary_cross_entropy_with_logits", "predictions", np.inf, "float64"),
    ("binary_cross_entropy_with_logits", "targets", 1.5, "float64"),
    ("binary_cross_entropy_with_logits", "targets", -0.25, "float32"),
    ("sigmoid_focal", "targets", np.nan, "float64"),
    ("sigmoid_focal", "predictions", -np.inf, "float32"),
    ("sigmoid_focal", "targets", 2.0, "float64"),
]


@pytest.mark.parametrize(("name", "key", "bad", "dtype"), BAD)
@pytest.mark.parametrize("at", [0, 1234, 4999])
def test_bad_inputs_raise_the_reference_error(monkeypatch, runs, name, key, bad, dtype, at):
    inputs = _inputs(name, (1000, 5), dtype, seed=at)
    inputs[key].reshape(-1)[at] = bad
    got = error(lambda: evaluate(name, inputs, dtype=dtype, want_grad=True))
    assert runs == [False]  # detected in the kernel, then the generic path raised
    want = error(lambda: reference(monkeypatch, name, inputs, dtype=dtype, want_grad=True))
    assert got == want
    assert got[1][0] == key and got[1][1:] == (at // 5, at % 5)


@pytest.mark.parametrize("case", ["negative", "nan", "inf", "sum zero"])
def test_bad_sample_weights_raise_the_reference_error(monkeypatch, runs, case):
    inputs = _inputs("huber", (3000, 3), "float64", seed=1)
    sw = np.ones(3000)
    if case == "sum zero":
        sw[:] = 0.0
    else:
        sw[2500] = {"negative": -1.0, "nan": np.nan, "inf": np.inf}[case]
    for reduction in ("mean", "sum"):
        kw = {"sample_weight": sw, "reduction": reduction, "want_grad": True}
        if case == "sum zero" and reduction == "sum":
            r = evaluate("huber", inputs, **kw)  # a sum with zero weights is fine: 0
            assert float(r.value) == 0.0 and runs[-1] is True
            continue
        got = error(lambda kw=kw: evaluate("huber", inputs, **kw))
        assert got == error(lambda kw=kw: reference(monkeypatch, "huber", inputs, **kw))
    assert runs.count(True) <= 1


REGRESSION = ["mse", "l1", "huber", "smooth_l1"]


@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize("shape", [(3000, 3), (2, 5000)], ids=str)  # short rows; rows > a block
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_regression_kernels_detect_non_finite_inputs_from_their_sums(monkeypatch, runs, name,
                                                                      shape, bad):
    """The regression kernels check no element: a non-finite input makes its loss, and so the
    chunk's total, non-finite. Also under a weight of 0 (0 * inf is NaN), without the gradient,
    per-sample breakdown or reduction, and where the other input holds the opposite infinity."""
    inputs = _inputs(name, shape, "float64", seed=3)
    at = inputs["predictions"].size - 7
    inputs["predictions"].reshape(-1)[at] = bad
    inputs["targets"].reshape(-1)[at] = -bad  # inf - (-inf) = inf; nan - nan = nan
    sw = np.ones(shape[0])
    sw[at // shape[1]] = 0.0
    for kw in ({"want_grad": True}, {"sample_weight": sw, "reduction": "sum"},
               {"reduction": "none"}, {"want_per_sample": False}):
        got = error(lambda kw=kw: evaluate(name, inputs, **kw))
        assert runs[-1] is False, kw  # detected, then the generic path raised
        assert got == error(lambda kw=kw: reference(monkeypatch, name, inputs, **kw))
        assert got[1] == ("predictions", *np.unravel_index(at, shape)), kw


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_kernels_leave_an_overflowing_sum_to_the_generic_path(monkeypatch, runs,
                                                                         name):
    """Finite inputs whose loss overflows (mse of 1e200) make a non-finite total too: the
    generic path computes it (the same infinity), with the same gradient."""
    inputs = _inputs(name, (1000, 5), "float64", seed=4)
    inputs["predictions"][10, 2] = 1e200 if name == "mse" else 1.7e308
    inputs["predictions"][11, 2] = -1.7e308  # l1: |1.7e308| + |-1.7e308| overflows the sum
    got = evaluate(name, inputs, want_grad=True)
    assert runs == [False]
    want = reference(monkeypatch, name, inputs, want_grad=True)
    assert np.isinf(float(got.value)) and np.isinf(float(want.value))
    assert np.array_equal(got.per_sample, want.per_sample)
    assert np.array_equal(got.gradients["predictions"], want.gradients["predictions"])


def test_ineligible_calls_take_the_generic_path(monkeypatch, runs):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2000, 8)), rng.uniform(size=(2000, 8))
    bce = "binary_cross_entropy_with_logits"
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("mse", {"predictions": x[:100].copy(), "targets": y[:100].copy()}, {}),  # < MIN_SIZE
        ("mse", {"predictions": x.tolist(), "targets": y}, {}),  # not an array
        ("mse", {"predictions": x, "targets": y}, {"reduction": "none", "params": {
            "convention": "keras"}}),  # Keras' mean over the last axis
        ("smooth_l1", {"predictions": x, "targets": y}, {"params": {"beta": 0.0}}),
        (bce, {"predictions": x, "targets": y}, {"params": {"pos_weight": 2.0}}),
        (bce, {"predictions": x, "targets": y}, {"params": {"weight": [1.0] * 8}}),
        ("sigmoid_focal", {"predictions": x, "targets": y}, {"params": {"convention": "keras"}}),
    ]
    assert_generic(monkeypatch, runs, calls)


def test_other_dtypes_and_strided_inputs_are_cast_for_the_kernel(monkeypatch, runs):
    """The cast the generic path makes (to the evaluation's dtype, contiguous), then the kernel:
    float32 b64 inputs of a float64 request ran the NumPy path, 5x slower at 1e3 values."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2000, 8)), rng.uniform(size=(2000, 8))
    bce = "binary_cross_entropy_with_logits"
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("mse", {"predictions": x[:, ::2], "targets": y[:, ::2]}, {}),  # not contiguous
        ("mse", {"predictions": x, "targets": y}, {"dtype": "float32"}),  # float64 -> float32
        ("mse", {"predictions": x.astype(np.float32), "targets": y}, {}),  # float32 -> float64
        ("mse", {"predictions": x, "targets": y},
         {"sample_weight": np.ones(2000, np.float32)}),  # weights cast
        ("l1", {"predictions": (x * 100).astype(np.int64), "targets": y}, {}),  # integers
        (bce, {"predictions": x.astype(np.float32), "targets": y.astype(np.float32)},
         {"dtype": "float64"}),
    ]
    assert_fused_after_cast(monkeypatch, runs, calls)


def test_without_numba_the_generic_path_runs(monkeypatch, runs):
    inputs = _inputs("mse", (1000, 10), "float64", seed=2)
    monkeypatch.setattr(accel, "AVAILABLE", False)
    assert not accel.active()
    r = evaluate("mse", inputs, want_grad=True)
    assert runs == []
    assert accel.warm_up() == 0.0
    assert_same(r, reference(monkeypatch, "mse", inputs, want_grad=True), "float64")


def test_a_numba_that_cannot_be_imported_turns_the_fused_path_off():
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from service.losses import accel, evaluate\n"
        "assert accel.AVAILABLE\n"  # numba is installed ...
        "sys.modules['numba'] = None\n"  # ... but importing it raises ImportError
        "x = np.linspace(-3, 3, 10000)\n"
        "r = evaluate('mse', {'predictions': x, 'targets': x[::-1].copy()}, want_grad=True)\n"
        "assert abs(float(r.value) - float(np.mean((x - x[::-1]) ** 2))) < 1e-12\n"
        "assert not accel.AVAILABLE and not accel.active()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert "fused kernels are off" in out.stderr


def test_env_flag_parsing(monkeypatch):
    # read by the settings only (service/config.py), which refuse what they cannot parse
    from pydantic import ValidationError

    from service.config import Settings

    for value, want in (("0", False), ("false", False), ("off", False), ("1", True),
                        ("true", True), ("", True), ("garbage", True)):
        monkeypatch.setenv("LOSS_SERVICE_FUSED", value)
        if value in ("", "garbage"):
            with pytest.raises(ValidationError):
                Settings()
            continue
        assert Settings().fused is want
    monkeypatch.delenv("LOSS_SERVICE_FUSED")
    assert Settings().fused is True


def test_warm_up_compiles_every_kernel_for_both_dtypes(runs):
    accel.warm_up()
    kernels = accel.kernels()
    rows = [row for row in ROWS.values() if row.prepare is families.elementwise]
    assert kernels is not None and {row.loss for row in rows} == set(LOSSES)
    dispatchers = {kernels[k] for row in rows for k in row.kernels}  # (float64, float32)
    before = {k: len(k.signatures) for k in dispatchers}
    assert all(n >= 1 for n in before.values()), before
    rng = np.random.default_rng(5)
    for dtype in ("float64", "float32"):
        x = rng.normal(size=(500, 10)).astype(dtype)
        frozen = np.frombuffer(x.tobytes(), dtype=dtype).reshape(x.shape)  # read-only (b64)
        for name in LOSSES:
            for pred in (x, frozen):
                evaluate(name, {"predictions": pred, "targets": np.abs(np.tanh(x))},
                         sample_weight=np.ones(500, dtype), dtype=dtype, want_grad=True)
    assert runs and all(runs)
    assert {k: len(k.signatures) for k in dispatchers} == before  # nothing new compiled


def test_read_only_inputs_stay_untouched(runs):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(800, 10)), rng.uniform(size=(800, 10))
    fx, fy = (np.frombuffer(a.tobytes()).reshape(a.shape) for a in (x, y))
    r = evaluate("sigmoid_focal", {"predictions": fx, "targets": fy}, reduction="none",
                 want_grad=True)
    assert runs == [True]
    assert np.array_equal(fx, x) and np.array_equal(fy, y)
    assert r.value.flags.writeable and r.gradients["predictions"].flags.writeable


@pytest.mark.parametrize("shape", [(200_000,), (20_000, 10), (4, 70_000)], ids=str)
def test_results_do_not_depend_on_the_thread_count(monkeypatch, runs, shape):
    # fixed chunks, partial sums added in chunk order: the same bits on 1 and on 3 threads
    inputs = _inputs("huber", shape, "float64", seed=9)
    sw = np.random.default_rng(3).uniform(size=shape[0])
    calls = [{"sample_weight": sw, "want_grad": True},  # weighted: rows' sums
             {"want_grad": True, "want_per_sample": False}]  # unweighted: blocks' sums
    one = [evaluate("huber", inputs, **kw) for kw in calls]
    monkeypatch.setattr(accel, "SETTINGS", accel.Acceleration(threads=3))
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ELEMENTS", 0)
    three = [evaluate("huber", inputs, **kw) for kw in calls]
    assert runs == [True] * 4
    for a, b in zip(one, three, strict=True):
        assert float(a.value) == float(b.value)
        assert (a.per_sample is None) == (b.per_sample is None)
        if a.per_sample is not None:
            assert np.array_equal(to_np(a.per_sample), to_np(b.per_sample))
        assert np.array_equal(to_np(a.gradients["predictions"]),
                              to_np(b.gradients["predictions"]))
