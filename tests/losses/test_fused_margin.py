"""The fused multi_margin and triplet_margin kernels (``service/losses/accel/``, numba)
against the generic NumPy path.

As ``test_fused_kernels.py``: the fused path with the kernels on (a spy on
``accel.reduction.run`` checks that it ran and did not fall back), the reference with it off, on the
same arrays; values, per-sample breakdowns and gradients within ``RTOL`` (or a few ulp of the
array's largest magnitude); errors identical, code, location and message alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("numba")

from service.losses import accel, evaluate
from service.losses.accel import parallel
from service.losses.accel import reduction as accel_reduction
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

REDUCTIONS = ("mean", "sum", "none")


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per fused kernel run: True if it produced the result, False if it fell back."""
    return spy_runs(monkeypatch, accel_reduction, "run")


def _scores(shape: tuple[int, int], dtype: str, seed: int, margin: float) -> dict[str, np.ndarray]:
    """Scores and class indices, with hinge terms of exactly 0 (the strict kink) in row 0 and
    ties in row 1 (values on a coarse grid: exact in both dtypes)."""
    rng = np.random.default_rng(seed)
    n, c = shape
    x = np.round(rng.normal(size=shape) * 8.0) / 4.0  # multiples of 1/4: exact differences
    y = rng.integers(0, c, size=n)
    x[0] = x[0, y[0]] - margin  # z_j = margin - x_y + x_j = 0 for every j != y
    x[0, y[0]] = x[0, (y[0] + 1) % c] + margin
    if n > 1:
        x[1] = x[1, 0]  # a row of equal scores
    return {"predictions": x.astype(dtype), "targets": y}


def _triplets(shape: tuple[int, int], dtype: str, seed: int,
              swap: bool) -> dict[str, np.ndarray]:
    """Well-conditioned triplets (the distances far from each other: the loss is not a
    difference of nearly equal distances), half of the rows violating the margin; one row with
    anchor == positive (a zero difference) and, with swap, a distance tie d(a, n) == d(p, n)."""
    rng = np.random.default_rng(seed)
    n = shape[0]
    a = rng.normal(size=shape)
    near = a + 0.05 * rng.normal(size=shape)
    far = a + 2.0 * rng.normal(size=shape)
    flip = rng.uniform(size=n) < 0.5
    pos = np.where(flip[:, None], far, near)
    neg = np.where(flip[:, None], near, far)
    pos[0] = a[0]  # anchor == positive: d(a, n) == d(p, n), a tie under swap
    if swap and n > 1:
        neg[1] = a[1] + 3.0  # d(a, n) and d(p, n) far apart, d(a, p) small: loss 0
    return {k: v.astype(dtype) for k, v in (("anchor", a), ("positive", pos), ("negative", neg))}


MM_PARAMS: list[dict[str, Any]] = [
    {},
    {"p": 2},
    {"p": 1, "margin": 0.5},
    {"p": 2, "margin": 2.0, "weight": "random"},
    {"p": 1, "weight": "random"},
]
TM_PARAMS: list[dict[str, Any]] = [
    {},
    {"swap": True},
    {"p": 1.0},
    {"p": 1.0, "swap": True, "margin": 0.5},
    {"convention": "optax"},
    {"convention": "optax", "p": 1.0, "eps": 1e-3},
    {"eps": 0.0, "margin": 2.0},
]
# short rows (C = 3, 7, 10, 31), long rows (over the kernels' SHORT = 32 and a few thousand),
# one row
SHAPES = [(400, 3), (150, 7), (120, 10), (40, 31), (30, 40), (2, 3000), (1, 5000)]


def _sweep(monkeypatch: pytest.MonkeyPatch, runs: list[bool], name: str, inputs: dict[str, Any],
           params: dict[str, Any], dtype: str, n: int) -> None:
    rng = np.random.default_rng(n)
    sw = rng.uniform(0.0, 2.0, size=n).astype(dtype)
    sw[0] = 0.0 if n > 1 else sw[0]  # a zero weight (one row: the mean would be undefined)
    sweep(monkeypatch, runs, name, inputs, params, dtype, sw)
    assert len(runs) == 24 and all(runs)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("params", MM_PARAMS, ids=str)
