"""The ``convention`` mechanism, across the whole registry.

* a loss without conventions rejects any ``convention`` (``unsupported_convention`` at
  ``("params", "convention")``); a loss with conventions rejects names it does not list;
* the default convention is what omitting the parameter gives (values, per-sample values and
  gradients, on the loss's sampler inputs, for every reduction);
* the catalog lists each loss's conventions with exactly one default, matching the parameter;
* every Keras convention with ``last_axis_mean``: the per-sample loss is the mean over the last
  axis of the kernel's elementwise loss, ``mean`` with ``sample_weight`` divides by the count, and
  the gradient matches finite differences (one loss of each family).
"""

from __future__ import annotations

import inspect
import zlib
from typing import Any

import numpy as np
import pytest

from service.losses import LossError, evaluate
from service.losses.catalog import describe
from service.losses.params import validate_params
from service.losses.registry import LOSSES, SPECS
from service.losses.spec import CONVENTIONS, LossSpec
from tests.conftest import assert_close, finite_difference, to_np

WITH = sorted(s.name for s in SPECS if s.conventions)
WITHOUT = sorted(s.name for s in SPECS if not s.conventions)
KERAS_MEAN = sorted(s.name for s in SPECS
                    if (c := s.convention("keras")) is not None and c.last_axis_mean)


def _sample(name: str, *key: Any, n: int = 4, c: int = 3) -> tuple[dict, dict]:
    rng = np.random.default_rng(zlib.crc32(repr((name, *key)).encode()))
    return LOSSES[name].sampler(rng, n, c)


def _error(name: str, inputs: dict, params: dict) -> LossError:
    with pytest.raises(LossError) as exc:
        evaluate(name, inputs, params)
    return exc.value


def _one_per_family(names: list[str]) -> list[str]:
    out: dict[str, str] = {}
    for name in names:
        out.setdefault(LOSSES[name].family, name)
    return sorted(out.values())


# ------------------------------------------------------------------------------- rejection


def test_registry_has_losses_with_and_without_conventions():
    assert WITH and WITHOUT and KERAS_MEAN
    assert {"mse", "l1", "huber"} <= set(WITH) and "smooth_l1" in WITHOUT


@pytest.mark.parametrize("name", WITHOUT)
def test_loss_without_conventions_rejects_one(name):
    inputs, params = _sample(name, "reject")
    assert "convention" not in {p.name for p in LOSSES[name].params}
    for value in ("torch", "keras", "jax"):
        e = _error(name, inputs, {**params, "convention": value})
        assert e.code == "unsupported_convention"
        assert e.loc == ("params", "convention")
        assert "takes no convention" in e.message and name in e.message


@pytest.mark.parametrize("name", WITH)
def test_loss_with_conventions_rejects_unknown_names(name):
    spec = LOSSES[name]
    inputs, params = _sample(name, "reject")
    listed = [c.name for c in spec.conventions]
    unlisted = [c for c in CONVENTIONS if c not in listed]
    for value in ("jax", "Torch", "", 1, None, True, *unlisted):
        e = _error(name, inputs, {**params, "convention": value})
        assert e.code == "unsupported_convention", value
        assert e.loc == ("params", "convention")
        assert all(c in e.message for c in listed) and repr(value) in e.message


# ----------------------------------------------------------------------- default = omitted


def _strip(params: dict) -> dict:
    return {k: v for k, v in params.items() if k != "convention"}


@pytest.mark.parametrize("name", WITH)
def test_default_convention_equals_omitting_it(name):
    spec = LOSSES[name]
    default = spec.conventions[0].name
    assert spec.param("convention").default == default
    assert spec.convention(None) is spec.conventions[0]
    for seed in range(2):
        inputs, params = _sample(name, "default", seed)
        params = _strip(params)
        for reduction in spec.reductions:
            a = evaluate(name, inputs, params, reduction=reduction, want_grad=spec.differentiable)
            b = evaluate(name, inputs, {**params, "convention": default}, reduction=reduction,
                         want_grad=spec.differentiable)
            assert a.params == b.params and a.params["convention"] == default
            assert to_np(a.value).shape == to_np(b.value).shape
            assert_close(a.value, b.value, rtol=0, atol=0)
            assert_close(a.per_sample, b.per_sample, rtol=0, atol=0)
            if spec.differentiable:
                assert a.gradients.keys() == b.gradients.keys()
                for k in a.gradients:
                    assert_close(a.gradients[k], b.gradients[k], rtol=0, atol=0)


@pytest.mark.parametrize("name", WITH)
def test_every_listed_convention_evaluates(name):
    spec = LOSSES[name]
    for conv in spec.conventions:
        inputs, params = _sample(name, "each", conv.name)
        try:
            r = evaluate(name, inputs, {**_strip(params), "convention": conv.name},
                         want_grad=spec.differentiable)
        except LossError as exc:  # a convention may restrict the inputs (e.g. label sets)
            assert exc.code not in ("unsupported_convention", "unknown_param"), exc
            continue
        assert r.params["convention"] == conv.name
        assert np.all(np.isfinite(to_np(r.value)))


