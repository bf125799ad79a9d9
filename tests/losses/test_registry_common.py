"""Properties checked once across the whole registry (scikit-learn's test_common style).

Each loss's own sampler supplies valid random inputs, so a new loss is covered here as soon as it is
registered: examples run, gradients match finite differences, reductions agree with the per-sample
breakdown, NumPy and array_api_strict agree, float32 tracks float64, and the declared properties
(non-negative, zero at a match, shift invariance) hold.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.losses import LOSSES, SPECS, evaluate, get_loss
from service.losses.spec import INPUT_KINDS
from tests.conftest import assert_close, finite_difference, sample, to_np, to_xp

NAMES = sorted(LOSSES)
DIFFERENTIABLE = [s.name for s in SPECS if s.differentiable]


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_complete(name: str) -> None:
    spec = get_loss(name)
    assert spec.summary and spec.formula and spec.reference
    assert spec.examples, "every loss needs at least one example (OpenAPI, README, tests)"
    assert spec.default_reduction in spec.reductions
    for i in spec.inputs:
        assert i.kind in INPUT_KINDS and i.description and i.shape
    for p in spec.params:
        schema = p.json_schema()
        assert "default" in schema and p.description
    if spec.differentiable:
        assert spec.gradient_note, "document the closed-form gradient and the kink choice"


@pytest.mark.parametrize("name", NAMES)
def test_examples_evaluate(name: str) -> None:
    spec = get_loss(name)
    for ex in spec.examples:
        r = evaluate(name, ex.inputs, ex.params, reduction=ex.reduction,
                     want_grad=spec.differentiable)
        assert np.all(np.isfinite(to_np(r.value)))


@pytest.mark.parametrize("name", NAMES)
def test_per_sample_can_be_left_out(name: str) -> None:
    # want_per_sample=False: no breakdown, the same n_samples, value and gradients
    spec = get_loss(name)
    for ex in spec.examples:
        kw = {"reduction": ex.reduction, "want_grad": spec.differentiable}
        full = evaluate(name, ex.inputs, ex.params, **kw)
        r = evaluate(name, ex.inputs, ex.params, want_per_sample=False, **kw)
        assert r.per_sample is None and r.n_samples == full.n_samples >= 1
        assert np.array_equal(to_np(r.value), to_np(full.value))
        for k, g in (full.gradients or {}).items():
            assert np.array_equal(to_np(r.gradients[k]), to_np(g)), k


@pytest.mark.parametrize("name", NAMES)
def test_aliases_resolve(name: str) -> None:
    spec = get_loss(name)
    for alias in spec.aliases:
        assert get_loss(alias) is spec
        assert get_loss(alias.upper().replace("_", "-")) is spec


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradient_matches_finite_differences(name: str, reduction: str) -> None:
    spec = get_loss(name)
    if reduction not in spec.reductions:
        pytest.skip(f"{name} has no reduction {reduction}")
    inputs, params = sample(name, seed=1, n=4, c=3)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=True)
    # every differentiable input that was given (optional ones, like a bias, may be absent)
    assert set(r.gradients) == set(spec.differentiable_inputs) & set(inputs)
    for wrt in r.gradients:
        fd = finite_difference(name, inputs, params, reduction, wrt)
        assert to_np(r.gradients[wrt]).shape == np.shape(inputs[wrt])
        assert_close(r.gradients[wrt], fd, rtol=1e-6, atol=1e-7, err_msg=f"d/d{wrt}")


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradient_with_sample_weight_matches_finite_differences(name: str) -> None:
    spec = get_loss(name)
    inputs, params = sample(name, seed=2, n=4, c=3)
    n = to_np(evaluate(name, inputs, params).per_sample).shape[0]
    sw = np.random.default_rng(3).uniform(0.5, 2.0, size=n)
    r = evaluate(name, inputs, params, sample_weight=sw, want_grad=True)
    assert set(r.gradients) == set(spec.differentiable_inputs) & set(inputs)
    for wrt in r.gradients:
        fd = finite_difference(name, inputs, params, "mean", wrt, sample_weight=sw)
        assert_close(r.gradients[wrt], fd, rtol=1e-6, atol=1e-7, err_msg=f"d/d{wrt}")


@pytest.mark.parametrize("name", NAMES)
def test_reductions_agree_with_per_sample(name: str) -> None:
    spec = get_loss(name)
    inputs, params = sample(name, seed=4)
    none = evaluate(name, inputs, params, reduction="none")
    total = evaluate(name, inputs, params, reduction="sum")
    unreduced = to_np(none.value)
    per_sample = to_np(none.per_sample)
    k = unreduced.size / per_sample.shape[0]
    assert_close(total.value, unreduced.sum())
    assert_close(total.value, k * per_sample.sum())
    assert_close(total.per_sample, per_sample)
    if "mean" in spec.reductions and params.get("weight") is None and \
            spec.mean_is_element_average:
        # without class weights or ignored targets, mean divides by the element count
        mean = evaluate(name, inputs, params, reduction="mean")
        assert_close(mean.value, unreduced.sum() / unreduced.size)
        assert_close(mean.value, per_sample.mean())
    ones = evaluate(name, inputs, params, reduction="sum",
                    sample_weight=np.ones(per_sample.shape[0]))
    assert_close(ones.value, total.value)


@pytest.mark.parametrize("name", NAMES)
def test_sample_weight_scales_each_sample(name: str) -> None:
    inputs, params = sample(name, seed=5)
    base = evaluate(name, inputs, params, reduction="none")
    n = to_np(base.per_sample).shape[0]
    sw = np.arange(1.0, n + 1.0)
    weighted = evaluate(name, inputs, params, reduction="none", sample_weight=sw)
    assert_close(weighted.per_sample, to_np(base.per_sample) * sw)
    s = evaluate(name, inputs, params, reduction="sum", sample_weight=sw)
    assert_close(s.value, to_np(weighted.value).sum())


@pytest.mark.parametrize("name", NAMES)
def test_every_namespace_matches_numpy(name: str, xp) -> None:
    spec = get_loss(name)
    inputs, params = sample(name, seed=6)
    ref = evaluate(name, inputs, params, reduction="none", want_grad=spec.differentiable)
    got = evaluate(name, {k: to_xp(xp, v) for k, v in inputs.items()}, params,
                   reduction="none", want_grad=spec.differentiable)
    assert_close(got.value, ref.value, rtol=1e-13)
    assert_close(got.per_sample, ref.per_sample, rtol=1e-13)
    for k, g in (ref.gradients or {}).items():
        assert_close(got.gradients[k], g, rtol=1e-13, err_msg=k)


@pytest.mark.parametrize("name", NAMES)
def test_float32_tracks_float64(name: str) -> None:
    spec = get_loss(name)
    inputs, params = sample(name, seed=7)
    r64 = evaluate(name, inputs, params, want_grad=spec.differentiable)
    r32 = evaluate(name, inputs, params, dtype="float32", want_grad=spec.differentiable)
    assert to_np(r32.value).dtype == np.float32
    assert_close(r32.value, r64.value, rtol=2e-5, atol=1e-6)
    for k, g in (r64.gradients or {}).items():
        assert to_np(r32.gradients[k]).dtype == np.float32
        assert_close(r32.gradients[k], g, rtol=2e-4, atol=1e-5, err_msg=k)


@pytest.mark.parametrize("name", [s.name for s in SPECS if s.nonnegative])
def test_nonnegative(name: str) -> None:
    for seed in range(5):
        inputs, params = sample(name, seed=seed)
        r = evaluate(name, inputs, params, reduction="none")
        assert np.all(to_np(r.value) >= 0)


@pytest.mark.parametrize("name", [s.name for s in SPECS if s.zero_at_match])
def test_zero_when_predictions_equal_targets(name: str) -> None:
    inputs, params = sample(name, seed=8)
    inputs["targets"] = np.array(inputs["predictions"], copy=True)
    r = evaluate(name, inputs, params, reduction="sum", want_grad=True)
    assert float(to_np(r.value)) == 0.0
    assert np.all(to_np(r.gradients["predictions"]) == 0.0)


@pytest.mark.parametrize("name", [s.name for s in SPECS if s.shift_invariant])
def test_shift_invariant(name: str) -> None:
    inputs, params = sample(name, seed=9)
    shifted = dict(inputs)
    x = np.asarray(inputs["predictions"])
    shifted["predictions"] = x + np.random.default_rng(0).normal(size=(*x.shape[:-1], 1)) * 50
    a = evaluate(name, inputs, params, reduction="none", want_grad=True)
    b = evaluate(name, shifted, params, reduction="none", want_grad=True)
    assert_close(b.value, a.value, rtol=1e-9, atol=1e-11)
    assert_close(b.gradients["predictions"], a.gradients["predictions"], rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_input_rejected_with_location(name: str) -> None:
    spec = get_loss(name)
    inputs, params = sample(name, seed=10)
    for ispec in spec.inputs:
        a = np.asarray(inputs.get(ispec.name))
        if ispec.name not in inputs or a.dtype.kind != "f":
            continue
        bad = dict(inputs)
        arr = np.array(a, copy=True)
        arr.reshape(-1)[-1] = math.nan
        bad[ispec.name] = arr
        with pytest.raises(Exception) as exc:
            evaluate(name, bad, params)
        assert getattr(exc.value, "code", None) == "nonfinite_input"
        assert exc.value.loc[0] == ispec.name
        assert list(exc.value.loc[1:]) == list(np.unravel_index(arr.size - 1, arr.shape))


@pytest.mark.parametrize("name", NAMES)
def test_unknown_param_and_input_rejected(name: str) -> None:
    inputs, params = sample(name, seed=11)
    with pytest.raises(Exception) as exc:
        evaluate(name, inputs, {**params, "no_such_param": 1})
    assert exc.value.code == "unknown_param" and exc.value.loc == ("params", "no_such_param")
    with pytest.raises(Exception) as exc:
        evaluate(name, {**inputs, "no_such_input": [1.0]}, params)
    assert exc.value.code == "unknown_input"
    required = [i.name for i in get_loss(name).inputs if not i.optional]
    missing = {k: v for k, v in inputs.items() if k != required[0]}
    with pytest.raises(Exception) as exc:
        evaluate(name, missing, params)
    assert exc.value.code == "missing_input" and exc.value.loc == (required[0],)


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_rejected(name: str) -> None:
    spec = get_loss(name)
    inputs, params = sample(name, seed=12)
    first = spec.inputs[0].name
    empty = dict(inputs)
    empty[first] = np.asarray(inputs[first])[:0]
    with pytest.raises(Exception) as exc:
        evaluate(name, empty, params)
    assert exc.value.code == "empty_batch"