def test_multi_margin_matches_reference(monkeypatch, runs, params, shape, dtype):
    params = dict(params)
    if params.get("weight") == "random":
        w = np.random.default_rng(shape[1]).uniform(0.0, 2.0, size=shape[1])
        w[0] = 0.0
        params["weight"] = w.tolist()
    inputs = _scores(shape, dtype, seed=sum(shape), margin=float(params.get("margin", 1.0)))
    _sweep(monkeypatch, runs, "multi_margin", inputs, params, dtype, shape[0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("params", TM_PARAMS, ids=str)
def test_triplet_margin_matches_reference(monkeypatch, runs, params, shape, dtype):
    inputs = _triplets(shape, dtype, seed=sum(shape), swap=bool(params.get("swap", False)))
    _sweep(monkeypatch, runs, "triplet_margin", inputs, params, dtype, shape[0])


def test_triplet_swap_tie_splits_the_gradient(monkeypatch, runs):
    # anchor == positive: d(a, n) == d(p, n) exactly; torch.minimum's backward splits it
    rng = np.random.default_rng(1)
    a = rng.normal(size=(200, 8))
    neg = a + 0.1 * rng.normal(size=a.shape)
    inputs = {"anchor": a, "positive": a.copy(), "negative": neg}
    r = evaluate("triplet_margin", inputs, {"swap": True}, want_grad=True)
    assert runs == [True]
    ref = reference(monkeypatch, "triplet_margin", inputs, {"swap": True}, want_grad=True)
    assert_same(r, ref, "float64")
    # z_ap = eps in every coordinate: g_ap = 1/sqrt(8); every row active (cotangent 1/200);
    # with the tie split, anchor - positive = 2 g_ap / 200 (without it: 2 g_ap - g_an)
    g = r.gradients
    np.testing.assert_allclose(g["anchor"] - g["positive"], 2.0 / np.sqrt(8.0) / 200.0,
                               rtol=1e-12)


@pytest.mark.parametrize(("name", "shape"), [("multi_margin", (60_000, 10)),
                                             ("triplet_margin", (20_000, 50))])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_results_do_not_depend_on_the_thread_count(monkeypatch, runs, name, shape, dtype):
    inputs = (_scores(shape, dtype, seed=5, margin=1.0) if name == "multi_margin"
              else _triplets(shape, dtype, seed=5, swap=True))
    params = {"p": 2} if name == "multi_margin" else {"swap": True}
    sw = np.random.default_rng(2).uniform(size=shape[0]).astype(dtype)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ELEMENTS", 0)
    results = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(accel, "SETTINGS", accel.Acceleration(threads=threads))
        for reduction in REDUCTIONS:
            results.append((threads, reduction, evaluate(
                name, inputs, params, reduction=reduction, sample_weight=sw, dtype=dtype,
                want_grad=True)))
    assert all(runs)
    assert parallel.chunk_starts(shape[0], shape[1]).size > 3  # several chunks
    one = {red: r for t, red, r in results if t == 1}
    for _, reduction, r in results:
        ref = one[reduction]
        assert np.array_equal(to_np(r.value), to_np(ref.value))
        assert to_np(r.value).dtype == to_np(ref.value).dtype
        assert np.array_equal(to_np(r.per_sample), to_np(ref.per_sample))
        for k, g in ref.gradients.items():
            assert np.array_equal(to_np(r.gradients[k]), to_np(g))
    assert_same(one["mean"], reference(monkeypatch, name, inputs, params, sample_weight=sw,
                                         dtype=dtype, want_grad=True), dtype)


BAD: list[tuple[str, str, Any, str]] = [
    # (loss, input, value at one element (targets: 10 stands for C), dtype)
    ("multi_margin", "predictions", np.nan, "float64"),
    ("multi_margin", "predictions", np.inf, "float32"),
    ("multi_margin", "predictions", -np.inf, "float64"),
    ("multi_margin", "targets", 10, "float64"),
    ("multi_margin", "targets", -1, "float32"),
    ("triplet_margin", "anchor", np.nan, "float64"),
    ("triplet_margin", "positive", np.inf, "float32"),
    ("triplet_margin", "negative", -np.inf, "float64"),
    ("triplet_margin", "negative", np.nan, "float32"),
]


@pytest.mark.parametrize(("name", "key", "bad", "dtype"), BAD)
@pytest.mark.parametrize("at", [0, 1234, 4999])
@pytest.mark.parametrize("width", [10, 50])
def test_bad_inputs_raise_the_reference_error(monkeypatch, runs, name, key, bad, dtype, at,
                                              width):
    shape = (5000 // width, width)
    inputs = (_scores(shape, dtype, seed=at, margin=1.0) if name == "multi_margin"
              else _triplets(shape, dtype, seed=at, swap=False))
    params = {} if name == "multi_margin" else {"swap": True}
    if key == "targets":
        row = at // width
        inputs[key][row] = width if bad == 10 else bad  # C (just out of range), or -1
        where: tuple[int, ...] = (row,)
    else:
        inputs[key].reshape(-1)[at] = bad
        where = (at // width, at % width)
    got = error(lambda: evaluate(name, inputs, params, dtype=dtype, want_grad=True))
    assert runs == [False]  # detected in the kernel, then the generic path raised
    want = error(lambda: reference(monkeypatch, name, inputs, params, dtype=dtype,
                                     want_grad=True))
    assert got == want
    assert got[1][0] == key and got[1][1:] == where


@pytest.mark.parametrize("name", ["multi_margin", "triplet_margin"])
@pytest.mark.parametrize("case", ["negative", "nan", "inf", "sum zero"])
def test_bad_sample_weights_raise_the_reference_error(monkeypatch, runs, name, case):
    shape = (300, 10)
    inputs = (_scores(shape, "float64", seed=1, margin=1.0) if name == "multi_margin"
              else _triplets(shape, "float64", seed=1, swap=False))
    sw = np.ones(300)
    if case == "sum zero":
        sw[:] = 0.0
    else:
        sw[250] = {"negative": -1.0, "nan": np.nan, "inf": np.inf}[case]
    for reduction in ("mean", "sum"):
        kw = {"sample_weight": sw, "reduction": reduction, "want_grad": True}
        if case == "sum zero" and reduction == "sum":
            r = evaluate(name, inputs, **kw)  # a sum with zero weights is fine: 0
            assert float(r.value) == 0.0 and runs[-1] is True
            continue
        got = error(lambda kw=kw: evaluate(name, inputs, **kw))
        assert got == error(lambda kw=kw: reference(monkeypatch, name, inputs, **kw))
    assert runs.count(True) <= 1


def test_ineligible_calls_take_the_generic_path(monkeypatch, runs):
    mm = _scores((300, 10), "float64", seed=3, margin=1.0)
    x, y = mm["predictions"], mm["targets"]
    tm = _triplets((300, 10), "float64", seed=3, swap=False)
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("multi_margin", {"predictions": x[:50].copy(), "targets": y[:50].copy()},
         {}),  # < MIN_SIZE
        ("multi_margin", {"predictions": x.tolist(), "targets": y}, {}),  # not an array
        ("multi_margin", {"predictions": x.reshape(-1), "targets": y[0].copy()}, {}),  # (C,)
        ("multi_margin", {"predictions": x, "targets": y},
         {"sample_weight": np.ones(300).tolist()}),  # weights not an array
        ("triplet_margin", tm, {"params": {"p": 3.0}}),  # a norm without a kernel
        ("triplet_margin", tm, {"params": {"p": 0.5}}),
        ("triplet_margin", {k: v.reshape(-1) for k, v in tm.items()}, {}),  # (D,) inputs
    ]
    assert_generic(monkeypatch, runs, calls)


def test_other_dtypes_and_strided_inputs_are_cast_for_the_kernel(monkeypatch, runs):
    mm = _scores((300, 10), "float64", seed=3, margin=1.0)
    x, y = mm["predictions"], mm["targets"]
    tm = _triplets((300, 10), "float64", seed=3, swap=False)
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("multi_margin", {"predictions": x[:, ::2], "targets": y % 5}, {}),  # not contiguous
        ("multi_margin", {"predictions": x, "targets": y.astype(np.int32)}, {}),  # int32
        ("multi_margin", {"predictions": x, "targets": y}, {"dtype": "float32"}),
        ("multi_margin", {"predictions": x.astype(np.float32), "targets": y}, {}),
        ("multi_margin", {"predictions": x, "targets": y},
         {"sample_weight": np.ones(300, np.float32)}),  # weights cast
        ("triplet_margin", {**tm, "negative": tm["negative"].astype(np.float32)}, {}),
        ("triplet_margin", {**tm, "anchor": np.asfortranarray(tm["anchor"])}, {}),
        ("triplet_margin", tm, {"reduction": "none", "dtype": "float32"}),
    ]
    assert_fused_after_cast(monkeypatch, runs, calls)


def test_ineligible_params_give_the_reference_errors(monkeypatch, runs):
    mm = _scores((300, 10), "float64", seed=4, margin=1.0)
    tm = _triplets((300, 10), "float64", seed=4, swap=False)
    for name, inputs, params in (
            ("multi_margin", mm, {"weight": [1.0] * 9}),  # one weight short
            ("triplet_margin", tm, {"convention": "optax", "swap": True}),  # optax has no swap
    ):
        got = error(lambda n=name, i=inputs, p=params: evaluate(n, i, p, want_grad=True))
        assert got == error(lambda n=name, i=inputs, p=params: reference(
            monkeypatch, n, i, p, want_grad=True))
    assert runs == []


def test_warm_up_compiles_every_kernel_for_both_dtypes(runs):
    from service.losses.accel import margin_kernels as kernels

    assert accel.warm_up() >= 0.0
    dispatchers = (*kernels.MULTI_MARGIN.values(), *kernels.TRIPLET_MARGIN.values())
    before = {k: len(k.signatures) for k in dispatchers}
    assert all(n == 2 for n in before.values()), before  # float64 and float32, one each
    for dtype in ("float64", "float32"):
        mm = _scores((200, 10), dtype, seed=6, margin=1.0)
        tm = _triplets((200, 10), dtype, seed=6, swap=False)
        frozen = {k: np.frombuffer(v.tobytes(), dtype=v.dtype).reshape(v.shape)
                  for k, v in tm.items()}  # read-only (b64)
        for reduction in REDUCTIONS:
            for sw in (None, np.ones(200, dtype)):
                kw = {"reduction": reduction, "sample_weight": sw, "dtype": dtype}
                evaluate("multi_margin", mm, {"p": 2, "weight": [1.0] * 10}, want_grad=True, **kw)
                evaluate("multi_margin", mm, want_grad=False, **kw)
                evaluate("triplet_margin", frozen, {"p": 1.0}, want_grad=True, **kw)
                evaluate("triplet_margin", tm, {"convention": "optax"}, want_grad=False, **kw)
    assert runs and all(runs)
    assert {k: len(k.signatures) for k in dispatchers} == before  # nothing new compiled


def test_read_only_inputs_stay_untouched(runs):
    tm = _triplets((300, 10), "float64", seed=8, swap=False)
    frozen = {k: np.frombuffer(v.tobytes()).reshape(v.shape) for k, v in tm.items()}
    r = evaluate("triplet_margin", frozen, reduction="none", want_grad=True)
    assert runs == [True]
    assert all(np.array_equal(frozen[k], tm[k]) for k in tm)
    assert r.value.flags.writeable and r.gradients["anchor"].flags.writeable