# -------------------------------------------------------------------------------- catalog


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_catalog_lists_conventions(spec: LossSpec):
    entry = describe(spec)
    convs = entry["conventions"]
    assert [c["name"] for c in convs] == [c.name for c in spec.conventions]
    if not spec.conventions:
        assert convs == [] and "convention" not in entry["params"]
        return
    defaults = [c for c in convs if c["default"]]
    assert len(defaults) == 1 and defaults[0] is convs[0]
    for c in convs:
        assert c["name"] in CONVENTIONS and c["reference"] and c["changes"]
    schema = entry["params"]["convention"]
    assert schema["default"] == convs[0]["name"]
    assert schema["enum"] == [c["name"] for c in convs]
    assert len(set(schema["enum"])) == len(schema["enum"])


# ------------------------------------------------------------------- Keras' last-axis mean


def _keras_sample(name: str, *key: Any, n: int = 4, c: int = 3) -> tuple[dict, dict]:
    """Sampler inputs with ``convention="keras"``; sampled params that Keras does not take
    (e.g. sigmoid_focal's alpha) are dropped, so they take their defaults."""
    inputs, params = _sample(name, *key, n=n, c=c)
    params = {**_strip(params), "convention": "keras"}
    while True:
        try:
            evaluate(name, inputs, params)
            return inputs, params
        except LossError as exc:
            if exc.code != "invalid_param" or exc.loc[:1] != ("params",) or \
                    exc.loc[1] not in params or exc.loc[1] == "convention":
                raise
            params = {k: v for k, v in params.items() if k != exc.loc[1]}


def _kernel_output(spec: LossSpec, inputs: dict, params: dict) -> np.ndarray:
    """The kernel's own (elementwise) loss under ``params``, before any generic step."""
    arrays = {}
    for i in spec.inputs:
        if i.name not in inputs or inputs[i.name] is None:
            continue
        a = np.asarray(inputs[i.name])
        integral = a.dtype.kind in "iu"
        if i.dtype == "int" or (i.dtype == "index_or_float" and integral):
            arrays[i.name] = a.astype(np.int64)
        else:
            arrays[i.name] = a.astype(np.float64)
    kparams = {k: (np.asarray(v, dtype=np.float64) if isinstance(v, list) else v)
               for k, v in validate_params(spec, params).items()}
    if "convention" not in inspect.signature(spec.fn).parameters:
        kparams.pop("convention", None)
    with np.errstate(all="ignore"):
        return np.asarray(spec.fn(**arrays, **kparams).loss, dtype=np.float64)


@pytest.mark.parametrize("name", KERAS_MEAN)
def test_keras_per_sample_is_the_last_axis_mean(name):
    spec = LOSSES[name]
    for seed, (n, c) in enumerate([(4, 3), (1, 5), (6, 2)]):
        inputs, params = _keras_sample(name, "keras", seed, n=n, c=c)
        el = _kernel_output(spec, inputs, params)
        expected = el.mean(axis=-1) if el.ndim else el
        none = evaluate(name, inputs, params, reduction="none")
        assert_close(none.value, expected, rtol=1e-13, atol=1e-13)
        per = to_np(none.value).reshape(none.n_samples, -1).mean(axis=1)
        assert_close(none.per_sample, per, rtol=1e-13, atol=1e-13)
        total = evaluate(name, inputs, params, reduction="sum").value
        assert_close(total, expected.sum(), rtol=1e-12, atol=1e-12)
        if "mean" in spec.reductions:  # sum_over_batch_size: weights not in the denominator
            w = np.linspace(0.0, 2.0, none.n_samples)
            wm = evaluate(name, inputs, params, reduction="mean", sample_weight=w).value
            ws = evaluate(name, inputs, params, reduction="sum", sample_weight=w).value
            assert_close(wm, float(to_np(ws)) / max(expected.size, 1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", _one_per_family(KERAS_MEAN))
def test_keras_gradient_matches_finite_differences(name):
    spec = LOSSES[name]
    assert spec.differentiable
    inputs, params = _keras_sample(name, "keras-fd", n=3, c=3)
    n = evaluate(name, inputs, params, reduction="none").n_samples
    w = np.linspace(0.5, 1.5, n)
    for reduction, sw in (("none", None), ("sum", w), ("mean", None), ("mean", w)):
        if reduction not in spec.reductions:
            continue
        r = evaluate(name, inputs, params, reduction=reduction, sample_weight=sw,
                     want_grad=True)
        for wrt in spec.differentiable_inputs:
            fd = finite_difference(name, inputs, params, reduction, wrt, sample_weight=sw)
            assert_close(r.gradients[wrt], fd, rtol=1e-5, atol=1e-6,
                         err_msg=f"{name} {reduction} d/d{wrt}")
