"""Shared by the fused-kernel tests: a spy that records whether a fused path produced the
result, the generic (reference) evaluation of the same call, and the comparison of the two."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from service.losses import accel, evaluate
from service.losses.errors import LossError
from tests.conftest import to_np

RTOL = {"float64": 1e-12, "float32": 2e-6}
ATOL = {"float64": 4e-15, "float32": 1e-6}  # times the array's largest magnitude


def spy_runs(monkeypatch: pytest.MonkeyPatch, module: Any, attr: str) -> list[bool]:
    """Wrap ``module.attr`` (a fused path returning an Evaluation or None) and turn the fused
    kernels on; the list gets True for each call that produced the result, False for a fallback."""
    calls: list[bool] = []
    real = getattr(module, attr)

    def spy(*args: Any, **kw: Any) -> Any:
        out = real(*args, **kw)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(module, attr, spy)
    monkeypatch.setattr(accel, "SETTINGS", replace(accel.SETTINGS, kernels=True))
    return calls


def reference(monkeypatch: pytest.MonkeyPatch, *args: Any, **kw: Any) -> Any:
    """``evaluate(*args, **kw)`` on the generic path (fused kernels off for the call)."""
    return evaluate(*args, **kw, acceleration=replace(accel.settings(), kernels=False))


def close(a: Any, b: Any, dtype: str, what: str) -> None:
    a, b = to_np(a), to_np(b)
    assert a.dtype == b.dtype == np.dtype(dtype), what
    assert a.shape == b.shape, what
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=ATOL[dtype] * scale, err_msg=what)


def assert_same(fused: Any, ref: Any, dtype: str) -> None:
    """Value, per-sample breakdown and every gradient within RTOL (or ATOL times the largest
    magnitude), and the same loss, reduction, params and dtype."""
    assert type(fused.value) is type(ref.value)
    close(fused.value, ref.value, dtype, "value")
    close(fused.per_sample, ref.per_sample, dtype, "per_sample")
    assert (fused.gradients is None) == (ref.gradients is None)
    assert set(fused.gradients or {}) == set(ref.gradients or {})
    for k, g in (ref.gradients or {}).items():
        close(fused.gradients[k], g, dtype, f"gradient {k}")
    assert (fused.loss, fused.reduction, fused.params, fused.dtype) == (
        ref.loss, ref.reduction, ref.params, ref.dtype)


def assert_per_sample_optional(full: Any, name: str, inputs: dict[str, Any],
                               params: dict[str, Any], **kw: Any) -> None:
    """The same call with ``want_per_sample=False``: ``per_sample`` None, ``n_samples`` kept,
    value and every gradient bit for bit those of ``full`` (the call with the breakdown)."""
    r = evaluate(name, inputs, params, want_per_sample=False, **kw)
    assert r.per_sample is None and r.n_samples == full.n_samples
    assert np.array_equal(to_np(r.value), to_np(full.value), equal_nan=True), "value"
    assert set(r.gradients or {}) == set(full.gradients or {})
    for k, g in (full.gradients or {}).items():
        assert np.array_equal(to_np(r.gradients[k]), to_np(g), equal_nan=True), k
    assert (r.loss, r.reduction, r.params, r.dtype) == (
        full.loss, full.reduction, full.params, full.dtype)


def sweep(monkeypatch: pytest.MonkeyPatch, runs: list[bool], name: str, inputs: dict[str, Any],
          params: dict[str, Any], dtype: str, sw: np.ndarray,
          reductions: tuple[str, ...] = ("mean", "sum", "none")) -> None:
    """Every reduction, with and without ``sw``, with and without the gradient: the fused path
    runs (no fallback), matches the reference, and gives the same value and gradients without
    the per-sample breakdown."""
    for reduction in reductions:
        for weights in (None, sw):
            for want_grad in (True, False):
                kw = {"reduction": reduction, "sample_weight": weights, "dtype": dtype,
                      "want_grad": want_grad}
                fused = evaluate(name, inputs, params, **kw)
                assert runs[-1] is True
                assert_same(fused, reference(monkeypatch, name, inputs, params, **kw), dtype)
                assert_per_sample_optional(fused, name, inputs, params, **kw)
                assert runs[-1] is True


def error(fn: Any) -> tuple[str, tuple[Any, ...], str]:
    """The (code, location, message) of the LossError that ``fn()`` raises."""
    with pytest.raises(LossError) as exc:
        fn()
    return exc.value.code, tuple(exc.value.loc), str(exc.value)


def assert_generic(monkeypatch: pytest.MonkeyPatch, runs: list[bool],
                   calls: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
    """Each (loss, inputs, kw) call, ``kw`` with optional ``params``, never reaches the fused
    kernel (``runs`` stays empty) and gives the reference's result."""
    for name, inputs, kw in calls:
        kw = dict(kw)
        params = kw.pop("params", {})
        r = evaluate(name, inputs, params, want_grad=True, **kw)
        assert runs == [], (name, kw)
        ref = reference(monkeypatch, name, inputs, params, want_grad=True, **kw)
        assert_same(r, ref, kw.get("dtype", "float64"))


def assert_fused_after_cast(monkeypatch: pytest.MonkeyPatch, runs: list[bool],
                            calls: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
    """Each (loss, inputs, kw) call, with inputs of another dtype than the evaluation's or
    strided, reaches the fused kernel after a cast or copy (``runs`` ends with True) and gives
    the reference's result, which casts the same way."""
    for name, inputs, kw in calls:
        kw = dict(kw)
        params = kw.pop("params", {})
        runs.clear()
        r = evaluate(name, inputs, params, want_grad=True, **kw)
        assert runs and runs[-1] is True, (name, kw)
        ref = reference(monkeypatch, name, inputs, params, want_grad=True, **kw)
        assert_same(r, ref, kw.get("dtype", "float64"))
